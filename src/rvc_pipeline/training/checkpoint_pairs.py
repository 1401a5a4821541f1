"""The ``G_{step}.pth`` / ``D_{step}.pth`` pairs of a training folder, by name only.

Standard library only: the workflow lists an RVC experiment folder's pairs while planning.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^([GD])_(\d+)\.pth$")


@dataclass(frozen=True)
class CheckpointPair:
    step: int
    g_path: Path
    d_path: Path


def complete_pairs(state_dir: str | os.PathLike) -> list[CheckpointPair]:
    """G/D pairs with the same step, oldest first; ``2333333`` (latest-only) sorts last as in RVC.

    A G without its D (or the reverse) is a save that was cut short and is ignored; temp files of
    interrupted writes start with "." and never match.
    """
    found: dict[int, dict[str, Path]] = {}
    folder = Path(state_dir)
    if folder.is_dir():
        for path in folder.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_file():
                found.setdefault(int(match.group(2)), {})[match.group(1)] = path
    return [
        CheckpointPair(step, kinds["G"], kinds["D"])
        for step, kinds in sorted(found.items())
        if len(kinds) == 2
    ]
