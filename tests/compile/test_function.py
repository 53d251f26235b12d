"""Tests for ga.function and Function (DESIGN §1 "Compiled functions") on every mode
that runs the NumPy reference backend."""

from __future__ import annotations

import os
import pickle
import re
import sys
import warnings

import numpy as np
import pytest

import graphad as ga
from tests.util import assert_names_input

THIS_FILE = os.path.basename(__file__)


def _line_above():
    """The line number just above the caller's current line."""
    return sys._getframe(1).f_lineno - 1


# --- arguments ---------------------------------------------------------------------------


def test_positional_and_keyword_arguments(mode):
    x, y = ga.scalar("x"), ga.scalar("y")
    f = ga.function([x, y], x - 2 * y, mode=mode)
    expected = 5.0 - 2 * 3.0
    assert float(f(5.0, 3.0)) == expected
    assert float(f(x=5.0, y=3.0)) == expected
    assert float(f(y=3.0, x=5.0)) == expected
    assert float(f(5.0, y=3.0)) == expected


def test_vector_arguments_and_result(mode):
    x = ga.vector("x")
    w = ga.matrix("w")
    f = ga.function([w, x], ga.dot(w, x) + 1, mode=mode)
    rng = np.random.default_rng(0)
    wv, xv = rng.normal(size=(4, 3)), rng.normal(size=3)
    out = f(wv, xv)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, wv @ xv + 1)
    np.testing.assert_allclose(f(x=xv, w=wv), wv @ xv + 1)


def test_missing_argument_names_the_input(mode):
    x, y = ga.scalar("x"), ga.scalar("yvalue")
    f = ga.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(1.0)
    assert_names_input(str(info.value), "yvalue", 1)
    with pytest.raises(TypeError) as info:
        f(yvalue=1.0)
    assert isinstance(info.value, ga.GraphadError)
    assert re.search(r"\bx\b", str(info.value)), str(info.value)


def test_too_many_positional_arguments(mode):
    x, y = ga.scalar("x"), ga.scalar("y")
    f = ga.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(1.0, 2.0, 3.0)
    assert isinstance(info.value, ga.GraphadError)
    assert "2" in str(info.value) and "3" in str(info.value)


def test_unknown_keyword_names_it(mode):
    x, y = ga.scalar("x"), ga.scalar("y")
    f = ga.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(1.0, zeta=2.0)
    assert isinstance(info.value, ga.GraphadError)
    assert "zeta" in str(info.value)


def test_duplicate_argument_names_the_input(mode):
    x, y = ga.scalar("alpha"), ga.scalar("beta")
    f = ga.function([x, y], x + y, mode=mode)
    with pytest.raises(TypeError) as info:
        f(1.0, 2.0, alpha=3.0)
    assert isinstance(info.value, ga.GraphadError)
    assert "alpha" in str(info.value)


def test_inputs_must_be_variables(mode):
    x = ga.scalar("x")
    with pytest.raises(TypeError):
        ga.function([x, 3.0], x, mode=mode)
    with pytest.raises(TypeError):
        ga.function([ga.constant(2.0)], x, mode=mode)


def test_missing_input_in_graph_names_it(mode):
    x, hidden = ga.scalar("x"), ga.scalar("hidden_var")
    with pytest.raises(ValueError) as info:
        ga.function([x], x + hidden, mode=mode)
    assert "hidden_var" in str(info.value)


# --- outputs -------------------------------------------------------------------------------


def test_single_output_returns_an_array(mode):
    x = ga.vector("x")
    f = ga.function([x], x * 2, mode=mode)
    out = f([1.0, 2.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, np.array([1.0, 2.0]) * 2)


def test_list_output_returns_a_list(mode):
    x = ga.vector("x")
    f = ga.function([x], [x * 2, x.sum()], mode=mode)
    out = f([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_array_equal(out[0], np.array([1.0, 2.0]) * 2)
    assert float(out[1]) == 3.0
    one = ga.function([x], [x * 2], mode=mode)([1.0])
    assert isinstance(one, list) and len(one) == 1


def test_tuple_output_returns_a_sequence(mode):
    x = ga.vector("x")
    f = ga.function([x], (x + 1, x - 1), mode=mode)
    out = f([1.0, 2.0])
    assert isinstance(out, (list, tuple)) and len(out) == 2
    np.testing.assert_array_equal(out[0], [2.0, 3.0])
    np.testing.assert_array_equal(out[1], [0.0, 1.0])


def test_output_dtype_follows_the_graph(mode):
    x = ga.vector("x", dtype="float32")
    i = ga.vector("i", dtype="int32")
    f = ga.function([x, i], [x * 2.0, i + 1, x > 0], mode=mode)
    a, b, c = f(np.ones(2, "float32"), np.ones(2, "int32"))
    assert a.dtype == np.float32
    assert b.dtype == np.int32
    assert c.dtype == np.bool_


def test_output_that_is_a_constant(mode):
    value = np.arange(3.0)
    f = ga.function([], ga.constant(value), mode=mode)
    out = f()
    np.testing.assert_array_equal(out, value)
    out[0] = 99.0
    np.testing.assert_array_equal(f(), value)


def test_outputs_empty_with_only_updates(mode):
    w = ga.shared(np.zeros(3), name="w")
    x = ga.vector("x")
    f = ga.function([x], [], updates=[(w, w + x)], mode=mode)
    assert f(np.ones(3)) == []
    assert f(np.full(3, 2.0)) == []
    np.testing.assert_array_equal(w.get_value(), np.full(3, 3.0))


# --- givens --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "pairs"])
def test_givens_replace_a_free_variable_by_an_expression(mode, form):
    x, y = ga.vector("x"), ga.vector("y")
    pairs = [(x, y * 3)]
    givens = dict(pairs) if form == "dict" else pairs
    f = ga.function([y], x + 1, givens=givens, mode=mode)
    np.testing.assert_array_equal(f([1.0, 2.0]), np.array([1.0, 2.0]) * 3 + 1)


@pytest.mark.parametrize("form", ["dict", "pairs"])
def test_givens_replace_a_shared_variable(mode, form):
    w = ga.shared(np.array([10.0, 20.0]), name="w")
    x = ga.vector("x")
    pairs = [(w, x)]
    givens = dict(pairs) if form == "dict" else pairs
    f = ga.function([x], w * 2, givens=givens, mode=mode)
    np.testing.assert_array_equal(f([1.0, 2.0]), [2.0, 4.0])
    # the shared variable itself is untouched and still works elsewhere
    g = ga.function([], w * 2, mode=mode)
    np.testing.assert_array_equal(g(), [20.0, 40.0])


def test_givens_replace_a_free_variable_by_a_shared_one(mode):
    x = ga.vector("x")
    w = ga.shared(np.array([1.0, 2.0]), name="w")
    f = ga.function([], x.sum(), givens={x: w}, mode=mode)
    assert float(f()) == 3.0
    w.set_value(np.array([5.0, 6.0, 7.0]))
    assert float(f()) == 18.0


def test_givens_with_updates(mode):
    w = ga.shared(np.array(1.0), name="w")
    lr = ga.scalar("lr")
    step = ga.scalar("step")
    f = ga.function([step], [], updates=[(w, w - lr)], givens={lr: step * 2}, mode=mode)
    f(0.25)
    assert float(w.get_value()) == 1.0 - 0.5


def test_givens_type_mismatch_is_rejected(mode):
    x = ga.vector("xin")
    m = ga.matrix("m")
    with pytest.raises(TypeError) as info:
        ga.function([m], x * 2, givens={x: m}, mode=mode)
    assert "xin" in str(info.value)


# --- on_unused_input -----------------------------------------------------------------------


def test_unused_input_raises_by_default(mode):
    x, unused = ga.vector("x"), ga.vector("not_needed")
    with pytest.raises(ValueError) as info:
        ga.function([x, unused], x * 2, mode=mode)
    assert isinstance(info.value, ga.GraphadError)
    assert "not_needed" in str(info.value)
    with pytest.raises(ValueError):
        ga.function([x, unused], x * 2, mode=mode, on_unused_input="raise")


def test_unused_input_warn(mode):
    x, unused = ga.vector("x"), ga.vector("not_needed")
    with pytest.warns(UserWarning, match="not_needed"):
        f = ga.function([x, unused], x * 2, mode=mode, on_unused_input="warn")
    np.testing.assert_array_equal(f([1.0], [5.0, 6.0]), [2.0])


def test_unused_input_ignore(mode):
    x, unused = ga.vector("x"), ga.vector("not_needed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = ga.function([x, unused], x * 2, mode=mode, on_unused_input="ignore")
    np.testing.assert_array_equal(f([1.0], [5.0, 6.0]), [2.0])
    # it is still an input: it must be given and is still checked
    with pytest.raises(TypeError):
        f([1.0])


def test_unused_input_bad_policy(mode):
    x = ga.vector("x")
    with pytest.raises(ValueError):
        ga.function([x], x, mode=mode, on_unused_input="sometimes")


def test_input_used_only_by_an_update_is_used(mode):
    x = ga.vector("x")
    w = ga.shared(np.zeros(2), name="w")
    f = ga.function([x], [], updates=[(w, x)], mode=mode)
    f([1.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


# --- allow_input_downcast ------------------------------------------------------------------


def test_default_casts_python_scalars_and_lists(mode):
    x32 = ga.vector("x32", dtype="float32")
    s32 = ga.scalar("s32", dtype="float32")
    i32 = ga.vector("i32", dtype="int32")
    f = ga.function([x32, s32, i32], [x32 * s32, i32 + 1], mode=mode)
    a, b = f([0.1, 0.2], 0.3, [1, 2])
    assert a.dtype == np.float32 and b.dtype == np.int32
    expected = np.array([0.1, 0.2], "float32") * np.float32(0.3)
    np.testing.assert_array_equal(a, expected)
    np.testing.assert_array_equal(b, [2, 3])


def test_default_python_int_for_float_input(mode):
    x = ga.scalar("x", dtype="float32")
    f = ga.function([x], x * 2, mode=mode)
    out = f(3)
    assert out.dtype == np.float32 and float(out) == 6.0


def test_default_rejects_inexact_python_float_for_int_input(mode):
    n = ga.scalar("n", dtype="int64")
    w = ga.shared(np.array(0, dtype="int64"), name="w")
    f = ga.function([n], n + 1, updates=[(w, w + n)], mode=mode)
    with pytest.raises(TypeError) as info:
        f(2.5)
    assert_names_input(str(info.value), "n", 0)
    with pytest.raises(TypeError):
        f([2.5])
    assert int(w.get_value()) == 0
    assert int(f(2)) == 3


@pytest.mark.parametrize(
    ("value_dtype", "input_dtype"),
    [("int32", "int64"), ("float32", "float64"), ("int8", "int32"), ("uint8", "int16")],
)
def test_default_accepts_safe_array_casts(mode, value_dtype, input_dtype):
    x = ga.vector("x", dtype=input_dtype)
    f = ga.function([x], x * 2, mode=mode)
    value = np.array([1, 2, 3], dtype=value_dtype)
    out = f(value)
    assert out.dtype == np.dtype(input_dtype)
    np.testing.assert_array_equal(out, value.astype(input_dtype) * 2)


@pytest.mark.parametrize(
    ("value_dtype", "input_dtype"),
    [
        ("int64", "int32"),
        ("float64", "float32"),
        ("float64", "int64"),
        ("float32", "int32"),
        ("int64", "float32"),
        ("complex128", "float64"),
    ],
)
@pytest.mark.parametrize("downcast", [None, False])
def test_unsafe_array_casts_are_rejected(mode, value_dtype, input_dtype, downcast):
    x = ga.vector("xv", dtype=input_dtype)
    f = ga.function([x], x * 2, mode=mode, allow_input_downcast=downcast)
    with pytest.raises(TypeError) as info:
        f(np.array([1, 2, 3], dtype=value_dtype))
    assert isinstance(info.value, ga.GraphadError)
    assert_names_input(str(info.value), "xv", 0)
    assert input_dtype in str(info.value)


def test_allow_input_downcast_true_allows_any_cast(mode):
    x = ga.vector("x", dtype="float32")
    n = ga.scalar("n", dtype="int32")
    f = ga.function([x, n], [x * 2, n + 1], mode=mode, allow_input_downcast=True)
    value = np.array([0.1, 0.2], dtype="float64")
    a, b = f(value, 2.5)
    assert a.dtype == np.float32 and b.dtype == np.int32
    np.testing.assert_array_equal(a, value.astype("float32") * 2)
    assert int(b) == int(np.array(2.5).astype("int32")) + 1
    a, b = f(np.array([1, 2], dtype="int64"), np.int64(7))
    np.testing.assert_array_equal(a, [2.0, 4.0])
    assert int(b) == 8


def test_allow_input_downcast_false_exact_or_safe_only(mode):
    x = ga.vector("x", dtype="float32")
    y = ga.vector("y", dtype="float64")
    f = ga.function([x, y], [x * 2, y * 2], mode=mode, allow_input_downcast=False)
    a, b = f(np.ones(2, "float32"), np.ones(2, "float32"))
    assert a.dtype == np.float32 and b.dtype == np.float64
    with pytest.raises(TypeError) as info:
        f([0.1, 0.2], np.ones(2))  # a Python float is a float64: not safe for float32
    assert_names_input(str(info.value), "x", 0)
    a, b = f(np.ones(2, "float32"), [1, 2])  # int64 -> float64 is safe
    np.testing.assert_array_equal(b, [2.0, 4.0])


def test_allow_input_downcast_bad_value(mode):
    x = ga.vector("x")
    with pytest.raises(TypeError):
        ga.function([x], x, mode=mode, allow_input_downcast="yes")


# --- argument validation before anything runs ----------------------------------------------


def _guarded_function(mode):
    """f(a, b) with b of static shape (None, 3); every call adds a.sum() to a shared
    counter, so a call that is wrongly partly run is visible."""
    a = ga.vector("avec")
    b = ga.tensor("bmat", "float64", shape=(None, 3))
    n = ga.scalar("count", dtype="int64")
    total = ga.shared(np.array(0.0), name="total")
    seen = ga.shared(np.array(0, dtype="int64"), name="seen")
    f = ga.function(
        [a, b, n],
        (a.sum() + b.sum()) * n,
        updates=[(total, total + a.sum()), (seen, seen + 1)],
        mode=mode,
    )
    return f, total, seen


BAD_B = [
    pytest.param(np.ones((2, 3), dtype="complex128"), TypeError, id="wrong-dtype"),
    pytest.param(np.ones(3), TypeError, id="wrong-ndim-low"),
    pytest.param(np.ones((2, 3, 1)), TypeError, id="wrong-ndim-high"),
    pytest.param(np.ones((2, 4)), ValueError, id="static-size"),
    pytest.param(np.array([[1, "a", 2]], dtype=object), TypeError, id="object-array"),
    pytest.param("abc", TypeError, id="string"),
    pytest.param(None, TypeError, id="none"),
    pytest.param([[1.0, 2.0], [3.0]], (TypeError, ValueError), id="ragged-list"),
    pytest.param({"a": 1}, TypeError, id="dict"),
]


@pytest.mark.parametrize(("bad", "error"), BAD_B)
def test_bad_argument_is_rejected_before_anything_runs(mode, bad, error):
    f, total, seen = _guarded_function(mode)
    good_a, good_b = np.ones(2), np.ones((4, 3))
    with pytest.raises(error) as info:
        f(good_a, bad, 1)
    assert isinstance(info.value, ga.GraphadError)
    assert_names_input(str(info.value), "bmat", 1)
    with pytest.raises(error):
        f(avec=good_a, bmat=bad, count=1)
    assert float(total.get_value()) == 0.0
    assert int(seen.get_value()) == 0
    # the function still works afterwards
    out = f(good_a, good_b, 2)
    assert float(out) == (good_a.sum() + good_b.sum()) * 2
    assert int(seen.get_value()) == 1


def test_bad_last_argument_applies_no_update(mode):
    f, total, seen = _guarded_function(mode)
    with pytest.raises(TypeError) as info:
        f(np.ones(2), np.ones((1, 3)), 1.5)
    assert_names_input(str(info.value), "count", 2)
    assert float(total.get_value()) == 0.0 and int(seen.get_value()) == 0


def test_known_static_size_mismatch_is_a_value_error(mode):
    m = ga.tensor("mm", "float64", shape=(2, None))
    f = ga.function([m], m.sum(), mode=mode)
    assert float(f(np.ones((2, 5)))) == 10.0
    with pytest.raises(ValueError) as info:
        f(np.ones((3, 5)))
    assert isinstance(info.value, ga.GraphadError)
    assert_names_input(str(info.value), "mm", 0)


def test_bool_input_rejects_floats(mode):
    b = ga.vector("flags", dtype="bool")
    f = ga.function([b], ga.logical_not(b), mode=mode)
    np.testing.assert_array_equal(f(np.array([True, False])), [False, True])
    with pytest.raises(TypeError):
        f(np.array([0.5, 1.0]))


# --- errors inside a node ------------------------------------------------------------------


def test_runtime_reshape_error_names_op_shapes_and_user_line(mode):
    x = ga.vector("x")
    y = x.reshape((2, 3))
    line = _line_above()
    f = ga.function([x], y * 2, mode=mode)
    np.testing.assert_array_equal(f(np.arange(6.0)), np.arange(6.0).reshape(2, 3) * 2)
    with pytest.raises(ValueError) as info:
        f(np.ones(13))
    message = str(info.value)
    assert isinstance(info.value, ga.GraphadError)
    assert "reshape" in message.lower()
    assert re.search(r"[\[(]13[,\])]", message), message
    assert f"{THIS_FILE}:{line}" in message, message


def test_runtime_index_error_names_op_shapes_and_user_line(mode):
    x = ga.vector("x")
    i = ga.scalar("i", dtype="int64")
    y = x[i]
    line = _line_above()
    f = ga.function([x, i], y + 1, mode=mode)
    assert float(f(np.arange(11.0), 4)) == 5.0
    assert float(f(np.arange(11.0), -1)) == 11.0
    with pytest.raises(IndexError) as info:
        f(np.arange(11.0), 11)
    message = str(info.value)
    assert isinstance(info.value, ga.GraphadError)
    assert type(y.owner.op).__name__.lower() in message.lower(), message
    assert re.search(r"[\[(]11[,\])]", message), message
    assert f"{THIS_FILE}:{line}" in message, message


def test_runtime_error_applies_no_update(mode):
    x = ga.vector("x")
    w = ga.shared(np.array(1.0), name="w")
    f = ga.function([x], x.reshape((2, 2)), updates=[(w, w + 1)], mode=mode)
    with pytest.raises(ValueError):
        f(np.ones(5))
    assert float(w.get_value()) == 1.0
    f(np.ones(4))
    assert float(w.get_value()) == 2.0


def test_runtime_broadcast_error(mode):
    x, y = ga.vector("x"), ga.vector("y")
    z = x + y
    line = _line_above()
    f = ga.function([x, y], z, mode=mode)
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4))
    assert f"{THIS_FILE}:{line}" in str(info.value)


# --- the compiled graph --------------------------------------------------------------------


def test_fgraph(mode):
    x, y = ga.vector("x"), ga.vector("y")
    f = ga.function([x, y], [ga.exp(x) * y, y.sum()], mode=mode)
    fg = f.maker.fgraph
    assert f.fgraph is fg
    assert [v.name for v in fg.inputs] == ["x", "y"]
    assert [v.type for v in fg.inputs] == [x.type, y.type]
    assert len(fg.outputs) == 2
    order = fg.toposort()
    assert set(order) == set(fg.apply_nodes)
    assert len(order) == len(fg.apply_nodes) > 0
    position = {node: k for k, node in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if inp.owner is not None:
                assert position[inp.owner] < position[node]
    for out in fg.outputs:
        assert out.owner in fg.apply_nodes


# --- DEBUG mode, eval, profile -------------------------------------------------------------


def test_debug_mode_raises_on_nan_from_finite_inputs():
    x = ga.vector("x")
    y = ga.log(x)
    line = _line_above()
    f = ga.function([x], y + 1, mode="DEBUG")
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), np.log([1.0, 2.0]) + 1)
    with pytest.raises(FloatingPointError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f(np.array([1.0, -1.0]))
    message = str(info.value)
    assert isinstance(info.value, ga.GraphadError)
    assert "log" in message
    assert f"{THIS_FILE}:{line}" in message, message


def test_debug_mode_raises_on_inf_from_finite_inputs():
    x = ga.vector("x")
    y = ga.exp(x)
    line = _line_above()
    f = ga.function([x], y.sum(), mode="DEBUG")
    with pytest.raises(FloatingPointError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f(np.array([1.0, 1000.0]))
    assert "exp" in str(info.value)
    assert f"{THIS_FILE}:{line}" in str(info.value)


def test_debug_mode_passes_nan_inputs_through():
    x = ga.vector("x")
    f = ga.function([x], x + 1, mode="DEBUG")
    out = f(np.array([np.nan, 1.0]))
    assert np.isnan(out[0]) and out[1] == 2.0


def test_debug_mode_applies_no_update_on_nan():
    x = ga.vector("x")
    w = ga.shared(np.array(0.0), name="w")
    f = ga.function([x], ga.sqrt(x), updates=[(w, w + 1)], mode="DEBUG")
    with pytest.raises(FloatingPointError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f(np.array([-4.0]))
    assert float(w.get_value()) == 0.0


def test_unknown_mode_is_rejected():
    x = ga.vector("x")
    with pytest.raises(ValueError) as info:
        ga.function([x], x, mode="TURBO")
    assert "TURBO" in str(info.value) and "FAST_RUN" in str(info.value)


def test_eval():
    x, y = ga.scalar("x"), ga.vector("y")
    assert float((x * 2).eval({x: 3.0})) == 6.0
    np.testing.assert_array_equal((x + y).eval({x: 1.0, y: [1.0, 2.0]}), [2.0, 3.0])
    assert float(ga.constant(4.0).eval()) == 4.0
    w = ga.shared(np.array([1.0, 2.0]))
    np.testing.assert_array_equal((w * 3).eval(), [3.0, 6.0])
    with pytest.raises(ValueError):
        (x + y).eval({x: 1.0})


def test_profile_summary_names_the_ops(mode):
    x = ga.vector("x")
    f = ga.function([x], ga.tanh(x).sum(), mode=mode, profile=True)
    for _ in range(3):
        f(np.ones(5))
    text = f.profile.summary()
    assert isinstance(text, str)
    assert "tanh" in text.lower()
    assert "sum" in text.lower()
    assert "3" in text


def test_function_name_in_errors(mode):
    x = ga.vector("x")
    f = ga.function([x], x, mode=mode, name="my_step")
    with pytest.raises(TypeError) as info:
        f()
    assert "my_step" in str(info.value)


def test_python_int_out_of_range_for_small_int_input_is_rejected(mode):
    b = ga.scalar("small", dtype="int8")
    f = ga.function([b], b + 1, mode=mode)
    assert int(f(100)) == 101
    with pytest.raises((TypeError, ValueError)) as info:
        f(300)
    assert isinstance(info.value, ga.GraphadError)
    assert "small" in str(info.value)


def test_non_contiguous_and_read_only_arguments(mode):
    m = ga.matrix("m")
    v = ga.vector("v")
    f = ga.function([m, v], [ga.dot(m, v), m * 1], mode=mode)
    base = np.arange(12.0).reshape(3, 4)
    vec = np.arange(6.0)[::2]
    vec.flags.writeable = False
    prod, copy = f(base.T, vec)
    np.testing.assert_array_equal(prod, base.T @ vec)
    np.testing.assert_array_equal(copy, base.T)
    copy[0, 0] = -1.0
    assert base[0, 0] == 0.0


def test_output_shared_variable_with_its_update_returns_old_value(mode):
    w = ga.shared(np.array([1.0, 2.0]), name="w")
    f = ga.function([], w, updates=[(w, w * 3)], mode=mode)
    out = f()
    np.testing.assert_array_equal(out, [1.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [3.0, 6.0])
    out[0] = 100.0
    np.testing.assert_array_equal(w.get_value(), [3.0, 6.0])


def test_pickle_a_copy_with_swapped_shared(mode):
    a = ga.shared(np.array(0.0), name="a")
    b = ga.shared(np.array(10.0), name="b")
    f = ga.function([], a * 1, updates=[(a, a + 1)], mode=mode)
    g2, b2 = pickle.loads(pickle.dumps((f.copy(swap={a: b}), b)))
    assert float(g2()) == 10.0
    assert float(b2.get_value()) == 11.0
    assert float(b.get_value()) == 10.0 and float(a.get_value()) == 0.0


def test_pickled_debug_function_still_checks():
    x = ga.vector("x")
    f = pickle.loads(pickle.dumps(ga.function([x], ga.log(x), mode="DEBUG")))
    with pytest.raises(FloatingPointError), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        f(np.array([-1.0]))


def test_pickled_profile_function(mode):
    x = ga.vector("x")
    f = ga.function([x], ga.exp(x), mode=mode, profile=True)
    f(np.ones(2))
    g = pickle.loads(pickle.dumps(f))
    g(np.ones(2))
    assert "exp" in g.profile.summary()


def test_givens_replace_by_a_value(mode):
    lr = ga.scalar("lr")
    x = ga.vector("x")
    f = ga.function([x], x * lr, givens={lr: 0.5}, mode=mode)
    np.testing.assert_array_equal(f([2.0, 4.0]), [1.0, 2.0])


def test_device_cuda_warns_that_functions_run_on_the_cpu(monkeypatch):
    from graphad.compile import maker

    monkeypatch.setattr(maker, "_warned", set())
    monkeypatch.setattr(ga.config, "device", "cuda")
    x = ga.vector("x")
    with pytest.warns(UserWarning, match="device=cuda.*run on the CPU"):
        f = ga.function([x], x + 1)
    np.testing.assert_array_equal(f([1.0, 2.0]), [2.0, 3.0])
