"""Tests for the state of compiled functions: updates, shared variables, pickling and
copy, and the arrays handed back to the user (DESIGN §1 "Compiled functions")."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphad as ga
from tests.util import assert_names_input

# --- updates -------------------------------------------------------------------------------


def test_updates_swap_two_shared_variables(mode):
    a = ga.shared(np.array([1.0, 2.0]), name="a")
    b = ga.shared(np.array([3.0, 4.0]), name="b")
    f = ga.function([], [], updates=[(a, b), (b, a)], mode=mode)
    f()
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])
    f()
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])
    np.testing.assert_array_equal(b.get_value(), [3.0, 4.0])


def test_updates_read_old_values_in_any_order(mode):
    a = ga.shared(np.array(2.0), name="a")
    b = ga.shared(np.array(5.0), name="b")
    # b's update reads a: it must see a's value from before this call
    f = ga.function([], [], updates=[(a, a + b), (b, a * 10)], mode=mode)
    f()
    assert float(a.get_value()) == 2.0 + 5.0
    assert float(b.get_value()) == 2.0 * 10


def test_counter_outputs_the_old_value(mode):
    count = ga.shared(np.array(0, dtype="int64"), name="count")
    f = ga.function([], count * 10, updates=[(count, count + 1)], mode=mode)
    results = [int(f()) for _ in range(4)]
    assert results == [0, 10, 20, 30]
    assert int(count.get_value()) == 4
    assert count.get_value().dtype == np.int64


@pytest.mark.parametrize("form", ["pairs", "tuple", "dict"])
def test_updates_forms(mode, form):
    w = ga.shared(np.ones(2), name="w")
    x = ga.vector("x")
    pairs = [(w, w * x)]
    updates = {"pairs": pairs, "tuple": tuple(pairs), "dict": dict(pairs)}[form]
    f = ga.function([x], w.sum(), updates=updates, mode=mode)
    assert float(f([2.0, 3.0])) == 2.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0])


def test_update_target_must_be_shared(mode):
    x = ga.vector("plain_x")
    with pytest.raises(TypeError) as info:
        ga.function([x], x, updates=[(x, x + 1)], mode=mode)
    assert isinstance(info.value, ga.GraphadError)
    assert "plain_x" in str(info.value)


def test_update_must_keep_dtype(mode):
    w = ga.shared(np.zeros(2), name="weights")
    with pytest.raises(TypeError) as info:
        ga.function([], [], updates=[(w, ga.cast(w, "float32"))], mode=mode)
    assert isinstance(info.value, ga.GraphadError)
    assert "weights" in str(info.value)
    assert "float64" in str(info.value)


def test_update_must_keep_rank(mode):
    w = ga.shared(np.zeros(2), name="weights")
    with pytest.raises(TypeError) as info:
        ga.function([], [], updates=[(w, w.sum())], mode=mode)
    assert "weights" in str(info.value)


def test_update_twice_is_rejected(mode):
    w = ga.shared(np.zeros(2), name="weights")
    with pytest.raises((TypeError, ValueError)) as info:
        ga.function([], [], updates=[(w, w + 1), (w, w + 2)], mode=mode)
    assert isinstance(info.value, ga.GraphadError)
    assert "weights" in str(info.value)


def test_update_with_python_number_is_cast(mode):
    w = ga.shared(np.zeros(2), name="w")
    f = ga.function([], [], updates=[(w, w + 1)], mode=mode)
    f()
    np.testing.assert_array_equal(w.get_value(), [1.0, 1.0])


# --- shared variables ----------------------------------------------------------------------


def test_shared_get_value_is_a_copy():
    value = np.arange(3.0)
    w = ga.shared(value, name="w")
    value[0] = 100.0  # ga.shared copied it
    got = w.get_value()
    np.testing.assert_array_equal(got, np.arange(3.0))
    got[1] = 100.0
    np.testing.assert_array_equal(w.get_value(), np.arange(3.0))


def test_shared_borrow_aliases():
    value = np.arange(3.0)
    w = ga.shared(value, name="w", borrow=True)
    assert np.shares_memory(w.get_value(borrow=True), value)
    other = np.ones(3)
    w.set_value(other, borrow=True)
    assert np.shares_memory(w.get_value(borrow=True), other)
    third = np.zeros(3)
    w.set_value(third)
    assert not np.shares_memory(w.get_value(borrow=True), third)
    third[0] = 5.0
    assert float(w.get_value()[0]) == 0.0


def test_shared_set_value_other_dtype_or_rank_raises():
    w = ga.shared(np.zeros((2, 2)), name="wmat")
    with pytest.raises(TypeError) as info:
        w.set_value(np.zeros((2, 2), dtype="float32"))
    assert "wmat" in str(info.value)
    with pytest.raises(TypeError):
        w.set_value(np.zeros(4))
    with pytest.raises(TypeError):
        w.set_value(np.zeros((2, 2), dtype="int64"))
    np.testing.assert_array_equal(w.get_value(), np.zeros((2, 2)))


def test_shared_type_is_fixed_at_creation():
    w = ga.shared(np.zeros((2, 3), dtype="float32"))
    assert w.dtype == "float32" and w.ndim == 2
    i = ga.shared(np.arange(4))
    assert i.dtype == np.arange(4).dtype.name and i.ndim == 1
    s = ga.shared(1.5)
    assert s.ndim == 0 and s.dtype == "float64"


def test_shared_shape_may_change(mode):
    w = ga.shared(np.ones(3), name="w")
    f = ga.function([], w * 2, mode=mode)
    np.testing.assert_array_equal(f(), np.full(3, 2.0))
    w.set_value(np.arange(5.0))
    np.testing.assert_array_equal(f(), np.arange(5.0) * 2)


def test_shared_cannot_be_an_explicit_input(mode):
    w = ga.shared(np.ones(3), name="w")
    with pytest.raises(TypeError):
        ga.function([w], w * 2, mode=mode)


# --- pickling and copy ---------------------------------------------------------------------


def test_pickle_round_trip(mode):
    x = ga.vector("x")
    w = ga.shared(np.array([1.0, 2.0]), name="w")
    f = ga.function([x], (w * x).sum(), updates=[(w, w + x)], mode=mode, name="acc")
    f2, w2 = pickle.loads(pickle.dumps((f, w)))
    assert w2 is not w
    np.testing.assert_array_equal(w2.get_value(), [1.0, 2.0])
    out = f2(np.array([1.0, 1.0]))
    assert float(out) == 3.0
    # the copy updated its own shared state, not the original's
    np.testing.assert_array_equal(w2.get_value(), [2.0, 3.0])
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])
    f(np.array([10.0, 10.0]))
    np.testing.assert_array_equal(w.get_value(), [11.0, 12.0])
    np.testing.assert_array_equal(w2.get_value(), [2.0, 3.0])
    assert float(f2(x=np.array([0.0, 1.0]))) == 3.0


def test_pickle_keeps_shared_values_at_dump_time(mode):
    w = ga.shared(np.array(5.0), name="w")
    f = ga.function([], w * 1, updates=[(w, w + 1)], mode=mode)
    f()
    data = pickle.dumps(f)
    f()
    f()
    g = pickle.loads(data)
    assert float(g()) == 6.0
    assert float(g()) == 7.0
    assert float(w.get_value()) == 8.0


def test_pickled_function_checks_arguments(mode):
    x = ga.vector("xp", dtype="int32")
    f = pickle.loads(pickle.dumps(ga.function([x], x + 1, mode=mode)))
    with pytest.raises(TypeError) as info:
        f(np.ones(2))
    assert_names_input(str(info.value), "xp", 0)


def test_pickle_long_chain(mode):
    x = ga.vector("x")
    y = x
    for k in range(5000):
        y = y + 1.0 if k % 2 else y * 1.0
    w = ga.shared(np.zeros(2), name="w")
    f = ga.function([x], y, updates=[(w, y)], mode=mode)
    g = pickle.loads(pickle.dumps(f))
    start = np.array([1.0, 2.0])
    np.testing.assert_array_equal(g(start), start + 2500)
    np.testing.assert_array_equal(f(start), start + 2500)


def test_copy_swap_rebinds_shared(mode):
    a = ga.shared(np.array(0.0), name="a")
    b = ga.shared(np.array(100.0), name="b")
    x = ga.scalar("x")
    f = ga.function([x], a + x, updates=[(a, a + x)], mode=mode)
    g = f.copy(swap={a: b})
    assert float(g(1.0)) == 101.0
    assert float(b.get_value()) == 101.0
    assert float(a.get_value()) == 0.0
    assert float(f(2.0)) == 2.0
    assert float(a.get_value()) == 2.0
    assert float(b.get_value()) == 101.0
    assert float(g(x=1.0)) == 102.0


def test_copy_without_swap_shares_state(mode):
    a = ga.shared(np.array(0.0), name="a")
    f = ga.function([], a * 1, updates=[(a, a + 1)], mode=mode)
    g = f.copy()
    f()
    assert float(g()) == 1.0
    assert float(a.get_value()) == 2.0


def test_copy_swap_type_mismatch(mode):
    a = ga.shared(np.array(0.0), name="a")
    f = ga.function([], a * 1, mode=mode)
    with pytest.raises(TypeError):
        f.copy(swap={a: ga.shared(np.zeros(2))})
    with pytest.raises(TypeError):
        f.copy(swap={a: ga.shared(np.array(0, dtype="int64"))})


# --- returned arrays -----------------------------------------------------------------------


def test_results_are_not_overwritten_by_later_calls(mode):
    x = ga.vector("x")
    s = ga.scalar("s")
    f = ga.function([x, s], [ga.exp(x) * s, (x * s).sum(), x * 1], mode=mode)
    first = f(np.array([1.0, 2.0]), 2.0)
    kept = [np.array(r, copy=True) for r in first]
    second = f(np.array([3.0, 4.0]), 5.0)
    for before, now in zip(kept, first):
        np.testing.assert_array_equal(now, before)
    for a, b in zip(first, second):
        assert not np.shares_memory(a, b)


def test_output_that_is_an_input_is_a_copy(mode):
    x = ga.vector("x")
    f = ga.function([x], x, mode=mode)
    value = np.array([1.0, 2.0])
    out = f(value)
    np.testing.assert_array_equal(out, value)
    assert not np.shares_memory(out, value)
    out[0] = 50.0
    np.testing.assert_array_equal(value, [1.0, 2.0])


def test_output_that_is_a_shared_variable_is_a_copy(mode):
    w = ga.shared(np.array([1.0, 2.0, 3.0]), name="w")
    f = ga.function([], [w, w[1:], w.T], mode=mode)
    outs = f()
    for out in outs:
        out[0] = 99.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(f()[0], [1.0, 2.0, 3.0])


def test_output_that_is_an_update_value_is_not_the_shared_storage(mode):
    c = ga.shared(np.zeros(3), name="c")
    new = c + 1
    f = ga.function([], new, updates=[(c, new)], mode=mode)
    out = f()
    np.testing.assert_array_equal(out, np.ones(3))
    out[0] = 100.0
    np.testing.assert_array_equal(c.get_value(), np.ones(3))
    np.testing.assert_array_equal(f(), np.full(3, 2.0))


def test_updated_shared_value_does_not_alias_user_input(mode):
    w = ga.shared(np.zeros(2), name="w")
    x = ga.vector("x")
    f = ga.function([x], [], updates=[(w, x)], mode=mode)
    value = np.array([1.0, 2.0])
    f(value)
    value[0] = 7.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


def test_update_from_another_shared_variable_does_not_alias_it(mode):
    a = ga.shared(np.zeros(2), name="a")
    b = ga.shared(np.array([1.0, 2.0]), name="b")
    f = ga.function([], [], updates=[(a, b)], mode=mode)
    f()
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])
    assert not np.shares_memory(a.get_value(borrow=True), b.get_value(borrow=True))
    b.get_value(borrow=True)[0] = 9.0
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])


def test_get_value_after_call_is_not_the_returned_array(mode):
    w = ga.shared(np.zeros(2), name="w")
    f = ga.function([], w + 1, updates=[(w, w + 1)], mode=mode)
    out = f()
    held = w.get_value(borrow=True)
    out[1] = 42.0
    assert float(held[1]) == 1.0
