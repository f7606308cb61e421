"""Pictures: saliency heatmaps, overlays on the photo, and side-by-side panels saved as PNG."""

from attribkit.render._boxes import box_legend, draw_boxes
from attribkit.render._figures import (
    LOW_PROBABILITY,
    OVERLAY_BLUR,
    heatmap,
    is_low,
    overlay,
    probability_label,
    save_panel,
    to_uint8_rgb,
)
from attribkit.render._files import file_name, slug
from attribkit.render._maps import save_map
from attribkit.render._notebook import SideBySide, side_by_side

__all__ = [
    "LOW_PROBABILITY",
    "OVERLAY_BLUR",
    "SideBySide",
    "box_legend",
    "draw_boxes",
    "file_name",
    "heatmap",
    "is_low",
    "overlay",
    "probability_label",
    "save_map",
    "save_panel",
    "side_by_side",
    "slug",
    "to_uint8_rgb",
]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.render", globals(), __all__)
