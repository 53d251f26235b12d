"""Hypothesis: random differentiable expression trees, each gradient checked against
finite differences with verify_grad (and forward mode with verify_rop)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphad as ga
from tests.util import verify_grad, verify_rop

# smooth everywhere (no kinks, no poles) on bounded inputs
UNARY = {
    "tanh": ga.tanh,
    "sin": ga.sin,
    "cos": ga.cos,
    "sigmoid": ga.sigmoid,
    "softplus": ga.softplus,
    "sqr": ga.sqr,
    "arctan": ga.arctan,
    "exp_tanh": lambda x: ga.exp(ga.tanh(x)),
    "log1p_sqr": lambda x: ga.log1p(ga.sqr(x)),
    "erf": ga.erf,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.5 + ga.sin(b)),
    "pow": lambda a, b: (1.5 + ga.tanh(a)) ** ga.cos(b),
}
REDUCE = {
    "sum": lambda x, ax: x.sum(axis=ax, keepdims=True),
    "mean": lambda x, ax: x.mean(axis=ax, keepdims=True),
    "logsumexp": lambda x, ax: ga.logsumexp(x, axis=ax, keepdims=True),
    "prod": lambda x, ax: ga.prod(ga.tanh(x) + 2, axis=ax, keepdims=True),
    "softmax": lambda x, ax: ga.softmax(x, axis=ax),
}
SHAPE = {
    "transpose": lambda x: x.T,
    "reverse": lambda x: x[::-1],
    "flatten_back": lambda x: ga.reshape(ga.flatten(x), x.shape),
    "roll_rows": lambda x: ga.concatenate([x[1:], x[:1]], axis=0),
}


@st.composite
def trees(draw, depth):
    """A tree over a (3, 3) input pair, as nested tuples."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return ("leaf", draw(st.integers(0, 1)))
    kind = draw(st.sampled_from(["unary", "binary", "reduce", "shape"]))
    if kind == "unary":
        return ("unary", draw(st.sampled_from(sorted(UNARY))), draw(trees(depth - 1)))
    if kind == "binary":
        op = draw(st.sampled_from(sorted(BINARY)))
        return ("binary", op, draw(trees(depth - 1)), draw(trees(depth - 1)))
    if kind == "reduce":
        op = draw(st.sampled_from(sorted(REDUCE)))
        return ("reduce", op, draw(st.integers(0, 1)), draw(trees(depth - 1)))
    return ("shape", draw(st.sampled_from(sorted(SHAPE))), draw(trees(depth - 1)))


def build(tree, xs):
    kind = tree[0]
    if kind == "leaf":
        return xs[tree[1]]
    if kind == "unary":
        return UNARY[tree[1]](build(tree[2], xs))
    if kind == "binary":
        return BINARY[tree[1]](build(tree[2], xs), build(tree[3], xs))
    if kind == "reduce":
        # keepdims keeps every node (3, 3) or broadcastable to it
        return REDUCE[tree[1]](build(tree[3], xs), tree[2]) + 0 * xs[0]
    return SHAPE[tree[1]](build(tree[2], xs))


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tree=trees(4), seed=st.integers(0, 2**16))
def test_random_tree_gradients(tree, seed):
    rng = np.random.default_rng(seed)
    values = [rng.uniform(-1, 1, size=(3, 3)) for _ in range(2)]
    verify_grad(lambda a, b: build(tree, [a, b]), values, rng=rng, rtol=1e-4, atol=1e-6)
    verify_rop(lambda a, b: build(tree, [a, b]), values, rng=rng, rtol=1e-5, atol=1e-7)
