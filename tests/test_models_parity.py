"""Parity of rvc_pipeline.models with RVC's own numbers (../shared/parity, see its README).

Weights come from the pack's formula, randomness is patched to zeros as in the pack, and the
tolerances are the pack's: 1e-4 absolute on waveforms/features, 1e-4 relative on losses and
gradient norms, exact on integers and shapes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from parity_pack import (
    DISCRIMINATORS,
    GENERATORS,
    load_formula_weights,
    load_json,
    load_npz,
    max_abs_diff,
    zero_noise,
)

from rvc_pipeline.models import (
    ModelConfig,
    MultiPeriodDiscriminator,
    StepSettings,
    TrainBatch,
    build_synthesizer,
    rvc_hparams,
    rvc_optimizer,
    train_step,
)
from rvc_pipeline.models.mel import mel_spectrogram, spectrogram

ATOL = 1e-4
RTOL = 1e-4




def _generator(model: str, **kwargs: bool) -> torch.nn.Module:
    sample_rate, version, f0 = GENERATORS[model]
    cfg = ModelConfig.from_hparams(rvc_hparams(sample_rate, version))
    return build_synthesizer(cfg, version, f0, **kwargs)


def _inputs(data: dict[str, np.ndarray], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: torch.from_numpy(v) for k, v in data.items() if k.startswith(prefix)}


@pytest.mark.parametrize("model", [*GENERATORS, *DISCRIMINATORS])
def test_state_dict_keys_order_and_shapes_equal_rvc(model: str) -> None:
    expected = load_json("state_dict_shapes.json")[model]
    with torch.device("meta"):
        net = (
            MultiPeriodDiscriminator(DISCRIMINATORS[model])
            if model in DISCRIMINATORS
            else _generator(model)
        )
    got = [(key, list(t.shape)) for key, t in net.state_dict().items()]
    assert got == list(expected.items())


@pytest.mark.parametrize("model", ["G_v1_f0_40k", "G_v1_f0_48k", "G_v1_nof0_40k", "G_v2_f0_40k"])
def test_infer_matches_rvc(model: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_npz("infer.npz")
    net = _generator(model).eval()
    load_formula_weights(net, model)
    x = _inputs(data, f"{model}.in.")
    with zero_noise(monkeypatch), torch.no_grad():
        if GENERATORS[model][2]:
            o, x_mask, (_, z_p, m_p, logs_p) = net.infer(
                x["phone"], x["phone_lengths"], x["pitch"], x["pitchf"], x["sid"]
            )
        else:
            o, x_mask, (_, z_p, m_p, logs_p) = net.infer(x["phone"], x["phone_lengths"], x["sid"])
    got = {"o": o, "z_p": z_p, "m_p": m_p, "logs_p": logs_p}
    for name, value in got.items():
        assert max_abs_diff(value, data[f"{model}.out.{name}"]) <= ATOL, name
    assert np.array_equal(x_mask.numpy(), data[f"{model}.out.x_mask"])


@pytest.mark.parametrize("model", list(DISCRIMINATORS))
def test_discriminator_matches_rvc(model: str) -> None:
    data = load_npz("discriminator.npz")
    net = MultiPeriodDiscriminator(DISCRIMINATORS[model])
    load_formula_weights(net, model)
    y, y_hat = (torch.from_numpy(data[f"{model}.in.{k}"]) for k in ("y", "y_hat"))
    with torch.no_grad():
        y_d_rs, y_d_gs, fmap_rs, fmap_gs = net(y, y_hat)
    assert len(y_d_rs) == len([k for k in data if k.startswith(f"{model}.out.y_d_r.")])
    out = f"{model}.out"
    for i, (y_d_r, y_d_g) in enumerate(zip(y_d_rs, y_d_gs, strict=True)):
        assert max_abs_diff(y_d_r, data[f"{out}.y_d_r.{i}"]) <= ATOL
        assert max_abs_diff(y_d_g, data[f"{out}.y_d_g.{i}"]) <= ATOL
        for j, (fr, fg) in enumerate(zip(fmap_rs[i], fmap_gs[i], strict=True)):
            assert list(fr.shape) == data[f"{out}.fmap_r.{i}.{j}.shape"].tolist()
            for value, key in (
                (fr, f"{out}.fmap_r.{i}.{j}.sum"),
                (fg, f"{out}.fmap_g.{i}.{j}.sum"),
            ):
                ref = float(data[key])
                assert value.double().sum().item() == pytest.approx(ref, rel=RTOL, abs=ATOL), key


@pytest.mark.parametrize("rate", ["32k", "40k", "48k"])
def test_spectrogram_and_mel_match_rvc(rate: str) -> None:
    data = load_npz("mel.npz")
    h = rvc_hparams({"32k": 32000, "40k": 40000, "48k": 48000}[rate], "v1")["data"]
    wav = torch.from_numpy(data[f"{rate}.wav"])
    n_fft, hop, win = h["filter_length"], h["hop_length"], h["win_length"]
    spec = spectrogram(wav, n_fft, hop, win)
    mel = mel_spectrogram(wav, n_fft, h["n_mel_channels"], h["sampling_rate"], hop, win)
    assert spec.shape == (1, n_fft // 2 + 1, wav.shape[1] // hop)
    assert max_abs_diff(spec, data[f"{rate}.spec"]) <= ATOL
    assert max_abs_diff(mel, data[f"{rate}.mel"]) <= ATOL


def test_training_step_matches_rvc(monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_npz("train_step.npz")
    ref = {k[len("out.") :]: v for k, v in data.items() if k.startswith("out.")}
    h = rvc_hparams(40000, "v1")
    h["train"]["fp16_run"] = False
    net_g = _generator("G_v1_f0_40k")
    net_d = MultiPeriodDiscriminator("v1")
    load_formula_weights(net_g, "G_v1_f0_40k")
    load_formula_weights(net_d, "D_v1")
    optim_g, optim_d = rvc_optimizer(net_g, h), rvc_optimizer(net_d, h)
    expected = {"lr": 1e-4, "betas": (0.8, 0.99), "eps": 1e-9, "weight_decay": 0.01}
    assert {k: optim_g.defaults[k] for k in expected} == expected
    params = {**dict(net_g.named_parameters()), **dict(net_d.named_parameters())}
    sums_after = json.loads(str(data["after_step_param_sums"]))
    sums_before = {k: params[k].double().sum().item() for k in sums_after}
    batch = TrainBatch(**_inputs(data, "in."))

    with zero_noise(monkeypatch):
        result = train_step(net_g, net_d, optim_g, optim_d, batch, StepSettings.from_hparams(h))

    assert result.ids_slice.tolist() == ref["ids_slice"].tolist()
    losses = ("loss_disc", "loss_gen", "loss_fm", "loss_mel", "loss_kl", "loss_gen_all")
    for name in (*losses, "grad_norm_d", "grad_norm_g"):
        assert getattr(result, name) == pytest.approx(float(ref[name]), rel=RTOL), name
    for name in ("losses_disc_r", "losses_disc_g", "losses_gen"):
        np.testing.assert_allclose(getattr(result, name), ref[name], rtol=RTOL, atol=1e-7)
    tensors = dict(zip(("z", "z_p", "m_p", "logs_p", "m_q", "logs_q"), result.latents, strict=True))
    tensors.update(y_hat=result.y_hat, wave_slice=result.wave, y_mel=result.y_mel)
    tensors.update(y_hat_mel=result.y_hat_mel)
    tensors.update({f"d_real_{i}": t for i, t in enumerate(result.d_real)})
    tensors.update({f"d_fake_{i}": t for i, t in enumerate(result.d_fake)})
    for name, value in tensors.items():
        assert max_abs_diff(value, ref[name]) <= ATOL, name
    # One AdamW step moves each parameter by about lr; its effect on the sum must match RVC's.
    for name, expected in sums_after.items():
        moved = params[name].double().sum().item() - sums_before[name]
        assert moved == pytest.approx(expected - sums_before[name], rel=1e-3), name
