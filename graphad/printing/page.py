"""The self-contained HTML view of a graph dump: ``write_graph(f, "graph.html")``.

The page (``viewer.html``) carries its data, styles and script inline and loads
nothing: open it from disk, pan by dragging, zoom with the wheel, click a node for its
details (op, params, type and shape, the user's line, a fused kernel's expression and
its steps), follow its inputs and readers, or find nodes by op, name or line. Positions
come from ``layout.layered``, so no Graphviz is needed and 5,000 nodes lay out in about
a second.
"""

from __future__ import annotations

import html
import json
from importlib import resources

from .export import node_lines, to_networkx
from .layout import box_size, layered


def page_data(obj) -> dict:
    """The page's data: ``nodes`` (id, kind, role, fused, grad, drawn ``lines``,
    position and size, and every attribute of ``to_networkx`` under ``attrs``) and
    ``edges`` as pairs of node indices."""
    graph = to_networkx(obj)
    lines = {n: node_lines(d) for n, d in graph.nodes(data=True)}
    sizes = {n: box_size(text) for n, text in lines.items()}
    where = layered(graph, sizes)
    index = {n: i for i, n in enumerate(graph.nodes)}
    nodes = []
    for n, d in graph.nodes(data=True):
        attrs = dict(d)
        (x, y), (w, h) = where[n], sizes[n]
        nodes.append(
            dict(
                id=n,
                kind=d["kind"],
                role=d.get("role"),
                fused=bool(d.get("fused")),
                grad=bool(d.get("grad")),
                lines=lines[n],
                x=round(x, 1),
                y=round(y, 1),
                w=round(w, 1),
                h=round(h, 1),
                attrs=attrs,
            )
        )
    edges = [[index[a], index[b]] for a, b in graph.edges()]
    return {"nodes": nodes, "edges": edges}


def to_html(obj, title="graph") -> str:
    """The page for the graph of ``obj`` (what ``to_networkx`` accepts).

    >>> import graphad as ga
    >>> page = ga.printing.to_html(ga.exp(ga.vector("x")), title="exp")
    >>> page.startswith("<!doctype html>"), "Elemwise{exp}" in page
    (True, True)
    """
    template = resources.files(__package__).joinpath("viewer.html").read_text("utf-8")
    data = json.dumps(page_data(obj), separators=(",", ":"))
    data = data.replace("<", "\\u003c")  # no markup inside the <script> element
    return template.replace("__TITLE__", html.escape(title)).replace("__DATA__", data)
