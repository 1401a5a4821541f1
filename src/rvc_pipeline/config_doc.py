"""``config/README.md`` from ``config/schema.yaml``: every key with its type, default and description.

Run ``python -m rvc_pipeline.config_doc`` from the repository root after changing the schema; a
test fails while the README is out of date.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

HEADER = """\
# Configuration

`config/config.yaml` holds what changes results: the experiments and the settings of each step.
Snakemake validates it against `config/schema.yaml` before any job runs (a misspelt key fails with
its name) and fills in the defaults below. Threads, GPUs and cluster settings belong to the
profiles (`profiles/`), not here.

This page is generated from the schema (`python -m rvc_pipeline.config_doc`); edit the schema, not
this page.
"""
BOUNDS = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<"}


def _code(value: object) -> str:
    return f"`{json.dumps(value)}`" if not isinstance(value, str) else f"`{value}`"


def key_type(prop: dict) -> str:
    """The key's type as read by a user: ``one of `a`, `b` `` for an enum, bounds after the type."""
    if "enum" in prop:
        return "one of " + ", ".join(_code(v) for v in prop["enum"])
    bounds = [f"{sign} {prop[bound]}" for bound, sign in BOUNDS.items() if bound in prop]
    return ", ".join([prop.get("type", "any"), *bounds])


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _children(key: str, prop: dict) -> tuple[dict, str]:
    """The keys inside an object and their prefix: ``key.`` or, for a map of named entries (the
    experiments), ``key.NAME.``."""
    if "properties" in prop:
        return prop["properties"], f"{key}."
    entry = prop.get("additionalProperties")
    if isinstance(entry, dict) and "properties" in entry:
        return entry["properties"], f"{key}.NAME."
    return {}, ""


def rows(properties: dict, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """(key, type, default, description) of every key, depth first, nested keys dotted
    (``preprocess.slicer.hop_ms``); an object's default (``{}``) is left to its keys."""
    for name, prop in properties.items():
        key = f"{prefix}{name}"
        children, inner = _children(key, prop)
        default = _code(prop["default"]) if "default" in prop and not children else ""
        yield key, key_type(prop), default, _cell(prop.get("description", ""))
        yield from rows(children, inner)


def render(schema: dict) -> str:
    """The README's text: the header, then one table per top-level section."""
    parts = [HEADER]
    for section, prop in schema["properties"].items():
        required = " (required)" if section in schema.get("required", ()) else ""
        parts.append(f"\n## `{section}`{required}\n\n{_cell(prop.get('description', ''))}\n")
        parts.append("\n| key | type | default | description |\n|---|---|---|---|\n")
        properties, prefix = _children(section, prop)
        if not properties:  # a top-level key without keys inside: its own row
            properties, prefix = {section: prop}, ""
        parts.extend(f"| `{k}` | {t} | {d} | {text} |\n" for k, t, d, text in rows(properties, prefix))
    return "".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", type=Path, default=Path("config/schema.yaml"), help="default: %(default)s")
    parser.add_argument("-o", "--output", type=Path, default=Path("config/README.md"), help="default: %(default)s")
    args = parser.parse_args(argv)
    args.output.write_text(render(yaml.safe_load(args.schema.read_text())))


if __name__ == "__main__":
    main()
