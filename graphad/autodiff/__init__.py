"""Symbolic differentiation: grad (reverse mode) and friends."""

from .reverse import grad

__all__ = ["grad"]
