"""Is each pretrained file the config points at RVC's own, a custom one that fits, or unusable?

Official: its SHA-256 is the manifest's. Custom: another hash, but it loads (safely) and its shapes
fit the model that uses it — users often name their own pretrained G ``f0G40k.pth``. Unusable: it
does not load or does not fit, with the reason. Results are cached by (path, size, mtime_ns), so
planning a run does not hash 190 MB files again; torch is imported only for a file not yet checked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.layout import PRETRAINED_CHECKS, experiment_path
from rvc_pipeline.pitch.registry import METHODS as PITCH_METHODS
from rvc_pipeline.pitch.registry import read_weights
from rvc_pipeline.pretrained.needs import Need, needed_assets

# In Snakemake's own folder of the working directory (where the config's relative paths point):
# never a workflow output, git-ignored, and deleting it costs only one more hashing.
CACHE_PATH = Path(".snakemake") / "rvc-pipeline" / "pretrained-checks.json"
_CACHE_FORMAT = 1
STATUSES = ("official", "custom", "missing", "unusable")


@dataclass(frozen=True)
class AssetCheck:
    path: str
    key: str | None
    role: str
    status: str  # one of STATUSES
    required: bool
    reason: str
    sha256: str | None


def file_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _fits_gd(role: str, path: str, model: str, sample_rate: str, version: str, f0: bool) -> None:
    """Raise ValueError unless ``path`` holds a G (or D) whose tensors fit the experiment's model."""
    import torch

    from rvc_pipeline.training.checkpoint import check_state_fits, load_checkpoint, model_state
    from rvc_pipeline.layout import SAMPLE_RATES
    from rvc_pipeline.models import ModelConfig, build_discriminator, build_synthesizer
    from rvc_pipeline.training.inputs import experiment_hparams

    hparams = experiment_hparams(model, SAMPLE_RATES[sample_rate], version)
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        if role == "generator":
            net = build_synthesizer(ModelConfig.from_hparams(hparams), version, f0)
        else:
            net = build_discriminator(hparams, version)
    check_state_fits(net, model_state(load_checkpoint(path), path), path)


def _fits_hubert(path: str) -> None:
    """A fairseq HuBERT checkpoint read by the project's safe unpickler, or a Hugging Face folder."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(f"{path}: a folder without config.json is not a Hugging Face HuBERT")
        return
    from rvc_pipeline.features.hubert.safe_load import read_checkpoint

    checkpoint = read_checkpoint(Path(path))
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ValueError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")




class _Cache:
    """{path: {size, mtime_ns, sha256, fits: {model spec: "" or the reason it does not fit}}}."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, Any] = {}
        self.changed = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == _CACHE_FORMAT:
                    self.entries = data["files"]
            except (ValueError, KeyError, AttributeError):
                pass  # a damaged cache is only a slower check

    def entry(self, path: str) -> dict[str, Any]:
        stat = os.stat(path)
        key = os.path.abspath(path)
        entry = self.entries.get(key)
        if not entry or entry["size"] != stat.st_size or entry["mtime_ns"] != stat.st_mtime_ns:
            entry = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": None, "fits": {}}
            self.entries[key] = entry
            self.changed = True
        return entry

    def sha256(self, path: str) -> str | None:
        if os.path.isdir(path):
            return None
        entry = self.entry(path)
        if entry["sha256"] is None:
            entry["sha256"] = file_sha256(path)
            self.changed = True
        return entry["sha256"]

    def fit(self, path: str, spec: str, check: Callable[[], None]) -> str:
        """"" when ``check()`` passes, else its reason; remembered per model spec."""
        fits = self.entry(path)["fits"]
        if spec not in fits:
            try:
                check()
                fits[spec] = ""
            except Exception as err:  # whatever a foreign file makes a loader raise: unusable
                message = str(err)
                fits[spec] = message if path in message else f"{path}: {type(err).__name__}: {message}"
            self.changed = True
        return fits[spec]

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                tmp.write_text(json.dumps({"format": _CACHE_FORMAT, "files": self.entries}, indent=1))
        except OSError:
            pass  # a read-only working directory: checks stay correct, only slower


_MISSING = {
    "hubert": "not found: features come from a random stand-in; a voice trained on them is not usable",
    "generator": "not found: training starts from random weights",
    "discriminator": "not found: training starts from random weights",
}


def _fit_checks(need: Need, config: dict[str, Any]) -> list[tuple[str, Callable[[], None]]]:
    """(spec, check) for each distinct model that uses the file."""
    if need.role == "hubert":
        return [("hubert", lambda: _fits_hubert(need.path))]
    if need.role in PITCH_METHODS:
        return [(need.role, lambda: read_weights(need.role, need.path))]
    model = config["train"]["model"]
    checks = {}
    for name in need.experiments:
        exp = config["experiments"][name]
        args = (model, exp["sample_rate"], exp["version"], bool(exp["f0"]))
        spec = f"{need.role}:{':'.join(map(str, args))}"
        checks[spec] = lambda args=args: _fits_gd(need.role, need.path, *args)
    return list(checks.items())


def check_need(need: Need, config: dict[str, Any], cache: _Cache) -> AssetCheck:
    key = need.asset.key if need.asset else None

    def result(status: str, reason: str, sha: str | None = None) -> AssetCheck:
        return AssetCheck(need.path, key, need.role, status, need.required, reason, sha)

    if not os.path.exists(need.path):
        reason = _MISSING.get(need.role, f"not found, and f0_method {need.role} needs it (no stand-in)")
        return result("missing", reason)
    sha = cache.sha256(need.path)
    if need.asset is not None and sha == need.asset.sha256:
        return result("official", f"RVC's {need.asset.path}", sha)
    misfits = [
        reason for spec, check in _fit_checks(need, config) if (reason := cache.fit(need.path, spec, check))
    ]
    if misfits:
        return result("unusable", misfits[0], sha)
    return result("custom", "not RVC's published file, but it loads and fits the model", sha)


def verify_config(
    config: dict[str, Any],
    *,
    converting: Collection[str] | None = None,
    needs: list[Need] | None = None,
    cache_path: str | os.PathLike | None = CACHE_PATH,
) -> list[AssetCheck]:
    """One check per file ``needed_assets(config)`` lists (or ``needs``, computed already);
    ``cache_path=None`` checks afresh."""
    cache = _Cache(Path(cache_path) if cache_path is not None else None)
    if needs is None:
        needs = needed_assets(config, converting=converting)
    checks = [check_need(need, config, cache) for need in needs]
    cache.save()
    return checks


def write_experiment_checks(checks: list[AssetCheck], needs: list[Need]) -> None:
    """``results/{experiment}/pretrained.json``: the checks of the files each experiment uses,
    for its report pages. Rewritten only when it changes (planning runs at every start)."""
    per_experiment: dict[str, list[dict[str, Any]]] = {}
    for check, need in zip(checks, needs, strict=True):
        for name in need.experiments:
            per_experiment.setdefault(name, []).append(asdict(check))
    for name, rows in per_experiment.items():
        path = Path(experiment_path(name, PRETRAINED_CHECKS))
        text = json.dumps(rows, indent=1)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        with atomic_path(path, durable=False) as tmp:
            tmp.write_text(text, encoding="utf-8")


def read_experiment_checks(experiment_folder: str | os.PathLike) -> list[AssetCheck]:
    """The checks ``write_experiment_checks`` left for the report (none when there is no file)."""
    path = Path(experiment_folder) / PRETRAINED_CHECKS
    if not path.is_file():
        return []
    return [AssetCheck(**row) for row in json.loads(path.read_text(encoding="utf-8"))]


def problems(checks: list[AssetCheck]) -> list[AssetCheck]:
    """The checks that stop a run: an unusable file, or a required one missing."""
    return [c for c in checks if c.status == "unusable" or (c.required and c.status == "missing")]


def short_sha(sha: str | None) -> str:
    return sha[:12] if sha else "-"


def unusable_message(checks: list[AssetCheck]) -> str:
    """What stops a run on unusable pretrained files, naming each with its reason ("" when none is)."""
    unusable = [c for c in checks if c.status == "unusable"]
    if not unusable:
        return ""
    return (
        "unusable pretrained files (replace them, e.g. `rvc-pipeline pretrained fetch "
        "--force`, or fix the paths under pretrained: in the config):\n"
        + "\n".join(f"  {c.path}: {c.reason}" for c in unusable)
    )
