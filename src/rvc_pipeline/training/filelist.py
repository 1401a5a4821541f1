"""RVC's filelist.txt (and our validation.txt): one line per segment naming its files in each stage."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.training.buckets import BUCKET_BOUNDARIES, estimated_frames, in_buckets
from rvc_pipeline.layout import F0_COARSE, F0_HZ, GT_WAVS, feature_folder
from rvc_pipeline.mute import mute_paths
from rvc_pipeline.training.heldout import held_out

log = logging.getLogger(__name__)

Folders = str | os.PathLike | Sequence[str | os.PathLike]

def _as_folder_list(folders: Folders) -> list[Path]:
    if isinstance(folders, (str, os.PathLike)):
        return [Path(folders)]
    return [Path(f) for f in folders]


def _segment_files(folders: Folders, suffix: str) -> dict[str, Path]:
    """Segment name -> file, for files ``*{suffix}`` in each folder and its direct subfolders.

    The name is the path relative to the folder without the suffix ("{source}/{source}_{j}"), so
    it is the same across the stage folders and stems with dots stay whole. Hidden files (our
    temp files) are skipped.
    """
    found: dict[str, Path] = {}
    for folder in _as_folder_list(folders):
        if not folder.is_dir():
            raise FileNotFoundError(f"filelist input folder {folder} does not exist")
        for path in [*folder.glob(f"*{suffix}"), *folder.glob(f"*/*{suffix}")]:
            if path.name.startswith(".") or not path.is_file():
                continue
            rel = path.relative_to(folder).as_posix()
            found[rel[: -len(suffix)]] = Path(os.path.abspath(path))
    return found


def write_filelist(
    path: str | os.PathLike,
    gt_wavs: Folders,
    features: Folders,
    f0_coarse: Folders | None,
    f0_hz: Folders | None,
    *,
    mute_dir: str | os.PathLike,
    sample_rate: int,
    hop_length: int,
    version: str,
    spk_id: int = 0,
    seed: int = 0,
    validation: str | os.PathLike | None = None,
    validation_share: float = 0.0,
) -> list[dict[str, str]]:
    """Write RVC's filelist.txt and return one report row (``file``, ``reason``) per dropped clip.

    Each stage argument is a folder (its files and those of its direct subfolders are used, so
    ``results/{exp}/0_gt_wavs`` works) or a list of per-source folders. Without f0 pass None for
    both f0 arguments. The segments are those present in every stage (RVC's intersection); the
    others are reported. Two mute lines are added as RVC does, the lines are shuffled with
    ``seed`` (RVC's shuffle is unseeded) and joined by "\\n" without a trailing newline.
    Clips outside the training buckets stay in the list (as in RVC) but are reported, because
    the bucket sampler will skip them. With ``validation`` the segments ``held_out`` picks for
    ``validation_share`` are written there (same format, sorted, no mute lines) instead of into
    the filelist; the file is empty when none are.
    """
    if (f0_coarse is None) != (f0_hz is None):
        raise ValueError("pass both f0 folders (coarse and Hz) or neither")
    f0 = f0_coarse is not None
    stages = {
        GT_WAVS: _segment_files(gt_wavs, ".wav"),
        feature_folder(version): _segment_files(features, ".npy"),
    }
    if f0:
        stages[F0_COARSE] = _segment_files(f0_coarse, ".wav.npy")
        stages[F0_HZ] = _segment_files(f0_hz, ".wav.npy")

    all_names = set().union(*stages.values())
    names = sorted(set.intersection(*(set(files) for files in stages.values())))
    report = []
    for name in sorted(all_names - set(names)):
        missing = [stage for stage, files in stages.items() if name not in files]
        some_file = next(files[name] for files in stages.values() if name in files)
        report.append(
            {"file": str(some_file), "reason": f"segment {name} is missing from {', '.join(missing)}"}
        )
    if not names:
        raise ValueError(f"no segment is present in all of {', '.join(stages)}; nothing to train on")

    low, high = BUCKET_BOUNDARIES[0], BUCKET_BOUNDARIES[-1]
    for name in names:
        wav = stages[GT_WAVS][name]
        frames = estimated_frames(wav, hop_length)
        if not in_buckets(frames):
            report.append(
                {
                    "file": str(wav),
                    "reason": f"estimated length {frames} (file bytes // (3*hop)) is outside the "
                    f"training buckets ({low}, {high}]; training skips it",
                }
            )

    def line(name: str) -> str:
        return "|".join([*(str(files[name]) for files in stages.values()), str(spk_id)])

    kept_out = held_out(names, validation_share) if validation is not None else set()
    if validation is not None:
        with atomic_path(validation) as tmp:
            tmp.write_text("\n".join(line(name) for name in names if name in kept_out), encoding="utf-8")
        log.info("validation %s: %d segments held out: %s", validation, len(kept_out), ", ".join(sorted(kept_out)))
    lines = [line(name) for name in names if name not in kept_out]
    mute = mute_paths(mute_dir, sample_rate, version)
    for listed in [*(files[name] for files in stages.values() for name in names), *mute]:
        if any(char in str(listed) for char in "|\n\r"):
            raise ValueError(
                f"{listed}: a path in filelist.txt cannot hold '|' or a line break (RVC's separators): "
                "run the workflow in a folder whose path has neither"
            )
    mute_line = "|".join([*(str(p) for p in (mute if f0 else mute[:2])), str(spk_id)])
    lines += [mute_line, mute_line]
    random.Random(seed).shuffle(lines)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    for row in report:
        log.warning("filelist: %s: %s", row["file"], row["reason"])
    log.info("filelist %s: %d segments + 2 mute lines, %d reported", path, len(lines) - 2, len(report))
    return report
