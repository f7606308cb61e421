"""Sharding a study: across ``torchrun`` processes (rank-strided photos, a barrier, a merge on rank 0), or
one shard alone (``shard=(i, n)``: photos ``i, i + n, ...`` into a folder of its own, no process group;
:func:`attribkit.study.merge_studies` joins the folders, e.g. after a SLURM array job)."""

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
    alone: bool = False
    """One shard run by itself (``shard=(i, n)``): no other process to wait for, no merge here."""

    def barrier(self) -> None:
        if self.world > 1 and not self.alone:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def current_shard(distributed: bool | None = None, shard: tuple[int, int] | None = None) -> Shard:
    """The shard of this process.

    ``shard=(i, n)`` is shard ``i`` of ``n`` run alone (``0 <= i < n``; an
    :class:`~attribkit.errors.OptionError` otherwise, or under ``torchrun``, whose ranks are the shards).
    ``distributed=None`` follows the environment: under ``torchrun`` (``WORLD_SIZE`` > 1) the process
    group is joined (gloo: the study only needs a barrier, and gloo works with and without GPUs);
    ``False`` always runs alone; ``True`` requires a process group or torchrun's variables.
    """
    import torch.distributed as dist

    if shard is not None:
        return alone(shard, distributed)
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


def alone(shard: tuple[int, int], distributed: bool | None = None) -> Shard:
    """Shard ``(i, n)`` run by itself (see :func:`current_shard`)."""
    import torch.distributed as dist

    parts = () if isinstance(shard, str) else tuple(shard) if isinstance(shard, (tuple, list)) else ()
    if len(parts) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in parts):
        raise OptionError(f"shard must be (index, count), e.g. (0, 4); got {shard!r}")
    index, count = parts
    if not 0 <= index < count:
        raise OptionError(f"shard must be (i, n) with 0 <= i < n; got {shard!r}")
    if distributed or int(os.environ.get("WORLD_SIZE", "1")) > 1 or (dist.is_available() and dist.is_initialized()):
        raise OptionError("a shard runs alone (shard=(i, n), --shard i/n); under torchrun the ranks are the shards")
    return Shard(index, count, alone=True)
