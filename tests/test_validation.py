"""Held-out validation segments: a stable split, never trained on, a loss that leaves training as it
was, export of the best epoch, TensorBoard events."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from rvc_pipeline.torch_files import load_checkpoint
from rvc_pipeline.training.checkpoint import complete_pairs
from rvc_pipeline.training.export import export_experiment, load_exported
from rvc_pipeline.training.history import LOSS_COLUMNS, read_history, write_history
from rvc_pipeline.training.loop import train
from rvc_pipeline.training.run import train_experiment
from rvc_pipeline.training.heldout import held_out, name_hash
from test_train import HOP, SR, make_experiment, options


def names(*sources: str, count: int = 30) -> list[str]:
    return [f"{source}/{source}_{j}" for source in sources for j in range(count)]


def test_hash_is_of_the_segment_name_only():
    assert name_hash("alpha/alpha_3") == name_hash("alpha_3")
    assert 0 <= name_hash("alpha_3") < 1
    values = [name_hash(name) for name in names("alpha", "beta", count=500)]
    assert abs(np.mean(np.array(values) < 0.1) - 0.1) < 0.03  # uniform enough for a share


def test_adding_recordings_before_and_after_keeps_the_held_out_segments():
    before = names("mary", "nick")
    chosen = held_out(before, 0.05)
    assert len(chosen) >= 2 and all(name_hash(n) < 0.05 for n in chosen)
    after = held_out(before + names("aaron") + names("zoe"), 0.05)
    assert after & set(before) == chosen
    assert all(name_hash(n) < 0.05 for n in after)
    assert held_out(list(reversed(before)), 0.05) == chosen  # order of the input does not matter


def test_the_minimum_of_two_never_moves_a_training_segment_into_validation():
    before = names("mary", count=6)
    chosen = held_out(before, 0.001)  # nothing under the threshold: the 2 lowest hashes
    assert len(chosen) == 2
    assert chosen == set(sorted(before, key=name_hash)[:2])
    for added in (names("aaron", count=1), names("zoe", count=40)):
        grown = held_out(before + added, 0.001)
        assert len(grown) == 2
        assert grown & set(before) <= chosen  # a held-out one may return to training, never the reverse


def test_share_zero_and_too_small_experiments_hold_nothing_out(caplog):
    assert held_out(names("mary"), 0.0) == set()
    assert held_out(names("mary", count=2), 0.5) == set()
    assert "only 2 segments, none held out" in caplog.text
    assert len(held_out(names("mary", count=3), 0.001)) == 2


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> dict[str, Path]:
    """Seven segments, two of them held out."""
    exp = tmp_path_factory.mktemp("exp")
    seconds = {"a": [1.2, 1.0, 1.1, 1.0], "b": [1.1, 0.9, 1.0]}
    filelist, config = make_experiment(exp, seconds, validation_share=0.02)
    validation = exp / "validation.txt"
    return {"exp": exp, "filelist": filelist, "config": config, "validation": validation}


def test_held_out_segments_are_in_validation_txt_and_never_in_the_filelist(experiment):
    trained_on = experiment["filelist"].read_text().split("\n")
    validated_on = experiment["validation"].read_text().split("\n")
    segments = {p.stem for p in experiment["exp"].glob("0_gt_wavs/*/*.wav")}
    expected = held_out(segments, 0.02)
    assert len(expected) == 2
    assert {Path(line.split("|")[0]).stem for line in validated_on} == expected
    assert all(len(line.split("|")) == 5 for line in validated_on)
    in_filelist = {Path(line.split("|")[0]).stem for line in trained_on}
    assert in_filelist == (segments - expected) | {"mute32k"}
    assert len(trained_on) == len(segments) - 2 + 2  # the two mute lines stay


@pytest.fixture(scope="module")
def trained(experiment, tmp_path_factory) -> dict[str, Path]:
    """Three epochs with the validation loss and three without, each epoch saved."""
    with_val = tmp_path_factory.mktemp("with")
    without = tmp_path_factory.mktemp("without")
    common = dict(epochs=3, save_every_epoch=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures run before conftest's one_thread
    try:
        train(
            experiment["filelist"],
            experiment["config"],
            with_val,
            options(**common, speaker_encoder=str(with_val / "absent.pt")),
            validation=experiment["validation"],
        )
        train(experiment["filelist"], experiment["config"], without, options(**common))
    finally:
        torch.set_num_threads(threads)
    return {"with": with_val, "without": without}


def test_validation_loss_is_written_and_leaves_training_as_it_was(trained):
    with_val, without = read_history(trained["with"] / "losses.tsv"), read_history(
        trained["without"] / "losses.tsv"
    )
    assert [float(row["val_loss_mel"]) > 0 for row in with_val] == [True] * 3
    assert [row["val_loss_mel"] for row in without] == [""] * 3
    for got, want in zip(with_val, without):  # the validation pass draws no random number of training's
        assert [got[c] for c in ("step", "lr", *LOSS_COLUMNS)] == [
            want[c] for c in ("step", "lr", *LOSS_COLUMNS)
        ]


def test_each_saved_epoch_renders_the_first_held_out_segment(experiment, trained):
    first = Path(experiment["validation"].read_text().split("\n")[0].split("|")[0])
    rendered = sorted(p.name for p in (trained["with"] / "validation").iterdir())
    assert rendered == [f"{first.stem}_e{epoch}.wav" for epoch in (1, 2, 3)]
    samples, sr = sf.read(trained["with"] / "validation" / rendered[-1])
    frames = min(
        len(sf.read(first)[0]) // HOP,
        2 * len(np.load(str(first).replace("0_gt_wavs", "3_feature256").replace(".wav", ".npy"))),
    )
    assert sr == SR and len(samples) == frames * HOP and np.abs(samples).max() > 0


def test_validation_loss_is_the_mel_l1_of_the_inference_path(experiment, trained):
    """Recompute epoch 3's validation loss from its checkpoint, independently of the training loop."""
    from rvc_pipeline.training.data import SegmentDataset, read_filelist
    from rvc_pipeline.models import ModelConfig, build_synthesizer
    from rvc_pipeline.models.mel import MelConfig

    hparams = json.loads(experiment["config"].read_text())
    mel = MelConfig.from_hparams(hparams)
    net = build_synthesizer(ModelConfig.from_hparams(hparams), "v1", True)
    net.load_state_dict(load_checkpoint(complete_pairs(trained["with"])[-1].g_path)["model"])
    net.eval()
    dataset = SegmentDataset(read_filelist(experiment["validation"], True), mel, 256)
    losses = []
    torch.manual_seed(0)
    with torch.no_grad():
        for item in dataset:
            sid = torch.tensor([item.sid])
            out = net.infer(
                item.phone[None],
                torch.tensor([len(item.phone)]),
                item.pitch[None],
                item.pitchf[None],
                sid,
                noise_scale=0.0,
            )[0]
            rendered = mel.mel_spectrogram(out[:, 0])
            target = mel.spec_to_mel(item.spec[None])
            losses.append(float((rendered - target).abs().mean()) * hparams["train"]["c_mel"])
    logged = float(read_history(trained["with"] / "losses.tsv")[-1]["val_loss_mel"])
    assert logged == pytest.approx(np.mean(losses), rel=1e-5)


def test_export_best_takes_the_saved_epoch_with_the_lowest_validation_loss(experiment, tmp_path):
    state = tmp_path / "state"
    opts = options(epochs=3)
    args = (experiment["filelist"], experiment["validation"], experiment["config"], tmp_path / "trained.json")
    train_experiment(*args, state_dir=state, options=opts)
    history = read_history(state / "losses.tsv")
    for row, val in zip(history, ("3.0", "1.0", "2.0")):
        row["val_loss_mel"] = val
    write_history(state / "losses.tsv", history)
    train_experiment(*args, state_dir=state, options=opts)  # trained already: only trained.json is rewritten
    summary = json.loads((tmp_path / "trained.json").read_text())
    assert summary["epoch"] == 3 and summary["best"]["epoch"] == 2 and summary["best"]["val_loss_mel"] == 1.0
    step_of_epoch_2 = history[1]["step"]
    assert Path(summary["best"]["G"]).name == f"G_{step_of_epoch_2}.pth"

    for choice, epoch in (("best", 2), ("latest", 3)):
        out = tmp_path / f"{choice}.pth"
        export_experiment(
            tmp_path / "trained.json", experiment["config"], out, f0=True, version="v1", choice=choice
        )
        exported, _ = load_exported(out)
        assert exported["info"] == f"{epoch}epoch"
    g = load_checkpoint(state / f"G_{step_of_epoch_2}.pth")["model"]
    exported = load_exported(tmp_path / "best.pth")[0]["weight"]
    torch.testing.assert_close(exported["dec.conv_pre.weight"], g["dec.conv_pre.weight"].half())


def test_export_best_without_a_validation_loss_exports_the_latest(trained, experiment, tmp_path, caplog):
    g_path = complete_pairs(trained["without"])[-1].g_path
    (tmp_path / "trained.json").write_text(json.dumps({"G": str(g_path), "epoch": 3}))
    export_experiment(
        tmp_path / "trained.json",
        experiment["config"],
        tmp_path / "m.pth",
        f0=True,
        version="v1",
        choice="best",
    )
    assert load_exported(tmp_path / "m.pth")[0]["info"] == "3epoch"
    assert "no validation loss: exporting the latest epoch" in caplog.text


def test_tensorboard_events_carry_rvcs_scalar_names(experiment, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(
        experiment["filelist"],
        experiment["config"],
        tmp_path,
        options(epochs=1, tensorboard=True),
        validation=experiment["validation"],
    )
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    rvc = {
        "loss/g/total",
        "loss/d/total",
        "learning_rate",
        "grad_norm_d",
        "grad_norm_g",
        "loss/g/fm",
        "loss/g/mel",
        "loss/g/kl",
    }
    assert rvc | {"loss/val/mel"} <= tags
    assert len(events.Scalars("loss/g/mel")) == int(read_history(tmp_path / "losses.tsv")[-1]["step"])


def test_tensorboard_missing_is_said_and_training_goes_on(experiment, tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    train(experiment["filelist"], experiment["config"], tmp_path, options(epochs=1, tensorboard=True))
    assert "the tensorboard package is not installed (pip install tensorboard)" in caplog.text
    assert not list(tmp_path.glob("events.out.tfevents.*")) and complete_pairs(tmp_path)


def test_saved_epochs_carry_the_quality_of_every_held_out_rendering(trained, caplog):
    """Without the speaker encoder's weights the similarities
    are empty; pitch error and MCD need no weights."""
    rows = read_history(trained["with"] / "losses.tsv")
    for row in rows:
        assert float(row["val_mcd_db"]) > 0
        assert 0 <= float(row["val_voicing_error"]) <= 1
        assert row["val_similarity_voice"] == row["val_similarity_recording"] == ""
    assert all(row["val_mcd_db"] == "" for row in read_history(trained["without"] / "losses.tsv"))
