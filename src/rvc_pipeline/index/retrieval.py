"""Retrieval index over the training features: RVC's IVF-Flat index and file names.

Differences from RVC, on purpose (see docs/differences.md): a seeded shuffle, at least one IVF
list, a clear error below ``MIN_ROWS`` rows, and the k-means reduction of large sets done with
faiss in two levels.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import faiss
import numpy as np

from rvc_pipeline.atomic import atomic_path, save_npy
from rvc_pipeline.faults import fault_point
from rvc_pipeline.layout import FEATURE_DIMS
from rvc_pipeline.progress import Progress

log = logging.getLogger(__name__)

KMEANS_THRESHOLD = 200_000
N_CENTROIDS = 10_000
ADD_BATCH = 8192
# Rows per task when the k-means worker threads find each row's coarse cell.
ASSIGN_BATCH = 65536
# How a zip archive starts, a PyTorch model (.pth) among them: the usual wrong file given as the index.
ZIP_MAGIC = b"PK\x03\x04"
# Conversion searches 8 neighbours per frame; an index with fewer rows can never return 8, so every
# query would get placeholder (-1) labels. faiss IVF training itself only needs n_ivf (here 1) points.
MIN_ROWS = 8


def n_ivf(rows: int) -> int:
    """Number of IVF lists for ``rows`` training rows: RVC's formula with the lower bound of 1."""
    if rows < MIN_ROWS:
        raise ValueError(f"an index needs at least {MIN_ROWS} feature rows, got {rows}")
    return max(1, min(int(16 * math.sqrt(rows)), rows // 39))


def index_file_name(kind: str, n_ivf: int, experiment: str, version: str) -> str:
    """RVC's file name, e.g. ``added_IVF256_Flat_nprobe_1_myvoice_v1.index``."""
    if kind not in ("trained", "added"):
        raise ValueError(f"index kind must be 'trained' or 'added', got {kind!r}")
    return f"{kind}_IVF{n_ivf}_Flat_nprobe_1_{experiment}_{version}.index"


def added_index(folder: str | os.PathLike) -> Path:
    """The one ``added_…index`` that ``train_index`` wrote into ``folder``."""
    found = sorted(Path(folder).glob("added_IVF*_Flat_nprobe_1_*.index"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one added_IVF…index in {folder}, found {len(found)}")
    return found[0]


def find_feature_files(features: Path | Sequence[Path]) -> list[Path]:
    """The feature files to index: files as given, and every ``*.npy`` under each folder, sorted."""
    entries = [features] if isinstance(features, (str, os.PathLike)) else list(features)
    files: list[Path] = []
    for entry in map(Path, entries):
        if entry.is_dir():
            files += sorted(entry.rglob("*.npy"))
        elif isinstance(features, (str, os.PathLike)):
            raise FileNotFoundError(f"feature folder {entry} does not exist")
        else:
            files.append(entry)
    if not files:
        raise ValueError(f"no feature files (*.npy) under {', '.join(map(str, entries))}")
    return files


def read_features(files: Sequence[Path], dim: int) -> np.ndarray:
    """Stack the [T, dim] feature files into one float32 array, each file read once.

    A first pass reads only the headers (memory-mapped) to size the array, so the data is never
    held twice (no list of arrays plus their concatenation).
    """
    rows = []
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"feature file {path} does not exist")
        header = np.load(path, mmap_mode="r")
        if header.ndim != 2 or header.shape[1] != dim or not np.issubdtype(header.dtype, np.floating):
            raise ValueError(
                f"feature file {path}: expected a float array [T, {dim}], "
                f"got {header.dtype} {list(header.shape)}"
            )
        rows.append(header.shape[0])
        del header
    out = np.empty((sum(rows), dim), dtype=np.float32)
    start = 0
    for path, n in zip(files, rows):
        block = out[start : start + n]
        block[...] = np.load(path, mmap_mode="r")
        if not np.isfinite(block).all():
            raise ValueError(f"feature file {path} contains NaN or infinite values")
        start += n
    return out


def _available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a SLURM allocation)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _kmeans(rows: np.ndarray, k: int, seed: int, iterations: int, points_per_centroid: int) -> np.ndarray:
    """faiss k-means on one OpenMP thread (the calling worker thread's own setting)."""
    faiss.omp_set_num_threads(1)
    kmeans = faiss.Kmeans(
        rows.shape[1], k, niter=iterations, seed=seed, max_points_per_centroid=points_per_centroid, verbose=False
    )
    kmeans.train(rows)
    return kmeans.centroids


def _nearest(centroids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of each row's nearest centroid, on one OpenMP thread."""
    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    return index.search(rows, 1)[1][:, 0]


def reduce_kmeans(
    features: np.ndarray,
    n_centroids: int,
    seed: int,
    iterations: int,
    points_per_centroid: int,
    threads: int | None = None,
) -> np.ndarray:
    """Replace the rows by ``n_centroids`` k-means centroids, found in two levels (RVC: MiniBatchKMeans).

    A flat k-means compares every row with all 10,000 centroids in every iteration. Here
    ``round(sqrt(n_centroids))`` coarse centroids (trained on a sample) first split the rows into
    cells; each cell then gets its share of the centroids, in proportion to its rows, from a k-means
    of its own rows alone (at most ``points_per_centroid`` rows per centroid, a seeded sample).
    That costs about 2 * sqrt(n_centroids) distances per row and iteration instead of n_centroids.
    Cells are independent: they run on ``threads`` worker threads (default: the cores available),
    each with one OpenMP thread, since many small faiss calls on several OpenMP threads mostly wait
    on each other, worst on a busy machine. The result depends on the seed only, not on ``threads``.
    """
    rows, dim = features.shape
    if n_centroids > rows:
        raise ValueError(f"cannot reduce {rows} feature rows to {n_centroids} centroids")
    n_cells = max(1, round(math.sqrt(n_centroids)))
    with ThreadPoolExecutor(threads or _available_cores()) as pool:
        coarse = pool.submit(_kmeans, features, n_cells, seed, iterations, points_per_centroid).result()
        chunks = (features[start : start + ASSIGN_BATCH] for start in range(0, rows, ASSIGN_BATCH))
        cells = np.concatenate(list(pool.map(partial(_nearest, coarse), chunks)))
        counts = np.bincount(cells, minlength=n_cells)
        # Floors of the cumulative shares: they add up to exactly n_centroids, none exceeds its cell's rows.
        shares = np.diff(np.cumsum(counts) * n_centroids // rows, prepend=0)
        order = np.argsort(cells, kind="stable")
        ends = np.cumsum(counts)

        def fine(cell: int) -> np.ndarray:
            members = features[order[ends[cell] - counts[cell] : ends[cell]]]
            return _kmeans(members, int(shares[cell]), seed + 1 + int(cell), iterations, points_per_centroid)

        parts = list(pool.map(fine, np.flatnonzero(shares)))
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32).reshape(n_centroids, dim)


def _write_index(index: faiss.Index, path: Path) -> None:
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
        fault_point("index")
    log.info("wrote %s", path)


def read_index(path: str | os.PathLike) -> faiss.Index:
    """The faiss index in the file ``path``; one that is not an index (a model, a truncated
    index) raises ValueError in one line naming it, not faiss's C++ error."""
    try:
        return faiss.read_index(os.fspath(path))
    except RuntimeError as err:
        raise ValueError(f"{path}: not a faiss index ({_not_an_index(path, str(err))})") from None


def _not_an_index(path: str | os.PathLike, error: str) -> str:
    with open(path, "rb") as handle:
        if handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
            return "a zip archive, as a PyTorch model is: the index is the added_IVF…index file"
    if "read error" in error:
        return "the file ends early: empty or truncated"
    # faiss says where in its C++ sources it failed, then what: keep the what.
    return re.split(r"\.cpp:\d+: ", error)[-1]


def train_index(
    features: Path | Sequence[Path],
    out_dir: Path,
    experiment: str,
    version: str,
    *,
    seed: int = 0,
    kmeans_threshold: int = KMEANS_THRESHOLD,
    n_centroids: int = N_CENTROIDS,
    kmeans_iterations: int = 10,
    kmeans_points_per_centroid: int = 256,
    threads: int | None = None,
) -> Path:
    """Build RVC's IVF-Flat index from feature files; returns the path of the ``added_…`` index.

    ``features`` is a list of .npy files or a folder walked recursively (per-source subfolders).
    Writes ``total_fea.npy`` (the shuffled, possibly k-means-reduced rows), ``trained_…index`` and
    ``added_…index`` into ``out_dir``, each atomically. ``threads`` bounds the k-means worker
    threads (default: the cores available); the output does not depend on it.
    """
    if version not in FEATURE_DIMS:
        raise ValueError(f"version must be one of {sorted(FEATURE_DIMS)}, got {version!r}")
    out_dir = Path(out_dir)
    files = find_feature_files(features)
    with Progress(f"train_index {experiment}") as progress:
        progress.phase(f"reading {len(files)} feature files")
        data = read_features(files, FEATURE_DIMS[version])
        log.info("read %d feature rows [%d dims] from %d files", *data.shape, len(files))
        if len(data) < MIN_ROWS:
            source = features if isinstance(features, (str, os.PathLike)) else f"{len(files)} files"
            raise ValueError(f"{source}: {len(data)} feature rows, an index needs at least {MIN_ROWS}")

        np.random.default_rng(seed).shuffle(data)  # in place, along the rows
        if len(data) > kmeans_threshold:
            log.info("two-level k-means: %d rows -> %d centroids (seed %d)", len(data), n_centroids, seed)
            progress.phase(f"k-means of {len(data)} rows to {n_centroids} centroids")
            data = reduce_kmeans(data, n_centroids, seed, kmeans_iterations, kmeans_points_per_centroid, threads)

        total = out_dir / "total_fea.npy"
        save_npy(total, data, durable=True)
        log.info("wrote %s [%d rows]", total, len(data))

        lists = n_ivf(len(data))
        index = faiss.index_factory(data.shape[1], f"IVF{lists},Flat")
        faiss.extract_index_ivf(index).nprobe = 1
        log.info("training IVF%d on %d rows", lists, len(data))
        progress.phase(f"training IVF{lists} on {len(data)} rows")
        index.train(data)
        _write_index(index, out_dir / index_file_name("trained", lists, experiment, version))
        progress.phase(f"adding {len(data)} rows")
        for start in range(0, len(data), ADD_BATCH):
            index.add(data[start : start + ADD_BATCH])
        added = out_dir / index_file_name("added", lists, experiment, version)
        _write_index(index, added)
    return added
