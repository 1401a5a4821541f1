"""Fault injection for the crash tests: ``RVC_PIPELINE_FAULT=point[:n[:kind]]``.

On its n-th pass (default: first) through ``fault_point(point)``, at named moments in the middle
of a write (see the callers), the process SIGKILLs itself (kind ``kill``, the default), the
write fails as on a full disk (kind ``enospc``: an ``OSError(ENOSPC)``), or the process running
the workflow is sent SIGINT or SIGTERM (kinds ``sigint``, ``sigterm``: Ctrl-C, a scheduler
stopping the run) and the job goes on, or (kind ``oom``, on the n-th pass only) torch's
out-of-memory error is raised, as a device that is full, or (kind ``hold``, on the n-th pass only)
the process says so on stderr and waits there for the test's stop signal (``hold``); so the tests
break the workflow where it matters instead of guessing with timers. Unset (always, outside
tests) a pass costs one string comparison.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import sys
import threading

_POINT, _, _REST = os.environ.get("RVC_PIPELINE_FAULT", "").partition(":")
_NTH, _, _KIND = _REST.partition(":")
_passes = itertools.count(1)
_SIGNALS = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM}
# Set in the worker processes of ``workers.WorkerPool`` to the process that runs the jobs.
RUN_PID = "RVC_PIPELINE_RUN_PID"
# A hold that no signal ends gives up after this long, so a test that fails does not hang.
HOLD_S = 120.0
HOLDING = "fault point {name}: holding until a stop signal"


def fault_point(name: str) -> None:
    """SIGKILL this process (or fail a write) here if ``RVC_PIPELINE_FAULT`` names ``name`` (at its n-th pass).

    In a worker process, the process running the workflow is killed first, as a crash would:
    the worker alone dying would only fail the job.
    """
    if name == _POINT and _KIND in ("oom", "hold"):
        if next(_passes) != int(_NTH or 1):
            return
        if _KIND == "hold":
            hold(name)
            return
        import torch  # only here: the module is imported where torch is not

        raise torch.OutOfMemoryError(f"CUDA out of memory (injected at {name})")
    if name == _POINT and next(_passes) >= int(_NTH or 1):
        if _KIND == "enospc":
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected at {name})")
        run = int(os.environ.get(RUN_PID, os.getpid()))
        if _KIND in _SIGNALS:
            os.kill(run, _SIGNALS[_KIND])
            return
        os.kill(run, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def injected(name: str, kind: str) -> bool:
    """Whether ``RVC_PIPELINE_FAULT`` injects ``kind`` at the point ``name``."""
    return (_POINT, _KIND) == (name, kind)


def hold(name: str) -> None:
    """Wait here until a stop signal that this process handles arrives, then let its handler
    have it: the signal lands in the middle of what the point is in, however slow the test.

    Signals that the process ignores or leaves to their default action do not end the wait
    (they do what they always do); outside the main thread no handler can be added, so only
    ``HOLD_S`` ends it.
    """
    arrived = threading.Event()

    def passing_on(handler):
        def note(signum: int, frame: object) -> None:
            arrived.set()
            handler(signum, frame)

        return note

    handled = {}
    if threading.current_thread() is threading.main_thread():
        handled = {s: h for s in _SIGNALS.values() if callable(h := signal.getsignal(s))}
    for signum, handler in handled.items():
        signal.signal(signum, passing_on(handler))
    print(HOLDING.format(name=name), file=sys.stderr, flush=True)
    try:
        arrived.wait(HOLD_S)
    finally:
        for signum, handler in handled.items():
            signal.signal(signum, handler)
