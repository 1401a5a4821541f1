"""Which entries of an experiment's ``input_dir`` are sources, and what their segments are named.

Imported when Snakemake parses the workflow: standard library only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rvc_pipeline.layout import DEMO_RECORDING

# Characters a source name cannot carry: Snakemake reads braces in a path as wildcards, "|"
# separates the fields of RVC's filelist.txt and a line break its lines.
UNUSABLE_CHARS = {
    "{": "Snakemake reads braces in file names as wildcards",
    "}": "Snakemake reads braces in file names as wildcards",
    "|": "'|' separates the fields of RVC's filelist.txt",
    "\n": "a line break splits RVC's filelist.txt",
    "\r": "a line break splits RVC's filelist.txt",
}

# Report statuses of entries that are not sliced: "ignored" is not meant as a recording
# (folders, hidden files), "skipped" looks like one but cannot be used, "duplicate" is the same
# file as another entry.
Excluded = dict[str, tuple[str, str]]


def _unusable_char(name: str) -> str:
    """Why ``name`` cannot be a source name, or ""."""
    for char, why in UNUSABLE_CHARS.items():
        if char in name:
            return f"file name contains {char!r} ({why}): rename the file"
    return ""


def _unreadable(entry: os.DirEntry, err: OSError) -> str:
    if entry.is_symlink():
        return f"broken link: its target {os.readlink(entry.path)!r} does not exist"
    return f"cannot read: {err.strerror}"


def discover_sources(input_dir: str | os.PathLike) -> tuple[dict[str, str], Excluded]:
    """Map source name → file for the files directly in ``input_dir``; also every entry left out.

    The name is the file name without its last extension, so segments keep their names when
    other files come and go. Left-out entries map to (status, reason): folders and hidden files
    (``ignored``); broken links, pipes and devices, names the workflow cannot carry and names
    that collide with another recording's (``skipped``); links or hard links to a file already
    read (``duplicate``; the real file wins over a link to it). A missing ``input_dir`` is a
    ``FileNotFoundError``.
    """
    root = Path(input_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"input_dir {os.fspath(input_dir)!r} is not a folder")
    excluded: Excluded = {}
    files: list[tuple[os.DirEntry, os.stat_result]] = []
    with os.scandir(root) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                excluded[entry.name] = ("ignored", "hidden file")
                continue
            try:
                info = os.stat(entry.path)
            except OSError as err:
                excluded[entry.name] = ("skipped", _unreadable(entry, err))
                continue
            if stat.S_ISDIR(info.st_mode):
                excluded[entry.name] = ("ignored", "folder: only files directly in input_dir are read")
            elif why := _unusable_char(entry.name):
                excluded[entry.name] = ("skipped", why)
            elif not stat.S_ISREG(info.st_mode):
                excluded[entry.name] = ("skipped", "not a regular file (a pipe, socket or device)")
            else:
                files.append((entry, info))
    # The same file under two names (a link beside its target) is read once: real files first.
    first: dict[tuple[int, int], str] = {}
    candidates: dict[str, list[str]] = {}
    for entry, info in sorted(files, key=lambda item: (item[0].is_symlink(), item[0].name)):
        key = (info.st_dev, info.st_ino)
        if key in first:
            excluded[entry.name] = ("duplicate", f"the same file as {first[key]}: read once, as {first[key]}")
            continue
        first[key] = entry.name
        candidates.setdefault(Path(entry.name).stem, []).append(entry.name)
    sources: dict[str, str] = {}
    for name, entries in sorted(candidates.items()):
        if len(entries) == 1:
            sources[name] = os.fspath(root / entries[0])
            continue
        for entry_name in entries:
            others = ", ".join(e for e in entries if e != entry_name)
            excluded[entry_name] = (
                "skipped",
                f"name clash: {entry_name} and {others} would both name their segments {name}_N: rename one",
            )
    return sources, dict(sorted(excluded.items()))


def demo_sources(input_dir: str | os.PathLike, count: int) -> dict[str, str]:
    """The recordings the demo synthesises into ``input_dir``."""
    names = [DEMO_RECORDING.format(k=k) for k in range(1, count + 1)]
    return {name: os.path.join(input_dir, f"{name}.wav") for name in names}
