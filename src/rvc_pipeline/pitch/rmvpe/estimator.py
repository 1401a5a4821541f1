"""Running RMVPE on 16 kHz audio: whole inputs as RVC does, batches of equal length, windows beyond a bound.

RVC runs one input at a time, zero-padding its log-mel on the right to a multiple of 32 frames.
Inputs padded to the same frame count can therefore share a batch and give RVC's numbers; inputs
of different padded lengths never do (more zero frames change the bidirectional GRU's output).

Memory goes to the U-Net's activations (about 92 kB per frame), not to the GRU. An input longer
than ``max_frames`` runs the U-Net in windows of at most that many frames, each with ``context``
frames on both sides beyond the part it keeps; the GRU then runs once over the whole input, so
only the U-Net's (bounded) reach is cut, never the GRU's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from rvc_pipeline.pitch.rmvpe.decode import THRESHOLD, salience_to_hz
from rvc_pipeline.layout import HOP
from rvc_pipeline.pitch.rmvpe.mel import N_FFT, log_mel, n_frames
from rvc_pipeline.pitch.rmvpe.network import FRAME_MULTIPLE, Rmvpe

log = logging.getLogger(__name__)

# Frames in one U-Net pass (batch size × padded length): about 1.5 GB of activations in fp32
# (measured on CPU: 92 kB per frame), RVC's whole-input pass up to 2.7 minutes of audio.
MAX_FRAMES = 32 * 512
# Context on each side of a window. The U-Net's reach is about ±1600 frames in theory; measured
# (formula weights), a frame's features move by less than fp32 noise once the window edge is
# 512 frames away. 640 keeps a margin.
CONTEXT_FRAMES = 32 * 20
MIN_SAMPLES = N_FFT // 2 + 1  # the centred STFT reflects half a window at each end


def padded_frames(frames: int) -> int:
    """``frames`` rounded up to the network's multiple of 32."""
    return -(-frames // FRAME_MULTIPLE) * FRAME_MULTIPLE


def plan_batches(lengths: Sequence[int], max_frames: int = MAX_FRAMES) -> list[list[int]]:
    """Indices of audio ``lengths`` (samples) grouped into batches of one padded frame count.

    A batch holds at most ``max_frames`` frames in all (but always at least one input); batches
    come in order of first appearance, inputs in each in their given order.
    """
    groups: dict[int, list[int]] = defaultdict(list)
    for i, length in enumerate(lengths):
        groups[padded_frames(n_frames(length))].append(i)
    batches = []
    for frames, indices in groups.items():
        size = max(1, max_frames // frames)
        batches += [indices[i : i + size] for i in range(0, len(indices), size)]
    return batches


def chunk_spans(frames: int, max_frames: int = MAX_FRAMES, context: int = CONTEXT_FRAMES) -> list[tuple[int, int, int, int]]:
    """``(start, stop, keep_start, keep_stop)`` windows covering ``frames`` frames.

    One window when the padded input fits ``max_frames``. Otherwise windows of at most
    ``max_frames`` frames, each starting on a multiple of 32 (so the poolings see the same grid as
    the whole input) with ``context`` frames before and after the part it keeps (none at the ends).
    """
    if max_frames % FRAME_MULTIPLE or context % FRAME_MULTIPLE or max_frames <= 2 * context:
        raise ValueError(
            f"max_frames ({max_frames}) and context ({context}) must be multiples of {FRAME_MULTIPLE}, "
            "with max_frames > 2·context"
        )
    if padded_frames(frames) <= max_frames:
        return [(0, frames, 0, frames)]
    spans = []
    keep_start = 0
    while keep_start < frames:
        start = max(0, keep_start - context)
        stop = min(frames, start + max_frames)
        keep_stop = stop if stop == frames else stop - context
        spans.append((start, stop, keep_start, keep_stop))
        keep_start = keep_stop
    return spans


class PitchEstimator:
    """RMVPE weights on a device: 16 kHz audio -> salience [T, 360] -> f0 in Hz, T = len//160 + 1."""

    def __init__(self, net: Rmvpe, device: str = "cpu", max_frames: int = MAX_FRAMES, context: int = CONTEXT_FRAMES):
        chunk_spans(0, max_frames, context)  # checks the bound and the context
        self.net = net.to(device).eval()
        self.device = torch.device(device)
        self.max_frames = max_frames
        self.context = context

    def _mel(self, audio: np.ndarray, start: int, stop: int) -> torch.Tensor:
        """Log-mel [128, stop - start] of frames start..stop of the whole input ``audio``."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or len(audio) < MIN_SAMPLES:
            raise ValueError(f"RMVPE needs mono audio of at least {MIN_SAMPLES} samples, got shape {audio.shape}")
        # Frame k of the centred STFT starts at sample 160·k of the audio reflect-padded by 512.
        first, last = start * HOP - N_FFT // 2, (stop - 1) * HOP + N_FFT // 2
        left, right = max(0, -first), max(0, last - len(audio))
        piece = np.pad(audio[max(0, first) : last], (left, right), mode="reflect") if left or right else audio[first:last]
        return log_mel(torch.from_numpy(np.ascontiguousarray(piece)).to(self.device)[None], center=False)[0]

    def _features(self, mels: list[torch.Tensor]) -> torch.Tensor:
        """U-Net features [B, P, 384] of log-mels zero-padded on the right to one multiple of 32, P."""
        frames = padded_frames(max(mel.shape[-1] for mel in mels))
        return self.net.features(torch.stack([F.pad(mel, (0, frames - mel.shape[-1])) for mel in mels]))

    @torch.inference_mode()
    def salience(self, audio: np.ndarray) -> np.ndarray:
        """Salience [len//160 + 1, 360] of one input, the U-Net in windows if it is longer than the bound."""
        frames = n_frames(len(audio))
        spans = chunk_spans(frames, self.max_frames, self.context)
        if len(spans) > 1:
            log.info("RMVPE: %d frames in %d windows of at most %d", frames, len(spans), self.max_frames)
        parts = []
        for start, stop, keep_start, keep_stop in spans:
            features = self._features([self._mel(audio, start, stop)])[0]
            # the last window keeps the zero-padded tail too: RVC's GRU runs over it
            parts.append(features[keep_start - start : None if keep_stop == frames else keep_stop - start])
        return self.net.fc(torch.cat(parts)[None])[0, :frames].float().cpu().numpy()

    @torch.inference_mode()
    def salience_many(self, audios: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Salience of each input; inputs of the same padded length run as one batch."""
        out: list[np.ndarray] = [np.empty(0)] * len(audios)
        for batch in plan_batches([len(a) for a in audios], self.max_frames):
            if len(batch) == 1:  # also every input beyond the bound
                out[batch[0]] = self.salience(audios[batch[0]])
                continue
            frames = [n_frames(len(audios[i])) for i in batch]
            hidden = self.net.fc(self._features([self._mel(audios[i], 0, n) for i, n in zip(batch, frames)]))
            hidden = hidden.float().cpu().numpy()
            for row, (i, n) in enumerate(zip(batch, frames)):
                out[i] = hidden[row, :n]
        return out

    def runs(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of inputs of these lengths (samples) in the runs ``f0_many`` takes as one
        batch each (``pitch.device`` hands them over so)."""
        return plan_batches(lengths, self.max_frames)

    def f0(self, audio: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
        """f0 in Hz (float64, 0 = unvoiced), one value per 10 ms: ``len(audio)//160 + 1`` values."""
        return salience_to_hz(self.salience(audio), threshold)

    def f0_many(self, audios: Sequence[np.ndarray], threshold: float = THRESHOLD) -> list[np.ndarray]:
        """``f0`` of each input, batched."""
        return [salience_to_hz(hidden, threshold) for hidden in self.salience_many(audios)]
