"""Forward mode: ``Rop`` pushes tangents through each op's own ``R_op``."""

from __future__ import annotations

from ..errors import GraphadTypeError, GraphadValueError
from ..graph.basic import Variable
from ..graph.traversal import toposort


def Rop(f, wrt, eval_points):
    """The Jacobian-vector product J(f) · eval_points, in forward mode.

    ``f`` is a variable or a list; ``wrt`` and ``eval_points`` are a variable each
    or equal-length lists. Returns the same structure as ``f``.

    >>> import graphad as ga
    >>> x, v = ga.vector("x"), ga.vector("v")
    >>> jv = ga.Rop(ga.sqr(x), x, v)
    >>> jv.eval({x: [1.0, 2.0], v: [1.0, 1.0]}).tolist()
    [2.0, 4.0]
    """
    single_f = isinstance(f, Variable)
    outs = [f] if single_f else list(f)
    wrt_list = [wrt] if isinstance(wrt, Variable) else list(wrt)
    points = [eval_points] if isinstance(eval_points, Variable) else list(eval_points)
    if len(points) != len(wrt_list):
        raise GraphadValueError(
            f"Rop: {len(wrt_list)} wrt variable(s) but {len(points)} eval point(s)"
        )
    from ..tensor.variable import as_tensor_variable

    tangents = {}
    points = [as_tensor_variable(p) for p in points]
    for w, p in zip(wrt_list, points):
        if p.ndim != w.ndim:
            raise GraphadTypeError(f"Rop: eval point {p} has {p.ndim} dims, {w} has {w.ndim}")
        tangents[w] = p
    from ..rewrite.stabilize import stabilized

    stable = stabilized(outs, wrt_list)  # tangents of the safe forms stay finite
    for node in toposort(stable, set(wrt_list)):
        ts = [tangents.get(i) for i in node.inputs]
        if all(t is None for t in ts):
            continue
        results = node.op.R_op(node.inputs, node.outputs, ts)
        for out, t in zip(node.outputs, results):
            if t is not None:
                tangents[out] = t
    from ..tensor.shape import zeros_like
    from .reverse import _tag_grad_nodes

    result = []
    for o, s in zip(outs, stable):
        t = tangents.get(s)
        if t is None:
            t = zeros_like(o)
        result.append(t)
    _tag_grad_nodes(result, stable + points)
    return result[0] if single_f else result
