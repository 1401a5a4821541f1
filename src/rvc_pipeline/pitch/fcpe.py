"""FCPE pitch from torchfcpe's bundled weights, with the settings Applio and rvc-next train with.

16 kHz audio -> log-mel as torchfcpe computes it (1024-sample Hann frames every 160 samples, the
audio reflect-padded by 432 samples at each end, magnitude sqrt(re² + im² + 1e-9), Slaney mel bank
0–8000 Hz, log of clamp(·, 1e-5); the last frame repeated so there are ``len//160 + 1``) -> network
salience [frames, 360] -> ``local_argmax`` decoding: the salience-weighted mean of the cents of
the 9 classes around the peak (indices clamped to the table), 0 Hz where the peak is at most the
threshold 0.006.

Inputs run as one pass each, or on a GPU several in one padded batch (sorted by length, at most
``max_frames`` frames per batch; padding never changes a result, see `fcpe_network`). An input
longer than ``max_frames`` runs in windows of at most that many frames, each with ``CONTEXT_FRAMES``
(at least the network's reach) on both sides beyond the part it keeps, after a first pass over the
same windows that sums the GroupNorm statistics of the whole input: the windows give the whole
pass's numbers up to float rounding, with memory bounded by the window.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rvc_pipeline.layout import FEATURE_RATE, HOP
from rvc_pipeline.models.mel import spec_to_mel
from rvc_pipeline.pitch.fcpe_network import (
    N_MELS,
    RECEPTIVE_RADIUS,
    Fcpe,
    group_sums,
    stem_statistics,
)
from rvc_pipeline.pitch.rmvpe.estimator import FRAME_MULTIPLE, chunk_spans

log = logging.getLogger(__name__)

N_FFT = 1024
FMIN, FMAX = 0.0, 8000.0
PAD = (N_FFT - HOP) // 2  # 432 samples before and (for inputs longer than that) after the audio
MAGNITUDE_EPS = 1e-9
THRESHOLD = 0.006  # Applio's and rvc-next's: a frame is voiced when its peak salience is above it
LOCAL_BINS = 4  # local_argmax: the peak and 4 classes on each side
# Frames in one network pass (batch × frames); about 40 kB each on CPU in fp32, so about 0.7 GB.
MAX_FRAMES = 32 * 512
# The network's reach (92 frames) rounded up to the window grid that `chunk_spans` keeps.
CONTEXT_FRAMES = -(-RECEPTIVE_RADIUS // FRAME_MULTIPLE) * FRAME_MULTIPLE
# The checkpoint's mel settings this front-end implements; another file is refused.
MEL_SETTINGS = {"sr": FEATURE_RATE, "num_mels": N_MELS, "n_fft": N_FFT, "win_size": N_FFT, "hop_size": HOP,
                "fmin": FMIN, "fmax": FMAX}

_LOAD_LOCK = threading.Lock()


def n_frames(n_samples: int) -> int:
    """f0 values of ``n_samples`` of 16 kHz audio: ``n_samples // 160 + 1``."""
    return n_samples // HOP + 1


def padded_audio(audio: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Samples ``start..stop`` of ``audio`` padded as torchfcpe pads it: by 432 on the left and
    max(432, 592 - len) on the right, reflected when that is shorter than the audio, else zeros."""
    n = len(audio)
    index = np.arange(start, stop) - PAD
    if max(PAD, N_FFT - PAD - n) < n:
        index = np.abs(index)
        return audio[np.where(index >= n, 2 * (n - 1) - index, index)]
    inside = (index >= 0) & (index < n)
    piece = np.zeros(len(index), dtype=audio.dtype)
    piece[inside] = audio[index[inside]]
    return piece


def log_mel(audio: np.ndarray, start: int, stop: int, device: torch.device) -> Tensor:
    """Log-mel [stop - start, 128] of frames ``start..stop`` of the whole input ``audio``."""
    stft_frames = max(len(audio) // HOP, 1)  # the package's STFT gives one frame fewer than n_frames
    last = min(stop, stft_frames)
    piece = torch.from_numpy(padded_audio(audio, start * HOP, (last - 1) * HOP + N_FFT)).to(device)
    spec = torch.stft(
        piece,
        N_FFT,
        hop_length=HOP,
        window=torch.hann_window(N_FFT, device=device),
        center=False,
        return_complex=True,
    )
    magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + MAGNITUDE_EPS)
    mel = spec_to_mel(magnitude, N_FFT, N_MELS, FEATURE_RATE, FMIN, FMAX).T
    if stop > last:  # the final frame repeats the last one
        mel = torch.cat([mel, mel[-1:].expand(stop - last, -1)])
    return mel


def decode(salience: Tensor, cent_table: Tensor, threshold: float = THRESHOLD) -> Tensor:
    """f0 in Hz (float32, 0 = unvoiced) of salience [..., 360] by local_argmax."""
    peak, top = salience.max(dim=-1, keepdim=True)
    bins = (top + torch.arange(-LOCAL_BINS, LOCAL_BINS + 1, device=top.device)).clamp(0, len(cent_table) - 1)
    weights = salience.gather(-1, bins)
    cents = (cent_table[bins] * weights).sum(-1) / weights.sum(-1)
    return torch.where(peak[..., 0] > threshold, 10.0 * 2.0 ** (cents / 1200.0), 0.0)


def plan_batches(lengths: Sequence[int], max_frames: int = MAX_FRAMES) -> list[list[int]]:
    """Indices of audio ``lengths`` (samples) in batches, shortest first, of at most ``max_frames``
    padded frames (batch size × its longest input); an input longer than that is a batch alone."""
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if batches and (len(batches[-1]) + 1) * n_frames(lengths[i]) <= max_frames:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class FcpeEstimator:
    """FCPE weights on a device: 16 kHz audio -> salience [len//160 + 1, 360] -> f0 in Hz."""

    def __init__(
        self,
        net: Fcpe,
        device: str = "cpu",
        max_frames: int = MAX_FRAMES,
        context: int = CONTEXT_FRAMES,
        batch: bool | None = None,
    ):
        """``batch``: run several inputs in one padded pass; by default on GPUs only (on CPU, measured,
        a batch is no faster than its inputs one by one, and the padding costs)."""
        if context < RECEPTIVE_RADIUS:
            raise ValueError(f"context ({context}) must be at least the network's reach ({RECEPTIVE_RADIUS} frames)")
        chunk_spans(0, max_frames, context)  # checks the bound against the context
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.max_frames = max_frames
        self.context = context
        self.batch = self.device.type != "cpu" if batch is None else batch

    def _stem(self, audio: np.ndarray, start: int, stop: int) -> Tensor:
        """`Fcpe.stem_conv` [1, 512, stop - start] of frames ``start..stop`` of the whole input ``audio``."""
        return self.net.stem_conv(log_mel(audio, start, stop, self.device)[None])

    def _batch(self, audios: Sequence[np.ndarray]) -> list[Tensor]:
        """Salience of inputs that each fit one pass, run as one zero-padded batch."""
        frames = [n_frames(len(audio)) for audio in audios]
        lengths = torch.tensor(frames, device=self.device)
        mels = [log_mel(audio, 0, n, self.device) for audio, n in zip(audios, frames)]
        mel = torch.nn.utils.rnn.pad_sequence(mels, batch_first=True)  # zeros: the stem conv's padding
        mask = None
        if len(set(frames)) > 1:
            mask = (torch.arange(mel.shape[1], device=self.device) < lengths[:, None]).float()[:, None]
        stem = self.net.stem_conv(mel)
        mean, rstd = stem_statistics(*group_sums(stem, mask), lengths)
        salience = self.net(stem, mean, rstd, mask)
        return [salience[row, :n] for row, n in enumerate(frames)]

    def _windows(self, audio: np.ndarray) -> Tensor:
        """Salience of an input longer than one pass: GroupNorm statistics over all windows, then the windows."""
        frames = n_frames(len(audio))
        spans = chunk_spans(frames, self.max_frames, self.context)
        log.info("FCPE: %d frames in %d windows of at most %d", frames, len(spans), self.max_frames)
        sums = squares = 0
        for start, stop, keep_start, keep_stop in spans:
            kept = self._stem(audio, start, stop)[..., keep_start - start : keep_stop - start]
            window_sums, window_squares = group_sums(kept)
            sums, squares = sums + window_sums, squares + window_squares
        mean, rstd = stem_statistics(sums, squares, torch.tensor([frames], device=self.device))
        parts = []
        for start, stop, keep_start, keep_stop in spans:
            salience = self.net(self._stem(audio, start, stop), mean, rstd)
            parts.append(salience[0, keep_start - start : keep_stop - start])
        return torch.cat(parts)

    @torch.inference_mode()
    def salience_many(self, audios: Sequence[np.ndarray]) -> list[Tensor]:
        """Salience [len//160 + 1, 360] (on the device) of each input, batched; long ones in windows."""
        audios = [np.asarray(audio, dtype=np.float32) for audio in audios]
        for audio in audios:
            if audio.ndim != 1 or len(audio) == 0:
                raise ValueError(f"FCPE needs non-empty mono audio, got shape {audio.shape}")
        out: list[Tensor] = [torch.empty(0)] * len(audios)
        lengths = [len(audio) for audio in audios]
        for batch in plan_batches(lengths, self.max_frames) if self.batch else [[i] for i in range(len(audios))]:
            if n_frames(len(audios[batch[0]])) > self.max_frames:
                out[batch[0]] = self._windows(audios[batch[0]])
                continue
            for i, salience in zip(batch, self._batch([audios[i] for i in batch])):
                out[i] = salience
        return out

    @torch.inference_mode()
    def f0_many(self, audios: Sequence[np.ndarray], threshold: float = THRESHOLD) -> list[np.ndarray]:
        """f0 in Hz (float32, 0 = unvoiced) of each input: ``len//160 + 1`` values, one per 10 ms."""
        return [decode(s, self.net.cent_table, threshold).cpu().numpy() for s in self.salience_many(audios)]

    def f0(self, audio: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
        """``f0_many`` of one input (the pitch registry's estimator interface)."""
        return self.f0_many([audio], threshold)[0]


def read_checkpoint(path: str | os.PathLike) -> dict[str, Tensor]:
    """The network state of torchfcpe's ``fcpe_c_v001.pt``, read with ``weights_only=True``, after
    checking that its mel settings are the ones `log_mel` computes."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch checkpoint: {err}") from err
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ValueError(f"{path}: expected torchfcpe's checkpoint (a dict with 'model' and 'config_dict')")
    mel = (checkpoint.get("config_dict") or {}).get("mel") or {}
    differing = {key: mel.get(key) for key, value in MEL_SETTINGS.items() if mel.get(key) != value}
    if differing:
        raise ValueError(f"{path}: mel settings {differing} differ from FCPE's bundled model's {MEL_SETTINGS}")
    return checkpoint["model"]


def fcpe_network(path: str | os.PathLike) -> Fcpe:
    """`Fcpe` holding the weights of ``path``; missing or unexpected keys and shape mismatches are errors."""
    state = read_checkpoint(path)
    with torch.device("meta"):  # shapes only; the weights are assigned from the file
        net = Fcpe()
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        details = " ".join(str(err).split())  # torch's message spans lines
        raise ValueError(f"{path}: not FCPE's bundled weights (fcpe_c_v001.pt): {details}") from err
    return net.eval()


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path, mtime_ns: int, device: str) -> FcpeEstimator:
    log.info("loading FCPE weights %s on %s", path, device)
    return FcpeEstimator(fcpe_network(path), device)


def load_fcpe(weights: str | os.PathLike, device: str = "cpu") -> FcpeEstimator:
    """The estimator for ``weights`` on ``device``, loaded once per process (a replaced file,
    seen by its mtime, is loaded again); concurrent first calls load it once."""
    path = Path(weights).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"FCPE weights not found at {weights} (pretrained key 'fcpe': rvc-pipeline pretrained fetch)"
        )
    with _LOAD_LOCK:
        return _load_cached(path, path.stat().st_mtime_ns, str(device))


def estimate_fcpe_many(
    audios: Sequence[np.ndarray],
    *,
    weights: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
    threshold: float = THRESHOLD,
) -> list[np.ndarray]:
    """f0 in Hz (float32, 0 = unvoiced, ``len//160 + 1`` values) of each 16 kHz input.

    ``threads`` sets torch's intra-op threads (process-wide)."""
    if threads is not None:
        torch.set_num_threads(threads)
    return load_fcpe(weights, device).f0_many(audios, threshold)


def estimate_fcpe(
    audio16k: np.ndarray,
    *,
    weights: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
    threshold: float = THRESHOLD,
) -> np.ndarray:
    """f0 in Hz (float32, 0 = unvoiced) of 16 kHz mono audio: ``len//160 + 1`` values, one per 10 ms."""
    return estimate_fcpe_many([audio16k], weights=weights, device=device, threads=threads, threshold=threshold)[0]
