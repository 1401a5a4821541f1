"""The processes of a run under torchrun: which one this is, and how they exchange objects
(gloo on CPU, nccl on CUDA). Outside torchrun there is one process and nothing is exchanged."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch.distributed as dist


@dataclass
class Ranks:
    """This process's place among the run's processes (rank 0 writes the files)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> Ranks:
    """Join the torchrun process group if RANK/WORLD_SIZE/LOCAL_RANK say we run under it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Ranks()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def gather(obj: Any, ranks: Ranks) -> list[Any]:
    if ranks.world == 1:
        return [obj]
    out: list[Any] = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out
