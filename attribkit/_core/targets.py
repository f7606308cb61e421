"""The one target resolver: every spelling of ``target``/``top_k`` → one ``[N, K]`` index tensor.

Spellings: ``None`` (each image's top-1), an int, ``[N]`` or ``[N, K]`` indices (sequences, arrays or
tensors), ``top_k=K``, and, when the caller names the model's classes, class names (case-insensitive),
WordNet ids (``"n02099601"``) and numeric strings, alone or inside the sequences. Every refusal is a
:class:`~attribkit.errors.TargetError` (also a ``ValueError``) whose message names the offending value
and says what was expected.

This module knows no model: names and WordNet ids come from the caller (``ModelInfo.targets`` passes the
model's own), so the core stays free of the model and data layers.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import torch

from attribkit._core.inputs import check_finite
from attribkit._core.interfaces import TargetType
from attribkit.errors import TargetError

#: A WordNet synset id as ImageNet spells its classes: ``n`` and eight digits.
WNID = re.compile(r"n\d{8}")

#: The classes' WordNet ids in index order, or a function returning them (called only on meeting one;
#: ``None``: the classes have none).
Wnids = Union[Sequence[str], Callable[[], Union[Sequence[str], None]], None]


@dataclass(frozen=True)
class Targets:
    """Class indices ``[N, K]`` and whether the caller asked for one class per image (drop the K axis)."""

    index: torch.Tensor
    single: bool

    @property
    def k(self) -> int:
        return int(self.index.shape[1])


def needs_scores(target: Any, top_k: int | None) -> bool:
    """Whether resolving ``target``/``top_k`` needs the model's class scores (a forward pass).

    ``None`` and ``top_k`` do; explicit classes do not (their range can be checked later, by whoever
    runs the model).
    """
    return target is None or top_k is not None


def resolve_targets(
    target: TargetType | str | Sequence[str] = None,
    top_k: int | None = None,
    scores: torch.Tensor | None = None,
    *,
    batch: int | None = None,
    classes: Sequence[str] | None = None,
    wnids: Wnids = None,
) -> Targets:
    """Resolve ``target``/``top_k`` into class indices.

    Parameters
    ----------
    target
        ``None`` (each image's top-1 class), an int, ``[N]`` or ``[N, K]`` class indices; with
        ``classes``, also class names, WordNet ids (with ``wnids``) and numeric strings.
    top_k
        Each image's K highest-scoring classes (instead of ``target``).
    scores
        Class scores ``[N, num_classes]`` (logits or probabilities; only their order and shape are used).
        Needed for ``None`` and ``top_k``; without them, give ``batch``, and the range of explicit indices
        is checked against ``classes`` if given, else left to whoever runs the model.
    batch
        N, when ``scores`` are not given.
    classes
        The model's class names in index order (names are matched case-insensitively).
    wnids
        The classes' WordNet ids in index order, or a function returning them.

    Returns
    -------
    Targets
        ``index`` ``[N, K]`` long, on the scores' device, and ``single`` (the caller gave one class per
        image: drop the K axis of the result).

    Raises
    ------
    TargetError
        For every target that does not fit (message: what was given and what was expected): entries
        that are not class indices (``None``, ``1.5``, ``True``), an empty target, a wrong shape or
        length, a class out of range, an unknown name.
    InputError
        ``scores`` hold NaN or infinite values (classes chosen from them would be arbitrary).

    Example
    -------
    >>> resolve_targets([[1, 2]], batch=1).index.tolist()
    [[1, 2]]
    >>> resolve_targets("b", batch=2, classes=["a", "b"]).index.tolist()
    [[1], [1]]
    """
    if scores is not None and scores.ndim != 2:
        raise TargetError(
            f"the model must return class scores of shape [N, num_classes]; got {tuple(scores.shape)}"
        )
    num_classes: int | None
    if scores is not None:
        check_finite(scores.detach(), "the model's output")
        n, num_classes = int(scores.shape[0]), int(scores.shape[1])
    elif batch is not None:
        n, num_classes = int(batch), (len(classes) if classes is not None else None)
    else:
        raise TargetError("resolving a target needs the model's class scores or the batch size")
    device = scores.device if scores is not None else None

    if top_k is not None:
        if target is not None:
            raise TargetError("give either target or top_k, not both")
        limit = num_classes if num_classes is not None else "num_classes"
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1 or (
            num_classes is not None and top_k > num_classes
        ):
            raise TargetError(f"top_k must be an int in [1, {limit}]; got {top_k!r}")
        if scores is None:
            raise TargetError("top_k needs the model's class scores")
        return Targets(scores.detach().topk(top_k, dim=1).indices, single=False)
    if target is None:
        if scores is None:
            raise TargetError("target=None (the model's top-1 class) needs the model's class scores")
        return Targets(scores.detach().argmax(dim=1, keepdim=True), single=True)

    names = _Names(classes, wnids)
    index, single = _shaped(names.indices(target), n)
    index = index.to(dtype=torch.long, device=device)
    if num_classes is not None:
        bad = (index < 0) | (index >= num_classes)
        if bool(bad.any()):
            raise TargetError(
                f"target class {int(index[bad][0])} is out of range for a model with {num_classes} classes"
            )
    return Targets(index.contiguous(), single)


def class_index(name_or_index: str | int, *, classes: Sequence[str], wnids: Wnids = None) -> int:
    """One class index from an index, a numeric string, a class name or a WordNet id.

    Example
    -------
    >>> class_index("B", classes=["a", "b"])
    1
    """
    return int(resolve_targets(name_or_index, batch=1, classes=classes, wnids=wnids).index[0, 0])


def _shaped(t: torch.Tensor | int, n: int) -> tuple[torch.Tensor, bool]:
    """``[N, K]`` indices and ``single`` from an int or an index tensor of 0, 1 or 2 dimensions."""
    if isinstance(t, int):
        return torch.full((n, 1), t, dtype=torch.long), True
    if t.ndim == 0:
        return t.reshape(1, 1).expand(n, 1), True
    if t.ndim == 1:
        if t.numel() != n:
            raise TargetError(
                f"target has {t.numel()} entries but the batch has {n} images "
                "(give one class per image, or an int for all)"
            )
        return t.reshape(n, 1), True
    if t.ndim == 2:
        if t.shape[0] != n or t.shape[1] == 0:
            raise TargetError(
                f"target of shape {tuple(t.shape)} does not fit a batch of {n} images "
                "(expected [N, K] with K >= 1)"
            )
        return t, False
    raise TargetError(f"target must have at most 2 dimensions; got shape {tuple(t.shape)}")


class _Names:
    """Class names and WordNet ids → indices (the lookups are built on first use)."""

    def __init__(self, classes: Sequence[str] | None, wnids: Wnids) -> None:
        self.classes = classes
        self._wnids = wnids
        self._lowered: dict[str, int] | None = None

    def indices(self, target: Any) -> torch.Tensor | int:
        """An int, or an integer tensor, with every name replaced by its index."""
        if isinstance(target, bool):
            raise TargetError(f"target must be a class index, not a bool ({target!r})")
        if isinstance(target, int):
            return target
        if isinstance(target, str):
            return self.index(target)
        if isinstance(target, (list, tuple)):
            check_entries(target, target)
            if _has_str(target):
                target = self._named(target)
        try:
            t = torch.as_tensor(target)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TargetError(
                f"target must be an int, a sequence of ints [N] or [N, K]; got {target!r}"
            ) from exc
        if t.numel() == 0:
            raise TargetError(f"target is empty ({target!r}); give at least one class per image")
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            shown = repr(t.item()) if t.numel() == 1 else f"dtype {t.dtype}"
            raise TargetError(f"target must hold integer class indices, not {shown}")
        return t

    def _named(self, items: Any) -> Any:
        """Nested lists with every name replaced by its index."""
        if isinstance(items, str):
            return self.index(items)
        if isinstance(items, (list, tuple)):
            return [self._named(i) for i in items]
        return items

    def index(self, name: str) -> int:
        text = name.strip()
        if text.isdigit():
            return int(text)
        if self.classes is None:
            raise TargetError(
                f"target must be an int, a sequence of ints [N] or [N, K]; got {name!r} "
                "(class names need the model's classes)"
            )
        if WNID.fullmatch(text):
            wnids = self._wnids() if callable(self._wnids) else self._wnids
            if wnids is not None and text in wnids:
                return list(wnids).index(text)
        if self._lowered is None:
            self._lowered = {}
            for i, c in enumerate(self.classes):
                self._lowered.setdefault(c.lower(), i)
        wanted = text.lower()
        if wanted in self._lowered:
            return self._lowered[wanted]
        close = difflib.get_close_matches(wanted, list(self._lowered), n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(self.classes[self._lowered[c]] for c in close)}" if close else ""
        what = "WordNet id" if WNID.fullmatch(text) else "class"
        raise TargetError(f"unknown {what} {name!r} (not among the model's {len(self.classes)} classes){hint}")


def check_entries(items: Sequence[Any], target: Any) -> None:
    """Refuse the first entry of (nested) sequences that is not a class index or a name: ``None``, a
    float (``1.5``, also ``1.0``) or a bool (``True`` is not class 1); ``target`` is named in the message."""
    for item in items:
        if isinstance(item, (list, tuple)):
            check_entries(item, target)
        elif item is None or isinstance(item, (bool, float, np.bool_, np.floating)):
            raise TargetError(f"target {target!r} holds {item!r}, which is not a class index")


def _has_str(items: Sequence[Any]) -> bool:
    return any(isinstance(i, str) or (isinstance(i, (list, tuple)) and _has_str(i)) for i in items)
