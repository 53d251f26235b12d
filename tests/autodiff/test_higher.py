"""jacobian, hessian, hessian_vector_product and Lop against NumPy and finite differences."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphad as ga
from tests.util import numeric_grad


def _numeric_jacobian(fn, x, eps=1e-6):
    """d fn(x) / d x by central differences: shape fn(x).shape + x.shape."""
    x = np.array(x, dtype="float64")
    out_shape = np.shape(fn(x))
    jac = np.zeros(out_shape + x.shape)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = np.asarray(fn(x))
        flat[i] = old - eps
        minus = np.asarray(fn(x))
        flat[i] = old
        jac[(...,) + np.unravel_index(i, x.shape)] = (plus - minus) / (2 * eps)
    return jac


@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda x: ga.tanh(x), (4,)),
        (lambda x: ga.softmax(x), (5,)),
        (lambda x: (x @ x.T).sum(axis=0), (3, 2)),
        (lambda x: ga.exp(x)[::2] * x.sum(), (5,)),
        (lambda x: ga.log_softmax(x, axis=0), (3, 2)),
        (lambda x: (x**2).sum(), (3,)),
    ],
)
def test_jacobian_matches_finite_differences(mode, build, shape):
    rng = np.random.default_rng(0)
    x = ga.tensor("x", "float64", shape=(None,) * len(shape))
    value = rng.normal(size=shape)
    out = build(x)
    jac = ga.jacobian(out, x)
    f_out = ga.function([x], out, mode=mode)
    f_jac = ga.function([x], jac, mode=mode)
    got = f_jac(value)
    want = _numeric_jacobian(lambda v: f_out(v), value)
    assert got.shape == np.shape(f_out(value)) + shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_jacobian_of_a_linear_map_is_the_matrix(mode):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 3))
    x = ga.vector("x")
    jac = ga.function([x], ga.jacobian(ga.constant(A) @ x, x), mode=mode)
    np.testing.assert_allclose(jac(rng.normal(size=3)), A)


def test_jacobian_graph_has_no_node_per_output_entry():
    x = ga.vector("x")
    small = ga.function([x], ga.jacobian(ga.tanh(x), x))
    x2 = ga.vector("x2", shape=(1000,))
    big = ga.function([x2], ga.jacobian(ga.tanh(x2), x2))
    assert len(big.fgraph.apply_nodes) <= len(small.fgraph.apply_nodes) + 2
    assert big(np.zeros(1000)).shape == (1000, 1000)


def test_jacobian_list_wrt_and_shared_variables(mode):
    rng = np.random.default_rng(2)
    W = ga.shared(rng.normal(size=(3, 2)), name="W")
    x = ga.vector("x")
    out = ga.tanh(x @ W)
    jx, jW = ga.jacobian(out, [x, W])
    f = ga.function([x], [jx, jW], mode=mode)
    xv = rng.normal(size=3)
    gx, gW = f(xv)
    assert gx.shape == (2, 3) and gW.shape == (2, 3, 2)
    wv = W.get_value()
    np.testing.assert_allclose(gx, _numeric_jacobian(lambda v: np.tanh(v @ wv), xv), atol=1e-7)
    np.testing.assert_allclose(gW, _numeric_jacobian(lambda w: np.tanh(xv @ w), wv), atol=1e-7)


def test_jacobian_of_a_disconnected_wrt_is_zero(mode):
    x, y = ga.vector("x"), ga.vector("y")
    f = ga.function([x, y], ga.jacobian(ga.exp(x), y), mode=mode)
    assert f(np.ones(2), np.ones(3)).tolist() == np.zeros((2, 3)).tolist()


def test_jacobian_of_an_integer_wrt_raises():
    i = ga.vector("i", dtype="int64")
    with pytest.raises(ga.NonDifferentiableError, match="float"):
        ga.jacobian(ga.cast(i, "float64") * 2, i)


def test_jacobian_of_zero_size_output(mode):
    x = ga.vector("x")
    f = ga.function([x], ga.jacobian(x[:0] * 2, x), mode=mode)
    assert f(np.ones(3)).shape == (0, 3)


def test_hessian_matches_numpy(mode):
    rng = np.random.default_rng(3)
    A = rng.normal(size=(4, 4))
    x = ga.vector("x")
    cost = x @ ga.constant(A) @ x + ga.logsumexp(x)
    h = ga.function([x], ga.hessian(cost, x), mode=mode)
    xv = rng.normal(size=4)
    p = np.exp(xv - xv.max())
    p /= p.sum()
    want = A + A.T + np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(h(xv), want, rtol=1e-10, atol=1e-12)


def test_hessian_vector_product_equals_hessian_times_v(mode):
    rng = np.random.default_rng(4)
    x, v = ga.vector("x"), ga.vector("v")
    cost = (ga.tanh(x) ** 3).sum() + (x[1:] * x[:-1]).sum()
    f = ga.function([x, v], [ga.hessian_vector_product(cost, x, v), ga.hessian(cost, x)], mode=mode)
    xv, vv = rng.normal(size=6), rng.normal(size=6)
    hv, h = f(xv, vv)
    np.testing.assert_allclose(hv, h @ vv, rtol=1e-10, atol=1e-12)


def test_hessian_vector_product_never_builds_the_hessian():
    x, v = ga.vector("x"), ga.vector("v")
    hv = ga.hessian_vector_product(ga.sigmoid(x).sum() * (x**2).sum(), x, v)
    f = ga.function([x, v], hv)
    shapes = [o.type.ndim for node in f.fgraph.apply_nodes for o in node.outputs]
    assert max(shapes) <= 1  # every intermediate is a vector or a scalar
    n = 10**6
    assert f(np.full(n, 0.1), np.ones(n)).shape == (n,)


def test_second_and_third_derivatives_by_repeated_grad(mode):
    x = ga.scalar("x")
    y = ga.sin(x) * x**2
    d1 = ga.grad(y, x)
    d2 = ga.grad(d1, x)
    d3 = ga.grad(d2, x)
    f = ga.function([x], [d1, d2, d3], mode=mode)
    xv = 0.7
    fd = ga.function([x], d2, mode=mode)
    got = f(xv)
    want_d3 = numeric_grad(lambda v: float(fd(v)), [np.array(xv)])[0]
    want_d1 = np.cos(xv) * xv**2 + 2 * xv * np.sin(xv)
    np.testing.assert_allclose(got[0], want_d1, rtol=1e-12)
    np.testing.assert_allclose(got[2], want_d3, rtol=1e-5)


def test_lop_matches_grad_of_inner_product(mode):
    rng = np.random.default_rng(5)
    x, u = ga.matrix("x"), ga.vector("u")
    out = ga.tanh(x).sum(axis=1)
    lop = ga.Lop(out, x, u)
    ref = ga.grad((out * u).sum(), x)
    f = ga.function([x, u], [lop, ref], mode=mode)
    a, b = f(rng.normal(size=(3, 2)), rng.normal(size=3))
    np.testing.assert_allclose(a, b)


def test_function_with_a_jacobian_pickles():
    x = ga.vector("x")
    f = ga.function([x], ga.jacobian(ga.sqr(x), x))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_allclose(g(np.array([1.0, 3.0])), np.diag([2.0, 6.0]))


def test_jacobian_nodes_carry_the_grad_tag():
    x = ga.vector("x")
    text = ga.dprint(ga.jacobian(ga.exp(x), x), file=False)
    map_lines = [line for line in text.splitlines() if "Map{" in line]
    assert map_lines and all("[grad]" in line for line in map_lines)


def test_hessian_vector_product_memory_is_linear_in_n():
    import tracemalloc

    n = 10**6
    x, v = ga.vector("x"), ga.vector("v")
    cost = (ga.tanh(x) ** 2).sum() + (x[1:] * x[:-1]).sum()
    f = ga.function([x, v], ga.hessian_vector_product(cost, x, v))
    xv, vv = np.full(n, 0.3), np.ones(n)
    tracemalloc.start()
    try:
        hv = f(xv, vv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert hv.shape == (n,)
    # a handful of length-n buffers, nowhere near the n*n*8 bytes of a dense Hessian
    assert peak < 40 * n * 8, f"peak {peak / 2**20:.1f} MiB"
    t = np.tanh(0.3)
    d2 = 2 * (1 - t**2) * (1 - 3 * t**2)  # second derivative of tanh(x)**2
    np.testing.assert_allclose(hv[1:-1], d2 + 2.0)
