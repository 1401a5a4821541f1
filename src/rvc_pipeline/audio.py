"""Decoding any ffmpeg-readable recording in-process with PyAV, as RVC's ``load_audio`` does with ffmpeg."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.layout import FEATURE_RATE, WAVS_16K


DOWNMIXES = ("auto", "ffmpeg", "average")
# Non-finite samples in runs up to this long are clicks of a broken writer: interpolated. Longer
# runs are a gap in the recording and stay non-finite, so the pieces holding them are dropped.
MAX_REPAIR_MS = 1.0
_FLOAT_FORMATS = {"flt": np.float32, "fltp": np.float32, "dbl": np.float64, "dblp": np.float64}


class AudioDecodeError(ValueError):
    """A source that is not audio, is empty, or cannot be decoded; the message names the file."""


@dataclass
class DecodedAudio:
    """Mono float32 samples plus what went wrong, if the file decoded only in part.

    ``repaired`` counts the non-finite values interpolated from their neighbours, ``nonfinite``
    those left (runs too long to repair), both in the file's own samples (per channel);
    ``downmix`` is the method used for the file's ``channels``.
    """

    samples: np.ndarray
    problem: str = ""
    repaired: int = 0
    nonfinite: int = 0
    channels: int = 1
    downmix: str = "ffmpeg"


def repair_nonfinite(values: np.ndarray, max_run: int) -> tuple[int, int]:
    """Interpolate, in place, runs of at most ``max_run`` non-finite values of a 1-D signal from
    the finite values around them; returns (values repaired, non-finite values left)."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return 0, 0
    good = np.flatnonzero(~bad)
    if len(good) == 0:
        return 0, int(bad.sum())
    edges = np.diff(bad.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    short = ends - starts <= max_run
    fix = np.concatenate([np.arange(a, b) for a, b in zip(starts[short], ends[short])] or [np.zeros(0, int)])
    values[fix] = np.interp(fix, good, values[good])
    return len(fix), int(bad.sum()) - len(fix)


def _repair_frame(frame: av.AudioFrame) -> tuple[int, int]:
    """``repair_nonfinite`` on every channel of a float frame, in its own buffers (integer
    formats cannot hold NaN or infinity)."""
    dtype = _FLOAT_FORMATS.get(frame.format.name)
    if dtype is None:
        return 0, 0
    max_run = max(1, round(frame.sample_rate * MAX_REPAIR_MS / 1000))
    channels = frame.layout.nb_channels
    if frame.format.is_planar:
        planes = [np.frombuffer(plane, dtype, count=frame.samples)[:, None] for plane in frame.planes]
    else:
        planes = [np.frombuffer(frame.planes[0], dtype, count=frame.samples * channels).reshape(-1, channels)]
    repaired = left = 0
    for plane in planes:
        if np.isfinite(plane).all():
            continue
        for column in plane.T:
            fixed, remaining = repair_nonfinite(column, max_run)
            repaired, left = repaired + fixed, left + remaining
    return repaired, left


def _mono(frames: list[av.AudioFrame]) -> list[np.ndarray]:
    """Resampler output as 1-D arrays; packed channels (downmix "average") are averaged."""
    return [out.to_ndarray().reshape(-1, out.layout.nb_channels).mean(axis=1) for out in frames]


def decode_audio(
    path: str | os.PathLike, sr: int, tolerance_s: float = 0.5, downmix: str = "auto"
) -> DecodedAudio:
    """Decode ``path`` to mono float32 at ``sr`` Hz, keeping what decodes of a damaged file.

    Resampling goes through ffmpeg's own swresample (PyAV's ``aresample`` filter) with its
    defaults. ``downmix="ffmpeg"`` lets it downmix too, which is what ``ffmpeg -ac 1 -ar sr -f
    f32le`` (RVC) does: stereo becomes (L+R)·0.7071, but more channels are summed with weights up
    to 1 each, so a loud 8-channel file peaks over 4. ``"average"`` takes the mean of the
    channels; ``"auto"`` is ffmpeg's for mono and stereo and the mean for more channels.
    Isolated non-finite samples of float files are interpolated before resampling, which would
    otherwise spread them (see ``repair_nonfinite``).
    A file that stops decoding early, or decodes to less than its declared duration, comes back
    with ``problem`` saying so; one that yields nothing raises ``AudioDecodeError``.
    """
    if downmix not in DOWNMIXES:
        raise ValueError(f"downmix must be one of {DOWNMIXES}, not {downmix!r}")
    path = Path(path)
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: empty file")
    chunks: list[np.ndarray] = []
    problem = ""
    repaired = nonfinite = 0
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            declared = float(container.duration / av.time_base) if container.duration else None
            channels = stream.channels
            method = downmix if downmix != "auto" else ("ffmpeg" if channels <= 2 else "average")
            # For "average" the resampler keeps the channels (packed) and they are averaged below.
            resampler = av.AudioResampler(format="flt", layout="mono" if method == "ffmpeg" else None, rate=sr)
            try:
                for frame in container.decode(stream):
                    fixed, left = _repair_frame(frame)
                    repaired, nonfinite = repaired + fixed, nonfinite + left
                    chunks.extend(_mono(resampler.resample(frame)))
            except av.FFmpegError as err:
                problem = f"decoding stopped at {sum(map(len, chunks)) / sr:.2f} s ({err})"
            chunks.extend(_mono(resampler.resample(None)))
    except AudioDecodeError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise AudioDecodeError(f"{path}: cannot decode audio ({err})") from err
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
    if len(samples) == 0:
        raise AudioDecodeError(f"{path}: no audio samples" + (f" ({problem})" if problem else ""))
    seconds = len(samples) / sr
    if not problem and declared is not None and declared - seconds > tolerance_s:
        problem = f"truncated: decoded {seconds:.2f} s of {declared:.2f} s declared"
    return DecodedAudio(samples, problem, repaired, nonfinite, channels, method)


def load_audio(path: str | os.PathLike, sr: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz (what decodes of it), as RVC's ``load_audio``."""
    return decode_audio(path, sr).samples


def write_wav(path: str | os.PathLike, samples: np.ndarray, sr: int) -> None:
    """Write a float32 (IEEE float) WAV, the format RVC's training reads without scaling; atomically."""
    samples = np.asarray(samples, dtype=np.float32)
    with atomic_path(path, durable=False, needed=samples.nbytes) as tmp:
        sf.write(os.fspath(tmp), samples, sr, subtype="FLOAT", format="WAV")


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV as float32 (mono stays 1-D), returning (samples, sample rate)."""
    data, sr = sf.read(os.fspath(path), dtype="float32")
    return data, sr


def read_wav_16k(path: str | os.PathLike) -> np.ndarray:
    """Read a mono 16 kHz WAV as float32; any other rate or channel count is an error naming the file."""
    samples, rate = sf.read(path, dtype="float32")
    if rate != FEATURE_RATE:
        raise ValueError(f"{path}: sample rate is {rate} Hz, expected {FEATURE_RATE} Hz (a {WAVS_16K} file)")
    if samples.ndim != 1:
        raise ValueError(f"{path}: has {samples.shape[1]} channels, expected mono")
    return samples


def native_sample_rate(path: str | os.PathLike) -> int | None:
    """The sample rate a recording was made at (its first audio stream), or None if it cannot be read."""
    try:
        with av.open(os.fspath(path)) as container:
            return container.streams.audio[0].sample_rate
    except (av.FFmpegError, IndexError, OSError):
        return None


OPUS_RATE = 48000  # the rate Opus encodes at


def encode_ogg_opus(samples: np.ndarray, sr: int, bitrate: int = 32000) -> bytes:
    """Mono float samples as an Ogg/Opus file in memory: 4 kB a second at 32 kbit/s (clear speech),
    small enough to embed in a report page, and played by every browser."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=OPUS_RATE, layout="mono")
        stream.bit_rate = bitrate
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name, layout="mono", rate=OPUS_RATE, frame_size=960
        )
        frame = av.AudioFrame.from_ndarray(np.asarray(samples, np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = sr
        for chunk in [*resampler.resample(frame), *resampler.resample(None), None]:
            for packet in stream.encode(chunk):
                container.mux(packet)
    return buffer.getvalue()
