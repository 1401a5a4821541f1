"""Behaviour of rvc_pipeline.models: file formats, configs, tiny models, helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from parity_pack import GENERATORS, load_json

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.models import (
    ModelConfig,
    MultiPeriodDiscriminator,
    StepSettings,
    TrainBatch,
    build_discriminator,
    build_synthesizer,
    grad_norm,
    rvc_hparams,
    rvc_optimizer,
    synthesizer_from_config,
    synthesizer_from_export,
    tiny_hparams,
    train_step,
)
from rvc_pipeline.models.commons import rand_slice_segments, slice_segments
from rvc_pipeline.models.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from rvc_pipeline.models.mel import hz_to_mel, mel_filter_bank, mel_to_hz

RATES = (32000, 40000, 48000)




def _tiny(version: str = "v1", f0: bool = True, sample_rate: int = 40000) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_synthesizer(ModelConfig.from_hparams(tiny_hparams(sample_rate)), version, f0)


def _batch(h: dict, version: str, f0: bool, frames: list[int]) -> TrainBatch:
    """A zero-padded batch of random signals with the given frame counts, as RVC collates."""
    gen = torch.Generator().manual_seed(1)
    hop = h["data"]["hop_length"]
    size, t_max = len(frames), max(frames)
    lengths = torch.tensor(frames)
    wave = torch.zeros(size, 1, t_max * hop)
    for i, t in enumerate(frames):
        wave[i, 0, : t * hop] = 0.1 * torch.randn(t * hop, generator=gen)
    spec = torch.stack([_spec(h, w) for w in wave])
    mask = (torch.arange(t_max) < lengths[:, None]).float()
    dim = 256 if version == "v1" else 768
    return TrainBatch(
        phone=torch.randn(size, t_max, dim, generator=gen) * mask[..., None],
        phone_lengths=lengths,
        pitch=(torch.randint(1, 256, (size, t_max), generator=gen) * mask).long() if f0 else None,
        pitchf=(100 + 200 * torch.rand(size, t_max, generator=gen)) * mask if f0 else None,
        spec=spec * mask[:, None, :],
        spec_lengths=lengths,
        wave=wave,
        wave_lengths=lengths * hop,
        sid=torch.zeros(size, dtype=torch.long),
    )


def _spec(h: dict, wave: torch.Tensor) -> torch.Tensor:
    return StepSettings.from_hparams(h).mel.spectrogram(wave)[0]


# --- configs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("sample_rate", RATES)
def test_rvc_hparams_are_consistent(sample_rate: int, version: str) -> None:
    h = rvc_hparams(sample_rate, version)
    cfg = ModelConfig.from_hparams(h)
    # The decoder's upsampling must turn one frame into exactly one hop of samples.
    assert cfg.hop_length == h["data"]["hop_length"]
    assert cfg.spec_channels == h["data"]["filter_length"] // 2 + 1
    assert h["train"]["segment_size"] == cfg.segment_size * cfg.hop_length
    assert h["data"]["sampling_rate"] == sample_rate
    rvc_hparams(sample_rate, version)["model"]["upsample_rates"].append(99)
    assert rvc_hparams(sample_rate, version) == h  # fresh dicts, no shared state


def test_rvc_hparams_reject_unknown_settings() -> None:
    with pytest.raises(ValueError, match="v3"):
        rvc_hparams(40000, "v3")
    with pytest.raises(ValueError, match="44100"):
        rvc_hparams(44100, "v1")


@pytest.mark.parametrize("sample_rate", RATES)
def test_tiny_hparams_keep_rvc_structure_and_data_settings(sample_rate: int) -> None:
    tiny, full = tiny_hparams(sample_rate), rvc_hparams(sample_rate, "v1")
    assert set(tiny) == set(full) == {"train", "data", "model"}
    assert set(tiny["train"]) == set(full["train"])
    assert tiny["data"] == full["data"]
    assert set(full["model"]) <= set(tiny["model"])
    cfg = ModelConfig.from_hparams(tiny)
    assert cfg.hop_length == tiny["data"]["hop_length"]
    assert (
        ModelConfig.from_export_list(cfg.to_export_list()).to_export_list() == cfg.to_export_list()
    )


def test_export_config_lists_equal_rvc() -> None:
    formats = load_json("export_format.json")
    for model, fmt in formats.items():
        sample_rate, version, _ = GENERATORS[model]
        cfg = ModelConfig.from_hparams(rvc_hparams(sample_rate, version))
        assert cfg.to_export_list() == fmt["config"], model
        assert ModelConfig.from_export_list(fmt["config"]).to_export_list() == fmt["config"], model


def test_model_config_rejects_a_malformed_list() -> None:
    config = ModelConfig.from_hparams(rvc_hparams(40000, "v1")).to_export_list()
    with pytest.raises(ValueError, match="18 values"):
        ModelConfig.from_export_list(config[:-1])
    config[9] = "3"
    with pytest.raises(ValueError, match="resblock"):
        ModelConfig.from_export_list(config)


@pytest.mark.parametrize("model", ["G_v1_f0_40k", "G_v1_nof0_40k", "G_v2_f0_40k", "G_v1_f0_32k"])
def test_inference_model_from_config_has_the_exported_tensors(model: str) -> None:
    fmt = load_json("export_format.json")[model]
    shapes = load_json("state_dict_shapes.json")[model]
    _, version, f0 = GENERATORS[model]
    with torch.device("meta"):
        net = synthesizer_from_config(fmt["config"], version, f0)
    got = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert got == {k: v for k, v in shapes.items() if not k.startswith("enc_q.")}
    assert len(got) == fmt["n_weight_tensors"]


# --- files -------------------------------------------------------------------------------------


def test_rvc_pretrained_format_round_trip(tmp_path) -> None:
    """{"model": fp16 state dict} of the 40k v1 G and D: saved atomically, loaded strictly."""
    cfg = ModelConfig.from_hparams(rvc_hparams(40000, "v1"))
    for name, build in (
        ("f0G40k.pth", lambda: build_synthesizer(cfg, "v1", True)),
        ("f0D40k.pth", lambda: MultiPeriodDiscriminator("v1")),
    ):
        state = {k: v.half() for k, v in build().state_dict().items()}
        with atomic_path(tmp_path / name) as tmp:
            torch.save({"model": state}, tmp)
        loaded = torch.load(tmp_path / name, weights_only=True)["model"]
        assert list(loaded) == list(state)
        with torch.device("meta"):
            fresh = build()  # uninitialised: every value must come from the file
        fresh = fresh.to_empty(device="cpu")
        fresh.load_state_dict(loaded, strict=True)
        for key, value in fresh.state_dict().items():
            assert value.dtype == torch.float32 and torch.equal(value, state[key].float()), key


def test_exported_model_loads_and_converts(tmp_path) -> None:
    h = tiny_hparams(40000)
    net = _tiny().eval()
    export = {
        "weight": {k: v.half() for k, v in net.state_dict().items() if "enc_q" not in k},
        "config": ModelConfig.from_hparams(h).to_export_list(),
        "info": "1epoch",
        "sr": "40k",
        "f0": 1,
        "version": "v1",
    }
    torch.save(export, tmp_path / "m.pth")
    loaded = synthesizer_from_export(torch.load(tmp_path / "m.pth", weights_only=True), "m.pth")
    assert not loaded.training and not hasattr(loaded, "enc_q")
    for key, value in loaded.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, export["weight"][key].float()), key
    t = 20
    phone, lengths = torch.randn(1, t, 256), torch.tensor([t])
    pitch, pitchf, sid = torch.full((1, t), 60), torch.full((1, t), 220.0), torch.tensor([0])
    with torch.no_grad():
        o = loaded.infer(phone, lengths, pitch, pitchf, sid)[0]
    assert o.shape == (1, 1, t * 400)
    with pytest.raises(RuntimeError, match="inference only"):
        loaded(phone, lengths, pitch, pitchf, torch.zeros(1, 1025, t), lengths, sid)


def test_exported_model_errors_name_the_file() -> None:
    net = _tiny()
    weight = {k: v.half() for k, v in net.state_dict().items() if "enc_q" not in k}
    config = ModelConfig.from_hparams(tiny_hparams(40000)).to_export_list()
    with pytest.raises(ValueError, match=r"bad\.pth.*config"):
        synthesizer_from_export({"weight": weight, "f0": 1}, "bad.pth")
    with pytest.raises(ValueError, match=r"bad\.pth.*do not fit"):
        synthesizer_from_export({"weight": weight, "config": config, "f0": 0}, "bad.pth")


def test_speaker_count_comes_from_the_weights() -> None:
    net = _tiny()
    weight = {k: v for k, v in net.state_dict().items() if "enc_q" not in k}
    weight["emb_g.weight"] = weight["emb_g.weight"][:4]
    config = ModelConfig.from_hparams(tiny_hparams(40000)).to_export_list()
    loaded = synthesizer_from_export({"weight": weight, "config": config, "f0": 1})
    assert loaded.emb_g.num_embeddings == 4


# --- tiny models -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "f0"), [("v1", True), ("v1", False), ("v2", True), ("v2", False)]
)
def test_tiny_model_forward_and_infer_lengths(version: str, f0: bool) -> None:
    h = tiny_hparams(40000)
    net = _tiny(version, f0)
    b = _batch(h, version, f0, [40, 33])
    seg = net.segment_size
    pitch_args = (b.pitch, b.pitchf) if f0 else ()
    o, ids, x_mask, y_mask, (z, z_p, m_p, logs_p, m_q, logs_q) = net(
        b.phone, b.phone_lengths, *pitch_args, b.spec, b.spec_lengths, b.sid
    )
    assert o.shape == (2, 1, seg * 400)
    assert ((ids >= 0) & (ids + seg <= b.spec_lengths)).all()
    assert x_mask.sum(-1).flatten().tolist() == y_mask.sum(-1).flatten().tolist() == [40, 33]
    assert z.shape == z_p.shape == m_q.shape == (2, 16, 40)
    assert (z[1, :, 33:] == 0).all()
    with torch.no_grad():
        o, x_mask, (z, z_p, m_p, logs_p) = net.infer(b.phone, b.phone_lengths, *pitch_args, b.sid)
    assert o.shape == (2, 1, 40 * 400)
    assert o.abs().max() <= 1.0


def test_infer_noise_comes_from_torch_randn_like(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _tiny().eval()
    args = (torch.randn(1, 20, 256), torch.tensor([20]), torch.full((1, 20), 60))
    args += (torch.full((1, 20), 220.0), torch.tensor([0]))
    with torch.no_grad():
        torch.manual_seed(1)
        first = net.infer(*args)[0]
        torch.manual_seed(1)
        again = net.infer(*args)[0]
        torch.manual_seed(2)
        other = net.infer(*args)[0]
        monkeypatch.setattr(torch, "randn_like", lambda t, **k: torch.zeros_like(t, **k))
        _, _, (_, z_p, m_p, _) = net.infer(*args)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert torch.equal(z_p, m_p)


def test_tiny_training_step_updates_both_networks() -> None:
    h = tiny_hparams(40000)
    net_g, net_d = _tiny(), build_discriminator(h, "v1")
    optim_g, optim_d = rvc_optimizer(net_g, h), rvc_optimizer(net_d, h)
    before_g = {k: v.clone() for k, v in net_g.state_dict().items()}
    before_d = {k: v.clone() for k, v in net_d.state_dict().items()}
    batch = _batch(h, "v1", True, [48, 40, 36, 32])
    result = train_step(net_g, net_d, optim_g, optim_d, batch, StepSettings.from_hparams(h))
    scalars = result.scalars()
    assert all(math.isfinite(v) for v in scalars.values())
    assert scalars["loss/g/total"] == pytest.approx(
        result.loss_gen + result.loss_fm + result.loss_mel + result.loss_kl, rel=1e-5
    )
    assert len(result.losses_gen) == len(net_d.discriminators) == 7
    assert result.y_hat.shape == result.wave.shape == (4, 1, 12800)
    assert result.y_mel.shape == result.y_hat_mel.shape == (4, 125, 32)
    assert result.grad_norm_d > 0 and result.grad_norm_g > 0
    assert any(not torch.equal(v, net_g.state_dict()[k]) for k, v in before_g.items())
    assert any(not torch.equal(v, net_d.state_dict()[k]) for k, v in before_d.items())


def test_discriminator_channel_div_narrows_layers() -> None:
    full, tiny = MultiPeriodDiscriminator("v2"), build_discriminator(tiny_hparams(40000), "v2")
    assert len(tiny.discriminators) == len(full.discriminators) == 9
    assert tiny.discriminators[1].convs[3].weight_v.shape[0] == 1024 // 16
    with pytest.raises(ValueError, match="divide"):
        MultiPeriodDiscriminator("v1", channel_div=3)
    h = tiny_hparams(40000)
    h["model"]["use_spectral_norm"] = True
    with pytest.raises(ValueError, match="spectral"):
        build_discriminator(h, "v1")


# --- helpers -----------------------------------------------------------------------------------


def test_slice_segments_cuts_each_item_at_its_start() -> None:
    x = torch.arange(2 * 3 * 10).view(2, 3, 10)
    out = slice_segments(x, torch.tensor([0, 6]), 4)
    assert torch.equal(out[0], x[0, :, 0:4]) and torch.equal(out[1], x[1, :, 6:10])
    flat = slice_segments(x[:, 0], torch.tensor([2, 1]), 3)
    assert torch.equal(flat, torch.stack([x[0, 0, 2:5], x[1, 0, 1:4]]))
    with pytest.raises(ValueError, match="exceed"):
        slice_segments(x, torch.tensor([0, 7]), 4)


def test_rand_slice_segments_stay_inside_each_length() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 2, 50)
    lengths = torch.randint(10, 51, (64,))
    out, ids = rand_slice_segments(x, lengths, 10)
    assert ((ids >= 0) & (ids + 10 <= lengths)).all()
    assert len(set(ids.tolist())) > 5
    for i in range(64):
        assert torch.equal(out[i], x[i, :, ids[i] : ids[i] + 10])


def test_mel_filter_bank_is_slaney() -> None:
    assert hz_to_mel(np.array(1000.0)) == pytest.approx(15.0)
    freqs = np.array([0.0, 440.0, 1000.0, 5000.0, 20000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs)), freqs, rtol=1e-12)
    bank = mel_filter_bank(40000, 2048, 125)
    assert bank.shape == (125, 1025) and bank.dtype == np.float32
    assert not bank.flags.writeable and mel_filter_bank(40000, 2048, 125) is bank
    assert mel_filter_bank(32000, 1024, 80).shape == (80, 513)
    # Slaney normalisation: each triangle has height 2/width, so unit area on the Hz axis;
    # a fine FFT grid measures the area closely.
    fine = mel_filter_bank(16000, 2**15, 40)
    np.testing.assert_allclose(fine.sum(1) * 16000 / 2**15, 1.0, rtol=2e-3)
    peaks = np.argmax(fine, axis=1)
    assert (np.diff(peaks) > 0).all()


def test_losses_on_known_values() -> None:
    real, fake = [torch.ones(1, 5), torch.ones(1, 3)], [torch.zeros(1, 5), torch.full((1, 3), 0.5)]
    loss, r_losses, g_losses = discriminator_loss(real, fake)
    assert loss.item() == pytest.approx(0.25)
    assert [v.item() for v in r_losses] == [0.0, 0.0] and g_losses[1].item() == pytest.approx(0.25)
    g_loss, terms = generator_loss(fake)
    assert g_loss.item() == pytest.approx(1.0 + 0.25) and len(terms) == 2
    fm = feature_loss([[torch.zeros(2, 2)], [torch.ones(3)]], [[torch.ones(2, 2)], [torch.ones(3)]])
    assert fm.item() == pytest.approx(2.0)
    z_p, m_p = torch.tensor([[[1.0, 3.0]]]), torch.tensor([[[0.0, 0.0]]])
    logs_q, logs_p = torch.tensor([[[0.0, 0.0]]]), torch.tensor([[[0.5, 0.5]]])
    mask = torch.tensor([[[1.0, 0.0]]])
    expected = 0.5 - 0.0 - 0.5 + 0.5 * 1.0 * math.exp(-1.0)
    assert kl_loss(z_p, logs_q, m_p, logs_p, mask).item() == pytest.approx(expected)


def test_grad_norm_is_the_total_l2_norm() -> None:
    a, b, c = (torch.zeros(3, requires_grad=True) for _ in range(3))
    a.grad, b.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0, 12.0])
    assert grad_norm([a, b, c]) == pytest.approx(13.0)
    assert grad_norm([c]) == 0.0
