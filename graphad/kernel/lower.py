"""Lowering: a group of graph nodes (chosen by rewrite/fusion.py) becomes kernel IR.

Inputs are the group's external variables, in order of first use; 0-d constants
become literals; each elementwise node becomes one scalar step; a reduction root
becomes the kernel's ``reduce``, its feeders the prologue (exported prologue values
are extra full-shape outputs).
"""

from __future__ import annotations

from ..graph.basic import Constant
from .ir import Kernel, KInput, Literal, ScalarStep


def build_kernel(group, exported=(), reduce_node=None, epilogue=()):
    """(Kernel, input variables) for a group of nodes in topological order: the last
    node is the root, the ``exported`` ones extra outputs; with ``reduce_node``, the
    nodes before it are its prologue (the exported ones among them) and those in
    ``epilogue`` run on its result."""
    epi = set(epilogue)
    body = [n for n in group if n is not reduce_node and n not in epi]
    members = {n.outputs[0] for n in group}
    inputs, refs = [], {}
    for node in body + ([reduce_node] if reduce_node else []) + list(epilogue):
        for v in node.inputs:
            if v not in members and v not in refs and _literal(v) is None:
                refs[v] = len(inputs)
                inputs.append(v)
    steps = _steps(body, refs, len(inputs))
    kinputs = tuple(KInput(v.dtype, tuple(d == 1 for d in v.type.shape)) for v in inputs)
    if reduce_node is None:
        outs = (refs[group[-1].outputs[0]],) + tuple(refs[n.outputs[0]] for n in exported)
        return Kernel(kinputs, tuple(steps), outs), inputs
    red = reduce_node.op.kernel_reduce(reduce_node)
    reduced = len(inputs) + len(steps)
    refs[reduce_node.outputs[0]] = reduced
    tail = _steps(list(epilogue), refs, reduced + 1)
    outs = (refs[reduce_node.inputs[0]],) + tuple(refs[n.outputs[0]] for n in exported)
    kernel = Kernel(kinputs, tuple(steps), outs, red, tuple(tail))
    return kernel, inputs


def _steps(nodes, refs, first):
    """One ScalarStep per node, numbered from ``first``; records them in ``refs``."""
    steps = []
    for node in nodes:
        args = tuple(refs[v] if v in refs else _literal(v) for v in node.inputs)
        steps.append(ScalarStep(node.op.scalar_op, args, node.outputs[0].dtype))
        refs[node.outputs[0]] = first + len(steps) - 1
    return steps


def _literal(var):
    if isinstance(var, Constant) and getattr(var, "ndim", None) == 0:
        return Literal(var.data.item(), var.dtype)
    return None
