"""Index build at 1,000,000 feature rows: ours against RVC's recipe, in one run.

RVC's recipe is the baseline: scikit-learn's MiniBatchKMeans to 10,000 centroids (batch 256 x the
cores, random init, no labels; verbose off), then IVF and adds in batches of 8,192 rows. Ours is
``rvc_pipeline.index.train_index``. Each build runs in its own child process, so its peak RSS is that
build's own; ours runs before and after the baseline (the machine is shared, so its load
drifts) and the ratio uses the mean of the two.

The rows. Centroid quality means something only on rows with cluster structure (random Gaussian rows
have none), and it must be judged on rows the k-means never saw. Real feature rows here are the
package's own features (HuBERT base shape, v1, 256-d) of the real speech in ../shared/data, cut
into RVC's 3.7 s segments. No real weights ship with the repository, so they come from the seeded
random stand-in: a fixed function of the sound, structured by it (the rows cluster), though not by
phonetic content as ContentVec's are. That gives about 36,000 rows, far fewer than a million. So
the recordings are split (every fourth file of each speaker is held out), a mixture of 256
Gaussians is fitted to the rows of the rest (k-means components, each with the full covariance of
its own rows: a draw is the component's mean plus a random combination of its rows' residuals),
and the 1,000,000 rows are drawn from it. Checked at 300 and 1,000 centroids: centroids trained on
drawn rows fit the held-out real rows within 1% as well as centroids trained on the real rows
themselves. The quality figure is the mean squared distance of the held-out real rows to their
nearest centroid (lower is better); the same on 20,000 held-out drawn rows is printed beside it. Without ../shared/data the mixture is a random one of the same
shape, so the timing still runs, and quality is reported on the held-out drawn rows only.
Usage: python benchmarks/bench_index.py [ROWS]   (default 1,000,000)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rvc_pipeline.layout import FEATURE_DIMS, FEATURE_RATE, feature_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DIM = FEATURE_DIMS["v1"]
ROWS_PER_FILE = 368  # one 3.7 s segment
FILES_PER_SOURCE = 100
COMPONENTS = 256
HELD_OUT_DRAWN = 20_000
SEGMENT_S = 3.7
TIME_TARGET = 0.9
PEAK_LIMIT_GB = 2.0
KMEANS_ROWS = 200_000  # RVC reduces larger sets only
# One mixture: each component's mean, the residuals of its rows (a sample adds a random
# combination of them), and its weight.
Mixture = tuple[np.ndarray, list[np.ndarray], np.ndarray]


def speech_rows() -> tuple[np.ndarray, np.ndarray] | None:
    """(fit, held-out) v1 feature rows of the shared speech, split by recording; None without it."""
    if not DATA.is_dir():
        return None
    from rvc_pipeline.audio import load_audio
    from rvc_pipeline.features.hubert import load_hubert

    model = load_hubert(None, standin="base")
    folders = [DATA / "ljspeech", DATA / "ljspeech_long", *sorted((DATA / "librispeech").glob("[0-9]*"))]
    fit, held_out = [], []
    for folder in folders:
        for i, path in enumerate(sorted(p for p in folder.iterdir() if p.suffix in (".wav", ".flac"))):
            audio = load_audio(path, FEATURE_RATE)
            step = int(SEGMENT_S * FEATURE_RATE)
            for start in range(0, len(audio) - FEATURE_RATE, step):  # pieces of at least 1 s
                (held_out if i % 4 == 3 else fit).append(model.extract(audio[start : start + step], "v1"))
    return np.concatenate(fit), np.concatenate(held_out)


def fit_mixture(rows: np.ndarray, seed: int = 0) -> Mixture:
    import faiss

    kmeans = faiss.Kmeans(DIM, COMPONENTS, niter=20, seed=seed, max_points_per_centroid=len(rows))
    kmeans.train(rows)
    labels = kmeans.index.search(rows, 1)[1][:, 0]
    residuals = [rows[labels == c] - kmeans.centroids[c] for c in range(COMPONENTS)]
    return kmeans.centroids, residuals, np.bincount(labels, minlength=COMPONENTS) / len(rows)


def random_mixture(rng: np.random.Generator) -> Mixture:
    """Clustered rows without real data to fit: random means and residuals, energy falling with the dim."""
    scale = (1 + np.arange(DIM) / 16) ** -0.5
    means = (rng.standard_normal((COMPONENTS, DIM)) * scale).astype(np.float32)
    residuals = [(rng.standard_normal((100, DIM)) * scale * 0.7).astype(np.float32) for _ in range(COMPONENTS)]
    return means, residuals, np.full(COMPONENTS, 1 / COMPONENTS)


def draw(mixture: Mixture, n: int, rng: np.random.Generator) -> np.ndarray:
    means, residuals, weights = mixture
    component = rng.choice(len(means), size=n, p=weights)
    out = np.empty((n, DIM), dtype=np.float32)
    for c in np.unique(component):
        rows = np.flatnonzero(component == c)
        basis = residuals[c] / np.sqrt(max(len(residuals[c]) - 1, 1))
        out[rows] = means[c] + rng.standard_normal((len(rows), len(basis)), dtype=np.float32) @ basis
    return out


def write_features(root: Path, mixture: Mixture, rows: int, rng: np.random.Generator) -> None:
    """Per-source folders of 368-row .npy files, like results/{exp}/3_feature256."""
    per_source = ROWS_PER_FILE * FILES_PER_SOURCE
    for s, first in enumerate(range(0, rows, per_source)):
        block = draw(mixture, min(per_source, rows - first), rng)
        source = root / f"src{s:04d}"
        source.mkdir(parents=True)
        for j, start in enumerate(range(0, len(block), ROWS_PER_FILE)):
            np.save(source / f"src{s:04d}_{j}.npy", block[start : start + ROWS_PER_FILE])


def build_ours(features: Path, out_dir: Path) -> Path:
    from rvc_pipeline.index.retrieval import train_index
    from rvc_pipeline.logs import to_rule_log

    to_rule_log(None)  # the phases, with time stamps, go to stderr for the parent to show
    return train_index(features, out_dir, "bench", "v1")


def build_rvc(features: Path, out_dir: Path) -> Path:
    """RVC's recipe, step by step (its file names; a seeded shuffle so runs repeat)."""
    import faiss
    from sklearn.cluster import MiniBatchKMeans

    big = np.concatenate([np.load(path) for path in sorted(features.rglob("*.npy"))])
    order = np.arange(len(big))
    np.random.default_rng(0).shuffle(order)
    big = big[order]
    if len(big) > KMEANS_ROWS:
        big = MiniBatchKMeans(
            n_clusters=10_000, batch_size=256 * os.cpu_count(), compute_labels=False, init="random"
        ).fit(big).cluster_centers_.astype(np.float32)
    out_dir.mkdir(parents=True)
    np.save(out_dir / "total_fea.npy", big)
    n_ivf = min(int(16 * np.sqrt(len(big))), len(big) // 39)
    index = faiss.index_factory(DIM, f"IVF{n_ivf},Flat")
    faiss.extract_index_ivf(index).nprobe = 1
    index.train(big)
    faiss.write_index(index, str(out_dir / f"trained_IVF{n_ivf}_Flat_nprobe_1_bench_v1.index"))
    for start in range(0, len(big), 8192):
        index.add(big[start : start + 8192])
    added = out_dir / f"added_IVF{n_ivf}_Flat_nprobe_1_bench_v1.index"
    faiss.write_index(index, str(added))
    return added


def peak_rss_kb() -> int:
    """This process's peak RSS since its exec (VmHWM). ru_maxrss would carry over the parent's RSS
    at the fork: Linux keeps it across exec, and the parent holds HuBERT and the drawn rows."""
    status = Path("/proc/self/status")
    if status.exists():
        return next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(side: str, features: str, out_dir: str) -> None:
    """Build one index and print one JSON line: wall and CPU seconds, peak RSS."""
    start, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    added = (build_ours if side == "ours" else build_rvc)(Path(features), Path(out_dir))
    seconds = time.perf_counter() - start
    end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = end.ru_utime + end.ru_stime - usage.ru_utime - usage.ru_stime
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kb": peak_rss_kb(), "index": added.name}))


def run_child(side: str, features: Path, out_dir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", side, str(features), str(out_dir)], capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"{side} build failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["centroids"] = np.load(out_dir / "total_fea.npy")
    result["bytes"] = (out_dir / result["index"]).read_bytes()
    print(
        f"  {side:4s}: {result['seconds']:6.1f} s wall, {result['cpu']:6.1f} s CPU, "
        f"peak RSS {result['peak_kb'] / 2**20:.2f} GB -> {result['index']}",
        flush=True,
    )
    return result


def mean_sq_distance(centroids: np.ndarray, rows: np.ndarray) -> float:
    import faiss

    index = faiss.IndexFlatL2(DIM)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return float(index.search(rows, 1)[0].mean())


def main(rows: int) -> None:
    import faiss

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    real = speech_rows()
    if real is None:
        print(f"no real speech at {DATA}: rows drawn from a random mixture, quality on drawn rows only")
        mixture = random_mixture(rng)
    else:
        print(f"real feature rows of the shared speech: {len(real[0]):,} to fit, {len(real[1]):,} held out")
        mixture = fit_mixture(real[0])
    held_out_drawn = draw(mixture, HELD_OUT_DRAWN, rng)
    with tempfile.TemporaryDirectory() as tmp:
        features = Path(tmp) / feature_folder("v1")
        write_features(features, mixture, rows, rng)
        print(
            f"{rows:,} rows in {len(list(features.rglob('*.npy')))} files, made in "
            f"{time.perf_counter() - start:.0f} s; faiss {faiss.__version__}, {os.cpu_count()} cores"
        )
        ours = run_child("ours", features, Path(tmp) / "ours")
        rvc = run_child("rvc", features, Path(tmp) / "rvc")
        ours2 = run_child("ours", features, Path(tmp) / "ours2")
    mean_ours = (ours["seconds"] + ours2["seconds"]) / 2
    ratio = mean_ours / rvc["seconds"]
    peak = max(ours["peak_kb"], ours2["peak_kb"]) / 2**20
    verdict = ("ok" if ratio <= TIME_TARGET else "MISSED") if rows > KMEANS_ROWS else "no k-means at this size"
    print(f"ours / RVC recipe = {ratio:.2f} (target <= {TIME_TARGET}): {verdict}")
    print(f"  CPU time ours / RVC recipe = {(ours['cpu'] + ours2['cpu']) / 2 / rvc['cpu']:.2f}")
    print(
        f"peak RSS ours {peak:.2f} GB (<= {PEAK_LIMIT_GB} GB): {'ok' if peak <= PEAK_LIMIT_GB else 'OVER'}; "
        f"RVC recipe {rvc['peak_kb'] / 2**20:.2f} GB"
    )
    print(f"same index bytes on both runs of ours: {'yes' if ours['bytes'] == ours2['bytes'] else 'NO'}")
    drawn = (mean_sq_distance(ours["centroids"], held_out_drawn), mean_sq_distance(rvc["centroids"], held_out_drawn))
    if real is not None:
        a, b = (mean_sq_distance(side["centroids"], real[1]) for side in (ours, rvc))
        print(f"held-out MSE ours {a:.3f} vs RVC {b:.3f} (real rows, lower is better): {'ok' if a <= b else 'WORSE'}")
    print(f"  held-out drawn rows: MSE ours {drawn[0]:.3f} vs RVC {drawn[1]:.3f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
