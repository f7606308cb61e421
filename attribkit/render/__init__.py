"""Pictures: saliency heatmaps, overlays on the photo, and side-by-side panels saved as PNG."""

from attribkit.render._boxes import draw_boxes
from attribkit.render._figures import heatmap, overlay, save_panel, to_uint8_rgb
from attribkit.render._files import file_name, slug

__all__ = ["draw_boxes", "file_name", "heatmap", "overlay", "save_panel", "slug", "to_uint8_rgb"]

from attribkit._core.exports import publish as _publish  # noqa: E402

_publish("attribkit.render", globals(), __all__)
