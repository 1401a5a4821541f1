"""Steps 2a+2b on real speech: the per-source Snakemake DAG against one batched pass, at equal cores.

The batched pass is the best a plain script does with the same package functions: a process pool
over all sources for slicing and over all segments for f0, then HuBERT loaded once with torch
using every core. Each side is timed as a command from a cold start: the batched pass with its
interpreter start and imports, the DAG (Snakemake asked for the same outputs) with Snakemake's start-up, its
scheduling and the worker pool's start. Both use the same HuBERT stand-in, so the
ratio is the DAG's own cost. Target: DAG <= 1.15x the batched pass on 1 core and on 2 cores.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


from rvc_pipeline.layout import F0_COARSE, feature_folder, source_dir

from workflow_runs import run_snakemake

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
TARGET = 1.15


def _pitch(wav: Path, folder: Path) -> None:
    from rvc_pipeline.pitch.classic import extract_f0_files

    extract_f0_files([wav], folder / "f0", folder / "f0nsf", "pm")


def batched(sources: list[Path], out: Path, standin: str, cores: int) -> None:
    """Every stage over every source in one process tree, the model loaded once."""
    import torch

    from rvc_pipeline.features.extract import extract_features_dir
    from rvc_pipeline.preprocess.segments import slice_source

    folders = {src: out / src.stem for src in sources}
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(cores, mp_context=context) as pool:
        slicing = [
            pool.submit(slice_source, src, src.stem, 40000, d / "gt", d / "16k", d / "report.tsv")
            for src, d in folders.items()
        ]
        for future in slicing:
            future.result()
        segments = [(wav, d) for d in folders.values() for wav in sorted((d / "16k").glob("*.wav"))]
        for d in folders.values():
            (d / "f0").mkdir()
            (d / "f0nsf").mkdir()
        wavs, folders_of = zip(*segments)
        list(pool.map(_pitch, wavs, folders_of, chunksize=max(1, len(wavs) // (4 * cores))))
    torch.set_num_threads(cores)
    for d in folders.values():
        extract_features_dir(d / "16k", d / "feat", weights=None, version="v1", standin=standin)


def dag(input_dir: Path, workdir: Path, standin: str, cores: int) -> float:
    """Seconds of Snakemake making what the batched pass makes: each source's segments, pitch and
    features (the ``extract`` target would add the report's pages, which the batched pass lacks)."""
    config = {
        "experiments": {"bench": {"input_dir": str(input_dir), "sample_rate": "40k", "f0_method": "pm"}},
        "pretrained": {"hubert": str(workdir / "absent.pt"), "hubert_standin": standin},
    }
    names = sorted(src.stem for src in input_dir.iterdir())
    targets = [source_dir("bench", folder, name) for folder in (F0_COARSE, feature_folder("v1")) for name in names]
    return run_snakemake(workdir, config, cores, *targets)


def run_batched(sources: list[Path], out: Path, standin: str, cores: int) -> float:
    """Seconds of the batched pass as a command of its own, from its start (interpreter and
    imports included, as Snakemake's start is in the DAG's time)."""
    code = (
        "import sys, logging; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "logging.basicConfig(level=logging.ERROR); import bench_dag;"
        "bench_dag.batched([Path(p) for p in sys.argv[5:]], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))"
    )
    args = [str(Path(__file__).parent), str(out), standin, str(cores), *map(str, sources)]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--standin", default="base", choices=["base", "tiny"])
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: no speech at {args.data} (give --data)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # One input folder with both sets of recordings (links, not copies).
        inputs = tmp / "input"
        inputs.mkdir()
        for sub in ("ljspeech", "ljspeech_long"):
            for src in sorted((args.data / sub).iterdir()):
                (inputs / src.name).symlink_to(src)
        sources = sorted(inputs.iterdir())
        times = {}
        for cores in (1, 2):
            t_batch = run_batched(sources, tmp / f"batched{cores}", args.standin, cores)
            t_dag = dag(inputs, tmp / f"dag{cores}", args.standin, cores)
            times[cores] = (t_batch, t_dag)
    print(f"steps 2a+2b on {len(sources)} recordings, HuBERT stand-in {args.standin!r}")
    for cores, (t_batch, t_dag) in times.items():
        ratio = t_dag / t_batch
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"{cores} core(s): DAG / batched pass = {ratio:.2f}x   (target <= {TARGET}x: {verdict})")


if __name__ == "__main__":
    main()
