"""Steps 2a+2b on the shared speech: the per-source Snakemake DAG against one batched pass.

Both run the same package functions over the same recordings with the same HuBERT stand-in and
the same number of cores (the batched pass gives torch as many threads as the DAG's feature jobs
get), so the ratio is the DAG's own cost: start-up, scheduling and per-job overhead.
Target: DAG <= 1.3x the batched pass.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from rvc_pipeline.f0 import extract_f0_dir
from rvc_pipeline.features import extract_features_dir
from rvc_pipeline.hubert import load_hubert
from rvc_pipeline.preprocess import slice_source

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def batched(sources: list[Path], out: Path, standin: str, cores: int) -> float:
    """Every stage over every source in one process, the model loaded once."""
    torch.set_num_threads(cores)
    start = time.perf_counter()
    load_hubert(None, standin=standin)
    for src in sources:
        d = out / src.stem
        slice_source(src, src.stem, 40000, d / "gt", d / "16k", d / "report.tsv")
        extract_f0_dir(d / "16k", d / "f0", d / "f0nsf", "pm")
        extract_features_dir(d / "16k", d / "feat", weights=None, version="v1", standin=standin)
    return time.perf_counter() - start


def dag(input_dir: Path, workdir: Path, standin: str, cores: int) -> float:
    config = {
        "experiments": {"bench": {"input_dir": str(input_dir), "sample_rate": "40k", "f0_method": "pm"}},
        "pretrained": {"hubert": str(workdir / "absent.pt"), "hubert_standin": standin},
    }
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        sys.executable, "-m", "snakemake", "extract", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), "-q",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the stand-in warning once per source is noise here
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--standin", default="base", choices=["base", "tiny"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # One input folder with both sets of recordings (links, not copies).
        inputs = tmp / "input"
        inputs.mkdir()
        for sub in ("ljspeech", "ljspeech_long"):
            for src in sorted((args.data / sub).iterdir()):
                (inputs / src.name).symlink_to(src)
        sources = sorted(inputs.iterdir())
        times = {
            cores: (batched(sources, tmp / f"batched{cores}", args.standin, cores), dag(inputs, tmp / f"dag{cores}", args.standin, cores))
            for cores in (1, 2)
        }
    print(f"steps 2a+2b on {len(sources)} recordings, HuBERT stand-in {args.standin!r}")
    for cores, (t_batch, t_dag) in times.items():
        print(f"{cores} core(s): DAG / batched pass = {t_dag / t_batch:.2f}x   (target <= 1.3x)")


if __name__ == "__main__":
    main()
