"""Golden fingerprints of every stage's outputs, each kept with the algorithm version that made it.

Reruns are decided by the declared versions (``rvc_pipeline.versions``, the pitch registry's
``version``), so a change of a stage's outputs must come with a bump of its version, and a bump
must come with a change. For each stage this module runs the stage's own functions on a small
fixed input and reduces the outputs to a fingerprint: integers, names and shapes exactly; float
arrays as block means and RMS (rounded to 7 digits for the file, compared with the stage's stated
tolerance, since other CPUs round differently). ``tests/test_golden.py`` compares them with
``tests/golden/stages.json``; only this command rewrites that file:

    .venv/bin/python tests/golden.py --update [STAGE ...]    # after a change and its version bump
    .venv/bin/python tests/golden.py                          # check every stage, as the test does

``--update`` refuses a stage whose outputs changed while its version did not (and a bump without a
change); ``--force`` records it anyway, for a change of the golden inputs themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rvc_pipeline import versions
from rvc_pipeline.pitch import registry

STORE = Path(__file__).resolve().parent / "golden" / "stages.json"
BLOCKS = 8  # a float array is kept as the mean and RMS of 8 consecutive blocks of its values


# -- fingerprints --------------------------------------------------------------------------------


def profile(values: Any) -> dict[str, Any]:
    """Shape, block means and block RMS of a float array (7 significant digits: readable, and
    far below any tolerance used here)."""
    x = np.asarray(values, dtype=np.float64)
    blocks = np.array_split(x.ravel(), min(BLOCKS, x.size)) if x.size else []
    return {
        "shape": list(x.shape),
        "mean": [float(f"{b.mean():.7g}") for b in blocks],
        "rms": [float(f"{math.sqrt(np.mean(np.square(b))):.7g}") for b in blocks],
    }


def _is_profile(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"shape", "mean", "rms"}


def differences(kept: Any, made: Any, rtol: float, where: str = "") -> list[str]:
    """Where ``made`` differs from ``kept``: exactly, except a profile's statistics, which may
    differ by ``rtol`` times the array's largest block RMS (its scale)."""
    if _is_profile(kept) and _is_profile(made):
        if kept["shape"] != made["shape"]:
            return [f"{where}: shape {kept['shape']} -> {made['shape']}"]
        tolerance = rtol * max(kept["rms"], default=0.0)
        return [
            f"{where}: block {i} {stat} {a:.7g} -> {b:.7g}"
            for stat in ("mean", "rms")
            for i, (a, b) in enumerate(zip(kept[stat], made[stat]))
            if abs(a - b) > tolerance
        ]
    if isinstance(kept, dict) and isinstance(made, dict) and set(kept) == set(made):
        return [line for key in kept for line in differences(kept[key], made[key], rtol, _at(where, key))]
    nested = isinstance(kept, list) and any(isinstance(v, (dict, list)) for v in kept)
    if nested and isinstance(made, list) and len(kept) == len(made):
        pairs = enumerate(zip(kept, made))
        return [line for i, (a, b) in pairs for line in differences(a, b, rtol, _at(where, f"[{i}]"))]
    return [] if kept == made else [f"{where}: {_short(kept)} -> {_short(made)}"]


def _at(where: str, key: str) -> str:
    return f"{where} > {key}" if where else key


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch and faiss on one thread: a sum split over threads is added in another order."""
    import faiss
    import torch

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


# -- the fixed inputs and each stage's run -------------------------------------------------------


def voice(seconds: float, sr: int, seed: int) -> np.ndarray:
    """The demo's synthetic voice (numpy's seeded generator and pyworld: the same on every CPU)."""
    from rvc_pipeline.demo import synthesize_voice

    return synthesize_voice(seconds, sr, seed=seed)


def preprocess_outputs(tmp: Path) -> dict[str, Any]:
    """``slice_source`` (the slice_audio job) on 10.3 s at 40 kHz: speech with its own pauses (its
    first phrase, 4.4 s, is cut into ``per``-second pieces), and digital silences before, between
    (1 s: cut; 0.3 s: kept) and after."""
    from rvc_pipeline.audio import read_wav, write_wav
    from rvc_pipeline.preprocess.segments import slice_source

    sr = 40000
    speech = voice(8.0, sr, seed=10)
    silence = [np.zeros(int(s * sr), np.float32) for s in (0.5, 1.0, 0.3, 1.5)]
    speech_parts = (speech[: 6 * sr], speech[6 * sr : 7 * sr], speech[7 * sr : 8 * sr])
    parts = (silence[0], speech_parts[0], silence[1], speech_parts[1], silence[2], speech_parts[2], silence[3])
    write_wav(tmp / "recording.wav", np.concatenate(parts), sr)
    row = slice_source(tmp / "recording.wav", "rec", sr, tmp / "gt", tmp / "16k", tmp / "report.tsv")
    segments = {}
    for folder in ("gt", "16k"):
        for wav in sorted((tmp / folder).glob("*.wav")):
            samples, rate = read_wav(wav)
            segments[f"{folder}/{wav.name}"] = {"rate": rate, "samples": len(samples), "values": profile(samples)}
    report = {key: getattr(row, key) for key in ("status", "segments", "dropped", "reason")}
    return {"report": report, "segments": segments}


def pitch_clips() -> list[np.ndarray]:
    """Two 16 kHz clips of speech, 0.25 s and 0.15 s (unequal: batching pads one); short, since
    full CREPE costs about 40 ms a frame on a CPU."""
    speech = voice(1.0, 16000, seed=3)
    return [speech[:4000], speech[4000:6400]]


def _seeded(make: Callable[[], Any]) -> Any:
    """A network with torch's default initialisation from seed 0, in eval mode."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return make().eval()


def _rmvpe() -> tuple[Any, Callable]:
    from rvc_pipeline.pitch.rmvpe.estimator import PitchEstimator
    from rvc_pipeline.pitch.rmvpe.network import Rmvpe

    return PitchEstimator(_seeded(Rmvpe)), lambda est, clips: est.salience_many(clips)


def _crepe(capacity: str) -> Callable[[], tuple[Any, Callable]]:
    def build() -> tuple[Any, Callable]:
        import torch

        from rvc_pipeline.pitch.crepe import CrepeEstimator, normalised_frames
        from rvc_pipeline.pitch.crepe_network import Crepe
        from rvc_pipeline.pitch.rmvpe.mel import n_frames

        net = _seeded(lambda: Crepe(capacity))
        # Default initialisation shrinks every layer's output, so the sigmoid sees about 0 and every
        # bin reads 0.5: BatchNorm statistics measured on the golden clips keep each layer at unit
        # scale, as trained statistics do, and the bins then differ.
        frames = torch.cat([normalised_frames(c, 0, n_frames(len(c)), torch.device("cpu")) for c in pitch_clips()])
        norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # a plain average over the one pass
        with torch.no_grad():
            net.train()(frames)
        net.eval()
        return CrepeEstimator(net), lambda est, clips: [est.activations(c) for c in clips]

    return build


def _fcpe() -> tuple[Any, Callable]:
    import torch

    from rvc_pipeline.pitch.fcpe import FcpeEstimator
    from rvc_pipeline.pitch.fcpe_network import F0_MAX, F0_MIN, N_BINS, Fcpe

    def make() -> Fcpe:
        # Fcpe leaves unset what its checkpoint holds: the weight-norm directions (torch.empty:
        # whatever the memory held, NaN at times) and the cent table (zeros: every frame reads
        # 10 Hz). Seeded directions, and the table torchfcpe's checkpoint holds: cents
        # (1200·log2(f/10)) evenly spaced from F0_MIN to F0_MAX.
        net = Fcpe()
        for name, parameter in net.named_parameters():
            if name.endswith("weight_v"):
                torch.nn.init.normal_(parameter)
        net.cent_table.copy_(torch.linspace(1200 * np.log2(F0_MIN / 10), 1200 * np.log2(F0_MAX / 10), N_BINS))
        return net

    return FcpeEstimator(_seeded(make)), lambda est, clips: [s.numpy() for s in est.salience_many(clips)]


# Device methods without their (downloaded) weights: the estimator around a seeded random network,
# and its salience (the network's output, before decoding). The pitch is decoded from it, with
# margins far above float32 noise on the golden clips: the top two bins of every frame differ by
# at least 1e-4 (a hundred times float32's differences between CPUs) and every maximum exceeds the
# voicing threshold several times, so the coarse pitch can be kept exactly.
DEVICE_ESTIMATORS: dict[str, Callable[[], tuple[Any, Callable]]] = {
    "rmvpe": _rmvpe,
    "crepe": _crepe("full"),
    "crepe-tiny": _crepe("tiny"),
    "fcpe": _fcpe,
}


def pitch_outputs(name: str) -> Callable[[Path], dict[str, Any]]:
    """Coarse pitch (what training reads) exactly, Hz and (device methods) salience as profiles."""

    def run(tmp: Path) -> dict[str, Any]:
        from rvc_pipeline.pitch.files import coarse_f0

        clips = pitch_clips()
        out: dict[str, Any] = {}
        if registry.method(name).runs == registry.POOL:
            contours = [registry.implementation(name)(clip) for clip in clips]
        else:
            if name not in DEVICE_ESTIMATORS:
                raise LookupError(f"pitch method {name!r}: add its seeded network to DEVICE_ESTIMATORS in {__file__}")
            estimator, salience = DEVICE_ESTIMATORS[name]()
            contours = estimator.f0_many(clips)  # as extract_f0_device calls it
            out["salience"] = [profile(s) for s in salience(estimator, clips)]
        out["coarse"] = [coarse_f0(hz).tolist() for hz in contours]
        out["hz"] = [profile(hz) for hz in contours]
        return out

    return run


def features_outputs(tmp: Path) -> dict[str, Any]:
    """``extract_features_dir`` (the extract_features job) with the tiny HuBERT stand-in, v1 and
    v2, on two 16 kHz clips (1.0 s and 0.6 s)."""
    from rvc_pipeline.audio import write_wav
    from rvc_pipeline.features.extract import extract_features_dir

    speech = voice(2.0, 16000, seed=5)
    (tmp / "wavs").mkdir()
    for name, clip in (("a", speech[:16000]), ("b", speech[16000:25600])):
        write_wav(tmp / "wavs" / f"{name}.wav", clip, 16000)
    out = {}
    for version in ("v1", "v2"):
        extract_features_dir(tmp / "wavs", tmp / version, weights=None, version=version, standin="tiny", threads=1)
        for npy in sorted((tmp / version).glob("*.npy")):
            features = np.load(npy)
            out[f"{version}/{npy.name}"] = {"dtype": str(features.dtype), "values": profile(features)}
    return out


def index_outputs(tmp: Path) -> dict[str, Any]:
    """``train_index`` (the train_index job) on v1 features: 300 rows as they are (IVF7), and 700
    rows reduced by the two-level k-means to 64 centroids (its threshold lowered to reach it).

    The rows are standard normal: float32 distance errors (about 1e-5) are a millionth of the
    typical margin between two centroids, so k-means assigns every row alike on other CPUs, and
    the lists' members can be kept exactly. (Far-apart clusters would not do: faiss' random start
    puts two centroids in one cluster and splits its rows by a hair.)
    """
    import faiss

    from rvc_pipeline.index.retrieval import train_index

    rng = np.random.default_rng(7)
    out = {}
    for case, rows, reduce in (("flat", 300, {}), ("kmeans", 700, {"kmeans_threshold": 600, "n_centroids": 64})):
        (tmp / case).mkdir()
        np.save(tmp / case / "features.npy", rng.standard_normal((rows, 256)).astype(np.float32))
        added = train_index([tmp / case / "features.npy"], tmp / case, "golden", "v1", **reduce)
        index = faiss.read_index(str(added))
        ivf = faiss.extract_index_ivf(index)
        invlists = ivf.invlists
        lists = [faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).tolist() for i in range(ivf.nlist)]
        out[case] = {
            "files": sorted(p.name for p in (tmp / case).iterdir() if p.name != "features.npy"),
            "total_fea": profile(np.load(tmp / case / "total_fea.npy")),
            "centroids": profile(ivf.quantizer.reconstruct_n(0, ivf.nlist)),
            "list_ids": [sorted(ids) for ids in lists],
        }
    return out


def _layout(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's tensors: their count, number of values and a hash of names, shapes, dtypes."""
    lines = sorted(f"{key} {tuple(t.shape)} {t.dtype}" for key, t in state.items())
    return {
        "tensors": len(lines),
        "values": sum(t.numel() for t in state.values()),
        "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
    }


def train_outputs(tmp: Path) -> dict[str, Any]:
    """``train`` (the train_model job) of the tiny v1 f0 model at 32 kHz for one epoch (3 steps) on
    test_train's synthetic experiment: the losses of the epoch and the checkpoints' layout."""
    from test_train import make_experiment, options, tsv_rows

    from rvc_pipeline.torch_files import load_checkpoint
    from rvc_pipeline.training.history import LOSS_COLUMNS
    from rvc_pipeline.training.loop import train

    filelist, config = make_experiment(tmp / "exp")
    train(filelist, config, tmp / "state", options(epochs=1))
    rows = tsv_rows(tmp / "state")
    out: dict[str, Any] = {
        "files": sorted(p.name for p in (tmp / "state").iterdir()),
        "steps": [int(r["step"]) for r in rows],
        "losses": {column: profile([float(r[column]) for r in rows]) for column in LOSS_COLUMNS},
    }
    for checkpoint in sorted((tmp / "state").glob("*.pth")):
        saved = load_checkpoint(checkpoint)
        out[checkpoint.name] = {"keys": list(saved), "iteration": saved["iteration"], "model": _layout(saved["model"])}
    return out


# -- the stages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage: where its version is declared, how to run it, and how far its floats may move.

    ``rtol`` is a fraction of each float array's scale (its largest block RMS): the differences
    between CPUs (vector width, BLAS kernels, libm) must stay below it, a real change far above.
    """

    name: str
    version: Callable[[], str]
    declared: str  # names the version for a person: the constant and its file
    outputs: Callable[[Path], dict[str, Any]]
    rtol: float


def _constant(stage: str, constant: str, outputs: Callable[[Path], dict[str, Any]], rtol: float) -> Stage:
    """A stage whose version is ``constant`` of ``rvc_pipeline.versions`` (read when checked)."""
    return Stage(stage, lambda: getattr(versions, constant), f"{constant} (src/rvc_pipeline/versions.py)", outputs, rtol)


def _pitch(name: str) -> Stage:
    declared = f"the version of PitchMethod({name!r}, ...) in the pitch registry (src/rvc_pipeline/pitch/registry.py)"
    pool = registry.method(name).runs == registry.POOL
    # pm/harvest/dio are float64 C code (Praat, WORLD): 1e-6 of the scale allows the last digits
    # to differ. The networks are float32 through BLAS kernels that differ between CPUs: 1e-3.
    rtol = 1e-6 if pool else 1e-3
    return Stage(f"pitch:{name}", lambda: registry.method(name).version, declared, pitch_outputs(name), rtol)


def stages() -> dict[str, Stage]:
    """Every stage, pitch methods as the registry lists them now."""
    found = [
        # Float64 filtering and slicing, then soxr (float32 kernels): 1e-5 of the scale.
        _constant("preprocess", "PREPROCESS_VERSION", preprocess_outputs, 1e-5),
        *(_pitch(name) for name in registry.names()),
        # float32 transformer layers: 1e-3 (their sums are regrouped by other BLAS kernels).
        _constant("features", "FEATURES_VERSION", features_outputs, 1e-3),
        # float32 k-means sums: 1e-4; the lists' members (integers) are exact.
        _constant("index", "INDEX_VERSION", index_outputs, 1e-4),
        # Three optimiser steps of float32 models: 1e-3 (an epoch of a real change moves losses by %).
        _constant("train", "TRAIN_VERSION", train_outputs, 1e-3),
    ]
    return {stage.name: stage for stage in found}


def fingerprint(stage: Stage) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"golden-{stage.name.replace(':', '-')}-") as tmp, one_thread():
        return stage.outputs(Path(tmp))


def read_store() -> dict[str, Any]:
    return json.loads(STORE.read_text())["stages"] if STORE.exists() else {}


# Verdicts of `problem` that --update refuses without --force: version and outputs disagree.
DISAGREE = ("unbumped", "unchanged")


def problem(stage: Stage, kept: dict[str, Any] | None, made: dict[str, Any]) -> tuple[str, str]:
    """(verdict, message) for ``stage`` now against ``kept``: ("", "") when version and outputs agree
    with it; else "new", "unbumped" (outputs changed, same version), "unchanged" (a bump without a
    change) or "bumped" (both changed: the file is to be refreshed)."""
    version = stage.version()
    if kept is None:
        return "new", f"stage {stage.name}: no golden fingerprint in {STORE.name}: record one with {refresh(stage.name)}"
    changed = differences(kept["outputs"], made, stage.rtol)
    shown = "; ".join(changed[:3]) + (f"; and {len(changed) - 3} more" if len(changed) > 3 else "")
    if changed and version == kept["version"]:
        return "unbumped", (
            f"stage {stage.name}: outputs changed but {stage.declared} is still {version!r}: bump it "
            f"(Snakemake reruns exactly the jobs of that version and what depends on them), then refresh "
            f"tests/golden/stages.json with {refresh(stage.name)}. Changed: {shown}"
        )
    if not changed and version != kept["version"]:
        return "unchanged", (
            f"stage {stage.name}: version bumped to {version!r} but its outputs are unchanged: revert the bump of "
            f"{stage.declared} to {kept['version']!r} (or, if the change shows only on inputs the golden one lacks, "
            f"extend that input in tests/golden.py and record it with {refresh(stage.name, force=True)})"
        )
    if changed:
        return "bumped", (
            f"stage {stage.name}: outputs changed with the version bump to {version!r}: "
            f"refresh tests/golden/stages.json with {refresh(stage.name)}. Changed: {shown}"
        )
    return "", ""


def refresh(stage: str = "", force: bool = False) -> str:
    """The command that records ``stage`` (every stage when empty)."""
    return f"`.venv/bin/python tests/golden.py --update{' --force' if force else ''}{' ' + stage if stage else ''}`"


def stale(name: str) -> str:
    """The message for a stage kept in the file that no longer exists (a pitch method removed)."""
    return f"stage {name}: in {STORE.name} but no longer a stage: drop it with {refresh()}"


def _dumps(value: Any, indent: str = "") -> str:
    """JSON with one line per list of numbers or strings, so the file reads (and diffs) by output."""
    if isinstance(value, dict) and value:
        inner = indent + "  "
        items = (f"{inner}{json.dumps(k)}: {_dumps(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + _dumps(v, inner) for v in value) + f"\n{indent}]"
    return json.dumps(value)


def update(names: list[str], force: bool) -> int:
    """Record the named stages (all when none), refusing those whose version and outputs disagree."""
    known = stages()
    unknown = sorted(set(names) - set(known))
    if unknown:
        print(f"unknown stage(s) {', '.join(unknown)}; expected some of {', '.join(known)}", file=sys.stderr)
        return 2
    kept = read_store()
    refused = 0
    for name in names or list(known):
        stage = known[name]
        made = fingerprint(stage)
        verdict, message = problem(stage, kept.get(name), made)
        if verdict in DISAGREE and not force:
            print(f"refused: {message}", file=sys.stderr)
            refused += 1
            continue
        kept[name] = {"version": stage.version(), "outputs": made}
        print(f"recorded {name} (version {stage.version()!r})")
    if not names:  # a full refresh drops stages that no longer exist (a pitch method removed)
        kept = {name: kept[name] for name in known if name in kept}
    about = "Golden fingerprints of each stage's outputs: written by tests/golden.py --update, read by tests/test_golden.py"
    document = {"about": about, "stages": kept}
    STORE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STORE.with_suffix(".tmp")
    tmp.write_text(_dumps(document) + "\n")
    tmp.replace(STORE)
    return 1 if refused else 0


def check() -> int:
    kept = read_store()
    messages = [problem(stage, kept.get(name), fingerprint(stage))[1] for name, stage in stages().items()]
    messages += [stale(name) for name in sorted(set(kept) - set(stages()))]
    for message in filter(None, messages):
        print(message)
    return 1 if any(messages) else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="record the stages' fingerprints and versions")
    parser.add_argument("--force", action="store_true", help="with --update: record even where version and outputs disagree")
    parser.add_argument("stage", nargs="*", help="stages to record (default: all)")
    args = parser.parse_args()
    if args.stage and not args.update:
        parser.error("stage names go with --update")
    return update(args.stage, args.force) if args.update else check()


if __name__ == "__main__":
    sys.exit(main())
