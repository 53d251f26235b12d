"""Graph exports: a networkx DiGraph, DOT text and JSON (networkx node-link data).

All three describe one bipartite graph: a node per variable (ids ``v0, v1, ...``) and
per Apply (``n0, n1, ...``, in topological order), edges from each input variable to
the Apply reading it and from the Apply to each variable it computes. What they
accept: a variable, a list of variables, a FunctionGraph, or a compiled Function (then
the graph it runs, after rewrites and fusion, with its updates marked).

>>> import graphad as ga
>>> x = ga.vector("x")
>>> g = to_networkx(ga.exp(x) + 1)
>>> sorted({d["kind"] for _, d in g.nodes(data=True)})
['apply', 'variable']
>>> 'label="Elemwise{exp}' in to_dot(ga.exp(x))
True
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import GraphadTypeError, MissingToolError
from ..graph.basic import Constant, Variable, format_source
from ..graph.fgraph import FunctionGraph
from ..graph.traversal import graph_inputs, toposort

__all__ = ["GraphParts", "node_lines", "to_dot", "to_json", "to_networkx"]


class GraphParts:
    """What a dump shows of a variable, list, FunctionGraph or compiled Function:
    ``inputs``, ``outputs``, the Apply nodes in topological ``order`` (the schedule,
    for a Function), ``updates`` ({output variable: the shared variable it updates})
    and ``runs`` ({Apply: how it runs}, for a Function)."""

    def __init__(self, obj, what="dprint"):
        maker = getattr(obj, "maker", None)
        fgraph = getattr(maker, "fgraph", None)
        self.updates, self.runs = {}, {}
        if fgraph is not None:
            n = maker.n_outputs
            targets = getattr(obj, "_update_targets", maker.update_vars)
            self.updates = dict(zip(fgraph.outputs[n:], targets))
            self.runs = dict(zip(maker.vm.order, maker.vm.backends()))
            obj = fgraph
        if isinstance(obj, FunctionGraph):
            self.inputs, self.outputs = list(obj.inputs), list(obj.outputs)
            self.order = maker.vm.order if fgraph is not None else obj.toposort()
            return
        outs = [obj] if isinstance(obj, Variable) else obj
        if not isinstance(outs, (list, tuple)) or not all(isinstance(o, Variable) for o in outs):
            raise GraphadTypeError(
                f"{what} expects a variable, a list of variables, a FunctionGraph or a "
                f"compiled Function; got {obj!r}"
            )
        self.outputs = list(outs)
        self.inputs = graph_inputs(self.outputs)
        self.order = toposort(self.outputs, self.inputs)


def _role(var, outputs, updates) -> str:
    if var in updates:
        return "update"
    if var in outputs:
        return "output"
    if isinstance(var, Constant):
        return "constant"
    if getattr(var, "is_shared", False):
        return "shared"
    if var.owner is None:
        return "input"
    return "intermediate"


def _params(op) -> dict:
    return {k: str(v) for k, v in zip(op.__props__, op.params) if k != "kernel"}


def constant_text(var, memo) -> str:
    """``str(var)`` of a constant, remembered in ``memo`` by value: NumPy's repr of
    a small array costs ~0.1 ms, and large graphs repeat the same few constants."""
    data = var.data
    if var.name or type(data) is not np.ndarray or data.size > 8:
        return str(var)
    key = (data.dtype.str, data.shape, data.tobytes())
    text = memo.get(key)
    if text is None:
        text = memo[key] = str(var)
    return text


def _variable_label(var, k, memo) -> str:
    if isinstance(var, Constant):
        text = constant_text(var, memo)
        return text if len(text) <= 24 else text[:21] + "..."
    return var.name or f"%{k}"


def to_networkx(obj):
    """The graph of ``obj`` as a ``networkx.DiGraph``.

    Variable nodes carry ``kind="variable"``, ``label``, ``name``, ``dtype``,
    ``shape`` (static sizes, None where unknown), ``role`` (input, shared, constant,
    output, update, intermediate) and for an update ``updates`` (the shared variable's
    name). Apply nodes carry ``kind="apply"``, ``label``, ``op``, ``op_type``, ``params``,
    ``source`` (the user's file:line), ``grad`` (made by differentiation) and
    ``fused``; a fused kernel also ``fused_ops`` (the scalar ops inside, in order),
    ``expression`` and ``steps`` (one line per step), and ``sources`` (every user line
    it came from). For a compiled Function, an Apply's ``runs`` says how it runs ("C
    kernel", "BLAS" or "NumPy"). Edges carry ``position`` (the input's or output's
    index).

    >>> import graphad as ga
    >>> g = ga.printing.to_networkx(ga.exp(ga.vector("x")) + 1)
    >>> g.number_of_nodes(), g.number_of_edges()
    (6, 5)
    >>> [d["op"] for _, d in g.nodes(data=True) if d["kind"] == "apply"]
    ['Elemwise{exp}', 'Elemwise{add}']
    """
    nx = _networkx()
    parts = GraphParts(obj, "to_networkx")
    inputs, updates = parts.inputs, parts.updates
    # each output's first position; a dict, so a Function with many outputs stays linear
    output_index: dict = {}
    for k, var in enumerate(parts.outputs):
        output_index.setdefault(var, k)
    graph = nx.DiGraph()
    ids: dict = {}
    made = [0]  # variables with an owner so far: %0, %1, ... as dprint names them
    texts: dict = {}  # constant_text's memo

    def add_variable(var):
        if var in ids:
            return ids[var]
        label = _variable_label(var, made[0], texts)
        made[0] += var.owner is not None
        key = ids[var] = f"v{len(ids)}"
        role = _role(var, output_index, updates)
        attrs = dict(
            kind="variable",
            label=label,
            name=var.name,
            dtype=var.type.dtype,
            shape=list(var.type.shape),
            type=str(var.type),
            role=role,
        )
        if role == "update":
            target = updates[var]
            attrs["updates"] = target.name or str(target.type)
        if role == "output":
            attrs["output_index"] = output_index[var]
        graph.add_node(key, **attrs)
        return key

    for var in inputs:
        if not isinstance(var, Constant):
            add_variable(var)
    for k, node in enumerate(parts.order):
        key = f"n{k}"
        graph.add_node(key, **_apply_attrs(node))
        if node in parts.runs:
            graph.nodes[key]["runs"] = parts.runs[node]
        for i, var in enumerate(node.inputs):
            graph.add_edge(add_variable(var), key, position=i)
        for i, var in enumerate(node.outputs):
            graph.add_edge(key, add_variable(var), position=i)
    for var in parts.outputs:
        add_variable(var)
    return graph


def _apply_attrs(node) -> dict:
    op = node.op
    kernel = getattr(op, "kernel", None)
    attrs = dict(
        kind="apply",
        label=str(op),
        op=str(op),
        op_type=type(op).__name__,
        params=_params(op),
        source=format_source(node.source) if node.source else None,
        grad=bool(getattr(node.tag, "grad", False)),
        fused=kernel is not None,
        description=op.describe_node(node),
    )
    if kernel is not None:
        attrs["fused_ops"] = kernel.op_names()
        attrs["expression"] = kernel.describe(depth=40)
        attrs["steps"] = kernel.listing()
        attrs["sources"] = sorted({format_source(s) for s in op.sources if s})
    return attrs


def _networkx():
    try:
        import networkx
    except ImportError:  # pragma: no cover - networkx is a dependency
        raise MissingToolError(
            "graph exports need networkx: pip install networkx (a dependency of graphad)"
        ) from None
    return networkx


def to_json(obj) -> str:
    """The graph of ``obj`` as JSON text: networkx's node-link data of ``to_networkx``
    (``nodes`` with their attributes, ``edges`` with source, target and position).

    >>> import json
    >>> import graphad as ga
    >>> data = json.loads(ga.printing.to_json(ga.exp(ga.vector("x"))))
    >>> [n["label"] for n in data["nodes"]], len(data["edges"])
    (['x', 'Elemwise{exp}', '%0'], 2)
    """
    from networkx.readwrite import json_graph

    data = json_graph.node_link_data(to_networkx(obj), edges="edges")
    return json.dumps(data, indent=1)


# --- DOT --------------------------------------------------------------------------------

_VARIABLE_STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#c8ecc8"',
    "shared": 'shape=cylinder, style=filled, fillcolor="#c9def5"',
    "constant": 'shape=plaintext, fontcolor="#606060", fontsize=10',
    "output": 'shape=ellipse, style="filled,bold", peripheries=2, fillcolor="#f4f4f4"',
    "update": 'shape=ellipse, style="filled,bold", peripheries=2, fillcolor="#c9def5"',
    "intermediate": 'shape=ellipse, fontsize=10, color="#909090"',
}


def dot_quote(text) -> str:
    """``text`` as a DOT string (quotes, backslashes and newlines escaped)."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def to_dot(obj, name="graphad") -> str:
    """DOT text of the graph of ``obj`` for Graphviz's ``dot``.

    Applies are boxes and variables ellipses; inputs are green, shared variables blue
    cylinders, outputs and updates doubly outlined, constants plain text. Nodes made
    by differentiation are red-outlined with ``grad`` in their label; a fused kernel
    is orange with the ops it contains listed under its name.

    >>> import graphad as ga
    >>> text = ga.printing.to_dot(ga.exp(ga.vector("x")), name="g")
    >>> text.splitlines()[0], "v0 -> n0;" in text
    ('digraph "g" {', True)
    """
    graph = to_networkx(obj)
    lines = [
        f"digraph {dot_quote(name)} {{",
        "  rankdir=TB;",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#606060", arrowsize=0.6];',
    ]
    for key, d in graph.nodes(data=True):
        lines.append(f"  {key} [id={dot_quote(key)}, {_dot_style(d)}];")
    for a, b in graph.edges():
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def node_lines(d) -> list:
    """The text a drawing shows in the node with attributes ``d`` (of ``to_networkx``)."""
    if d["kind"] == "variable":
        lines = [d["label"]] if d["role"] == "constant" else [d["label"], d["type"]]
        if d["role"] == "update":
            lines.append(f"update of {d['updates']}")
        return lines
    lines = ["fused kernel", *_wrap(", ".join(d["fused_ops"]))] if d["fused"] else [d["op"]]
    if d["grad"]:
        lines[0] = f"[grad] {lines[0]}"
    if d["source"]:
        lines.append(f"@ {d['source'].rsplit('/', 1)[-1]}")
    return lines


def _dot_style(d) -> str:
    label = dot_quote("\n".join(node_lines(d)))
    if d["kind"] == "variable":
        tooltip = dot_quote(f"{d['role']} {d['label']} :: {d['type']}")
        return f"label={label}, tooltip={tooltip}, {_VARIABLE_STYLE[d['role']]}"
    attrs = ['fillcolor="#fbd9a8", peripheries=2' if d["fused"] else 'fillcolor="#ffffff"']
    if d["grad"]:
        attrs.append('color="#c62828", penwidth=2, fontcolor="#8e0000"')
    tooltip = dot_quote(d.get("expression") or d["op"])
    return f'label={label}, tooltip={tooltip}, shape=box, style="rounded,filled", ' + ", ".join(
        attrs
    )


def _wrap(text, width=36) -> list:
    """``text`` broken into lines of about ``width`` characters at ", "."""
    lines, line = [], ""
    for word in text.split(", "):
        if line and len(line) + len(word) + 2 > width:
            lines.append(line + ",")
            line = word
        else:
            line = f"{line}, {word}" if line else word
    return [*lines, line]
