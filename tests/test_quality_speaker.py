"""The speaker encoder: Resemblyzer's numbers, its slicing, our trimming, strict loading, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import harmonic_tone, need_shared_data, need_shared_parity
from rvc_pipeline import cli
from rvc_pipeline.audio import write_wav
from rvc_pipeline.quality.speaker import (
    SpeakerEncoder,
    embed,
    embed_prepared,
    encoder_from_file,
    load_speaker_encoder,
    mean_embedding,
    normalise_volume,
    partial_starts,
    prepare,
    read_16k,
    speaker_similarity,
    too_little_voice,
    trim_silences,
)

SR = 16000


@pytest.mark.network
def test_embeddings_equal_resemblyzers(speaker_encoder_weights):
    """On the pack's clips as Resemblyzer prepared them: cosine ≥ 0.9999, max abs difference ≤ 1e-4."""
    pack = np.load(need_shared_parity("pitch.npz"))
    encoder = load_speaker_encoder(speaker_encoder_weights)
    for clip in ("clip0", "clip1", "clip2"):
        expected = pack[f"{clip}/resemblyzer_embedding"]
        ours = embed_prepared(encoder, pack[f"{clip}/resemblyzer_wav"])
        assert ours.shape == (256,) and ours.dtype == np.float32
        assert speaker_similarity(ours, expected) >= 0.9999, clip
        assert np.abs(ours - expected).max() <= 1e-4, clip


@pytest.mark.network
def test_our_silence_trimming_changes_the_embedding_little(speaker_encoder_weights):
    """Cutting silences with the slicer's gate instead of webrtcvad: measured cosines to Resemblyzer's
    own embeddings 0.987, 0.997, 0.997 (untrimmed audio: 0.981, 0.997, 0.967)."""
    pack = np.load(need_shared_parity("pitch.npz"))
    encoder = load_speaker_encoder(speaker_encoder_weights)
    for clip in ("clip0", "clip1", "clip2"):
        audio = pack[f"{clip}/audio"]
        ours = embed(encoder, audio)
        assert len(trim_silences(audio)) < len(audio), clip
        assert speaker_similarity(ours, pack[f"{clip}/resemblyzer_embedding"]) >= 0.985, clip


def _speakers() -> dict[str, list]:
    data = need_shared_data()
    speakers = {folder.name: sorted(folder.glob("*.flac")) for folder in sorted((data / "librispeech").iterdir())
                if folder.is_dir()}
    speakers["ljspeech"] = sorted((data / "ljspeech").glob("*.wav"))[:10]
    return speakers


@pytest.mark.network
def test_speakers_are_told_apart(speaker_encoder_weights):
    """5 LibriSpeech speakers and LJSpeech, 10 clips each: a clip is nearest to its own speaker's
    mean (leaving the clip out of it) for at least 90 % of clips."""
    encoder = load_speaker_encoder(speaker_encoder_weights)
    speakers = _speakers()
    assert len(speakers) == 6 and all(len(clips) == 10 for clips in speakers.values())
    embeddings = {name: [embed(encoder, read_16k(path)) for path in clips] for name, clips in speakers.items()}
    correct = total = 0
    for name, own in embeddings.items():
        for i, clip in enumerate(own):
            means = {other: mean_embedding(clips) for other, clips in embeddings.items() if other != name}
            means[name] = mean_embedding(own[:i] + own[i + 1 :])
            scores = {other: speaker_similarity(clip, mean) for other, mean in means.items()}
            correct += max(scores, key=scores.get) == name
            total += 1
    assert correct / total >= 0.9, f"{correct} of {total} clips nearest to their own speaker"


def test_partials_follow_resemblyzers_slicing():
    """A partial every 77 frames; the last kept when 75 % of it is audio, the only one always."""
    assert partial_starts(int(3.7 * SR)) == [0, 77, 154, 231]  # last covers 86.9 %
    assert partial_starts(2 * SR) == [0, 77]  # last covers 76.9 %
    assert partial_starts(int(1.9 * SR)) == [0]  # 70.6 %: dropped
    assert partial_starts(SR // 2) == [0]


def test_quiet_audio_is_raised_to_minus_30_dbfs_and_loud_audio_kept():
    quiet = harmonic_tone(200, 1.0, SR, amplitude=0.001)
    raised = normalise_volume(quiet)
    assert 20 * np.log10(np.sqrt(np.mean(raised.astype(np.float64) ** 2))) == pytest.approx(-30, abs=1e-3)
    loud = harmonic_tone(200, 1.0, SR, amplitude=0.5)
    assert normalise_volume(loud) is loud


def test_long_silences_are_cut_to_at_most_a_tenth_of_a_second_each_side():
    tone = harmonic_tone(200, 1.0, SR)
    wav = np.concatenate([tone, np.zeros(SR, np.float32), tone, np.zeros(SR // 10, np.float32), tone])
    removed = len(wav) - len(trim_silences(wav))
    # The 1 s gap keeps up to 0.1 s on each side (cut at its quietest frames: in digital silence,
    # the first ones); the 0.1 s gap stays whole. Measured: 0.13 s of the 1 s gap kept.
    assert 0.8 * SR <= removed <= 0.9 * SR


def _save(tmp_path, state):
    path = tmp_path / "encoder.pt"
    torch.save({"step": 1, "model_state": state}, path)
    return path


def test_weights_load_strictly(tmp_path):
    torch.manual_seed(0)
    state = SpeakerEncoder().state_dict()
    good = {**state, "similarity_weight": torch.ones(1), "similarity_bias": torch.zeros(1)}
    encoder = encoder_from_file(_save(tmp_path, good))
    assert all(torch.equal(encoder.state_dict()[key], value) for key, value in state.items())
    with pytest.raises(ValueError, match=r"encoder\.pt: does not fit the model .*1 missing from file: linear\.bias"):
        encoder_from_file(_save(tmp_path, {k: v for k, v in state.items() if k != "linear.bias"}))
    with pytest.raises(ValueError, match="1 unexpected in file: extra"):
        encoder_from_file(_save(tmp_path, {**state, "extra": torch.zeros(1)}))
    with pytest.raises(ValueError, match=r"1 shape mismatch: linear\.bias: file \(128,\) vs model \(256,\)"):
        encoder_from_file(_save(tmp_path, {**state, "linear.bias": torch.zeros(128)}))
    path = tmp_path / "other.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match="no 'model_state' dict"):
        encoder_from_file(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"other\.pt: not a readable torch checkpoint"):
        encoder_from_file(path)


def test_embeddings_are_unit_length_and_a_voice_is_similar_to_itself(tmp_path):
    torch.manual_seed(0)
    encoder = SpeakerEncoder().eval()
    wav = harmonic_tone(180, 3.0, SR)
    embedding = embed(encoder, wav)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-6)
    assert speaker_similarity(embedding, embed(encoder, wav)) == pytest.approx(1.0, abs=1e-6)
    # Audio quieter than -30 dBFS is raised to it, so its level does not matter; louder audio is kept.
    quiet = embed(encoder, 0.001 * wav)
    assert speaker_similarity(quiet, embed(encoder, 0.002 * wav)) == pytest.approx(1.0, abs=1e-6)
    assert speaker_similarity(quiet, embedding) < 0.9999


@pytest.mark.network
def test_silence_is_embedded_far_from_a_voice(speaker_encoder_weights):
    encoder = load_speaker_encoder(speaker_encoder_weights)
    assert len(trim_silences(np.zeros(2 * SR, np.float32))) == 0
    silence = embed(encoder, np.zeros(2 * SR, np.float32))
    assert np.linalg.norm(silence) == pytest.approx(1.0, abs=1e-6)
    voice = embed(encoder, read_16k(_speakers()["ljspeech"][0]))
    assert speaker_similarity(silence, voice) < 0.5


def test_similarity_without_weights_names_the_fetch_command(tmp_path, capsys):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    for path in (a, b):
        write_wav(path, harmonic_tone(200, 1.0, SR), SR)
    assert cli.main(["similarity", str(a), str(b), "--weights", str(tmp_path / "none.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rvc-pipeline pretrained fetch speaker_encoder" in err[0]


@pytest.mark.network
def test_similarity_of_every_pair(speaker_encoder_weights, capsys):
    clips = [*_speakers()["1688"][:2], _speakers()["ljspeech"][0]]
    args = ["similarity", *map(str, clips), "--weights", str(speaker_encoder_weights), "--json"]
    assert cli.main(args) == 0
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert [(p["a"], p["b"]) for p in pairs] == [(str(clips[0]), str(clips[1])), (str(clips[0]), str(clips[2])),
                                                (str(clips[1]), str(clips[2]))]
    same, other = pairs[0]["similarity"], max(pairs[1]["similarity"], pairs[2]["similarity"])
    assert 0 <= other < same <= 1


def _verdict(wav: np.ndarray) -> str | None:
    return too_little_voice(wav, prepare(wav))


def test_silent_or_short_audio_is_told_apart_from_a_voice():
    """Silent: nothing above -60 dBFS (digital silence, a quiet room's hiss); too short: less than one
    1.6 s partial once silences are cut, however long the file."""
    hiss = np.random.default_rng(0).normal(0, 10 ** (-70 / 20), 5 * SR).astype(np.float32)
    for silent in (np.zeros(3 * SR, np.float32), np.zeros(SR // 10, np.float32), hiss,
                   harmonic_tone(200, 3.0, SR, amplitude=0.0005)):
        assert _verdict(silent) == "silent (nothing louder than -60 dBFS)"
    assert _verdict(harmonic_tone(200, 0.1, SR)) == (
        "too short: 0.10 s of audio once silences are cut, less than one 1.6 s partial"
    )
    gap = np.zeros(3 * SR, np.float32)
    # 1.3 s of tone in a 7.3 s file: 0.13 s of the gaps around it is kept.
    assert _verdict(np.concatenate([gap, harmonic_tone(200, 1.3, SR), gap])).startswith("too short: 1.43 s")
    assert _verdict(harmonic_tone(200, 1.6, SR)) is None
    assert _verdict(harmonic_tone(200, 3.0, SR, amplitude=0.002)) is None  # quiet, not silent: raised


@pytest.fixture
def random_encoder_file(tmp_path):
    torch.manual_seed(0)
    return _save(tmp_path, SpeakerEncoder().state_dict())


def test_similarity_leaves_out_silent_and_short_files_and_pairs_a_file_with_itself(tmp_path, random_encoder_file, capsys):
    """`similarity a silent short` once scored the silent file and a 0.1 s tone like voices, and
    `similarity a a` printed nothing."""
    files = {
        "a": harmonic_tone(180, 3.0, SR),
        "b": harmonic_tone(230, 3.0, SR),
        "silent": np.zeros(3 * SR, np.float32),
        "short": harmonic_tone(200, 0.1, SR),
    }
    path = {}
    for name, wav in files.items():
        path[name] = tmp_path / f"{name}.wav"
        write_wav(path[name], wav, SR)

    def similarity(*names: str) -> tuple[int, dict, list[str]]:
        args = ["similarity", *(str(path[n]) for n in names), "--weights", str(random_encoder_file), "--json"]
        status = cli.main(args)
        out, err = capsys.readouterr()
        return status, json.loads(out) if out else {}, err.splitlines()

    status, result, err = similarity("a", "silent", "b", "short")
    assert status == 0
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [(str(path["a"]), str(path["b"]))]
    assert result["left_out"] == [
        {"file": str(path["silent"]), "reason": "silent (nothing louder than -60 dBFS)"},
        {"file": str(path["short"]), "reason": "too short: 0.10 s of audio once silences are cut, "
                                               "less than one 1.6 s partial"},
    ]
    assert err == [f"rvc-pipeline similarity: warning: {path[n]}: {r['reason']}: left out"
                   for n, r in zip(("silent", "short"), result["left_out"])]

    status, result, err = similarity("a", "a")
    assert status == 0 and err == []
    assert result["pairs"] == [{"a": str(path["a"]), "b": str(path["a"]), "similarity": 1.0}]
    status, result, _ = similarity("a", "b", "a")
    assert [(p["a"], p["b"]) for p in result["pairs"]] == [(str(path["a"]), str(path["b"])),
                                                          (str(path["a"]), str(path["a"]))]

    status, result, err = similarity("a", "silent")
    assert status == 1 and result == {}
    assert err[-1] == "rvc-pipeline similarity: error: fewer than two recordings left to compare (1 left out)"
