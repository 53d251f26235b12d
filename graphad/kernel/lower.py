"""Lowering: a group of graph nodes (chosen by rewrite/fusion.py) becomes kernel IR.

Inputs are the group's external variables, in order of first use; 0-d constants
become literals; each elementwise node becomes one scalar step; a reduction root
becomes the kernel's ``reduce``, its feeders the prologue.
"""

from __future__ import annotations

from ..graph.basic import Constant
from .ir import Kernel, KInput, Literal, ScalarStep


def build_kernel(group, exported=()):
    """(Kernel, input variables) for a group of nodes in topological order; the last
    node is the root, the ``exported`` ones extra outputs."""
    root = group[-1]
    red = root.op.kernel_reduce(root) if root.op.fusion_kind == "reduce" else None
    if red is not None:
        return _reduce_kernel(group[:-1], group[-1], red)
    inputs, refs, steps = [], {}, []
    n_in = 0
    members = {n.outputs[0] for n in group}
    # inputs first: values are numbered inputs, then steps
    for node in group:
        for v in node.inputs:
            if v in members or v in refs or _literal(v) is not None:
                continue
            refs[v] = n_in
            inputs.append(v)
            n_in += 1
    for node in group:
        args = tuple(refs[v] if v in refs else _literal(v) for v in node.inputs)
        steps.append(ScalarStep(node.op.scalar_op, args, node.outputs[0].dtype))
        refs[node.outputs[0]] = n_in + len(steps) - 1
    outs = (refs[group[-1].outputs[0]],) + tuple(refs[n.outputs[0]] for n in exported)
    kernel = Kernel(tuple(KInput(v.dtype) for v in inputs), tuple(steps), outs)
    return kernel, inputs


def _reduce_kernel(prologue, root, red):
    """A reduction of the prologue's value (or directly of the root's input)."""
    (x,) = root.inputs
    if prologue:
        kernel, inputs = build_kernel(prologue)
        return Kernel(kernel.inputs, kernel.steps, kernel.outputs, red), inputs
    return Kernel((KInput(x.dtype),), (), (0,), red), [x]


def _literal(var):
    if isinstance(var, Constant) and getattr(var, "ndim", None) == 0:
        return Literal(var.data.item(), var.dtype)
    return None
