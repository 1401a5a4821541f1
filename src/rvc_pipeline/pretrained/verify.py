"""Is each pretrained file the config points at RVC's own, a custom one that fits, or unusable?

Official: its SHA-256 is the manifest's. Custom: another hash, but it loads (safely) and its shapes
fit the model that uses it — users often name their own pretrained G ``f0G40k.pth``. Unusable: it
does not load or does not fit, with the reason. A custom file is read by the very loader its jobs
use (HuBERT's, the pitch methods', the speaker encoder's, training's checkpoint reader), so what
verify accepts the jobs load. Results are cached by (path, size, mtime_ns), so planning a run
does not hash or load 190 MB files again (a first check of a HuBERT file builds the model: a few
seconds); torch is imported only for a file not yet checked.
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
from rvc_pipeline.pitch.registry import read_weights
from rvc_pipeline.pretrained.needs import GD_ROLES, Need, needed_assets

# In Snakemake's own folder of the working directory (where the config's relative paths point):
# never a workflow output, git-ignored, and deleting it costs only one more hashing.
CACHE_PATH = Path(".snakemake") / "rvc-pipeline" / "pretrained-checks.json"
# 2: HuBERT folders and files and the speaker encoder are checked with the jobs' loaders (a
# format-1 entry may call "custom" what the jobs refuse).
_CACHE_FORMAT = 2
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

    from rvc_pipeline.torch_files import check_state_fits, load_checkpoint, model_state
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


def _loads_as_in_jobs(role: str, path: str) -> None:
    """Raise, saying why, unless the loader the jobs use reads ``path`` (uncached, on the CPU):
    HuBERT's (a fairseq file or a Hugging Face folder), the speaker encoder's, a pitch method's."""
    if role == "hubert":
        from rvc_pipeline.features.hubert.loader import read_hubert

        read_hubert(Path(path))
    elif role == "speaker_encoder":
        from rvc_pipeline.quality.speaker import encoder_from_file

        encoder_from_file(path)
    else:
        read_weights(role, path)


def _signature(path: str) -> tuple[int, int]:
    """(size, mtime_ns) of a file; of a folder, its files' total size and the newest mtime of it
    and them, since a file rewritten inside changes neither the folder's size nor its mtime."""
    stats = [os.stat(path)]
    if os.path.isdir(path):
        stats += [entry.stat() for entry in os.scandir(path) if entry.is_file()]
        return sum(stat.st_size for stat in stats[1:]), max(stat.st_mtime_ns for stat in stats)
    return stats[0].st_size, stats[0].st_mtime_ns


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
        size, mtime_ns = _signature(path)
        key = os.path.abspath(path)
        entry = self.entries.get(key)
        if not entry or entry["size"] != size or entry["mtime_ns"] != mtime_ns:
            entry = {"size": size, "mtime_ns": mtime_ns, "sha256": None, "fits": {}}
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
                message = " ".join(str(err).split())  # one line: some loaders' messages span lines
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
    if need.role not in GD_ROLES:
        return [(need.role, lambda: _loads_as_in_jobs(need.role, need.path))]
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
