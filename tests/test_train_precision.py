"""Reduced precision run on the CPU (the code a GPU user runs): fp16 with a grad scaler, bf16."""

from __future__ import annotations

import json
import math

import pytest
import torch

from rvc_pipeline.torch_files import load_checkpoint, load_state_strict, model_state
from rvc_pipeline.training.export import export_model, load_exported
from rvc_pipeline.models import ModelConfig, build_discriminator, build_synthesizer
from rvc_pipeline.training.history import LOSS_COLUMNS
from rvc_pipeline.training.loop import train
from test_train import make_experiment, options, tsv_rows


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_a_reduced_precision_epoch_on_the_cpu_gives_fp32_files_that_load(tmp_path, precision):
    filelist, config = make_experiment(tmp_path / "exp")
    state = tmp_path / "state"
    g_path = train(filelist, config, state, options(precision=precision))
    row = tsv_rows(state)[0]
    # Not the gradient norms: at fp16 the scaler's first steps overflow (and are skipped) by design.
    assert all(math.isfinite(float(row[k])) for k in LOSS_COLUMNS if k.startswith("loss_")), row
    hparams = json.loads(config.read_text())
    g, d = load_checkpoint(g_path), load_checkpoint(state / g_path.name.replace("G_", "D_"))
    assert {v.dtype for v in g["model"].values()} == {torch.float32}
    load_state_strict(build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True), model_state(g, g_path), g_path)
    load_state_strict(build_discriminator(hparams, "v1"), model_state(d, g_path), g_path)
    if precision == "fp16":  # the scaler backed off from its overflowing start, and is saved for a resume
        assert 0 < g["rvc_pipeline"]["scaler"]["scale"] < 2.0**16

    export_model(g_path, hparams, tmp_path / "voice.pth", epoch=1, f0=True, version="v1")
    _, net = load_exported(tmp_path / "voice.pth")
    frames = 20
    with torch.no_grad():
        audio = net.infer(
            torch.randn(1, frames, 256),
            torch.tensor([frames]),
            torch.full((1, frames), 60, dtype=torch.long),
            torch.full((1, frames), 150.0),
            torch.tensor([0]),
        )[0]
    assert torch.isfinite(audio).all() and audio.abs().max() > 0
