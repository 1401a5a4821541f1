"""Which pretrained files the configured experiments use, and where they lie.

One function, `needed_assets`, answers it for the workflow's rules, ``rvc-pipeline pretrained
fetch`` and ``verify`` alike. Default paths keep RVC's hub layout under ``pretrained/`` (v1 G/D in
``pretrained/pretrained/``, v2 in ``pretrained/pretrained_v2/``), so v1 and v2 files lie side by
side. Standard library and PyYAML only: the workflow imports this at every start.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rvc_pipeline.pitch.registry import METHODS as PITCH_METHODS
from rvc_pipeline.pretrained.manifest import ASSETS, Asset
from rvc_pipeline.config_errors import config_error

PRETRAINED_DIR = "pretrained"
SCHEMA = Path(__file__).resolve().parents[3] / "config" / "schema.yaml"
# Before v1 and v2 lay side by side, v1 G/D were expected directly in pretrained/. A file placed
# there is still used: its path is part of training's params, so moving it would retrain.
LEGACY_PATTERN = PRETRAINED_DIR + "/{f0}{kind}{sr}.pth"
GD_ROLES = {"generator": "G", "discriminator": "D"}
SPEAKER_ENCODER = f"{PRETRAINED_DIR}/{ASSETS['speaker_encoder'].path}"


@dataclass(frozen=True)
class Need:
    """A file the configured experiments use: where, which published asset it stands for, who uses it."""

    path: str
    asset: Asset | None
    role: str  # "hubert", "generator", "discriminator", "speaker_encoder", or the pitch method that reads it ("rmvpe", …)
    experiments: tuple[str, ...]
    required: bool  # a missing file stops the run (pitch weights); else training or extraction make do
    note: str = ""  # said once when the run starts, e.g. the legacy v1 location in use


def gd_asset(role: str, exp: dict[str, Any]) -> Asset:
    """RVC's published G or D for the experiment's version, pitch setting and rate."""
    f0 = "f0" if exp["f0"] else ""
    return ASSETS[f"{exp['version']}_{f0}{GD_ROLES[role]}{exp['sample_rate']}"]


def gd_path(config: dict[str, Any], role: str, exp: dict[str, Any]) -> tuple[str, str]:
    """(path, note) of the experiment's G or D: the configured pattern, else the hub layout.

    The former default location is taken when only it holds a file (v1 files were placed there;
    so were v2 ones, which the old default also pointed at).
    """
    f0 = "f0" if exp["f0"] else ""
    pattern = config["pretrained"].get(role)
    if pattern:
        return pattern.format(f0=f0, sr=exp["sample_rate"], version=exp["version"]), ""
    path = f"{PRETRAINED_DIR}/{gd_asset(role, exp).path}"
    legacy = LEGACY_PATTERN.format(f0=f0, kind=GD_ROLES[role], sr=exp["sample_rate"])
    if not os.path.exists(path) and os.path.exists(legacy):
        return legacy, f"using {legacy} (the former default location; {path} is the new one)"
    return path, ""


def uses_pretrained_gd(config: dict[str, Any], exp: dict[str, Any]) -> bool:
    """RVC's model starts from pretrained G/D; the tiny model and a warm start do not."""
    return config["train"]["model"] == "rvc" and "warm_start" not in exp


def pitch_methods(config: dict[str, Any], name: str, converting: Collection[str] | None) -> set[str]:
    """The pitch methods of the experiment's training and of its conversions (none without pitch)."""
    exp = config["experiments"][name]
    if not exp["f0"]:
        return set()
    converts = name in converting if converting is not None else bool(exp.get("convert_dir") or exp["demo"])
    return {exp["f0_method"], *([config["convert"]["f0_method"]] if converts else [])}


def pitch_weights(config: dict[str, Any], method: str) -> str:
    """Where the weights of a pitch method lie: ``pretrained.<manifest key>`` when the config has
    that setting (``pretrained.rmvpe``), else the manifest's path under ``pretrained/``."""
    key = PITCH_METHODS[method].weights
    return config["pretrained"].get(key) or f"{PRETRAINED_DIR}/{ASSETS[key].path}"


def _gd_needs(config: dict[str, Any], names: Collection[str]) -> Iterator[tuple[str, Need]]:
    for name in names:
        exp = config["experiments"][name]
        for role in GD_ROLES:
            path, note = gd_path(config, role, exp)
            yield path, Need(path, gd_asset(role, exp), role, (name,), False, note)


def needed_assets(config: dict[str, Any], *, converting: Collection[str] | None = None) -> list[Need]:
    """Exactly the files the configured experiments use: HuBERT, the weights of each pitch method
    (the registry's) that an experiment or its conversion uses, G/D for each experiment trained
    from RVC's pretrained files, and the speaker encoder when ``train: {best_by: speaker_similarity}``
    chooses the export by it.

    ``config`` is validated with its defaults filled. ``converting`` names the experiments that
    convert recordings (the workflow knows); by default those with a ``convert_dir`` or a demo.
    """
    experiments = config["experiments"]
    paths = config["pretrained"]
    found: dict[str, Need] = {
        paths["hubert"]: Need(paths["hubert"], ASSETS["hubert_base"], "hubert", tuple(experiments), False)
    }
    methods = {name: pitch_methods(config, name, converting) for name in experiments}
    for method in PITCH_METHODS.values():
        users = tuple(name for name in experiments if method.name in methods[name])
        if method.weights and users:
            path = pitch_weights(config, method.name)
            found.setdefault(path, Need(path, ASSETS[method.weights], method.name, users, True))
    trained = [name for name, exp in experiments.items() if uses_pretrained_gd(config, exp)]
    for path, need in _gd_needs(config, trained):
        if path in found:  # one file for several experiments (same rate, pitch and version)
            old = found[path]
            need = Need(path, old.asset, old.role, old.experiments + need.experiments, old.required, old.note)
        found[path] = need
    if config["train"].get("best_by") == "speaker_similarity":
        path = speaker_encoder_path(config)
        found.setdefault(
            path, Need(path, ASSETS["speaker_encoder"], "speaker_encoder", tuple(experiments), True)
        )
    return list(found.values())


def speaker_encoder_path(config: dict[str, Any]) -> str:
    """Where the speaker encoder's weights lie (``pretrained: {speaker_encoder}``, else the default)."""
    return config["pretrained"].get("speaker_encoder") or SPEAKER_ENCODER


def pitch_weight_paths(needs: Iterable[Need], pitch_methods: Collection[str], *, download: bool) -> dict[str, str]:
    """The weights file of each pitch method in use. Unless the run downloads what is missing, a
    missing file raises ``FileNotFoundError`` naming it, its manifest key and its experiments."""
    paths = {}
    for need in needs:
        if need.role not in pitch_methods:
            continue
        paths[need.role] = need.path
        if not download and not os.path.isfile(need.path):
            raise FileNotFoundError(
                f"f0_method {need.role} needs its weights {need.path!r} (pretrained key "
                f"{need.asset.key!r}), not found (experiments: {', '.join(need.experiments)}). "
                "Get them with: rvc-pipeline pretrained fetch (or set pretrained: {download: true}); "
                "see pretrained/README.md."
            )
    return paths


def training_speaker_encoder(needs: Iterable[Need], *, download: bool) -> str | None:
    """The speaker encoder's weights when training needs them (``train: best_by
    speaker_similarity``), else None. Unless the run downloads what is missing, a missing file
    raises ``FileNotFoundError`` naming the fetch."""
    path = next((need.path for need in needs if need.role == "speaker_encoder"), None)
    if path is not None and not download and not os.path.isfile(path):
        raise FileNotFoundError(
            f"train: best_by speaker_similarity needs the speaker encoder's weights, not found at "
            f"{path!r}: run `rvc-pipeline pretrained fetch speaker_encoder` or set "
            "pretrained: {speaker_encoder: PATH} in the config."
        )
    return path


def fetch_folder(paths: Collection[str]) -> str:
    """The folder, ending in "/", that every one of ``paths`` starts with ("" when they share none):
    the constant start of the fetch rule's output pattern."""
    try:
        folder = os.path.commonpath([os.path.dirname(path) for path in paths])
    except ValueError:  # no paths, or absolute and relative ones mixed
        return ""
    prefix = os.path.join(folder, "") if folder else ""
    return prefix if all(path.startswith(prefix) for path in paths) else ""


def unused_with_tiny(config: dict[str, Any]) -> list[str]:
    """Pretrained G/D files present that ``train: {model: tiny}`` leaves unused (said at planning)."""
    if config["train"]["model"] != "tiny":
        return []
    names = [name for name, exp in config["experiments"].items() if "warm_start" not in exp]
    return sorted({path for path, _ in _gd_needs(config, names) if os.path.exists(path)})


# ---- a config file with the schema's defaults, for the CLI (the workflow has Snakemake's validate)


def fill_defaults(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with the ``default:`` of every absent property filled in, recursively, as Snakemake's
    ``validate`` does (objects given as ``default: {}`` get their own defaults in turn)."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    filled = dict(value)
    properties = schema.get("properties", {})
    for key, sub in properties.items():
        if key not in filled and "default" in sub:
            filled[key] = sub["default"]
        if key in filled:
            filled[key] = fill_defaults(filled[key], sub)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in filled.keys() - properties.keys():
            filled[key] = fill_defaults(filled[key], extra)
    return filled


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """A workflow config file, validated against ``config/schema.yaml`` with its defaults filled.

    Validation uses ``jsonschema`` (installed with Snakemake); a problem raises ValueError naming
    the file and the key.
    """
    import jsonschema  # only the CLI needs it; the workflow validates with Snakemake

    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as err:
        raise FileNotFoundError(f"config file {path}: {err.strerror}") from None
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = yaml.safe_load(handle)
    config = fill_defaults(config, schema)
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as err:
        raise ValueError(config_error(err, [path])) from None
    return config
