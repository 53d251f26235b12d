"""Random expressions made of what the rewrite rules look for, compiled with every pass
(FAST_RUN) and with none: both give the same numbers.

Hypothesis draws a tree of depth <= 5 over float64 inputs of static shapes (so the
matrix-chain rule can fire): log/exp/sigmoid/softplus/softmax/logsumexp, the shapes the
stabilize rules match (``log(1 + x)``, ``log(1 - sigmoid(x))``, ``exp(x) - 1``,
``log(sum(exp(x)))`` ...), add/sub/mul/div by the constants canonicalize simplifies
(0, 1, -1, 2, 0.5), powers by 2, 0.5 and -1, transposes, sums and matrix products. A
tree is nested tuples ``(op, *children)``; ``to_graphad`` and ``to_numpy`` are its two
interpreters.

A stabilized form may be finite, or more accurate, where the written one is not; so an
example counts only where the written form, computed by graphad in float64, is finite
and agrees with the same tree computed by NumPy in extended precision (longdouble).
There a rewrite has no excuse for changing the answer beyond rounding.

Examples are derandomized (the same ones on every run, no example database); set
GRAPHAD_REWRITE_EXAMPLES to run more of them when hunting for bugs.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import graphad as ga
from tests.util import AS_WRITTEN

# examples per run (each compiles two functions); raise it to hunt for bugs
EXAMPLES = int(os.environ.get("GRAPHAD_REWRITE_EXAMPLES", "150"))
MAX_DEPTH = 5
CONSTANTS = (0, 1, -1, 2, 0.5)
# one input per shape the generator uses (dims 2, 3 and 4 so products change shape)
SHAPES = {"s": (), "u": (3,), "v": (4,), "A": (3, 4), "B": (4, 3), "C": (3, 3), "D": (4, 4)}
NAME_OF = {shape: name for name, shape in SHAPES.items()}
DIMS = (3, 4)
# the written form must agree with the extended-precision value to this (else the
# example is ill-conditioned for it); the rewritten one with the written one to this
ACCURATE, TOLERANCE = 1e-11, 1e-9


# --- the two interpreters -------------------------------------------------------------------
def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_logsumexp(x, axis):
    shift = x.max(axis=axis, keepdims=True)
    result = np.log(np.exp(x - shift).sum(axis=axis, keepdims=True)) + shift
    return result.reshape(()) if axis is None else result.squeeze(axis)


UNARY = {
    # name: (graphad, NumPy)
    "log": (ga.log, np.log), "exp": (ga.exp, np.exp), "neg": (lambda x: -x, np.negative),
    "sigmoid": (ga.sigmoid, _np_sigmoid), "softplus": (ga.softplus, lambda x: np.logaddexp(0, x)),
    "log1p": (ga.log1p, np.log1p), "T": (lambda x: x.T, np.transpose),
    "transpose": (ga.transpose, np.transpose), "softmax": (ga.softmax, _np_softmax),
    "swap": (lambda x: x.dimshuffle(1, 0), np.transpose),
    # a vector as a (1, n) row or an (n, 1) column that broadcasts against a matrix
    "row": (lambda x: x.dimshuffle("x", 0), lambda x: x[None, :]),
    "col": (lambda x: ga.dimshuffle(x, (0, "x")), lambda x: x[:, None]),
}  # fmt: skip
BINARY = {
    "add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply), "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power), "matmul": (lambda a, b: a @ b, np.matmul),
}  # fmt: skip


def to_graphad(tree, inputs):
    op, *args = tree
    if op == "input":
        return inputs[args[0]]
    if op == "const":
        return args[0]  # a Python number: weak, as a user writes it
    if op in ("sum", "logsumexp"):
        axis, child = args
        fn = ga.sum if op == "sum" else ga.logsumexp
        return fn(to_graphad(child, inputs), axis=axis)
    children = [to_graphad(c, inputs) for c in args]
    return (UNARY if op in UNARY else BINARY)[op][0](*children)


def to_numpy(tree, values, seen):
    """The tree's value in extended precision; every intermediate value lands in seen."""
    op, *args = tree
    if op == "input":
        result = values[args[0]].astype(np.longdouble)
    elif op == "const":
        result = np.longdouble(args[0])
    elif op in ("sum", "logsumexp"):
        axis, child = args
        x = to_numpy(child, values, seen)
        result = x.sum(axis=axis) if op == "sum" else _np_logsumexp(x, axis)
    else:
        children = [to_numpy(c, values, seen) for c in args]
        result = (UNARY if op in UNARY else BINARY)[op][1](*children)
    seen.append(np.asarray(result))
    return np.asarray(result)


# --- the generator: a tree of a given static shape ------------------------------------------
def _reduced_from(shape):
    """(source shape, axis) pairs whose reduction gives ``shape``."""
    if shape == ():
        return [(s, None) for s in SHAPES.values() if s]
    if len(shape) == 1:
        return [((shape[0], d), 1) for d in DIMS] + [((d, shape[0]), 0) for d in DIMS]
    return []


def _products_to(shape):
    """(left shape, right shape) pairs whose matrix product has ``shape``."""
    if shape == ():
        return [((d,), (d,)) for d in DIMS]
    if len(shape) == 1:
        return [((shape[0], d), (d,)) for d in DIMS] + [((d,), (d, shape[0])) for d in DIMS]
    return [((shape[0], d), (d, shape[1])) for d in DIMS]


@st.composite
def trees(draw, shape=(3, 4), depth=MAX_DEPTH):
    """A tree whose value has ``shape``."""
    if depth <= 0 or draw(st.integers(0, 5)) == 0:
        return ("input", NAME_OF[shape])
    sub = trees(shape, depth - 1)
    kinds = ["unary", "log_of", "log_of", "const", "pow", "binary", "broadcast", "sum", "product"]
    if len(shape) == 2:
        kinds.append("transpose")
    if shape:
        kinds.append("softmax")
    kind = draw(st.sampled_from(kinds))
    if kind == "unary":
        return (draw(st.sampled_from(["exp", "neg", "sigmoid", "softplus"])), draw(sub))
    if kind == "log_of":
        return draw(_log_forms(shape, depth))
    if kind == "const":
        c = ("const", draw(st.sampled_from(CONSTANTS)))
        op = draw(st.sampled_from(["add", "sub", "mul", "div"]))
        if op == "div" and c[1] == 0:
            op = "mul"
        pair = (draw(sub), c)
        return (op, *(pair if op == "div" or draw(st.booleans()) else pair[::-1]))
    if kind == "pow":
        exponent = draw(st.sampled_from([2, 0.5, -1]))
        base = ("exp", draw(trees(shape, depth - 2))) if exponent == 0.5 else draw(sub)
        return ("pow", base, ("const", exponent))
    if kind in ("binary", "broadcast"):
        other = (
            shape[len(shape) - draw(st.integers(0, len(shape))) :] if kind == "broadcast" else shape
        )
        pair = [draw(sub), draw(trees(other, depth - 1))]
        if kind == "broadcast" and len(shape) == 2 and draw(st.booleans()):
            side = draw(st.sampled_from(["row", "col"]))
            pair[1] = (side, draw(trees((shape[side == "row"],), depth - 2)))
        if draw(st.booleans()):
            pair.reverse()
        return (draw(st.sampled_from(["add", "sub", "mul"])), *pair)
    if kind == "transpose":
        op = draw(st.sampled_from(["T", "transpose", "swap"]))
        return (op, draw(trees(shape[::-1], depth - 1)))
    if kind == "softmax":
        return ("softmax", draw(sub))
    if kind == "sum" and _reduced_from(shape):
        source, axis = draw(st.sampled_from(_reduced_from(shape)))
        op = draw(st.sampled_from(["sum", "logsumexp"]))
        return (op, axis, draw(trees(source, depth - 1)))
    left, right = draw(st.sampled_from(_products_to(shape)))
    return ("matmul", draw(trees(left, depth - 1)), draw(trees(right, depth - 1)))


@st.composite
def _log_forms(draw, shape, depth):
    """log of something positive, in the spellings the stabilize rules match."""
    sub = trees(shape, max(depth - 2, 0))
    form = draw(st.sampled_from(["sigmoid", "one_minus_sigmoid", "log1p_neg_sigmoid",
                                 "one_plus", "exp_minus_one", "sum_exp", "softmax"]))  # fmt: skip
    if form == "sigmoid":
        return ("log", ("sigmoid", draw(sub)))
    if form == "one_minus_sigmoid":
        return ("log", ("sub", ("const", 1), ("sigmoid", draw(sub))))
    if form == "log1p_neg_sigmoid":
        return ("log1p", ("neg", ("sigmoid", draw(sub))))
    if form == "one_plus":  # log(1 + e^x): positive, and log1p's pattern
        return ("log", ("add", ("const", 1), ("exp", draw(sub))))
    if form == "exp_minus_one":  # expm1's pattern, kept positive for the log
        return ("log", ("add", ("sub", ("exp", draw(sub)), ("const", 1)), ("const", 2)))
    if form == "softmax" and shape:
        return ("log", ("softmax", draw(sub)))
    sources = _reduced_from(shape)
    if not sources:
        return ("log", ("exp", draw(sub)))
    source, axis = draw(st.sampled_from(sources))
    return ("log", ("sum", axis, ("exp", draw(trees(source, max(depth - 2, 0))))))


# --- the property ----------------------------------------------------------------------------
def _inputs():
    return {name: ga.tensor(name, "float64", shape=shape) for name, shape in SHAPES.items()}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(tree=st.sampled_from(list(SHAPES.values())).flatmap(trees), seed=st.integers(0, 2**16))
def test_rewritten_graph_computes_what_was_written(tree, seed):
    rng = np.random.default_rng(seed)
    values = {n: rng.uniform(-2, 2, size=s) for n, s in SHAPES.items()}
    seen = []
    with np.errstate(all="ignore"):
        exact = to_numpy(tree, values, seen)
    # every intermediate value stays well inside float64's range
    assume(all(np.all(np.isfinite(v)) and np.all(np.abs(v) < 1e100) for v in seen))

    inputs = _inputs()
    names = list(SHAPES)
    expr = to_graphad(tree, inputs)
    args = [values[n] for n in names]
    written = ga.function([inputs[n] for n in names], expr, mode=AS_WRITTEN,
                          on_unused_input="ignore")  # fmt: skip
    with np.errstate(all="ignore"):
        reference = written(*args)
    assume(np.all(np.isfinite(reference)))
    close = np.abs(reference - exact.astype("float64")) <= ACCURATE * (1 + np.abs(reference))
    assume(bool(np.all(close)))

    fast = ga.function([inputs[n] for n in names], expr, mode="FAST_RUN",
                       on_unused_input="ignore")  # fmt: skip
    with np.errstate(all="ignore"):
        got = fast(*args)
    assert got.shape == reference.shape and got.dtype == reference.dtype
    np.testing.assert_allclose(
        got, reference, rtol=TOLERANCE, atol=TOLERANCE, err_msg=fast.maker.rewrites.summary()
    )
