"""Training: data loading as RVC, bucket sampler, checkpoints written by a run, pretrained loading.

Also holds the synthetic-experiment helpers the other training tests import.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from conftest import need_shared_data
from rvc_pipeline.audio import read_wav, write_wav
from rvc_pipeline.torch_files import load_checkpoint, load_state_strict, model_state
from rvc_pipeline.training.data import BucketSampler, SegmentDataset, collate, read_filelist
from rvc_pipeline.pitch.classic import compute_f0
from rvc_pipeline.pitch.files import coarse_f0
from rvc_pipeline.training.filelist import write_filelist
from rvc_pipeline.models import ModelConfig, build_discriminator, build_synthesizer, rvc_hparams, tiny_hparams
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.mute import write_mute_assets
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.history import LOSS_COLUMNS
from rvc_pipeline.training.loop import train
from rvc_pipeline.training.inputs import write_config

SR = 32000
HOP = 320


def small_hparams(**train: float) -> dict:
    """The tiny 32k config with an 8-frame training slice: a CPU step then takes a few 0.1 s."""
    h = tiny_hparams(SR)
    h["train"]["segment_size"] = 8 * HOP
    h["train"].update(train)
    return h


def hubert_frames(samples: int) -> int:
    """Feature frames HuBERT gives for ``samples`` at the experiment rate (20 ms hop on 16 kHz)."""
    return (samples * 16000 // SR - 400) // 320 + 1


def write_segment(
    exp: Path,
    source: str,
    name: str,
    wave: np.ndarray,
    rng: np.random.Generator,
    *,
    features: np.ndarray | None = None,
) -> None:
    """One segment in every stage folder, with RVC's frame counts (pm f0: len16k // 160)."""
    (exp / "0_gt_wavs" / source).mkdir(parents=True, exist_ok=True)
    write_wav(exp / "0_gt_wavs" / source / f"{name}.wav", wave, SR)
    if features is None:
        features = rng.standard_normal((hubert_frames(len(wave)), 256)).astype(np.float32)
    (exp / "3_feature256" / source).mkdir(parents=True, exist_ok=True)
    np.save(exp / "3_feature256" / source / f"{name}.npy", features)
    hz = np.full(len(wave) * 16000 // SR // 160, 150.0) + rng.uniform(-20, 20)
    hz[:5] = 0.0  # an unvoiced start
    for folder, values in (("2a_f0", coarse_f0(hz)), ("2b-f0nsf", hz)):
        (exp / folder / source).mkdir(parents=True, exist_ok=True)
        np.save(exp / folder / source / f"{name}.wav.npy", values)


def write_lists(exp: Path, validation_share: float = 0.0) -> Path:
    """Mute assets (tiny HuBERT stand-in) and the filelist of the segments under ``exp``, less
    those held out into ``validation.txt``."""
    write_mute_assets(exp / "mute", SR, "v1", weights=None, standin="tiny")
    filelist = exp / "filelist.txt"
    write_filelist(
        filelist,
        exp / "0_gt_wavs",
        exp / "3_feature256",
        exp / "2a_f0",
        exp / "2b-f0nsf",
        mute_dir=exp / "mute",
        sample_rate=SR,
        hop_length=HOP,
        version="v1",
        validation=exp / "validation.txt",
        validation_share=validation_share,
    )
    return filelist


def make_experiment(
    exp: Path,
    seconds: dict[str, list[float]] | None = None,
    *,
    seed: int = 0,
    validation_share: float = 0.0,
    **train: float,
) -> tuple[Path, Path]:
    """A synthetic experiment (tones + noise, random features) with mute assets; returns (filelist, config)."""
    rng = np.random.default_rng(seed)
    seconds = seconds or {"a": [1.2, 1.0], "b": [1.1, 0.9]}
    for source, lengths in seconds.items():
        for j, length in enumerate(lengths):
            t = np.arange(int(length * SR)) / SR
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 300) * t) + 0.02 * rng.standard_normal(len(t))
            write_segment(exp, source, f"{source}_{j}", wave.astype(np.float32), rng)
    filelist = write_lists(exp, validation_share)
    config = exp / "config.json"
    write_config(small_hparams(**train), config)
    return filelist, config


def tsv_rows(state: Path) -> list[dict[str, str]]:
    lines = (state / "losses.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def options(**kw) -> TrainOptions:
    base = dict(version="v1", f0=True, batch_size=2, epochs=1, save_every_epoch=1, log_interval=1)
    return TrainOptions(**{**base, **kw})


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> tuple[Path, Path]:
    return make_experiment(tmp_path_factory.mktemp("exp"))


def _dataset(filelist: Path) -> SegmentDataset:
    return SegmentDataset(read_filelist(filelist, f0=True), MelConfig.from_hparams(small_hparams()), 256)


def test_item_is_aligned_and_unscaled_as_rvc(experiment):
    dataset = _dataset(experiment[0])
    index = next(i for i, e in enumerate(dataset.entries) if e.wav.name == "a_0.wav")
    item = dataset[index]
    samples = int(1.2 * SR)
    phone_frames = 2 * hubert_frames(samples)  # 118 < 120 spectrogram frames: everything is cut to it
    assert phone_frames < samples // HOP
    assert item.spec.shape == (513, phone_frames)
    assert item.wave.shape == (1, phone_frames * HOP)
    assert item.phone.shape == (phone_frames, 256)
    assert item.pitch.dtype == torch.int64 and item.pitch.shape == item.pitchf.shape == (phone_frames,)
    features = np.load(dataset.entries[index].feature)
    np.testing.assert_array_equal(item.phone[0], features[0])
    np.testing.assert_array_equal(item.phone[1], features[0])  # repeated x2: 50 -> 100 frames/s
    wave, _ = read_wav(dataset.entries[index].wav)
    np.testing.assert_array_equal(item.wave[0].numpy(), wave[: phone_frames * HOP])  # no /32768


def test_phone_frames_are_capped_at_900(tmp_path):
    rng = np.random.default_rng(1)
    wave = (0.1 * rng.standard_normal(10 * SR)).astype(np.float32)
    write_segment(tmp_path, "long", "long_0", wave, rng)
    dataset = _dataset_from(tmp_path, "long/long_0")
    item = dataset[0]
    assert item.phone.shape[0] == item.spec.shape[1] == item.pitch.shape[0] == 900
    assert item.wave.shape[1] == 900 * HOP


def _dataset_from(exp: Path, name: str, sr: int = SR, phone_channels: int = 256) -> SegmentDataset:
    line = "|".join(
        str(exp / p)
        for p in (
            f"0_gt_wavs/{name}.wav",
            f"3_feature256/{name}.npy",
            f"2a_f0/{name}.wav.npy",
            f"2b-f0nsf/{name}.wav.npy",
        )
    )
    (exp / "list.txt").write_text(line + "|0")
    return SegmentDataset(
        read_filelist(exp / "list.txt", f0=True), MelConfig.from_hparams(tiny_hparams(sr)), phone_channels
    )


def test_wrong_sample_rate_names_the_file(tmp_path):
    rng = np.random.default_rng(2)
    write_segment(tmp_path, "s", "s_0", np.zeros(SR, np.float32), rng)
    dataset = _dataset_from(tmp_path, "s/s_0", sr=40000)
    with pytest.raises(ValueError, match=r"s_0\.wav: sample rate 32000 does not match the model's 40000"):
        dataset[0]


def test_features_of_the_other_version_name_the_file(tmp_path):
    write_segment(tmp_path, "s", "s_0", np.zeros(SR, np.float32), np.random.default_rng(3))
    dataset = _dataset_from(tmp_path, "s/s_0", phone_channels=768)
    with pytest.raises(
        ValueError, match=r"s_0\.npy: features of shape \(49, 256\), the model takes \[frames, 768\]"
    ):
        dataset[0]


def test_filelist_with_wrong_field_count_is_rejected(tmp_path):
    (tmp_path / "list.txt").write_text("a.wav|a.npy|0\nb.wav|b.npy|0")
    with pytest.raises(ValueError, match=r"list\.txt:1: 3 fields, expected 5"):
        read_filelist(tmp_path / "list.txt", f0=True)


def test_collate_sorts_longest_first_and_zero_pads(experiment):
    dataset = _dataset(experiment[0])
    items = [dataset[i] for i in range(len(dataset))]
    batch = collate(items)
    lengths = batch.spec_lengths.tolist()
    assert lengths == sorted((it.spec.shape[1] for it in items), reverse=True)
    assert batch.phone_lengths.tolist() == lengths and batch.wave_lengths.tolist() == [
        n * HOP for n in lengths
    ]
    short = len(lengths) - 1
    assert batch.spec[short, :, lengths[short] :].abs().sum() == 0
    assert batch.pitch[short, lengths[short] :].abs().sum() == 0
    assert batch.wave.shape == (len(items), 1, lengths[0] * HOP)


def test_bucket_sampler_batches_per_replica_and_skips_out_of_range():
    lengths = [150, 160, 170, 250, 260, 50, 950, 180]  # 50 and 950 lie outside (100, 900]
    replicas = [BucketSampler(lengths, 2, num_replicas=2, rank=r, seed=3) for r in (0, 1)]
    for sampler in replicas:
        sampler.set_epoch(1)
    batches = [list(s) for s in replicas]
    assert replicas[0].skipped == [5, 6]
    for rank_batches in batches:
        assert all(len(b) == 2 for b in rank_batches)  # the per-device size, not 2 x replicas
        assert len(rank_batches) == len(replicas[0])
        for b in rank_batches:
            assert len({lengths[i] // 100 for i in b}) == 1  # one bucket per batch
    seen = {i for rank_batches in batches for b in rank_batches for i in b}
    assert seen == {0, 1, 2, 3, 4, 7}
    # 4 + 2 items pad to 4 + 4 (multiples of 2 replicas x 2): 2 batches per replica
    assert len(replicas[0]) == 2


def test_bucket_sampler_order_is_seeded_per_epoch():
    lengths = list(range(110, 200, 3)) * 2
    orders = {}
    for epoch in (1, 2):
        for attempt in range(2):
            sampler = BucketSampler(lengths, 3, seed=5)
            sampler.set_epoch(epoch)
            orders[epoch, attempt] = list(sampler)
    assert orders[1, 0] == orders[1, 1]
    assert orders[1, 0] != orders[2, 0]
    assert sorted(i for b in orders[1, 0] for i in b) == list(range(len(lengths)))


def test_training_writes_rvc_checkpoints_and_loss_table(experiment, tmp_path):
    filelist, config = experiment
    final = train(filelist, config, tmp_path, options(epochs=2))
    steps_per_epoch = 3  # 4 clips in one bucket -> 2 batches of 2; 2 mute lines -> 1 batch
    assert final == tmp_path / f"G_{2 * steps_per_epoch}.pth"
    names = sorted(p.name for p in tmp_path.glob("*.pth"))
    assert names == sorted(f"{k}_{s}.pth" for k in "GD" for s in (3, 6))
    h = small_hparams()["train"]
    for kind in "GD":
        ckpt = load_checkpoint(tmp_path / f"{kind}_6.pth")
        assert list(ckpt)[:4] == ["model", "iteration", "optimizer", "learning_rate"]
        assert ckpt["iteration"] == 2
        lr_epoch2 = h["learning_rate"] * h["lr_decay"]
        assert ckpt["learning_rate"] == pytest.approx(lr_epoch2, rel=1e-12)  # current, not initial
        assert ckpt["optimizer"]["param_groups"][0]["lr"] == pytest.approx(lr_epoch2, rel=1e-12)
        assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == 0.01
        assert all(v.dtype == torch.float32 for v in ckpt["model"].values() if v.is_floating_point())
    rows = tsv_rows(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["step"]) for r in rows] == [3, 6]
    for row in rows:
        assert all(math.isfinite(float(row[c])) for c in LOSS_COLUMNS)
    # asked again for the same epochs: nothing to train, same checkpoint
    assert train(filelist, config, tmp_path, options(epochs=2)) == final
    assert len(tsv_rows(tmp_path)) == 2


def test_keep_latest_only_uses_rvc_fixed_names_and_resumes(experiment, tmp_path):
    filelist, config = experiment
    final = train(filelist, config, tmp_path, options(epochs=2, keep_latest_only=True))
    assert final == tmp_path / "G_2333333.pth"
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["D_2333333.pth", "G_2333333.pth"]
    assert load_checkpoint(final)["iteration"] == 2
    train(filelist, config, tmp_path, options(epochs=3, keep_latest_only=True))
    assert load_checkpoint(final)["iteration"] == 3
    assert [int(r["epoch"]) for r in tsv_rows(tmp_path)] == [1, 2, 3]


def _fp16_pretrained(tmp_path: Path, h: dict, f0: bool = True) -> tuple[Path, Path]:
    torch.manual_seed(7)
    g = build_synthesizer(ModelConfig.from_hparams(h), "v1", f0)
    d = build_discriminator(h, "v1")
    paths = tmp_path / "f0G32k.pth", tmp_path / "f0D32k.pth"
    for net, path in zip((g, d), paths):
        torch.save({"model": {k: v.half() for k, v in net.state_dict().items()}}, path)
    return paths


def test_pretrained_rvc_files_load_strictly(experiment, tmp_path):
    filelist, config = experiment
    g_path, d_path = _fp16_pretrained(tmp_path, small_hparams())
    state = tmp_path / "state"
    final = train(filelist, config, state, options(pretrained_g=str(g_path), pretrained_d=str(d_path)))
    trained = load_checkpoint(final)["model"]
    pretrained = torch.load(g_path, weights_only=True)["model"]
    # three AdamW steps of lr 1e-4 move a weight by well under 1e-2; a fresh init differs by far more
    worst = max((trained[k] - pretrained[k].float()).abs().max().item() for k in pretrained)
    assert worst < 1e-2


def test_warm_start_begins_at_epoch_one_from_another_experiment(experiment, tmp_path, caplog):
    filelist, config = experiment
    train(filelist, config, tmp_path / "other", options())
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        final = train(
            filelist, config, tmp_path / "new", options(warm_start=str(tmp_path / "other"), num_workers=2)
        )
    assert "warm start from" in caplog.text and final.name == "G_3.pth"
    ckpt = load_checkpoint(final)
    source = load_checkpoint(tmp_path / "other" / "G_3.pth")["model"]
    assert ckpt["iteration"] == 1 and ckpt["optimizer"]["state"][0]["step"] == 3  # a fresh optimiser
    assert max((ckpt["model"][k] - v).abs().max().item() for k, v in source.items()) < 1e-2


def test_checkpoints_written_by_rvc_resume(experiment, tmp_path, caplog):
    """RVC's files lack our extra state: resume from the step in the name and RVC's lr schedule."""
    filelist, config = experiment
    train(filelist, config, tmp_path, options())
    for kind in "GD":
        ckpt = load_checkpoint(tmp_path / f"{kind}_3.pth")
        del ckpt["rvc_pipeline"]
        torch.save(ckpt, tmp_path / f"{kind}_3.pth")
    with caplog.at_level(logging.INFO, logger="rvc_pipeline"):
        final = train(filelist, config, tmp_path, options(epochs=2))
    assert "resuming after epoch 1 (global step 3)" in caplog.text and "no RNG state" in caplog.text
    h = small_hparams()["train"]
    assert final.name == "G_6.pth"
    assert load_checkpoint(final)["learning_rate"] == pytest.approx(
        h["learning_rate"] * h["lr_decay"], rel=1e-12
    )


def test_mismatched_pretrained_file_names_the_keys(experiment, tmp_path):
    filelist, config = experiment
    wider = small_hparams()
    wider["model"]["hidden_channels"] = 48
    g_path, _ = _fp16_pretrained(tmp_path, wider)
    with pytest.raises(
        ValueError,
        match=r"f0G32k\.pth: does not fit the model.*shape mismatch: enc_p\.emb_phone\.weight: file \(48, 256\) vs model \(32, 256\)",
    ):
        train(filelist, config, tmp_path / "s1", options(pretrained_g=str(g_path)))
    nof0_g, _ = _fp16_pretrained(tmp_path, small_hparams(), f0=False)
    with pytest.raises(ValueError, match=r"missing from file: enc_p\.emb_pitch\.weight"):
        train(filelist, config, tmp_path / "s2", options(pretrained_g=str(nof0_g)))


def test_resume_refuses_a_changed_model(experiment, tmp_path):
    filelist, config = experiment
    train(filelist, config, tmp_path / "state", options())
    changed = json.loads(config.read_text())
    changed["model"]["filter_channels"] = 96
    (tmp_path / "config.json").write_text(json.dumps(changed))
    with pytest.raises(
        ValueError,
        match=r"refusing to resume: the model changed.*G_3\.pth.*filter_channels|refusing to resume.*shape mismatch",
    ):
        train(filelist, tmp_path / "config.json", tmp_path / "state", options(epochs=2))


def test_options_are_validated():
    options(precision="fp16").validate()  # on the CPU too (the tests run it); the workflow's jobs use fp32 there
    assert options(precision="bf16").for_job(gpus=0, threads=1).precision == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        options(precision="fp8").validate()
    with pytest.raises(ValueError, match="exclude each other"):
        options(warm_start="x", pretrained_g="y").validate()


def _speech_pieces(exp: Path, count: int) -> None:
    """LJSpeech at the experiment rate, cut into 3.7 s pieces, with pm f0 and random features."""
    rng = np.random.default_rng(0)
    made = 0
    for wav in sorted((need_shared_data() / "ljspeech").glob("*.wav")):
        speech, sr = read_wav(wav)
        speech = soxr.resample(speech, sr, SR).astype(np.float32)
        for start in range(0, len(speech) - int(3.7 * SR) + 1, int(3.7 * SR)):
            piece = speech[start : start + int(3.7 * SR)]
            piece = 0.9 * piece / np.abs(piece).max()
            name = f"{wav.stem}_{made}"
            write_segment(exp, wav.stem, name, piece, rng)
            hz = compute_f0(soxr.resample(piece, SR, 16000).astype(np.float32), "pm")
            np.save(exp / "2b-f0nsf" / wav.stem / f"{name}.wav.npy", hz)
            np.save(exp / "2a_f0" / wav.stem / f"{name}.wav.npy", coarse_f0(hz))
            made += 1
            if made == count:
                return


@pytest.mark.slow
def test_mel_loss_falls_on_real_speech(tmp_path):
    exp = tmp_path / "exp"
    _speech_pieces(exp, 4)
    filelist = write_lists(exp)
    # a high learning rate, so that 30 steps of the tiny model show the fall clearly
    write_config(small_hparams(learning_rate=1e-2), exp / "config.json")
    train(
        filelist,
        exp / "config.json",
        tmp_path / "state",
        options(epochs=10, save_every_epoch=10, log_interval=1000),
    )
    mel = [float(r["loss_mel"]) for r in tsv_rows(tmp_path / "state")]
    assert np.mean(mel[-3:]) < 0.85 * np.mean(mel[:3]), mel


def test_options_round_trip_through_the_command_line():
    """What train_experiment passes to torchrun parses back into the same options."""
    from rvc_pipeline.training.cli import _parse_args

    chosen = options(f0=False, keep_latest_only=True, epochs=7, pretrained_g="g.pth", warm_start=None)
    _, parsed = _parse_args(["--filelist", "f", "--config", "c", "--state-dir", "s", "--options", chosen.to_json()])
    assert parsed == chosen


def test_a_pretrained_g_of_another_rate_is_refused_with_model_rvc(tmp_path):
    # RVC's f0G40k.pth given to a 32k experiment: the upsampling layers differ in shape
    path = tmp_path / "f0G40k.pth"
    torch.manual_seed(0)
    g40 = build_synthesizer(ModelConfig.from_hparams(rvc_hparams(40000, "v1")), "v1", True)
    torch.save({"model": {k: v.half() for k, v in g40.state_dict().items()}}, path)
    del g40
    g32 = build_synthesizer(ModelConfig.from_hparams(rvc_hparams(32000, "v1")), "v1", True)
    with pytest.raises(ValueError, match=rf"{path}: does not fit the model .*shape mismatch: dec\."):
        load_state_strict(g32, model_state(load_checkpoint(path), path), path)
