"""The CUDA backend's driver glue without a GPU: ``PyCudaDevice`` runs on a fake
``pycuda`` (host memory; "modules" are the generated CUDA compiled as host C++ with
tests/kernel/cuda_emulate.h) and ``Cublas`` loads a fake libcublas.so built from
tests/backend/fake_cublas.c, which has cuBLAS's C prototypes. This checks the calls
graphad makes (context, pool, copies, struct arguments as ``np.void``, the ctypes
signatures of the GEMMs) as far as their Python and C shapes go; what the real PyCUDA
and cuBLAS do with them only a GPU shows (test_cuda_gpu.py).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.backend.cuda import cublas, runtime
from graphad.backend.cuda.launch import BLOCK
from tests.backend.cuda_device import EmulatedDevice, compile_library, on_device, run_blocks

HERE = Path(__file__).resolve().parent


class _Allocation:
    def __init__(self, nbytes):
        self.buffer = np.empty(nbytes, np.uint8)

    def __int__(self):
        return self.buffer.ctypes.data


class _Function:
    def __init__(self, library, name):
        self.library, self.name = library, name

    def __call__(self, *args, block, grid):
        assert block == (BLOCK, 1, 1) and len(grid) == 2 and grid[1] == 1
        values = []
        for arg in args:
            if isinstance(arg, np.void):  # a struct by value: its bytes, as PyCUDA packs it
                values.append(_as_struct(bytes(arg)))
            elif isinstance(arg, np.integer):
                values.append(ctypes.c_longlong(int(arg)))
            else:
                raise TypeError(f"the fake pycuda got an argument of type {type(arg)}")
        run_blocks(self.library, self.name, grid[0], values)


def _as_struct(raw):
    """``raw`` as a ctypes struct of the same size and 8-byte alignment (the kernels'
    structs hold pointers and long longs, so the ABI passes them alike)."""
    assert len(raw) % 8 == 0
    kind = type(
        "raw_args", (ctypes.Structure,), {"_fields_": [("w", ctypes.c_longlong * (len(raw) // 8))]}
    )
    return kind.from_buffer_copy(raw)


def fake_pycuda(folder, calls):
    """A ``pycuda`` package (driver, tools) over host memory; ``calls`` records what
    graphad called."""
    drv = types.ModuleType("pycuda.driver")

    class Error(Exception):
        pass

    class Context:
        def push(self):
            calls.append("push")

        def pop(self):
            calls.append("pop")

        @staticmethod
        def synchronize():
            calls.append("synchronize")

    class Device:
        def __init__(self, ordinal):
            self.ordinal = ordinal

        @staticmethod
        def count():
            return 1

        def name(self):
            return "Fake GPU"

        def retain_primary_context(self):
            return Context()

    def module_from_buffer(source):
        assert source.endswith(b"\0")  # cuModuleLoadData reads PTX as a C string
        library = compile_library(source[:-1].decode(), folder)
        calls.append("module")
        return types.SimpleNamespace(get_function=lambda name: _Function(library, name))

    drv.Error, drv.Context, drv.Device = Error, Context, Device
    drv.init = lambda: calls.append("init")
    drv.module_from_buffer = module_from_buffer
    drv.memcpy_htod = lambda dst, src: ctypes.memmove(int(dst), src.ctypes.data, src.nbytes)
    drv.memcpy_dtoh = lambda dst, src: ctypes.memmove(dst.ctypes.data, int(src), dst.nbytes)
    drv.memcpy_dtod = lambda dst, src, n: ctypes.memmove(int(dst), int(src), n)

    tools = types.ModuleType("pycuda.tools")

    class DeviceMemoryPool:
        def allocate(self, nbytes):
            return _Allocation(nbytes)

        def stop_holding(self):
            pass

    tools.DeviceMemoryPool = DeviceMemoryPool
    package = types.ModuleType("pycuda")
    package.driver, package.tools = drv, tools
    return {"pycuda": package, "pycuda.driver": drv, "pycuda.tools": tools}


@pytest.fixture
def fake_gpu(tmp_path, monkeypatch):
    """``device=cuda`` on a PyCudaDevice over the fake pycuda."""
    calls = []
    for name, module in fake_pycuda(tmp_path, calls).items():
        monkeypatch.setitem(sys.modules, name, module)

    def source_module(kernels, timings=None):  # the fake "loads" CUDA source, not PTX
        from graphad.kernel.render_cuda import module_source

        path = tmp_path / f"module{len(list(tmp_path.glob('module*')))}.cu"
        path.write_text(module_source(list(kernels)))
        return str(path)

    monkeypatch.setattr("graphad.backend.cuda.module.ptx_module", source_module)
    device = runtime.PyCudaDevice()
    device._blas = fake_cublas_device(tmp_path)  # PyCudaDevice.gemm's cuBLAS
    with on_device(device):
        yield device, calls


_BLAS: dict = {}


def fake_cublas_device(folder):
    """A Cublas over the fake libcublas.so (built once per test session)."""
    if "blas" not in _BLAS:
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            pytest.skip("needs a C compiler")
        lib = folder / "libcublas_fake.so"
        cmd = [cc, "-O1", "-shared", "-fPIC", str(HERE / "fake_cublas.c"), "-o", str(lib)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        import os

        old = os.environ.get("GRAPHAD_CUBLAS")
        os.environ["GRAPHAD_CUBLAS"] = str(lib)
        try:
            _BLAS["blas"] = cublas.Cublas()
        finally:
            if old is None:
                del os.environ["GRAPHAD_CUBLAS"]
            else:
                os.environ["GRAPHAD_CUBLAS"] = old
    return _BLAS["blas"]


def test_a_training_step_runs_through_pycuda_device(fake_gpu):
    device, calls = fake_gpu
    assert device.name == "cuda:0 (Fake GPU)" and calls[:2] == ["init", "push"]
    rng = np.random.default_rng(0)
    x = ga.matrix("x", dtype="float32")
    y = ga.vector("y", dtype="int64")
    w0 = rng.standard_normal((6, 4)).astype("float32")
    w = ga.shared(w0, name="w")
    loss = ga.categorical_crossentropy(ga.softmax(ga.tanh(x @ w)), y).mean()
    step = ga.function([x, y], [loss, ga.max(ga.abs(x))], updates=[(w, w - 0.1 * ga.grad(loss, w))])
    xv, yv = rng.standard_normal((300, 6)).astype("float32"), rng.integers(0, 4, 300)
    got = [step(xv, yv)[0] for _ in range(3)]
    assert step.maker.vm.device is device and isinstance(w.container[0], runtime.DeviceArray)
    ga.config.device = "cpu"
    w_ref = ga.shared(w0)
    loss_ref = ga.categorical_crossentropy(ga.softmax(ga.tanh(x @ w_ref)), y).mean()
    ref = ga.function([x, y], loss_ref, updates=[(w_ref, w_ref - 0.1 * ga.grad(loss_ref, w_ref))])
    want = [ref(xv, yv) for _ in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(w.get_value(), w_ref.get_value(), rtol=1e-5)
    assert "module" in calls


def test_a_two_stage_reduction_passes_its_extra_argument(fake_gpu, monkeypatch):
    from graphad.backend.cuda import launch

    monkeypatch.setattr(launch, "CHUNK", 100)
    x = ga.vector("x")
    f = ga.function([x], ga.sum(ga.exp(x)))
    v = np.linspace(-1, 1, 1001)
    np.testing.assert_allclose(f(v), np.exp(v).sum(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cublas_signatures_on_the_fake_library(fake_gpu, dtype):
    rng = np.random.default_rng(1)
    a = ga.tensor("a", dtype, shape=(None, None, None))
    m = ga.matrix("m", dtype=dtype)
    b = ga.vector("b", dtype=dtype)
    outs = [a @ m, m.T @ m + b, m @ b]
    f = ga.function([a, m, b], outs)
    ref = ga.function([a, m, b], outs, mode="FAST_COMPILE")
    vals = [rng.standard_normal(s).astype(dtype) for s in ((2, 5, 5), (5, 5), (5,))]
    tol = 1e-5 if dtype == "float32" else 1e-12
    for g, w in zip(f(*vals), ref(*vals)):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    blas = fake_cublas_device(None)
    assert blas.lib.fake_cublas_calls(blas.handle) > 0


def test_cublas_reports_a_failed_call(tmp_path):
    blas = fake_cublas_device(tmp_path)
    with pytest.raises(RuntimeError, match="status 7"):
        blas.gemm("float32", 0, 0, 2, 2, 2, 1.0, 0, 1, 0, 0, 1, 0, 0.0, 0, 1, 0, 1)  # lda < m


def test_missing_cublas_says_how_to_install(monkeypatch):
    monkeypatch.setattr(cublas, "candidates", lambda: ["/nonexistent/libcublas.so"])
    with pytest.raises(ga.MissingToolError, match="nvidia-cublas"):
        cublas.Cublas()


def test_emulated_and_fake_devices_agree(fake_gpu, tmp_path):
    """The same function on both host stand-ins of a GPU gives the same bits."""
    device, _ = fake_gpu
    x = ga.matrix("x")
    outs = [ga.logsumexp(x, axis=1), ga.exp(x).T * 2]
    v = np.random.default_rng(2).standard_normal((7, 9))
    on_fake = ga.function([x], outs)(v)
    with runtime.use_device(EmulatedDevice(tmp_path)):
        on_emulated = ga.function([x], outs)(v)
    for a, b in zip(on_fake, on_emulated):
        np.testing.assert_array_equal(a, b)


def test_deferred_modules_build_many_functions_in_one_load(fake_gpu):
    device, calls = fake_gpu
    x = ga.vector("x")
    device.defer = True
    try:
        fs = [ga.function([x], ga.exp(x) * k + ga.sum(x)) for k in (2.0, 3.0, 4.0)]
    finally:
        device.defer = False
    before = calls.count("module")
    v = np.linspace(0, 1, 5)
    for k, f in zip((2.0, 3.0, 4.0), fs):
        np.testing.assert_allclose(f(v), np.exp(v) * k + v.sum(), rtol=1e-12)
    assert calls.count("module") == before + 1


def test_without_cublas_a_function_with_products_compiles_for_the_cpu(fake_gpu, monkeypatch):
    from graphad.compile import maker

    device, _ = fake_gpu
    monkeypatch.setattr(device, "_blas", None)  # PyCudaDevice loads cuBLAS again
    monkeypatch.setattr(cublas, "candidates", lambda: ["/nonexistent/libcublas.so"])
    monkeypatch.setattr(maker, "_warned", set())
    m = ga.matrix("m")
    with pytest.warns(UserWarning, match="cuBLAS.*run on the CPU"):
        f = ga.function([m], m @ m)
    assert f.maker.vm.device is None
    np.testing.assert_allclose(f(np.eye(2) * 3), np.eye(2) * 9)
    g = ga.function([m], ga.exp(m))  # no product: still the device
    assert g.maker.vm.device is device
