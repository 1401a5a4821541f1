"""Training data as RVC feeds it: filelist entries, aligned tensors, bucketed batches, padding.

Spectrograms are computed on the fly in the loader instead of RVC's ``{n}.spec.pt`` cache beside
the wav: the wav folders are Snakemake outputs (a cache there would be written into another
rule's ``directory()`` output), and one STFT of a 3.7 s clip costs about a millisecond, far less
than a training step.
"""

from __future__ import annotations

import bisect
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from rvc_pipeline.audio import read_wav
from rvc_pipeline.preprocess.buckets import BUCKET_BOUNDARIES, estimated_frames
from rvc_pipeline.models import TrainBatch
from rvc_pipeline.models.mel import MelConfig
from rvc_pipeline.options import TrainOptions
from rvc_pipeline.training.ddp import Ranks
from rvc_pipeline.training.filelist import relocated_path

log = logging.getLogger(__name__)

MAX_PHONE_FRAMES = 900


@dataclass(frozen=True)
class FilelistEntry:
    wav: Path
    feature: Path
    coarse: Path | None  # None without f0
    hz: Path | None
    sid: int


def read_filelist(path: str | os.PathLike, f0: bool) -> list[FilelistEntry]:
    """Parse RVC's filelist (5 fields per line with f0, 3 without).

    The paths are taken in the list's own folder (``relocated_path``), so a run folder that was
    copied or moved trains on its own segments, not on those of the folder it came from.
    """
    expected = 5 if f0 else 3
    experiment_dir = os.path.abspath(Path(path).parent)
    entries = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != expected:
            raise ValueError(
                f"{path}:{number}: {len(fields)} fields, expected {expected} for a model "
                f"{'with' if f0 else 'without'} f0"
            )
        try:
            sid = int(fields[-1])
        except ValueError:
            raise ValueError(f"{path}:{number}: speaker id {fields[-1]!r} is not an integer") from None
        files = [Path(relocated_path(field, experiment_dir)) for field in fields[:-1]]
        coarse, hz = (files[2], files[3]) if f0 else (None, None)
        entries.append(FilelistEntry(files[0], files[1], coarse, hz, sid))
    if not entries:
        raise ValueError(f"{path}: the filelist is empty")
    return entries


class Item(NamedTuple):
    """One aligned clip: spec [F,T], wave [1,N], phone [T,D], pitch [T] int64, pitchf [T], sid."""

    spec: torch.Tensor
    wave: torch.Tensor
    phone: torch.Tensor
    pitch: torch.Tensor | None
    pitchf: torch.Tensor | None
    sid: int


class SegmentDataset(Dataset):
    """RVC's TextAudioLoaderMultiNSFsid (with f0) / TextAudioLoader (without)."""

    def __init__(self, entries: Sequence[FilelistEntry], mel: MelConfig, phone_channels: int) -> None:
        self.entries = list(entries)
        self.mel = mel
        self.phone_channels = phone_channels  # 256 (v1) or 768 (v2)
        self.lengths = [estimated_frames(e.wav, mel.hop_length) for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def _load_npy(self, path: Path) -> np.ndarray:
        try:
            return np.load(path)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read training input ({err})") from err

    def __getitem__(self, index: int) -> Item:
        entry = self.entries[index]
        features = self._load_npy(entry.feature)
        if features.ndim != 2 or features.shape[1] != self.phone_channels:
            raise ValueError(
                f"{entry.feature}: features of shape {features.shape}, the model takes [frames, {self.phone_channels}]"
            )
        phone = np.repeat(features, 2, axis=0)  # 50 -> 100 frames per second
        n = min(len(phone), MAX_PHONE_FRAMES)
        phone_t = torch.from_numpy(phone[:n].astype(np.float32))
        pitch_t = pitchf_t = None
        if entry.coarse is not None and entry.hz is not None:
            pitch_t = torch.from_numpy(self._load_npy(entry.coarse)[:n].astype(np.int64))
            pitchf_t = torch.from_numpy(self._load_npy(entry.hz)[:n].astype(np.float32))

        samples, sr = read_wav(entry.wav)
        if sr != self.mel.sampling_rate:
            raise ValueError(
                f"{entry.wav}: sample rate {sr} does not match the model's {self.mel.sampling_rate}"
            )
        if samples.ndim != 1:
            raise ValueError(f"{entry.wav}: expected a mono wav, got {samples.shape[1]} channels")
        # Float wavs are used as they are: RVC does not divide by max_wav_value.
        wave = torch.from_numpy(samples).unsqueeze(0)
        spec = self.mel.spectrogram(wave).squeeze(0)

        lengths = [len(phone_t), spec.shape[-1]]
        if pitch_t is not None and pitchf_t is not None:
            # RVC ignores f0 length here; a shorter f0 file would silently misalign its padding.
            lengths += [len(pitch_t), len(pitchf_t)]
        frames = min(lengths)
        if frames < spec.shape[-1] or frames < len(phone_t):
            spec = spec[:, :frames]
            wave = wave[:, : frames * self.mel.hop_length]
        phone_t = phone_t[:frames]
        if pitch_t is not None and pitchf_t is not None:
            pitch_t, pitchf_t = pitch_t[:frames], pitchf_t[:frames]
        return Item(spec, wave, phone_t, pitch_t, pitchf_t, entry.sid)


def collate(items: Sequence[Item]) -> TrainBatch:
    """Sort by spectrogram length (longest first) and zero-pad, as RVC's collate does."""
    order = sorted(range(len(items)), key=lambda i: items[i].spec.shape[-1], reverse=True)
    items = [items[i] for i in order]
    count = len(items)
    max_spec = max(it.spec.shape[-1] for it in items)
    max_wave = max(it.wave.shape[-1] for it in items)
    max_phone = max(it.phone.shape[0] for it in items)
    with_f0 = items[0].pitch is not None

    spec = torch.zeros(count, items[0].spec.shape[0], max_spec)
    wave = torch.zeros(count, 1, max_wave)
    phone = torch.zeros(count, max_phone, items[0].phone.shape[1])
    pitch = torch.zeros(count, max_phone, dtype=torch.int64) if with_f0 else None
    pitchf = torch.zeros(count, max_phone) if with_f0 else None
    spec_lengths = torch.zeros(count, dtype=torch.int64)
    wave_lengths = torch.zeros(count, dtype=torch.int64)
    phone_lengths = torch.zeros(count, dtype=torch.int64)
    for i, it in enumerate(items):
        spec[i, :, : it.spec.shape[-1]] = it.spec
        wave[i, :, : it.wave.shape[-1]] = it.wave
        phone[i, : it.phone.shape[0]] = it.phone
        if pitch is not None and pitchf is not None:
            pitch[i, : it.pitch.shape[0]] = it.pitch
            pitchf[i, : it.pitchf.shape[0]] = it.pitchf
        spec_lengths[i], wave_lengths[i], phone_lengths[i] = (
            it.spec.shape[-1],
            it.wave.shape[-1],
            it.phone.shape[0],
        )
    sid = torch.tensor([it.sid for it in items], dtype=torch.int64)
    return TrainBatch(phone, phone_lengths, pitch, pitchf, spec, spec_lengths, wave, wave_lengths, sid)


class BucketSampler(Sampler[list[int]]):
    """RVC's DistributedBucketSampler with ``batch_size`` per replica (RVC multiplies it by the GPU count).

    Clips are grouped into length buckets (lo, hi] so a batch pads little; lengths outside the
    boundaries are skipped (listed in ``skipped``). Each bucket is padded by repetition to a
    multiple of ``num_replicas * batch_size``; every epoch the buckets and then the batch order
    are permuted with a generator seeded by ``seed + epoch``.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        boundaries: Sequence[int] = BUCKET_BOUNDARIES,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        buckets: list[list[int]] = [[] for _ in range(len(boundaries) - 1)]
        self.skipped: list[int] = []
        for index, length in enumerate(lengths):
            b = bisect.bisect_left(boundaries, length) - 1  # bucket b holds (boundaries[b], boundaries[b+1]]
            if 0 <= b < len(buckets):
                buckets[b].append(index)
            else:
                self.skipped.append(index)
        self.buckets = [bucket for bucket in buckets if bucket]
        if not self.buckets:
            raise ValueError(
                f"no clip has a length inside the training buckets ({boundaries[0]}, {boundaries[-1]}]"
            )
        group = num_replicas * batch_size
        self.padded_sizes = [-(-len(bucket) // group) * group for bucket in self.buckets]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        batches = []
        for bucket, padded in zip(self.buckets, self.padded_sizes):
            order = torch.randperm(len(bucket), generator=generator).tolist()
            order = (order * (padded // len(bucket) + 1))[:padded]
            mine = order[self.rank :: self.num_replicas]
            batches += [
                [bucket[i] for i in mine[start : start + self.batch_size]]
                for start in range(0, len(mine), self.batch_size)
            ]
        return iter([batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()])

    def __len__(self) -> int:
        return sum(self.padded_sizes) // (self.num_replicas * self.batch_size)


def data_loader(
    dataset: SegmentDataset, batch_size: int, options: TrainOptions, ranks: Ranks, *, warn: bool = True
) -> DataLoader:
    sampler = BucketSampler(
        dataset.lengths, batch_size, num_replicas=ranks.world, rank=ranks.rank, seed=options.seed
    )
    if sampler.skipped and ranks.main and warn:
        names = ", ".join(str(dataset.entries[i].wav) for i in sampler.skipped[:5])
        log.warning(
            "%d of %d clips are outside the training buckets and are skipped: %s",
            len(sampler.skipped),
            len(dataset),
            names,
        )
    # No persistent workers: each epoch's iterator then draws its worker seed from the global
    # RNG, in a resumed run as in an uninterrupted one.
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=options.num_workers,
        pin_memory=options.device == "cuda",
    )
