"""The C call path of compiled functions (kernels/graphad_runner.h): arguments taken as
they are or through Python's check, errors, output privacy, updates, reference counts,
many inputs and slots, threads, copies. The NumPy reference (FAST_COMPILE) is the oracle."""

from __future__ import annotations

import gc
import pickle
import shutil
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import graphad as ga
from graphad.errors import GraphadIndexError, ShapeError

pytestmark = pytest.mark.skipif(
    shutil.which(ga.config.cc) is None, reason=f"no C compiler ({ga.config.cc!r} not found)"
)


def _both(inputs, outputs, **kwargs):
    """The same graph compiled for FAST_RUN (the runner) and FAST_COMPILE (the oracle)."""
    fast = ga.function(inputs, outputs, **kwargs)
    ref = ga.function(inputs, outputs, mode="FAST_COMPILE", **kwargs)
    assert fast._runner is not None
    return fast, ref


def _raised(f, args, kwargs=None):
    with pytest.raises(Exception) as info:
        f(*args, **(kwargs or {}))
    return info.value


def test_only_fast_run_without_profile_has_a_runner():
    x = ga.vector("x")
    assert ga.function([x], x * 2)._runner is not None
    assert ga.function([x], x * 2)._fast is not None
    assert ga.function([x], x * 2, profile=True)._runner is None
    assert ga.function([x], x * 2, mode="FAST_COMPILE")._runner is None
    assert ga.function([x], x * 2, mode="DEBUG")._runner is None


SCALAR_ARGS = [
    (2.5, 3.0),
    (2, -3),
    (np.float64(2.5), np.array(3.0)),
    (np.float32(1.5), 2.0),  # a float32 scalar: Python's check casts it
    (True, 2**60),  # a bool and an int beyond 2**53: Python's check
    (2**53 + 1, np.array(4, dtype="int32")),
]


@pytest.mark.parametrize("args", SCALAR_ARGS)
def test_scalar_arguments_match_the_reference(args):
    a, b = ga.scalar("a"), ga.scalar("b")
    f, ref = _both([a, b], a * b + 1)
    got, want = f(*args), ref(*args)
    assert type(got) is np.ndarray and got.dtype == want.dtype and got.shape == ()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(f(b=args[1], a=args[0]), want)


def test_exact_arguments_take_the_fast_path_and_others_do_not():
    a, v = ga.scalar("a"), ga.vector("v")
    f = ga.function([a, v], a * v)
    call = f._runner.call
    for args in [(2.0, np.ones(3)), (2, np.ones(3)), (np.float64(2), np.ones(0))]:
        assert call(*args) is not NotImplemented
    for args in [
        (np.float32(2), np.ones(3)),
        (2.0, [1.0, 2.0]),
        (2.0, np.ones(3, dtype="float32")),
        (2.0, np.ones((3, 1))),
        (2.0, np.ones(3).astype(">f8")),
        (2.0, np.ones(3).view(np.recarray)),
        (2**60, np.ones(3)),
        (2.0,),
    ]:
        assert call(*args) is NotImplemented


VECTOR_ARGS = [
    np.linspace(-1, 1, 5),
    np.linspace(-1, 1, 9)[::2],
    np.linspace(-1, 1, 5)[::-1],
    [1.0, -2.0, 3.5],
    np.arange(4, dtype="float32") / 3,
    np.arange(-3, 3),
    np.arange(5.0).astype(">f8"),
    np.arange(5.0).view(type("Sub", (np.ndarray,), {})),
    np.frombuffer(np.arange(3.0).tobytes()),  # read-only
]


@pytest.mark.parametrize("value", VECTOR_ARGS, ids=lambda v: type(v).__name__)
def test_vector_arguments_match_the_reference(value):
    x, c = ga.vector("x"), ga.scalar("c")
    f, ref = _both([x, c], [ga.exp(x) * c, x.sum() - c])
    for got, want in zip(f(value, 1.5), ref(value, 1.5)):
        assert type(got) is np.ndarray and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-15)
    np.testing.assert_allclose(f(c=1.5, x=value)[0], ref(value, 1.5)[0], rtol=1e-15)


BAD_CALLS = [
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), 1, 5.0), {}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2))), {}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), 1), {"z": 1.0}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), 1), {"a": 1.0}),
    ((1.0, np.ones(3), np.ones((3, 2)), 1), {}),  # no float64 -> float32 downcast
    ((1.0, np.ones((3, 1), "float32"), np.ones((3, 2)), 1), {}),
    ((1.0, np.ones(3, "float32"), np.ones((2, 2)), 1), {}),
    ((1.0, np.ones(3, "float32"), np.ones(3), 1), {}),
    (("1.0", np.ones(3, "float32"), np.ones((3, 2)), 1), {}),
    ((None, np.ones(3, "float32"), np.ones((3, 2)), 1), {}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), 2.5), {}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), 2**70), {}),
    ((1.0, np.ones(3, "float32"), np.ones((3, 2)), np.float64(1)), {}),
]


@pytest.mark.parametrize("args, kwargs", BAD_CALLS)
def test_argument_errors_match_the_reference(args, kwargs):
    a, v = ga.scalar("a"), ga.vector("v", dtype="float32")
    m, i = ga.tensor("m", dtype="float64", shape=(3, None)), ga.scalar("i", dtype="int64")
    f, ref = _both([a, v, m, i], a * v.sum() + m.sum() + i)
    got, want = _raised(f, args, kwargs), _raised(ref, args, kwargs)
    assert type(got) is type(want) and isinstance(got, ga.GraphadError)
    assert str(got) == str(want)


def test_bad_argument_applies_no_update():
    x, s = ga.vector("x"), ga.shared(np.arange(3.0), name="s")
    f = ga.function([x], x.sum(), updates=[(s, s + x)])
    before = s.get_value()
    for bad in ([1.0, "a"], np.ones((3, 1)), np.ones(3, "complex128")):
        with pytest.raises(ga.GraphadError):
            f(bad)
    np.testing.assert_array_equal(s.get_value(), before)
    f(np.ones(3))
    np.testing.assert_array_equal(s.get_value(), before + 1)


def test_failing_step_raises_a_shape_error_naming_the_op_and_applies_no_update():
    x, y, s = ga.vector("x"), ga.vector("y"), ga.shared(np.arange(3.0), name="s")
    f = ga.function([x, y], x + y, updates=[(s, s * 2)])
    ref = ga.function([x, y], x + y, mode="FAST_COMPILE")
    before = s.get_value()
    fast = _raised(f, (np.ones(3), np.ones(4)))
    slow = _raised(f, (np.ones(3), [1.0] * 4))  # the same call through Python's check
    assert type(fast) is ShapeError and type(_raised(ref, (np.ones(3), np.ones(4)))) is ShapeError
    assert str(slow) == str(fast)
    assert "add" in str(fast) and "failed" in str(fast) and "float64[4]" in str(fast)
    assert fast.node in f.fgraph.apply_nodes
    np.testing.assert_array_equal(s.get_value(), before)


def test_python_vm_path_matches_the_runner():
    """profile=True runs the same compiled kernels through VM.run."""
    x, y = ga.vector("x"), ga.vector("y")
    outputs = [ga.exp(x) * y, (x - y).sum()]
    f, p = ga.function([x, y], outputs), ga.function([x, y], outputs, profile=True)
    assert p._runner is None
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 100):
        xv, yv = rng.normal(size=n), rng.normal(size=n)
        for got, want in zip(f(xv, yv), p(xv, yv)):
            np.testing.assert_array_equal(got, want)
    got, want = _raised(f, (np.ones(3), np.ones(4))), _raised(p, (np.ones(3), np.ones(4)))
    assert type(got) is type(want) and str(got) == str(want)


def test_numpy_step_error_matches_the_reference():
    x, i = ga.vector("x"), ga.scalar("i", dtype="int64")
    f, ref = _both([x, i], x[i] * 2)
    got, want = _raised(f, (np.ones(3), 5)), _raised(ref, (np.ones(3), 5))
    assert type(got) is type(want) is GraphadIndexError
    assert str(got) == str(want) and "Subtensor" in str(got)
    np.testing.assert_array_equal(f(np.arange(3.0), -1), ref(np.arange(3.0), -1))


def test_output_that_is_an_argument_or_a_view_of_one_is_a_copy():
    x = ga.vector("x")
    f = ga.function([x], [x, x[1:], x[::-1]])
    a = np.arange(4.0)
    outs = f(a)
    for out, want in zip(outs, [a, a[1:], a[::-1]]):
        assert not np.shares_memory(out, a)
        np.testing.assert_array_equal(out, want)


def test_same_output_twice_gives_independent_arrays():
    x = ga.vector("x")
    y = ga.exp(x)
    first, second, tail = ga.function([x], [y, y, y[1:]])(np.arange(3.0))
    assert not np.shares_memory(first, second)
    assert not np.shares_memory(tail, first) and not np.shares_memory(tail, second)
    np.testing.assert_array_equal(first, np.exp(np.arange(3.0)))
    np.testing.assert_array_equal(second, first)


def test_mutating_a_constant_output_does_not_change_the_next_call():
    x = ga.vector("x")
    f = ga.function([x], [x + 1, ga.constant(np.arange(3.0))])
    _, c = f(np.ones(3))
    c[:] = 7.0  # it is the caller's array
    np.testing.assert_array_equal(f(np.ones(3))[1], np.arange(3.0))


def test_outputs_never_alias_shared_values():
    x, s = ga.vector("x"), ga.shared(np.arange(3.0), name="s")
    out = ga.function([x], x * 2, updates=[(s, x * 2)])(np.ones(3))
    assert not np.shares_memory(out, s.get_value(borrow=True))
    np.testing.assert_array_equal(out, s.get_value())
    for got in ga.function([], [s, s[1:]])():
        assert not np.shares_memory(got, s.get_value(borrow=True))


def test_updates_read_old_values():
    a, b = ga.shared(np.zeros(2), name="a"), ga.shared(np.ones(2), name="b")
    f = ga.function([], [a + b, a * 1], updates=[(a, b), (b, a)])
    for k in range(3):
        total, old_a = f()
        np.testing.assert_array_equal(total, np.ones(2))
        np.testing.assert_array_equal(old_a, np.full(2, k % 2))
        np.testing.assert_array_equal(a.get_value(), np.full(2, (k + 1) % 2))
        np.testing.assert_array_equal(b.get_value(), np.full(2, k % 2))


def test_no_reference_leaks():
    x, c, s = ga.vector("x"), ga.scalar("c"), ga.shared(np.ones(3), name="s")
    f = ga.function([x, c], [x * c + s, x])
    a, v, sv = np.arange(3.0), float("1.25"), s.get_value(borrow=True)
    before = [sys.getrefcount(o) for o in (a, v, sv)]
    for _ in range(1000):
        f(a, v)
        f(a, np.float64(v))
        f([0.0, 1.0, 2.0], 2)  # through Python's check
    assert [sys.getrefcount(o) for o in (a, v, sv)] == before
    first, second = f(a, v)
    third = ga.function([x], x + 1)(a)
    counts = [sys.getrefcount(first), sys.getrefcount(second), sys.getrefcount(third)]
    assert counts == [2, 2, 2]  # ours and getrefcount's: nothing else holds a fresh output


def test_failed_calls_and_updates_leak_no_references():
    x, y, s = ga.vector("x"), ga.vector("y"), ga.shared(np.zeros(3), name="s")
    f = ga.function([x, y], x + y, updates=[(s, s + 1)])
    a, b = np.ones(3), np.ones(4)
    before = sys.getrefcount(a), sys.getrefcount(b)
    for _ in range(200):
        with pytest.raises(ShapeError):
            f(a, b)
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(b)) == before
    old = s.get_value(borrow=True)
    held = sys.getrefcount(old)
    f(a, a)
    assert sys.getrefcount(old) == held - 1  # the container let go of the old value


def test_more_than_sixteen_inputs():
    xs = [ga.scalar(f"x{k}") for k in range(20)]
    f, ref = _both(xs, sum(xs[1:], xs[0]) * xs[3])
    assert max(len(ins) for _, ins, *_ in f.maker.vm.steps) > 16
    args = [float(k) / 7 for k in range(20)]
    np.testing.assert_array_equal(f(*args), ref(*args))
    np.testing.assert_array_equal(f(*[np.array(v) for v in args]), ref(*args))


def test_more_than_sixty_four_slots():
    m, w = ga.matrix("m"), ga.matrix("w")
    h = m
    for k in range(40):
        h = ga.tanh(ga.dot(h, w)) + 0.5
        if k % 4 == 0:
            h = h * h.sum(0)
    f, ref = _both([m, w], [h, h.sum()])
    assert f.maker.vm.n_slots > 64
    rng = np.random.default_rng(1)
    mv, wv = rng.normal(size=(3, 3)), rng.normal(size=(3, 3)) * 0.3
    for got, want in zip(f(mv, wv), ref(mv, wv)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_calls_from_several_threads():
    x, c = ga.vector("x"), ga.scalar("c")
    f = ga.function([x, c], ga.exp(x) * c + x.sum())

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(50):
            xv, cv = rng.normal(size=int(rng.integers(1, 200))), float(rng.normal())
            np.testing.assert_allclose(f(xv, cv), np.exp(xv) * cv + xv.sum(), atol=1e-12)
        return seed

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(work, range(4))) == [0, 1, 2, 3]


def test_copies_and_pickles_have_runners():
    x, s = ga.vector("x"), ga.shared(np.arange(3.0), name="s")
    f = ga.function([x], x * s, updates=[(s, s + x)])
    for g in (f.copy(), pickle.loads(pickle.dumps(f))):
        assert g._runner is not None
        g_s = g.shared[0]
        assert (g_s is s) == (g.maker is f.maker)  # a copy shares s, a pickle has its own
        for k in range(3):
            old, xv = g_s.get_value(), np.full(3, float(k))
            np.testing.assert_array_equal(g(xv), xv * old)
            np.testing.assert_array_equal(g_s.get_value(), old + xv)


def test_copy_with_swap_reads_and_updates_the_new_shared():
    x, s = ga.vector("x"), ga.shared(np.arange(3.0), name="s")
    s2 = ga.shared(np.full(3, 10.0), name="s2")
    f = ga.function([x], x * s, updates=[(s, s + x)])
    g = f.copy(swap={s: s2})
    assert g._runner is not None
    np.testing.assert_array_equal(g(np.full(3, 2.0)), np.full(3, 20.0))
    np.testing.assert_array_equal(s2.get_value(), np.full(3, 12.0))
    np.testing.assert_array_equal(s.get_value(), np.arange(3.0))
    np.testing.assert_array_equal(f(np.ones(3)), np.arange(3.0))
    np.testing.assert_array_equal(s2.get_value(), np.full(3, 12.0))


def test_numpy_steps_ignore_floating_point_errors_once_per_call():
    """NaN and Inf are values: a NumPy step (float16 runs on NumPy) dividing by zero
    neither warns nor raises, even under the caller's np.errstate(all="raise")."""
    x = ga.vector("x", dtype="float16")
    f = ga.function([x], [x / 0, ga.log(x)])
    assert f._quiet and f._runner is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            inf, logs = f(np.array([1.0, -1.0, 0.0], dtype="float16"))
            assert np.geterr()["divide"] == "raise"  # the caller's state is back after
    np.testing.assert_array_equal(inf[:2], [np.inf, -np.inf])
    assert np.isnan(inf[2]) and np.isnan(logs[1]) and logs[2] == -np.inf
