"""Reading a fairseq checkpoint with ``torch.load(weights_only=True)``, its config objects inert.

A fairseq checkpoint pickles, besides tensors, its fairseq / omegaconf / argparse config objects.
They are allowlisted as stand-ins that only record their state; any other global
(``os.system``, ``builtins.eval``...) is refused before anything is unpickled.
"""

from __future__ import annotations

import functools
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from rvc_pipeline.torch_files import diagnose

# Globals a fairseq checkpoint pickles besides tensors: its config objects. They become inert
# stand-ins; everything else that torch's weights_only unpickler does not allow is refused.
_CONFIG_MODULES = ("fairseq.", "omegaconf.", "typing.", "numpy.")
_CONFIG_GLOBALS = frozenset(
    {"argparse.Namespace", "operator.getitem"}
    | {f"builtins.{name}" for name in ("dict", "list", "tuple", "str", "int", "float", "bool", "bytes", "object", "type")}
)


class UnsafeCheckpointError(ValueError):
    """A checkpoint that references a global which could run code when unpickled."""


class _ConfigStandIn:
    """Inert replacement for a pickled config class: it records constructor args and state, runs nothing."""

    qualified_name = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _ConfigStandIn:
        instance = super().__new__(cls)
        instance.args = args
        instance.state = None
        return instance

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stand-in {self.qualified_name} args={self.args!r} state={self.state!r}>"


@functools.cache
def _standin_class(qualified_name: str) -> type[_ConfigStandIn]:
    return type(qualified_name.rsplit(".", 1)[-1], (_ConfigStandIn,), {"qualified_name": qualified_name})


def plain(value: Any) -> Any:
    """Config stand-ins -> plain dicts, lists and values (omegaconf containers, nodes, enums, Namespace)."""
    if isinstance(value, _ConfigStandIn):
        state = value.state
        if isinstance(state, dict):
            if "_content" in state:  # omegaconf DictConfig / ListConfig
                return plain(state["_content"])
            if "_val" in state:  # omegaconf value node
                return plain(state["_val"])
            return {key: plain(item) for key, item in state.items()}  # Namespace, dataclass
        if state is None and len(value.args) == 1:  # enum member, pickled as Enum(value)
            return plain(value.args[0])
        return value
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def read_checkpoint(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of a fairseq checkpoint, its config classes allowlisted as stand-ins."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: {diagnose(path)}")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except (ValueError, RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path}: not a readable torch.save checkpoint: {diagnose(path, err)}") from err
    refused = sorted(n for n in names if not (n.startswith(_CONFIG_MODULES) or n in _CONFIG_GLOBALS))
    if refused:
        raise UnsafeCheckpointError(
            f"{path}: refusing to load: the pickle references {', '.join(refused)}, which could run code. "
            "Only tensors, plain containers and fairseq/omegaconf/argparse config objects are accepted."
        )
    standins = [(_standin_class(name), name) for name in names]
    try:
        with torch.serialization.safe_globals(standins):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: cannot unpickle the checkpoint safely: {err}") from err
