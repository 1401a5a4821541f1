"""Step 3 in the workflow: filelist, training on the tiny model, export; retraining on new data."""

import json

import soundfile as sf
import torch
from test_workflow_preprocess import make_sources

from rvc_pipeline.demo import synthesize_voice
from rvc_pipeline.export import load_exported


def train_config():
    return {
        "experiments": {"exp": {"input_dir": "voices", "sample_rate": "32k", "f0_method": "pm"}},
        "pretrained": {"hubert_standin": "tiny"},
        "train": {"model": "tiny", "epochs": 2, "save_every_epoch": 1, "batch_size": 2},
    }


def test_train_target_trains_and_exports_an_rvc_model(workflow):
    make_sources(workflow.workdir / "voices", names=("alpha", "beta"), seconds=8.0)
    workflow.write_config(train_config())
    rules = [rule for rule, _ in workflow.dry_run_jobs("train")]
    for rule in ("write_mute_assets", "write_filelist", "train_model", "export_model"):
        assert rules.count(rule) == 1, rules
    workflow.run("train")
    exp = workflow.workdir / "results" / "exp"

    lines = (exp / "filelist.txt").read_text().split("\n")
    segments = list((exp / "0_gt_wavs").glob("*/*.wav"))
    assert len(lines) == len(segments) + 2
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

    # A new recording: its three per-source jobs, then the filelist, training and export again.
    sf.write(workflow.workdir / "voices" / "gamma.wav", synthesize_voice(6.0, 32000, seed=5), 32000)
    jobs = workflow.dry_run_jobs("train")
    assert sorted(w for r, w in jobs if r == "slice_audio") == ["experiment=exp, source=gamma"]
    assert {"write_filelist", "train_model", "export_model"} <= {r for r, _ in jobs}
    workflow.run("train")
    superseded = list((exp / "superseded").glob("*/G_*.pth"))
    assert len(superseded) == 2  # the old state is kept, not resumed
    assert json.loads((exp / "trained.json").read_text())["epoch"] == 2
    assert any("gamma" in line for line in (exp / "filelist.txt").read_text().split("\n"))
