"""The CUDA kernels and their launch plans, run without a GPU: the generated CUDA source
is compiled as host C++ (tests/kernel/cuda_emulate.h: one thread per block) and called
with the argument structs of graphad/backend/cuda/launch.py, in place of the fused
kernels of FAST_RUN graphs; every op-spec row and dtype must then match FAST_COMPILE.
This checks the kernels' indexing, broadcasting, prologues, epilogues, exports and the
two-stage reduction, and the host side's strides and shapes. It does not check what
only a GPU shows (the threads of a block combining in shared memory)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.backend.c.module import _checked_thunk, kernel_nodes
from graphad.backend.cuda import launch
from graphad.kernel.render_cuda import module_source
from tests.kernel.test_render_cuda import REWRITTEN, row_graphs

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


class Emulated:
    """A library of emulated kernels and the thunks that launch them."""

    def __init__(self, kernels, folder):
        cxx = shutil.which("g++") or shutil.which("c++")
        if cxx is None:
            pytest.skip("no C++ compiler (apt-get install g++)")
        self.names = {k: f"k{i}" for i, k in enumerate(dict.fromkeys(kernels))}
        src, lib = folder / "emulated.cpp", folder / "emulated.so"
        src.write_text(module_source([(n, k) for k, n in self.names.items()]))
        cmd = [cxx, "-x", "c++", "-O0", "-w", "-shared", "-fPIC", "-include"]
        cmd += [str(HERE / "cuda_emulate.h"), f"-I{REPO / 'kernels'}", str(src), "-o", str(lib)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-4000:]
        self.lib = ctypes.CDLL(str(lib))

    def run(self, kernel, arrays):
        arrays = [np.asarray(a, dtype=i.dtype) for a, i in zip(arrays, kernel.inputs)]
        plan = launch.plan(
            self.names[kernel], kernel, arrays, lambda s, d: np.empty(s, d), _address
        )
        for step in plan.launches:
            fn = getattr(self.lib, step.function)
            fn.argtypes = [type(plan.args)] + [type(e) for e in step.extra]
            fn.restype = None
            blocks = step.grid if step.function.endswith("_stage1") else 1
            for b in range(blocks):  # one thread per block: a grid-stride loop does the rest
                self.lib.gd_emulate_block(b, blocks)
                fn(plan.args, *step.extra)
        return plan.outputs

    def install(self, f):
        """Replace the fused kernels of compiled function ``f`` by emulated launches."""
        steps = f.maker.vm.steps
        for k, (_, ins, outs, node, frees) in enumerate(steps):
            kernel = getattr(node.op, "kernel", None)
            if kernel is None:
                continue

            def fn(*arrays, kernel=kernel):
                results = self.run(kernel, arrays)
                return tuple(results) if len(results) > 1 else results[0]

            steps[k] = (_checked_thunk(node, fn), ins, outs, node, frees)


def _address(a):
    return a.ctypes.data if a.size else 0


def _cases():
    """(row, run, FAST_RUN-rewritten function, FAST_COMPILE function, values)."""
    found = []
    for row, run, xs, outs in row_graphs():
        fast = ga.function(xs, outs, mode=REWRITTEN, on_unused_input="ignore")
        ref = ga.function(xs, outs, mode="FAST_COMPILE", on_unused_input="ignore")
        rng = np.random.default_rng(zlib.crc32(f"{row.name}-{run}".encode()))
        found.append((row, run, fast, ref, row.sample(rng, run)))
    return found


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    found = _cases()
    kernels = [n.op.kernel for _, _, f, _, _ in found for n in kernel_nodes(f.maker.fgraph)]
    emulated = Emulated(kernels, tmp_path_factory.mktemp("emulated"))
    for _, _, f, _, _ in found:
        emulated.install(f)
    return found, emulated


def _compare(row, got, want, what, inputs=()):
    """As the op-spec tests compare; a float64 result computed from float32 inputs gets
    float32's tolerance (the kernels compute float32 operands in float32, with libm's
    float functions rather than NumPy's)."""
    low = any(np.asarray(v).dtype == np.float32 for v in inputs)
    for k, (g, w) in enumerate(zip(got, want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (what, k, g.dtype, g.shape, w.shape)
        if w.dtype.kind == "f":
            rtol, atol = row.tolerance("float32" if low else w.dtype.name)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{what} output {k}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} output {k}")


def test_every_op_spec_row_matches_the_reference(cases):
    found, _ = cases
    ran = 0
    for row, run, fast, ref, values in found:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = ref(*values)
            got = fast(*values)
        want = want if isinstance(want, list) else [want]
        got = got if isinstance(got, list) else [got]
        _compare(row, got, want, f"{row.name} {run}", values)
        ran += any(getattr(n.op, "kernel", None) for n in fast.maker.fgraph.apply_nodes)
    assert ran > 100  # rows whose graph has at least one kernel


def test_strided_and_broadcast_operands(tmp_path):
    x = ga.matrix("x")
    b = ga.vector("b")
    outs = [ga.tanh(x * 2 + b), (x * b).sum(axis=0), ga.exp(x).max(axis=1, keepdims=True) + b]
    fast = ga.function([x, b], outs, mode=REWRITTEN)
    ref = ga.function([x, b], outs, mode="FAST_COMPILE")
    Emulated([n.op.kernel for n in kernel_nodes(fast.maker.fgraph)], tmp_path).install(fast)
    v = np.arange(24.0).reshape(4, 6)[:, ::2] / 10  # not contiguous
    for xv, bv in [(v, np.ones(3)), (v.T.copy().T, np.arange(3.0)), (np.ones((1, 3)), np.ones(3))]:
        for g, w in zip(fast(xv, bv), ref(xv, bv)):
            np.testing.assert_allclose(g, w, rtol=1e-12)


def test_two_stage_reduction_of_every_element(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "CHUNK", 1000)  # several chunks without a huge array
    x = ga.vector("x", dtype="float32")
    outs = [ga.sum(x * 3), ga.max(ga.abs(x)), ga.mean(ga.exp(x)), ga.all(x < 2)]
    fast = ga.function([x], outs, mode=REWRITTEN)
    ref = ga.function([x], outs, mode="FAST_COMPILE")
    Emulated([n.op.kernel for n in kernel_nodes(fast.maker.fgraph)], tmp_path).install(fast)
    v = np.random.default_rng(0).standard_normal(4321).astype(np.float32)
    v[1234] = -1.5
    for g, w in zip(fast(v), ref(v)):
        np.testing.assert_allclose(g, w, rtol=1e-5)
    v[17] = np.nan
    got, want = fast(v), ref(v)
    assert np.isnan(got[1]) and np.isnan(want[1])  # NaN survives the combine of the chunks
