"""A layered drawing of a graph dump for the HTML view, computed in Python.

Graphviz lays out a few hundred nodes well but takes minutes on the 5,000-node graphs
of a large model's gradient; the HTML view needs positions in well under a second and
nothing installed. This is the classic layered scheme, reduced to what a dataflow
graph needs: each node's layer is its longest path from the leaves (a leaf sits just
above its first reader), nodes in a layer are ordered by a few sweeps of the
barycenter heuristic (the mean position of their neighbours), then packed left to
right and centred.
"""

from __future__ import annotations

CHAR_WIDTH, LINE_HEIGHT = 7.0, 15.0  # px, of the page's 12 px monospace labels
PAD_X, PAD_Y, GAP_X, GAP_Y = 10.0, 6.0, 18.0, 36.0
SWEEPS = 4


def box_size(lines) -> tuple:
    """(width, height) of a node showing ``lines`` of text."""
    width = max((len(s) for s in lines), default=1) * CHAR_WIDTH + 2 * PAD_X
    return min(width, 420.0), len(lines) * LINE_HEIGHT + 2 * PAD_Y


def layered(graph, sizes) -> dict:
    """{node: (x, y)} of the top-left corner of each node of DAG ``graph``, whose
    node ``n`` is ``sizes[n] = (width, height)`` large."""
    import networkx as nx

    order = list(nx.topological_sort(graph))
    layer = {}
    for n in order:
        layer[n] = 1 + max((layer[p] for p in graph.predecessors(n)), default=-1)
    for n in reversed(order):  # leaves just above their first reader
        succ = [layer[s] for s in graph.successors(n)]
        if not graph.in_degree(n) and succ:
            layer[n] = min(succ) - 1
    rows: dict = {}
    for n in order:
        rows.setdefault(layer[n], []).append(n)
    levels = [rows[k] for k in sorted(rows)]
    place = {}  # node -> position in [0, 1) across its row

    def number(row):
        for i, n in enumerate(row):
            place[n] = (i + 0.5) / len(row)

    for row in levels:
        number(row)
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        neighbours = graph.predecessors if down else graph.successors
        for row in levels if down else reversed(levels):
            key = {}
            for n in row:
                near = [place[m] for m in neighbours(n)]
                key[n] = sum(near) / len(near) if near else place[n]
            row.sort(key=lambda n: (key[n], place[n]))
            number(row)
    positions, y = {}, 0.0
    for row in levels:
        total = sum(sizes[n][0] for n in row) + GAP_X * (len(row) - 1)
        x = -total / 2
        height = max(sizes[n][1] for n in row)
        for n in row:
            w, h = sizes[n]
            positions[n] = (x, y + (height - h) / 2)
            x += w + GAP_X
        y += height + GAP_Y
    return positions
