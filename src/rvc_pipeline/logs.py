"""Logging set-up shared by the rule scripts, the thread-run rules and the CLI."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rvc_pipeline.faults import fault_point
from rvc_pipeline.stopping import StopRequested

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(asctime)s %(message)s"
PROGRESS_LOGGER = "rvc_pipeline.progress"  # the logger of progress lines (progress.py)


def _console_handler(thread: int | None = None) -> logging.Handler:
    """stderr (Snakemake's console for local jobs) for progress records, of one thread if given."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(CONSOLE_FORMAT, "%H:%M:%S"))
    handler.addFilter(lambda record: record.name == PROGRESS_LOGGER and thread in (None, record.thread))
    return handler


class _LogFile(logging.FileHandler):
    """A rule's log file that drops the records it cannot write (a full disk) without a word.

    logging's default prints a "--- Logging error ---" traceback per record, and closing the
    file raises the write's error again: both would bury the job's own one-line error, and the
    job fails or finishes on its own merits.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fault_point("log_write")  # a full disk refusing the record, for the tests
        except OSError:
            self.handleError(record)
        else:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        try:
            super().close()  # flushes what a full disk refused: it fails again, after closing
        except OSError:
            pass


def _file_handler(path: str | os.PathLike) -> logging.Handler:
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    handler = _LogFile(path, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def quiet_log_errors() -> None:
    """Let every log handler of this process drop what it cannot write, Snakemake's own log file
    included (``logging.raiseExceptions``): on a full disk each record would otherwise print a
    traceback."""
    logging.raiseExceptions = False


def to_rule_log(path: str | os.PathLike | None, level: int = logging.INFO) -> None:
    """Send all of this process's log records (and warnings) to a rule's log file, or stderr if None.

    With a file, progress lines (``rvc_pipeline.progress``) also go to stderr.
    """
    root = logging.getLogger()
    if path is None:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
    else:
        handler = _file_handler(path)
        root.addHandler(_console_handler())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)


@contextlib.contextmanager
def rule_log(path: str | os.PathLike, level: int = logging.INFO) -> Iterator[None]:
    """Log this thread's records to ``path`` while the block runs.

    Rules that keep a model loaded run as threads of one Snakemake process; filtering on the
    thread keeps each job's records in its own log.
    """
    handler = _file_handler(path)
    ident = threading.get_ident()
    handler.addFilter(lambda record: record.thread == ident)
    console = _console_handler(ident)
    root = logging.getLogger()
    root.addHandler(handler)
    root.addHandler(console)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
    logging.captureWarnings(True)
    start = time.perf_counter()
    try:
        yield
        logging.getLogger("rvc_pipeline").info("job done in %.3f s", time.perf_counter() - start)
    except StopRequested as stopped:  # a stop, not a failure: one line, no traceback
        logging.getLogger("rvc_pipeline").warning("%s", stopped)
        raise
    except Exception:
        logging.getLogger("rvc_pipeline").exception("job failed")
        raise
    finally:
        for added in (handler, console):
            root.removeHandler(added)
            added.close()


def run_script(log: str | os.PathLike | None, func: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``func(**kwargs)`` as the body of a job process (a ``script:`` job, a torchrun worker).

    Every record goes to ``log``, warnings and errors also to stderr, which Snakemake shows on the
    console; an exception is logged with its traceback before it ends the process, so the log
    says why the job failed. Without ``log`` everything goes to stderr. A stop signal
    (``StopRequested``) ends the process with its one line and the signal's exit status, no traceback.
    """
    to_rule_log(log)
    if log is not None:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter(FORMAT))
        # The interpreter prints the traceback of the exception that ends the process itself.
        console.addFilter(lambda record: not record.exc_info)
        logging.getLogger().addHandler(console)
    try:
        return func(**kwargs)
    except StopRequested as stopped:
        logging.getLogger("rvc_pipeline").warning("%s", stopped)
        raise SystemExit(stopped.exit_status) from None
    except Exception:
        logging.getLogger("rvc_pipeline").exception("job failed")
        raise


def run_logged(log: str | os.PathLike, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call ``func(*args, **kwargs)`` with this thread's records going to ``log`` (a rule's ``run:``)."""
    with rule_log(log):
        return func(*args, **kwargs)
