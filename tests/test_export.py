"""The exported small model: RVC's format (parity pack's export_format.json) and strict reload."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import need_shared_parity
from rvc_pipeline.training.checkpoint import save_checkpoint
from rvc_pipeline.training.export import export_model, load_exported
from rvc_pipeline.models import ModelConfig, build_synthesizer, rvc_hparams, tiny_hparams

CASES = {  # parity model name -> (sample rate, version, f0)
    "G_v1_f0_40k": (40000, "v1", True),
    "G_v1_f0_48k": (48000, "v1", True),
    "G_v1_f0_32k": (32000, "v1", True),
    "G_v2_f0_40k": (40000, "v2", True),
    "G_v1_nof0_40k": (40000, "v1", False),
}


def _parity(name: str) -> str:
    return need_shared_parity(name).read_text()


@pytest.mark.parametrize("model", list(CASES))
def test_export_matches_rvc_format(model, tmp_path):
    expected = json.loads(_parity("export_format.json"))[model]
    shapes = json.loads(_parity("state_dict_shapes.json"))[model]
    sr, version, f0 = CASES[model]
    state = {k: torch.zeros(shape) for k, shape in shapes.items()}
    export_model(state, rvc_hparams(sr, version), tmp_path / "voice.pth", epoch=20, f0=f0, version=version)
    exported = torch.load(tmp_path / "voice.pth", weights_only=True)
    assert list(exported) == expected["top_level_keys_in_order"]
    assert exported["config"] == expected["config"]
    assert (exported["info"], exported["sr"], exported["f0"], exported["version"]) == (
        "20epoch",
        expected["sr"],
        expected["f0"],
        version,
    )
    weight = exported["weight"]
    assert len(shapes) == expected["n_state_dict_tensors"] and len(weight) == expected["n_weight_tensors"]
    assert list(weight) == [k for k in shapes if not k.startswith("enc_q.")]
    assert {v.dtype for v in weight.values()} == {torch.float16}
    assert weight["emb_g.weight"].shape == (109, 256)


def test_export_of_40k_v1_reloads_into_the_inference_model(tmp_path):
    shapes = json.loads(_parity("state_dict_shapes.json"))["G_v1_f0_40k"]
    state = {k: torch.full(shape, 0.5) for k, shape in shapes.items()}
    export_model(state, rvc_hparams(40000, "v1"), tmp_path / "voice.pth", epoch=1, f0=True, version="v1")
    _, net = load_exported(tmp_path / "voice.pth")
    assert not hasattr(net, "enc_q")
    assert len(net.state_dict()) == 457


def test_export_from_checkpoint_round_trips_the_weights(tmp_path):
    h = tiny_hparams(40000)
    torch.manual_seed(0)
    g = build_synthesizer(ModelConfig.from_hparams(h), "v2", True)
    save_checkpoint(
        tmp_path / "G_30.pth", g, torch.optim.AdamW(g.parameters()), epoch=3, learning_rate=1e-4, extra={}
    )
    export_model(tmp_path / "G_30.pth", h, tmp_path / "voice.pth", epoch=3, f0=True, version="v2")
    exported, net = load_exported(tmp_path / "voice.pth")
    assert exported["info"] == "3epoch" and exported["config"][-1] == 40000
    for key, value in net.state_dict().items():
        assert torch.equal(value, g.state_dict()[key].half().float()), key
    frames = 20
    out, _, _ = net.infer(
        torch.randn(1, frames, 768),
        torch.tensor([frames]),
        torch.randint(1, 255, (1, frames)),
        torch.full((1, frames), 150.0),
        torch.tensor([0]),
    )
    assert out.shape == (1, 1, frames * 400)


def test_reload_rejects_an_incomplete_export(tmp_path):
    h = tiny_hparams(40000)
    g = build_synthesizer(ModelConfig.from_hparams(h), "v1", True)
    state = {k: v for k, v in g.state_dict().items() if not k.startswith("flow.")}
    export_model(state, h, tmp_path / "voice.pth", epoch=1, f0=True, version="v1")
    with pytest.raises(ValueError, match=r"(?s)voice\.pth: the weights do not fit.*Missing key.*flow\."):
        load_exported(tmp_path / "voice.pth")
    torch.save({"model": {}}, tmp_path / "G_1.pth")
    with pytest.raises(ValueError, match=r"G_1\.pth: not an exported RVC model"):
        load_exported(tmp_path / "G_1.pth")


def test_export_every_writes_each_saved_epoch_as_rvc_names_it_and_each_converts(tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from rvc_pipeline.cli import main
    from rvc_pipeline.training.export import epoch_models
    from rvc_pipeline.training.supersede import supersede_if_changed
    from rvc_pipeline.training.loop import train
    from test_train import make_experiment, options, tsv_rows

    filelist, config = make_experiment(tmp_path / "exp")
    state = tmp_path / "voice"
    chosen = options(epochs=3, save_every_epoch=2, export_every=True)
    train(filelist, config, state, chosen)
    steps = {row["epoch"]: row["step"] for row in tsv_rows(state)}
    expected = [state / "weights" / f"voice_e{e}_s{steps[str(e)]}.pth" for e in (2, 3)]  # saved: 2 and the last
    assert epoch_models(state) == expected
    source = tmp_path / "input.wav"
    sf.write(source, 0.3 * np.sin(2 * np.pi * 150 * np.arange(16000) / 16000), 16000)
    for epoch, path in zip((2, 3), expected):
        exported, _ = load_exported(path)
        assert exported["info"] == f"{epoch}epoch" and {v.device.type for v in exported["weight"].values()} == {"cpu"}
        out = tmp_path / f"{path.stem}.wav"
        assert main(["convert", str(path), str(source), str(out), "--hubert-standin", "tiny"]) == 0
        assert sf.info(out).frames > 0
    capsys.readouterr()

    supersede_if_changed(state, filelist, config, options(seed=7))  # other inputs: the old state goes aside
    assert epoch_models(state) == []
    assert sorted(p.name for p in (state / "superseded").rglob("voice_e*.pth")) == [p.name for p in expected]
