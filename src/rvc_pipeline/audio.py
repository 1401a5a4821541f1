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


class AudioDecodeError(ValueError):
    """A source that is not audio, is empty, or cannot be decoded; the message names the file."""


@dataclass
class DecodedAudio:
    """Mono float32 samples plus what went wrong, if the file decoded only in part."""

    samples: np.ndarray
    problem: str = ""


def decode_audio(path: str | os.PathLike, sr: int, tolerance_s: float = 0.5) -> DecodedAudio:
    """Decode ``path`` to mono float32 at ``sr`` Hz, keeping what decodes of a damaged file.

    Downmix and resampling go through ffmpeg's own swresample (PyAV's ``aresample`` filter) with
    its defaults, which is what ``ffmpeg -ac 1 -ar sr -f f32le`` does: stereo becomes (L+R)·0.7071.
    A file that stops decoding early, or decodes to less than its declared duration, comes back
    with ``problem`` saying so; one that yields nothing raises ``AudioDecodeError``.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: empty file")
    chunks: list[np.ndarray] = []
    problem = ""
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            declared = float(container.duration / av.time_base) if container.duration else None
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            try:
                for frame in container.decode(stream):
                    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
            except av.FFmpegError as err:
                problem = f"decoding stopped at {sum(map(len, chunks)) / sr:.2f} s ({err})"
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
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
    return DecodedAudio(samples, problem)


def load_audio(path: str | os.PathLike, sr: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz (what decodes of it), as RVC's ``load_audio``."""
    return decode_audio(path, sr).samples


def write_wav(path: str | os.PathLike, samples: np.ndarray, sr: int) -> None:
    """Write a float32 (IEEE float) WAV, the format RVC's training reads without scaling; atomically."""
    with atomic_path(path) as tmp:
        sf.write(os.fspath(tmp), np.asarray(samples, dtype=np.float32), sr, subtype="FLOAT", format="WAV")


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV as float32 (mono stays 1-D), returning (samples, sample rate)."""
    data, sr = sf.read(os.fspath(path), dtype="float32")
    return data, sr


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
