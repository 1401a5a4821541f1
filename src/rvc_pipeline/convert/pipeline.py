"""Voice conversion with an exported model and an optional index (RVC's inference pipeline, fp32 settings).

One deliberate difference: every chunk gets ``EXTRA_CONTEXT`` more samples of right context and its
output is cut to exactly its share of the input, so the result always lasts as long as the input
(``floor(samples * model_rate / 16000)``); RVC's last chunk can come out up to 3 frames short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import soundfile as sf
import torch
from scipy import signal

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.audio import load_audio
from rvc_pipeline.devices import require_device
from rvc_pipeline.training.export import load_exported
from rvc_pipeline.pitch.files import coarse_f0
from rvc_pipeline.pitch.registry import method as pitch_method
from rvc_pipeline.pitch.registry import tracker
from rvc_pipeline.filters import highpass
from rvc_pipeline.features.hubert import HubertFeatureModel, load_hubert
from rvc_pipeline.index.retrieval import added_index, read_index
from rvc_pipeline.overwrite import refuse_overwrite
from rvc_pipeline.layout import FEATURE_DIMS, FEATURE_RATE, HOP
from rvc_pipeline.progress import Progress
from rvc_pipeline.preprocess.slicer import frame_rms

log = logging.getLogger(__name__)

# fp32 values of x_pad / x_query / x_center / x_max, in seconds
X_PAD, X_QUERY, X_CENTER, X_MAX = 1, 6, 38, 41
EXTRA_CONTEXT = 3 * HOP  # HuBERT's frames fall up to 2 short of len/160 at a chunk's end
NEIGHBOURS = 8
INPUT_PEAK = 0.95
OUTPUT_PEAK = 0.99


@dataclass
class VoiceModel:
    """An exported model ready for inference."""

    net_g: torch.nn.Module
    sample_rate: int
    version: str
    f0: bool
    speakers: int

    @property
    def hop(self) -> int:
        """Output samples per 10 ms frame."""
        return self.sample_rate * HOP // FEATURE_RATE

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> VoiceModel:
        """An exported model (``export.load_exported``) on ``device``."""
        exported, net_g = load_exported(path)
        return cls(
            net_g.to(device),
            sample_rate=int(exported["config"][-1]),
            version=net_g.version,
            f0=bool(exported["f0"]),
            speakers=net_g.emb_g.weight.shape[0],
        )


def load_input(path: str | Path) -> np.ndarray:
    """Decode to 16 kHz mono; a peak above 0.95 is scaled down to 0.95."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    audio = load_audio(path, FEATURE_RATE)
    peak = np.abs(audio).max()
    return audio / (peak / INPUT_PEAK) if peak > INPUT_PEAK else audio


def chunk_bounds(audio: np.ndarray) -> list[int]:
    """Chunk boundaries (sample offsets, first 0, last len) for audio longer than x_max.

    Near every multiple of x_center the cut goes to the quietest point within ±x_query, by the sum
    of |x| over a centred 10 ms window, rounded down to a frame.
    """
    n = len(audio)
    bounds = [0]
    if n + HOP > X_MAX * FEATURE_RATE:
        padded = np.pad(np.abs(audio), (HOP // 2, HOP // 2), mode="reflect")
        cumulative = np.concatenate([[0.0], np.cumsum(padded, dtype=np.float64)])
        energy = cumulative[HOP : HOP + n] - cumulative[:n]
        for centre in range(X_CENTER * FEATURE_RATE, n, X_CENTER * FEATURE_RATE):
            lo = centre - X_QUERY * FEATURE_RATE
            quietest = lo + int(np.argmin(energy[lo : centre + X_QUERY * FEATURE_RATE]))
            bounds.append(quietest // HOP * HOP)
    bounds.append(n)
    return bounds


def retrieval_weights(scores: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """RVC's neighbour weights ``(1/score)**2`` normalised per row, without its NaNs.

    ``scores`` are faiss's squared L2 distances [T, k]. A row with an exact match (score 0) puts all
    its weight on the exact matches, where RVC's formula gives inf/inf. Missing neighbours
    (label -1) get weight 0; a row with none left is all zeros.
    """
    scores = np.asarray(scores, dtype=np.float64)
    valid = np.ones(scores.shape, bool) if labels is None else np.asarray(labels) >= 0
    nearest = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        # dividing by the row's smallest score first keeps 1/score**2 from overflowing
        weights = np.where(nearest > 0, np.square(nearest / scores), scores == 0)
    weights = np.where(valid, weights, 0.0)
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def retrieve(feats: np.ndarray, index: faiss.Index, rows: np.ndarray, index_rate: float) -> np.ndarray:
    """Blend each frame with the weighted mean of its 8 nearest index rows."""
    scores, labels = index.search(np.ascontiguousarray(feats, dtype=np.float32), NEIGHBOURS)
    weights = retrieval_weights(scores, labels)
    retrieved = np.einsum("tk,tkd->td", weights, rows[np.maximum(labels, 0)])
    found = weights.sum(axis=1, keepdims=True) > 0
    retrieved = np.where(found, retrieved, feats)  # no neighbour at all: keep the frame
    return (index_rate * retrieved + (1 - index_rate) * feats).astype(np.float32)


def protect_unvoiced(feats: np.ndarray, original: np.ndarray, pitchf: np.ndarray, protect: float) -> np.ndarray:
    """Unvoiced frames (f0 < 1 Hz) keep ``1 - protect`` of the un-retrieved features."""
    weight = np.where(pitchf < 1, protect, 1.0).astype(np.float32)[:, None]
    return feats * weight + original * (1 - weight)


def rms_mix(source: np.ndarray, output: np.ndarray, sample_rate: int, rate: float) -> np.ndarray:
    """Give the output ``1 - rate`` of the input's loudness envelope (0.5 s RMS frames)."""

    def envelope(x: np.ndarray, sr: int) -> np.ndarray:
        rms = frame_rms(x, sr // 2 * 2, sr // 2)
        # linear interpolation to one value per output sample, as torch's align_corners=False
        pos = (np.arange(len(output)) + 0.5) * (len(rms) / len(output)) - 0.5
        return np.interp(pos, np.arange(len(rms)), rms)

    gain = envelope(source, FEATURE_RATE) ** (1 - rate) * np.maximum(envelope(output, sample_rate), 1e-6) ** (rate - 1)
    return (output * gain).astype(np.float32)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """Scale to int16; a peak above 0.99 is brought down to 0.99 of full scale."""
    scale = 32768.0
    peak = np.abs(audio).max() / OUTPUT_PEAK
    if peak > 1:
        scale /= peak
    return (audio * scale).astype(np.int16)


def pitch_track(
    padded: np.ndarray, method: str, transpose: float, track: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(coarse pitch, f0 Hz) per frame of the padded audio, shifted by ``transpose`` semitones.

    ``track`` is the method's tracker (`rvc_pipeline.pitch.registry.tracker`, weights loaded);
    by default the method's own, which only methods without weights have. It sees the whole input.
    """
    hz = (track or tracker(method))(padded)
    median = pitch_method(method).conversion_median
    if median > 1:
        hz = signal.medfilt(hz, median)
    hz = hz[: len(padded) // HOP] * 2 ** (transpose / 12)
    return coarse_f0(hz), hz.astype(np.float32)


@dataclass
class _Settings:
    model: VoiceModel
    hubert: HubertFeatureModel
    index: faiss.Index | None
    rows: np.ndarray | None
    index_rate: float
    protect: float
    sid: int
    device: str


def _convert_chunk(s: _Settings, audio: np.ndarray, pitch: np.ndarray | None, pitchf: np.ndarray | None) -> np.ndarray:
    """Synthesise one padded chunk; returns the whole output, context included."""
    feats = s.hubert.extract(audio, s.model.version)
    original = feats
    if s.index is not None:
        feats = retrieve(feats, s.index, s.rows, s.index_rate)
    feats, original = np.repeat(feats, 2, axis=0), np.repeat(original, 2, axis=0)
    p_len = min(len(audio) // HOP, len(feats))
    feats, original = feats[:p_len], original[:p_len]
    if s.model.f0 and s.protect < 0.5:
        feats = protect_unvoiced(feats, original, pitchf[:p_len], s.protect)
    inputs = [_batch(feats, torch.float32, s.device), torch.tensor([p_len], device=s.device)]
    if s.model.f0:
        inputs += [_batch(pitch[:p_len], torch.long, s.device), _batch(pitchf[:p_len], torch.float32, s.device)]
    with torch.no_grad():
        out = s.model.net_g.infer(*inputs, torch.tensor([s.sid], device=s.device))
    return out[0][0, 0].float().cpu().numpy()


def _batch(array: np.ndarray, dtype: torch.dtype, device: str) -> torch.Tensor:
    """A batch of one on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(array)).to(device, dtype).unsqueeze(0)


def load_index(path: str | Path, version: str) -> tuple[faiss.Index, np.ndarray]:
    """Read an ``added_…index`` and its stored rows; checks the dimension against the model's."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"index file {path} does not exist")
    index = read_index(path)
    if index.d != FEATURE_DIMS[version]:
        raise ValueError(f"{path}: index has {index.d}-d rows, a {version} model needs {FEATURE_DIMS[version]}")
    if index.ntotal == 0:
        raise ValueError(f"{path}: index holds no rows (a trained_ index? use the added_ one)")
    return index, index.reconstruct_n(0, index.ntotal)


def convert_file(
    model_path: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    *,
    index_path: str | Path | None = None,
    index_rate: float = 0.75,
    protect: float = 0.33,
    transpose: float = 0,
    f0_method: str = "pm",
    rms_mix_rate: float = 0.25,
    sid: int = 0,
    hubert_weights: str | Path | None = None,
    hubert_standin: str = "base",
    f0_weights: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> dict:
    """Convert one recording; writes a 16-bit WAV at the model's rate and returns a summary.

    ``f0_weights`` are the weights of ``f0_method`` (rmvpe.pt for rmvpe), read when the method has
    weights and the model has pitch.
    ``seed`` fixes the synthesiser's noise (RVC leaves it unseeded); the global torch RNG is restored.
    """
    started = time.perf_counter()
    refuse_overwrite(
        output_path,
        {
            "input": input_path,
            "model": model_path,
            "index": index_path,
            "HuBERT weights": hubert_weights,
            "pitch weights": f0_weights,
        },
        what="the conversion",
    )
    if not 0 <= index_rate <= 1:
        raise ValueError(f"index_rate must be between 0 and 1, got {index_rate}")
    require_device(device)
    model = VoiceModel.load(model_path, device)
    if not 0 <= sid < model.speakers:
        raise ValueError(f"{model_path}: speaker id {sid} out of range (model has {model.speakers})")
    audio = highpass(load_input(input_path), FEATURE_RATE, "filtfilt")
    index = rows = None
    if index_path is not None and index_rate != 0:
        index, rows = load_index(index_path, model.version)
    track = tracker(f0_method, f0_weights, device) if model.f0 else None
    hubert = load_hubert(None if hubert_weights is None else str(hubert_weights), device, hubert_standin)
    settings = _Settings(model, hubert, index, rows, index_rate, protect, sid, device)

    t_pad = X_PAD * FEATURE_RATE
    padded = np.pad(audio, (t_pad, t_pad + EXTRA_CONTEXT), mode="reflect")
    pitch = pitchf = None
    if model.f0:
        pitch, pitchf = pitch_track(padded, f0_method, transpose, track)
    bounds = chunk_bounds(audio)
    pieces = []
    progress = Progress(f"convert {input_path}", total=len(bounds) - 1, unit="chunks")
    with progress, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start, stop in progress.each(zip(bounds[:-1], bounds[1:])):
            chunk = padded[start : stop + 2 * t_pad + EXTRA_CONTEXT]
            first = start // HOP
            chunk_pitch = None if pitch is None else pitch[first:]
            chunk_pitchf = None if pitchf is None else pitchf[first:]
            out = _convert_chunk(settings, chunk, chunk_pitch, chunk_pitchf)
            skip = X_PAD * model.sample_rate
            pieces.append(out[skip : skip + (stop - start) * model.hop // HOP])
    converted = np.concatenate(pieces)
    if rms_mix_rate != 1:
        converted = rms_mix(audio, converted, model.sample_rate, rms_mix_rate)

    output_path = Path(output_path)
    with atomic_path(output_path) as tmp:
        sf.write(tmp, to_int16(converted), model.sample_rate, subtype="PCM_16", format="WAV")
    summary = {
        "input": str(input_path),
        "output": str(output_path),
        "model": str(model_path),
        "index": None if index is None else str(index_path),
        "sample_rate": model.sample_rate,
        "version": model.version,
        "f0": model.f0,
        "f0_method": f0_method if model.f0 else None,
        "input_seconds": len(audio) / FEATURE_RATE,
        "output_seconds": len(converted) / model.sample_rate,
        "chunks": len(bounds) - 1,
        "hubert_standin": hubert.is_standin,
        "seconds": time.perf_counter() - started,
    }
    log.info("converted %s -> %s (%.1f s of audio in %.1f s)", input_path, output_path,
             summary["input_seconds"], summary["seconds"])
    return summary


def convert_recording(
    model: str | Path,
    index_dir: str | Path,
    audio: str | Path,
    converted: str | Path,
    *,
    settings: dict,
    standin: str | None,
    weights: str | Path | None = None,
    rmvpe: str | Path | None = None,
    device: str = "cpu",
) -> dict:
    """``convert_file`` with an experiment's outputs: its model, the index in ``index_dir``, and
    ``settings`` (index_rate, protect, transpose, f0_method, rms_mix_rate, sid); ``rmvpe`` is
    the weights file of the settings' f0_method, whichever it is (the rule passes it by that name)."""
    return convert_file(
        model,
        audio,
        converted,
        index_path=added_index(index_dir),
        hubert_weights=weights,
        hubert_standin=standin,
        f0_weights=rmvpe,
        device=device,
        **settings,
    )
