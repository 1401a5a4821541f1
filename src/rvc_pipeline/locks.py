"""The OS lock that one training process holds on its experiment (standard library only: the
workflow checks it when it starts)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

LOCK_FILE = "train.lock"
# lock_holder's probe holds the lock for a moment: a trainer starting then tries a little longer.
ATTEMPTS, PAUSE_S = 10, 0.1


class TrainingLockedError(RuntimeError):
    """Another process is training the same experiment."""


@contextlib.contextmanager
def training_lock(state_dir: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the experiment's training state while the block runs.

    The kernel releases it when the process ends, however it ends, so a killed job leaves no
    stale lock; a second process fails at once, naming the holder, without touching the state.
    """
    path = Path(state_dir) / LOCK_FILE
    with open(path, "a+", encoding="utf-8") as handle:
        for _ in range(ATTEMPTS):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(PAUSE_S)
        else:
            raise TrainingLockedError(
                f"{state_dir} is being trained by {_holder(handle)} (it holds {path}): this job stops and "
                "leaves the experiment alone; wait for that run to finish or stop it"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "another process"


def lock_holder(state_dir: str | os.PathLike) -> str | None:
    """Who trains the experiment now ("pid … on … since …"), or None; never creates the lock file."""
    path = Path(state_dir) / LOCK_FILE
    try:
        handle = open(path, encoding="utf-8")
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(handle)
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


def holder_pid(state_dir: str | os.PathLike) -> int | None:
    """The process id of the trainer holding the lock on this host, or None."""
    holder = lock_holder(state_dir)
    if holder is None:
        return None
    words = holder.split()
    if len(words) < 4 or words[0] != "pid" or words[3] != socket.gethostname():
        return None
    return int(words[1])
