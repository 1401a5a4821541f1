"""The workflow on a tiny config: incremental reruns, deleted sources, strict mode, config errors.

Bad inputs are in test_bad_inputs.py (one corpus, one run)."""

import json
import os
import subprocess
import time

import pytest
import soundfile as sf

from conftest import Workflow, copy_run

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.preprocess.dataset_report import read_reports
from rvc_pipeline.preprocess.source_changes import SEEN_FILE

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def make_sources(folder, names=("alpha", "beta", "gamma"), seconds=6.0):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        sf.write(folder / f"{name}.wav", synthesize_voice(seconds, 32000, seed=k), 32000)


def config(**experiment):
    return {"experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", **experiment}}}


def slice_jobs(jobs):
    return sorted(w for rule, w in jobs if rule == "slice_audio")


@pytest.fixture(scope="module")
def three_sources_run(tmp_path_factory):
    """Three recordings sliced once for the module."""
    run = Workflow(tmp_path_factory.mktemp("three_sources"))
    make_sources(run.workdir / "voices")
    run.write_config(config())
    run.run("preprocess")
    return run


@pytest.fixture
def three_sources(three_sources_run, tmp_path):
    """A copy of the three sliced recordings, for a test that changes them."""
    return copy_run(three_sources_run, tmp_path)


def test_touching_one_source_reruns_only_its_job(three_sources):
    wf = three_sources
    assert wf.dry_run_jobs("preprocess") == []
    later = time.time() + 5
    os.utime(wf.workdir / "voices" / "beta.wav", (later, later))
    assert slice_jobs(wf.dry_run_jobs("preprocess")) == ["experiment=exp, source=beta"]


def test_a_recording_replaced_by_an_older_file_is_sliced_again(three_sources):
    """cp -p / rsync -a / a restore: the new file is not newer than the segments, yet they are remade."""
    wf = three_sources
    beta = wf.workdir / "voices" / "beta.wav"
    results = wf.workdir / "results" / "exp"
    segments_before = len(list((results / "0_gt_wavs" / "beta").glob("*.wav")))
    older = beta.stat().st_mtime - 3600
    sf.write(beta, synthesize_voice(12.0, 32000, seed=7), 32000)
    os.utime(beta, (older, older))

    dry = wf.run("-n", "preprocess")
    assert "recording 'voices/beta.wav' changed since its segments were made" in dry.stdout + dry.stderr
    assert slice_jobs(wf.dry_run_jobs("preprocess")) == ["experiment=exp, source=beta"]
    wf.run("preprocess")
    segments_after = len(list((results / "0_gt_wavs" / "beta").glob("*.wav")))
    assert segments_after > segments_before  # 12 s of speech instead of 6 s
    rows = {row.name: row for row in read_reports(results / "dataset_report.tsv")}
    assert rows["beta"].duration_s == pytest.approx(sf.info(beta).duration, abs=0.01)
    assert wf.dry_run_jobs("preprocess") == []


def test_a_copy_of_a_finished_folder_reruns_nothing(three_sources, tmp_path_factory):
    """cp -a to scratch: new inodes and change times, the same sizes and modification times."""
    copy = tmp_path_factory.mktemp("scratch") / "run"
    subprocess.run(["cp", "-a", str(three_sources.workdir), str(copy)], check=True)
    moved = Workflow(copy)
    assert moved.dry_run_jobs("preprocess") == []
    # Results of the commit before the record existed: nothing rerun, and a dry run writes no
    # record; the next run that has jobs to do records every recording.
    record = copy / "results" / "exp" / "reports" / SEEN_FILE
    record.unlink()
    assert moved.dry_run_jobs("preprocess") == []
    assert not record.exists()
    sf.write(copy / "voices" / "delta.wav", synthesize_voice(5.0, 32000, seed=5), 32000)
    moved.run("preprocess")
    assert set(json.loads(record.read_text())) == {"alpha", "beta", "gamma", "delta"}


def test_adding_a_source_does_not_rename_others(three_sources):
    wf = three_sources
    before = sorted(p.name for p in (wf.workdir / "results/exp/0_gt_wavs").glob("*/*.wav"))
    sf.write(wf.workdir / "voices" / "aaa_first.wav", synthesize_voice(5.0, 32000, seed=9), 32000)
    assert slice_jobs(wf.dry_run_jobs("preprocess")) == ["experiment=exp, source=aaa_first"]
    wf.run("preprocess")
    after = sorted(p.name for p in (wf.workdir / "results/exp/0_gt_wavs").glob("*/*.wav"))
    assert set(before) < set(after)
    assert all(name.startswith("aaa_first_") for name in set(after) - set(before))


def test_deleted_source_disappears_from_outputs(three_sources):
    wf = three_sources
    results = wf.workdir / "results" / "exp"
    assert list((results / "0_gt_wavs" / "gamma").glob("*.wav"))
    (wf.workdir / "voices" / "gamma.wav").unlink()
    wf.run("preprocess")
    for folder in ("0_gt_wavs", "1_16k_wavs"):
        assert sorted(p.name for p in (results / folder).iterdir()) == ["alpha", "beta"]
    rows = read_reports(results / "dataset_report.tsv")
    assert [r.name for r in rows if r.status != "warning"] == ["alpha", "beta"]


def test_strict_mode_fails_on_an_undecodable_source(workflow):
    voices = workflow.workdir / "voices"
    make_sources(voices, names=("good",))
    (voices / "notes.txt").write_text("not audio\n")
    workflow.write_config({**config(), "preprocess": {"strict": True}})
    result = workflow.run("preprocess", check=False)
    assert result.returncode != 0
    assert "notes.txt: cannot decode audio" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("experiment", "top", "message"),
    [
        ({"sample_rate": "44k"}, {}, "'44k' is not one of ['32k', '40k', '48k']"),
        ({"f0_methd": "pm"}, {}, "unknown key 'f0_methd' (did you mean 'f0_method'?) in experiments.exp"),
        ({}, {"preprocess": {"slicer": {"hop": 10}}}, "unknown key 'hop' (did you mean 'hop_ms'?) in preprocess.slicer"),
        ({"f0_method": "yin"}, {}, "'yin' is not one of ['pm', 'harvest', 'dio', 'rmvpe', 'crepe', 'crepe-tiny', 'fcpe']"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(workflow, experiment, top, message):
    make_sources(workflow.workdir / "voices", names=("a",), seconds=2.0)
    workflow.write_config({**config(**experiment), **top})
    result = workflow.run("-n", check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workflow.workdir / "results").exists()


def test_a_dry_run_on_a_fresh_folder_writes_nothing_into_results(workflow):
    make_sources(workflow.workdir / "voices", names=("solo",), seconds=2.0)
    workflow.write_config({"experiments": {"exp": {"input_dir": "voices"}, "demo": {"demo": 1}}})
    assert ("slice_audio", "experiment=exp, source=solo") in workflow.dry_run_jobs()
    assert not (workflow.workdir / "results").exists()
