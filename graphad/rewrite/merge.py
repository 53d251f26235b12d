"""Merge (common-subexpression elimination): equal constants and equal nodes become one.

Two constants merge when their type and value are equal; two nodes merge when their
ops are equal (same class and ``params``) and they read the same variables. One sweep
in topological order merges whole equal subgraphs, because a node's inputs are merged
before the node is looked at. Linear in the graph size.
"""

from __future__ import annotations

from ..graph.basic import Constant


class MergePass:
    """x1 = exp(a); x2 = exp(a); x1 + x2 ⇒ x1 = exp(a); x1 + x1 (and equal constants ⇒ one)."""

    name = "merge"

    def __init__(self, name="merge"):
        self.name = name

    def run(self, fgraph, record, strict=False):
        merge(fgraph, record, self.name)


def merge(fgraph, record, pass_name="merge"):
    """Merge equal constants and nodes of ``fgraph`` in place."""
    constants: dict = {}
    seen: dict = {}
    for node in fgraph.toposort():
        if node not in fgraph.apply_nodes:
            continue
        for i, inp in enumerate(node.inputs):
            if isinstance(inp, Constant):
                key = _constant_key(inp)
                kept = inp if key is None else constants.setdefault(key, inp)
                if kept is not inp:
                    fgraph.change_input(node, i, kept, reason="merge")
                    record.fire(pass_name, "merge_constants")
        key = (node.op, tuple(map(id, node.inputs)))
        try:
            kept = seen.setdefault(key, node)
        except TypeError:  # an op whose params cannot be hashed is never merged
            continue
        if kept is not node and all(a.type == b.type for a, b in zip(node.outputs, kept.outputs)):
            fgraph.replace_all(list(zip(node.outputs, kept.outputs)), reason="merge")
            record.fire(pass_name, "merge_nodes")


def _constant_key(var):
    try:
        key = var.signature()
        hash(key)
        return key
    except TypeError:
        return None
