"""Recordings replaced by a file that is not newer than their segments.

Snakemake reruns a job when an input is newer than its outputs. A recording replaced by a copy
that keeps an older modification time (``cp -p``, ``rsync -a``, a restore from backup) is not
newer, so the old recording's segments would be trained on. The workflow keeps, per experiment,
each recording's size and modification time as it last saw them; when either moved and the
recording is not newer than its slicing report, the report's time is set to before the
recording's, so Snakemake reruns the slicing (and what depends on it) as "updated input files".
A copy of a whole folder (``cp -a``: new inodes and change times, same sizes and modification
times) reruns nothing. No content hash: a recording whose time moved reruns its jobs even if its
content did not, as touching it does (the profiles turn Snakemake's checksums off for the same
rule), and hashing every recording once to have something to compare with would cost planning
time in proportion to the hours of audio.

Imported when Snakemake parses the workflow: standard library only (and ``atomic``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from rvc_pipeline.atomic import atomic_path

SEEN_FILE = "sources_seen.json"  # in results/{experiment}/reports/
AGE_NS = 1_000_000_000  # how far before the recording the aged output lands (mtimes may be in whole seconds)


SourcesSeen = dict[str, list[int]]  # recording name -> [size, mtime_ns]


def replaced_sources(
    record: str | os.PathLike,
    sources: Mapping[str, str],
    output_pattern: str,
) -> tuple[list[str], SourcesSeen]:
    """Age the output ``output_pattern.format(source=name)`` of every recording replaced by a file
    that is not newer than it, per ``record`` (JSON: name -> [size, mtime_ns], what the last run
    saw); return one message per such recording, and what is seen now (for ``write_seen`` when
    jobs run: a dry run records nothing). A recording the record does not list yet is only seen.
    """
    try:
        seen = json.loads(Path(record).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        seen = {}
    now: SourcesSeen = {}
    messages = []
    for name, source in sources.items():
        try:
            info = os.stat(source)
        except OSError:  # not there yet (a demo recording) or unreadable: discovery reports it
            continue
        now[name] = [info.st_size, info.st_mtime_ns]
        before = seen.get(name)
        if before is None or before == now[name]:
            continue
        output = output_pattern.format(source=name)
        try:
            output_ns = os.stat(output).st_mtime_ns
        except FileNotFoundError:
            continue
        if info.st_mtime_ns > output_ns:
            continue  # newer than its outputs: Snakemake sees it itself
        aged = info.st_mtime_ns - AGE_NS
        os.utime(output, ns=(aged, aged))
        messages.append(
            f"recording {source!r} changed since its segments were made ({_change(before, now[name])}) but is "
            "not newer than them (copied with its old time?): its segments are made again"
        )
    return messages, now


def write_seen(record: str | os.PathLike, now: SourcesSeen) -> None:
    """Keep ``now`` in ``record`` (rewritten only when it changed)."""
    path = Path(record)
    try:
        if json.loads(path.read_text(encoding="utf-8")) == now:
            return
    except (FileNotFoundError, ValueError):
        pass
    with atomic_path(path, durable=False) as tmp:
        tmp.write_text(json.dumps(now, separators=(",", ":")), encoding="utf-8")


def _change(before: list[int], after: list[int]) -> str:
    parts = []
    if before[0] != after[0]:
        parts.append(f"size {before[0]} -> {after[0]} bytes")
    if before[1] != after[1]:
        parts.append("modification time moved back" if after[1] < before[1] else "modification time moved")
    return ", ".join(parts)
