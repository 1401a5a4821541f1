"""The check every command that reads files and writes one makes before it writes: the output is
none of its inputs (a merge written over its first model would destroy the model it came from)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def refuse_overwrite(
    output: str | os.PathLike, sources: Mapping[str, str | os.PathLike | None], *, what: str
) -> None:
    """Raise ValueError naming both when writing ``what`` to ``output`` would replace one of the
    ``sources`` (role -> path; None and missing paths are skipped), or land inside a source folder.

    The same file under another name counts too (a symbolic or hard link, ``./x`` for ``x``).
    """
    for role, source in sources.items():
        if source is None or not os.path.exists(source):
            continue
        if os.path.isdir(source):
            # realpath: a link (or a path through one) into the folder lands inside it too.
            folder = os.path.realpath(source)
            if os.path.commonpath([folder, os.path.realpath(output)]) == folder:
                raise ValueError(
                    f"refusing to write {what} to {output}: it is inside the {role} {source}; "
                    "choose another output file"
                )
        elif os.path.exists(output) and os.path.samefile(output, source):
            alias = os.path.abspath(output) != os.path.abspath(source)
            same = " (the same file under another name: a link)" if alias else ""
            raise ValueError(
                f"refusing to write {what} to {output}: it is the {role} {source}{same}; "
                "choose another output file"
            )
