"""Step 2b in the workflow: per-source pitch and feature jobs, f0 off (with its filelist), v2 features."""

import os
import shutil
import time

import numpy as np
import pytest
from test_workflow_preprocess import make_sources

from rvc_pipeline.preprocess.dataset_report import read_reports

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def job_threads(dry_run: str) -> dict[str, int]:
    """Threads of each job a dry run lists, by rule (Snakemake prints the line only above 1)."""
    threads, rule = {}, None
    for line in map(str.strip, dry_run.splitlines()):
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
            threads[rule] = 1
        elif line.startswith("threads:") and rule is not None:
            threads[rule] = int(line.split()[1])
    return {rule: n for rule, n in threads.items() if rule.startswith("extract_")}


def extract_config(**experiment):
    return {
        "experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", **experiment}},
        "pretrained": {"hubert_standin": "tiny"},
    }


def test_extract_outputs_and_touch_reruns_only_that_sources_three_jobs(workflow):
    make_sources(workflow.workdir / "voices", seconds=5.0)
    make_sources(workflow.workdir / "voices", names=("beta",), seconds=3.0)  # one segment
    workflow.write_config(extract_config(f0_method="harvest"))
    workflow.run("extract")
    results = workflow.workdir / "results" / "exp"
    segments = sorted(p.name for p in (results / "1_16k_wavs" / "alpha").glob("*.wav"))
    assert segments
    for seg in segments:
        n = len(np.fromfile(results / "1_16k_wavs" / "alpha" / seg, dtype=np.uint8))  # bytes of a float32 wav
        frames16k = (n - 80) // 4 if n > 80 else 0
        coarse = np.load(results / "2a_f0" / "alpha" / f"{seg}.npy")
        hz = np.load(results / "2b-f0nsf" / "alpha" / f"{seg}.npy")
        feats = np.load(results / "3_feature256" / "alpha" / seg.replace(".wav", ".npy"))
        assert coarse.dtype == np.int64 and hz.dtype == np.float64
        assert coarse.min() >= 1 and coarse.max() <= 255
        assert abs(len(hz) - (frames16k // 160 + 1)) <= 1  # harvest: p_len + 1
        assert feats.dtype == np.float32 and feats.shape[1] == 256
        assert abs(feats.shape[0] - ((frames16k - 400) // 320 + 1)) <= 1
    # HuBERT is loaded once for the whole run: only the first feature job's log shows the load.
    logs = sorted((results / "logs" / "extract_features256").glob("*.log"))
    assert len(logs) == 3
    assert sum("RANDOMLY INITIALISED" in p.read_text() for p in logs) == 1
    warnings = [r for r in read_reports(results / "dataset_report.tsv") if r.status == "warning"]
    assert len(warnings) == 1 and "stand-in" in warnings[0].reason
    # Per-segment jobs ask for as many threads as their segments keep busy (at most --cores).
    segments = {name: len(list((results / "1_16k_wavs" / name).glob("*.wav"))) for name in ("alpha", "beta")}
    shutil.rmtree(results / "2a_f0" / "alpha")
    shutil.rmtree(results / "3_feature256" / "beta")
    assert segments["alpha"] > 1 and segments["beta"] == 1
    assert job_threads(workflow.run("-n", "extract").stdout) == {
        "extract_f0": min(2, segments["alpha"]),
        "extract_features": min(2, segments["beta"]),
    }
    workflow.run("extract")
    later = time.time() + 5
    os.utime(workflow.workdir / "voices" / "beta.wav", (later, later))
    jobs = workflow.dry_run_jobs("extract")
    assert sorted(rule for rule, w in jobs if "source=" not in w) == ["extract", "plot_dataset", "plot_pitch", "report_dataset"]
    per_source = sorted((rule, w) for rule, w in jobs if "source=" in w)
    assert per_source == [
        ("extract_f0", "experiment=exp, source=beta"),
        ("extract_features", "dim=256, experiment=exp, source=beta"),
        ("slice_audio", "experiment=exp, source=beta"),
    ]


def test_without_f0_the_pitch_rules_are_not_in_the_dag_and_v2_gives_768(workflow):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=4.0)
    workflow.write_config(extract_config(f0=False, version="v2"))
    rules = {rule for rule, _ in workflow.dry_run_jobs("extract")}
    assert "extract_f0" not in rules and "extract_features" in rules
    workflow.run("extract")
    results = workflow.workdir / "results" / "exp"
    assert not (results / "2a_f0").exists() and not (results / "3_feature256").exists()
    feats = [np.load(p) for p in (results / "3_feature768" / "solo").glob("*.npy")]
    assert feats and all(f.shape[1] == 768 and f.dtype == np.float32 for f in feats)
    workflow.run("results/exp/filelist.txt")  # step 3's list of a model without pitch
    lines = (results / "filelist.txt").read_text().split("\n")
    lines += [line for line in (results / "validation.txt").read_text().split("\n") if line]
    assert len(lines) == len(feats) + 2 and all(len(line.split("|")) == 3 for line in lines)  # wav|feature|speaker
