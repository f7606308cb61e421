"""What :class:`SaliencyMaps` and :class:`LocalisedClasses` show in a notebook: the same pictures as the
command line's panels (``attribkit saliency``, ``attribkit localise``), small (:mod:`attribkit.render._notebook`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from attribkit.render._notebook import MAX_TILES, Tile, finite, small

if TYPE_CHECKING:
    from attribkit.data._image import LoadedImage
    from attribkit.localisation._maps import SaliencyMaps
    from attribkit.localisation._pipeline import LocalisedClass

#: Under a picture of several classes' boxes: how to read it (``attribkit localise`` says the same).
TOP_K_CAPTION = ("thick box: the model's top class, drawn over the others; a class marked (low) has "
                 "p < 0.05 and no box drawn (its box is still in the list)")

#: What the darkened sides of a panel are: the model sees only its centre crop of a photo.
UNSEEN_CAPTION = ("darkened: outside the model's centre crop, where the map is unknown and a box seldom "
                  "reaches")


def seen_region(image: LoadedImage) -> tuple[int, int, int, int] | None:
    """The model's view of the photo, or ``None`` when its crop covers the whole photo."""
    box = image.geometry.crop_in_photo()
    return None if box == (0, 0, image.geometry.width, image.geometry.height) else box


def legend_labels(results: Sequence[LocalisedClass],
                  probability_label: Callable[[float], str] | None = None) -> list[str]:
    """Each class's legend line: name and probability (``probability_label``, default
    :func:`attribkit.render.probability_label`), its fallback if the box is one, and which better-scoring
    class's box it repeats (identical boxes are drawn one over the other)."""
    if probability_label is None:
        from attribkit.render import probability_label

    labels = []
    for i, r in enumerate(results):
        label = f"{r.name} {probability_label(r.score)}"
        if r.fallback is not None:
            label += f", fallback box ({r.fallback})"
        same = next((e.name for e in results[:i] if e.box is not None and e.box == r.box), None)
        if same is not None:
            label += f", same box as {same}"
        labels.append(label)
    return labels


def panel_caption(image: LoadedImage, classes: int, top_k_caption: str = TOP_K_CAPTION) -> str | None:
    """The caption under a localisation panel of ``classes`` classes (``None``: nothing to explain)."""
    parts = [top_k_caption] if classes > 1 else []
    if seen_region(image) is not None:
        parts.append(UNSEEN_CAPTION)
    return "; ".join(parts) or None


def saliency_tiles(found: SaliencyMaps) -> tuple[list[Tile], str | None]:
    """The model's input crop, then each class's map on it (the first :data:`MAX_TILES` - 1 classes),
    and a note counting the classes left out."""
    from attribkit.render import heatmap, is_low, probability_label

    shown = min(len(found.labels), MAX_TILES - 1)
    tiles = [Tile(small(found.image.input_rgb), "the model's input crop")]
    for k in range(shown):
        caption = f"{found.names[k]} ({found.labels[k]}) {probability_label(found.scores[k])}"
        tiles.append(Tile(small(heatmap(found.maps[k])), caption, muted=is_low(found.scores[k])))
    note = None if shown == len(found.labels) else f"{len(found.labels) - shown} more classes not shown"
    return tiles, note


def localised_tiles(image: LoadedImage, results: Sequence[LocalisedClass]) -> tuple[list[Tile], str | None]:
    """As ``attribkit localise``'s panel: every class's box (and the top class's mask) on the photo with a
    legend, and the top class's map over the photo."""
    from attribkit.render import box_legend, draw_boxes, overlay

    if not results:
        return [Tile(small(image.rgb), "no classes asked")], None
    shown = list(results)[: 2 * MAX_TILES]
    legend = box_legend(legend_labels(shown))
    boxes = [None if r.box is None else image.geometry.from_source(r.box) for r in shown]
    # Boxes are drawn at the photo's size and then shrunk, so their lines keep draw_boxes' proportions.
    drawn = draw_boxes(image.rgb, boxes, mask=np.asarray(shown[0].mask, bool), scores=[r.score for r in shown],
                       seen=seen_region(image))
    top = shown[0]
    tiles = [Tile(small(drawn), f"boxes, mask of {top.name}", legend=legend),
             Tile(small(overlay(image.rgb, finite(top.saliency))), f"map of {top.name}")]
    note = panel_caption(image, len(shown))
    if len(shown) < len(results):
        note = f"{len(results) - len(shown)} more classes not shown" + ("; " + note if note else "")
    return tiles, note
