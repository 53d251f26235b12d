"""The names and habits Theano users bring: typed constructors, relu's alpha, floatX
for shared floats, truthy variables, ga.In defaults, and_/or_, x.norm, x.nonzero,
mean(dtype=)/sum(acc_dtype=), RandomStream.normal(avg=) and the ga.nnet namespace.

Each is checked against NumPy (or Theano's documented behaviour) in the compiled
modes; tests/tensor/op_specs.py runs the new op forms through every op check too."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphad as ga
from graphad.errors import GraphadError
from tests.util import verify_grad


@pytest.fixture
def float32(monkeypatch):
    """``ga.config.floatX = "float32"`` for the test (monkeypatch restores it)."""
    monkeypatch.setattr(ga.config, "floatX", "float32")


# --- typed constructors ----------------------------------------------------------------------
TYPED = {
    "iscalar": ("int32", ()),
    "ivector": ("int32", (None,)),
    "imatrix": ("int32", (None, None)),
    "lscalar": ("int64", ()),
    "lvector": ("int64", (None,)),
    "fscalar": ("float32", ()),
    "fvector": ("float32", (None,)),
    "fmatrix": ("float32", (None, None)),
    "dscalar": ("float64", ()),
    "dvector": ("float64", (None,)),
    "dmatrix": ("float64", (None, None)),
}


@pytest.mark.parametrize("name", sorted(TYPED))
def test_typed_constructor(name, float32):
    """The dtype is the constructor's whatever floatX says (here float32)."""
    var = getattr(ga, name)("v")
    dtype, shape = TYPED[name]
    assert var.type == ga.TensorType(dtype, shape)
    assert var.name == "v" and getattr(ga, name)().name is None
    assert name in ga.__all__


def test_typed_inputs_compute_in_their_dtype(mode):
    i, f = ga.ivector("i"), ga.fvector("f")
    out = ga.function([i, f], [i * 2, f * 2.0, i + f], mode=mode)([1, 2], [0.5, 1.5])
    assert [o.dtype for o in out] == ["int32", "float32", "float64"]
    np.testing.assert_array_equal(out[2], [1.5, 3.5])


def test_row_and_col(mode, float32):
    r, c = ga.row("r"), ga.col("c", "float64")
    assert r.type == ga.TensorType("float32", (1, None))  # floatX without a dtype
    assert c.type == ga.TensorType("float64", (None, 1))
    m = ga.matrix("m")
    f = ga.function([m, r, c], m + r * c, mode=mode)
    mv = np.ones((3, 2), "float32")
    rv, cv = np.array([[1.0, 2.0]], "float32"), np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_allclose(f(mv, rv, cv), mv + rv * cv)
    with pytest.raises(ValueError, match="dimension 0 must be 1"):
        f(mv, np.ones((2, 2), "float32"), cv)


# --- relu(x, alpha) --------------------------------------------------------------------------
def _leaky(x, alpha):
    if alpha == 0:
        return np.maximum(x, 0)  # NaN propagates; relu(-inf) = 0
    return np.where(x > 0, x, alpha * x)


@pytest.mark.parametrize("alpha", [0, 0.0, 0.1, -0.5, 2.0])
def test_relu_alpha_values(mode, alpha):
    x = ga.vector("x")
    xv = np.array([-2.0, -0.5, 0.0, 0.5, 3.0, np.nan, -np.inf, np.inf])
    got = ga.function([x], ga.relu(x, alpha), mode=mode)(xv)
    np.testing.assert_array_equal(got, _leaky(xv, alpha))


def test_relu_without_alpha_is_one_op():
    x = ga.vector("x")
    assert ga.relu(x).owner.op is ga.relu.op
    assert ga.relu(x, alpha=0).owner.op is ga.relu.op


def test_relu_alpha_keeps_float32_and_promotes_ints(mode):
    x, i = ga.fvector("x"), ga.ivector("i")
    out = ga.function([x, i], [ga.relu(x, 0.1), ga.relu(i, 0.1), ga.relu(i)], mode=mode)(
        np.array([-1.0, 2.0], "float32"), np.array([-3, 4], "int32")
    )
    assert [o.dtype for o in out] == ["float32", "float64", "int32"]
    np.testing.assert_allclose(out[0], [-0.1, 2.0], rtol=1e-6)
    np.testing.assert_allclose(out[1], [-0.3, 4.0])


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_relu_alpha_gradient_matches_finite_differences(mode):
    rng = np.random.default_rng(0)
    xv = rng.uniform(0.1, 2.0, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    verify_grad(lambda x: ga.relu(x, 0.2), [xv], mode=mode)
    verify_grad(lambda x, a: ga.relu(x, a), [xv, np.array(0.3)], mode=mode)  # alpha too
    verify_grad(lambda x, a: ga.relu(x, a), [xv, rng.uniform(size=(3, 4))], mode=mode)


def test_relu_gradient_at_zero(mode):
    """relu'(0) = 0 and, for the leaky relu, alpha: the negative side's slope."""
    x, a = ga.vector("x"), ga.scalar("a")
    grads = [ga.grad(ga.relu(x).sum(), x), ga.grad(ga.relu(x, 0.25).sum(), x)]
    grads += ga.grad(ga.relu(x, a).sum(), [x, a])
    f = ga.function([x, a], grads, mode=mode)
    g0, g1, gx, ga_ = f([-1.0, 0.0, 2.0], 0.5)
    assert g0.tolist() == [0.0, 0.0, 1.0]
    assert g1.tolist() == [0.25, 0.25, 1.0]
    assert gx.tolist() == [0.5, 0.5, 1.0]
    assert float(ga_) == -1.0  # d/da of a * x summed over x <= 0


# --- floatX and ga.shared --------------------------------------------------------------------
def test_shared_python_floats_take_floatx(float32):
    assert ga.shared(0.5).dtype == "float32"
    assert ga.shared([0.5, 1.0]).dtype == "float32"
    assert ga.shared([[1, 2.5], [3, 4]]).dtype == "float32"
    assert ga.shared((0.1, 0.2)).dtype == "float32"
    np.testing.assert_array_equal(ga.shared([0.1, 0.2]).get_value(), np.float32([0.1, 0.2]))


def test_shared_numpy_values_and_non_floats_keep_their_dtype(float32):
    assert ga.shared(np.array([0.5])).dtype == "float64"
    assert ga.shared(np.float64(0.5)).dtype == "float64"
    assert ga.shared(np.zeros(2, "float32")).dtype == "float32"
    assert ga.shared([np.float32(1.0)]).dtype == "float32"
    assert ga.shared(1).dtype == "int64" and ga.shared([1, 2]).dtype == "int64"
    assert ga.shared(True).dtype == "bool" and ga.shared(1 + 2j).dtype == "complex128"


def test_shared_floats_follow_floatx_at_creation():
    assert ga.shared(0.5).dtype == ga.config.floatX == "float64"
    assert ga.shared([0.5]).dtype == "float64"


def test_shared_float_under_float32_keeps_a_float32_program_float32(mode, float32):
    """The point of the rule: a learning rate ga.shared(0.1) does not promote a float32
    update to float64 (the update would be refused)."""
    x = ga.vector("x")  # floatX: float32
    w, lr = ga.shared(np.zeros(3, "float32"), name="w"), ga.shared(0.1, name="lr")
    step = w - lr * ga.grad(((w - x) ** 2).sum(), w)
    assert step.dtype == "float32"
    f = ga.function([x], [], updates=[(w, step)], mode=mode)
    f(np.ones(3, "float32"))
    np.testing.assert_allclose(w.get_value(), np.full(3, 0.2, "float32"), rtol=1e-6)
    assert w.get_value().dtype == np.float32


# --- truthiness ------------------------------------------------------------------------------
def test_variables_are_truthy():
    """``if not W:`` and ``if persistent:`` habits: any variable object is true."""
    x = ga.vector("x")
    truthy = [
        x,
        ga.vector("m", "bool"),  # a bool input: given, so true
        ga.shared(np.zeros(2)),
        ga.shared(np.zeros(2, "bool")),
        ga.constant(0.0),
        ga.constant(False),
        x * 2,
        x.sum(),
        ga.cast(x, "int64"),
        ga.ivector("i") & 3,  # integer &: a number, not a condition
    ]
    for v in truthy:
        assert bool(v) is True, v
        assert (not v) is False
    W = None
    W = W or ga.shared(np.ones(2))  # the tutorials' default idiom
    assert isinstance(W, ga.SharedVariable)


CONDITIONS = {
    "eq": lambda x, y: ga.eq(x, y),
    "neq": lambda x, y: ga.neq(x, y),
    "lt": lambda x, y: x < y,
    "le": lambda x, y: x <= y,
    "gt": lambda x, y: x > y,
    "ge": lambda x, y: ga.ge(x, y),
    "logical_and": lambda x, y: ga.logical_and(x > 0, y > 0),
    "logical_or": lambda x, y: ga.logical_or(x, y),
    "logical_xor": lambda x, y: ga.logical_xor(x, y),
    "logical_not": lambda x, y: ga.logical_not(x),
    "and_bool": lambda x, y: (x > 0) & (y > 0),
    "isnan": lambda x, y: ga.isnan(x),
    "any": lambda x, y: (x > y).any(),
}


@pytest.mark.parametrize("build", CONDITIONS.values(), ids=CONDITIONS)
def test_symbolic_condition_has_no_truth_value(build):
    x, y = ga.vector("x"), ga.vector("y")
    cond = build(x, y)
    with pytest.raises(TypeError) as info:
        bool(cond)
    assert isinstance(info.value, GraphadError)
    message = str(info.value)
    assert "is None" in message and "is not None" in message and "ga.switch" in message


def test_python_logic_on_conditions_raises():
    x = ga.scalar("x")
    for attempt in (
        lambda: 0 < x < 1,  # (0 < x) and (x < 1)
        lambda: x > 0 or x < -1,
        lambda: not (x > 0),
    ):
        with pytest.raises(TypeError, match="ga.switch"):
            attempt()


# --- ga.In -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN", "DEBUG"])
def test_in_default_and_overrides(mode):
    x, y = ga.vector("x"), ga.scalar("y")
    f = ga.function([x, ga.In(y, value=2.0)], x * y, mode=mode)
    xv = np.array([1.0, 3.0])
    np.testing.assert_array_equal(f(xv), xv * 2.0)
    np.testing.assert_array_equal(f(xv, 3.0), xv * 3.0)
    np.testing.assert_array_equal(f(xv, y=0.5), xv * 0.5)
    np.testing.assert_array_equal(f(x=xv), xv * 2.0)
    np.testing.assert_array_equal(f(xv), xv * 2.0)  # an override does not stick


def test_in_defaults_anywhere_and_keyword_names(mode):
    a, b, c = ga.scalar("a"), ga.scalar("b"), ga.scalar("c")
    f = ga.function(
        [ga.In(a, value=1.0), b, ga.In(c, value=10.0, name="scale")], (a + b) * c, mode=mode
    )
    assert float(f(b=2.0)) == 30.0
    assert float(f(4.0, 2.0)) == 60.0
    assert float(f(4.0, 2.0, 1.0)) == 6.0
    assert float(f(b=1.0, scale=2.0)) == 4.0
    with pytest.raises(TypeError, match="missing a value for input 1"):
        f(1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'c'"):
        f(b=1.0, c=2.0)  # the In's name replaces the variable's


def test_in_default_array_is_converted_once_and_never_changed(mode):
    x, w = ga.vector("x"), ga.vector("w", "float32")
    default = [1.0, 2.0]
    f = ga.function([x, ga.In(w, value=default)], [x * w, w], mode=mode)
    prod, out_w = f(np.array([3.0, 4.0]))
    np.testing.assert_array_equal(prod, [3.0, 8.0])
    assert out_w.dtype == np.float32
    out_w[:] = 0.0  # the caller owns what a call returns
    np.testing.assert_array_equal(f(np.array([1.0, 1.0]))[1], [1.0, 2.0])


def test_in_default_is_checked_when_compiling():
    x, i = ga.scalar("x"), ga.ivector("i")
    with pytest.raises(TypeError, match="default of input 1 .'i'."):
        ga.function([x, ga.In(i, value=[0.5, 1.5])], x + i.sum())
    with pytest.raises(TypeError, match="default of input 0"):
        ga.function([ga.In(x, value="a")], x * 2)
    with pytest.raises(TypeError, match="wraps a graphad variable"):
        ga.In(2.0, value=1.0)


def test_in_survives_pickle_and_copy():
    x, y = ga.scalar("x"), ga.scalar("y")
    f = ga.function([x, ga.In(y, value=2.0, name="k")], x * y)
    for g in (pickle.loads(pickle.dumps(f)), f.copy()):
        assert float(g(3.0)) == 6.0 and float(g(3.0, k=1.0)) == 3.0


def test_in_without_value_is_a_plain_input():
    x = ga.scalar("x")
    f = ga.function([ga.In(x)], x + 1)
    assert float(f(1.0)) == 2.0
    with pytest.raises(TypeError, match="missing a value"):
        f()


# --- and_, or_ -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["bool", "int64", "uint8"])
def test_and_or_are_numpys_ampersand_and_bar(mode, dtype):
    x, y = ga.vector("x", dtype), ga.vector("y", dtype)
    rng = np.random.default_rng(3)
    xv, yv = (rng.integers(0, 7, size=8).astype(dtype) for _ in range(2))
    f = ga.function([x, y], [ga.and_(x, y), ga.or_(x, y), x & y], mode=mode)
    a, o, amp = f(xv, yv)
    np.testing.assert_array_equal(a, xv & yv)
    np.testing.assert_array_equal(o, xv | yv)
    np.testing.assert_array_equal(amp, a)
    assert a.dtype == (xv & yv).dtype
    assert ga.and_ is ga.bitwise_and and ga.or_ is ga.bitwise_or


# --- x.norm(L) -------------------------------------------------------------------------------
def _norm(x, L, axis=None, keepdims=False):
    a = np.abs(np.asarray(x, dtype="float64"))
    if np.isinf(L):
        return (np.max if L > 0 else np.min)(a, axis=axis, keepdims=keepdims)
    if L == 0:
        return np.count_nonzero(a, axis=axis, keepdims=keepdims).astype("float64")
    return np.sum(a**L, axis=axis, keepdims=keepdims) ** (1.0 / L)


@pytest.mark.parametrize("L", [1, 2, 3, 0.5, 0, np.inf, -np.inf, -1])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_norm_matches_numpy(mode, L, axis):
    m = ga.matrix("m")
    mv = np.array([[3.0, -4.0, 0.5], [1.0, 2.0, -2.0]])
    got = ga.function([m], m.norm(L, axis=axis), mode=mode)(mv)
    np.testing.assert_allclose(got, _norm(mv, L, axis), rtol=1e-12)
    if axis is None and L in (1, 2, np.inf):  # NumPy's vector norms agree
        np.testing.assert_allclose(got, np.linalg.norm(mv.ravel(), L), rtol=1e-12)


def test_norm_keepdims_ints_and_float32(mode):
    i, f = ga.imatrix("i"), ga.fvector("f")
    iv, fv = np.array([[3, -4], [0, 1]], "int32"), np.array([3.0, 4.0], "float32")
    out = ga.function([i, f], [i.norm(2, axis=1, keepdims=True), f.norm(2)], mode=mode)(iv, fv)
    assert out[0].dtype == np.float64 and out[0].shape == (2, 1)
    np.testing.assert_allclose(out[0], [[5.0], [1.0]])
    assert out[1].dtype == np.float32 and float(out[1]) == 5.0


@pytest.mark.parametrize("L", [1, 2, 3, np.inf])
def test_norm_gradient(L):
    rng = np.random.default_rng(5)
    mv = rng.uniform(0.2, 1.0, size=(3, 4)) * rng.choice([-1, 1], size=(3, 4))
    mv[0, 0] = 1.5  # one clear maximum for L=inf
    verify_grad(lambda m: m.norm(L, axis=None), [mv])
    verify_grad(lambda m: m.norm(L, axis=1), [mv])


def test_norm_rejects_a_symbolic_or_bad_order():
    x = ga.vector("x")
    for bad in (ga.scalar("L"), "fro", None, True):
        with pytest.raises(TypeError, match="L must be a number"):
            x.norm(bad)


# --- x.nonzero() -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        np.array([0.0, 1.5, 0.0, -2.0]),
        np.array([[0, 3, 0], [4, 0, 5]]),
        np.arange(24).reshape(2, 3, 4) % 3,
        np.array([[True, False], [False, True]]),
        np.zeros((0, 3)),
        np.zeros((2, 2)),
        np.array([np.nan, 0.0]),  # NaN is nonzero
    ],
    ids=["vector", "matrix", "tensor3", "bool", "empty", "all-zero", "nan"],
)
def test_nonzero_matches_numpy(mode, value):
    x = ga.tensor("x", value.dtype.name, shape=(None,) * value.ndim)
    idx = x.nonzero()
    assert isinstance(idx, tuple) and len(idx) == value.ndim
    assert all(i.dtype == "int64" and i.type.shape == (None,) for i in idx)
    f = ga.function([x], [*idx, x[idx], x[ga.nonzero(x)]], mode=mode)
    *got, picked, picked_fn = f(value)
    for g, want in zip(got, np.nonzero(value)):
        np.testing.assert_array_equal(g, want)
    np.testing.assert_array_equal(picked, value[np.nonzero(value)])
    np.testing.assert_array_equal(picked_fn, picked)


def test_nonzero_length_changes_between_calls(mode):
    v = ga.vector("v")
    f = ga.function([v], v.nonzero()[0], mode=mode)
    assert f([0.0, 1.0, 2.0]).tolist() == [1, 2]
    assert f([5.0, 0.0, 0.0, 0.0, 3.0]).tolist() == [0, 4]


def test_nonzero_of_a_scalar_raises():
    with pytest.raises(ValueError, match="0-d"):
        ga.scalar("s").nonzero()


# --- mean(dtype=), sum(acc_dtype=) -----------------------------------------------------------
def test_mean_and_sum_dtype_keywords(mode):
    i, f = ga.ivector("i"), ga.fvector("f")
    outs = [
        ga.mean(i, dtype="float32"),
        i.mean(dtype="float32"),
        ga.sum(f, acc_dtype="float64"),
        f.sum(acc_dtype="float64"),
        ga.sum(f, dtype="float64"),
        f.sum(axis=0, dtype="float64", acc_dtype="float64"),
        ga.sum(i, acc_dtype="int64"),
        f.mean(acc_dtype="float64"),
        ga.mean(f, dtype="float64"),
    ]
    want_dtypes = ["float32"] * 2 + ["float32"] * 2 + ["float64"] * 2 + ["int64"]
    want_dtypes += ["float32", "float64"]
    assert [o.dtype for o in outs] == want_dtypes
    iv, fv = np.array([1, 2, 4], "int32"), np.array([1e8, 1.0, -1e8], "float32")
    got = ga.function([i, f], outs, mode=mode)(iv, fv)
    assert [g.dtype.name for g in got] == want_dtypes
    np.testing.assert_allclose(got[0], np.mean(iv, dtype="float32"))
    # accumulated in float64, 1e8 + 1 - 1e8 is exactly 1 before the float32 result
    assert [float(g) for g in got[2:6]] == [1.0, 1.0, 1.0, 1.0]
    assert int(got[6]) == 7
    np.testing.assert_allclose(got[7], np.float32(1 / 3), rtol=1e-6)
    np.testing.assert_allclose(got[8], np.mean(fv, dtype="float64"))


def test_sum_acc_dtype_gradient():
    verify_grad(lambda x: ga.sum(x, axis=1, acc_dtype="float64") * 2, [np.ones((2, 3))])
    verify_grad(lambda x: x.mean(axis=0, acc_dtype="float64"), [np.arange(6.0).reshape(2, 3)])


# --- RandomStream.normal(avg=) ---------------------------------------------------------------
def test_normal_avg_is_mean(mode):
    by_mean = ga.function([], ga.RandomStream(11).normal((50,), mean=3.0, std=0.5), mode=mode)
    by_avg = ga.function([], ga.RandomStream(11).normal((50,), avg=3.0, std=0.5), mode=mode)
    np.testing.assert_array_equal(by_mean(), by_avg())
    avg = ga.scalar("avg")
    draw = ga.RandomStream(11).normal((50,), avg=avg, std=0.5)
    assert float(ga.grad(draw.sum(), avg).eval({avg: 1.0})) == 50.0


def test_normal_with_mean_and_avg_raises():
    with pytest.raises(TypeError, match="both mean and avg"):
        ga.RandomStream(0).normal((3,), mean=1.0, avg=1.0)


# --- ga.nnet ---------------------------------------------------------------------------------
NNET_NAMES = [
    "sigmoid",
    "softmax",
    "log_softmax",
    "softplus",
    "relu",
    "binary_crossentropy",
    "categorical_crossentropy",
]


def test_nnet_namespace_is_the_top_level_functions():
    assert sorted(ga.nnet.__all__) == sorted(NNET_NAMES)
    for name in NNET_NAMES:
        assert getattr(ga.nnet, name) is getattr(ga, name), name


def test_nnet_namespace_in_a_program(mode):
    x, y = ga.matrix("x"), ga.lvector("y")
    p = ga.nnet.softmax(ga.nnet.relu(x, 0.1))
    loss = ga.nnet.categorical_crossentropy(p, y).mean()
    xv, yv = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]), np.array([2, 1])
    z = np.where(xv > 0, xv, 0.1 * xv)
    pv = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    want = -np.log(pv[[0, 1], yv]).mean()
    np.testing.assert_allclose(ga.function([x, y], loss, mode=mode)(xv, yv), want, rtol=1e-12)
