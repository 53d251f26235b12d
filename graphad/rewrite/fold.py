"""Constant folding: a node whose inputs are all constants becomes a constant.

Folding runs the op's NumPy reference at compile time. It is capped: an output of
more than ``MAX_ELEMENTS`` elements stays a node (a ``zeros((10**4, 10**4))`` is
computed when the function runs, not stored in the compiled function), and a node
whose reference raises (an index out of range, say) is left for run time, where its
error names the user's line.
"""

from __future__ import annotations

import numpy as np

from ..backend.numpy import make_thunk
from ..graph.basic import Constant
from ..graph.traversal import toposort
from ..tensor.type import TensorType
from ..tensor.variable import TensorConstant
from .engine import RuleTable, node_rule

MAX_ELEMENTS = 1 << 16


@node_rule()
def fold_constants(fgraph, node):
    """exp(2.0) ⇒ 7.389..., x.shape of a constant ⇒ its shape, ..."""
    if not all(_is_constant(v) for v in node.inputs):
        return None
    if not getattr(node.op, "foldable", True):
        return None
    if _output_size(node) > MAX_ELEMENTS:
        return None
    try:
        values = _run(node, [v.data for v in node.inputs])
    except Exception:  # the error belongs to run time, at the user's line
        return None
    result = {}
    for out, value in zip(node.outputs, values):
        data = np.array(value, dtype=out.dtype, copy=True)
        data.setflags(write=False)
        result[out] = TensorConstant(TensorType(out.dtype, data.shape), data)
    return result


def _is_constant(var) -> bool:
    return isinstance(var, Constant) and not getattr(var, "is_shared", False)


def _run(node, values):
    return make_thunk(node)(values)  # the reference backend's own way to run a node


def _output_size(node) -> float:
    """The largest output's element count, from static shapes or, failing that, from
    the op's shape rule evaluated on the constant inputs (inf when unknown)."""
    shapes = [out.type.shape for out in node.outputs]
    if all(s is not None for shp in shapes for s in shp):
        return max((int(np.prod(shp)) for shp in shapes), default=0)
    try:
        from ..tensor.shape import shape_tuple

        symbolic = node.op.infer_shape(node, [shape_tuple(v) for v in node.inputs])
        dims = [d for shp in symbolic for d in shp]
        values = _evaluate(dims)
        sizes, k = [], 0
        for shp in symbolic:
            sizes.append(int(np.prod([int(v) for v in values[k : k + len(shp)]])))
            k += len(shp)
        return max(sizes, default=0)
    except Exception:
        return float("inf")


def _evaluate(variables):
    """Values of ``variables`` computed from constants only (a small shape graph)."""
    values = {}
    for node in toposort(variables, []):
        ins = []
        for v in node.inputs:
            if v in values:
                ins.append(values[v])
            elif _is_constant(v):
                ins.append(v.data)
            else:
                raise ValueError("depends on a non-constant")
        values.update(zip(node.outputs, _run(node, ins)))
    return [values[v] if v in values else v.data for v in variables]


fold_rules = RuleTable("fold", [fold_constants])
