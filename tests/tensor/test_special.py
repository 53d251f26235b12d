"""gammaln, digamma (and trigamma, digamma's derivative), log_sigmoid, logaddexp and
one_hot beyond their rows in op_specs.py (which run FAST_COMPILE at ordinary values):
the NumPy references of graphad/tensor/special.py against SciPy over wide ranges, the
compiled kernels against the references at poles, infinities and extremes, the chain
of derivatives, and the compositions in every mode."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps

import graphad as ga
from graphad.errors import NonDifferentiableError
from graphad.tensor import special
from graphad.tensor.math import _trigamma
from tests.util import MODES

INF, NAN = np.inf, np.nan
SPECIALS = [0.0, -0.0, -1.0, -2.0, -7.0, INF, -INF, NAN, 5e-324, 1e-300, -2.5, 1e-3, 0.5,
            1.4616321449683623, 10.0, 1e10, 1e300, -1e300, -1e10 - 0.5]  # fmt: skip


def _wide(rng):
    """Values over the ranges each branch covers: the recurrence (0, 10), the series
    above, the reflection below 0 (away from its poles)."""
    negative = rng.uniform(-30, 0, 2000)
    negative = negative[np.abs(negative - np.round(negative)) > 1e-3]
    return np.concatenate(
        [rng.uniform(1e-6, 10, 2000), np.exp(rng.uniform(2, 600, 2000)), negative]
    )


@pytest.mark.parametrize(
    "name, ours, scipy_fn, rtol",
    [
        ("lgamma", special.lgamma, sps.gammaln, 1e-13),
        ("digamma", special.digamma, sps.digamma, 1e-12),
        ("trigamma", special.trigamma, lambda x: sps.polygamma(1, x), 1e-13),
    ],
)
def test_references_match_scipy(name, ours, scipy_fn, rtol):
    x = _wide(np.random.default_rng(0))
    got, want = ours(x), scipy_fn(x)
    # near a zero of the function (lgamma at 1 and 2, digamma at 1.46) only the
    # absolute error is small
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14, err_msg=name)


def test_special_values_follow_c_and_scipy():
    x = np.array(SPECIALS)
    with np.errstate(all="ignore"):
        # lgamma: C99's +inf at -inf and a finite value at the smallest subnormal, where
        # SciPy gives -inf and +inf
        np.testing.assert_array_equal(special.lgamma(x[[0, 1, 2, 5, 6, 7]]), [INF] * 5 + [NAN])
        assert special.lgamma(np.array([5e-324]))[0] == pytest.approx(744.4400719213812)
        for i in (9, 10, 11, 12, 14, 15, 16, 18):
            assert special.lgamma(x[i : i + 1])[0] == pytest.approx(sps.gammaln(x[i]), rel=1e-13)
        np.testing.assert_allclose(special.digamma(x), sps.digamma(x), rtol=1e-12, atol=1e-15)
        # (SciPy's polygamma(1, -1e10 - 0.5) takes minutes: the last value stays out)
        np.testing.assert_allclose(special.trigamma(x[:-1]), sps.polygamma(1, x[:-1]), rtol=1e-12)
    assert np.signbit(special.digamma(np.array([0.0, -0.0]))).tolist() == [True, False]


def _compiled_and_reference(build, dtype):
    x = ga.vector("x", dtype)
    fast = ga.function([x], build(x))
    assert all(n.op.kernel is not None for n in fast.maker.fgraph.toposort())
    return fast, ga.function([x], build(x), mode="FAST_COMPILE")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "build", [ga.gammaln, ga.digamma, _trigamma], ids=["gammaln", "digamma", "trigamma"]
)
def test_kernels_match_the_reference(build, dtype):
    """The C helpers follow special.py step for step: they agree to libm's rounding, at
    poles, infinities and across every branch."""
    x = np.concatenate([SPECIALS, _wide(np.random.default_rng(1))])
    with np.errstate(over="ignore"):  # float32: 1e300 is inf
        x = x.astype(dtype)
    fast, ref = _compiled_and_reference(build, dtype)
    with np.errstate(all="ignore"):
        got, want = fast(x), ref(x)
    assert got.dtype == want.dtype == dtype
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-14)
    np.testing.assert_array_equal(np.signbit(got[np.isinf(got)]), np.signbit(want[np.isinf(want)]))


@pytest.mark.parametrize("mode", MODES)
def test_gammaln_derivatives_are_digamma_then_trigamma(mode):
    x = ga.vector("x")
    g = ga.grad(ga.gammaln(x).sum(), x)
    h = ga.grad(g.sum(), x)
    xs = np.array([0.3, 1.0, 4.5, -1.5, 20.0])
    got_g, got_h = ga.function([x], [g, h], mode=mode)(xs)
    np.testing.assert_allclose(got_g, sps.digamma(xs), rtol=1e-12)
    np.testing.assert_allclose(got_h, sps.polygamma(1, xs), rtol=1e-12)
    tangent = ga.Rop(ga.digamma(x), x, ga.vector("v"))
    assert tangent.owner is not None


def test_third_derivative_raises_naming_what_is_missing():
    x = ga.vector("x")
    second = ga.grad(ga.grad(ga.gammaln(x).sum(), x).sum(), x)
    with pytest.raises(NonDifferentiableError, match=r"trigamma.*polygamma\(2, x\)"):
        ga.grad(second.sum(), x)


# --- log_sigmoid and logaddexp -------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
def test_log_sigmoid_is_finite_at_extremes(mode, dtype):
    x = ga.vector("x", dtype)
    y = ga.log_sigmoid(x)
    f = ga.function([x], [y, ga.grad(y.sum(), x)], mode=mode)
    xs = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype)
    value, grad = f(xs)
    assert value.dtype == grad.dtype == dtype
    want = -np.logaddexp(0, -xs.astype("float64"))
    np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-30)  # (float32 subnormals)
    np.testing.assert_allclose(grad, [1.0, 1.0, 0.5, 0.0, 0.0], atol=1e-30, rtol=1e-6)


def test_log_sigmoid_of_integers_computes_in_numpys_float():
    """np.exp's dtype rule: int32 computes in float64, uint8 in float16."""
    i, u = ga.vector("i", "int32"), ga.vector("u", "uint8")
    assert ga.log_sigmoid(u).dtype == "float16"
    got = ga.log_sigmoid(i).eval({i: np.array([0, -800], "int32")})
    np.testing.assert_allclose(got, [-np.log(2), -800.0])


@pytest.mark.parametrize("mode", MODES)
def test_logaddexp_at_infinities_ties_and_nan(mode):
    a, b = ga.vector("a"), ga.vector("b")
    out = ga.logaddexp(a, b)
    f = ga.function([a, b], [out, *ga.grad(out.sum(), [a, b])], mode=mode)
    av = np.array([-INF, INF, 1e308, 0.0, 3.0, -INF, INF, NAN, -1000.0, 1000.0])
    bv = np.array([-INF, INF, 1e308, 0.0, 1.0, 2.0, -INF, 1.0, -1000.0, -1000.0])
    value, ga_, gb = f(av, bv)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(value, np.logaddexp(av, bv))
    # 0.5 each at a tie, infinite ones included; sigmoid(a - b) elsewhere
    s = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(ga_, [0.5, 0.5, 0.5, 0.5, s, 0, 1, NAN, 0.5, 1], rtol=1e-12)
    np.testing.assert_allclose(gb, [0.5, 0.5, 0.5, 0.5, 1 - s, 1, 0, NAN, 0.5, 0], rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_logaddexp_broadcasts_and_keeps_float32(mode):
    x = ga.tensor("x", "float32", shape=(None, 1))
    y = ga.vector("y", "float32")
    out = ga.logaddexp(x, y)
    assert out.dtype == "float32" and ga.logaddexp(0, y).dtype == "float32"
    xs, ys = np.array([[0.0], [50.0]], "float32"), np.array([-1.0, 0.0, 80.0], "float32")
    got = ga.function([x, y], out, mode=mode)(xs, ys)
    np.testing.assert_allclose(got, np.logaddexp(xs, ys), rtol=1e-6)


# --- one_hot ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_one_hot_rows_of_zeros_outside_the_range(mode):
    y, n = ga.vector("y", "int32"), ga.lscalar("n")
    f = ga.function([y, n], [ga.one_hot(y, n), ga.one_hot(y, 3, dtype="int8")], mode=mode)
    floats, ints = f(np.array([0, 2, 3, -1, -3], "int32"), 3)
    want = [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert floats.dtype == ga.config.floatX and ints.dtype == np.int8
    np.testing.assert_array_equal(floats, want)
    np.testing.assert_array_equal(ints, want)


def test_one_hot_errors_name_the_argument():
    with pytest.raises(ga.GraphadTypeError, match="indices must be integers"):
        ga.one_hot(ga.vector("y"), 3)
    with pytest.raises(ga.GraphadValueError, match="must not be negative"):
        ga.one_hot(ga.lvector("y"), -1)
    with pytest.raises(ga.GraphadTypeError, match="integer scalar"):
        ga.one_hot(ga.lvector("y"), ga.lvector("n"))


def test_one_hot_beside_the_scatter_the_specialize_pass_makes():
    """The gradient of ``p[arange(n), y]`` becomes a one-hot switch (the specialize
    pass's one_hot_scatter) in the same graph as a user's ``one_hot``: FAST_RUN agrees
    with the reference."""
    z, y = ga.matrix("z"), ga.lvector("y")
    logp = ga.log_softmax(z)
    loss = -(ga.one_hot(y, 4) * logp).sum(axis=1).mean() - logp[ga.arange(z.shape[0]), y].mean()
    outs = [loss, ga.grad(loss, z)]
    zs = np.random.default_rng(2).normal(size=(5, 4))
    ys = np.array([0, 3, 1, 1, 2])
    f = ga.function([z, y], outs)
    assert f.maker.rewrites.fired("one_hot_scatter") == 1
    fast = f(zs, ys)
    ref = ga.function([z, y], outs, mode="FAST_COMPILE")(zs, ys)
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    p = np.exp(zs) / np.exp(zs).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(fast[1], 2 * (p - np.eye(4)[ys]) / 5, rtol=1e-12)
