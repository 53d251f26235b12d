"""BLAS on the C backend: MatMul and Gemm nodes run as C (GEMM/GEMV through CBLAS)
in FAST_RUN and agree with the NumPy reference backend (FAST_COMPILE), for every
layout a user can pass: C/F order, transposed views, strided and reversed slices,
broadcasts, zero-size axes, batches."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.backend.c import blas
from graphad.tensor.linalg import Gemm, MatMul

pytestmark = pytest.mark.skipif(not blas.available(), reason="scipy-openblas32 not installed")

RTOL = {"float32": 1e-5, "float64": 1e-12}
DTYPES = ("float32", "float64")


def sym(name, ndim, dtype):
    return ga.tensor(name, dtype, shape=(None,) * ndim)


def step_of(f, op_class):
    """The VM step (thunk, ..., node, ...) of the one node whose op is ``op_class``."""
    steps = [s for s in f.maker.vm.steps if isinstance(s[3].op, op_class)]
    assert len(steps) == 1, [str(s[3].op) for s in f.maker.vm.steps]
    return steps[0]


def compile_both(inputs, output, op_class=MatMul):
    """FAST_RUN (checked to run ``op_class`` in C) and the FAST_COMPILE reference."""
    fast = ga.function(inputs, output, mode="FAST_RUN")
    assert step_of(fast, op_class)[0].kind == "c"
    return fast, ga.function(inputs, output, mode="FAST_COMPILE")


def assert_close(got, want, dtype):
    assert got.dtype == want.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)


def values(rng, shapes, dtype):
    return [rng.uniform(-1, 1, size=s).astype(dtype) for s in shapes]


# (a's shape, b's shape): square, rectangular, matrix-vector, vector-matrix, dot,
# single rows/columns (GEMV paths), batches with and without broadcasting
PRODUCTS = [
    ((6, 6), (6, 6)),
    ((3, 7), (7, 4)),
    ((3, 7), (7,)),
    ((7,), (7, 4)),
    ((7,), (7,)),
    ((1, 7), (7, 4)),
    ((3, 7), (7, 1)),
    ((1, 7), (7, 1)),
    ((2, 3, 7), (2, 7, 4)),
    ((2, 3, 7), (7, 4)),
    ((3, 7), (2, 7, 4)),
    ((2, 1, 3, 7), (5, 7, 4)),
    ((7,), (2, 7, 4)),
    ((2, 3, 7), (7,)),
    ((2, 1, 7), (2, 7, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa, sb", PRODUCTS, ids=str)
def test_matmul_matches_numpy(sa, sb, dtype):
    a, b = sym("a", len(sa), dtype), sym("b", len(sb), dtype)
    fast, ref = compile_both([a, b], a @ b)
    args = values(np.random.default_rng(0), [sa, sb], dtype)
    assert_close(fast(*args), ref(*args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sa, sb",
    [((0, 5), (5, 4)), ((3, 0), (0, 4)), ((3, 5), (5, 0)), ((0,), (0, 4)), ((0, 3, 5), (5, 4))],
    ids=str,
)
def test_zero_size_axes(sa, sb, dtype):
    a, b = sym("a", len(sa), dtype), sym("b", len(sb), dtype)
    fast, ref = compile_both([a, b], a @ b)
    args = values(np.random.default_rng(1), [sa, sb], dtype)
    got = fast(*args)
    assert_close(got, ref(*args), dtype)
    assert got.shape == np.matmul(*args).shape
    assert not got.any()  # an m x 0 @ 0 x n product is zeros


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "build, sx, sy",
    [
        (lambda x, y: x.T @ y, (4, 3), (4, 5)),
        (lambda x, y: x @ y.T, (3, 4), (5, 4)),
        (lambda x, y: x.T @ y.T, (4, 3), (5, 4)),
        (lambda x, y: (x.T @ y.T).T, (6, 6), (6, 6)),
    ],
    ids=["xT_y", "x_yT", "xT_yT", "(xT_yT)T"],
)
def test_symbolic_transposes(build, sx, sy, dtype):
    x, y = sym("x", 2, dtype), sym("y", 2, dtype)
    fast, ref = compile_both([x, y], build(x, y))
    args = values(np.random.default_rng(2), [sx, sy], dtype)
    assert_close(fast(*args), ref(*args), dtype)


def layouts(x):
    """Matrix ``x`` in layouts BLAS reads directly and ones it cannot."""
    rows, cols = x.shape
    big = np.zeros((2 * rows, 2 * cols), x.dtype)
    big[::2, ::2] = x
    wide = np.zeros((rows, cols + 3), x.dtype)
    wide[:, :cols] = x
    return {
        "C": np.ascontiguousarray(x),
        "F": np.asfortranarray(x),
        "transposed view": np.ascontiguousarray(x.T).T,
        "row slice (ld > cols)": wide[:, :cols],
        "every other row and column": big[::2, ::2],
        "reversed rows": np.ascontiguousarray(x[::-1])[::-1],
        "reversed columns": np.ascontiguousarray(x[:, ::-1])[:, ::-1],
    }


LAYOUTS = list(layouts(np.zeros((6, 8))))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("side", ["a", "b"])
def test_runtime_layouts(side, layout, dtype):
    a, b = sym("a", 2, dtype), sym("b", 2, dtype)
    fast, ref = compile_both([a, b], a @ b)
    rng = np.random.default_rng(4)
    v = layouts(rng.uniform(-1, 1, size=(6, 8)).astype(dtype))[layout]
    other = rng.uniform(-1, 1, size=(8, 6) if side == "a" else (6, 6)).astype(dtype)
    args = (v, other) if side == "a" else (other, v)
    assert_close(fast(*args), ref(*args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_runtime_layouts_of_vectors_and_batches(dtype):
    rng = np.random.default_rng(5)
    m, v = sym("m", 2, dtype), sym("v", 1, dtype)
    fast_mv, _ = compile_both([m, v], m @ v)
    fast_vm, _ = compile_both([v, m], v @ m)
    mat = rng.uniform(-1, 1, size=(6, 8)).astype(dtype)
    vec = rng.uniform(-1, 1, size=16).astype(dtype)
    for x in (vec[::2], vec[8:], np.ascontiguousarray(vec[::-2])[::-1]):
        for layout in layouts(mat).values():
            assert_close(fast_mv(layout, x), layout @ x, dtype)
            assert_close(fast_vm(x[:6], layout), x[:6] @ layout, dtype)
    a, b = sym("a", 3, dtype), sym("b", 3, dtype)
    fast, _ = compile_both([a, b], a @ b)
    x = rng.uniform(-1, 1, size=(4, 5, 6)).astype(dtype)
    y = rng.uniform(-1, 1, size=(4, 6, 3)).astype(dtype)
    cases = [
        (x.transpose(0, 2, 1).copy().transpose(0, 2, 1), y),  # each matrix F-ordered
        (x[::2], y[1::2]),  # strided batch axis
        (x[:, :, ::2], y[:, ::2, :]),  # strided inner axes: copied
        (x, np.broadcast_to(y[:1], y.shape)),  # stride-0 batch axis: no copy needed
        (np.broadcast_to(x[:, :1, :], x.shape), y),  # stride-0 rows: copied
        (x[::-1], y),
    ]
    for p, q in cases:
        assert_close(fast(p, q), np.matmul(p, q), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thunk_takes_any_layout(dtype):
    """The compiled function itself, called with arrays Function never makes."""
    a, b = sym("a", 2, dtype), sym("b", 2, dtype)
    thunk = step_of(ga.function([a, b], a @ b, mode="FAST_RUN"), MatMul)[0]
    x = np.arange(48, dtype=dtype).reshape(6, 8) / 10
    for p in layouts(x).values():
        for q in layouts(x.T.copy()).values():
            (got,) = thunk([p, q])
            assert got.flags.c_contiguous
            assert_close(got, p @ q, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_bias_and_scaling(dtype):
    rng = np.random.default_rng(6)
    x, w, b, c = sym("x", 2, dtype), sym("w", 2, dtype), sym("b", 1, dtype), sym("c", 2, dtype)
    X, W, B = values(rng, [(5, 7), (7, 3), (3,)], dtype)
    C = values(rng, [(5, 3)], dtype)[0]
    for inputs, out, args in [
        ([x, w, b], x @ w + b, (X, W, B)),
        ([x, w, c], c - 0.1 * (x @ w), (X, W, C)),
        ([x, w, c], 2 * c + 3 * (x @ w), (X, W, C)),
        ([x, w, b], x.T.T @ w + b, (np.asfortranarray(X), W[::-1], B[::-1])),
    ]:
        fast, ref = compile_both(inputs, out, Gemm)
        assert_close(fast(*args), ref(*args), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sc, sa, sb",
    [
        ((), (4, 5), (5, 3)),  # scalar C
        ((3,), (4, 5), (5, 3)),  # bias row
        ((4, 1), (4, 5), (5, 3)),  # bias column
        ((4, 3), (4, 5), (5, 1)),  # the product broadcasts along columns
        ((4, 3), (1, 5), (5, 3)),  # ... and along rows
        ((4, 3), (4, 0), (0, 3)),  # k == 0: beta * C
        ((0, 3), (0, 5), (5, 3)),  # nothing to compute
        ((4, 3), (4, 5), (5, 3)),
    ],
    ids=str,
)
def test_gemm_op_broadcasting(sc, sa, sb, dtype):
    c, a, b = sym("c", len(sc), dtype), sym("a", 2, dtype), sym("b", 2, dtype)
    alpha, beta = ga.constant(np.asarray(-0.5, dtype)), ga.constant(np.asarray(1.5, dtype))
    out = Gemm()(c, alpha, a, b, beta)
    fast = ga.function([c, a, b], out, mode="FAST_RUN")
    thunk = step_of(fast, Gemm)[0]
    assert thunk.kind == "c"
    C, A, B = values(np.random.default_rng(7), [sc, sa, sb], dtype)
    want = np.asarray(np.asarray(1.5, dtype) * C + np.asarray(-0.5, dtype) * (A @ B), dtype)
    assert_close(fast(C, A, B), want, dtype)
    strided_b = np.ascontiguousarray(B[::-1])[::-1]  # negative strides: copied
    scalars = np.asarray(-0.5, dtype), np.asarray(1.5, dtype)
    (got,) = thunk([C, scalars[0], np.asfortranarray(A), strided_b, scalars[1]])
    assert_close(got, want, dtype)


def test_gemm_beta_zero_keeps_nan_like_numpy():
    c, a, b = sym("c", 2, "float64"), sym("a", 2, "float64"), sym("b", 2, "float64")
    out = Gemm()(c, ga.constant(1.0), a, b, ga.constant(0.0))
    fast = ga.function([c, a, b], out, mode="FAST_RUN")
    ref = ga.function([c, a, b], out, mode="FAST_COMPILE")
    C = np.full((2, 2), np.nan)
    A = np.eye(2)
    np.testing.assert_array_equal(fast(C, A, A), ref(C, A, A))  # 0 * NaN is NaN


@pytest.mark.parametrize(
    "sa, sb",
    [((3, 4), (5, 2)), ((3, 4), (5,)), ((4,), (5, 2)), ((2, 3, 4), (3, 4, 2))],
    ids=str,
)
def test_shape_mismatch_at_run_time(sa, sb):
    a, b = sym("a", len(sa), "float64"), sym("b", len(sb), "float64")
    fast = ga.function([a, b], a @ b, mode="FAST_RUN")
    assert step_of(fast, MatMul)[0].kind == "c"
    with pytest.raises(ValueError) as info:
        fast(np.ones(sa), np.ones(sb))
    assert isinstance(info.value, ga.ShapeError)
    assert str(sa) in str(info.value) and str(sb) in str(info.value)


def test_gemm_shape_mismatch_at_run_time():
    x, w, b = sym("x", 2, "float32"), sym("w", 2, "float32"), sym("b", 1, "float32")
    fast = ga.function([x, w, b], x @ w + b, mode="FAST_RUN")
    assert step_of(fast, Gemm)[0].kind == "c"
    with pytest.raises(ga.ShapeError, match=r"\(4,\).*\(5, 3\)"):
        fast(*(np.ones(s, "float32") for s in [(5, 7), (7, 3), (4,)]))
    with pytest.raises(ga.ShapeError, match=r"\(5, 7\).*\(6, 3\)"):
        fast(*(np.ones(s, "float32") for s in [(5, 7), (6, 3), (3,)]))


@pytest.mark.parametrize(
    "dtypes", [("int64", "int64"), ("float32", "float64"), ("int32", "float32")], ids=str
)
def test_other_dtypes_run_on_numpy(dtypes):
    a, b = sym("a", 2, dtypes[0]), sym("b", 2, dtypes[1])
    fast = ga.function([a, b], a @ b, mode="FAST_RUN")
    assert step_of(fast, MatMul)[0].kind == "numpy"
    x = np.arange(12).reshape(3, 4).astype(dtypes[0])
    y = np.arange(8).reshape(4, 2).astype(dtypes[1])
    np.testing.assert_array_equal(fast(x, y), x @ y)


def test_without_blas_products_run_on_numpy(monkeypatch):
    monkeypatch.setattr(blas, "_find", lambda: None)
    a, b = sym("a", 2, "float64"), sym("b", 2, "float64")
    fast = ga.function([a, b], a @ b, mode="FAST_RUN")
    assert step_of(fast, MatMul)[0].kind == "numpy"
    assert blas.link_args() == [] and blas.include_dirs() == []
    np.testing.assert_array_equal(fast(np.eye(3), np.eye(3)), np.eye(3))


def test_gradient_of_a_layer_runs_on_blas():
    rng = np.random.default_rng(8)
    x, w, b = sym("x", 2, "float64"), sym("w", 2, "float64"), sym("b", 1, "float64")
    cost = ga.tanh(x @ w + b).sum()
    grads = ga.grad(cost, [w, b])
    fast = ga.function([x, w, b], grads, mode="FAST_RUN")
    ref = ga.function([x, w, b], grads, mode="FAST_COMPILE")
    kinds = {s[0].kind for s in fast.maker.vm.steps if isinstance(s[3].op, (MatMul, Gemm))}
    assert kinds == {"c"}
    args = values(rng, [(5, 4), (4, 3), (3,)], "float64")
    for got, want in zip(fast(*args), ref(*args)):
        assert_close(got, want, "float64")


def test_debug_mode_accepts_blas_results():
    a, b = sym("a", 2, "float32"), sym("b", 2, "float32")
    f = ga.function([a, b], a @ b, mode="DEBUG")
    x, y = values(np.random.default_rng(9), [(30, 40), (40, 20)], "float32")
    assert_close(f(x, y), x @ y, "float32")


def test_link_args_have_an_rpath_to_the_library():
    args = blas.link_args()
    assert args[0].endswith(".so") and args[0].startswith(args[-1])
    assert blas.identity() in blas.runtime_source()


def test_dimensions_beyond_blas_int_raise():
    """openblas32's ints are 32-bit: a longer axis is refused before BLAS sees it
    (stride-0 broadcasts make the operands without memory)."""
    a, b = sym("a", 2, "float32"), sym("b", 2, "float32")
    thunk = step_of(ga.function([a, b], a @ b, mode="FAST_RUN"), MatMul)[0]
    one = np.ones((1, 1), "float32")
    long = 2**31
    with pytest.raises(ValueError, match="32-bit"):
        thunk([np.broadcast_to(one, (1, long)), np.broadcast_to(one, (long, 1))])
