"""The quality columns of ``losses.tsv``: every held-out rendering of a saved epoch, measured.

The training loop hands each rendering to `HeldOutQuality.add` and writes `HeldOutQuality.columns`
beside ``val_loss_mel``. What does not change between epochs is computed once: the training voice
(the mean embedding of up to `VOICE_SAMPLE` training segments, cached as ``speaker_voice.npz`` in
the state folder and recomputed when the training filelist changes), each recording's embedding
and pitch track. Nothing here draws random numbers or touches the model.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.pitch.classic import compute_f0
from rvc_pipeline.training.filelist import filelist_wavs
from rvc_pipeline.training.history import QUALITY_COLUMNS
from rvc_pipeline.preprocess.segments import resample_16k
from rvc_pipeline.quality.segment import measure_rendering
from rvc_pipeline.quality.speaker import (
    SpeakerEncoder,
    embed,
    mean_embedding,
    optional_speaker_encoder,
    read_16k,
)

log = logging.getLogger(__name__)

VOICE_FILE = "speaker_voice.npz"
# Training segments embedded for the voice, spread evenly over the filelist: the mean of 64
# 3.7 s segments moves by well under 0.01 in cosine when more are added, and costs ~3 s once.
VOICE_SAMPLE = 64
# Both the recording and the rendering are tracked with pm whatever the experiment's f0 method:
# the same tracker on both cancels its own bias, and pm costs ~20 ms a segment where harvest
# costs ~1.4 s (the demo's epoch may grow by at most 10 %).
PITCH_TRACKER = "pm"


def voice_sample(filelist: str | os.PathLike) -> list[Path]:
    """Up to `VOICE_SAMPLE` distinct training wavs of ``filelist`` (its lines' first field), evenly
    spaced over it (no random draw)."""
    wavs = list(dict.fromkeys(filelist_wavs(filelist)))
    step = max(1, math.ceil(len(wavs) / VOICE_SAMPLE))
    return wavs[::step]


def training_voice(encoder: SpeakerEncoder, filelist: str | os.PathLike, state_dir: Path) -> np.ndarray:
    """The mean embedding of the training segments of ``filelist``, from the cache when it was
    made for this filelist's text, else computed and cached."""
    digest = hashlib.sha256(Path(filelist).read_bytes()).hexdigest()
    cache = state_dir / VOICE_FILE
    if cache.is_file():
        with np.load(cache) as stored:
            if str(stored["filelist_sha256"]) == digest:
                return stored["voice"]
    # The filelist's mute lines are silence: no voice to average.
    voiced = [samples for samples in map(read_16k, voice_sample(filelist)) if np.abs(samples).max() > 0]
    if not voiced:
        raise ValueError(f"{filelist}: no training segment with sound to take the voice from")
    voice = mean_embedding([embed(encoder, samples) for samples in voiced])
    with atomic_path(cache, durable=False) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, voice=voice, filelist_sha256=np.array(digest), segments=np.array(len(voiced)))
    log.info("training voice: mean embedding of %d training segments, cached in %s", len(voiced), cache)
    return voice


@dataclass
class _Recording:
    samples: np.ndarray  # 16 kHz
    f0: np.ndarray
    embedding: np.ndarray | None


@dataclass
class HeldOutQuality:
    """Measures the held-out renderings of one epoch against their recordings and the training voice."""

    encoder: SpeakerEncoder | None
    voice: np.ndarray | None
    recordings: dict[Path, _Recording] = field(default_factory=dict)
    measures: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def load(
        cls, filelist: str | os.PathLike, state_dir: Path, weights: str | os.PathLike | None
    ) -> HeldOutQuality:
        """For the training ``filelist``; without the speaker encoder's ``weights`` (default
        `WEIGHTS`) the similarities are left out with one warning."""
        encoder = optional_speaker_encoder(weights, "speaker similarity")
        return cls(encoder, None if encoder is None else training_voice(encoder, filelist, state_dir))

    def _recording(self, wav: Path) -> _Recording:
        if wav not in self.recordings:
            samples = read_16k(wav)
            embedding = None if self.encoder is None else embed(self.encoder, samples)
            self.recordings[wav] = _Recording(samples, compute_f0(samples, PITCH_TRACKER), embedding)
        return self.recordings[wav]

    def add(self, recording: Path, rendering: np.ndarray, sample_rate: int) -> None:
        """Measure one rendering (at ``sample_rate``) of the held-out segment ``recording``."""
        started = time.perf_counter()
        held = self._recording(recording)
        rendering16k = resample_16k(rendering.astype(np.float32), sample_rate)
        self.measures.append(
            measure_rendering(
                rendering16k,
                held.samples,
                encoder=self.encoder,
                voice=self.voice,
                recording_embedding=held.embedding,
                recording_f0=held.f0,
                f0_method=PITCH_TRACKER,
            )
        )
        self.seconds += time.perf_counter() - started

    def columns(self) -> dict[str, str]:
        """The epoch's means as ``losses.tsv`` cells (every quality column; empty when not measured),
        and the measures forgotten for the next epoch."""
        cells = dict.fromkeys(QUALITY_COLUMNS.values(), "")
        for key, column in QUALITY_COLUMNS.items():
            values = [m[key] for m in self.measures if key in m and not math.isnan(m[key])]
            if values:
                cells[column] = repr(float(np.mean(values)))
        if self.measures:
            log.info(
                "quality of %d held-out renderings measured in %.2f s (%.0f ms each)",
                len(self.measures),
                self.seconds,
                1000 * self.seconds / len(self.measures),
            )
        self.measures, self.seconds = [], 0.0
        return cells
