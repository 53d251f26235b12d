"""Graph dumps: dprint (text); export and write (DOT, networkx, JSON, images, HTML)."""

from .dprint import dprint

__all__ = ["dprint"]
