"""The package's layers hold: every import, at the top of a module or inside a function, goes to
the importer's own layer or a lower one of the table in ``rvc_pipeline.__doc__``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import rvc_pipeline

PACKAGE = Path(rvc_pipeline.__file__).parent


def layer_table(doc: str) -> dict[str, tuple[int, str]]:
    """``{module or sub-package: (rank, layer)}`` of the docstring's table (the indented block after
    ``::``), rank 0 the lowest; a row's deeper-indented lines continue it."""
    block = doc.split("::\n", 1)[1].strip("\n").split("\n\n")[0]
    rows: list[list[str]] = []
    for line in block.splitlines():
        if line.startswith("    ") and not line.startswith("     "):  # a row: its layer, then names
            rows.append(line.split())
        else:
            rows[-1].extend(line.split())
    table: dict[str, tuple[int, str]] = {}
    for rank, (layer, *names) in enumerate(rows):
        for name in names:
            assert f"rvc_pipeline.{name}" not in table, f"{name} has two rows"
            table[f"rvc_pipeline.{name}"] = (rank, layer)
    return table


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` by dotted name (a package by its ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported(module: str, is_package: bool, source: str, known: set[str]) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of this package in ``source``, wherever it stands; a
    ``from X import name`` counts as X.name when that is a module of ``known``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.append((node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base))
    ours = [(line, name) for line, name in found if name == "rvc_pipeline" or name.startswith("rvc_pipeline.")]
    return list(dict.fromkeys(ours))  # one per module named, not per name imported from it


def layer_of(module: str, table: dict[str, tuple[int, str]]) -> tuple[int, str] | None:
    """The (rank, layer) of the longest row name that is ``module`` or a package above it."""
    names = [name for name in table if module == name or module.startswith(name + ".")]
    return table[max(names, key=len)] if names else None


def violations(table: dict[str, tuple[int, str]], sources: dict[str, tuple[bool, str]]) -> list[str]:
    """One line per import that goes up a layer (``sources``: module -> (is a package, its code))."""
    known = set(sources)
    found = []
    for module, (is_package, source) in sources.items():
        own = layer_of(module, table)
        for line, target in imported(module, is_package, source, known):
            theirs = layer_of(target, table)
            if theirs is None or own is None or theirs[0] > own[0]:
                found.append(f"{module}:{line} ({own and own[1]}) imports {target} ({theirs and theirs[1]})")
    return found


TABLE = layer_table(rvc_pipeline.__doc__)
MODULES = package_modules(PACKAGE)


def test_every_module_has_one_layer_and_every_row_names_a_module():
    # The root holds the table and has no row: every import loads it, so it may import nothing of the package.
    assert [module for module in MODULES if module != "rvc_pipeline" and layer_of(module, TABLE) is None] == []
    assert [name for name in TABLE if name not in MODULES] == []


def test_every_import_goes_to_its_own_layer_or_lower():
    sources = {module: (path.name == "__init__.py", path.read_text(encoding="utf-8")) for module, path in MODULES.items()}
    assert violations(TABLE, sources) == []


@pytest.mark.parametrize(
    ("module", "is_package", "source"),
    [
        ("rvc_pipeline.progress", False, "from rvc_pipeline.training.history import read_history\n"),
        ("rvc_pipeline.pitch.rmvpe.loader", False, "def load():\n    from rvc_pipeline.training import loop\n"),
        ("rvc_pipeline.devices", False, "import rvc_pipeline.pitch.registry as registry\n"),
        ("rvc_pipeline.quality.speaker", False, "from ..training.history import QUALITY_COLUMNS\n"),
        ("rvc_pipeline.features", True, "from ..convert import pipeline\n"),
        ("rvc_pipeline.layout", False, "import rvc_pipeline\n"),  # the root has no layer
    ],
)
def test_an_import_up_a_layer_fails(module: str, is_package: bool, source: str):
    sources = {module: (is_package, source)} | {name: (False, "") for name in MODULES if name != module}
    found = violations(TABLE, sources)
    assert len(found) == 1 and re.match(rf"{re.escape(module)}:\d+ \([\w/]+\) imports rvc_pipeline", found[0])


def test_the_table_reads_rows_continued_lines_and_sub_modules():
    doc = "Layers ::\n\n    low   a b\n          c\n    high  d d.e\n\nprose\n"
    low, high = (0, "low"), (1, "high")
    assert layer_table(doc) == {"rvc_pipeline.a": low, "rvc_pipeline.b": low, "rvc_pipeline.c": low, "rvc_pipeline.d": high, "rvc_pipeline.d.e": high}
    assert layer_of("rvc_pipeline.d.e.f", {"rvc_pipeline.d": low, "rvc_pipeline.d.e": high}) == high
