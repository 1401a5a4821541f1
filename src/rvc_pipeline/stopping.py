"""Stopping a training cleanly on SIGINT and SIGTERM (Ctrl-C, ``kill``, systemd, SLURM preemption).

The process that receives one of them finishes the step it is in and raises ``StopRequested``
(never in the middle of a checkpoint save); the job then prints one line and exits with
128 + the signal's number. The Snakemake process hands the signal on to the trainings it runs
(``forward_to_trainers``) and stops its worker pools (``workers.stop_pools``): on its own,
Snakemake waits for running jobs to finish on SIGTERM, and does not stop them on a SIGINT sent
to it alone.

Imported when Snakemake parses the workflow: standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterable, Iterator

from rvc_pipeline.locks import holder_pid

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):
    """A stop signal arrived; the message says what was kept and how to go on."""

    def __init__(self, signum: int, message: str = ""):
        self.signum = signum
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_status(self) -> int:
        """The status of a process ended by the signal, as a shell reports it."""
        return 128 + self.signum


class StopFlag:
    """Set by the signal handlers of ``stop_on_signals``; ``check`` raises once it is set."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def check(self) -> None:
        if self.signum is not None:
            raise StopRequested(self.signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """While the block runs, SIGINT and SIGTERM set the yielded flag instead of ending the process.

    Outside the main thread (where Python cannot install handlers) the flag never gets set.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def note(signum: int, frame: object) -> None:
        if flag.signum is None:
            flag.signum = signum

    previous = {signum: signal.signal(signum, note) for signum in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def forward_stop_signals(state_dirs: Iterable[str | os.PathLike]) -> None:
    """In the Snakemake process, once its scheduler set its handlers: SIGINT and SIGTERM go on to
    the trainings of ``state_dirs``, stop the worker pools (the jobs waiting on them fail at
    once), then reach Snakemake's SIGTERM handler (start no more jobs, wait for the running ones,
    which now stop within a step). A second SIGINT interrupts Snakemake itself, as it would have
    done at once before.
    """
    # Not at the top: workers imports this module.
    from rvc_pipeline.workers import stop_pools

    state_dirs = list(state_dirs)
    finish_running = signal.getsignal(signal.SIGTERM)

    def handle(signum: int, frame: object) -> None:
        forward_to_trainers(state_dirs, signum)
        stop_pools(signum)
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if callable(finish_running):
            finish_running(signum, frame)
        else:
            signal.default_int_handler(signum, frame)

    for signum in STOP_SIGNALS:
        signal.signal(signum, handle)


def forward_to_trainers(state_dirs: Iterable[str | os.PathLike], signum: int) -> list[int]:
    """Send ``signum`` to the training processes of this process group holding the training lock
    of one of ``state_dirs`` (another run's trainings are left alone); return their pids."""
    group = os.getpgrp()
    sent = []
    for state_dir in state_dirs:
        pid = holder_pid(state_dir)
        if pid is None or pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == group:
                os.kill(pid, signum)
                sent.append(pid)
    return sent
