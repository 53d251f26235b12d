"""Symbolic differentiation: grad (reverse mode), Rop (forward mode) and friends."""

from .forward import Rop
from .reverse import grad

__all__ = ["Rop", "grad"]
