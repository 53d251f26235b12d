"""The C backend's fused kernels: values against the NumPy reference (FAST_COMPILE) for
every elementwise op and dtype, special values, integer corner cases, memory layouts,
broadcasting, errors, the on-disk cache seen from fresh processes, and pickling.

Every test asserts the C path really ran: each Fused step's thunk kind is "c".
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.backend.cache import CompileCache
from graphad.errors import ShapeError
from graphad.kernel.fused import Fused
from graphad.tensor import math as gmath

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(7)

# ops whose float results may differ from NumPy's by an ulp (libm vs NumPy's own loops)
TRANSCENDENTAL = {
    "pow", "arctan2", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos",
    "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "sigmoid", "softplus", "erf", "erfc", "gammaln", "digamma",
}  # fmt: skip
# which of two equal zeros max/min return is unspecified (NumPy's SIMD loops pick the
# second operand, its scalar loop the first): compare their values, not their zero signs
ZERO_SIGN_FREE = {"maximum", "minimum", "clip"}
RTOL = {"float32": 1e-6, "float64": 1e-13}


def c_steps(f):
    """The thunk kinds of ``f``'s Fused steps; asserts there is at least one."""
    kinds = [t.kind for t, _, _, node, _ in f.maker.vm.steps if isinstance(node.op, Fused)]
    assert kinds, [str(n.op) for n in f.maker.fgraph.toposort()]
    return kinds


def assert_on_c(f):
    """Every Fused step of ``f`` runs compiled C."""
    kinds = c_steps(f)
    assert set(kinds) == {"c"}, kinds


def assert_same(got, want, name="", transcendental=False, zero_sign=True):
    """``got`` (C) equals ``want`` (NumPy): same dtype and shape, integers and correctly
    rounded float ops exactly (NaN where NaN, signed zeros), libm functions to RTOL."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
    assert got.shape == want.shape, (name, got.shape, want.shape)
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=name)
    elif transcendental:
        rtol = RTOL[want.dtype.name]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True, err_msg=name)
    else:
        np.testing.assert_array_equal(got, want, err_msg=name)
        if zero_sign:
            zeros = want == 0
            np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]), name)


def special_values(dtype):
    """Values that stress an op in ``dtype``: NaN, infinities, signed zeros, denormals,
    the extremes, values near overflow; for integers the type's limits, -1, 0 and small
    values of both signs."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array([True, False])
    if dt.kind == "f":
        info = np.finfo(dt)
        near_overflow = 88.5 if dt == np.float32 else 709.5
        values = [np.nan, np.inf, -np.inf, 0.0, -0.0, info.smallest_subnormal]
        values += [-3 * info.smallest_subnormal, info.tiny, info.max, -info.max, 1.0, -1.0]
        values += [0.5, -2.5, 3.0, 1e-3, 7.25, -0.75, 100.0, 1e10, near_overflow]
        return np.array(values, dtype)
    info = np.iinfo(dt)
    values = [info.min, info.min + 1, -7, -3, -2, -1, 0, 1, 2, 3, 5, 7, 100, info.max - 1]
    return np.array([v for v in values + [info.max] if info.min <= v <= info.max], dtype)


def _numpy_accepts(op, args):
    try:
        with np.errstate(all="ignore"):
            result = np.asarray(op.impl(*args))
    except (TypeError, ValueError):  # no loop for the dtype, or negative integer powers
        return False
    return result.dtype != np.float16  # float16 has no C path: nothing to test here


def table_outputs(x, y, xv, yv):
    """(names, outputs) of every public elementwise op NumPy accepts for x's dtype
    (binary ops on x and y), plus clip, where/switch with a bool and a non-bool
    condition; the NumPy reference decides what is accepted."""
    names, outs = [], []
    for name, op, _ in gmath._TABLE:
        sym, val = ([x], [xv]) if op.nin == 1 else ([x, y], [xv, yv])
        if name == "pow" and xv.dtype.kind in "biu":
            continue  # integer powers have no C path (NumPy raises on x ** -1)
        if _numpy_accepts(op, val):
            names.append(name)
            outs.append(getattr(ga, name)(*sym))
    hi = ga.constant(xv.reshape(-1)[len(xv) // 2], dtype=xv.dtype.name)
    names += ["clip", "switch", "where"]
    # lo <= hi here (NaN aside); test_clip_with_bounds_crossed covers lo > hi
    outs += [ga.clip(x, ga.minimum(y, hi), hi), ga.switch(ga.lt(x, y), x, y), ga.where(x, y, x)]
    return names, outs


@pytest.mark.parametrize("dtype", ["float32", "float64", "int8", "int32", "int64", "uint8", "bool"])
def test_every_elementwise_op_matches_numpy(dtype):
    values = special_values(dtype)
    xv, yv = values[:, None], values[None, :]  # every pair of special values
    x = ga.tensor("x", dtype, shape=(None, None))
    y = ga.tensor("y", dtype, shape=(None, None))
    names, outs = table_outputs(x, y, xv, yv)
    assert len(names) >= 30, names
    f = ga.function([x, y], outs, on_unused_input="ignore")
    ref = ga.function([x, y], outs, mode="FAST_COMPILE", on_unused_input="ignore")
    produced_by = [o.owner.op for o in f.maker.fgraph.outputs]
    not_fused = [n for n, op in zip(names, produced_by) if not isinstance(op, Fused)]
    assert not not_fused, f"no C kernel for {dtype}: {not_fused}"
    assert_on_c(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a C kernel never warns (nor traps) on any value
        got = f(xv, yv)
    with np.errstate(all="ignore"):
        want = ref(xv, yv)
    for name, g, w in zip(names, got, want):
        assert_same(
            g, w, f"{name}[{dtype}]", name in TRANSCENDENTAL, zero_sign=name not in ZERO_SIGN_FREE
        )


def test_integer_division_and_wraparound_corner_cases():
    names = ["int8", "int32", "int64", "uint8"]
    xs = [ga.vector(f"x_{d}", d) for d in names]
    ys = [ga.vector(f"y_{d}", d) for d in names]
    outs = []
    for x, y in zip(xs, ys):
        outs += [x // y, x % y, x + y, x - y, x * y, -x]
    f = ga.function(xs + ys, outs)
    assert_on_c(f)
    args = []
    for d in names:
        info = np.iinfo(d)
        if d == "uint8":
            a = np.array([250, 3, 16, 7, 0, 255], d)
            b = np.array([10, 5, 16, 0, 0, 2], d)
        else:
            a = np.array([info.min, info.min, -7, 7, -7, 5, info.min, info.max], d)
            b = np.array([-1, -1, 2, -2, -2, 0, 0, 1], d)
        args.append((a, b))
    results = f(*[a for a, _ in args], *[b for _, b in args])
    for k, (d, (a, b)) in enumerate(zip(names, args)):
        with np.errstate(all="ignore"):
            want = [a // b, a % b, a + b, a - b, a * b, -a]
        for name, g, w in zip(["//", "%", "+", "-", "*", "neg"], results[6 * k :], want):
            assert_same(g, w, f"{d} {name}")
    # the cases spelled out, as NumPy gives them
    (i8_div, i8_mod), (u8_add, u8_sub, u8_mul, u8_neg) = results[0:2], results[20:24]
    assert i8_div[:2].tolist() == [-128, -128] and i8_mod[:2].tolist() == [0, 0]
    assert i8_div[2:6].tolist() == [-4, -4, 3, 0] and i8_mod[2:6].tolist() == [1, -1, -1, 0]
    assert u8_add.tolist()[:3] == [4, 8, 32] and u8_sub.tolist()[:2] == [240, 254]
    assert u8_mul.tolist()[2] == 0 and u8_neg.tolist() == [6, 253, 240, 249, 0, 1]
    assert results[6][:2].tolist() == [np.iinfo("int32").min] * 2  # int32 INT_MIN // -1
    assert results[13][:2].tolist() == [0, 0]  # int64 INT_MIN % -1


def test_mixed_dtypes_inside_one_kernel_keep_each_steps_dtype():
    i8, u8 = ga.vector("i8", "int8"), ga.vector("u8", "uint8")
    f32, f64 = ga.vector("f32", "float32"), ga.vector("f64", "float64")
    outs = [
        ga.cast(i8 + i8, "float32") * f32,  # the int8 sum wraps before the cast
        (u8 - 1) * 2 + i8,  # uint8 + int8 promotes to int16 after the uint8 wrap
        ga.where((f32 > 0) & (i8 < 50), f32 * 2, f64),  # bool steps, float32 -> float64
        (i8 / u8) + f32,  # true_divide of integers is float64
        ga.cast(f64 * 1e3, "int32") % 7,
    ]
    f = ga.function([i8, u8, f32, f64], outs)
    assert len(f.maker.fgraph.toposort()) == len(outs)  # one kernel per output
    assert_on_c(f)
    args = [
        np.array([100, -100, 3, 60, -1], "int8"),
        np.array([0, 255, 2, 1, 7], "uint8"),
        np.array([1.5, -2.0, 0.25, 3.0, 0.0], "float32"),
        np.array([0.1, -0.2, 0.3, 1e-3, -7.5], "float64"),
    ]
    ref = ga.function([i8, u8, f32, f64], outs, mode="FAST_COMPILE")
    with np.errstate(all="ignore"):
        want = ref(*args)
    for k, (g, w) in enumerate(zip(f(*args), want)):
        assert_same(g, w, f"output {k}")
    assert want[0][0] == np.float32(-56 * 1.5)


@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_clip_with_bounds_crossed(dtype):
    """np.clip does not check lo <= hi: it returns minimum(maximum(x, lo), hi)."""
    x, lo, hi = (ga.vector(n, dtype) for n in ("x", "lo", "hi"))
    f = ga.function([x, lo, hi], ga.clip(x, lo, hi))
    assert_on_c(f)
    xv = np.array([0, 1, 0, 1, 5, -3][: 4 if dtype == "bool" else 6], dtype)
    lov = np.array([1, 1, 1, 1, 4, 4][: len(xv)], dtype)
    hiv = np.array([0, 0, 0, 0, 2, 2][: len(xv)], dtype)
    assert_same(f(xv, lov, hiv), np.clip(xv, lov, hiv), f"clip[{dtype}]")


def test_int64_uint64_comparisons_are_exact():
    """No common dtype holds both exactly, so these comparisons run on NumPy."""
    i, u = ga.vector("i", "int64"), ga.vector("u", "uint64")
    outs = [ga.eq(i, u), ga.lt(i, u), ga.ge(i, u)]
    f = ga.function([i, u], outs)
    iv = np.array([2**62 + 1, 2**62, -1, 5], "int64")
    uv = np.array([2**62, 2**62 + 1, 2**64 - 1, 5], "uint64")
    for got, want in zip(f(iv, uv), [iv == uv, iv < uv, iv >= uv]):
        assert_same(got, want)


def test_wide_kernel_reads_every_input():
    """A kernel of MAX_STEPS three-input steps reads 2 * MAX_STEPS + 1 arrays."""
    from graphad.rewrite.fusion import MAX_STEPS

    xs = [ga.vector(f"x{k}") for k in range(2 * MAX_STEPS + 1)]
    out = xs[0]
    for k in range(MAX_STEPS):
        out = ga.clip(out, xs[2 * k + 1], xs[2 * k + 2])
    f = ga.function(xs, out)
    (node,) = f.maker.fgraph.toposort()
    assert len(node.inputs) == len(node.op.kernel.inputs) == len(xs)
    assert_on_c(f)
    args = [RNG.normal(size=4) for _ in xs]
    ref = ga.function(xs, out, mode="FAST_COMPILE")
    assert_same(f(*args), ref(*args))


CAST_TARGETS = ["float32", "float64", "int8", "int32", "int64", "uint8", "bool"]


def _cast_sources():
    """(dtype, values safe to cast to every target, values for float/bool targets only):
    a float outside an integer type's range has no defined C (nor NumPy) cast."""
    sources = []
    for d in CAST_TARGETS:
        if d.startswith("float"):
            safe = np.array([0.0, -0.0, 0.4, 0.5, 1.5, 2.5, 99.9, 126.99, 3.0], d)
            sources.append((d, safe, special_values(d)))
        else:
            sources.append((d, special_values(d), special_values(d)))
    return sources


def test_casts_between_all_dtypes():
    inputs, outs, args, labels = [], [], [], []
    for d, safe, full in _cast_sources():
        xs, xf = ga.vector(f"s_{d}", d), ga.vector(f"f_{d}", d)
        inputs += [xs, xf]
        args += [safe, full]
        for target in CAST_TARGETS:
            if target == d:
                continue
            value = xf if target.startswith("float") or target == "bool" else xs
            outs.append(ga.cast(value, target))
            labels.append(f"{d}->{target}")
    f = ga.function(inputs, outs)
    assert all(isinstance(o.owner.op, Fused) for o in f.maker.fgraph.outputs)
    assert_on_c(f)
    want = ga.function(inputs, outs, mode="FAST_COMPILE")(*args)
    for label, g, w in zip(labels, f(*args), want):
        assert_same(g, w, label)


# --- float32 stays float32 -------------------------------------------------------------------
def test_float32_math_stays_float32():
    x, y = ga.vector("x", "float32"), ga.vector("y", "float32")
    outs = [
        (x + y) - x,  # in float32: 1 + 1e-8 == 1, so 0; in float64, 1e-8
        ga.sqrt(x * x + y) - x,
        x * 2.0 + 1e-8,  # weak Python scalars keep float32
        ga.exp(x),
        ga.tanh(x * y),
        ga.sigmoid(x) + ga.softplus(y),
    ]
    f = ga.function([x, y], outs)
    assert all(o.dtype == "float32" for o in f.maker.fgraph.outputs)
    for node in f.maker.fgraph.toposort():
        assert {s.dtype for s in node.op.kernel.steps} == {"float32"}, node.op.kernel.describe()
    assert_on_c(f)
    xv = np.array([1.0, 1e8, 3.0, -0.5, 10.0], "float32")
    yv = np.array([1e-8, 1.0, 1e-7, 2.0, -0.25], "float32")
    got = f(xv, yv)
    assert all(g.dtype == np.float32 for g in got)
    exact = [(xv + yv) - xv, np.sqrt(xv * xv + yv) - xv, xv * np.float32(2) + np.float32(1e-8)]
    for k, want in enumerate(exact):
        np.testing.assert_array_equal(got[k], want, err_msg=f"output {k}")
    # and the test is sensitive: computing in float64 would have given other values
    x64, y64 = xv.astype("float64"), yv.astype("float64")
    assert not np.array_equal(((x64 + y64) - x64).astype("float32"), got[0])
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(got[3], np.exp(xv), rtol=RTOL["float32"])
    np.testing.assert_allclose(got[4], np.tanh(xv * yv), rtol=RTOL["float32"])


# --- layouts ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def layout_functions():
    """One C function and its reference over (None, None) inputs and a 0-d one, built
    from correctly rounded ops only, so every layout must match exactly."""
    x, y, s = ga.matrix("x"), ga.matrix("y"), ga.scalar("s")
    out = (x * y + s) * abs(x) - ga.sqrt(abs(y)) + ga.maximum(x, y) / 3
    f = ga.function([x, y, s], out)
    assert_on_c(f)
    return f, ga.function([x, y, s], out, mode="FAST_COMPILE")


def _unaligned(shape):
    buf = np.zeros(int(np.prod(shape)) * 8 + 1, np.uint8)
    view = buf[1:].view(np.float64).reshape(shape)
    view[...] = RNG.normal(size=shape)
    assert not view.flags.aligned
    return view


LAYOUTS = {
    "contiguous": lambda: (RNG.normal(size=(5, 4)), RNG.normal(size=(5, 4)), 0.5),
    "strided": lambda: (RNG.normal(size=(10, 4))[::2], RNG.normal(size=(5, 12))[:, ::3], 1.5),
    "transposed": lambda: (RNG.normal(size=(4, 5)).T, RNG.normal(size=(4, 5)).T, -1.0),
    "negative strides": lambda: (
        RNG.normal(size=(5, 4))[::-1],
        RNG.normal(size=(5, 4))[:, ::-1],
        0.0,
    ),
    "fortran": lambda: (
        np.asfortranarray(RNG.normal(size=(5, 4))),
        np.asfortranarray(RNG.normal(size=(5, 4))),
        2.0,
    ),
    "row broadcast": lambda: (RNG.normal(size=(5, 4)), RNG.normal(size=(1, 4)), 0.5),
    "column and row": lambda: (RNG.normal(size=(5, 1)), RNG.normal(size=(1, 4))[:, ::-1], 0.5),
    "all size one": lambda: (RNG.normal(size=(1, 1)), RNG.normal(size=(1, 1)), 0.5),
    "0-d array scalar": lambda: (RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2)), np.array(3.0)),
    "zero rows": lambda: (np.zeros((0, 3)), np.zeros((0, 3)), 1.0),
    "zero columns broadcast": lambda: (np.zeros((4, 0)), np.zeros((1, 0)), 1.0),
    "zero against one": lambda: (np.zeros((0, 3)), np.ones((1, 3)), 1.0),
    "unaligned": lambda: (_unaligned((3, 4)), RNG.normal(size=(3, 4)), 0.25),
    "big-endian": lambda: (RNG.normal(size=(3, 4)).astype(">f8"), RNG.normal(size=(3, 4)), 1.0),
    "large": lambda: (RNG.normal(size=(1000, 1000)), RNG.normal(size=(1000, 1000))[::-1].T, 0.5),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_match_the_reference_exactly(layout_functions, layout):
    f, ref = layout_functions
    args = LAYOUTS[layout]()
    got, want = f(*args), ref(*args)
    assert_same(got, want, layout)
    assert f(*args).flags.writeable  # a fresh array, usable by the caller


def test_zero_dimensional_inputs_give_a_zero_dimensional_result():
    s, t = ga.scalar("s"), ga.scalar("t", "int32")
    outs = [ga.exp(s) * t + 1, t // 3 - t % 3]
    f = ga.function([s, t], outs)
    assert_on_c(f)
    ref = ga.function([s, t], outs, mode="FAST_COMPILE")
    for args in [(0.5, -7), (np.float64(-2.0), np.int32(5)), (np.array(1.0), np.array(9, "int32"))]:
        for g, w in zip(f(*args), ref(*args)):
            assert g.shape == () and type(g) is type(w)
            assert_same(g, w, str(args), transcendental=True)


def test_results_of_one_call_survive_the_next():
    """Intermediate buffers are reused between calls; results (views included) are not."""
    m = ga.matrix("m")
    t = ga.exp(m)
    outs = [(t + 1)[::2], (t * 2).T, (m * 3).reshape((-1,)), t.sum() + ga.tanh(m)]
    f = ga.function([m], outs)
    assert_on_c(f)
    first = f(np.ones((4, 2)))
    kept = [r.copy() for r in first]
    for scale in (2.0, 3.0):
        second = f(np.full((4, 2), scale))
        for a, b in zip(first, kept):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(second[1], 2 * np.exp(np.full((2, 4), scale)), rtol=1e-15)


# --- errors ------------------------------------------------------------------------------------
def test_runtime_broadcast_mismatch_raises_shape_error_naming_the_shapes():
    x, y, v = ga.matrix("x"), ga.matrix("y"), ga.vector("v")
    f = ga.function([x, y, v], [ga.exp(x) * y, x - v])
    assert_on_c(f)
    with pytest.raises(ShapeError) as info:
        f(np.ones((2, 3)), np.ones((3, 2)), np.ones(3))
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "(2,3)" in message.replace(" ", "") and "(3,2)" in message.replace(" ", ""), message
    with pytest.raises(ShapeError, match=r"\(2,\s*3\).*\(2,?\)|\(2,?\).*\(2,\s*3\)"):
        f(np.ones((2, 3)), np.ones((2, 3)), np.ones(2))
    # and the function still works afterwards
    np.testing.assert_array_equal(
        f(np.zeros((1, 2)), np.ones((3, 2)), np.ones(2))[0], np.ones((3, 2))
    )


# --- the cache, seen from fresh processes ---------------------------------------------------
CHILD = r"""
import json, sys, warnings
import numpy as np
import graphad as ga

def build(name):
    x, y = ga.vector("x"), ga.vector("y")
    return [x, y], {"a": ga.exp(x) * y + 1, "b": ga.sin(x) - y * y}[name]

report = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for name in sys.argv[1:]:
        inputs, out = build(name)
        f = ga.function(inputs, out)
        kinds = [t.kind for t, _, _, node, _ in f.maker.vm.steps]
        report[name] = {"kinds": kinds, "value": f(np.arange(4.0), np.full(4, 0.5)).tolist()}
report["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
print(json.dumps(report))
"""
EXPECTED = {
    "a": np.exp(np.arange(4.0)) * 0.5 + 1,
    "b": np.sin(np.arange(4.0)) - 0.25,
}
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"


def run_child(flags, *names):
    """Run CHILD in a fresh interpreter with GRAPHAD_FLAGS=flags; its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRAPHAD_FLAGS": flags}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *names], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for name in names:
        np.testing.assert_allclose(report[name]["value"], EXPECTED[name], rtol=1e-13)
    return report


def _artifacts(root):
    return glob.glob(os.path.join(root, "??", "*", "gdmod" + SUFFIX))


@pytest.fixture(scope="module")
def populated_cache(tmp_path_factory):
    """A compile cache folder holding function "a"'s module, built by a child process."""
    root = str(tmp_path_factory.mktemp("cache") / "compiled")
    assert CompileCache(root).info()["entries"] == 0
    report = run_child(f"compiledir={root}", "a")
    assert report["a"]["kinds"] == ["c"] and report["warnings"] == []
    return root


def test_compiling_populates_the_cache(populated_cache):
    # function "a"'s module and the thread pool's (kernels/graphad_pool.c)
    assert CompileCache(populated_cache).info()["entries"] == 2
    assert len(glob.glob(os.path.join(populated_cache, "??", "*", "graphad_pool" + SUFFIX))) == 1
    (artifact,) = _artifacts(populated_cache)
    assert os.path.getsize(artifact) > 0 and os.path.exists(artifact + ".sha256")
    # a second process finds it: the same file, not rebuilt
    before = os.stat(artifact)
    report = run_child(f"compiledir={populated_cache}", "a")
    assert report["a"]["kinds"] == ["c"] and _artifacts(populated_cache) == [artifact]
    after = os.stat(artifact)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_missing_compiler_falls_back_to_numpy_with_one_warning(populated_cache):
    report = run_child(f"compiledir={populated_cache},cc=/nonexistent-cc", "b", "a", "b")
    assert report["b"]["kinds"] == ["numpy"]
    assert len(report["warnings"]) == 1, report["warnings"]
    assert "/nonexistent-cc" in report["warnings"][0] and "NumPy" in report["warnings"][0]
    assert CompileCache(populated_cache).info()["entries"] == 2  # nothing was added


def test_without_a_compiler_even_a_cached_module_is_not_trusted(populated_cache):
    """The cache key holds the compiler's identity, which a missing compiler cannot
    give: the function runs on NumPy, with the one warning, and right results."""
    report = run_child(f"compiledir={populated_cache},cc=/nonexistent-cc", "a")
    assert report["a"]["kinds"] == ["numpy"]
    assert len(report["warnings"]) == 1 and "/nonexistent-cc" in report["warnings"][0]


def test_eight_processes_compile_one_function_into_one_empty_cache(tmp_path):
    """Eight interpreters compile the same function at once against an empty cache:
    all succeed on the C path with the same results, and one module is built."""
    root = str(tmp_path / "shared")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GRAPHAD_FLAGS": f"compiledir={root}"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, "a"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(8)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["a"]["kinds"] == ["c"] and r["warnings"] == [] for r in reports)
    assert all(r["a"]["value"] == reports[0]["a"]["value"] for r in reports)
    np.testing.assert_allclose(reports[0]["a"]["value"], EXPECTED["a"], rtol=1e-13)
    assert len(_artifacts(root)) == 1


def test_truncated_module_is_rebuilt(populated_cache, tmp_path):
    root = str(tmp_path / "copy")
    shutil.copytree(populated_cache, root)
    (artifact,) = _artifacts(root)
    size = os.path.getsize(artifact)
    with open(artifact, "r+b") as fh:
        fh.truncate(size // 2)
    report = run_child(f"compiledir={root}", "a")
    assert report["a"]["kinds"] == ["c"]
    assert _artifacts(root) == [artifact] and os.path.getsize(artifact) == size
    key = os.path.basename(os.path.dirname(artifact))

    def no_build(tmp):
        raise AssertionError("the rebuilt entry should be intact")

    assert CompileCache(root).get(key, no_build, name="gdmod", suffix=SUFFIX) == artifact


# --- pickling ----------------------------------------------------------------------------------
UNPICKLE = r"""
import pickle, sys
import numpy as np
from graphad.kernel.fused import Fused
f, args = pickle.loads(sys.stdin.buffer.read())
kinds = [t.kind for t, _, _, node, _ in f.maker.vm.steps if isinstance(node.op, Fused)]
results = [f(*args), f(*args)]
sys.stdout.buffer.write(pickle.dumps((kinds, results, f.maker.fgraph.inputs[0].name)))
"""


def test_pickled_function_gives_the_same_results_in_another_process():
    x, m = ga.vector("x"), ga.matrix("m")
    w = ga.shared(np.linspace(-1, 1, 3), name="w")
    outs = [ga.tanh(m * w) + ga.exp(x), (x * w).sum(), m[:, 0] // 0.3]
    f = ga.function([x, m], outs, updates=[(w, w * 1.5 - 0.1)])
    assert_on_c(f)
    args = (RNG.normal(size=3), RNG.normal(size=(4, 3)))
    data = pickle.dumps((f, args))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", UNPICKLE], input=data, capture_output=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()
    kinds, results, name = pickle.loads(proc.stdout)
    assert kinds and set(kinds) == {"c"} and name == "x"
    want = [f(*args), f(*args)]  # the parent's state was pickled before these calls
    for got_call, want_call in zip(results, want):
        for g, w_ in zip(got_call, want_call):
            assert_same(g, w_, transcendental=True)


def test_results_the_caller_holds_are_never_written_by_later_calls():
    """Intermediates die after their last reader and their memory is recycled (large
    blocks by the runtime's allocator); a result the caller still holds never is."""
    x, m = ga.vector("x"), ga.matrix("m")
    hidden = ga.exp(m * 2) @ ga.tanh(x)  # two kernel intermediates around a GEMV
    out = ga.sin(hidden) + 1
    f = ga.function([x, m], out)
    ref = ga.function([x, m], out, mode="FAST_COMPILE")
    args = [RNG.normal(size=400), RNG.normal(size=(700, 400))]  # exp(2m) is 2.2 MB
    first = f(*args)
    kept = first.copy()
    second = f(*args)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(
        first, ref(*args), rtol=1e-9
    )  # BLAS sums 400 products in its own order
    other = [RNG.normal(size=5), RNG.normal(size=(2, 5))]  # other shapes
    np.testing.assert_allclose(f(*other), ref(*other), rtol=1e-9)
    for _ in range(3):
        f(*[a * 2 for a in args])
    np.testing.assert_array_equal(first, kept)  # held results untouched


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reductions_over_rows_read_the_matrix_row_by_row(dtype):
    """A matrix reduced over axis 0 (a bias's gradient) runs <kernel>_cols: a block of
    column accumulators filled row by row. Same values as the reference for every kind,
    exported prologue values, epilogues, broadcast, strided and F-ordered inputs."""
    m, r = ga.matrix("m", dtype), ga.tensor("r", dtype=dtype, shape=(1, None))
    t = m * 2 + r
    outs = [t.sum(0), t.max(0) - 1, (m * m).min(0, keepdims=True), t.prod(0), ga.exp(t).sum(0)]
    if dtype != "float64":
        outs = outs[:4]
    f = ga.function([m, r], outs + [t])  # t is also an output: an exported value
    ref = ga.function([m, r], outs + [t], mode="FAST_COMPILE")
    from graphad.backend.c.module import kernel_nodes, module_source

    assert re.search(
        r"gd_reduce\(&spec, args, nargs, v, k\d+_cols\)",
        module_source(kernel_nodes(f.maker.fgraph)),
    )
    a = (RNG.normal(size=(300, 517)) * 3).astype(dtype)
    b = (RNG.normal(size=(1, 517)) * 3).astype(dtype)
    if dtype == "float64":
        a[5, 7], a[9, 8] = np.nan, np.inf
    for args in ([a, b], [a[::2, ::3], b[:, ::3]], [np.asfortranarray(a), b], [a[:1], b]):
        for got, want in zip(f(*args), ref(*args)):
            if dtype == "int64":
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == "float32" else 1e-12)


def test_equal_kernels_share_one_compiled_function():
    """Unrolled layers give the same kernel again and again: the module holds it once."""
    from graphad.backend.c.module import kernel_names, kernel_nodes, module_source

    x = ga.matrix("x")
    w = ga.shared(np.full((4, 4), 0.3), name="w")
    h = x
    for _ in range(6):
        h = ga.tanh(h @ w) * 0.9 + 0.1
    f = ga.function([x], h.sum())
    nodes = kernel_nodes(f.maker.fgraph)
    names = kernel_names(nodes)
    assert len(nodes) == 6 and len(set(names.values())) == 2  # 5 layers alike, the last sums
    source = module_source(nodes)
    assert source.count("METH_FASTCALL") == len(set(names.values()))
    ref = ga.function([x], h.sum(), mode="FAST_COMPILE")
    v = np.arange(8.0).reshape(2, 4) / 8
    np.testing.assert_allclose(f(v), ref(v), rtol=1e-12)
