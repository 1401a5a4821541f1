"""Checkpoint files: RVC's dict format, strict loading, which pair resume picks."""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from rvc_pipeline.torch_files import diagnose, load_checkpoint, load_state_strict, model_state
from rvc_pipeline.training.checkpoint import (
    EXTRA_KEY,
    complete_pairs,
    latest_checkpoint,
    publish_latest,
    save_checkpoint,
)


def _trained_linear(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    optim = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.8, 0.99), eps=1e-9)
    net(torch.randn(5, 4)).square().sum().backward()
    optim.step()
    return net, optim


def _save(path: Path, epoch: int, step: int, seed: int = 0) -> None:
    net, optim = _trained_linear(seed)
    save_checkpoint(path, net, optim, epoch=epoch, learning_rate=1e-3, extra={"global_step": step})


def test_round_trip_keeps_rvc_keys_and_exact_state(tmp_path):
    net, optim = _trained_linear()
    extra = {"global_step": 7, "rng": [{"torch": torch.get_rng_state()}]}
    save_checkpoint(tmp_path / "G_7.pth", net, optim, epoch=3, learning_rate=9.9e-5, extra=extra)
    ckpt = load_checkpoint(tmp_path / "G_7.pth")
    assert list(ckpt) == ["model", "iteration", "optimizer", "learning_rate", EXTRA_KEY]
    assert (ckpt["iteration"], ckpt["learning_rate"], ckpt[EXTRA_KEY]["global_step"]) == (3, 9.9e-5, 7)
    assert torch.equal(ckpt[EXTRA_KEY]["rng"][0]["torch"], extra["rng"][0]["torch"])

    fresh, fresh_optim = _trained_linear(seed=1)
    load_state_strict(fresh, model_state(ckpt, "G_7.pth"), "G_7.pth")
    fresh_optim.load_state_dict(ckpt["optimizer"])
    for a, b in zip(fresh.parameters(), net.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(fresh_optim.state.values(), optim.state.values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"]) and torch.equal(a["step"], b["step"])
    assert list(tmp_path.iterdir()) == [tmp_path / "G_7.pth"]  # no temp file left behind


def test_strict_load_casts_fp16_and_names_every_difference():
    net = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    half = {k: v.half() for k, v in net.state_dict().items()}
    load_state_strict(net, half, "f0G40k.pth")
    assert net[0].weight.dtype == torch.float32

    wrong = dict(half)
    wrong["1.weight"] = torch.zeros(5, 3)
    del wrong["1.bias"]
    wrong["2.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        load_state_strict(net, wrong, "f0G40k.pth")
    message = str(err.value)
    assert message.startswith("f0G40k.pth: does not fit the model")
    assert "1 shape mismatch: 1.weight: file (5, 3) vs model (2, 3)" in message
    assert "1 missing from file: 1.bias" in message
    assert "1 unexpected in file: 2.weight" in message


def test_model_state_reads_checkpoints_and_exports():
    weights = {"a": torch.zeros(1)}
    assert model_state({"model": weights}, "G.pth") == weights
    assert model_state({"weight": weights, "config": []}, "export.pth") == weights
    with pytest.raises(ValueError, match=r"x\.pth: no 'model' or 'weight' state dict"):
        model_state({"iteration": 1}, "x.pth")


def test_only_complete_pairs_count_and_latest_only_sorts_last(tmp_path):
    for name in (
        "G_3.pth",
        "D_3.pth",
        "G_6.pth",
        "D_9.pth",
        "G_2333333.pth",
        "D_2333333.pth",
        "G_12.pth.tmp",
        ".G_12.pth.ab12.tmp",
        "D_12.pth",
    ):
        (tmp_path / name).write_bytes(b"")
    assert [p.step for p in complete_pairs(tmp_path)] == [3, 2333333]
    assert complete_pairs(tmp_path / "missing") == []


def test_latest_skips_corrupt_and_mixed_epoch_pairs(tmp_path, caplog):
    _save(tmp_path / "G_3.pth", 1, 3)
    _save(tmp_path / "D_3.pth", 1, 3)
    # a latest-only save cut between its two files: G of epoch 2, D still of epoch 1
    _save(tmp_path / "G_2333333.pth", 2, 6)
    _save(tmp_path / "D_2333333.pth", 1, 3)
    # a pair whose D was cut short
    _save(tmp_path / "G_9.pth", 3, 9)
    (tmp_path / "D_9.pth").write_bytes((tmp_path / "D_3.pth").read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        pair, g, d = latest_checkpoint(tmp_path)
    assert pair.step == 3 and g["iteration"] == d["iteration"] == 1
    assert "G_2333333.pth is from epoch 2 but D_2333333.pth from epoch 1" in caplog.text
    assert "D_9.pth: cannot load checkpoint" in caplog.text
    assert latest_checkpoint(tmp_path / "empty") is None


def test_the_owner_sets_an_unloadable_pair_aside_and_never_over_an_earlier_one(tmp_path, caplog):
    _save(tmp_path / "G_3.pth", 1, 3)
    _save(tmp_path / "D_3.pth", 1, 3)
    for round_ in (1, 2):
        _save(tmp_path / "D_6.pth", 2, 6)
        (tmp_path / "G_6.pth").write_bytes(b"corrupt %d" % round_)
        assert latest_checkpoint(tmp_path)[0].step == 3  # a reader only skips it
        assert (tmp_path / "G_6.pth").is_file()
        with caplog.at_level(logging.WARNING):
            pair, _, _ = latest_checkpoint(tmp_path, set_aside=True)
        assert pair.step == 3 and not (tmp_path / "G_6.pth").exists() and not (tmp_path / "D_6.pth").exists()
        assert "G_6.pth: cannot load checkpoint" in caplog.text and "moved G_6.pth and D_6.pth to" in caplog.text
    kept = sorted((tmp_path / "corrupt").iterdir())
    assert len(kept) == 2 and [sorted(p.name for p in k.iterdir()) for k in kept] == [["D_6.pth", "G_6.pth"]] * 2
    assert {(k / "G_6.pth").read_bytes() for k in kept} == {b"corrupt 1", b"corrupt 2"}


def test_load_refuses_pickled_code(tmp_path):
    torch.save({"model": {}, "hook": logging.getLogger}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"evil\.pth: cannot load checkpoint"):
        load_checkpoint(tmp_path / "evil.pth")


def test_publish_latest_copies_atomically(tmp_path):
    _save(tmp_path / "G_6.pth", 2, 6)
    (tmp_path / "G_2333333.pth").write_bytes(b"old")
    publish_latest(tmp_path / "G_6.pth", tmp_path / "G_2333333.pth")
    assert (tmp_path / "G_2333333.pth").read_bytes() == (tmp_path / "G_6.pth").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["G_2333333.pth", "G_6.pth"]


def _cases(tmp_path: Path) -> dict[str, str]:
    """file name -> the words its diagnosis must hold."""
    _save(tmp_path / "G_3.pth", 1, 3)
    whole = (tmp_path / "G_3.pth").read_bytes()
    tensor_bytes = sum(t.numel() * 4 for t in _trained_linear()[0].state_dict().values())
    (tmp_path / "half.pth").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "end_cut.pth").write_bytes(whole[:-10])
    (tmp_path / "hole.pth").write_bytes(whole[:100] + whole[600:])
    (tmp_path / "text.pth").write_text("Not Found\n")
    (tmp_path / "page.pth").write_text("<!DOCTYPE html><html>")
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"model": {}}))
    torch.save({"model": {}, "hook": logging.getLogger}, tmp_path / "evil.pth")
    return {
        # data.pkl names the tensors, so the shortfall has a lower bound even without the directory
        "half.pth": f"incomplete file: {len(whole) // 2} of at least ",
        "end_cut.pth": f"incomplete file: {len(whole) - 10} of {len(whole)} bytes (by its zip directory)",
        "hole.pth": f"incomplete file: {len(whole) - 500} of {len(whole)} bytes (by its zip directory)",
        "text.pth": "not a torch checkpoint (neither a zip nor a pickle: it starts with b'Not Foun')",
        "page.pth": "not a torch checkpoint (an HTML or XML page (a failed download?))",
        "empty.pth": "empty file (0 bytes)",
        "plain.pth": "a plain pickle, not a torch checkpoint",
        "evil.pth": "refusing to unpickle it: it needs logging.getLogger, which weights_only loading does not allow",
    }, tensor_bytes


def test_an_unloadable_file_is_diagnosed_and_never_called_legacy(tmp_path):
    cases, tensor_bytes = _cases(tmp_path)
    for name, words in cases.items():
        with pytest.raises(ValueError) as caught:
            load_checkpoint(tmp_path / name)
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / name}: cannot load checkpoint: ") and words in message, message
        assert "legacy" not in message
    with pytest.raises(ValueError) as caught:
        load_checkpoint(tmp_path / "half.pth")
    at_least = int(re.search(r"of at least (\d+) bytes", str(caught.value))[1])
    assert at_least > tensor_bytes and at_least <= (tmp_path / "G_3.pth").stat().st_size
    with pytest.raises(FileNotFoundError, match="nowhere.pth does not exist"):
        load_checkpoint(tmp_path / "nowhere.pth")


def test_only_the_pre_1_6_format_is_called_legacy(tmp_path):
    # torch still reads this format; diagnose names it when such a file does not load
    torch.save({"model": {}}, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    assert diagnose(tmp_path / "old.pth").startswith("the legacy (pre-1.6) torch format")
