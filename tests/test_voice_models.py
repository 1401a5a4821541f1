"""RVC's checkpoint tab on files (rvc-pipeline model info / set-info / merge / extract)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from parity_pack import formula_weights, load_json

from rvc_pipeline.training.checkpoint import save_checkpoint
from rvc_pipeline.cli import main
from rvc_pipeline.training.export import export_experiment, export_model, load_exported
from rvc_pipeline.models import (
    ModelConfig,
    MultiPeriodDiscriminator,
    build_synthesizer,
    rvc_hparams,
    tiny_hparams,
)
from rvc_pipeline.training.inputs import write_config
from rvc_pipeline.convert.voice_models import extract_model, merge_models, model_info, set_info


def _generator(seed: int, version: str = "v1", f0: bool = True, rate: int = 40000) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_synthesizer(ModelConfig.from_hparams(tiny_hparams(rate)), version, f0)


def _checkpoint(folder: Path, seed: int, *, epoch: int = 3, step: int = 30, **kind) -> Path:
    """A G_{step}.pth of a tiny model with the config.json RVC would write beside it."""
    net = _generator(seed, **kind)
    path = folder / f"G_{step}.pth"
    save_checkpoint(
        path,
        net,
        torch.optim.AdamW(net.parameters()),
        epoch=epoch,
        learning_rate=1e-4,
        extra={"global_step": step},
    )
    write_config(tiny_hparams(kind.get("rate", 40000)), folder / "config.json")
    return path


def _small(
    folder: Path,
    seed: int,
    name: str = "voice.pth",
    *,
    version: str = "v1",
    f0: bool = True,
    rate: int = 40000,
) -> Path:
    path = folder / name
    net = _generator(seed, version, f0, rate)
    export_model(net.state_dict(), tiny_hparams(rate), path, epoch=seed, f0=f0, version=version)
    return path


def test_info_of_a_small_model_and_of_a_checkpoint(tmp_path, capsys):
    small = _small(tmp_path, 7)
    info = model_info(small)
    assert (info["sample_rate"], info["f0"], info["version"], info["info"], info["epoch"]) == (
        "40k",
        True,
        "v1",
        "7epoch",
        7,
    )
    assert info["kind"] == "small model" and len(info["sha256"]) == 64
    data = torch.load(small, weights_only=True)
    data["author"], data["creation_date"] = "alice", "2026-12-04T10:00:00"
    torch.save(data, small)
    assert main(["model", "info", str(small), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["author"] == "alice" and shown["creation_date"] == "2026-12-04T10:00:00"
    assert shown["sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()
    (tmp_path / "exp").mkdir()
    g = _checkpoint(tmp_path / "exp", 1, epoch=4, step=44, version="v2", f0=False)
    info = model_info(g)
    assert (info["kind"], info["sample_rate"], info["f0"], info["version"], info["epoch"], info["step"]) == (
        "training checkpoint",
        "40k",
        False,
        "v2",
        4,
        44,
    )


def test_set_info_replaces_the_text_and_keeps_the_rest(tmp_path):
    small = _small(tmp_path, 1)
    before = torch.load(small, weights_only=True)
    assert main(["model", "set-info", str(small), "my voice, take 2"]) == 0
    after = torch.load(small, weights_only=True)
    assert after["info"] == "my voice, take 2" and list(after) == list(before)
    assert all(torch.equal(after["weight"][k], v) for k, v in before["weight"].items())
    assert not list(tmp_path.glob(".*.tmp"))


def test_merge_is_rvcs_formula_over_every_tensor(tmp_path):
    a, b = _small(tmp_path, 1, "a.pth"), _small(tmp_path, 2, "b.pth")
    # B with fewer speakers: RVC cuts both embeddings to the smaller count
    data_b = torch.load(b, weights_only=True)
    data_b["weight"]["emb_g.weight"] = data_b["weight"]["emb_g.weight"][:5]
    data_b["config"][-2] = 1  # a different config list: the result takes A's
    torch.save(data_b, b)
    out = tmp_path / "m.pth"
    assert main(["model", "merge", str(a), str(b), "--weight", "0.3", "-o", str(out), "--info", "mix"]) == 0
    merged, wa, wb = (torch.load(p, weights_only=True) for p in (out, a, b))
    assert list(merged) == ["weight", "config", "sr", "f0", "version", "info"]
    assert (merged["config"], merged["sr"], merged["f0"], merged["version"], merged["info"]) == (
        wa["config"],
        "40k",
        1,
        "v1",
        "mix",
    )
    assert list(merged["weight"]) == list(wa["weight"])
    for key, value in merged["weight"].items():
        x, y = wa["weight"][key], wb["weight"][key]
        n = min(x.shape[0], y.shape[0])
        expected = (0.3 * x[:n].float() + 0.7 * y[:n].float()).half()
        assert value.dtype == torch.float16 and torch.equal(value, expected), key
    assert merged["weight"]["emb_g.weight"].shape[0] == 5
    _, net = load_exported(out)  # RVC's loading: speaker count from the weights, strict
    assert net.emb_g.num_embeddings == 5


def test_merge_of_two_training_checkpoints(tmp_path):
    for name, seed in (("x", 1), ("y", 2)):
        (tmp_path / name).mkdir()
        _checkpoint(tmp_path / name, seed)
    out = tmp_path / "m.pth"
    merge_models(tmp_path / "x" / "G_30.pth", tmp_path / "y" / "G_30.pth", out, weight=0.5, info="xy")
    merged = torch.load(out, weights_only=True)
    ga, gb = (torch.load(tmp_path / n / "G_30.pth", weights_only=True)["model"] for n in ("x", "y"))
    assert not any("enc_q" in k for k in merged["weight"])
    for key, value in merged["weight"].items():
        assert torch.equal(value, (0.5 * ga[key] + 0.5 * gb[key]).half()), key
    assert merged["config"] == ModelConfig.from_hparams(tiny_hparams(40000)).to_export_list()
    load_exported(out)


@pytest.mark.parametrize(
    ("kind_b", "message"),
    [
        (dict(version="v2"), r"version: a\.pth v1, b\.pth v2"),
        (dict(f0=False), r"f0: a\.pth True, b\.pth False"),
        (dict(rate=48000), r"sample rate: a\.pth 40k, b\.pth 48k"),
    ],
)
def test_merge_refuses_models_of_another_kind(tmp_path, kind_b, message):
    a, b = _small(tmp_path, 1, "a.pth"), _small(tmp_path, 2, "b.pth", **kind_b)
    with pytest.raises(ValueError, match=message):
        merge_models(a, b, tmp_path / "m.pth", weight=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        merge_models(a, a, tmp_path / "m.pth", weight=1.5)
    assert not (tmp_path / "m.pth").exists()


def test_merge_and_extract_never_write_over_their_inputs(tmp_path, capsys):
    """`model merge a b -o a` and `model extract G -o G` once replaced the input: refused, one line,
    exit 1, nothing written; links and a checkpoint's config.json count as the input."""
    a, b = _small(tmp_path, 1, "a.pth"), _small(tmp_path, 2, "b.pth")
    (tmp_path / "exp").mkdir()
    g = _checkpoint(tmp_path / "exp", 3)
    config = g.parent / "config.json"
    (tmp_path / "hard.pth").hardlink_to(a)
    (tmp_path / "soft.pth").symlink_to(b)
    originals = {path: path.read_bytes() for path in (a, b, g, config)}
    merges = {
        a: f"refusing to write the merged model to {a}: it is the model A {a};",
        f"{tmp_path}/./b.pth": f"it is the model B {b};",
        tmp_path / "hard.pth": f"it is the model A {a} (the same file under another name: a link)",
        tmp_path / "soft.pth": f"it is the model B {b} (the same file under another name: a link)",
    }
    for out, message in merges.items():
        assert main(["model", "merge", str(a), str(b), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("rvc-pipeline model: error: ") and message in err, err
    with pytest.raises(ValueError, match=re.escape(f"it is the model B's config.json {config}")):
        merge_models(a, g, config, weight=0.5)
    for out, message in ((g, f"it is the checkpoint {g};"), (config, f"it is the checkpoint's config.json {config};")):
        assert main(["model", "extract", str(g), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"refusing to write the small model to {out}: {message}" in err, err
    assert {path: path.read_bytes() for path in originals} == originals
    assert not list(tmp_path.rglob(".*.tmp"))
    # Another output beside them is written as before.
    assert main(["model", "extract", str(g), "-o", str(g.parent / "small.pth")]) == 0
    assert main(["model", "merge", str(a), str(b), "-o", str(tmp_path / "m.pth")]) == 0


def test_extract_equals_the_workflows_export_byte_for_byte(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    g = _checkpoint(exp, 3, epoch=5, step=50, version="v2")
    (exp / "trained.json").write_text(json.dumps({"G": str(g), "epoch": 5}))
    (tmp_path / "workflow").mkdir()
    (tmp_path / "cli").mkdir()
    export_experiment(
        exp / "trained.json", exp / "config.json", tmp_path / "workflow" / "v.pth", f0=True, version="v2"
    )
    assert main(["model", "extract", str(g), "-o", str(tmp_path / "cli" / "v.pth")]) == 0
    # the same name in both folders: torch names the archive's entries after the file
    assert (tmp_path / "cli" / "v.pth").read_bytes() == (tmp_path / "workflow" / "v.pth").read_bytes()


def _bomb(path: Path) -> Path:
    class Bomb:
        def __reduce__(self):
            return (os.system, ("touch " + str(path.parent / "exploded"),))

    torch.save({"model": Bomb()}, path, _use_new_zipfile_serialization=True, pickle_module=pickle)
    return path


def test_bad_inputs_give_clear_errors_and_write_nothing(tmp_path, capsys):
    exp = tmp_path / "exp"
    exp.mkdir()
    write_config(tiny_hparams(40000), exp / "config.json")
    cases = {}
    disc = exp / "D_30.pth"
    net = MultiPeriodDiscriminator("v1", channel_div=16)
    save_checkpoint(disc, net, torch.optim.AdamW(net.parameters()), epoch=3, learning_rate=1e-4, extra={})
    cases[disc] = r"D_30\.pth: not an RVC generator.*discriminator"
    text = exp / "G_1.pth"
    text.write_text("not a checkpoint")
    cases[text] = r"G_1\.pth: cannot load checkpoint"
    cases[_bomb(exp / "G_2.pth")] = r"G_2\.pth: cannot load checkpoint.*"
    for path, message in cases.items():
        out = tmp_path / "out.pth"
        assert main(["model", "extract", str(path), "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("rvc-pipeline model: error: ")
        assert re.search(message, err, re.S), err
        with pytest.raises(ValueError, match=message):
            extract_model(path, out)
        assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
    assert not (exp / "exploded").exists()
    with pytest.raises(ValueError, match="cannot load checkpoint"):
        set_info(text, "x")


def test_every_model_command_has_help(capsys):
    for command in ("info", "set-info", "merge", "extract"):
        with pytest.raises(SystemExit) as done:
            main(["model", command, "--help"])
        assert done.value.code == 0
        assert f"rvc-pipeline model {command}" in capsys.readouterr().out


def test_merge_of_two_rvc_size_models_loads_in_rvcs_classes(tmp_path):
    shapes = load_json("state_dict_shapes.json")["G_v2_f0_40k"]
    paths = []
    for salt in (0, 1):
        state = {k: torch.tensor(v) for k, v in formula_weights(shapes, salt).items()}
        paths.append(tmp_path / f"{salt}.pth")
        export_model(state, rvc_hparams(40000, "v2"), paths[-1], epoch=salt, f0=True, version="v2")
    merge_models(*paths, tmp_path / "m.pth", weight=0.25, info="m")
    merged, net = load_exported(tmp_path / "m.pth")
    a, b = (torch.load(p, weights_only=True)["weight"] for p in paths)
    assert len(net.state_dict()) == len(merged["weight"]) == 457
    for key, value in merged["weight"].items():
        assert torch.equal(value, (0.25 * a[key].float() + 0.75 * b[key].float()).half()), key
    assert merged["config"] == torch.load(paths[0], weights_only=True)["config"]
