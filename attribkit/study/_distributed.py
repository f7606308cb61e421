"""Sharding a study across ``torchrun`` processes: rank-strided photos, a barrier, a merge on rank 0."""

from __future__ import annotations

import os
from dataclasses import dataclass

from attribkit.errors import OptionError


@dataclass(frozen=True)
class Shard:
    """This process's place in the run: photo ``i`` belongs to rank ``i % world``."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False
    """Whether the study started the process group (and so ends it)."""

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def current_shard(distributed: bool | None = None) -> Shard:
    """The shard of this process.

    ``distributed=None`` follows the environment: under ``torchrun`` (``WORLD_SIZE`` > 1) the process
    group is joined (gloo: the study only needs a barrier, and gloo works with and without GPUs);
    ``False`` always runs alone; ``True`` requires a process group or torchrun's variables.
    """
    import torch.distributed as dist

    if distributed is False:
        return Shard()
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size(), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not distributed:
        return Shard()
    if "MASTER_ADDR" not in os.environ:
        raise OptionError("a distributed study needs torchrun (or MASTER_ADDR, RANK, WORLD_SIZE) to start")
    dist.init_process_group(backend="gloo")
    return Shard(dist.get_rank(), dist.get_world_size(), True)
