"""Pictures: saliency heatmaps, overlays on the photo, and side-by-side panels saved as PNG."""

from attribkit.render._boxes import draw_boxes
from attribkit.render._figures import heatmap, overlay, save_panel, to_uint8_rgb

__all__ = ["draw_boxes", "heatmap", "overlay", "save_panel", "to_uint8_rgb"]
