"""Speaker embeddings with Resemblyzer 0.1.4's trained encoder (its weights, our code).

The network (GE2E, Wan et al. 2018): a 40-band mel power spectrogram of 16 kHz audio (25 ms
Hann window, 10 ms hop, centred with zero padding, Slaney mel bank, *not* logged) goes through a
3-layer LSTM of 256; the last layer's final hidden state goes through a 256 × 256 linear layer,
a ReLU and unit normalisation. An utterance is cut into partials of 160 frames (1.6 s), 1.3 per
second, the last one kept when it covers at least 75 % of its frames (zero padded); the
utterance's embedding is the normalised mean of the partials' embeddings. Embeddings are
non-negative and of unit length, so the cosine of two of them lies in [0, 1].

Before embedding, Resemblyzer raises quiet audio to -30 dBFS and cuts long silences with
webrtcvad; here silences are cut with the slicer's energy gate (`trim_silences`).
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import threading
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rvc_pipeline.audio import decode_audio, native_sample_rate
from rvc_pipeline.torch_files import diagnose, load_state_strict
from rvc_pipeline.layout import FEATURE_RATE, HOP
from rvc_pipeline.models.mel import mel_filter_bank
from rvc_pipeline.options import SlicerParams
from rvc_pipeline.preprocess.segments import resample_16k
from rvc_pipeline.preprocess.slicer import frame_rms, slice_wave
from rvc_pipeline.pretrained.needs import SPEAKER_ENCODER

log = logging.getLogger(__name__)

N_MELS = 40
WINDOW = 400  # 25 ms at 16 kHz
HIDDEN = 256
LAYERS = 3
EMBEDDING = 256
PARTIAL_FRAMES = 160  # 1.6 s
PARTIALS_PER_S = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1
# The GE2E loss's scale and offset, stored beside the network's weights; embeddings do not use them.
TRAINING_ONLY_KEYS = ("similarity_weight", "similarity_bias")
# Silences longer than 0.2 s are cut to at most 0.1 s on each side, close to what Resemblyzer's VAD keeps
# (its smoothing and dilation keep about 90 ms around speech and gaps up to about 180 ms).
TRIM = SlicerParams(threshold_db=-40.0, min_length_ms=200, min_interval_ms=200, hop_ms=10, max_sil_kept_ms=100)
WEIGHTS = Path(SPEAKER_ENCODER)  # the manifest's place for it
# Below one partial of audio left once silences are cut, the only partial is partly zero padding
# and its score is not the voice's: an LJSpeech clip's first second (0.89 s once cut) scored 0.78
# against the whole clip, its first two (1.89 s) 0.91.
MIN_VOICED = PARTIAL_FRAMES * HOP  # samples at 16 kHz
# A recording whose loudest 25 ms stays below this is silent: raised to -30 dBFS, its noise floor
# would be embedded as if it were a voice.
SILENCE_DBFS = -60.0

_LOAD_LOCK = threading.Lock()


class SpeakerEncoder(nn.Module):
    """Mel power frames [B, T, 40] → unit-length embeddings [B, 256] (Resemblyzer's key names)."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING)

    def forward(self, mels: Tensor) -> Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True)


def mel_power(wav: np.ndarray) -> np.ndarray:
    """Mel power frames [len//160 + 1, 40] (float32) of 16 kHz audio, the encoder's input."""
    audio = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
    spec = torch.stft(
        audio,
        WINDOW,
        hop_length=HOP,
        window=torch.hann_window(WINDOW),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spec.real.pow(2) + spec.imag.pow(2)
    basis = torch.from_numpy(mel_filter_bank(FEATURE_RATE, WINDOW, N_MELS).copy())
    return (basis @ power).T.numpy()


def partial_starts(n_samples: int) -> list[int]:
    """First mel frame of each partial of an utterance of ``n_samples`` (Resemblyzer's slicing).

    Partials start every round(16000 / 1.3 / 160) frames; the last is dropped when less than 75 %
    of its samples are audio, unless it is the only one.
    """
    n_frames = -(-(n_samples + 1) // HOP)
    step = round(FEATURE_RATE / PARTIALS_PER_S / HOP)
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


def normalise_volume(wav: np.ndarray) -> np.ndarray:
    """Raise audio quieter than -30 dBFS (RMS) to it; louder audio is left as it is."""
    rms = float(np.sqrt(np.mean(np.square(wav * INT16_MAX, dtype=np.float64))))
    if rms == 0.0:
        return wav
    change_db = TARGET_DBFS - 20 * np.log10(rms / INT16_MAX)
    return wav if change_db < 0 else (wav * 10 ** (change_db / 20)).astype(np.float32)


def trim_silences(wav: np.ndarray) -> np.ndarray:
    """16 kHz audio with silences longer than 0.2 s cut, keeping at most 0.1 s on each side
    (the slicer's energy gate at -40 dB, cutting at the quietest frames)."""
    pieces = slice_wave(wav, FEATURE_RATE, TRIM)
    return np.concatenate(pieces) if pieces else wav[:0]


def prepare(wav: np.ndarray) -> np.ndarray:
    """What is embedded of 16 kHz audio: raised to -30 dBFS when quieter, long silences cut."""
    return trim_silences(normalise_volume(np.asarray(wav, dtype=np.float32)))


def too_little_voice(wav16k: np.ndarray, prepared: np.ndarray) -> str | None:
    """Why the embedding of 16 kHz audio (``prepared`` by `prepare`) would not describe a voice,
    or None: silent, or less than one partial (1.6 s) of audio once silences are cut."""
    loudest = float(frame_rms(np.asarray(wav16k, dtype=np.float32), WINDOW, HOP).max(initial=0.0))
    if len(prepared) == 0 or loudest < 10 ** (SILENCE_DBFS / 20):
        return f"silent (nothing louder than {SILENCE_DBFS:g} dBFS)"
    if len(prepared) < MIN_VOICED:
        return (
            f"too short: {len(prepared) / FEATURE_RATE:.2f} s of audio once silences are cut, "
            f"less than one {MIN_VOICED / FEATURE_RATE:g} s partial"
        )
    return None


def embed_prepared(encoder: SpeakerEncoder, wav: np.ndarray) -> np.ndarray:
    """Unit-length float32 [256] embedding of prepared 16 kHz audio: the mean of its partials'."""
    starts = partial_starts(len(wav))
    padded_length = (starts[-1] + PARTIAL_FRAMES) * HOP
    wav = np.pad(wav, (0, max(0, padded_length - len(wav))))
    mels = mel_power(wav)
    batch = torch.from_numpy(np.stack([mels[s : s + PARTIAL_FRAMES] for s in starts]))
    with torch.inference_mode():
        partials = encoder(batch).numpy()
    mean = partials.mean(axis=0)
    return mean / np.linalg.norm(mean)


def embed(encoder: SpeakerEncoder, wav16k: np.ndarray) -> np.ndarray:
    """Unit-length float32 [256] speaker embedding of 16 kHz audio (`prepare`, then `embed_prepared`).

    Audio that is all silence is embedded as 1.6 s of zeros, as Resemblyzer does when its voice
    detector finds nothing: a fixed embedding, far from any voice (0.36 to LJSpeech).
    """
    return embed_prepared(encoder, prepare(wav16k))


def read_16k(path: str | os.PathLike) -> np.ndarray:
    """A recording decoded at its own rate and resampled to 16 kHz as the 16 kHz segments are (soxr HQ)."""
    sr = native_sample_rate(path) or FEATURE_RATE  # an unreadable file fails in decode_audio, naming it
    return resample_16k(decode_audio(path, sr).samples, sr)


def speaker_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two speaker embeddings (1 = the same voice; embeddings are unit length)."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def mean_embedding(embeddings: list[np.ndarray]) -> np.ndarray:
    """A voice's embedding from several of its recordings: the normalised mean (Resemblyzer's ``embed_speaker``)."""
    mean = np.mean(embeddings, axis=0)
    return mean / np.linalg.norm(mean)


def encoder_from_file(path: str | os.PathLike) -> SpeakerEncoder:
    """`SpeakerEncoder` holding Resemblyzer's ``pretrained.pt`` at ``path``, read with
    ``weights_only=True``; missing or unexpected keys and wrong shapes are errors naming the file."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch checkpoint: {diagnose(path, err)}") from err
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not Resemblyzer's speaker encoder (no 'model_state' dict)")
    state = {key: value for key, value in state.items() if key not in TRAINING_ONLY_KEYS}
    encoder = SpeakerEncoder()
    load_state_strict(encoder, state, path)
    return encoder.float().eval()


@functools.lru_cache(maxsize=2)
def _load_cached(path: Path, mtime_ns: int) -> SpeakerEncoder:
    log.info("loading the speaker encoder %s", path)
    return encoder_from_file(path)


def load_speaker_encoder(weights: str | os.PathLike = WEIGHTS) -> SpeakerEncoder:
    """The encoder for ``weights``, loaded once per process (a replaced file is reloaded).

    FileNotFoundError naming ``rvc-pipeline pretrained fetch speaker_encoder`` when it is absent.
    """
    path = Path(weights).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"speaker encoder weights not found at {weights}: run `rvc-pipeline pretrained fetch speaker_encoder`"
        )
    with _LOAD_LOCK:
        return _load_cached(path, path.stat().st_mtime_ns)


def optional_speaker_encoder(weights: str | os.PathLike | None, measure: str) -> SpeakerEncoder | None:
    """The encoder for ``weights`` (default `WEIGHTS`), or None with one warning that ``measure``
    is not measured when its weights are absent."""
    try:
        return load_speaker_encoder(weights or WEIGHTS)
    except FileNotFoundError as missing:
        log.warning("%s is not measured: %s", measure, missing)
        return None
