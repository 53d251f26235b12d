"""Canonicalize: algebraic identities that are exact for every input, NaN and Inf
included, and shape simplification.

Identities only drop work: ``x * 1``, ``x - 0``, ``x / 1``, ``x ** 1``, ``--x`` become
``x``; ``x - (-y)`` becomes ``x + y``; two dimshuffles, two reshapes or two sums become
one; a cast round trip through a wider dtype disappears. (``x + 0`` becomes ``x``,
which differs from IEEE only in the sign of a zero: ``-0.0 + 0`` is ``+0.0``.) Nothing
here rounds differently on finite input except that the order of summation of a sum
of sums may change.

Shape simplification answers ``x.shape[i]`` without computing ``x``: from the static
shape when it is known, else from the shape rule of the op computing ``x``, so an
intermediate is not kept alive (or computed at all) just for its shape.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..autodiff.ops import DisconnectedGrad, GradClip, ZeroGrad
from ..graph.basic import Constant
from ..tensor import math as m
from ..tensor.elemwise import Elemwise, SumToShape
from ..tensor.indexing import Subtensor
from ..tensor.reduce import Reduce
from ..tensor.scalar_ops import Cast, Switch
from ..tensor.shape import (
    BroadcastTo,
    DimShuffle,
    MakeVector,
    Reshape,
    Shape,
    ShapeI,
    shape_tuple,
)
from ..tensor.variable import constant
from .engine import RuleTable, node_rule, rule

identity_rules = [
    rule("mul_one", (m.mul, "x", 1), "x"),
    rule("add_zero", (m.add, "x", 0), "x"),
    rule("sub_zero", (m.sub, "x", 0), "x"),
    rule("div_one", (m.true_divide, "x", 1), "x"),
    rule("pow_one", (m.pow, "x", 1), "x"),
    rule("neg_neg", (m.neg, (m.neg, "x")), "x"),
    rule("sub_neg", (m.sub, "x", (m.neg, "y")), (m.add, "x", "y")),
    rule("add_neg", (m.add, "x", (m.neg, "y")), (m.sub, "x", "y")),
    # bool * -1 is an int64 -1/0 vector, and neg is not defined on bool
    rule("mul_minus_one", (m.mul, "x", -1), (m.neg, "x"), where=lambda x: x.dtype != "bool"),
]


@node_rule(Switch)
def switch_same(fgraph, node):
    """switch(c, x, x) ⇒ x  for a scalar condition (broadcast shape arithmetic)"""
    c, a, b = node.inputs
    if c.ndim == 0 and a.type == node.outputs[0].type and same_dim(a, b, fgraph):
        return {node.outputs[0]: a}
    return None


@node_rule(ZeroGrad, DisconnectedGrad, GradClip)
def gradient_identity(fgraph, node):
    """zero_grad(x), disconnected_grad(x), grad_clip(x, a, b) ⇒ x  (they shape only
    gradients, which are taken before a function is compiled)"""
    return {node.outputs[0]: node.inputs[0]}


@node_rule(Cast)
def cast_round_trip(fgraph, node):
    """cast(cast(x: float32, float64), float32) ⇒ x (the wider dtype holds x exactly)."""
    (mid,) = node.inputs
    inner = mid.owner
    if inner is None or type(getattr(inner.op, "scalar_op", None)) is not type(node.op.scalar_op):
        return None
    (x,) = inner.inputs
    out = node.outputs[0]
    if x.dtype == out.dtype and _holds_exactly(x.dtype, mid.dtype):
        return {out: x}
    return None


def _holds_exactly(dtype, wider) -> bool:
    """Whether every value of ``dtype`` survives a round trip through ``wider``: a safe
    cast, and for integers into floats a mantissa as wide as the integer (NumPy calls
    int64 -> float64 safe, but 2**53 + 1 does not come back)."""
    dtype, wider = np.dtype(dtype), np.dtype(wider)
    if not np.can_cast(dtype, wider, "safe"):
        return False
    if dtype.kind in "iu" and wider.kind in "fc":
        return np.finfo(wider).nmant + 1 >= 8 * dtype.itemsize - (dtype.kind == "i")
    return True


@node_rule(DimShuffle)
def dimshuffle_of_dimshuffle(fgraph, node):
    """x.dimshuffle(1, 0).dimshuffle(1, 0) ⇒ x;  x.dimshuffle(0, "x").T ⇒ x.dimshuffle("x", 0)"""
    (x,) = node.inputs
    outer = node.op.pattern
    out = node.outputs[0]
    if x.owner is not None and isinstance(x.owner.op, DimShuffle):
        inner = x.owner.op.pattern
        composed = tuple("x" if p == "x" else inner[p] for p in outer)
        base = x.owner.inputs[0]
        if composed == tuple(range(base.ndim)):
            return {out: base}
        return {out: DimShuffle(composed)(base)}
    if outer == tuple(range(x.ndim)):
        return {out: x}
    return None


@node_rule(Reshape)
def reshape_of_reshape(fgraph, node):
    """x.reshape(s1).reshape(s2) ⇒ x.reshape(s2);  x.reshape(x's static shape) ⇒ x"""
    x, shp = node.inputs
    out = node.outputs[0]
    if x.owner is not None and isinstance(x.owner.op, Reshape):
        return {out: node.op(x.owner.inputs[0], shp)}
    static = x.type.shape
    if None not in static and static == out.type.shape:
        return {out: x}
    return None


@node_rule(BroadcastTo, SumToShape)
def static_noop(fgraph, node):
    """broadcast_to(x, s) ⇒ x  and  sum_to_shape(g, s) ⇒ g  when the static shapes
    say nothing changes"""
    x, out = node.inputs[0], node.outputs[0]
    if None not in x.type.shape and x.type.shape == out.type.shape:
        return {out: x}
    return None


@node_rule(Reduce)
def sum_of_sum(fgraph, node):
    """x.sum(0).sum(0) ⇒ x.sum((0, 1));  x.sum(axis=()) ⇒ x (when the dtype stays)"""
    op, (x,), out = node.op, node.inputs, node.outputs[0]
    if not op.axis and op.initial in (None, {"max": -np.inf, "min": np.inf}.get(op.kind)):
        return {out: x}  # (an initial that is not neutral, max(x, initial=0), is a clip)
    inner = x.owner
    if (
        op.kind != "sum"
        or inner is None
        or not isinstance(inner.op, Reduce)
        or (inner.op.kind, inner.op.dtype, inner.op.initial) != ("sum", op.dtype, None)
        or op.initial is not None
    ):
        return None
    base = inner.inputs[0]
    if inner.op.keepdims:
        axes = set(inner.op.axis) | set(op.axis)
        if not (op.keepdims or set(inner.op.axis) <= set(op.axis)):
            return None
    else:
        if op.keepdims:
            return None
        remaining = [i for i in range(base.ndim) if i not in inner.op.axis]
        axes = set(inner.op.axis) | {remaining[a] for a in op.axis}
    return {out: Reduce("sum", sorted(axes), op.keepdims, op.dtype)(base)}


@node_rule(SumToShape)
def sum_to_shape_as_sum(fgraph, node):
    """sum_to_shape(g, s) ⇒ sum(g, axes, keepdims=True) (a reduction that fuses), or
    ⇒ g, when each target dimension is statically 1 (summed) or provably g's own; the
    leading axes g has beyond s are always summed: sum_to_shape(g, s) ⇒
    sum_to_shape(sum(g, leading axes), s) (a bias's gradient)"""
    g, target = node.inputs
    lead = g.ndim - len(node.op.shape)
    if lead > 0:
        summed = Reduce("sum", tuple(range(lead)), False, g.dtype)(g)
        return {node.outputs[0]: node.op(summed, target)}
    wanted = _entries(fgraph, target)
    if wanted is None or g.ndim != len(wanted):
        return None
    own = lifted_shape(fgraph, g)
    axes = []
    for i, (static, dim) in enumerate(zip(node.op.shape, wanted)):
        if g.type.shape[i] == 1 and static == 1:
            continue
        if static == 1:
            axes.append(i)
        elif not same_dim(dim, own[i], fgraph):
            return None
    out = node.outputs[0]
    if not axes:
        return {out: g}
    return {out: Reduce("sum", axes, True, g.dtype)(g)}


@node_rule(BroadcastTo)
def broadcast_into_elemwise(fgraph, node):
    """b * broadcast_to(a, shape(b)) ⇒ b * a  when every reader is elementwise and
    has another operand of that shape: broadcasting in the reader does the same"""
    x, out = node.inputs[0], node.outputs[0]
    dims = lifted_shape(fgraph, out)
    if x.ndim != out.ndim:
        return None
    replaced = {}
    for client, _ in fgraph.clients[out]:
        if client == "output" or not isinstance(client.op, Elemwise) or client in replaced:
            return None
        others = [v for v in client.inputs if v is not out and v.ndim == out.ndim]
        if not any(
            all(same_dim(d, e, fgraph) for d, e in zip(dims, lifted_shape(fgraph, v)))
            for v in others
        ):
            return None
        inputs = [x if v is out else v for v in client.inputs]
        replaced[client] = client.op(*inputs)
    return {c.outputs[0]: new for c, new in replaced.items()} or None


def same_dim(a, b, fgraph=None, depth=8) -> bool:
    """Whether two variables are provably equal: the same variable, equal scalar
    constants, or the same dimension of the same variable (with ``fgraph``, a
    dimension of an intermediate is first lifted to the graph's inputs)."""
    if fgraph is not None:
        a, b = _lift_dim(fgraph, a), _lift_dim(fgraph, b)
    if a is b:
        return True
    if isinstance(a, Constant) and isinstance(b, Constant):
        return a.data.size == b.data.size == 1 and a.data.item() == b.data.item()
    na, nb = a.owner, b.owner
    for node, other in ((na, b), (nb, a)):  # switch(c, x, y) with x and y both equal
        if depth and node is not None and isinstance(getattr(node.op, "scalar_op", None), Switch):
            x, y = node.inputs[1:]
            return same_dim(x, other, fgraph, depth - 1) and same_dim(y, other, fgraph, depth - 1)
    return (
        na is not None
        and nb is not None
        and isinstance(na.op, ShapeI)
        and isinstance(nb.op, ShapeI)
        and na.op.i == nb.op.i
        and na.inputs[0] is nb.inputs[0]
    )


def _lift_dim(fgraph, dim):
    """shape_i(v, i) as the lifted dimension of ``v`` when v is computed (else ``dim``)."""
    node = dim.owner
    if node is None or not isinstance(node.op, ShapeI) or node.inputs[0].owner is None:
        return dim
    lifted = lifted_shape(fgraph, node.inputs[0])[node.op.i]
    src = lifted.owner
    if src is not None and isinstance(src.op, ShapeI) and src.inputs[0] is node.inputs[0]:
        return dim  # the op's shape rule needs its own output
    return lifted


def _entries(fgraph, vec):
    """The int64 scalars of a shape vector (a make_vector, a shape, or a constant),
    else None."""
    if isinstance(vec, Constant):
        return [constant(np.int64(v)) for v in np.asarray(vec.data).ravel()]
    src = vec.owner
    if src is not None and isinstance(src.op, MakeVector):
        return list(src.inputs)
    if src is not None and isinstance(src.op, Shape):
        return list(lifted_shape(fgraph, src.inputs[0]))
    return None


# --- shape simplification -------------------------------------------------------
@node_rule(Subtensor)
def shape_entry(fgraph, node):
    """x.shape[i] ⇒ shape_i(x)  (and make_vector(a, b)[1] ⇒ b)"""
    vec = node.inputs[0]
    spec = node.op.spec
    if vec.owner is None or len(spec) != 1 or spec[0][0] != "int" or len(node.inputs) != 1:
        return None
    i = spec[0][1]
    src = vec.owner
    if isinstance(src.op, Shape):
        x = src.inputs[0]
        if -x.ndim <= i < x.ndim:
            return {node.outputs[0]: ShapeI(i % x.ndim)(x)}
    if isinstance(src.op, MakeVector) and src.inputs[i].dtype == node.outputs[0].dtype:
        return {node.outputs[0]: src.inputs[i]}
    return None


@node_rule(ShapeI)
def shape_i_lift(fgraph, node):
    """shape_i(x) ⇒ 5 when x's static shape says so;  shape_i(tanh(a @ w + b), 0) ⇒
    shape_i(a, 0), through every op's shape rule down to the graph's inputs"""
    (v,), i, out = node.inputs, node.op.i, node.outputs[0]
    if v.type.shape[i] is not None:
        return {out: constant(np.int64(v.type.shape[i]))}
    if v.owner is None:
        return None
    dim = lifted_shape(fgraph, v)[i]
    if dim.owner is not None and isinstance(dim.owner.op, ShapeI) and dim.owner.inputs[0] is v:
        return None  # the op's shape rule needs the value itself
    return {out: dim}


_SHAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def lifted_shape(fgraph, var):
    """The shape of ``var`` as int64 scalars computed from the graph's inputs (a
    dimension an op cannot infer stays ``shape_i`` of that op's output).

    Shapes are remembered per graph, so asking for the shape of each layer of a deep
    network costs linear, not quadratic, time; the walk is iterative (no recursion
    limit on deep graphs)."""
    if var.owner is None:
        return tuple(shape_tuple(var))
    memo = _SHAPES.setdefault(fgraph, {})
    if var in memo:
        return memo[var]
    order, stack, seen = [], [(var, False)], set()
    while stack:  # post-order over the owners whose shapes are not known yet
        v, done = stack.pop()
        node = v.owner
        if done:
            order.append(node)
        elif node is not None and v not in memo and node not in seen:
            seen.add(node)
            stack.append((v, True))
            stack.extend((u, False) for u in node.inputs)
    for node in order:
        in_shapes = [memo.get(u) or shape_tuple(u) for u in node.inputs]
        shapes = node.op.infer_shape(node, in_shapes)
        for out, dims in zip(node.outputs, shapes):
            memo[out] = tuple(
                constant(np.int64(s)) if s is not None else _own_dim(d, node, out, k)
                for k, (s, d) in enumerate(zip(out.type.shape, dims))
            )
    return memo[var]


def _own_dim(dim, node, out, k):
    """``dim``, or ``shape_i(out, k)`` when the op's shape rule answers with its own
    output's shape (the default rule, and reshape's -1 entry: the only ways a rule
    reads its outputs), so such a dimension is never lifted."""
    src = dim.owner
    if src is not None and isinstance(src.op, ShapeI) and src.inputs[0] in node.outputs:
        return ShapeI(k)(out) if src.inputs[0] is not out else dim
    return dim


@node_rule(Shape)
def shape_to_entries(fgraph, node):
    """shape(exp(x)) ⇒ make_vector(shape_i(x, 0), shape_i(x, 1)) (each entry then
    simplifies on its own)"""
    (x,), out = node.inputs, node.outputs[0]
    if x.ndim == 0:
        return {out: constant(np.zeros(0, dtype="int64"))}
    if x.owner is None and None in x.type.shape and all(s is None for s in x.type.shape):
        return None  # an input's shape: nothing to gain
    return {out: MakeVector("int64")(*shape_tuple(x))}


canonicalize_rules = RuleTable(
    "canonicalize",
    identity_rules
    + [
        cast_round_trip,
        dimshuffle_of_dimshuffle,
        reshape_of_reshape,
        static_noop,
        gradient_identity,
        switch_same,
        sum_to_shape_as_sum,
        broadcast_into_elemwise,
        sum_of_sum,
        shape_entry,
        shape_i_lift,
        shape_to_entries,
    ],
)
