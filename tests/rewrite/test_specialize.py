"""The specialize pass: powers, GEMM (and the Gemm op's derivatives), and the
matrix-chain order, each against the unrewritten graph and, for the chain order, against
a brute-force search over every parenthesization."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import graphad as ga
from graphad.errors import GraphadTypeError
from graphad.tensor import scalar_ops as so
from graphad.tensor.linalg import Gemm, MatMul
from tests.util import AS_WRITTEN, REWRITES, verify_grad, verify_rop


def compile_both(inputs, outputs):
    """(FAST_RUN function, unrewritten function) of the same graph."""
    fast = ga.function(inputs, outputs, mode=REWRITES, on_unused_input="ignore")
    written = ga.function(inputs, outputs, mode=AS_WRITTEN, on_unused_input="ignore")
    return fast, written


def nodes_of(f, op_class):
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, op_class)]


def scalar_keys(f):
    return [type(n.op.scalar_op) for n in f.maker.fgraph.toposort() if hasattr(n.op, "scalar_op")]


def assert_same_values(fast, written, values, rtol=1e-12):
    got, ref = fast(*values), written(*values)
    if not isinstance(got, list):
        got, ref = [got], [ref]
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol)


# --- powers ----------------------------------------------------------------------------
POWERS = {"pow_two": (2, so.Sqr), "pow_half": (0.5, so.Sqrt), "pow_minus_one": (-1, so.TrueDivide)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(POWERS))
def test_power_rules(name, dtype):
    exponent, op = POWERS[name]
    x = ga.vector("x", dtype=dtype)
    fast, written = compile_both([x], x**exponent)
    assert fast.maker.rewrites.fired(name) == 1
    keys = scalar_keys(fast)
    assert op in keys and so.Pow not in keys, keys
    value = np.random.default_rng(0).uniform(0.5, 3.0, size=7).astype(dtype)
    assert_same_values(fast, written, [value], rtol=1e-6 if dtype == "float32" else 1e-14)


def test_integer_powers_keep_their_meaning():
    """x ** -1 and x ** 0.5 of an integer x are not 1 / x and sqrt(x) (other dtypes, and
    NumPy refuses an integer to a negative power), so they stay powers; x ** 2 is sqr and
    stays an integer."""
    i = ga.vector("i", dtype="int64")
    f = ga.function([i], [i**0.5, i**2], mode=REWRITES)
    inverse = ga.function([i], i**-1, mode=REWRITES)
    assert f.maker.rewrites.fired("pow_half") == 0
    assert f.maker.rewrites.fired("pow_two") == 1
    assert inverse.maker.rewrites.fired("pow_minus_one") == 0
    assert sorted(k.__name__ for k in scalar_keys(f)) == ["Pow", "Sqr"]
    assert scalar_keys(inverse) == [so.Pow]
    value = np.array([1, 4, 9])
    root, square = f(value)
    np.testing.assert_array_equal(square, value**2)
    assert square.dtype == np.int64
    np.testing.assert_allclose(root, value**0.5)
    with pytest.raises(ValueError, match="negative integer powers"):
        value**-1  # NumPy's rule, which the compiled function keeps
    with pytest.raises(ValueError, match="negative integer powers"):
        inverse(value)


# --- GEMM --------------------------------------------------------------------------------
def _gemm_inputs(dtype, c_shape=(3, 5)):
    rng = np.random.default_rng(1)
    A, B = ga.matrix("A", dtype=dtype), ga.matrix("B", dtype=dtype)
    C = ga.tensor("C", dtype=dtype, shape=(None,) * len(c_shape))
    values = [rng.normal(size=s).astype(dtype) for s in ((3, 4), (4, 5), c_shape)]
    return (A, B, C), values


GEMM_CASES = {
    # name: (build(A, B, C, alpha, beta), C's shape)
    "bias_vector": (lambda A, B, C, al, be: A @ B + C, (5,)),
    "bias_vector_first": (lambda A, B, C, al, be: C + A @ B, (5,)),
    "scaled": (lambda A, B, C, al, be: al * (A @ B) + be * C, (3, 5)),
    "scaled_right": (lambda A, B, C, al, be: C * be + (A @ B) * al, (3, 5)),
    "minus_scaled_product": (lambda A, B, C, al, be: C - 0.1 * (A @ B), (3, 5)),
    "product_minus": (lambda A, B, C, al, be: A @ B - C, (3, 5)),
    "minus_product": (lambda A, B, C, al, be: C - A @ B, (3, 5)),
    "minus_scaled_addend": (lambda A, B, C, al, be: al * (A @ B) - be * C, (1, 5)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(GEMM_CASES))
def test_gemm(case, dtype):
    build, c_shape = GEMM_CASES[case]
    (A, B, C), values = _gemm_inputs(dtype, c_shape)
    al, be = ga.scalar("al", dtype=dtype), ga.scalar("be", dtype=dtype)
    inputs = [A, B, C, al, be]
    fast, written = compile_both(inputs, build(A, B, C, al, be))
    assert fast.maker.rewrites.fired("gemm") == 1, case
    assert len(nodes_of(fast, Gemm)) == 1 and not nodes_of(fast, MatMul)
    scalars = [np.asarray(1.7, dtype=dtype), np.asarray(-0.6, dtype=dtype)]
    assert_same_values(fast, written, values + scalars, rtol=1e-5 if dtype == "float32" else 1e-13)


def test_gemm_sign_of_subtraction():
    """C - 0.1 * (A @ B) keeps its sign (a wrong sign still passes a zero test)."""
    (A, B, C), (a, b, c) = _gemm_inputs("float64")
    f = ga.function([A, B, C], C - 0.1 * (A @ B), mode=REWRITES)
    assert nodes_of(f, Gemm)
    np.testing.assert_allclose(f(a, b, c), c - 0.1 * (a @ b), rtol=1e-13)


def test_product_with_another_client_is_not_a_gemm():
    (A, B, C), values = _gemm_inputs("float64")
    p = A @ B
    fast, written = compile_both([A, B, C], [p + C, 2 * p])
    assert fast.maker.rewrites.fired("gemm") == 0
    assert not nodes_of(fast, Gemm) and len(nodes_of(fast, MatMul)) == 1
    assert_same_values(fast, written, values)


@pytest.mark.parametrize(
    "dtypes", [("int64", "int64", "int64"), ("float32", "float32", "float64")], ids=str
)
def test_no_gemm_for_integer_or_mixed_dtypes(dtypes):
    A, B = ga.matrix("A", dtype=dtypes[0]), ga.matrix("B", dtype=dtypes[1])
    C = ga.matrix("C", dtype=dtypes[2])
    fast, written = compile_both([A, B, C], A @ B + C)
    assert not nodes_of(fast, Gemm)
    rng = np.random.default_rng(2)
    values = [(rng.normal(size=s) * 5).astype(d) for s, d in zip([(3, 4), (4, 2), (3, 2)], dtypes)]
    assert_same_values(fast, written, values, rtol=1e-6)


def test_no_gemm_for_batched_matmul():
    A, B, C = ga.tensor3("A"), ga.tensor3("B"), ga.tensor3("C")
    fast, written = compile_both([A, B, C], A @ B + C)
    assert not nodes_of(fast, Gemm)
    rng = np.random.default_rng(3)
    assert_same_values(
        fast, written, [rng.normal(size=s) for s in [(2, 3, 4), (2, 4, 5), (2, 3, 5)]]
    )


def test_gemm_op_type_rule():
    A, B, C = ga.matrix("A"), ga.matrix("B"), ga.vector("C")
    one = ga.constant(1.0)
    out = Gemm()(C, one, A, B, one)
    assert out.ndim == 2 and out.dtype == "float64"
    with pytest.raises(GraphadTypeError, match="float"):
        Gemm()(C, one, A, ga.matrix("Bi", dtype="int64"), one)
    with pytest.raises(GraphadTypeError, match="matrices"):
        Gemm()(C, one, ga.vector("a"), B, one)


# (C's shape, A's shape): C broadcast to the product, or (a 1-row A) the other way round
GEMM_SHAPES = [((3, 5), (3, 4)), ((5,), (3, 4)), ((1, 5), (3, 4)), ((3, 5), (1, 4))]


def _gemm_values(seed, c_shape, a_shape):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=c_shape), 1.3, rng.normal(size=a_shape), rng.normal(size=(4, 5)), -0.7]


@pytest.mark.parametrize(("c_shape", "a_shape"), GEMM_SHAPES, ids=str)
def test_gemm_gradients(c_shape, a_shape):
    values = _gemm_values(4, c_shape, a_shape)
    verify_grad(lambda c, al, a, b, be: Gemm()(c, al, a, b, be), values)


@pytest.mark.parametrize(("c_shape", "a_shape"), GEMM_SHAPES, ids=str)
def test_gemm_tangents(c_shape, a_shape):
    values = _gemm_values(5, c_shape, a_shape)
    verify_rop(lambda c, al, a, b, be: Gemm()(c, al, a, b, be), values)


def test_gemm_tangent_of_a_alone_broadcasts():
    """With only a 1-row A moving and C of 3 rows, the tangent has the output's shape."""
    A, B, C, tA = ga.matrix("A"), ga.matrix("B"), ga.matrix("C"), ga.matrix("tA")
    out = Gemm()(C, ga.constant(2.0), A, B, ga.constant(3.0))
    f = ga.function([A, B, C, tA], ga.Rop(out, A, tA))
    rng = np.random.default_rng(10)
    a, b, c, ta = (rng.normal(size=s) for s in [(1, 4), (4, 5), (3, 5), (1, 4)])
    np.testing.assert_allclose(f(a, b, c, ta), np.broadcast_to(2.0 * ta @ b, (3, 5)))


def test_gemm_of_a_product_that_c_broadcasts():
    """A @ B + C with one row in A and three in C: a Gemm, and the same values."""
    A, B, C = ga.matrix("A"), ga.matrix("B"), ga.matrix("C")
    fast, written = compile_both([A, B, C], A @ B - 2.0 * C)
    assert nodes_of(fast, Gemm)
    rng = np.random.default_rng(11)
    assert_same_values(fast, written, [rng.normal(size=s) for s in [(1, 4), (4, 5), (3, 5)]])


def test_gemm_tangent_of_c_alone_broadcasts():
    """With only C (a vector) moving, the tangent still has the product's shape."""
    A, B, c, tc = ga.matrix("A"), ga.matrix("B"), ga.vector("c"), ga.vector("tc")
    out = Gemm()(c, ga.constant(2.0), A, B, ga.constant(3.0))
    f = ga.function([A, B, c, tc], ga.Rop(out, c, tc))
    rng = np.random.default_rng(6)
    got = f(rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=5), np.arange(5.0))
    np.testing.assert_allclose(got, np.broadcast_to(3.0 * np.arange(5.0), (3, 5)))


# --- matrix-chain order ----------------------------------------------------------------------
def chain_cost(var, leaf_names):
    """(flops of the product tree under ``var``, its parenthesization as nested tuples of
    leaf names); 2·m·k·n per product, from the static shapes of the rewritten graph."""
    if var.owner is None or not isinstance(var.owner.op, MatMul):
        return 0, leaf_names[var.name]
    a, b = var.owner.inputs
    ca, ta = chain_cost(a, leaf_names)
    cb, tb = chain_cost(b, leaf_names)
    m = a.type.shape[0] if a.ndim == 2 else 1
    k = a.type.shape[-1]
    n = b.type.shape[1] if b.ndim == 2 else 1
    return ca + cb + 2 * m * k * n, (ta, tb)


def brute_force(dims, lo=0, hi=None):
    """Every (flops, tree) of multiplying matrices lo..hi (matrix i is dims[i]×dims[i+1])."""
    hi = len(dims) - 2 if hi is None else hi
    if lo == hi:
        return [(0, lo)]
    found = []
    for k in range(lo, hi):
        for (ca, ta), (cb, tb) in itertools.product(
            brute_force(dims, lo, k), brute_force(dims, k + 1, hi)
        ):
            found.append((ca + cb + 2 * dims[lo] * dims[k + 1] * dims[hi + 1], (ta, tb)))
    return found


def build_tree(tree, mats):
    if isinstance(tree, int):
        return mats[tree]
    return build_tree(tree[0], mats) @ build_tree(tree[1], mats)


def chain_inputs(dims, known=True):
    mats = [
        ga.tensor(f"M{i}", shape=(dims[i] if known else None, dims[i + 1]))
        for i in range(len(dims) - 1)
    ]
    rng = np.random.default_rng(sum(dims))
    values = [rng.normal(size=(dims[i], dims[i + 1])) for i in range(len(dims) - 1)]
    return mats, values


def rewritten_tree(f, mats):
    out = f.maker.fgraph.outputs[0]
    names = {m.name: i for i, m in enumerate(mats)}
    return chain_cost(out, names)


def test_square_matrices_times_vector():
    n = 20
    A, B = ga.tensor("A", shape=(n, n)), ga.tensor("B", shape=(n, n))
    v = ga.tensor("v", shape=(n,))
    fast, written = compile_both([A, B, v], (A @ B) @ v)
    assert fast.maker.rewrites.fired("matrix_chain") == 1
    cost, tree = chain_cost(fast.maker.fgraph.outputs[0], {"A": "A", "B": "B", "v": "v"})
    assert tree == ("A", ("B", "v")) and cost == 2 * (2 * n * n)
    rng = np.random.default_rng(7)
    values = [rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=n)]
    assert_same_values(fast, written, values, rtol=1e-10)


def _tree(var, names):
    """The parenthesization of the product tree under ``var`` as nested tuples of names."""
    if var.owner is None or not isinstance(var.owner.op, MatMul):
        return var.name
    return tuple(_tree(v, names) for v in var.owner.inputs)


def test_weights_in_shared_variables_are_ordered_by_their_values_shapes():
    """Shared variables have no static shape; the chain uses their values' shapes at
    compile time (the case the rewrite exists for: weights times a vector)."""
    n, rng = 30, np.random.default_rng(9)
    W1 = ga.shared(rng.normal(size=(n, n)), name="W1")
    W2 = ga.shared(rng.normal(size=(n, n)), name="W2")
    v = ga.vector("v")
    out = (W1 @ W2) @ v
    f = ga.function([v], out)
    assert f.maker.rewrites.fired("matrix_chain") == 1
    products = [o for o in f.maker.fgraph.toposort() if isinstance(o.op, MatMul)]
    assert _tree(products[-1].outputs[0], {}) == ("W1", ("W2", "v"))
    x = rng.normal(size=n)
    np.testing.assert_allclose(f(x), (W1.get_value() @ W2.get_value()) @ x, rtol=1e-10)
    # another shape later: still the right values, with a warning that the order may be slow
    with pytest.warns(UserWarning, match="W2.*now has shape \\(30, 2\\).*compile them again"):
        W2.set_value(rng.normal(size=(n, 2)))
    x = rng.normal(size=2)
    np.testing.assert_allclose(f(x), (W1.get_value() @ W2.get_value()) @ x, rtol=1e-10)


def test_shared_values_of_unknown_shape_in_a_graph_without_chains_never_warn():
    W = ga.shared(np.ones((3, 3)), name="W")
    x = ga.vector("x")
    ga.function([x], W @ x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W.set_value(np.ones((4, 4)))


def test_vector_times_square_matrices():
    n = 12
    A, B = ga.tensor("A", shape=(n, n)), ga.tensor("B", shape=(n, n))
    v = ga.tensor("v", shape=(n,))
    fast, written = compile_both([A, B, v], v @ (A @ B))
    _, tree = chain_cost(fast.maker.fgraph.outputs[0], {"A": "A", "B": "B", "v": "v"})
    assert tree == (("v", "A"), "B")
    rng = np.random.default_rng(8)
    values = [rng.normal(size=(n, n)), rng.normal(size=(n, n)), rng.normal(size=n)]
    assert_same_values(fast, written, values, rtol=1e-10)


@pytest.mark.parametrize("written_tree", [(0, (1, 2)), ((0, 1), 2)], ids=["right", "left"])
def test_classic_three_matrix_chain(written_tree):
    dims = [10, 100, 5, 50]
    mats, values = chain_inputs(dims)
    fast, written = compile_both(mats, build_tree(written_tree, mats))
    cost, tree = rewritten_tree(fast, mats)
    assert tree == ((0, 1), 2)
    assert cost == 2 * (10 * 100 * 5 + 10 * 5 * 50)
    assert_same_values(fast, written, values, rtol=1e-10)


def test_four_matrix_chain_against_brute_force():
    dims = [30, 35, 15, 5, 10]
    options = sorted(brute_force(dims))
    assert options[0][0] < options[1][0]  # a unique optimum, so the tree is determined
    best_cost, best_tree = options[0]
    worst_tree = options[-1][1]
    mats, values = chain_inputs(dims)
    fast, written = compile_both(mats, build_tree(worst_tree, mats))
    assert rewritten_tree(fast, mats) == (best_cost, best_tree)
    assert_same_values(fast, written, values, rtol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_random_chains_reach_the_optimum(seed):
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(1, 12, size=int(rng.integers(4, 7)))]
    options = brute_force(dims)
    written_cost, written_tree = options[int(rng.integers(len(options)))]
    mats, values = chain_inputs(dims)
    fast, written = compile_both(mats, build_tree(written_tree, mats))
    cost, _ = rewritten_tree(fast, mats)
    assert cost == min(c for c, _ in options) <= written_cost
    assert_same_values(fast, written, values, rtol=1e-10)


def test_unknown_dimension_keeps_the_users_order():
    dims = [10, 100, 5, 50]
    mats, values = chain_inputs(dims, known=False)
    fast, written = compile_both(mats, mats[0] @ (mats[1] @ mats[2]))
    assert fast.maker.rewrites.fired("matrix_chain") == 0
    out = fast.maker.fgraph.outputs[0]
    assert out.owner.inputs[0].name == "M0" and out.owner.inputs[1].owner is not None
    assert_same_values(fast, written, values, rtol=1e-10)


def test_inner_product_used_elsewhere_is_not_reopened():
    dims = [10, 100, 5, 50]
    mats, values = chain_inputs(dims)
    inner = mats[1] @ mats[2]
    fast, written = compile_both(mats, [mats[0] @ inner, inner])
    assert fast.maker.rewrites.fired("matrix_chain") == 0
    assert len(nodes_of(fast, MatMul)) == 2
    top = fast.maker.fgraph.outputs[0].owner
    assert top.inputs[1] is fast.maker.fgraph.outputs[1]
    assert_same_values(fast, written, values, rtol=1e-10)


def test_reordered_chain_then_gemm():
    """The chain is reordered and its last product still fuses with the addend."""
    dims = [10, 100, 5, 50]
    mats, values = chain_inputs(dims)
    C = ga.tensor("C", shape=(10, 50))
    c_val = np.random.default_rng(9).normal(size=(10, 50))
    fast, written = compile_both(mats + [C], mats[0] @ (mats[1] @ mats[2]) - 0.5 * C)
    assert fast.maker.rewrites.fired("matrix_chain") == 1
    assert fast.maker.rewrites.fired("gemm") == 1
    assert_same_values(fast, written, values + [c_val], rtol=1e-10)


# --- softmax and log_softmax as fusible reductions ----------------------------------------
SOFTMAX_ROWS = np.array(
    [[np.inf, 1.0, 0.0], [-np.inf, -np.inf, -np.inf], [np.nan, 0.0, 1.0], [1e308, 1e308, 0.0],
     [-1000.0, 0.0, 1000.0], [0.5, -0.25, 2.0]]
)  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("fn", [ga.softmax, ga.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_becomes_reductions_with_the_same_values(fn, axis, dtype):
    from graphad.tensor.nnet import LogSoftmax, Softmax

    z = ga.matrix("z", dtype)
    out = fn(z, axis=axis)
    fast, written = compile_both([z], out)
    assert not nodes_of(fast, Softmax) and not nodes_of(fast, LogSoftmax)
    assert fast.maker.rewrites.fired("softmax_as_reductions") == 1
    with np.errstate(all="ignore"):
        values = SOFTMAX_ROWS.astype(dtype)  # 1e308 is inf in float32
        got, want = fast(values), written(values)
    assert got.dtype == want.dtype == np.dtype(dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_cross_entropy_gradient_through_the_expanded_softmax():
    z = ga.matrix("z")
    labels = ga.vector("labels", "int64")
    loss = ga.categorical_crossentropy(ga.softmax(z), labels).mean()
    outs = [loss, ga.grad(loss, z)]
    fast, written = compile_both([z, labels], outs)
    args = [np.random.default_rng(3).normal(size=(5, 7)) * 30, np.array([0, 6, 3, 3, 1])]
    for g, w in zip(fast(*args), written(*args)):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


# --- one entry per row: the scatter of cross-entropy's gradient ----------------------
def _picked_loss(dtype="float64"):
    z, labels = ga.matrix("z", dtype), ga.vector("labels", "int64")
    loss = -ga.log_softmax(z)[ga.arange(z.shape[0]), labels].mean()
    return z, labels, loss


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_entry_per_row_scatter_becomes_elementwise(dtype):
    """inc_subtensor(zeros[arange(n), y], v) is a one-hot select that fuses, and its row
    sum is v itself: no scattered copy of zeros, no sum over it."""
    from graphad.tensor.indexing import IncSubtensor
    from graphad.tensor.shape import Alloc

    z, labels, loss = _picked_loss(dtype)
    outs = [loss, ga.grad(loss, z)]
    fast, written = compile_both([z, labels], outs)
    assert fast.maker.rewrites.fired("one_hot_scatter") == 1
    assert not nodes_of(fast, IncSubtensor) and not nodes_of(fast, Alloc)
    rng = np.random.default_rng(4)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for n, c in ((5, 7), (1, 3), (0, 4)):
        args = [(rng.normal(size=(n, c)) * 5).astype(dtype), rng.integers(-c, c, size=n)]
        for g, w in zip(fast(*args), written(*args)):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("label", [7, -8, 100])
def test_one_hot_gradient_keeps_the_index_error(label):
    from graphad.errors import GraphadIndexError

    z, labels, loss = _picked_loss()
    grad = ga.grad(loss, z)
    fast, written = compile_both([z, labels], grad)  # the gradient alone: no forward pick
    args = [np.zeros((3, 7)), np.array([0, label, 2])]
    for f in (fast, written):
        with pytest.raises(GraphadIndexError, match=f"index {label} is out of bounds"):
            f(*args)


def test_one_hot_gradient_with_a_single_label_for_every_row():
    """A length-1 label vector broadcasts against arange(n), as NumPy's indexing does."""
    z, labels, loss = _picked_loss()
    grad = ga.grad(loss, z)
    fast, written = compile_both([z, labels], grad)
    args = [np.random.default_rng(5).normal(size=(4, 6)), np.array([2])]
    np.testing.assert_allclose(fast(*args), written(*args), rtol=1e-12, atol=1e-15)
    with pytest.raises(ga.GraphadError):
        fast(np.zeros((4, 6)), np.array([1, 2]))  # two labels for four rows


def test_scatter_into_something_other_than_zeros_or_rows_is_left_alone():
    from graphad.tensor.indexing import IncSubtensor

    z, labels = ga.matrix("z"), ga.vector("labels", "int64")
    rows = ga.vector("rows", "int64")
    v = ga.vector("v")
    for out in (
        ga.inc_subtensor(z[ga.arange(z.shape[0]), labels], v),  # onto z, not zeros
        ga.inc_subtensor(ga.zeros_like(z)[rows, labels], v),  # any rows
    ):
        fast, written = compile_both([z, labels, rows, v], out)
        assert fast.maker.rewrites.fired("one_hot_scatter") == 0
        assert nodes_of(fast, IncSubtensor)
        args = [np.ones((3, 4)), np.array([1, 1, 3]), np.array([2, 2, 0]), np.arange(3.0)]
        np.testing.assert_array_equal(fast(*args), written(*args))


# --- cross-entropy's forward pick and log_softmax's gradient -------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_gradient_reuses_the_exponentials_of_its_sum(dtype):
    """exp(d - log(sum(exp(d)))) with d = z - max(z) becomes exp(d) / sum(exp(d)): one
    exp per element for the loss and its gradient together."""
    z = ga.matrix("z", dtype)
    cost = (ga.log_softmax(z) * ga.constant(np.arange(3.0), dtype=dtype)).sum()
    outs = [cost, ga.grad(cost, z)]
    fast, written = compile_both([z], outs)
    assert fast.maker.rewrites.fired("exp_of_shifted_minus_log") >= 1
    assert scalar_keys(fast).count(so.Exp) == 1
    rtol = 1e-5 if dtype == "float32" else 1e-12
    with np.errstate(all="ignore"):
        for values in (SOFTMAX_ROWS[4:].astype(dtype), SOFTMAX_ROWS[:2].astype(dtype)):
            for got, want in zip(fast(values), written(values)):
                np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_exp_minus_log_of_an_unshifted_value_is_left_alone():
    """exp(x) may overflow where exp(x - log(y)) does not: no rewrite without the shift."""
    x, y = ga.vector("x"), ga.vector("y")
    out = ga.exp(x - ga.log(y))
    fast, written = compile_both([x, y], out)
    assert fast.maker.rewrites.fired("exp_of_shifted_minus_log") == 0
    args = [np.array([800.0, 1.0]), np.array([np.exp(700.0), 2.0])]  # exp(800) is inf
    np.testing.assert_allclose(fast(*args), written(*args), rtol=1e-12)
    assert np.isfinite(fast(*args)).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_picks_before_computing_the_whole_log_softmax(dtype):
    from graphad.errors import GraphadIndexError
    from graphad.tensor.elemwise import Elemwise
    from graphad.tensor.indexing import Subtensor

    z, labels, loss = _picked_loss(dtype)
    fast, written = compile_both([z, labels], loss)
    assert fast.maker.rewrites.fired("pick_before_elementwise") >= 1
    picks = [n for n in nodes_of(fast, Subtensor) if n.inputs[0].ndim == 2]
    made = [getattr(n.inputs[0].owner, "op", None) for n in picks]
    assert picks and not any(isinstance(op, Elemwise) for op in made)  # no n x c log-probs
    rng = np.random.default_rng(16)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for n, c in ((5, 7), (1, 3)):
        args = [(rng.normal(size=(n, c)) * 5).astype(dtype), rng.integers(-c, c, size=n)]
        np.testing.assert_allclose(fast(*args), written(*args), rtol=rtol, atol=rtol)
    for f in (fast, written):
        with pytest.raises(GraphadIndexError):
            f(np.zeros((2, 3), dtype), np.array([0, 3]))


def test_pick_is_not_moved_when_an_operand_may_broadcast_at_run_time():
    """b's columns may be 1 at run time: picking b[rows, cols] would then be out of range."""
    a, b = ga.matrix("a"), ga.matrix("b")
    rows, cols = ga.vector("rows", "int64"), ga.vector("cols", "int64")
    out = (a * b)[rows, cols]
    fast, written = compile_both([a, b, rows, cols], out)
    assert fast.maker.rewrites.fired("pick_before_elementwise") == 0
    args = [np.arange(12.0).reshape(3, 4), np.array([[2.0], [3.0], [4.0]]), [0, 2], [3, 1]]
    np.testing.assert_array_equal(fast(*args), written(*args))
