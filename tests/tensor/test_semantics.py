"""The decided semantics of DESIGN §1 ("Semantics that users trip on", Errors), with NumPy
as the oracle wherever it can compute the expected value."""

from __future__ import annotations

import operator
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import graphad as ga
from graphad.errors import (
    GraphadError,
    GraphadIndexError,
    GraphadTypeError,
    GraphadValueError,
    NaNError,
    ShapeError,
)


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m, axis=axis)


# --- runtime broadcasting ------------------------------------------------------------
BINARY = [
    (operator.add, (-1, 1)),
    (operator.sub, (-1, 1)),
    (operator.mul, (-1, 1)),
    (operator.truediv, (0.5, 2)),
    (operator.pow, (0.5, 2)),
    (ga.maximum, (-1, 1)),
    (ga.arctan2, (-1, 1)),
]
NUMPY_OF = {ga.maximum: np.maximum, ga.arctan2: np.arctan2}
SHAPE_PAIRS = [
    ((1, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((3, 4), (1, 1)),
    ((1, 1), (3, 4)),
    ((0, 4), (1, 4)),
]


@pytest.mark.parametrize("op, domain", BINARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("xshape, yshape", SHAPE_PAIRS, ids=str)
def test_none_dims_broadcast_at_run_time(op, domain, xshape, yshape, mode):
    rng = np.random.default_rng(0)
    x, y = ga.matrix("x"), ga.matrix("y")
    out = op(x, y)
    assert out.type.shape == (None, None)  # a None dim may be 1: nothing is assumed
    xv, yv = rng.uniform(*domain, size=xshape), rng.uniform(*domain, size=yshape)
    got = ga.function([x, y], out, mode=mode)(xv, yv)
    expected = NUMPY_OF.get(op, op)(xv, yv)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_runtime_broadcast_mixed_ranks_and_three_inputs(mode):
    rng = np.random.default_rng(1)
    v = ga.vector("v")
    m = ga.matrix("m")
    c = ga.matrix("c", "bool")
    f = ga.function([v, m, c], [v + m, ga.switch(c, v, m)], mode=mode)
    for vshape, mshape, cshape in [
        ((1,), (3, 4), (3, 1)),
        ((4,), (1, 1), (1, 4)),
        ((1,), (1, 1), (2, 3)),
    ]:
        vv, mv = rng.normal(size=vshape), rng.normal(size=mshape)
        cv = rng.random(cshape) < 0.5
        add, sel = f(vv, mv, cv)
        np.testing.assert_array_equal(add, vv + mv)
        np.testing.assert_array_equal(sel, np.where(cv, vv, mv))


def test_static_one_and_runtime_one_broadcast_alike(mode):
    a = ga.tensor("a", shape=(1, None))
    b = ga.tensor("b", shape=(None, None))
    out = a * b
    assert out.type.shape == (None, None)
    av, bv = np.arange(4.0).reshape(1, 4), np.arange(3.0).reshape(3, 1)
    np.testing.assert_array_equal(ga.function([a, b], out, mode=mode)(av, bv), av * bv)


def test_grad_of_sum_reduces_to_runtime_shapes(mode):
    x, y = ga.matrix("x"), ga.matrix("y")
    gx, gy = ga.grad((x + y).sum(), [x, y])
    f = ga.function([x, y], [gx, gy], mode=mode)
    for xshape, yshape in [((1, 4), (3, 4)), ((3, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 1), (1, 4))]:
        gxv, gyv = f(np.ones(xshape), np.ones(yshape))
        out_size = np.broadcast_shapes(xshape, yshape)
        assert gxv.shape == xshape and gyv.shape == yshape
        np.testing.assert_array_equal(gxv, np.full(xshape, np.prod(out_size) / np.prod(xshape)))
        np.testing.assert_array_equal(gyv, np.full(yshape, np.prod(out_size) / np.prod(yshape)))


def _sum_to(g, shape):
    """NumPy reference of un-broadcasting: sum ``g`` back to ``shape``."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@pytest.mark.parametrize(
    "xshape, yshape", [((1, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (3, 4)), ((1,), (3, 4))], ids=str
)
def test_grad_of_product_reduces_to_runtime_shapes(xshape, yshape, mode):
    rng = np.random.default_rng(2)
    x = ga.tensor("x", shape=(None,) * len(xshape))
    y = ga.tensor("y", shape=(None,) * len(yshape))
    cost = ((x - y) ** 2 * y).sum()
    gx, gy = ga.grad(cost, [x, y])
    xv, yv = rng.normal(size=xshape), rng.normal(size=yshape)
    gxv, gyv = ga.function([x, y], [gx, gy], mode=mode)(xv, yv)
    xb, yb = np.broadcast_arrays(xv, yv)
    np.testing.assert_allclose(gxv, _sum_to(2 * (xb - yb) * yb, xshape), rtol=1e-12)
    np.testing.assert_allclose(
        gyv, _sum_to(-2 * (xb - yb) * yb + (xb - yb) ** 2, yshape), rtol=1e-12
    )


# --- weak Python scalars (NEP 50) ------------------------------------------------------
WEAK_CASES = [
    ("float32", 2.0, operator.mul),
    ("float32", 2, operator.add),
    ("float16", 2.5, operator.add),
    ("uint8", 3, operator.add),
    ("uint8", 3, operator.mul),
    ("int8", -2, operator.mul),
    ("int16", 7, operator.floordiv),
    ("int32", 2.5, operator.add),
    ("int32", 2, operator.truediv),
    ("int32", 3, operator.mod),
    ("int64", 2.5, operator.sub),
    ("uint64", 3, operator.add),
    ("bool", 1, operator.add),
    ("bool", 1.5, operator.mul),
    ("bool", True, operator.mul),
    ("float32", 1j, operator.add),
    ("float32", 2, operator.pow),
    ("float64", 10**30, operator.add),
    ("float32", 10**30, operator.mul),
]


def _values_of(dtype, rng):
    if dtype == "bool":
        return np.array([True, False, True])
    if np.dtype(dtype).kind in "iu":
        return np.array([1, 2, 5], dtype=dtype)
    return rng.uniform(0.5, 2.0, size=3).astype(dtype)


@pytest.mark.parametrize("reverse", [False, True], ids=["var_op_scalar", "scalar_op_var"])
@pytest.mark.parametrize("dtype, scalar, op", WEAK_CASES, ids=lambda v: getattr(v, "__name__", v))
def test_python_scalars_are_weak(dtype, scalar, op, reverse, mode):
    rng = np.random.default_rng(3)
    xv = _values_of(dtype, rng)
    with np.errstate(all="ignore"):
        expected = op(scalar, xv) if reverse else op(xv, scalar)
    x = ga.vector("x", dtype)
    out = op(scalar, x) if reverse else op(x, scalar)
    assert out.dtype == expected.dtype.name
    got = ga.function([x], out, mode=mode)(xv)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_weak_scalar_examples_from_design():
    assert (ga.vector("a", "float32") * 2.0).dtype == "float32"
    assert (ga.vector("a", "uint8") + 3).dtype == "uint8"
    assert (ga.vector("a", "int32") + 2.5).dtype == "float64"
    assert (ga.vector("a", "bool") + 1).dtype == "int64"
    # NumPy scalars and 0-d arrays are not weak
    assert (ga.vector("a", "uint8") + np.int64(3)).dtype == "int64"
    assert (ga.vector("a", "float32") + np.float64(2.0)).dtype == "float64"


OVERFLOW_CASES = [
    ("uint8", 300, operator.add),
    ("uint8", -1, operator.sub),
    ("int8", 128, operator.mul),
    ("int32", 2**40, operator.add),
    ("int64", 2**63, operator.add),
    ("int64", 2**64, operator.add),
]


@pytest.mark.parametrize("reverse", [False, True], ids=["var_op_scalar", "scalar_op_var"])
@pytest.mark.parametrize(
    "dtype, scalar, op", OVERFLOW_CASES, ids=lambda v: getattr(v, "__name__", v)
)
def test_out_of_range_python_int_raises_like_numpy(dtype, scalar, op, reverse):
    arr = np.ones(2, dtype=dtype)
    with pytest.raises(Exception) as np_info:
        op(scalar, arr) if reverse else op(arr, scalar)
    x = ga.vector("x", dtype)
    with pytest.raises(GraphadError) as info:
        op(scalar, x) if reverse else op(x, scalar)
    # the same class NumPy raises (OverflowError), as graphad's own subclass
    assert isinstance(info.value, type(np_info.value)), (type(info.value).__mro__, np_info.value)
    assert isinstance(info.value, TypeError)
    assert str(scalar) in str(info.value)


def test_out_of_range_python_int_in_constant_full_and_set_subtensor():
    with pytest.raises(OverflowError):
        np.full((2,), 300, dtype="uint8")
    for build in [
        lambda: ga.constant(300, dtype="uint8"),
        lambda: ga.full((2,), 300, dtype="uint8"),
        lambda: ga.set_subtensor(ga.vector("u", "uint8")[0], 300),
    ]:
        with pytest.raises(GraphadError) as info:
            build()
        assert isinstance(info.value, OverflowError), type(info.value).__mro__
        assert "300" in str(info.value)


# --- dtypes of constants, full, alloc and shapes ------------------------------------------
CONSTANT_VALUES = [3, 2.5, True, 1j, [1, 2], [1.0, 2], np.float32(1.5), np.int8(3),
                   np.array([1, 2], dtype="uint16"), [[True, False]]]  # fmt: skip


@pytest.mark.parametrize("value", CONSTANT_VALUES, ids=repr)
def test_constant_takes_numpys_dtype(value):
    c = ga.constant(value)
    assert c.dtype == np.asarray(value).dtype.name
    assert c.type.shape == np.shape(value)
    np.testing.assert_array_equal(c.eval(), np.asarray(value))


@pytest.mark.parametrize(
    "value", [3, 2.5, True, np.float32(1.5), np.int16(-4), np.uint8(7)], ids=repr
)
def test_full_and_alloc_take_numpys_dtype(value):
    expected = np.full((2, 3), value)
    full = ga.full((2, 3), value)
    alloc = ga.alloc(value, 2, 3)
    for var in (full, alloc):
        assert var.dtype == expected.dtype.name
        got = var.eval()
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_full_and_alloc_with_explicit_dtype():
    assert ga.full((2,), 3, dtype="float32").eval().dtype == np.float32
    assert ga.zeros((2,)).dtype == ga.config.floatX
    assert ga.zeros((2,), dtype="int16").eval().dtype == np.int16


@pytest.mark.parametrize("dtype", ["float32", "int8", "bool", "uint64"])
@pytest.mark.parametrize("shape", [(), (None,), (2, None, 1)], ids=str)
def test_shape_values_are_int64(dtype, shape, mode):
    x = ga.tensor("x", dtype, shape=shape)
    assert x.shape.dtype == "int64"
    assert ga.shape(x).dtype == "int64"
    assert x.size.dtype == "int64"
    outs = [x.shape, x.size]
    if shape:
        assert x.shape[0].dtype == "int64"
        assert (x.shape[-1] * 2).dtype == "int64"
        outs += [x.shape[0], x.shape[-1] * 2]
    value = np.zeros(tuple(2 if s is None else s for s in shape), dtype=dtype)
    results = ga.function([x], outs, mode=mode)(value)
    for r in results:
        assert r.dtype == np.int64
    np.testing.assert_array_equal(results[0], np.array(value.shape, dtype=np.int64))
    assert int(results[1]) == value.size


# --- var / std ---------------------------------------------------------------------
@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize(
    "axis, keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, False)]
)
def test_var_std_match_numpy(ddof, axis, keepdims, mode):
    x = ga.tensor3("x")
    xv = np.random.default_rng(4).normal(size=(3, 4, 5))
    outs = [x.var(axis=axis, keepdims=keepdims, ddof=ddof), ga.std(x, axis, keepdims, ddof)]
    if ddof == 0:  # the default is NumPy's ddof=0
        outs += [x.var(axis=axis, keepdims=keepdims), x.std(axis=axis, keepdims=keepdims)]
    got = ga.function([x], outs, mode=mode)(xv)
    v = np.var(xv, axis=axis, keepdims=keepdims, ddof=ddof)
    s = np.std(xv, axis=axis, keepdims=keepdims, ddof=ddof)
    for g, e in zip(got, [v, s, v, s]):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int32", "uint8"])
def test_var_std_dtype_match_numpy(dtype, mode):
    x = ga.vector("x", dtype)
    xv = np.array([1, 2, 4, 9], dtype=dtype)
    for fn, np_fn in [(ga.var, np.var), (ga.std, np.std)]:
        out = fn(x)
        expected = np_fn(xv)
        assert out.dtype == expected.dtype.name
        got = ga.function([x], out, mode=mode)(xv)
        assert got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-3)


# --- integer division by zero -------------------------------------------------------
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_division_and_modulo_by_zero_give_zero(dtype, mode):
    info = np.iinfo(dtype)
    lo = max(info.min, -7)
    a = np.array([lo, -1 if lo < 0 else 0, 0, 1, 7, info.max, 6, 6], dtype=dtype)
    b = np.array([0, 0, 0, 0, 0, 0, 4, -4 if lo < 0 else 5], dtype=dtype)
    x, y = ga.vector("x", dtype), ga.vector("y", dtype)
    f = ga.function([x, y], [x // y, x % y, x // 0, x % 0], mode=mode)
    # no signal, no exception, no warning, even if the user asked NumPy to raise
    with np.errstate(all="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        quot, rem, quot0, rem0 = f(a, b)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(quot, a // b)
        np.testing.assert_array_equal(rem, a % b)
    assert quot.dtype == rem.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(quot[b == 0], 0)
    np.testing.assert_array_equal(rem[b == 0], 0)
    np.testing.assert_array_equal(quot0, np.zeros_like(a))
    np.testing.assert_array_equal(rem0, np.zeros_like(a))


def test_float_division_by_zero_gives_inf_and_nan(mode):
    x = ga.vector("x")
    xv = np.array([1.0, -1.0, 0.0])
    with np.errstate(all="raise"):
        got = ga.function([x], [x / 0.0, x // 0.0, x % 0.0], mode=mode)(xv)
    with np.errstate(all="ignore"):
        expected = [xv / 0.0, xv // 0.0, xv % 0.0]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)


# --- errors name the input -------------------------------------------------------------
def _checked_function(mode):
    x = ga.matrix("x")
    v = ga.vector("v", "int32")
    s = ga.tensor("s", shape=(None, 3))
    return ga.function([x, v, s], x.sum() + v.sum() + s.sum(), mode=mode)


GOOD = (np.ones((2, 2)), np.arange(3, dtype="int32"), np.ones((2, 3)))
BAD_CALLS = [
    # (position or keyword, bad value, exception class, fragments)
    (0, "abc", TypeError, ["input 0", "'x'"]),
    (0, None, TypeError, ["input 0", "'x'"]),
    (0, np.array([[object()]], dtype=object), TypeError, ["input 0", "'x'", "object"]),
    (0, np.ones(3), TypeError, ["input 0", "'x'", "dimension"]),
    (0, [[1.0, 2.0], [3.0]], TypeError, ["input 0", "'x'"]),
    (1, np.ones(3), TypeError, ["input 1", "'v'", "float64", "int32"]),
    (1, np.arange(3, dtype="int64"), TypeError, ["input 1", "'v'", "int64", "int32"]),
    (1, [1.5, 2.0], TypeError, ["input 1", "'v'", "int32"]),
    (1, np.array(["a", "b"]), TypeError, ["input 1", "'v'"]),
    (2, np.ones((2, 4)), ShapeError, ["input 2", "'s'", "(2, 4)", "3"]),
    (2, np.ones((2, 3), dtype="complex128"), TypeError, ["input 2", "'s'", "complex128"]),
]


@pytest.mark.parametrize("pos, value, cls, fragments", BAD_CALLS, ids=lambda v: repr(v)[:20])
def test_bad_argument_names_input(pos, value, cls, fragments, mode):
    f = _checked_function(mode)
    args = list(GOOD)
    args[pos] = value
    with pytest.raises(cls) as info:
        f(*args)
    assert isinstance(info.value, GraphadError)
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


def test_bad_keyword_arguments_name_input(mode):
    f = _checked_function(mode)
    with pytest.raises(GraphadTypeError, match="'v'"):
        f(GOOD[0], s=GOOD[2], v=np.ones(3))
    with pytest.raises(GraphadTypeError, match="'t'"):
        f(*GOOD[:2], t=GOOD[2])
    with pytest.raises(GraphadTypeError, match="input 2.*'s'"):
        f(*GOOD[:2])
    with pytest.raises(GraphadTypeError, match="'x'"):
        f(*GOOD, x=GOOD[0])
    with pytest.raises(GraphadTypeError, match="3"):
        f(*GOOD, GOOD[0])
    assert float(f(*GOOD)) == 4 + 3 + 6


def test_safe_casts_and_python_values_are_accepted(mode):
    f = _checked_function(mode)
    small = np.arange(3, dtype="int16")
    f32 = np.ones((2, 2), dtype="float32")
    assert float(f(f32, small, [[1, 2, 3]])) == 4 + 3 + 6
    assert float(f([[1, 2], [3, 4]], [1, 2], GOOD[2])) == 10 + 3 + 6


def test_allow_input_downcast(mode):
    x = ga.vector("x", "float32")
    lenient = ga.function([x], x * 2, mode=mode, allow_input_downcast=True)
    strict = ga.function([x], x * 2, mode=mode, allow_input_downcast=False)
    default = ga.function([x], x * 2, mode=mode)
    assert lenient(np.array([1.5])).dtype == np.float32
    assert default([1.5, 2.0]).dtype == np.float32  # Python values are cast
    for f, value in [(default, np.array([1.5])), (strict, np.array([1.5])), (strict, [1.5])]:
        with pytest.raises(GraphadTypeError, match="input 0 \\('x'\\)"):
            f(value)


def test_build_time_errors_name_the_variables():
    w = ga.tensor("w", shape=(3, 4))
    z = ga.tensor("z", shape=(5, 2))
    cases = [
        (lambda: ga.dot(w, z), ShapeError, [r"\bw\b", r"\bz\b", r"\(3, 4\)"]),
        (lambda: ga.concatenate([w, z]), ShapeError, [r"input 1", r"'z'"]),
        (lambda: ga.reshape(w, (5,)), ShapeError, [r"\bw\b", r"\(3, 4\)"]),
        (lambda: w + z, ShapeError, [r"\(3, 4\)", r"\(5, 2\)"]),
        (lambda: ga.sum(w, axis=2), GraphadValueError, [r"'w'", r"axis 2"]),
        (lambda: ga.argmax(w, axis=-3), GraphadValueError, [r"'w'", r"axis -3"]),
        (lambda: w.var(axis=5), GraphadValueError, [r"'w'", r"axis 5"]),
        (
            lambda: ga.categorical_crossentropy(w, ga.matrix("labels", "int64")),
            GraphadTypeError,
            [r"\blabels\b", r"\bw\b"],
        ),
    ]
    for build, cls, patterns in cases:
        with pytest.raises(cls) as info:
            build()
        for pattern in patterns:
            assert re.search(pattern, str(info.value)), (pattern, str(info.value))


# --- indexing -------------------------------------------------------------------------
@pytest.mark.parametrize("index", [3, -4, (slice(None), 4), (0, -5), (0, 0, 0)], ids=repr)
def test_static_out_of_range_index_raises_index_error(index):
    w = ga.tensor("w", shape=(3, 4))
    with pytest.raises(IndexError) as info:
        w[index]
    assert isinstance(info.value, GraphadIndexError)
    with pytest.raises(IndexError):  # NumPy agrees
        np.zeros((3, 4))[index]


@pytest.mark.parametrize("bad", [3, -4, [0, 3], [-4, 1], [[0], [7]]], ids=repr)
def test_runtime_out_of_range_index_raises_index_error(bad, mode):
    v = ga.vector("v")
    bad = np.asarray(bad, dtype="int64")
    i = ga.tensor("i", "int64", shape=(None,) * bad.ndim)
    builders = [
        lambda: v[i],
        lambda: ga.set_subtensor(v[i], 1.0),
        lambda: ga.inc_subtensor(v[i], 1.0),
        lambda: ga.take(v, i),
    ]
    for build in builders:
        f = ga.function([v, i], build(), mode=mode)
        with pytest.raises(IndexError) as info:
            f(np.zeros(3), bad)
        assert isinstance(info.value, GraphadError)
        assert re.search(r"out of (bounds|range)", str(info.value)), str(info.value)
        assert str(int(bad.flat[-1])) in str(info.value) or str(int(bad.flat[0])) in str(info.value)


def test_set_subtensor_repeated_indices_last_write_wins(mode):
    x = ga.vector("x")
    i = ga.vector("i", "int64")
    y = ga.vector("y")
    f = ga.function([x, i, y], ga.set_subtensor(x[i], y), mode=mode)
    idx = np.array([1, 1, 3, 1, -2])
    vals = np.array([7.0, 8.0, 9.0, 10.0, 11.0])
    expected = np.zeros(5)
    expected[idx] = vals
    got = f(np.zeros(5), idx, vals)
    np.testing.assert_array_equal(got, expected)
    assert got[1] == 10.0 and got[3] == 11.0


def test_inc_subtensor_accumulates_like_add_at(mode):
    rng = np.random.default_rng(5)
    x = ga.matrix("x")
    i = ga.vector("i", "int64")
    y = ga.matrix("y")
    f = ga.function(
        [x, i, y], [ga.inc_subtensor(x[i], y), ga.inc_subtensor(x[i, 0], 1.0)], mode=mode
    )
    idx = np.array([0, 2, 0, 0, -1])
    xv, yv = rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    rows, col = f(xv, idx, yv)
    expected_rows = xv.copy()
    np.add.at(expected_rows, idx, yv)
    expected_col = xv.copy()
    np.add.at(expected_col, (idx, 0), 1.0)
    np.testing.assert_allclose(rows, expected_rows, rtol=1e-12)
    np.testing.assert_allclose(col, expected_col, rtol=1e-12)
    assert col[0, 0] == xv[0, 0] + 3


def test_boolean_mask_read_has_dynamic_length(mode):
    x = ga.tensor("x", shape=(3, 4))
    r = x[x > 0]
    assert r.ndim == 1 and r.type.shape == (None,)
    m = ga.matrix("m")
    rows = m[m[:, 0] > 0]
    assert rows.type.shape == (None, None)
    f = ga.function([x], r, mode=mode)
    g = ga.function([m], rows, mode=mode)
    rng = np.random.default_rng(6)
    for xv in [rng.normal(size=(3, 4)), -np.ones((3, 4)), np.ones((3, 4))]:
        np.testing.assert_array_equal(f(xv), xv[xv > 0])
        np.testing.assert_array_equal(g(xv), xv[xv[:, 0] > 0])
    assert f(-np.ones((3, 4))).shape == (0,)


def test_boolean_mask_gradient(mode):
    x = ga.matrix("x")
    gx = ga.grad((x[x > 0] * 3).sum(), x)
    xv = np.array([[1.0, -2.0], [0.0, 4.0]])
    np.testing.assert_array_equal(ga.function([x], gx, mode=mode)(xv), 3.0 * (xv > 0))


# --- dimshuffle ------------------------------------------------------------------------
def test_dimshuffle_function_and_method(mode):
    x = ga.matrix("x")
    xv = np.arange(6.0).reshape(2, 3)
    expected = np.transpose(xv)[:, None, :]
    outs = [ga.dimshuffle(x, (1, "x", 0)), x.dimshuffle(1, "x", 0), x.dimshuffle((1, "x", 0))]
    for out in outs:
        assert out.type.shape == (None, 1, None)
    for got in ga.function([x], outs, mode=mode)(xv):
        assert got.shape == (3, 1, 2)
        np.testing.assert_array_equal(got, expected)


def test_dimshuffle_drops_size_one_axes(mode):
    x = ga.tensor("x", shape=(1, None))
    v = ga.dimshuffle(x, (1,))
    assert v.type.shape == (None,)
    np.testing.assert_array_equal(ga.function([x], v, mode=mode)([[1.0, 2.0]]), [1.0, 2.0])
    with pytest.raises(ShapeError):
        ga.dimshuffle(ga.tensor("w", shape=(2, 3)), (1,))
    m = ga.matrix("m")
    f = ga.function([m], m.dimshuffle(1), mode=mode)
    np.testing.assert_array_equal(f([[1.0, 2.0]]), [1.0, 2.0])
    with pytest.raises(ShapeError):  # a None axis dropped at run time must be 1
        f(np.ones((2, 2)))


# --- softmax family and cross-entropies ------------------------------------------------
def test_softmax_family_defaults_to_last_axis(mode):
    x = ga.tensor3("x")
    xv = np.random.default_rng(7).normal(size=(2, 3, 4)) * 3
    outs = [ga.softmax(x), ga.log_softmax(x), ga.logsumexp(x), ga.softmax(x, axis=0)]
    assert outs[2].type.ndim == 2
    sm, lsm, lse, sm0 = ga.function([x], outs, mode=mode)(xv)
    np.testing.assert_allclose(sm, _np_softmax(xv, -1), rtol=1e-12)
    np.testing.assert_allclose(lsm, np.log(_np_softmax(xv, -1)), rtol=1e-12)
    assert lse.shape == (2, 3)
    np.testing.assert_allclose(lse, _np_logsumexp(xv, -1), rtol=1e-12)
    np.testing.assert_allclose(sm0, _np_softmax(xv, 0), rtol=1e-12)
    assert not np.allclose(sm, sm0)


def test_softmax_family_is_stable_for_large_logits(mode):
    x = ga.matrix("x")
    xv = np.array([[1000.0, 1000.0, -1000.0], [-1000.0, 0.0, 1000.0]])
    sm, lsm, lse = ga.function([x], [ga.softmax(x), ga.log_softmax(x), ga.logsumexp(x)], mode=mode)(
        xv
    )
    np.testing.assert_allclose(sm, _np_softmax(xv), atol=1e-300)
    np.testing.assert_allclose(lse, [1000.0 + np.log(2.0), 1000.0], rtol=1e-15)
    assert np.isfinite(lsm[:, :2]).all()
    np.testing.assert_allclose(lsm[0, :2], -np.log(2.0))


@pytest.mark.parametrize("label_dtype", ["int64", "int32", "uint8"])
def test_categorical_crossentropy_with_labels(label_dtype, mode):
    rng = np.random.default_rng(8)
    probs = _np_softmax(rng.normal(size=(5, 4)))
    labels = rng.integers(0, 4, size=5).astype(label_dtype)
    p, t = ga.matrix("p"), ga.vector("t", label_dtype)
    loss = ga.categorical_crossentropy(p, t)
    assert loss.ndim == 1
    got = ga.function([p, t], loss, mode=mode)(probs, labels)
    assert got.shape == (5,)
    np.testing.assert_allclose(got, -np.log(probs[np.arange(5), labels]), rtol=1e-12)


def test_categorical_crossentropy_with_target_distributions(mode):
    rng = np.random.default_rng(9)
    probs = _np_softmax(rng.normal(size=(5, 4)))
    targets = _np_softmax(rng.normal(size=(5, 4)))
    labels = rng.integers(0, 4, size=5)
    p, q, t = ga.matrix("p"), ga.matrix("q"), ga.vector("t", "int64")
    f = ga.function(
        [p, q, t], [ga.categorical_crossentropy(p, q), ga.categorical_crossentropy(p, t)], mode=mode
    )
    soft, hard = f(probs, targets, labels)
    assert soft.shape == (5,)
    np.testing.assert_allclose(soft, -(targets * np.log(probs)).sum(axis=1), rtol=1e-12)
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(f(probs, one_hot, labels)[0], hard, rtol=1e-12)


@pytest.mark.parametrize("shape", [(6,), (3, 4)], ids=str)
def test_binary_crossentropy_is_elementwise(shape, mode):
    rng = np.random.default_rng(10)
    pv = rng.uniform(0.05, 0.95, size=shape)
    tv = rng.uniform(0.0, 1.0, size=shape)
    p = ga.tensor("p", shape=(None,) * len(shape))
    t = ga.tensor("t", shape=(None,) * len(shape))
    got = ga.function([p, t], ga.binary_crossentropy(p, t), mode=mode)(pv, tv)
    assert got.shape == shape
    np.testing.assert_allclose(got, -(tv * np.log(pv) + (1 - tv) * np.log(1 - pv)), rtol=1e-12)


# --- identity, truth value, config ---------------------------------------------------------
def test_equality_is_identity_and_eq_is_elementwise(mode):
    x, y = ga.vector("x"), ga.vector("y")
    assert (x == y) is False
    assert (x == x) is True
    assert (x != y) is True
    assert (x == 1) is False
    table = {x: "x", y: "y"}
    assert table[x] == "x" and table[y] == "y"
    assert len({x, y, x}) == 2
    assert x in [y, x] and ga.vector("x") not in [x, y]
    xv, yv = np.array([1.0, 2.0, np.nan]), np.array([1.0, 3.0, np.nan])
    e, n = ga.function([x, y], [ga.eq(x, y), ga.neq(x, y)], mode=mode)(xv, yv)
    assert e.dtype == np.bool_
    np.testing.assert_array_equal(e, np.equal(xv, yv))
    np.testing.assert_array_equal(n, np.not_equal(xv, yv))


def test_variables_are_truthy_and_symbolic_conditions_raise():
    """Theano's rule: ``if not W:`` tests whether a variable was given; only a boolean
    the graph computes has no truth value (test_theano_names.py has the full table)."""
    x, y = ga.scalar("x"), ga.scalar("y")
    assert bool(x) and not (not x)
    assert (x and y) is y
    attempts = [
        lambda: bool(x > 0),
        lambda: not ga.eq(x, y),
        lambda: (x > 0) and y,
        lambda: 0 < x < 1,
    ]
    for attempt in attempts:
        with pytest.raises(TypeError) as info:
            attempt()
        assert isinstance(info.value, GraphadError)
        assert "truth value" in str(info.value)
    with pytest.raises(TypeError, match="is None"):
        if x > y:
            pass


def test_device_defaults_to_cpu():
    env = {k: v for k, v in os.environ.items() if k != "GRAPHAD_FLAGS"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(ga.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run(
        [sys.executable, "-c", "import graphad as ga; print(ga.config.device)"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cpu"


# --- shape errors at build time -------------------------------------------------------
@pytest.mark.parametrize(
    "build",
    [
        lambda a, b: a + b,
        lambda a, b: a * b,
        ga.maximum,
        ga.eq,
        lambda a, b: ga.switch(a > 0, a, b),
    ],
    ids=["add", "mul", "maximum", "eq", "switch"],
)
def test_static_shapes_that_do_not_broadcast_raise_at_build_time(build):
    a = ga.tensor("a", shape=(2, 3))
    b = ga.tensor("b", shape=(4, 3))
    with pytest.raises(ShapeError) as info:
        build(a, b)
    assert isinstance(info.value, ValueError)
    assert "(2, 3)" in str(info.value) and "(4, 3)" in str(info.value)


def test_unknown_dims_do_not_raise_at_build_time():
    a = ga.tensor("a", shape=(None, 3))
    assert (a + ga.tensor("b", shape=(4, 3))).type.shape == (4, 3)
    assert (a + ga.tensor("c", shape=(3,))).type.shape == (None, 3)
    with pytest.raises(ShapeError):
        a + ga.tensor("d", shape=(2,))


def test_runtime_shapes_that_do_not_broadcast_raise_shape_error(mode):
    a, b = ga.matrix("a"), ga.matrix("b")
    f = ga.function([a, b], a + b, mode=mode)
    with pytest.raises(ShapeError) as info:
        f(np.ones((2, 3)), np.ones((4, 3)))
    text = str(info.value).replace(" ", "")
    assert "(2,3)" in text and "(4,3)" in text
    assert "add" in str(info.value)
    assert __file__ in str(info.value) or os.path.basename(__file__) in str(info.value)


# --- DEBUG mode -----------------------------------------------------------------------------
def test_debug_mode_reports_nan_with_node_and_user_line():
    x = ga.vector("x")
    out, line = ga.log(x) * 2, sys._getframe().f_lineno
    f = ga.function([x], out, mode="DEBUG")
    np.testing.assert_array_equal(f(np.array([1.0, np.e])), [0.0, 2.0])
    with pytest.raises(FloatingPointError) as info:
        f(np.array([0.0, 1.0]))
    assert isinstance(info.value, NaNError)
    assert "log" in str(info.value)
    assert f"{os.path.basename(__file__)}:{line}" in str(info.value)
    # FAST_COMPILE treats NaN/Inf as values
    fast = ga.function([x], out, mode="FAST_COMPILE")
    np.testing.assert_array_equal(fast(np.array([0.0])), [-np.inf])
