"""Training that fits the device: recovery from out-of-memory steps (injected on the CPU), batch size auto."""

from __future__ import annotations

import itertools
import json
import logging
import re
from pathlib import Path

import pytest
import torch

from rvc_pipeline import faults
from rvc_pipeline.torch_files import load_checkpoint
from rvc_pipeline.training.data import BucketSampler, SegmentDataset, collate, read_filelist
from rvc_pipeline.models import ModelConfig, StepSettings, build_synthesizer
from rvc_pipeline.options import CPU_AUTO_BATCH_SIZE, TrainOptions
from rvc_pipeline.training.out_of_memory import OutOfMemoryAtBatchOne
from rvc_pipeline.training.history import LOSS_COLUMNS
from rvc_pipeline.training.loop import train
from test_train import make_experiment, options, tsv_rows

SECONDS = {"a": [1.2, 1.0, 1.05, 0.95], "b": [1.1, 0.9, 1.15, 0.92]}  # 8 clips, 5 batches of 2


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[Path, Path]:
    return make_experiment(tmp_path_factory.mktemp("exp"), SECONDS)


def _inject_oom(monkeypatch, step: int) -> None:
    monkeypatch.setattr(faults, "_POINT", "train_step")
    monkeypatch.setattr(faults, "_NTH", str(step))
    monkeypatch.setattr(faults, "_KIND", "oom")
    monkeypatch.setattr(faults, "_passes", itertools.count(1))


def _steps(caplog) -> list[list[int]]:
    """The sample indices of each step, from the loop's debug lines."""
    found = [re.match(r"step (\d+) samples (\[.*\])$", r.getMessage()) for r in caplog.records]
    return [json.loads(m.group(2)) for m in found if m]


def _states(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    state = {f"model.{k}": v for k, v in ckpt["model"].items()}
    for index, entry in ckpt["optimizer"]["state"].items():
        state.update({f"optim.{index}.{k}": v for k, v in entry.items()})
    return state


def _same_tensors(a: Path, b: Path) -> None:
    left, right = _states(a), _states(b)
    assert left.keys() == right.keys()
    assert all(torch.equal(left[k], right[k]) for k in left), [k for k in left if not torch.equal(left[k], right[k])]


def test_out_of_memory_halves_the_batch_and_goes_on_as_if_smaller_from_that_step(
    experiment, tmp_path, monkeypatch, caplog
):
    filelist, config = experiment
    caplog.set_level(logging.DEBUG, logger="rvc_pipeline.training")
    train(filelist, config, tmp_path / "plain", options(epochs=1))
    plain = _steps(caplog)
    caplog.clear()

    _inject_oom(monkeypatch, step=3)  # after D's update in the third step
    train(filelist, config, tmp_path / "oom", options(epochs=1))
    halved = _steps(caplog)
    assert any("out of device memory at epoch 1 step 3 with batch size 2" in r.getMessage() for r in caplog.records)
    # No sample skipped or repeated: the first two batches whole, the rest of the epoch in halves.
    assert halved == plain[:2] + [[i] for batch in plain[2:] for i in batch]
    rows = tsv_rows(tmp_path / "oom")
    assert (rows[0]["step"], rows[0]["batch_size"]) == (str(len(halved)), "2>1")
    assert load_checkpoint(tmp_path / "oom" / f"G_{len(halved)}.pth")["rvc_pipeline"]["batch_size"] == 1

    # The same batches from the start, no failure: the same losses, weights and optimiser states,
    # so the failed step (D had stepped) left nothing behind.
    monkeypatch.setattr(faults, "_POINT", "")
    monkeypatch.setattr(BucketSampler, "__iter__", lambda self: iter(halved))
    train(filelist, config, tmp_path / "reference", options(epochs=1))
    reference = tsv_rows(tmp_path / "reference")
    assert [rows[0][k] for k in LOSS_COLUMNS] == [reference[0][k] for k in LOSS_COLUMNS]
    for kind in ("G", "D"):
        _same_tensors(tmp_path / "oom" / f"{kind}_{len(halved)}.pth", tmp_path / "reference" / f"{kind}_{len(halved)}.pth")


def test_a_resumed_run_goes_on_with_the_halved_batch(experiment, tmp_path, monkeypatch):
    filelist, config = experiment
    _inject_oom(monkeypatch, step=3)
    train(filelist, config, tmp_path / "whole", options(epochs=2))
    _inject_oom(monkeypatch, step=3)
    train(filelist, config, tmp_path / "resumed", options(epochs=1))
    monkeypatch.setattr(faults, "_POINT", "")
    train(filelist, config, tmp_path / "resumed", options(epochs=2))
    whole, resumed = tsv_rows(tmp_path / "whole"), tsv_rows(tmp_path / "resumed")
    assert [r["batch_size"] for r in resumed] == ["2>1", "1"]  # halved in epoch 1, kept after the resume
    assert [{k: r[k] for k in ("step", "batch_size", *LOSS_COLUMNS)} for r in whole] == [
        {k: r[k] for k in ("step", "batch_size", *LOSS_COLUMNS)} for r in resumed
    ]


def test_out_of_memory_at_batch_size_one_names_what_to_change(experiment, tmp_path, monkeypatch):
    filelist, config = experiment
    _inject_oom(monkeypatch, step=2)
    with pytest.raises(OutOfMemoryAtBatchOne, match="batch size 1") as raised:
        train(filelist, config, tmp_path / "state", options(epochs=1, batch_size=1))
    for advice in ("segment_size", "precision: bf16", "checkpointing: true"):
        assert advice in str(raised.value)


def test_batch_size_auto_on_a_cpu_is_the_default(experiment, tmp_path):
    filelist, config = experiment
    train(filelist, config, tmp_path / "state", options(epochs=1, batch_size="auto"))
    assert tsv_rows(tmp_path / "state")[0]["batch_size"] == str(CPU_AUTO_BATCH_SIZE)


def test_new_options_at_their_defaults_leave_the_params_text_as_it_was():
    before = '{"batch_size": 2, "device": "cpu", "epochs": 1, "f0": true, "keep_latest_only": false, '
    text = options(epochs=1).to_json()
    assert text.startswith(before) and not {"tf32", "checkpointing", "export_every"} & set(json.loads(text))
    chosen = options(checkpointing=True, tf32=False, export_every=True, batch_size="auto")
    assert TrainOptions.from_json(chosen.to_json()) == chosen
    assert chosen.model_options() == {**options().model_options(), "batch_size": "auto"}
    with pytest.raises(ValueError, match="batch_size"):
        options(batch_size="big").validate()


@pytest.mark.parametrize("f0", [True, False])
def test_checkpointing_gives_the_gradients_of_the_plain_pass(experiment, f0):
    filelist, config = experiment
    hparams = json.loads(config.read_text())
    dataset = SegmentDataset(read_filelist(filelist, True), StepSettings.from_hparams(hparams).mel, 256)
    batch = collate([dataset[i] for i in range(4)])
    plain, recomputed = (
        torch.manual_seed(0) and build_synthesizer(ModelConfig.from_hparams(hparams), "v1", f0) for _ in range(2)
    )
    recomputed.use_checkpointing()
    grads, kept = [], []
    for net in (plain, recomputed):
        torch.manual_seed(1)  # the same slice, NSF noise and dropout in both
        pitch = (batch.pitch, batch.pitchf) if f0 else ()
        saved = [0]

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            saved[0] += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            o, _, _, _, latents = net(
                batch.phone, batch.phone_lengths, *pitch, batch.spec, batch.spec_lengths, batch.sid
            )
        kept.append(saved[0])
        (o.square().mean() + sum(t.square().mean() for t in latents)).backward()
        grads.append({name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None})
    assert kept[1] < kept[0] / 4, kept  # the activations kept for the backward pass
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 100
    for name, grad in grads[0].items():
        assert (grads[1][name] - grad).norm() <= 1e-5 * grad.norm() + 1e-12, name
