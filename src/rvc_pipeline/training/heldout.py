"""Which segments are held out of training to measure the validation loss.

A segment is held out when the hash of its name (``alice_3``, the file stem) falls under
``share``, a fixed threshold: whether a segment is held out depends on its own name only, so
adding or removing recordings never moves a segment under the threshold back into training.
To have a loss at all on small experiments, at least ``MIN_SEGMENTS`` are held out: when fewer
fall under the threshold, the lowest hashes are taken. That fallback is what can change: a new
segment that hashes lower takes the place of one held out only to reach the minimum, which
then returns to training. No addition ever moves a training segment into validation, so a model
never validates on a segment it (or the experiment it was warm-started from) trained on, once
the experiment has more than ``MIN_SEGMENTS`` segments.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

MIN_SEGMENTS = 2


def name_hash(name: str) -> float:
    """A uniform number in [0, 1) from the segment's name (its file stem, without folders)."""
    stem = name.rsplit("/", 1)[-1]
    return int.from_bytes(hashlib.sha256(stem.encode("utf-8")).digest()[:8], "big") / 2**64


def held_out(names: Iterable[str], share: float, minimum: int = MIN_SEGMENTS) -> set[str]:
    """The names to hold out: hash under ``share``, topped up to ``minimum`` with the lowest hashes.

    ``share`` 0 holds nothing out. With ``minimum`` segments or fewer there is nothing left to
    train on, so nothing is held out (and a warning says so).
    """
    names = sorted(set(names))
    if share <= 0:
        return set()
    if len(names) <= minimum:
        log.warning(
            "validation: only %d segments, none held out (at least %d are needed beside the training ones)",
            len(names),
            minimum + 1,
        )
        return set()
    chosen = {name for name in names if name_hash(name) < share}
    if len(chosen) < minimum:
        chosen.update(sorted(names, key=lambda name: (name_hash(name), name))[:minimum])
    if len(chosen) == len(names):
        raise ValueError(
            f"validation_share {share} holds out all {len(names)} segments: nothing is left to train on"
        )
    return chosen
