"""GPU work in batches (a cluster's shape): which recordings share a job, and running one batch.

A batch job runs the per-recording GPU step (HuBERT features, device pitch) for each of its
recordings in one process, so the model loads once (the loaders are cached per process), and
writes each recording's own outputs and log, the same files the per-recording rules write.

Standard library only: the workflow reads this at every start when batches are configured.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rvc_pipeline.logs import run_logged


def batch_count(recordings: int, size: int) -> int:
    """How many batches ``recordings`` fill at about ``size`` each (at least one)."""
    return max(1, math.ceil(recordings / size))


def batch_of(name: str, count: int) -> int:
    """The batch (0 … count−1) of the recording ``name`` among ``count`` batches.

    Linear hashing: a stable hash of the name, modulo the power of two at or above ``count``, or
    modulo half that power where the result is not a batch yet. A recording's batch depends only
    on its name and ``count``, not on the other names; growing ``count`` by one splits exactly one
    batch in two, the others keep their members.
    """
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    level = 1 << (count - 1).bit_length()
    bucket = digest % level
    return bucket if bucket < count else digest % (level // 2)


def resource_value(value: Any) -> Any:
    """A resource from the config as Snakemake wants it: numbers as numbers, environment
    variables expanded (``--config`` hands nested values over as text)."""
    if not isinstance(value, str):
        return value
    value = os.path.expandvars(value)
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


@dataclass(frozen=True)
class GpuBatch:
    """One batch job: recordings of one experiment, and the cluster resources the job asks for
    (``runtime`` given per recording, asked for all of them)."""

    experiment: str
    number: int
    sources: tuple[str, ...]
    dim: int
    resources: Mapping[str, Any] = field(default_factory=dict)

    def rule(self, step: str) -> str:
        """The batch's rule name for ``step``, e.g. ``extract_features_batch_alice_3``."""
        return f"{step}_batch_{self.experiment}_{self.number}"

    def paths(self, pattern: str) -> list[str]:
        """``pattern`` for each recording, in the batch's order."""
        return [self.path(pattern, source=source) for source in self.sources]

    def path(self, pattern: str, **more: str) -> str:
        return pattern.format(experiment=self.experiment, dim=self.dim, number=self.number, **more)

    def job_resources(self) -> dict[str, Any]:
        """The resources of the batch job: the configured ones, ``runtime`` summed over its recordings."""
        resources = {name: resource_value(value) for name, value in self.resources.items()}
        if "runtime" in resources:
            resources["runtime"] = math.ceil(resources["runtime"] * len(self.sources))
        return resources


def gpu_batches(
    experiment: str, sources: Iterable[str], size: int, *, dim: int, resources: Mapping[str, Any]
) -> list[GpuBatch]:
    """The non-empty batches of an experiment's recordings, about ``size`` each, in batch order."""
    names = sorted(sources)
    count = batch_count(len(names), size)
    members: dict[int, list[str]] = {}
    for name in names:
        members.setdefault(batch_of(name, count), []).append(name)
    return [
        GpuBatch(experiment, number, tuple(members[number]), dim, dict(resources)) for number in sorted(members)
    ]


def run_each(func: Callable[..., Any], /, *, logs: Iterable[str], per_member: Mapping[str, list], **shared: Any) -> None:
    """``func`` once per recording, in order, each call logged to its own log (``logs``): the
    ``per_member`` lists give each call its own arguments, ``shared`` the same to all."""
    for index, log in enumerate(logs):
        run_logged(log, func, **{key: values[index] for key, values in per_member.items()}, **shared)


def device_pitch(method_name: str) -> Callable[..., Any]:
    """The per-recording extraction of a device pitch method, called as its rule calls it."""
    from rvc_pipeline.pitch.device import extract_device_dir

    return functools.partial(extract_device_dir, method_name=method_name)
