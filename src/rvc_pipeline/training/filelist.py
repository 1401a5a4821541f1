"""RVC's filelist.txt (and our validation.txt): one line per segment naming its files in each stage.

The lines hold absolute paths, as RVC's trainer (started from RVC's root) needs. A run folder
that was copied or moved still names the first folder's files: the trainer maps each path onto
the folder the list now lies in (``relocated_lines``) and rewrites the list there.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path, PurePath

from rvc_pipeline.atomic import atomic_path
from rvc_pipeline.preprocess.buckets import BUCKET_BOUNDARIES, estimated_frames, in_buckets
from rvc_pipeline.layout import F0_COARSE, F0_HZ, FEATURE_DIMS, GT_WAVS, feature_folder
from rvc_pipeline.mute import mute_paths
from rvc_pipeline.training.heldout import held_out

log = logging.getLogger(__name__)

Folders = str | os.PathLike | Sequence[str | os.PathLike]
# The stage folders whose files a line names.
LINE_STAGES = frozenset({GT_WAVS, F0_COARSE, F0_HZ, *map(feature_folder, FEATURE_DIMS)})

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
        _check_separators(listed)
    mute_line = "|".join([*(str(p) for p in (mute if f0 else mute[:2])), str(spk_id)])
    lines += [mute_line, mute_line]
    random.Random(seed).shuffle(lines)
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    for row in report:
        log.warning("filelist: %s: %s", row["file"], row["reason"])
    log.info("filelist %s: %d segments + 2 mute lines, %d reported", path, len(lines) - 2, len(report))
    return report


def _check_separators(path: str | os.PathLike) -> None:
    if any(char in str(path) for char in "|\n\r"):
        raise ValueError(
            f"{path}: a path in filelist.txt cannot hold '|' or a line break (RVC's separators): "
            "run the workflow in a folder whose path has neither"
        )


def relocated_path(path: str, experiment_dir: str) -> str:
    """``path``, a file a filelist line names, in the experiment folder ``experiment_dir`` (absolute).

    The workflow's files lie three levels down their experiment folder ({stage}/{source}/{file},
    mute/{stage}/{file}); one under a folder of the same name elsewhere (the list was written
    before its run folder was copied or moved) maps to the same place in ``experiment_dir``.
    Other paths (and the files already there) are returned as they are.
    """
    parts = PurePath(path).parts
    if (
        len(parts) > 4
        and parts[-4] == os.path.basename(experiment_dir)
        and not LINE_STAGES.isdisjoint(parts[-3:-1])
    ):
        return os.path.join(experiment_dir, *parts[-3:])
    return path


def filelist_wavs(path: str | os.PathLike) -> list[Path]:
    """The wav (first field) of each line of the filelist ``path``, in the list's own folder
    (``relocated_path``): a run folder moved since the list was written reads its own."""
    root = os.path.abspath(Path(path).parent)
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return [Path(relocated_path(line.split("|")[0], root)) for line in lines if line.strip()]


def relocated_lines(text: str, experiment_dir: str | os.PathLike) -> str:
    """The text of a filelist with its paths relocated into ``experiment_dir`` (``relocated_path``);
    the speaker ids, the line breaks and empty lines stay as they are."""
    root = os.path.abspath(experiment_dir)
    lines = []
    for line in text.split("\n"):
        fields = line.split("|")
        lines.append("|".join([*(relocated_path(field, root) for field in fields[:-1]), fields[-1]]))
    return "\n".join(lines)


def relocate_filelist(path: str | os.PathLike) -> bool:
    """Rewrite the filelist ``path`` with its paths in its own folder when they name another
    (its run folder was copied or moved); returns whether it did.

    The file keeps its modification time: it is an input of the training job, and Snakemake
    reruns a job whose input is newer than its output, which would retrain a finished model.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    moved = relocated_lines(text, path.parent)
    if moved == text:
        return False
    _check_separators(os.path.abspath(path.parent))
    times = path.stat()
    with atomic_path(path) as tmp:
        tmp.write_text(moved, encoding="utf-8")
        os.utime(tmp, ns=(times.st_atime_ns, times.st_mtime_ns))
    log.info("%s named another folder's files (the run was copied or moved): now its own", os.path.abspath(path))
    return True
