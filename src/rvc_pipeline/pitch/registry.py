"""The pitch methods, each named once: where it runs, the weights it needs, its version, its code.

Standard library only: the workflow reads this at every start to plan. A method's code is named
by a dotted path and imported only inside its jobs (`implementation`). Adding a method is its
module and one `PitchMethod` line here (plus, with weights, its entry in the pretrained manifest,
and its name in the two enums of ``config/schema.yaml``, which a test holds equal to `METHODS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rvc_pipeline.devices import DEVICE_PITCH_RULE

POOL, DEVICE = "pool", "device"
# One rule per kind of execution.
RULES = {POOL: "extract_f0", DEVICE: DEVICE_PITCH_RULE}


@dataclass(frozen=True)
class PitchMethod:
    """One pitch method.

    ``runs``: POOL (the CPU worker pool; ``implementation`` is a function 16 kHz audio -> Hz) or
    DEVICE (the job's device, GPU where given; ``implementation`` is a loader ``(weights, device)``
    returning an estimator with ``f0(audio)`` and ``f0_many(audios)``, and optionally
    ``runs(lengths)``: how a source's segments go to ``f0_many``, see ``pitch.device``). ``weights``: the key of the
    pretrained manifest it reads, or None; ``reader``, for methods with weights, a function path ->
    network that reads them strictly, without a device or a cache (the pretrained checks). ``version``: bump it when the method's outputs change,
    and exactly its jobs rerun. ``conversion_median``: the median filter RVC's conversion applies
    to its contour (1 = none).
    """

    name: str
    runs: str
    weights: str | None
    version: str
    implementation: str
    conversion_median: int = 1
    reader: str | None = None

    @property
    def extract_rule(self) -> str:
        return RULES[self.runs]


METHODS: dict[str, PitchMethod] = {
    m.name: m
    for m in (
        PitchMethod("pm", POOL, None, "1", "rvc_pipeline.pitch.classic.pm"),
        PitchMethod("harvest", POOL, None, "1", "rvc_pipeline.pitch.classic.harvest", conversion_median=3),
        PitchMethod("dio", POOL, None, "1", "rvc_pipeline.pitch.classic.dio"),
        PitchMethod("rmvpe", DEVICE, "rmvpe", "1", "rvc_pipeline.pitch.rmvpe.load_rmvpe",
                    reader="rvc_pipeline.pitch.rmvpe.loader.rmvpe_network"),
        PitchMethod("crepe", DEVICE, "crepe_full", "1", "rvc_pipeline.pitch.crepe.load_full",
                    reader="rvc_pipeline.pitch.crepe.full_network"),
        PitchMethod("crepe-tiny", DEVICE, "crepe_tiny", "1", "rvc_pipeline.pitch.crepe.load_tiny",
                    reader="rvc_pipeline.pitch.crepe.tiny_network"),
        PitchMethod("fcpe", DEVICE, "fcpe", "1", "rvc_pipeline.pitch.fcpe.load_fcpe", reader="rvc_pipeline.pitch.fcpe.fcpe_network"),
    )
}


def device_rules() -> tuple[str, ...]:
    """The extract rules that run on the job's device (GPU where given): the profile's GPU routing."""
    return (RULES[DEVICE],)


def names(runs: str | None = None) -> tuple[str, ...]:
    """The methods' names (those of kind ``runs`` when given), in the registry's order."""
    return tuple(m.name for m in METHODS.values() if runs in (None, m.runs))


def method(name: str, runs: str | None = None) -> PitchMethod:
    """The method called ``name`` (of kind ``runs`` when given); anything else is a ValueError naming the choices."""
    choices = names(runs)
    if name not in choices:
        kind = f" that runs in the {runs}" if runs else ""
        raise ValueError(f"unknown f0 method {name!r}{kind}; expected one of {', '.join(choices)}")
    return METHODS[name]


def _imported(path: str) -> Callable[..., Any]:
    module, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def implementation(name: str) -> Callable[..., Any]:
    """The method's function (POOL) or loader (DEVICE), imported now: call this only inside jobs."""
    return _imported(method(name).implementation)


def read_weights(name: str, path: str) -> Any:
    """The method's network from the weights at ``path``, read strictly (a ValueError says why not)."""
    return _imported(method(name).reader)(path)


def tracker(name: str, weights: str | None = None, device: str = "cpu") -> Callable[[Any], Any]:
    """A function 16 kHz audio -> f0 in Hz (0 = unvoiced) for one whole input, weights loaded once."""
    entry = method(name)
    if entry.runs == POOL:
        return implementation(name)
    if weights is None:
        raise ValueError(f"f0_method {name} needs its weights (pretrained key {entry.weights!r}: rvc-pipeline pretrained fetch)")
    return implementation(name)(weights, device).f0
