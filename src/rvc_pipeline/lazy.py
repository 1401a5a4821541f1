"""A stage sub-package's exports, imported where they are first called.

The ``run:`` blocks of the rules import each job's entry point from its stage package
(``from rvc_pipeline.preprocess import slice_source``). The package hands out an ``Entry`` that
names the implementing function: the package's light modules stay light when Snakemake imports
them at parse time, and a job that sends its entry point to a worker process (slicing) sends the
name, so Snakemake's own process never imports the stage's heavy modules (0.7 s, holding the GIL,
on the path of the run's first job).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any


class Entry:
    """The function ``name`` of ``module``, imported on its first call (and pickled by name)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    @functools.cached_property
    def target(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return Entry, (self.module, self.name)

    def __repr__(self) -> str:
        return f"<entry {self.module}.{self.name}>"


def lazy_exports(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that gives ``name`` as an ``Entry`` of
    ``package.modules[name]``."""

    def __getattr__(name: str) -> Any:
        if name not in modules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return Entry(f"{package}.{modules[name]}", name)

    return __getattr__
