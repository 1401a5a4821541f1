"""Whether the workflow's working directory (``--directory``) takes writes, asked at planning.

Snakemake takes its lock in ``.snakemake/`` there only after it has parsed the workflow; a
read-only or full folder then ends in a traceback from inside Snakemake. Standard library only.
"""

from __future__ import annotations

import os
import tempfile

from rvc_pipeline.faults import fault_point

# What the probe writes: one page, which a full file system refuses at the write.
PROBE_BYTES = 4096


def unwritable_reason(folder: str | os.PathLike) -> str | None:
    """One line saying why nothing can be written in ``folder`` (read-only, full), or None."""
    try:
        # An unnamed temp file where the file system has them: nothing is left behind on a kill.
        with tempfile.TemporaryFile(dir=folder) as probe:
            fault_point("workdir_write")  # a full folder, for the tests
            probe.write(bytes(PROBE_BYTES))
            probe.flush()
    except OSError as err:
        return (
            f"cannot write in the working directory {os.fspath(folder)}: {err.strerror}; Snakemake's "
            "records (.snakemake/) and the results go there: give --directory a writable folder with free space"
        )
    return None
