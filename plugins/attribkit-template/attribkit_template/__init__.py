"""attribkit-template: a minimal third-party attribkit plugin to copy."""

from attribkit_template.methods import GradientXInput

__all__ = ["GradientXInput"]
