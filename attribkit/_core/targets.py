"""Turning the many spellings of ``target`` into one ``[N, K]`` index tensor, with errors that say why."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from attribkit._core.interfaces import TargetType
from attribkit.errors import TargetError


@dataclass(frozen=True)
class Targets:
    """Class indices ``[N, K]`` and whether the caller asked for one class per image (drop the K axis)."""

    index: torch.Tensor
    single: bool

    @property
    def k(self) -> int:
        return int(self.index.shape[1])


def resolve_targets(
    target: TargetType, top_k: int | None, scores: torch.Tensor
) -> Targets:
    """Resolve ``target``/``top_k`` against class scores ``[N, num_classes]`` (detached use only)."""
    if scores.ndim != 2:
        raise TargetError(
            f"the model must return class scores of shape [N, num_classes]; got {tuple(scores.shape)}"
        )
    n, num_classes = scores.shape
    if top_k is not None:
        if target is not None:
            raise TargetError("give either target or top_k, not both")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= num_classes:
            raise TargetError(f"top_k must be an int in [1, {num_classes}]; got {top_k!r}")
        return Targets(scores.detach().topk(top_k, dim=1).indices, single=False)
    if target is None:
        return Targets(scores.detach().argmax(dim=1, keepdim=True), single=True)

    if isinstance(target, bool):
        raise TargetError(f"target must be a class index, not a bool ({target!r})")
    if isinstance(target, int):
        index = torch.full((n, 1), target, dtype=torch.long)
        single = True
    else:
        try:
            t = torch.as_tensor(target)
        except (TypeError, ValueError) as exc:
            raise TargetError(
                f"target must be an int, a sequence of ints [N] or [N, K]; got {target!r}"
            ) from exc
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise TargetError(f"target must hold integer class indices; got dtype {t.dtype}")
        if t.ndim == 0:
            index, single = t.reshape(1, 1).expand(n, 1), True
        elif t.ndim == 1:
            if t.numel() != n:
                raise TargetError(
                    f"target has {t.numel()} entries but the batch has {n} images "
                    "(give one class per image, or an int for all)"
                )
            index, single = t.reshape(n, 1), True
        elif t.ndim == 2:
            if t.shape[0] != n or t.shape[1] == 0:
                raise TargetError(
                    f"target of shape {tuple(t.shape)} does not fit a batch of {n} images "
                    "(expected [N, K] with K >= 1)"
                )
            index, single = t, False
        else:
            raise TargetError(f"target must have at most 2 dimensions; got shape {tuple(t.shape)}")
    index = index.to(dtype=torch.long, device=scores.device)
    bad = (index < 0) | (index >= num_classes)
    if bool(bad.any()):
        raise TargetError(
            f"target class {int(index[bad][0])} is out of range for a model with {num_classes} classes"
        )
    return Targets(index.contiguous(), single)
