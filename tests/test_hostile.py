"""Hostile calls that could crash a compiled backend: each runs in a child interpreter, so
a crash (segfault, SIGFPE, abort) or a hang fails one test instead of the whole run.

The child script calls ``report(fn)`` for each case; ``report`` prints one ``RESULT``
line of JSON: the exception's class names (``__mro__``) and message, or the value. The
parent asserts that the child exited with status 0 and checks each result against NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphad as ga

TIMEOUT_S = 60
MODES = ("FAST_COMPILE", "FAST_RUN")
_PRELUDE = """
import json, sys, warnings
try:  # a runaway allocation must fail, not swap the machine to death
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (16 * 2**30, resource.RLIM_INFINITY))
except (ImportError, ValueError, OSError):
    pass
import numpy as np
import graphad as ga

MODE = {mode!r}


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    arr = np.asarray(value)
    return {{"dtype": arr.dtype.name, "shape": list(arr.shape),
             "data": arr.astype(object).tolist() if arr.dtype.kind in "biu" else
             [repr(float(v)) for v in arr.reshape(-1)] if arr.dtype.kind == "f" else None}}


def report(fn):
    try:
        value = fn()
    except BaseException as e:
        line = {{"raised": True, "mro": [c.__name__ for c in type(e).__mro__],
                 "message": str(e)}}
    else:
        line = {{"raised": False, "value": _plain(value)}}
    print("RESULT " + json.dumps(line), flush=True)


def fn(inputs, outputs):
    return ga.function(inputs, outputs, mode=MODE)
"""


def run_child(body, mode="FAST_COMPILE", timeout=TIMEOUT_S):
    """Run ``body`` (after the prelude) in a fresh interpreter; return its RESULT lines."""
    script = _PRELUDE.format(mode=mode) + textwrap.dedent(body)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(ga.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child interpreter hung for more than {timeout} s running:\n{body}")
    signal = f" (signal {-proc.returncode})" if proc.returncode < 0 else ""
    assert proc.returncode == 0, (
        f"the child interpreter died with status {proc.returncode}{signal}\n"
        f"stdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return [json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def assert_raised(result, cls_names, *fragments):
    """The child raised a GraphadError that is one of ``cls_names``, and its message
    contains every fragment (a fragment may be a tuple of alternatives)."""
    cls_names = (cls_names,) if isinstance(cls_names, str) else cls_names
    assert result["raised"], f"expected {cls_names}, but the call returned {result['value']}"
    mro, message = result["mro"], result["message"]
    assert "GraphadError" in mro, f"not a graphad error: {mro}: {message}"
    assert any(c in mro for c in cls_names), f"expected {cls_names}, got {mro}: {message}"
    for frag in fragments:
        options = frag if isinstance(frag, tuple) else (frag,)
        assert any(o in message for o in options), f"{options} not in message:\n{message}"


def values_of(result):
    """The arrays a child returned (one or a list)."""
    assert not result["raised"], f"unexpected {result['mro'][0]}: {result['message']}"

    def decode(v):
        if isinstance(v, list):
            return [decode(x) for x in v]
        data = v["data"]
        if data is None:
            return np.empty(v["shape"], dtype=v["dtype"])
        if np.dtype(v["dtype"]).kind == "f":
            data = [float(x) for x in data]
        return np.array(data, dtype=v["dtype"]).reshape(v["shape"])

    return decode(result["value"])


# --- shapes that do not broadcast at run time ---------------------------------------------
def test_runtime_shapes_that_do_not_broadcast(mode):
    results = run_child(
        """
        a, b = ga.matrix("a"), ga.matrix("b")
        v, i = ga.vector("v"), ga.vector("i", "int64")
        A, B = np.ones((2, 3)), np.ones((4, 3))
        report(lambda: fn([a, b], a + b)(A, B))
        report(lambda: fn([a, b], ga.switch(a > 0, a, b))(A, B))
        report(lambda: fn([a, b], ga.grad((a * b).sum(), a))(A, B))
        report(lambda: fn([a, b], ga.concatenate([a, b], axis=1))(A, B))
        report(lambda: fn([a], ga.broadcast_to(a, (4, 5)))(A))
        report(lambda: fn([a], a.reshape((5,)))(A))
        report(lambda: fn([a, b], ga.dot(a, b))(A, B))
        report(lambda: fn([v, i, a], ga.set_subtensor(v[i], a[0]))(np.ones(5), [0, 1], A))
        report(lambda: fn([v, i, a], ga.inc_subtensor(v[i], a[0]))(np.ones(5), [0, 1], A))
        report(lambda: fn([a, b], a + b)(np.ones((2, 3)), np.ones((1, 3))))
        """,
        mode,
    )
    assert len(results) == 10
    for r in results[:3]:
        assert_raised(r, "ShapeError", ("(2,3)", "(2, 3)"), ("(4,3)", "(4, 3)"), "built at")
    assert_raised(results[3], "ShapeError", "concatenate", "built at")
    assert_raised(results[4], "ShapeError", "broadcast", ("(4,5)", "(4, 5)"))
    assert_raised(results[5], "ShapeError", ("(2, 3)", "(2,3)"), "5")
    assert_raised(results[6], "ValueError", ("3", "4"), "built at")
    for r in results[7:9]:
        assert_raised(r, "ValueError", "Subtensor", "built at")
    np.testing.assert_array_equal(values_of(results[9]), np.full((2, 3), 2.0))


# --- out-of-range indices ------------------------------------------------------------
INDEX_CASES = [
    # expression over v (length 3), m (2 x 4), s (int64 scalar), i (int64 vector); s; i; bad
    ("v[s]", 3, [0], 3),
    ("v[s]", -4, [0], -4),
    ("v[s]", 2**63 - 1, [0], 2**63 - 1),
    ("v[s]", -(2**63), [0], -(2**63)),
    ("v[i]", 0, [0, 3], 3),
    ("v[i]", 0, [-4, 0], -4),
    ("v[i]", 0, [10**12], 10**12),
    ("m[:, s]", 4, [0], 4),
    ("m[i, 0]", 0, [2], 2),
    ("m[s, i]", 0, [0, -5], -5),
    ("ga.set_subtensor(v[s], 1.0)", 3, [0], 3),
    ("ga.set_subtensor(v[i], 1.0)", 0, [1, -4], -4),
    ("ga.inc_subtensor(v[i], 1.0)", 0, [0, 0, 5], 5),
    ("ga.inc_subtensor(m[i], 1.0)", 0, [7], 7),
    ("ga.take(v, i)", 0, [3], 3),
    ("ga.take(m, i, axis=1)", 0, [-5], -5),
]


@pytest.mark.parametrize("expr, scalar, array, bad", INDEX_CASES, ids=lambda v: str(v))
def test_out_of_range_index_raises_index_error(expr, scalar, array, bad):
    (result,) = run_child(
        f"""
        from graphad.graph.traversal import ancestors
        v, m = ga.vector("v"), ga.matrix("m")
        s, i = ga.scalar("s", "int64"), ga.vector("i", "int64")
        out = {expr}
        inputs = [x for x in (v, m, s, i) if x in ancestors([out])]
        given = {{v: np.zeros(3), m: np.zeros((2, 4)), s: {scalar}, i: np.array({array})}}
        report(lambda: fn(inputs, out)(*[given[x] for x in inputs]))
        """
    )
    assert_raised(result, "IndexError", ("out of bounds", "out of range"), str(bad))


def test_uint64_index_beyond_int64_is_out_of_range():
    (result, wrapped) = run_child(
        """
        v = ga.vector("v")
        u, w = ga.scalar("u", "uint64"), ga.vector("w", "uint64")
        report(lambda: fn([v, u], v[u])(np.arange(3.0), np.uint64(2**64 - 1)))
        report(lambda: fn([v, w], v[w])(np.arange(3.0), np.array([2**64 - 1], dtype="uint64")))
        """
    )
    assert_raised(result, "IndexError", str(2**64 - 1))
    # NumPy converts a uint64 index array to intp, so 2**64 - 1 reads entry -1; match it
    expected = np.arange(3.0)[np.array([2**64 - 1], dtype="uint64")]
    np.testing.assert_array_equal(values_of(wrapped), expected)


def test_huge_slice_bounds_clamp_like_numpy():
    results = run_child(
        """
        v, s = ga.vector("v"), ga.scalar("s", "int64")
        for bound in (2**62, -(2**62), 2**63 - 1, -(2**63)):
            report(lambda: [fn([v, s], v[s:])(np.arange(3.0), bound),
                            fn([v, s], v[:s:-1])(np.arange(3.0), bound)])
        """
    )
    x = np.arange(3.0)
    for r, bound in zip(results, (2**62, -(2**62), 2**63 - 1, -(2**63)), strict=True):
        head, tail = values_of(r)
        np.testing.assert_array_equal(head, x[bound:])
        np.testing.assert_array_equal(tail, x[:bound:-1])


# --- integer division -------------------------------------------------------------------
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_division_by_zero_gives_zero(dtype, mode):
    info = np.iinfo(dtype)
    a = [int(info.min), -3 if info.min < 0 else 3, 0, 1, int(info.max)]
    results = run_child(
        f"""
        np.seterr(all="raise")
        warnings.simplefilter("error")
        x, y = ga.vector("x", "{dtype}"), ga.vector("y", "{dtype}")
        s = ga.scalar("s", "{dtype}")
        a = np.array({a}, dtype="{dtype}")
        zeros = np.zeros(len(a), dtype="{dtype}")
        report(lambda: fn([x, y], [x // y, x % y])(a, zeros))
        report(lambda: fn([x], [x // 0, x % 0])(a))
        report(lambda: fn([x, s], [x // s, x % s, s // x])(a, np.array(0, dtype="{dtype}")))
        """,
        mode,
    )
    for r in results:
        for out in values_of(r)[:2]:
            assert out.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(out, np.zeros(len(a), dtype=dtype))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(
            values_of(results[2])[2], np.zeros((), dtype=dtype) // np.array(a, dtype=dtype)
        )


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64"])
def test_int_min_divided_by_minus_one(dtype, mode):
    lo = int(np.iinfo(dtype).min)
    (arrays, weak) = run_child(
        f"""
        np.seterr(all="raise")
        x, y = ga.vector("x", "{dtype}"), ga.vector("y", "{dtype}")
        a = np.array([{lo}, {lo}, 7], dtype="{dtype}")
        b = np.array([-1, 1, -1], dtype="{dtype}")
        report(lambda: fn([x, y], [x // y, x % y])(a, b))
        report(lambda: fn([x], [x // -1, x % -1])(a))
        """,
        mode,
    )
    a = np.array([lo, lo, 7], dtype=dtype)
    b = np.array([-1, 1, -1], dtype=dtype)
    with np.errstate(all="ignore"):
        expected = [a // b, a % b]
    for r in (arrays, weak):
        for got, exp in zip(values_of(r), expected, strict=True):
            assert got.dtype == exp.dtype
            np.testing.assert_array_equal(got, exp)


# --- huge allocations --------------------------------------------------------------------
ALLOC_CASES = [
    ("ga.zeros((2**40, 2**40)).eval()", ("Alloc", "alloc")),
    ("ga.ones((2**30, 2**27)).eval()", ("Alloc", "alloc")),  # 2**60 bytes: malloc fails
    ("fn([n], ga.alloc(0.0, n, n))(2**40)", ("Alloc", "alloc")),
    ("fn([n], ga.zeros((n,), dtype='int8'))(2**62)", ("Alloc", "alloc")),
    ("fn([n], ga.full((n, 3), 1.5))(2**62)", ("Alloc", "alloc")),
    ("fn([n], ga.eye(n))(2**33)", ("Eye", "eye")),
    ("fn([n], ga.arange(n))(2**62)", ("ARange", "arange")),
    ("fn([v, n], ga.tile(v, (n, n)))(np.ones(2), 2**40)", ("tile", "Broadcast", "Reshape")),
    ("fn([v, n], ga.zeros_like(v) + ga.zeros((n, 1)))(np.ones(2**20), 2**40)", ("Alloc", "add")),
]


@pytest.mark.parametrize("expr, op_names", ALLOC_CASES, ids=[c[0][:40] for c in ALLOC_CASES])
def test_huge_allocation_raises_cleanly(expr, op_names):
    (result,) = run_child(
        f"""
        n, v = ga.scalar("n", "int64"), ga.vector("v")
        report(lambda: {expr})
        """
    )
    assert_raised(
        result,
        ("MemoryError", "ValueError"),
        op_names,
        ("too big", "allocate", "too large", "memory", "Memory", "exceeds", "maximum"),
    )


def test_negative_sizes_raise_value_error():
    results = run_child(
        """
        n = ga.scalar("n", "int64")
        report(lambda: fn([n], ga.zeros((n, 2)))(-1))
        report(lambda: fn([n], ga.eye(n))(-3))
        report(lambda: ga.zeros((-1, 2)))
        """
    )
    for r in results:
        assert_raised(r, "ValueError", "negative")


# --- object arrays, strings and other non-numeric inputs ------------------------------------
BAD_INPUTS = [
    "np.array([object(), 1.0], dtype=object)",
    "np.array(['a', 'b'])",
    "'abc'",
    "b'abc'",
    "None",
    "{'a': 1}",
    "[1.0, 'a']",
    "[[1.0, 2.0], [3.0]]",
    "np.array(['2020-01-01'], dtype='datetime64[D]')",
    "np.zeros(2, dtype=[('a', 'f8')])",
    "ga.vector('other')",
    "lambda: 1.0",
]


@pytest.mark.parametrize("value", BAD_INPUTS)
def test_non_numeric_input_raises_type_error_naming_it(value, mode):
    results = run_child(
        f"""
        x, y = ga.vector("x"), ga.vector("y")
        f = fn([x, y], x + y)
        report(lambda: f(np.ones(2), {value}))
        report(lambda: f(y={value}, x=np.ones(2)))
        report(lambda: ga.constant({value}))
        report(lambda: ga.shared({value}, name="s"))
        """,
        mode,
    )
    assert_raised(results[0], "TypeError", "input 1", "'y'")
    assert_raised(results[1], "TypeError", "input 1", "'y'")
    for r in results[2:]:
        assert_raised(r, "TypeError")


def test_shared_set_value_rejects_non_numeric():
    results = run_child(
        """
        w = ga.shared(np.ones(2), name="W")
        report(lambda: w.set_value(np.array([object(), object()])))
        report(lambda: w.set_value("ab"))
        report(lambda: w.set_value([[1.0, 2.0], [3.0]]))
        report(lambda: w.get_value())
        """
    )
    for r in results[:3]:
        assert_raised(r, "TypeError", "'W'")
    np.testing.assert_array_equal(values_of(results[3]), np.ones(2))


# --- NaN and Inf ---------------------------------------------------------------------------
LIBM_OUTPUTS = {0, 1, 8}  # exp, log, tanh in the list below
ULPS_4 = 4 * np.finfo(np.float64).eps


def test_nan_and_inf_inputs_are_values(mode):
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1e308, -1e308]
    results = run_child(
        f"""
        x = ga.vector("x")
        a = np.array([float(text) for text in {[repr(float(v)) for v in specials]}])
        outs = [ga.exp(x), ga.log(x), ga.sqrt(x), x // 0.0, x % 2.0, x * 0, ga.sigmoid(x),
                ga.softplus(x), ga.tanh(x), ga.round(x), ga.clip(x, -1, 1), ga.maximum(x, 0.0),
                x.max(), x.min(), x.sum(), x.argmax(), x.argmin(), x.mean(),
                ga.cast(x, "int32"), ga.cast(x, "int8"), ga.cast(x, "uint64")]
        report(lambda: fn([x], outs)(a))
        m = ga.matrix("m")
        rows = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 0.0], [1e308, 1e308]])
        report(lambda: fn([m], [ga.softmax(m), ga.logsumexp(m), ga.dot(m, m.T)])(rows))
        report(lambda: ga.function([x], ga.exp(x), mode="DEBUG")(a))
        """,
        mode,
    )
    a = np.array(specials)
    got = values_of(results[0])
    with np.errstate(all="ignore"):
        expected = [np.exp(a), np.log(a), np.sqrt(a), a // 0.0, a % 2.0, a * 0,
                    None, None, np.tanh(a), np.round(a), np.clip(a, -1, 1), np.maximum(a, 0.0),
                    a.max(), a.min(), a.sum(), a.argmax(), a.argmin(), a.mean()]  # fmt: skip
    for k, (g, e) in enumerate(zip(got, expected)):
        if k in LIBM_OUTPUTS:  # SIMD libm (libmvec) may differ from NumPy's by ulps
            np.testing.assert_allclose(g, e, rtol=ULPS_4, atol=0, err_msg=f"output {k}")
        elif e is not None:
            np.testing.assert_array_equal(g, e, err_msg=f"output {k}")
    sig, soft = got[6], got[7]
    np.testing.assert_array_equal(np.isnan(sig), np.isnan(a))
    np.testing.assert_array_equal(sig[1:3], [1.0, 0.0])
    assert soft[1] == np.inf and soft[2] == 0.0 and np.isnan(soft[0])
    for g, dtype in zip(got[18:], ["int32", "int8", "uint64"]):
        assert g.dtype == np.dtype(dtype) and g.shape == a.shape
    softmax, lse, gram = values_of(results[1])
    rows = np.array([[np.inf, 1.0], [-np.inf, -np.inf], [np.nan, 0.0], [1e308, 1e308]])
    assert softmax.shape == rows.shape and lse.shape == (4,)
    assert lse[0] == np.inf and lse[1] == -np.inf and np.isnan(lse[2])
    np.testing.assert_allclose(lse[3], 1e308 + np.log(2.0))
    np.testing.assert_allclose(softmax[3], [0.5, 0.5])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(gram, rows @ rows.T)
    # DEBUG mode reports NaN/Inf a node makes, not the ones it is given
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(values_of(results[2]), np.exp(a), rtol=ULPS_4, atol=0)


# --- zero-size arrays through reductions ---------------------------------------------------
def test_zero_size_reductions(mode):
    results = run_child(
        """
        v, m = ga.vector("v"), ga.matrix("m")
        empty, rows = np.zeros(0), np.zeros((0, 3))
        report(lambda: fn([v], [v.sum(), v.prod(), v.any(), v.all(), v.mean(), v.var()])(empty))
        report(lambda: fn([v], v.max())(empty))
        report(lambda: fn([v], v.min())(empty))
        report(lambda: fn([v], v.argmax())(empty))
        report(lambda: fn([v], v.argmin())(empty))
        report(lambda: fn([m], m.max(axis=0))(rows))
        report(lambda: fn([m], [m.max(axis=1), m.sum(axis=0), m.sum(axis=1, keepdims=True),
                                m.argmax(axis=1), ga.softmax(m), ga.dot(m.T, m)])(rows))
        report(lambda: fn([v], ga.grad(v.sum(), v))(empty))
        """,
        mode,
    )
    total, prod, any_, all_, mean, var = values_of(results[0])
    assert float(total) == 0.0 and float(prod) == 1.0
    assert not any_ and all_
    assert np.isnan(mean) and np.isnan(var)
    assert_raised(results[1], "ValueError", "Max", ("zero-size", "empty"))
    assert_raised(results[2], "ValueError", "Min", ("zero-size", "empty"))
    assert_raised(results[3], "ValueError", ("argmax", "ArgMax"), ("zero-size", "empty"))
    assert_raised(results[4], "ValueError", ("argmin", "ArgMin"), ("zero-size", "empty"))
    assert_raised(results[5], "ValueError", "Max", ("zero-size", "empty"))
    rmax, s0, s1, amax, sm, gram = values_of(results[6])
    assert rmax.shape == (0,) and amax.shape == (0,) and sm.shape == (0, 3)
    np.testing.assert_array_equal(s0, np.zeros(3))
    assert s1.shape == (0, 1)
    np.testing.assert_array_equal(gram, np.zeros((3, 3)))
    assert values_of(results[7]).shape == (0,)


def test_zero_size_logsumexp_is_minus_infinity(mode):
    results = run_child(
        """
        v, m = ga.vector("v"), ga.matrix("m")
        report(lambda: fn([v], ga.logsumexp(v))(np.zeros(0)))
        report(lambda: fn([m], ga.logsumexp(m, axis=0))(np.zeros((0, 3))))
        report(lambda: fn([m], ga.logsumexp(m, axis=1))(np.zeros((0, 3))))
        """,
        mode,
    )
    # log(sum(exp([]))) = log(0) = -inf, as scipy.special.logsumexp and JAX give
    assert float(values_of(results[0])) == -np.inf
    np.testing.assert_array_equal(values_of(results[1]), np.full(3, -np.inf))
    assert values_of(results[2]).shape == (0,)
