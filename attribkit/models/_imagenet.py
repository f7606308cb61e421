"""ImageNet-1k's class names and WordNet ids, read from package data (``imagenet_classes.tsv``).

The file was written once from torchvision's ``VGG16_Weights.IMAGENET1K_V1.meta["categories"]`` (the
names) and timm's ``ImageNetInfo().label_names()`` (the WordNet ids, sorted: the class-index order of
both libraries); ``tests/test_imagenet_classes.py`` checks it still agrees with them. Reading 1,000 lines
costs about a millisecond; importing torchvision for them cost about as much as importing torch.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, ...], tuple[str, ...]]:
    lines = files(__package__).joinpath("imagenet_classes.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line]  # lines[0] is the header "wnid<TAB>name"
    return tuple(w for w, _ in rows), tuple(n for _, n in rows)


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names in class-index order (sorted WordNet ids), offline.

    Example
    -------
    >>> imagenet_classes()[285]
    'Egyptian cat'
    """
    return _table()[1]


def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 synset ids in class-index order (sorted; torchvision's and timm's order).

    Example
    -------
    >>> imagenet_wnids()[285]
    'n02124075'
    """
    return _table()[0]
