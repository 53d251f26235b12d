"""Specialize: cheaper forms of the same computation.

``x ** 2`` → ``sqr(x)``, ``x ** 0.5`` → ``sqrt(x)``, ``x ** -1`` → ``1 / x`` (floats),
``α·(A @ B) + β·C`` → one GEMM, and matrix-chain products reordered to the order with
the fewest flops when every shape in the chain is known: ``(A @ B) @ v`` with square
A, B costs 2n³ + 2n² flops as written and 4n² as ``A @ (B @ v)``. A shared variable's
shape is that of its value at compile time (any order gives the same values; a later
``set_value`` of another shape only makes the chosen order slower, and warns). With an
unknown dimension the user's order stays. ``softmax`` and ``log_softmax`` become the max-shifted
reductions they stand for, which fuse into two passes over the data.
"""

from __future__ import annotations

import numpy as np

from ..tensor import math as m
from ..tensor import scalar_ops as so
from ..tensor.construct import ARange, arange
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import CheckIndex, IncSubtensor, Subtensor
from ..tensor.linalg import Gemm, MatMul, matmul
from ..tensor.nnet import LogSoftmax, Softmax
from ..tensor.reduce import Reduce, max_shift
from ..tensor.shape import Alloc, broadcast_to
from ..tensor.type import FLOAT_DTYPES
from ..tensor.variable import constant
from .canonicalize import lifted_shape, same_dim
from .engine import RuleTable, node_rule, rule
from .stabilize import _is_max_shifted


def _float(x, **_):
    return x.dtype in FLOAT_DTYPES


power_rules = [
    rule("pow_two", (m.pow, "x", 2), (m.sqr, "x")),
    rule("pow_half", (m.pow, "x", 0.5), (m.sqrt, "x"), where=_float),
    rule("pow_minus_one", (m.pow, "x", -1), lambda x: 1 / x, where=_float),
]


# --- GEMM ----------------------------------------------------------------------
def _scaled_product(var, fgraph):
    """(alpha, A, B) when ``var`` is ``A @ B`` or ``alpha * (A @ B)`` of matrices, the
    product read by nothing else."""
    alpha = 1
    node = var.owner
    if node is not None and isinstance(getattr(node.op, "scalar_op", None), so.Mul):
        for s, p in (node.inputs, node.inputs[::-1]):
            if s.ndim == 0 and p.owner is not None and isinstance(p.owner.op, MatMul):
                alpha, var, node = s, p, p.owner
                break
        else:
            return None
    if node is None or not isinstance(node.op, MatMul) or len(fgraph.clients[var]) != 1:
        return None
    a, b = node.inputs
    if a.ndim != 2 or b.ndim != 2:
        return None
    return alpha, a, b


def _scaled_addend(var):
    node = var.owner
    if node is not None and isinstance(getattr(node.op, "scalar_op", None), so.Mul):
        s, c = node.inputs
        if s.ndim == 0 and c.ndim > 0:
            return s, c
        if c.ndim == 0 and s.ndim > 0:
            return c, s
    return 1, var


@node_rule(so.Add, so.Sub)
def gemm(fgraph, node):
    """alpha * (A @ B) + beta * C ⇒ gemm(C, alpha, A, B, beta);  W - lr * (X.T @ G) ⇒
    gemm(W, -lr, X.T, G, 1)"""
    out = node.outputs[0]
    if out.dtype not in ("float32", "float64"):
        return None
    sub = isinstance(node.op.scalar_op, so.Sub)
    x, y = node.inputs
    for first, (prod, rest) in enumerate(((x, y), (y, x))):
        found = _scaled_product(prod, fgraph)
        if found is None or rest.ndim > 2:
            continue
        alpha, a, b = found
        beta, c = _scaled_addend(rest)
        if sub:  # x - y: negate whichever side is y
            if first == 0:
                beta = -beta
            else:
                alpha = -alpha
        if {a.dtype, b.dtype, c.dtype} != {out.dtype}:
            return None
        alpha, beta = (v if isinstance(v, int) else m.cast(v, out.dtype) for v in (alpha, beta))
        return {out: Gemm()(c, _scalar(alpha, out.dtype), a, b, _scalar(beta, out.dtype))}
    return None


def _scalar(v, dtype):
    from ..tensor.variable import constant

    return constant(v, dtype=dtype) if isinstance(v, int) else v


# --- matrix-chain order --------------------------------------------------------------
def _chain(var, fgraph, root):
    """The operands of the product tree under ``var``: inner products read only by
    this chain are opened up; anything else is an operand."""
    node = var.owner
    inner = (
        node is not None
        and isinstance(node.op, MatMul)
        and (var is root or len(fgraph.clients[var]) == 1)
        and all(v.ndim == 2 for v in node.inputs)
        and var.ndim == 2
    )
    if not inner:
        return [var]
    return _chain(node.inputs[0], fgraph, root) + _chain(node.inputs[1], fgraph, root)


def _tree_cost(var, dims):
    """Flops of the product tree as written (2·m·k·n per product); the chain's
    operands (the keys of ``dims``) are its leaves."""
    if var in dims:
        return 0, dims[var]
    node = var.owner
    ca, (m_, k) = _tree_cost(node.inputs[0], dims)
    cb, (_, n) = _tree_cost(node.inputs[1], dims)
    return ca + cb + 2 * m_ * k * n, (m_, n)


@node_rule(MatMul)
def matrix_chain(fgraph, node):
    """(A @ B) @ v ⇒ A @ (B @ v) when A, B are n×n: the order with the fewest flops,
    found by dynamic programming over the static shapes of the chain (a shared
    variable's: its value's now, recorded in ``fgraph.assumed_shapes``)"""
    out = node.outputs[0]
    a, b = node.inputs
    if a.ndim > 2 or b.ndim > 2 or (a.ndim == 1 and b.ndim == 1):
        return None
    # a 1-d first or last operand is a 1×k row or k×1 column
    left = _chain(a, fgraph, None) if a.ndim == 2 else [a]
    right = _chain(b, fgraph, None) if b.ndim == 2 else [b]
    ops = left + right
    if len(ops) < 3 or len({v.dtype for v in ops}) != 1:
        return None
    shapes, assumed = [], {}
    for i, v in enumerate(ops):
        shp = v.type.shape
        if None in shp and getattr(v, "value_shape", None) is not None:
            shp = assumed[v] = tuple(v.value_shape)  # a shared value's shape today
        shapes.append(list((1, shp[0]) if i == 0 else (shp[0], 1)) if v.ndim == 1 else list(shp))
    for left_shape, right_shape in zip(shapes, shapes[1:]):  # inner dimensions agree
        inner = right_shape[0] if left_shape[1] is None else left_shape[1]
        left_shape[1] = right_shape[0] = inner
    if any(None in shp for shp in shapes):
        return None
    dims = {v: tuple(shp) for v, shp in zip(ops, shapes)}
    p = [dims[ops[0]][0]] + [dims[v][1] for v in ops]
    cost, split = _optimal_order(p)
    current = _tree_cost(a, dims)[0] + _tree_cost(b, dims)[0] + 2 * p[0] * p[len(left)] * p[-1]
    if cost >= current:
        return None
    fgraph.assumed_shapes.update(assumed)
    return {out: _build(ops, split, 0, len(ops) - 1)}


def _optimal_order(p):
    """Minimal flops and split table for multiplying matrices p[i]×p[i+1], i < n."""
    n = len(p) - 1
    best = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best[i][j] = float("inf")
            for k in range(i, j):
                c = best[i][k] + best[k + 1][j] + 2 * p[i] * p[k + 1] * p[j + 1]
                if c < best[i][j]:
                    best[i][j], split[i][j] = c, k
    return best[0][n - 1], split


def _build(ops, split, i, j):
    if i == j:
        return ops[i]
    k = split[i][j]
    return matmul(_build(ops, split, i, k), _build(ops, split, k + 1, j))


@node_rule(Softmax, LogSoftmax)
def softmax_as_reductions(fgraph, node):
    """softmax(x) ⇒ e / sum(e) with e = exp(x - max(x));  log_softmax(x) ⇒
    x - logsumexp(x)  (fusible kernels instead of one opaque op; the gradients were
    taken on the op)"""
    (x,), out, axis = node.inputs, node.outputs[0], node.op.axis
    d = x - max_shift(x, (axis,))
    if isinstance(node.op, LogSoftmax):  # (x - max) - log(...): exact where x ~ max
        return {out: d - m.log(m.exp(d).sum(axis=axis, keepdims=True))}
    e = m.exp(d)
    return {out: e / e.sum(axis=axis, keepdims=True)}


@node_rule(so.Exp)
def exp_of_shifted_minus_log(fgraph, node):
    """exp(d - log(s)) ⇒ exp(d) / s  when d = x - max(x), so exp(d) <= 1 cannot
    overflow: the softmax of log_softmax's gradient then reuses the exponentials its
    sum s was made of instead of computing exp again"""
    (x,) = node.inputs
    src = x.owner
    if src is None or not isinstance(getattr(src.op, "scalar_op", None), so.Sub):
        return None
    d, log_s = src.inputs
    if log_s.owner is None or not isinstance(getattr(log_s.owner.op, "scalar_op", None), so.Log):
        return None
    if not _is_max_shifted(d):
        return None
    return {node.outputs[0]: m.exp(d) / log_s.owner.inputs[0]}


@node_rule(Subtensor)
def pick_before_elementwise(fgraph, node):
    """f(a, b)[rows, cols] ⇒ f(a[rows, cols], b[rows, 0])  for a matrix a and a column
    b: cross-entropy's ``log_softmax(z)[arange(n), y]`` computes n values instead of
    the whole n×c matrix. Only when every operand's dimension is statically 1 or
    provably the result's, and one operand is full (its pick keeps the bounds check)."""
    x = node.inputs[0]
    src = x.owner
    if (
        node.op.spec != (("array", "int"), ("array", "int"))
        or x.ndim != 2
        or src is None
        or not isinstance(src.op, Elemwise)
    ):
        return None
    rows, cols = node.inputs[1:]
    dims = lifted_shape(fgraph, x)
    picked, full = [], False
    for v in src.inputs:
        if v.ndim == 0:
            picked.append(v)
            continue
        if v.ndim != 2:
            return None
        ones = [n == 1 for n in v.type.shape]
        own = lifted_shape(fgraph, v)
        if not all(one or same_dim(d, e, fgraph) for one, d, e in zip(ones, own, dims)):
            return None
        if ones == [False, False]:
            picked.append(node.op(v, rows, cols))
            full = True
        elif ones == [False, True]:
            picked.append(Subtensor((("array", "int"),))(v.dimshuffle(0), rows))
        elif ones == [True, False]:
            picked.append(Subtensor((("array", "int"),))(v.dimshuffle(1), cols))
        else:
            picked.append(v.dimshuffle())
    if not full:
        return None
    return {node.outputs[0]: src.op(*picked)}


@node_rule(IncSubtensor)
def one_hot_scatter(fgraph, node):
    """inc_subtensor(zeros(n, c)[arange(n), y], v) ⇒ switch(arange(c) == y[:, None],
    v[:, None], 0), and its sum over axis 1 ⇒ v: the gradient of picking one entry per
    row (cross-entropy's ``p[arange(n), y]``) as an elementwise expression that fuses
    into its readers, instead of a scattered copy of zeros. Each row gets one write,
    so set and inc agree; ``y`` keeps its bounds check and negative labels count from
    the end."""
    if node.op.spec != (("array", "int"), ("array", "int")):
        return None
    zeros, v, rows, y = node.inputs
    src, out = zeros.owner, node.outputs[0]
    if (
        zeros.ndim != 2
        or y.ndim != 1
        or v.ndim > 1
        or src is None
        or not isinstance(src.op, Alloc)
        or not _is_constant(src.inputs[0], 0)
        or not _is_row_range(rows, src.inputs[1], fgraph)
    ):
        return None
    n, c = src.inputs[1:]
    y = CheckIndex(1)(y, c)
    y = broadcast_to(m.switch(m.lt(y, 0), y + c, y), (n,))
    hit = m.eq(arange(c).dimshuffle("x", 0), y.dimshuffle(0, "x"))
    v = broadcast_to(v, (n,))
    found = {out: m.switch(hit, v.dimshuffle(0, "x"), constant(0, dtype=out.dtype))}
    for client, _ in fgraph.clients[out]:  # a row's sum is its one entry
        op = getattr(client, "op", None)
        if isinstance(op, Reduce) and op.kind == "sum" and op.axis == (1,):
            total = m.cast(v, client.outputs[0].dtype)
            found[client.outputs[0]] = total.dimshuffle(0, "x") if op.keepdims else total
    return found


def _is_row_range(var, n, fgraph) -> bool:
    """Whether ``var`` is ``arange(0, n, 1)``."""
    src = var.owner
    if src is None or not isinstance(src.op, ARange):
        return False
    start, stop, step = src.inputs
    return _is_constant(start, 0) and _is_constant(step, 1) and same_dim(stop, n, fgraph)


def _is_constant(var, value) -> bool:
    data = getattr(var, "data", None)
    return data is not None and np.size(data) == 1 and np.asarray(data).item() == value


# (the specialize pass also runs the canonicalize rules, which drop logsumexp's cut)
specialize_rules = RuleTable(
    "specialize",
    power_rules
    + [matrix_chain, gemm, softmax_as_reductions, exp_of_shifted_minus_log]
    + [one_hot_scatter, pick_before_elementwise],
)
