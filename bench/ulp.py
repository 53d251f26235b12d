"""Accuracy of graphad's vectorized math (glibc libmvec) against the scalar C libm.

    python bench/ulp.py [--points N] [--out PATH]

For every libm-backed elementwise function and for float32 and float64, a dense sweep
of inputs (``--points``, default 2**20: magnitudes evenly spaced in the bit pattern from
the smallest denormal to the largest finite value, both signs; a dense uniform part
where the function is interesting; NaN, +-Inf, +-0, denormals, and the neighbours of
each function's edges such as its overflow threshold) runs through the compiled
FAST_RUN kernel, whose ``#pragma omp simd`` loop calls libmvec, and through the scalar
C libm: a tiny library built here with the host compiler without vectorization, one
loop per function, calling ``exp``/``expf``... (sigmoid and softplus: graphad's own C
formula from scalar_ops.py, with scalar calls). Reported per function and dtype: the
largest distance in ulps between finite results (the number of floats between them),
the disagreements in NaN, Inf and the sign of zero (must be none), and pass/fail
against issue 6's bound of 4 ulp. Writes bench/results/<date>-<host>-ulp.json.

tests/backend/test_vector_math.py imports this module and checks the same on a
smaller sweep.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import inspect
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from types import SimpleNamespace

import numpy as np

import graphad as ga
from graphad.backend.c import compiler

MAX_ULP = 4  # issue 6: at most 4 ulp from the scalar libm
# Composites of two libm calls: the first call's error passes through the second, so
# their bound is the sum of both calls' bounds. softplus = max(x, 0) + log1p(exp(-|x|)):
# near log1p(t) ~ t, exp's relative error arrives whole (measured: 5 ulp in float64).
COMPOSITE_ULP = {"softplus": 2 * MAX_ULP}


def bound(name):
    """The ulp bound ``name`` is held to."""
    return COMPOSITE_ULP.get(name, MAX_ULP)


DTYPES = ("float32", "float64")
# the scalar reference: no vectorization and no builtins, so every call goes to libm
REFERENCE_FLAGS = ("-O1", "-fno-tree-vectorize", "-fno-builtin", "-ffp-contract=off")
REFERENCE_FLAGS += ("-fPIC", "-shared", "-std=c99")
ISA = {"b": "SSE4", "c": "AVX", "d": "AVX2", "e": "AVX512"}  # x86-64 vector ABI letters

# Unary functions: (ranges, edges) of the sweep, given the dtype's limits L. Ranges get
# dense uniform samples; each edge gets its 8 float neighbours on either side.
UNARY = {
    "exp": (lambda L: [(L.ln_sub - 1, L.ln_max + 1), (-1, 1)], lambda L: [L.ln_max, L.ln_sub]),
    "exp2": (lambda L: [(L.l2_sub - 1, L.l2_max + 1), (-1, 1)], lambda L: [L.l2_max, L.l2_sub]),
    "expm1": (lambda L: [(-20, L.ln_max + 1), (-1e-3, 1e-3)], lambda L: [L.ln_max, 0]),
    "log": (lambda L: [(0, 10), (0.5, 2)], lambda L: [1, 0]),
    "log2": (lambda L: [(0, 10), (0.5, 2)], lambda L: [1, 0]),
    "log10": (lambda L: [(0, 10), (0.5, 2)], lambda L: [1, 0]),
    "log1p": (lambda L: [(-1, 10), (-1e-3, 1e-3)], lambda L: [-1, 0]),
    "sin": (lambda L: [(-10, 10), (-1e4, 1e4)], lambda L: [np.pi / 2, np.pi]),
    "cos": (lambda L: [(-10, 10), (-1e4, 1e4)], lambda L: [np.pi / 2, np.pi]),
    "tan": (lambda L: [(-10, 10), (-1e4, 1e4)], lambda L: [np.pi / 2, np.pi / 4]),
    "arcsin": (lambda L: [(-1.1, 1.1)], lambda L: [1, -1]),
    "arccos": (lambda L: [(-1.1, 1.1)], lambda L: [1, -1]),
    "arctan": (lambda L: [(-20, 20), (-1, 1)], lambda L: [1, -1]),
    "sinh": (lambda L: [(-L.ln_max - 2, L.ln_max + 2), (-2, 2)], lambda L: [L.sinh_max]),
    "cosh": (lambda L: [(-L.ln_max - 2, L.ln_max + 2), (-2, 2)], lambda L: [L.sinh_max]),
    "tanh": (lambda L: [(-20, 20), (-1, 1)], lambda L: [0]),
    "arcsinh": (lambda L: [(-100, 100), (-1, 1)], lambda L: [0]),
    "arccosh": (lambda L: [(0.9, 100), (1, 1.5)], lambda L: [1]),
    "arctanh": (lambda L: [(-1.1, 1.1)], lambda L: [1, -1]),
    "erf": (lambda L: [(-6, 6), (-1, 1)], lambda L: [0]),
    "erfc": (lambda L: [(-6, L.erfc_zero), (-1, 1)], lambda L: [0]),
    "sigmoid": (lambda L: [(L.ln_sub - 1, 40), (-10, 10)], lambda L: [0, L.ln_sub]),
    "softplus": (lambda L: [(L.ln_sub - 1, 40), (-10, 10)], lambda L: [0, L.ln_sub]),
    "sqrt": (lambda L: [(0, 4), (-1, 1)], lambda L: [0, 1]),
}
# Inputs of unary functions where a sweep of 2**24 random points found the largest
# distance (glibc 2.36, AVX-512): always part of the sweep, whatever its size.
HARD_CASES = {
    ("softplus", "float64"): (-2.758122307773407, -2.758201429073834, -3.4613396248318367),
}
BINARY = ("pow", "arctan2")  # sweeps of pairs: _pow_sweep, _arctan2_sweep
FUNCTIONS = tuple(UNARY) + BINARY


def limits(dtype):
    """The dtype's float limits and the thresholds the sweeps aim at."""
    info = np.finfo(dtype)
    fmax, sub = float(info.max), float(info.smallest_subnormal)
    ln_max, ln_sub = np.log(fmax), np.log(sub)
    return SimpleNamespace(
        ln_max=ln_max,  # exp overflows above
        ln_sub=ln_sub,  # exp underflows to 0 below
        l2_max=np.log2(fmax),
        l2_sub=np.log2(sub),
        sinh_max=ln_max + np.log(2),  # sinh and cosh overflow above
        erfc_zero=np.sqrt(-ln_sub) + 1,  # erfc underflows to 0 before this
    )


def special_values(dtype):
    """NaN, +-Inf, +-0, denormals and the extremes in ``dtype``, and a few small values."""
    info = np.finfo(dtype)
    sub, tiny = info.smallest_subnormal, info.tiny
    values = [np.nan, np.inf, 0.0, sub, tiny - sub, tiny, info.max, info.eps]
    values += [0.5, 1.0, 2.0, 3.0, 10.0]
    values = np.array(values, dtype)
    return np.concatenate([values, -values])


def ordered(a):
    """The float bits of ``a`` as int64 that order like the floats (both zeros are 0).

    >>> ordered(np.array([-1e-45, -0.0, 0.0, 1e-45], "float32")).tolist()
    [-1, 0, 0, 1]
    """
    a = np.asarray(a)
    if a.dtype == np.float32:
        bits, low = a.view(np.int32).astype(np.int64), np.int64(-(2**31))
    else:
        bits, low = a.view(np.int64), np.iinfo(np.int64).min
    return np.where(bits >= 0, bits, low - bits)


def from_ordered(o, dtype):
    """The floats whose ``ordered`` integers are ``o``."""
    o = np.asarray(o, np.int64)
    if np.dtype(dtype) == np.float32:
        return np.where(o >= 0, o, -(2**31) - o).astype(np.int32).view(np.float32)
    return np.where(o >= 0, o, np.iinfo(np.int64).min - o).view(np.float64)


def ulp_distance(a, b):
    """How many floats of their dtype lie between ``a`` and ``b``, elementwise (uint64).

    >>> ulp_distance(np.float32([1.0, 0.0]), np.float32([np.nextafter(1, 2, dtype="f"), -0.0]))
    array([1, 0], dtype=uint64)
    """
    ua, ub = (ordered(v).view(np.uint64) ^ np.uint64(1 << 63) for v in (a, b))
    return np.maximum(ua, ub) - np.minimum(ua, ub)


def bit_uniform(n, dtype):
    """``n`` finite floats evenly spaced in their bit patterns, half of them negative:
    every binade from the smallest denormal to the largest float gets its share."""
    top = int(ordered(np.array([np.finfo(dtype).max], dtype))[0])
    steps = np.minimum(np.linspace(1, top, n // 2).astype(np.int64), top)
    positive = from_ordered(steps, dtype)
    return np.concatenate([positive, -positive])


def neighbours(edges, dtype, k=8):
    """Each of ``edges`` (rounded to ``dtype``) and its ``k`` float neighbours each side."""
    centre = ordered(np.array(edges, dtype))
    return from_ordered((centre[:, None] + np.arange(-k, k + 1)).ravel(), dtype)


def _uniform(rng, lo, hi, n, dtype):
    return rng.uniform(lo, hi, n).astype(dtype)


def _pairs(values):
    """Every pair (x, y) of ``values``, as two arrays."""
    x, y = np.meshgrid(values, values)
    return [x.ravel(), y.ravel()]


def _pow_sweep(rng, n, dtype, L):
    big = L.ln_max / np.log(10) * 1.2  # 10 ** big overflows
    k = n // 5
    exponents = np.array([-3, -2, -1, -0.5, 0.5, 1.5, 4, 1e10, -1e10], dtype)
    blocks = [
        _pairs(np.concatenate([special_values(dtype), exponents])),
        [bit_uniform(k, dtype), _uniform(rng, -3, 3, 2 * (k // 2), dtype)],
        [_uniform(rng, 0, 10, k, dtype), _uniform(rng, -big, big, k, dtype)],
        [_uniform(rng, -10, 10, k, dtype), np.round(rng.uniform(-big, big, k)).astype(dtype)],
        [_uniform(rng, 0.99, 1.01, k, dtype), _uniform(rng, -100 * big, 100 * big, k, dtype)],
        [_uniform(rng, 0, 2, 2 * (k // 2), dtype), bit_uniform(k, dtype)],
    ]
    return [np.concatenate([b[i] for b in blocks]) for i in (0, 1)]


def _arctan2_sweep(rng, n, dtype, L):
    k = n // 3
    y = _uniform(rng, -10, 10, k, dtype)
    scale = (rng.choice([-1, 1], k) * 2.0 ** rng.uniform(-60, 60, k)).astype(dtype)
    wide = bit_uniform(k, dtype)
    blocks = [
        _pairs(special_values(dtype)),
        [wide, rng.permutation(wide)],
        [_uniform(rng, -10, 10, k, dtype), _uniform(rng, -10, 10, k, dtype)],
        [y, y * scale],  # ratios far from 1: near the axes
    ]
    return [np.concatenate([b[i] for b in blocks]) for i in (0, 1)]


def sweep(name, dtype, n):
    """The inputs of ``name`` (a list of one array, two for pow and arctan2): about
    ``n`` points, shuffled so special values share SIMD lanes with ordinary ones, plus
    a contiguous block of every special value (pairs of them for two inputs)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}/{dtype}".encode()))
    L = limits(dtype)
    if name in BINARY:
        build = _pow_sweep if name == "pow" else _arctan2_sweep
        args = build(rng, n, dtype, L)
        block = _pairs(special_values(dtype))
    else:
        ranges, edges = UNARY[name]
        dense = n - n // 2
        parts = [special_values(dtype), neighbours(edges(L), dtype), bit_uniform(n // 2, dtype)]
        parts.append(np.array(HARD_CASES.get((name, dtype), ()), dtype))
        parts += [_uniform(rng, lo, hi, dense // len(ranges(L)), dtype) for lo, hi in ranges(L)]
        args = [np.concatenate(parts)]
        block = [special_values(dtype)]
    order = rng.permutation(len(args[0]))
    return [np.concatenate([a[order][:64], b, a[order][64:]]) for a, b in zip(args, block)]


def compare(got, want):
    """Counts of disagreements in NaN, Inf and the sign of zero, and the largest ulp
    distance between finite results with its index (``worst``)."""
    got_nan, want_nan = np.isnan(got), np.isnan(want)
    both = ~got_nan & ~want_nan
    finite = both & np.isfinite(got) & np.isfinite(want)
    inf = both & ~finite & (got != want)
    zero = finite & (got == 0) & (want == 0) & (np.signbit(got) != np.signbit(want))
    dist = np.zeros(len(got), np.uint64)
    dist[finite] = ulp_distance(got[finite], want[finite])
    worst = int(np.argmax(dist))
    bad = np.flatnonzero((got_nan != want_nan) | inf | zero)
    return {
        "max_ulp": int(dist[worst]),
        "worst": worst,
        "exact_fraction": float(np.mean(dist[finite] == 0)) if finite.any() else 1.0,
        "nan_mismatches": int(np.sum(got_nan != want_nan)),
        "inf_mismatches": int(np.sum(inf)),
        "zero_sign_mismatches": int(np.sum(zero)),
        "special_mismatches": bad[:5].tolist(),  # indices of a few, for the report
    }


class ScalarLibm:
    """The scalar C libm as the oracle: one loop per function and dtype, compiled here
    by the host compiler without vectorization, loaded with ctypes.

    ``libm("exp", "float32", x)`` is ``expf`` applied to each element of ``x``."""

    def __init__(self, folder, names=FUNCTIONS, dtypes=DTYPES):
        src, self.path = os.path.join(folder, "ref.c"), os.path.join(folder, "ref.so")
        with open(src, "w") as fh:
            fh.write(self.source(names, dtypes))
        cmd = [compiler.compiler_path(), *REFERENCE_FLAGS, src, "-o", self.path, "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        if libmvec_calls(self.path):
            raise RuntimeError(f"the scalar reference calls libmvec: {libmvec_calls(self.path)}")
        self.lib = ctypes.CDLL(self.path)

    @staticmethod
    def source(names, dtypes):
        """C with ``void ref_<name>_<dtype>(long n, const T *a, const T *b, T *out)``
        for each name and dtype, computing graphad's C expression of the op."""
        lines = ["#include <math.h>", "typedef float npy_float32;", "typedef double npy_float64;"]
        for name in names:
            op = getattr(ga, name).op.scalar_op
            for dtype in dtypes:
                t = "float" if dtype == "float32" else "double"
                expr = op.c_code(["a[i]", "b[i]"][: op.nin], dtype)
                lines.append(
                    f"void ref_{name}_{dtype}(long n, const {t} *a, const {t} *b, {t} *out)"
                )
                lines.append(f"{{ for (long i = 0; i < n; i++) out[i] = {expr}; }}")
        return "\n".join(lines) + "\n"

    def __call__(self, name, dtype, *args):
        args = [np.ascontiguousarray(a, dtype) for a in args]
        out = np.empty_like(args[0])
        b = args[1] if len(args) > 1 else args[0]
        ptr = ctypes.c_void_p
        getattr(self.lib, f"ref_{name}_{dtype}")(
            ctypes.c_long(len(out)), ptr(args[0].ctypes.data), ptr(b.ctypes.data),
            ptr(out.ctypes.data),
        )  # fmt: skip
        return out


def compile_graphad(names, dtype):
    """One FAST_RUN function computing each of ``names`` on its own input vectors; raises
    unless every step is a compiled C kernel of exactly that op (``Fused{exp}``)."""
    inputs, outputs = [], []
    for name in names:
        build = getattr(ga, name)
        args = [ga.vector(f"{name}_{k}", dtype) for k in range(build.op.scalar_op.nin)]
        inputs += args
        outputs.append(build(*args))
    f = ga.function(inputs, outputs, mode="FAST_RUN")
    steps = sorted(
        (str(node.op), getattr(t, "kind", None)) for t, _, _, node, _ in f.maker.vm.steps
    )
    want = sorted((f"Fused{{{getattr(ga, n).op.scalar_op.name}}}", "c") for n in names)
    if steps != want:
        raise RuntimeError(f"graphad did not run {names} as C kernels: {steps}")
    return f


def libmvec_calls(path):
    """The libmvec entry points (``_ZGVdN8v_expf``...) the shared library at ``path``
    calls; None where ``nm`` is missing."""
    if shutil.which("nm") is None:
        return None
    proc = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True)
    return sorted({m.group(0) for m in re.finditer(r"_ZGV\w+", proc.stdout)})


def module_path(f):
    """The file of the extension module running ``f``'s kernels, or None (it reads the
    C thunk's closure: a bench-only peek at graphad's internals)."""
    try:
        thunk = f.maker.vm.steps[0][0]
        return inspect.getclosurevars(thunk).nonlocals["fn"].__self__.__file__
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def simd_variants(name, dtype, calls):
    """The ISAs of the libmvec variants among ``calls`` that ``name`` uses, e.g. AVX2."""
    expr = getattr(ga, name).op.scalar_op.c_code(["x", "y"], dtype)
    libm = set(re.findall(r"(\w+)\(", expr))
    found = {ISA.get(c[4], c[4]) for c in calls if c.split("_", 2)[-1] in libm}
    return sorted(found, key=list(ISA.values()).index) if found else []


def _example(args, got, want, i):
    """Element ``i`` as text: the inputs..., graphad's result, libm's."""
    return [str(a[i]) for a in args] + [str(got[i]), str(want[i])]


def measure(names, dtype, n, libm):
    """One result row per function of ``names`` in ``dtype``: the sweep of about ``n``
    points through one compiled graphad function, compared with ``libm``."""
    f = compile_graphad(names, dtype)
    sweeps = [sweep(name, dtype, n) for name in names]
    got = f(*[a for args in sweeps for a in args])
    path = module_path(f)
    calls = libmvec_calls(path) if path else None
    rows = []
    for name, args, g in zip(names, sweeps, got):
        g = np.asarray(g)
        if g.dtype != np.dtype(dtype):
            raise RuntimeError(f"graphad's {name} gave {g.dtype} for {dtype} inputs")
        want = libm(name, dtype, *args)
        row = {"function": name, "dtype": dtype, "points": len(g), **compare(g, want)}
        row["worst"] = _example(args, g, want, row["worst"])
        row["special_mismatches"] = [_example(args, g, want, i) for i in row["special_mismatches"]]
        row["libmvec"] = None if calls is None else simd_variants(name, dtype, calls)
        row["bound"] = bound(name)
        row["passed"] = row["max_ulp"] <= row["bound"] and not row["special_mismatches"]
        rows.append(row)
    return rows


def format_table(rows):
    """The rows as a text table, one line per function and dtype."""
    head = f"{'function':9} {'dtype':7} {'points':>8} {'max ulp':>7} {'exact':>6}  "
    head += f"{'nan inf ±0':10}  {'libmvec':11} {'ok':4}  worst: inputs -> graphad / libm"
    lines = [head, "-" * len(head)]
    for r in rows:
        specials = f"{r['nan_mismatches']} {r['inf_mismatches']} {r['zero_sign_mismatches']}"
        simd = "?" if r["libmvec"] is None else ",".join(r["libmvec"]) or "-"
        *inputs, got, want = r["worst"]
        worst = f"{', '.join(inputs)} -> {got} / {want}" if r["max_ulp"] else ""
        lines.append(
            f"{r['function']:9} {r['dtype']:7} {r['points']:>8} {r['max_ulp']:>7} "
            f"{100 * r['exact_fraction']:5.1f}%  {specials:10}  {simd:11} "
            f"{'pass' if r['passed'] else 'FAIL':4}  {worst}"
        )
    return "\n".join(lines)


def machine():
    """What the measurement depends on: CPU, glibc, compiler, flags, versions."""
    cc, cpu = compiler.compiler_path(), compiler.cpu_identity().split(" | ")
    return {
        "host": platform.node(),
        "cpu": next((p.split(":", 1)[1].strip() for p in cpu if p.startswith("model")), None),
        "libc": " ".join(platform.libc_ver()),
        "compiler": compiler.compiler_identity(cc),
        "graphad_flags": " ".join(compiler.compile_flags()),
        "reference_flags": " ".join(REFERENCE_FLAGS),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "graphad": ga.__version__,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2**20, help="sweep size per function")
    parser.add_argument("--out", help="JSON path (default bench/results/<date>-<host>-ulp.json)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="graphad-ulp-") as folder:
        libm = ScalarLibm(folder)
        for dtype in DTYPES:
            for name in FUNCTIONS:  # one module each, so libmvec calls are per function
                rows += measure([name], dtype, args.points, libm)
    print(format_table(rows))
    failed = [f"{r['function']}/{r['dtype']}" for r in rows if not r["passed"]]
    for dtype in DTYPES:
        worst = max(r["max_ulp"] for r in rows if r["dtype"] == dtype)
        print(
            f"{dtype}: max {worst} ulp over {len(FUNCTIONS)} functions "
            f"(bound {MAX_ULP}; composites {COMPOSITE_ULP})"
        )
    print("failed: " + (", ".join(failed) or "none"))
    out = args.out
    if out is None:
        folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
        os.makedirs(folder, exist_ok=True)
        stamp = datetime.date.today()
        out = os.path.join(folder, f"{stamp}-{platform.node() or 'host'}-ulp.json")
    result = {"machine": machine(), "max_ulp_bound": MAX_ULP, "rows": rows}
    with open(out, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
