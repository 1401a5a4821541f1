"""Worker processes shared by the per-source jobs of one Snakemake process.

Per-source jobs run as threads of the Snakemake process, so HuBERT is loaded once per run. Work
that holds the GIL (parselmouth's pm, the slicer) would then run one job at a time; it runs in
these worker processes instead. The pool lives as long as the Snakemake process, so many short
recordings do not pay a process start per job. Each job keeps at most its ``threads`` tasks in
flight and Snakemake keeps the sum of the running jobs' threads within ``--cores``, so the
processes busy at once never exceed the cores the run was given. A stop signal to the run (a
Ctrl-C, which reaches the workers too, or SIGTERM) is the run's to act on: the workers ignore
SIGINT, and the run stops its pools (``stop_pools``), failing the jobs that wait on them at once.

Standard library only: the workflow imports it at parse time.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import spawn
from typing import Any

from rvc_pipeline.faults import RUN_PID
from rvc_pipeline.stopping import StopRequested

log = logging.getLogger(__name__)

# The fork server imports only this module ahead: a worker imports what its first task needs
# (slicing needs scipy, PyAV and soxr, pitch parselmouth and pyworld; measured, a pool ready for
# pitch in 0.2 s instead of 0.7 s with them preloaded).
PRELOAD = [__name__]

# multiprocessing makes every worker import the parent's main module. Tasks here are this
# package's functions, which need none of it, and for the `snakemake` console script that import
# is all of Snakemake: 0.5 s per pool start. A worker skips it when its own __main__ already has
# that file name, so the fork server (whose __main__ has no file) takes it on from the parent
# through this variable when it preloads this module.
MAIN_FILE = "RVC_PIPELINE_MAIN_FILE"
_main = sys.modules["__main__"]
if getattr(_main, "__file__", None) is None and MAIN_FILE in os.environ:
    _main.__file__ = os.environ[MAIN_FILE]


class _Collect(logging.Handler):
    """Keeps a worker task's log records, to be logged again by the job that asked for it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _run_task(func: Callable[..., Any], kwargs: dict[str, Any]) -> tuple[Any, list, BaseException | None]:
    """Worker side: call ``func(**kwargs)`` and return (result, log records, exception)."""
    root = logging.getLogger()
    handler = _Collect()
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    try:
        return func(**kwargs), handler.records, None
    except Exception as err:  # re-raised in the job's thread, after its records are logged
        return None, handler.records, err
    finally:
        root.removeHandler(handler)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a killed process stays a zombie until its parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc on this system
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _watch_run(pid: int) -> None:
    while _alive(pid):
        time.sleep(1.0)
    os._exit(1)


def _start_worker(pid: int) -> None:
    """Worker start: remember the process running the jobs (a fault point kills it too), and end
    when it ends: a worker waits for tasks forever, so if the run is killed nothing else would
    end it (and it would hold the run's output pipes open).

    A Ctrl-C in the terminal reaches every process of the run: the one running the jobs decides
    what it means (``stop_pools``). A worker ending its task with KeyboardInterrupt would hand
    that to the job's thread, which Snakemake never reports as ended: the run would hang.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ[RUN_PID] = str(pid)
    threading.Thread(target=_watch_run, args=(pid,), daemon=True).start()


def _replay(records: list[tuple[str, int, str]]) -> None:
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)


class WorkerPool:
    """A process pool of ``size`` workers (fork server start: safe beside Snakemake's threads)."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._lock = threading.Lock()
        self._executor: cf.ProcessPoolExecutor | None = None
        self._stopped_by: int | None = None  # the stop signal, once the run is stopping

    def stop(self, signum: int) -> None:
        """The run is stopping on ``signum``: kill the workers (a task under way is abandoned, and
        its job's outputs are removed as the job fails) and fail every job that waits on the pool,
        or would, with ``StopRequested``. Takes no lock: it runs in a signal handler."""
        self._stopped_by = signum
        # ProcessPoolExecutor.kill_workers() from Python 3.14; list() copies the pids at once, as
        # the executor's thread may change them.
        for pid in list(getattr(self._executor, "_processes", None) or {}):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _check_stop(self) -> None:
        if self._stopped_by is not None:
            raise StopRequested(self._stopped_by)

    def _get(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            # A worker killed from outside (OOM killer) breaks the executor for good: start anew.
            if self._executor is None or getattr(self._executor, "_broken", False):
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(PRELOAD)
                # The main file exactly as multiprocessing will send it to each worker (none
                # for `python -m`, whose main module workers skip by name).
                main_file = spawn.get_preparation_data("worker").get("init_main_from_path")
                if main_file is not None:
                    os.environ[MAIN_FILE] = main_file
                self._executor = cf.ProcessPoolExecutor(
                    self.size, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
                )
            return self._executor

    def imap(self, func: Callable[..., Any], tasks: Iterable[dict[str, Any]], width: int) -> Iterator[Any]:
        """``func(**task)`` for every task, at most ``width`` at once; results in task order.

        A task's log records are logged again in the calling thread (so they reach the job's
        log), and its exception is raised there once the tasks before it have been yielded.
        """
        self._check_stop()
        executor = self._get()
        width = max(1, min(width, self.size))
        pending: dict[int, cf.Future] = {}
        todo = iter(enumerate(tasks))
        done: dict[int, tuple] = {}
        following = 0
        exhausted = False
        try:
            while True:
                self._check_stop()
                while not exhausted and len(pending) < width:
                    item = next(todo, None)
                    if item is None:
                        exhausted = True
                        break
                    pending[item[0]] = executor.submit(_run_task, func, item[1])
                while following in done:
                    result, records, error = done.pop(following)
                    _replay(records)
                    if error is not None:
                        raise error
                    yield result
                    following += 1
                if not pending:
                    if exhausted and not done:
                        return
                    continue
                finished, _ = cf.wait(pending.values(), return_when=cf.FIRST_COMPLETED)
                for number in [n for n, future in pending.items() if future in finished]:
                    done[number] = pending.pop(number).result()
        except BrokenProcessPool:
            if self._stopped_by is not None:  # killed by ``stop``: the job stops, it did not crash
                raise StopRequested(self._stopped_by) from None
            raise
        finally:
            for future in pending.values():
                future.cancel()

    def call(self, func: Callable[..., Any], /, **kwargs: Any) -> Any:
        """``func(**kwargs)`` in a worker process."""
        return next(self.imap(func, [kwargs], 1))


def useful_width(sizes: Iterable[int]) -> int:
    """How many workers a job's files keep busy: their total size in units of the largest file,
    rounded (a short tail file beside a long one gets no worker of its own: it would idle)."""
    sizes = list(sizes)
    return max(1, int(sum(sizes) / max(sizes) + 0.5)) if sizes else 1


def folder_width(folder: str | os.PathLike) -> int:
    """``useful_width`` of the segments (``*.wav``) in ``folder``; 1 while it does not exist yet."""
    if not os.path.isdir(folder):
        return 1
    return useful_width(e.stat().st_size for e in os.scandir(folder) if e.name.endswith(".wav"))


_POOLS: dict[int, WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def worker_pool(size: int) -> WorkerPool:
    """The process-wide pool for ``size`` cores (created on first use, shared by every job)."""
    with _POOLS_LOCK:
        return _POOLS.setdefault(size, WorkerPool(size))


def stop_pools(signum: int) -> None:
    """The run is stopping on ``signum``: stop every pool of this process (``WorkerPool.stop``)."""
    for pool in list(_POOLS.values()):
        pool.stop(signum)


def imap(
    func: Callable[..., Any], tasks: Iterable[dict[str, Any]], pool: WorkerPool | None, width: int = 1
) -> Iterator[Any]:
    """``func(**task)`` for every task: in ``pool`` when given, else one by one in this thread."""
    if pool is None:
        return (func(**task) for task in tasks)
    return pool.imap(func, tasks, width)
