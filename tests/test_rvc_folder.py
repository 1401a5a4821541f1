"""Continuing an RVC experiment: warm_start from RVC's logs/{name} folder (G_2333333.pth, config.json)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from test_train import make_experiment, options, small_hparams

import rvc_pipeline.training.state as state_module
from rvc_pipeline.training.checkpoint_header import read_header, state_shapes
from rvc_pipeline.models import ModelConfig, build_discriminator, build_synthesizer, tiny_hparams
from rvc_pipeline.training.rvc_folder import check_folder
from rvc_pipeline.training.loop import train
from rvc_pipeline.training.inputs import write_config


def rvc_folder(folder: Path, hparams: dict, *, version: str = "v1", f0: bool = True, seed: int = 5) -> Path:
    """RVC's logs/{name} after a latest-only run: G_2333333.pth / D_2333333.pth as RVC writes them
    (model, iteration, optimizer, learning_rate; none of our keys) and its config.json."""
    folder.mkdir(parents=True)
    torch.manual_seed(seed)
    nets = {
        "G": build_synthesizer(ModelConfig.from_hparams(hparams), version, f0),
        "D": build_discriminator(hparams, version),
    }
    for kind, net in nets.items():
        optimizer = torch.optim.AdamW(net.parameters(), 1e-4)
        state = {
            "model": net.state_dict(),
            "iteration": 12,
            "optimizer": optimizer.state_dict(),
            "learning_rate": 1e-4,
        }
        torch.save(state, folder / f"{kind}_2333333.pth")
    write_config(hparams, folder / "config.json")
    return folder


def test_header_shapes_equal_torchs_and_refuse_foreign_code(tmp_path):
    folder = rvc_folder(tmp_path / "rvc", tiny_hparams(40000), version="v2")
    for kind in ("G", "D"):
        path = folder / f"{kind}_2333333.pth"
        loaded = torch.load(path, weights_only=True)
        header = read_header(path)
        assert header["iteration"] == 12 and header["learning_rate"] == 1e-4
        assert state_shapes(header, path) == {k: tuple(v.shape) for k, v in loaded["model"].items()}

    class Bomb:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'exploded'}",))

    torch.save({"model": Bomb()}, tmp_path / "bomb.pth", pickle_module=pickle)
    with pytest.raises(ValueError, match=r"bomb\.pth: not a readable torch checkpoint.*refused global"):
        read_header(tmp_path / "bomb.pth")
    assert not (tmp_path / "exploded").exists()
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.pth: not a readable torch checkpoint"):
        read_header(tmp_path / "text.pth")


def test_check_folder_names_each_difference(tmp_path):
    folder = rvc_folder(tmp_path / "rvc", tiny_hparams(40000))
    files = check_folder(folder, sample_rate=40000, f0=True, version="v1")
    assert files == {
        "warm_start_g": str(folder / "G_2333333.pth"),
        "warm_start_d": str(folder / "D_2333333.pth"),
        "warm_start_config": str(folder / "config.json"),
    }
    with pytest.raises(ValueError) as err:
        check_folder(folder, sample_rate=48000, f0=False, version="v2")
    message = str(err.value)
    assert f"warm_start {str(folder)!r}" in message
    for difference in (
        "sample_rate: the folder's 40k, the experiment's 48k",
        "f0: the folder's True, the experiment's False",
        "version: the folder's v1, the experiment's v2",
    ):
        assert difference in message
    (folder / "config.json").unlink()
    with pytest.raises(ValueError, match="no config.json"):
        check_folder(folder, sample_rate=40000, f0=True, version="v1")
    with pytest.raises(ValueError, match="neither an experiment of this config nor a folder"):
        check_folder(tmp_path / "missing", sample_rate=40000, f0=True, version="v1")
    with pytest.raises(ValueError, match="no complete G_"):
        check_folder(tmp_path, sample_rate=40000, f0=True, version="v1")


def test_training_starts_from_the_folders_weights(tmp_path, monkeypatch):
    filelist, config = make_experiment(tmp_path / "exp")
    folder = rvc_folder(tmp_path / "rvc", small_hparams())
    first: dict[str, dict[str, torch.Tensor]] = {}
    step = state_module.train_step

    def recording_step(net_g, net_d, *args, **kwargs):
        if not first:
            first["G"] = {k: v.detach().clone() for k, v in net_g.state_dict().items()}
            first["D"] = {k: v.detach().clone() for k, v in net_d.state_dict().items()}
        return step(net_g, net_d, *args, **kwargs)

    monkeypatch.setattr(state_module, "train_step", recording_step)
    final = train(filelist, config, tmp_path / "state", options(warm_start=str(folder)))
    for kind in ("G", "D"):
        source = torch.load(folder / f"{kind}_2333333.pth", weights_only=True)["model"]
        assert first[kind].keys() == source.keys()
        assert all(torch.equal(first[kind][k], v) for k, v in source.items()), kind
    ckpt = torch.load(final, weights_only=True)
    assert ckpt["iteration"] == 1  # epochs count from 0, as with any warm start


def _demo_config(warm_start: str, **experiment) -> dict:
    return {
        "experiments": {
            "demo": {
                "demo": 1,
                "sample_rate": "40k",
                "f0_method": "pm",
                "warm_start": warm_start,
                **experiment,
            }
        },
        "pretrained": {"hubert_standin": "tiny"},
        "train": {"model": "tiny", "epochs": 1, "save_every_epoch": 1, "batch_size": 4},
    }


@pytest.mark.slow
def test_a_demo_continues_an_rvc_folder_and_mismatches_fail_before_any_job(workflow):
    folder = rvc_folder(workflow.workdir / "logs" / "voice", tiny_hparams(40000))
    for experiment, differs in (
        (dict(version="v2"), "version: the folder's v1, the experiment's v2"),
        (dict(f0=False), "f0: the folder's True, the experiment's False"),
        (dict(sample_rate="48k"), "sample_rate: the folder's 40k, the experiment's 48k"),
    ):
        workflow.write_config(_demo_config("logs/voice", **experiment))
        result = workflow.run("-n", check=False)
        assert result.returncode != 0 and differs in result.stdout + result.stderr
        assert "logs/voice" in result.stdout + result.stderr
        assert not (workflow.workdir / "results").exists()
    workflow.write_config(_demo_config("logs/voice"))
    workflow.run("train")
    log = (workflow.workdir / "results" / "demo" / "logs" / "train_model.log").read_text()
    assert "warm start from logs/voice/G_2333333.pth and logs/voice/D_2333333.pth (epoch 12)" in log
    state = workflow.workdir / "results" / "demo"
    assert [json.loads((state / "trained.json").read_text())["epoch"]] == [1]
    assert workflow.run("-n", "train").stdout.count("train_model") == 0
    # other start weights under the same names: training reruns, from them, setting the old state aside
    rvc_folder(workflow.workdir / "logs" / "other", tiny_hparams(40000), seed=6)
    for kind in ("G", "D"):
        os.replace(
            workflow.workdir / "logs" / "other" / f"{kind}_2333333.pth", folder / f"{kind}_2333333.pth"
        )
    assert ("train_model", "experiment=demo") in workflow.dry_run_jobs("train")
    workflow.run("train")
    log = (state / "logs" / "train_model.log").read_text()
    assert "training inputs changed" in log and "the warm-start folder's G/D" in log
    assert len(list((state / "superseded").glob("*/G_*.pth"))) == 1
