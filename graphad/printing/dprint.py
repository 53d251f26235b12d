"""dprint: one compact line per node, names assigned at print time.

    %2 = Elemwise{add}(x, %1)   :: float64[?]    [grad]  @ model.py:12

Each line gives the node's result name, op with params, inputs, type and tags, in
topological order; leaves are listed first.
"""

from __future__ import annotations

import sys

from ..graph.basic import Constant, format_source
from .export import GraphParts, constant_text


def node_tags(node) -> list:
    """Tags shown in every dump: 'grad' for nodes made by differentiation, 'fused'."""
    tags = []
    if getattr(node.tag, "grad", False):
        tags.append("grad")
    if getattr(node.op, "fused_ops", None):
        tags.append("fused: " + ", ".join(map(str, node.op.fused_ops)))
    return tags


def dprint(obj, file=None) -> str:
    """Print the graph of ``obj`` to stdout (or ``file``) and return the text.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> text = ga.dprint(ga.exp(x) + 1, file=False)
    >>> "Elemwise{exp}(x)" in text
    True
    """
    parts = GraphParts(obj, "dprint")
    inputs, outputs = parts.inputs, parts.outputs
    names: dict = {}
    # how many names given so far start with "%": the next unnamed variable's number
    # (a counter, not a rescan of every name, so that printing stays linear)
    numbered = 0
    texts: dict = {}  # constant_text's memo

    def name(var):
        nonlocal numbered
        text = names.get(var)
        if text is None:
            if isinstance(var, Constant):
                text = constant_text(var, texts)
            elif var.owner is None and var.name:
                text = var.name
            else:
                text = f"%{numbered}"
            names[var] = text
            numbered += text.startswith("%")
        return text

    lines = []
    for var in inputs:
        if not isinstance(var, Constant):
            kind = "shared" if getattr(var, "is_shared", False) else "input"
            lines.append(f"{name(var)} :: {var.type}  [{kind}]")
    for node in parts.order:
        for inp in node.inputs:
            if inp.owner is None and inp not in names:
                name(inp)
                if not isinstance(inp, Constant):
                    kind = "shared" if getattr(inp, "is_shared", False) else "input"
                    lines.append(f"{name(inp)} :: {inp.type}  [{kind}]")
        results = ", ".join(name(o) for o in node.outputs)
        args = ", ".join(name(i) for i in node.inputs)
        types = ", ".join(str(o.type) for o in node.outputs)
        tags = "".join(f"  [{t}]" for t in node_tags(node))
        where = f"  @ {format_source(node.source)}" if node.source else ""
        lines.append(f"{results} = {node.op}({args}) :: {types}{tags}{where}")
    lines.append("return " + ", ".join(name(o) for o in outputs))
    text = "\n".join(lines) + "\n"
    if file is not False:
        (file or sys.stdout).write(text)
    return text
