"""Fault injection for the crash tests: ``RVC_PIPELINE_FAULT=point[:n]`` kills the process.

The process SIGKILLs itself on its n-th pass (default: first) through ``fault_point(point)``,
at named moments in the middle of a write (see the callers), so the tests crash the workflow
where it matters instead of guessing with timers. Unset (always, outside tests) a pass costs one
string comparison.
"""

from __future__ import annotations

import itertools
import os
import signal

_POINT, _, _NTH = os.environ.get("RVC_PIPELINE_FAULT", "").partition(":")
_passes = itertools.count(1)
# Set in the worker processes of ``workers.WorkerPool`` to the process that runs the jobs.
RUN_PID = "RVC_PIPELINE_RUN_PID"


def fault_point(name: str) -> None:
    """SIGKILL this process here if ``RVC_PIPELINE_FAULT`` names ``name`` (at its n-th pass).

    In a worker process, the process running the workflow is killed first, as a crash would:
    the worker alone dying would only fail the job.
    """
    if name == _POINT and next(_passes) >= int(_NTH or 1):
        if RUN_PID in os.environ:
            os.kill(int(os.environ[RUN_PID]), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
