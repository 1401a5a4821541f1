"""A rule log on a full disk: the job's own error comes through, no logging tracebacks.

``/dev/full`` refuses every write with ENOSPC, as a full disk does.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from rvc_pipeline.logs import run_logged

FULL = "/dev/full"
DISK_FULL = "[Errno 28] no space left on the device writing results/exp/x.wav"

pytestmark = pytest.mark.skipif(not os.path.exists(FULL), reason=f"no {FULL} here")


def _job_on_a_full_disk() -> None:
    logging.getLogger("rvc_pipeline.test").info("a record the log file cannot take")
    raise OSError(errno.ENOSPC, "no space left on the device writing results/exp/x.wav")


def test_a_thread_job_whose_log_is_on_a_full_disk_fails_with_its_own_error(capfd, monkeypatch):
    # Only this job's handlers: earlier tests' command lines leave ones on streams since closed.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    with pytest.raises(OSError) as failed:
        run_logged(FULL, _job_on_a_full_disk)
    assert str(failed.value) == DISK_FULL  # not the log file's error on closing
    assert "Logging error" not in capfd.readouterr().err
    assert not [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == FULL]


def test_a_script_job_whose_log_is_on_a_full_disk_ends_with_its_own_error_line():
    code = textwrap.dedent(
        f"""
        import errno, logging
        from rvc_pipeline.logs import run_script

        def job():
            logging.getLogger("rvc_pipeline.test").warning("a record the log file cannot take")
            raise OSError(errno.ENOSPC, "no space left on the device writing results/exp/x.wav")

        run_script({FULL!r}, job)
        """
    )
    ended = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ended.returncode == 1
    assert "Logging error" not in ended.stderr
    assert ended.stderr.splitlines()[-1] == f"OSError: {DISK_FULL}", ended.stderr
