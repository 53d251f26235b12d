"""Argument conversion never changes a value silently (issue 19, item 5; DESIGN §1
"Inputs"; docs/concepts.md "Argument conversion"): ndarray subclasses, complex values
for real inputs, values out of a dtype's range, givens values, and the float → int
cast, which every backend computes alike."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphad as ga
from graphad.tensor.scalar_base import _X86_64, _x86_float_to_int, float_to_int
from tests.util import assert_names_input

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def _matrix(rows):
    with warnings.catch_warnings():  # np.matrix is pending deprecation
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(rows)


# --- 1. ndarray subclasses become plain arrays -------------------------------------------


def test_matrix_argument_is_a_plain_array(mode):
    """np.matrix keeps rank 2 under indexing: X[0] of a matrix argument was (1, 2)."""
    X = ga.matrix("X")
    row, total = ga.function([X], [X[0], X.sum(axis=0)], mode=mode)(_matrix([[1.0, 2], [3, 4]]))
    assert type(row) is np.ndarray and row.shape == (2,)
    np.testing.assert_array_equal(row, [1.0, 2.0])
    np.testing.assert_array_equal(total, [4.0, 6.0])


@pytest.mark.parametrize("rows", [[[1.0, 2.0, 3.0]], [[1.0], [2.0], [3.0]]])
def test_matrix_into_a_vector_input_is_a_rank_error(mode, rows):
    x = ga.vector("x")
    f = ga.function([x], x * 2, mode=mode)
    with pytest.raises(TypeError, match="2 dimension") as info:
        f(_matrix(rows))
    assert_names_input(str(info.value), "x", 0)


def test_set_value_of_a_matrix_stores_a_plain_array():
    W = ga.shared(np.zeros((2, 2)), name="W")
    W.set_value(_matrix([[1.0, 2.0], [3.0, 4.0]]))
    assert type(W.get_value(borrow=True)) is np.ndarray
    assert W[0].eval().shape == (2,)
    v = ga.shared(np.zeros(3), name="v")
    with pytest.raises(TypeError, match="'v'"):
        v.set_value(_matrix([[1.0, 2.0, 3.0]]))


def test_shared_of_a_matrix_borrowed_is_a_plain_array():
    W = ga.shared(_matrix([[1.0, 2.0], [3.0, 4.0]]), borrow=True)
    assert type(W.get_value(borrow=True)) is np.ndarray
    assert W[0].eval().shape == (2,)


def test_masked_array_with_masked_entries_is_refused(mode):
    x = ga.vector("x")
    f = ga.function([x], x * 2, mode=mode)
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match="filled") as info:
        f(masked)
    assert_names_input(str(info.value), "x", 0)
    np.testing.assert_array_equal(f(np.ma.masked_array([1.0, 2.0])), [2.0, 4.0])


# --- 2. complex values never lose their imaginary part -----------------------------------


@pytest.mark.parametrize("downcast", [None, True, False])
@pytest.mark.parametrize(
    "value", [[1 + 2j, 3.0], [1 + 0j], np.array([1 + 2j]), 2j, np.complex64(1)]
)
def test_complex_into_a_real_input_raises(mode, downcast, value):
    x = ga.vector("xr") if np.ndim(value) else ga.scalar("xr")
    f = ga.function([x], x * 2, mode=mode, allow_input_downcast=downcast)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning either
        with pytest.raises(ga.GraphadTypeError, match=r"np\.real") as info:
            f(value)
    assert_names_input(str(info.value), "xr", 0)


def test_complex_into_a_complex_input_is_kept(mode):
    z = ga.vector("z", "complex128")
    f = ga.function([z], z * 1, mode="FAST_COMPILE")
    np.testing.assert_array_equal(f([1 + 2j, 3]), [1 + 2j, 3])


# --- 3. givens values follow the argument rules ------------------------------------------


@pytest.mark.parametrize("value", [np.array([1.7, 300.0]), [1.7, 300.0], [1, 300], [1.5]])
def test_givens_value_that_would_change_raises(mode, value):
    n = ga.vector("n", "int8")
    with pytest.raises(TypeError, match=r"givens entry 0.*'n'"):
        ga.function([], n * 1, givens={n: value}, mode=mode)


def test_givens_value_that_survives_is_converted(mode):
    n = ga.vector("n", "int8")
    out = ga.function([], n * 1, givens={n: [1, 3.0, -128]}, mode=mode)()
    assert out.dtype == np.int8
    np.testing.assert_array_equal(out, [1, 3, -128])
    x = ga.vector("x", "float32")
    out = ga.function([], x * 1, givens={x: [0.1, 2]}, mode=mode)()
    np.testing.assert_array_equal(out, np.array([0.1, 2], "float32"))


def test_givens_value_of_the_wrong_rank_raises(mode):
    x = ga.vector("x")
    with pytest.raises(TypeError, match=r"givens entry 0.*2 dimension"):
        ga.function([], x * 1, givens={x: [[1.0]]}, mode=mode)


# --- 4. values outside a dtype's range ---------------------------------------------------


@pytest.mark.parametrize("downcast", [None, True])
@pytest.mark.parametrize(
    ("dtype", "value", "shown"),
    [
        ("float32", 1e40, "1e+40"),
        ("float32", [1.0, -1e40], "-1e+40"),
        ("float16", 70000, "70000"),
        ("int8", 300, "300"),
        ("int8", [1, -129], "-129"),
        ("uint8", -1, "-1"),
        ("int8", 300.0, "300.0"),
        ("int8", float("nan"), "nan"),
        ("int64", 2**63, str(2**63)),
        ("int8", 2**70, str(2**70)),
        ("uint64", 2**64, str(2**64)),
        ("uint64", [2**64, 1], str(2**64)),
        ("float64", 10**400, "an int of 401 digits"),
    ],
)
def test_python_number_out_of_range_raises(mode, downcast, dtype, value, shown):
    x = ga.tensor("big", dtype=dtype, shape=(None,) * np.ndim(value))
    f = ga.function([x], x * 1, mode=mode, allow_input_downcast=downcast)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NumPy
        with pytest.raises(ga.GraphadOverflowError) as info:
            f(value)
    message = str(info.value)
    assert isinstance(info.value, OverflowError) and isinstance(info.value, TypeError)
    assert_names_input(message, "big", 0)
    assert shown in message and dtype in message


def test_range_in_the_message():
    x = ga.scalar("s", "int8")
    with pytest.raises(OverflowError, match=r"\[-128, 127\]"):
        ga.function([x], x * 1, mode="FAST_COMPILE")(300)
    y = ga.scalar("s", "float32")
    with pytest.raises(OverflowError, match=r"3\.4028235e\+38"):
        ga.function([y], y * 1, mode="FAST_COMPILE")(1e40)


@pytest.mark.parametrize(
    ("dtype", "value", "expected"),
    [
        ("float32", 0.1, np.float32(0.1)),  # rounds: fine
        ("float32", 3.4e38, np.float32(3.4e38)),
        ("float32", float("inf"), np.float32("inf")),  # already infinite: kept
        ("float16", 65504, np.float16(65504)),
        ("uint64", 2**64 - 1, np.uint64(2**64 - 1)),
        ("int64", -(2**63), np.int64(-(2**63))),
        ("float32", 2**70, np.float32(2.0**70)),
        ("int8", -128.0, np.int8(-128)),
    ],
)
def test_python_number_in_range_is_converted(mode, dtype, value, expected):
    x = ga.scalar("x", dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ga.function([x], x, mode=mode)(value)
    assert out.dtype == np.dtype(dtype) and out == expected


def test_python_ints_beyond_int64_keep_their_values(mode):
    """NumPy reads [2**64 - 1, 1] as float64 (2**64 - 1 rounds up to 2**64)."""
    x = ga.vector("x", "uint64")
    out = ga.function([x], x, mode=mode)([2**64 - 1, 1])
    assert out.tolist() == [2**64 - 1, 1]


def test_downcast_true_still_truncates_python_floats(mode):
    n = ga.scalar("n", "int8")
    f = ga.function([n], n * 1, mode=mode, allow_input_downcast=True)
    assert int(f(-1.7)) == -1 and int(f(127.9)) == 127


def test_inexact_python_float_names_the_fix(mode):
    n = ga.scalar("n", "int8")
    with pytest.raises(ga.GraphadTypeError, match="allow_input_downcast=True") as info:
        ga.function([n], n * 1, mode=mode)(1.5)
    assert not isinstance(info.value, OverflowError)


def test_non_numbers_in_a_list_are_not_read_as_nan(mode):
    x = ga.vector("x", "int8")
    with pytest.raises(TypeError, match="dtype object"):
        ga.function([x], x, mode=mode)([None, 1])


# --- 5. the float -> int cast is the same in every mode ----------------------------------

CAST_VALUES = [np.nan, np.inf, -np.inf, -1e20, 1e20, -1.5, 3.7]
# the edges of each conversion: +-2**31, 2**32, +-2**63, 2**64 and their neighbours
EDGES = [s * 2.0**k + d for k in (31, 32, 33, 63, 64) for s in (1, -1) for d in (-1024, 0, 9)]


@pytest.mark.parametrize("src", ["float64", "float32"])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_float_to_int_cast_agrees_across_modes(src, dtype):
    x = ga.vector("x", src)
    # 4 copies of each value in a row: NumPy's contiguous loops convert in blocks of 4
    values = np.repeat(np.array(CAST_VALUES + EDGES, dtype=src), 4)
    results = {}
    for mode in ("FAST_COMPILE", "FAST_RUN", "DEBUG"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the result is defined: no warning
            results[mode] = ga.function([x], ga.cast(x, dtype), mode=mode)(values)
        assert results[mode].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(results["FAST_RUN"], results["FAST_COMPILE"])
    np.testing.assert_array_equal(results["DEBUG"], results["FAST_COMPILE"])
    fused = ga.function([x], ga.cast(x * 1.0, dtype) + 1, mode="FAST_RUN")(values)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fused, results["FAST_COMPILE"] + np.array(1, dtype))


@pytest.mark.parametrize("src", ["float64", "float32"])
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_float_to_int_cast_is_numpys_on_x86_64(src, dtype):
    """The rule is NumPy's own on x86-64 (NumPy's strided loop, where its contiguous
    loop for uint32 converts NaN and values outside the int32 range otherwise)."""
    if not _X86_64:
        pytest.skip("NumPy's casts of out-of-range values are x86-64's only there")
    powers = [s * 2.0**k * m for k in range(0, 70, 3) for s in (1, -1) for m in (1, 1.3)]
    values = np.array(CAST_VALUES + EDGES + powers, dtype=src)
    with np.errstate(all="ignore"):
        numpy_strided = np.repeat(values, 2)[::2].astype(dtype)
        np.testing.assert_array_equal(float_to_int(values, dtype), numpy_strided)
        if dtype != "uint32":
            np.testing.assert_array_equal(float_to_int(values, dtype), values.astype(dtype))
        # the spelled-out rule used on other machines is the same
        spelled = _x86_float_to_int(values, np.dtype(dtype))
    np.testing.assert_array_equal(spelled, float_to_int(values, dtype))


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_float_to_int_cast_of_in_range_values_truncates(dtype):
    values = np.array(
        [0.0, 0.9, 1.5, 3.7, 100.2, 127.0] + ([] if dtype[0] == "u" else [-1.5, -128.0])
    )
    x = ga.vector("x")
    out = ga.function([x], ga.cast(x, dtype), mode="FAST_RUN")(values)
    np.testing.assert_array_equal(out, np.trunc(values).astype(dtype))


def test_float_to_int_cast_on_the_cuda_backend(emulated_cuda):
    """The CUDA renderer writes the same guarded conversion. (The host emulation
    compiles it as host C++, so this shows it compiles and agrees; on a GPU an
    unguarded conversion would saturate instead.)"""
    x = ga.vector("x", "float32")
    y = ga.vector("y")
    values = np.array(CAST_VALUES + EDGES)
    outs = [ga.cast(x, dt) for dt in ("int8", "uint32")] + [
        ga.cast(y * 1.0, dt) for dt in ("int32", "uint64")
    ]
    gpu = ga.function([x, y], outs)
    ref = ga.function([x, y], outs, mode="FAST_COMPILE")
    with np.errstate(all="ignore"):
        args = (values.astype("float32"), values)
    for got, want in zip(gpu(*args), ref(*args)):
        np.testing.assert_array_equal(got, want)
