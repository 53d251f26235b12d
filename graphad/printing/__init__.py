"""Graph dumps: dprint (text); export and write (DOT, networkx, JSON, images, HTML)."""

from .dprint import dprint
from .export import to_dot, to_json, to_networkx
from .page import to_html
from .write import write_graph

__all__ = ["dprint", "to_dot", "to_html", "to_json", "to_networkx", "write_graph"]
