"""Step 3 in the workflow: filelist, training on the tiny model, export, the report; retraining on new data."""

import base64
import json
import re
import zipfile

import pytest
import soundfile as sf
import torch
from conftest import copy_run
from test_workflow_preprocess import make_sources

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.training.export import load_exported

pytestmark = pytest.mark.slow  # every test here runs Snakemake


def train_config(**experiment):
    return {
        "experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", "f0_method": "pm", **experiment}},
        "pretrained": {"hubert_standin": "tiny"},
        "train": {"model": "tiny", "epochs": 2, "save_every_epoch": 1, "batch_size": 2},
    }


REPORT_CATEGORIES = {"Data", "Pitch", "Training", "Index", "Conversion"}


def check_report(workflow, sources, converted):
    """``snakemake --report report.zip`` of a run of target all: every category of the experiment
    with its figure, the sources table, audio of the validation segment and of each conversion."""
    workflow.run("--report", "report.zip")
    with zipfile.ZipFile(workflow.workdir / "report.zip") as archive:
        files = {name.removeprefix("report/"): archive.read(name) for name in archive.namelist()}
    index = files["report.html"].decode()
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", index).group(1))
    results = json.loads(re.search(r"var results = (\{.*?\});\n", index).group(1))
    assert set(categories) == REPORT_CATEGORIES and all(set(c) == {"exp"} for c in categories.values())

    def content(path):
        return files[results[path]["data_uri"]]

    def audio_players(page):
        players = re.findall(r'<audio controls preload="metadata" src="data:audio/ogg;base64,([^"]+)"', page)
        assert all(base64.b64decode(p)[:4] == b"OggS" for p in players)
        return len(players)

    for name, paths in categories.items():
        figures = [p for p in paths["exp"] if p.endswith(".png")]
        assert figures and all(content(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in figures), name
        assert all(results[p]["caption"] for p in paths["exp"]), name
    data = content("results/exp/report/data.html").decode()
    table = data[data.index("<h2>Sources</h2>") :]
    for source in sources:
        assert re.search(rf"<tr><td>{re.escape(source)}</td><td>ok</td>", table), source
    assert "Warning:</b> only" in data and "Fix: add recordings" in data  # seconds of audio, not 10 min
    validation = content("results/exp/report/validation.html").decode()
    assert audio_players(validation) >= 2  # the recording and the model, per saved epoch shown
    training = content("results/exp/report/training.html").decode()
    assert "<th>ETA</th>" in training and "<th>val_loss_mel</th>" in training
    quality = content("results/exp/report/conversion_quality.html").decode()
    for name in converted:
        assert audio_players(content(f"results/exp/report/conversion/{name}.html").decode()) == 2
        assert f"<tr><td>{name}</td>" in quality  # its similarities and pitch error


def test_train_target_trains_and_exports_an_rvc_model(trained_run, tmp_path):
    run, rules = trained_run
    for rule in ("write_mute_assets", "write_filelist", "train_model", "export_model"):
        assert rules.count(rule) == 1, rules
    workflow = copy_run(run, tmp_path)  # more runs below change it
    exp = workflow.workdir / "results" / "exp"

    lines = (exp / "filelist.txt").read_text().split("\n")
    held_out = (exp / "validation.txt").read_text().split("\n")
    segments = list((exp / "0_gt_wavs").glob("*/*.wav"))
    assert len(held_out) == 2 and not set(held_out) & set(lines)  # validation_share 2 %: the minimum of 2
    assert len(lines) == len(segments) - 2 + 2
    assert sum("/mute/" in line for line in lines) == 2
    assert all(len(line.split("|")) == 5 for line in lines)  # wav|feature|coarse|hz|speaker
    config = json.loads((exp / "config.json").read_text())
    assert set(config) == {"train", "data", "model"} and config["data"]["sampling_rate"] == 32000

    trained = json.loads((exp / "trained.json").read_text())
    assert trained["epoch"] == 2
    g = torch.load(workflow.workdir / trained["G"], weights_only=True)
    assert {"model", "iteration", "optimizer", "learning_rate"} <= set(g) and g["iteration"] == 2
    g_steps = sorted(int(p.stem[2:]) for p in exp.glob("G_*.pth"))
    assert len(g_steps) == 2 and g_steps == sorted(int(p.stem[2:]) for p in exp.glob("D_*.pth"))
    model, net = load_exported(exp / "weights" / "exp.pth")
    assert list(model) == ["weight", "config", "info", "sr", "f0", "version"]
    assert (model["info"], model["sr"], model["f0"], model["version"]) == ("2epoch", "32k", 1, "v1")
    assert all(v.dtype == torch.float16 for v in model["weight"].values())
    assert not any("enc_q" in k for k in model["weight"])

    # The index and the conversion of convert_dir (the "all" target) reuse the trained model.
    workflow.write_config(train_config(convert_dir="voices"))
    assert sorted(r for r, _ in workflow.dry_run_jobs("all") if r != "all") == [
        "convert_audio",
        "convert_audio",
        "measure_conversion",
        "plot_index",
        "render_conversion_audio",
        "render_conversion_quality",
        "train_index",
    ]
    workflow.run("all")
    index_files = sorted(p.name for p in (exp / "index").iterdir() if not p.name.startswith("."))
    assert index_files[0].startswith("added_IVF") and index_files[0].endswith("_Flat_nprobe_1_exp_v1.index")
    assert index_files[1:] == ["total_fea.npy", index_files[0].replace("added", "trained")]
    for name in ("alpha", "beta"):
        out, source = sf.info(exp / "converted" / f"{name}.wav"), sf.info(workflow.workdir / "voices" / f"{name}.wav")
        assert out.samplerate == 32000 and out.subtype == "PCM_16"
        assert abs(out.duration - source.duration) < 0.02
    check_report(workflow, sources=("alpha.wav", "beta.wav"), converted=("alpha", "beta"))

    # A new recording: its three per-source jobs, then the filelist, training and export again.
    sf.write(workflow.workdir / "voices" / "gamma.wav", synthesize_voice(6.0, 32000, seed=5), 32000)
    jobs = workflow.dry_run_jobs("train")
    assert sorted(w for r, w in jobs if r == "slice_audio") == ["experiment=exp, source=gamma"]
    assert {"write_filelist", "train_model", "export_model", "plot_dataset", "plot_training"} <= {r for r, _ in jobs}
    workflow.run("train")
    superseded = list((exp / "superseded").glob("*/G_*.pth"))
    assert len(superseded) == 2  # the old state is kept, not resumed
    assert json.loads((exp / "trained.json").read_text())["epoch"] == 2
    assert any("gamma" in line for line in (exp / "filelist.txt").read_text().split("\n"))

    # Fewer epochs than trained: the trained epochs stay, nothing is trained or lost.
    losses = (exp / "losses.tsv").read_text()
    fewer = train_config()
    fewer["train"]["epochs"] = 1
    workflow.write_config(fewer)
    workflow.run("train")
    assert "already trained to epoch 2 (asked for 1): nothing to do" in (exp / "logs" / "train_model.log").read_text()
    assert json.loads((exp / "trained.json").read_text())["epoch"] == 2
    assert (exp / "losses.tsv").read_text() == losses and len(list(exp.glob("G_*.pth"))) == 2


def test_dry_runs_of_the_buttons_list_their_jobs(workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=3.0)
    workflow.write_config(train_config(convert_dir="voices"))

    def counts(target):
        rules = [r for r, _ in workflow.dry_run_jobs(target)]
        return {r: rules.count(r) for r in set(rules)}

    per_source = {"slice_audio": 2, "extract_f0": 2, "extract_features": 2, "prune_sources": 1, "report_dataset": 1}
    pages = {"plot_dataset": 1, "plot_pitch": 1}
    step3 = {"write_mute_assets": 1, "write_filelist": 1, "train_model": 1, "export_model": 1}
    step3_pages = {"plot_training": 1, "render_validation_audio": 1}
    index = {"train_index": 1, "plot_index": 1}
    preprocess = {"slice_audio": 2, "prune_sources": 1, "report_dataset": 1, "plot_dataset": 1, "preprocess": 1}
    assert counts("preprocess") == preprocess
    assert counts("extract") == {**per_source, **pages, "extract": 1}
    assert counts("train") == {**per_source, **pages, **step3, **step3_pages, "train": 1}
    assert counts("index") == {**per_source, **pages, **index, "index": 1}
    converted = {"convert_audio": 2, "measure_conversion": 1, "render_conversion_audio": 1, "render_conversion_quality": 1}
    assert counts("all") == {**per_source, **pages, **step3, **step3_pages, **index, **converted, "all": 1}


@pytest.mark.slow
def test_best_by_speaker_similarity_without_the_encoder_fails_at_planning(workflow):
    config = train_config()
    config["train"].update(export="best", best_by="speaker_similarity")
    workflow.write_config(config)
    result = workflow.run("-n", check=False)
    assert result.returncode != 0
    assert "rvc-pipeline pretrained fetch speaker_encoder" in result.stdout + result.stderr
