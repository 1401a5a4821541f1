"""One line for a config that ``config/schema.yaml`` refuses, in place of Snakemake's message.

Snakemake's ``validate`` prints the failing part of the schema: all of it (a thousand lines) for a
misspelt top-level key. The line names the config files, where in the config the problem is, and
for an unknown key the keys allowed there. Standard library only (the workflow parses it at
every start); the error is jsonschema's, read by its attributes.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any


def config_error(error: BaseException, files: Sequence[str] = ()) -> str:
    """The line for ``error``: Snakemake's ``WorkflowError`` from ``validate``, raised while
    handling jsonschema's ``ValidationError``, or that error itself; any other error as it reads.
    """
    invalid = error if hasattr(error, "validator") else error.__context__
    if not hasattr(invalid, "validator"):
        return str(error)
    place = ".".join(map(str, invalid.absolute_path))
    source = f"config ({', '.join(map(str, files))})" if files else "config"
    if invalid.validator == "additionalProperties" and isinstance(invalid.instance, dict):
        where = f"in {place}" if place else "at the top level"
        return f"{source}: {_unknown_keys(invalid.instance, invalid.schema, where)}"
    return f"{source}: {place or 'top level'}: {invalid.message}"


def _unknown_keys(instance: dict[str, Any], schema: dict[str, Any], where: str) -> str:
    allowed = list(schema.get("properties", {}))
    unknown = [key for key in instance if key not in allowed]
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    keys = "key" if len(unknown) == 1 else "keys"
    return f"unknown {keys} {', '.join(hints)} {where}; the keys there are {', '.join(allowed)}"
