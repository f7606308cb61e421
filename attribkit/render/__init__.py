"""Pictures: saliency heatmaps, overlays on the photo, and side-by-side panels saved as PNG."""

from attribkit.render._figures import heatmap, overlay, save_panel, to_uint8_rgb

__all__ = ["heatmap", "overlay", "save_panel", "to_uint8_rgb"]
