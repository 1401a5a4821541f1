"""Index build time and peak memory at 200,000 and 1,000,000 feature rows (random, 256-d).

Each size runs in a fresh child process, so ru_maxrss is that build's own peak. The rows are written
as per-source .npy files of 368 rows (one 3.7 s segment each), like results/{exp}/3_feature256.
Usage: python benchmarks/bench_index.py [ROWS ...]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS_PER_FILE = 368
FILES_PER_SOURCE = 100
LIMIT_GB = 4.0


def write_features(root: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    for i, start in enumerate(range(0, rows, ROWS_PER_FILE)):
        source = root / f"src{i // FILES_PER_SOURCE:04d}"
        source.mkdir(parents=True, exist_ok=True)
        n = min(ROWS_PER_FILE, rows - start)
        np.save(source / f"{source.name}_{i % FILES_PER_SOURCE}.npy", rng.standard_normal((n, 256), dtype=np.float32))


def build(features: str, out_dir: str) -> None:
    """Child process: build the index and print one JSON line with the time and peak RSS."""
    from rvc_pipeline.index import train_index
    from rvc_pipeline.logs import to_rule_log

    to_rule_log(None)  # the phases, with time stamps, go to stderr for the parent to show
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    added = train_index(Path(features), Path(out_dir), "bench", "v1")
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kb": peak_kb, "import_kb": baseline, "index": added.name}))


def main(sizes: list[int]) -> None:
    import faiss

    print(f"index build, v1 256-d random features, faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads")
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            write_features(Path(tmp) / "3_feature256", rows)
            child = subprocess.run(
                [sys.executable, __file__, "--child", f"{tmp}/3_feature256", f"{tmp}/out"],
                check=True, capture_output=True, text=True,
            )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        peak_gb = result["peak_kb"] / 2**20
        data_gb = rows * 256 * 4 / 2**30
        for line in child.stderr.splitlines():
            print(f"    {line}")
        print(
            f"{rows:>9,} rows: {result['seconds']:7.1f} s, peak RSS {peak_gb:.2f} GB "
            f"(data {data_gb:.2f} GB, ratio {peak_gb / data_gb:.2f}; imports {result['import_kb'] / 2**20:.2f} GB; "
            f"limit {LIMIT_GB} GB: {'ok' if peak_gb < LIMIT_GB else 'OVER'}) -> {result['index']}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        build(sys.argv[2], sys.argv[3])
    else:
        main([int(a) for a in sys.argv[1:]] or [200_000, 1_000_000])
