"""A host emulation of a GPU for the CUDA backend's tests (graphad/backend/cuda).

``EmulatedDevice`` implements ``runtime.Device`` on the CPU:
- device memory is host memory (NumPy buffers), so transfers are memmoves;
- modules are the generated CUDA source compiled as host C++ with
  tests/kernel/cuda_emulate.h (one thread per block: a grid-stride loop covers every
  element from block 0, and a two-stage reduction's first stage runs every block), or
  with ``threads=N`` with tests/kernel/cuda_threads.h (blocks of N real threads, with
  barriers and warp shuffles); the kernels of all modules are built together, one
  compiler run per batch;
- ``gemm`` is cuBLAS's ``gemmStridedBatched`` contract (column-major, operations,
  leading dimensions, batch strides, the same argument checks), computed by NumPy.

So the whole backend above the driver (plans, argument structs, uploads and
downloads, views, shared values on the device, the cuBLAS mapping, host fallbacks)
runs and is checked against the reference without a GPU. What it cannot show is
what only the hardware and its libraries do (docs/cuda.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest

from graphad.backend.cuda.runtime import Device, use_device
from graphad.kernel.render_cuda import module_source

REPO = Path(__file__).resolve().parents[2]
EMULATE_H = REPO / "tests" / "kernel" / "cuda_emulate.h"
THREADS_H = REPO / "tests" / "kernel" / "cuda_threads.h"


class EmulatedDevice(Device):
    """``threads``: blocks of that many real threads (tests/kernel/cuda_threads.h), on
    at most two blocks unless a kernel needs its grid; else one thread per block."""

    name = "emulated (host)"

    def __init__(self, folder, threads=None):
        super().__init__()
        self.threads = threads
        self.folder = Path(folder)
        self.defer = True  # the kernels of many functions in one compiler run
        self.launched = []  # the kernels launched, by name
        self.gemms = 0

    # memory: host buffers
    def alloc(self, nbytes):
        return np.empty(nbytes, np.uint8)

    def address(self, alloc):
        return alloc.ctypes.data

    def htod(self, ptr, host):
        ctypes.memmove(ptr, host.ctypes.data, host.nbytes)

    def dtoh(self, host, ptr):
        ctypes.memmove(host.ctypes.data, ptr, host.nbytes)

    def dtod(self, dst, src, nbytes):
        ctypes.memmove(dst, src, nbytes)

    # modules: host C++ libraries
    def load(self, kernels, timings=None):
        library = compile_library(module_source(kernels), self.folder, self.threads)
        return types.SimpleNamespace(function=lambda name: (library, name))

    def launch(self, function, grid, block, args, extra=()):
        library, function = function
        self.launched.append(function)
        if not self.threads:
            run_blocks(library, function, grid, [args, *extra])
            return
        run = getattr(library, f"run_{function}")
        run.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_uint, ctypes.c_uint]
        run.restype = ctypes.c_int
        grid = grid if function.endswith("_stage1") else min(grid, 2)
        extra = extra[0].value if extra else 0
        if run(ctypes.addressof(args), extra, grid, self.threads):
            raise RuntimeError(f"{function}: a __syncthreads() barrier timed out")

    # cuBLAS's contract, by NumPy
    def gemm(self, dtype, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch):
        checks = [
            min(m, n, k, batch) >= 0,
            lda >= max(1, k if ta else m),
            ldb >= max(1, n if tb else k),
            ldc >= max(1, m),
        ]
        if not all(checks):  # cuBLAS answers CUBLAS_STATUS_INVALID_VALUE
            raise RuntimeError(f"invalid gemm arguments {(ta, tb, m, n, k, lda, ldb, ldc)}")
        self.gemms += 1
        if min(m, n, batch) == 0:
            return
        A = _column_major(a, dtype, (k, m) if ta else (m, k), lda, sa, batch)
        B = _column_major(b, dtype, (n, k) if tb else (k, n), ldb, sb, batch)
        C = _column_major(c, dtype, (m, n), ldc, sc, batch)
        A = A.transpose(0, 2, 1) if ta else A
        B = B.transpose(0, 2, 1) if tb else B
        product = np.matmul(A, B) * A.dtype.type(alpha)
        C[...] = product if beta == 0 else product + A.dtype.type(beta) * C


def compile_library(source, folder, threads=None):
    """The generated CUDA ``source`` compiled as a host C++ library in ``folder``: one
    thread per block (cuda_emulate.h), or blocks of ``threads`` real threads
    (cuda_threads.h, with a ``run_<kernel>`` launcher per kernel)."""
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("the CUDA emulation needs a C++ compiler (apt-get install g++)")
    folder = Path(folder)
    n = len(list(folder.glob("emulated*.so")))
    src, lib = folder / f"emulated{n}.cpp", folder / f"emulated{n}.so"
    header = EMULATE_H
    if threads:
        header = THREADS_H
        functions = [f"gd_copy{n}" for n in (1, 2, 4, 8, 16)]
        functions += re.findall(r"__global__ void (\w+)\(", source)
        source += "".join(
            f'extern "C" int run_{fn}(const void *a, long long x, unsigned g, unsigned b)'
            f" {{ return gd_run({fn}, a, x, g, b); }}\n"
            for fn in dict.fromkeys(functions)
        )
    src.write_text(source)
    cmd = [cxx, "-x", "c++", "-std=c++17", "-O0", "-w", "-shared", "-fPIC", "-pthread"]
    cmd += ["-include", str(header), f"-I{REPO / 'kernels'}", str(src), "-o", str(lib)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return ctypes.CDLL(str(lib))


def run_blocks(library, name, grid, args):
    """Launch kernel ``name`` of a one-thread-per-block ``library`` with the ctypes
    ``args``: block 0 alone (its grid-stride loops cover everything), except the
    first stage of a two-stage reduction, which needs each of its ``grid`` blocks."""
    fn = getattr(library, name)
    fn.argtypes = [type(a) for a in args]
    fn.restype = None
    blocks = grid if name.endswith("_stage1") else 1
    for b in range(blocks):
        library.gd_emulate_block(b, blocks)
        fn(*args)


@contextlib.contextmanager
def on_device(device):
    """``device=cuda`` on ``device`` for the functions compiled inside."""
    import graphad as ga

    old = ga.config.device
    ga.config.device = "cuda"
    try:
        with use_device(device):
            yield device
    finally:
        ga.config.device = old


def _column_major(ptr, dtype, shape, ld, stride, batch):
    rows, cols = shape
    dtype = np.dtype(dtype)
    item = dtype.itemsize
    if rows == 0 or cols == 0:
        return np.zeros((batch, rows, cols), dtype)
    strides = (stride * item, item, ld * item)
    span = (batch - 1) * stride * item + (rows - 1) * item + (cols - 1) * ld * item + item
    buffer = (ctypes.c_char * span).from_address(ptr)
    return np.ndarray((batch, rows, cols), dtype, buffer=buffer, strides=strides)
