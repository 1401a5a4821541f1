"""Decoding any ffmpeg-readable recording in-process with PyAV, as RVC's ``load_audio`` does with ffmpeg."""

from __future__ import annotations

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
    with atomic_path(path, durable=False) as tmp:
        sf.write(os.fspath(tmp), np.asarray(samples, dtype=np.float32), sr, subtype="FLOAT", format="WAV")


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV as float32 (mono stays 1-D), returning (samples, sample rate)."""
    data, sr = sf.read(os.fspath(path), dtype="float32")
    return data, sr
