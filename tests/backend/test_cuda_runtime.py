"""The CUDA backend end to end, without a GPU: ``device=cuda`` functions run on the host
emulation of tests/backend/cuda_device.py (generated CUDA compiled as host C++, cuBLAS's
contract by NumPy), so the plans, argument structs, transfers, views, device-resident
shared variables, the cuBLAS mapping and the host fallbacks are checked against the
NumPy reference (FAST_COMPILE). tests/backend/test_cuda_gpu.py runs the same on a GPU.
"""

from __future__ import annotations

import pickle
import re
import runpy
import sys
import warnings
import zlib

import numpy as np
import pytest

import graphad as ga
from graphad.backend.cuda import launch
from graphad.backend.cuda.runtime import DeviceArray
from tests.backend.cuda_device import REPO, EmulatedDevice, on_device
from tests.kernel.test_render_cuda import row_graphs


def compare(row, got, want, what, inputs=()):
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


def row_functions():
    """(row, run, device=cuda function, FAST_COMPILE function, values) of every op-spec
    row and dtype; compile under ``device=cuda``."""
    found = []
    for row, run, xs, outs in row_graphs():
        gpu = ga.function(xs, outs, on_unused_input="ignore")
        ref = ga.function(xs, outs, mode="FAST_COMPILE", on_unused_input="ignore")
        rng = np.random.default_rng(zlib.crc32(f"{row.name}-{run}".encode()))
        found.append((row, run, gpu, ref, row.sample(rng, run)))
    return found


def check_rows(found):
    """Run every row on the device and the reference; the number of rows whose graph
    ran at least one CUDA kernel."""
    ran = 0
    for row, run, gpu, ref, values in found:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = ref(*values)
            got = gpu(*values)
        want = want if isinstance(want, list) else [want]
        got = got if isinstance(got, list) else [got]
        assert all(isinstance(g, np.ndarray) for g in got), (row.name, run)
        compare(row, got, want, f"{row.name} {run}", values)
        ran += "CUDA kernel" in gpu.maker.vm.backends()
    return ran


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    with on_device(EmulatedDevice(tmp_path_factory.mktemp("emulated"))) as device:
        found = row_functions()
        device.build_deferred()  # every kernel in one compiler run
        yield device, found


def test_every_op_spec_row_matches_the_reference(rows):
    device, found = rows
    assert all(f.maker.vm.device is device for _, _, f, _, _ in found)
    assert check_rows(found) > 100


@pytest.mark.parametrize("threads", [64])
def test_reductions_combine_the_threads_of_a_block(tmp_path, monkeypatch, threads):
    """Every op-spec row with a reduction, on blocks of real threads: the combine of
    the threads' accumulators (shared memory, then warp shuffles from 64 threads up)
    matches the reference. (GPUs run 256; 64 and 32 take the other branches.)"""
    monkeypatch.setattr(launch, "CHUNK", 300)  # reductions of every element: a few chunks
    with on_device(EmulatedDevice(tmp_path, threads=threads)) as device:
        found = [
            case
            for case in row_functions()
            if any(n.op.kernel.reduce for n in _kernel_nodes(case[2]))
        ]
        needed = {n.op.kernel for case in found for n in _kernel_nodes(case[2])}
        device._pending = [(name, k) for name, k in device._pending if k in needed]
        assert check_rows(found) == len(found) > 20


def test_blocks_of_256_threads_as_a_gpu_runs_them(tmp_path, monkeypatch):
    """The launch size GPUs get: row reductions of every accumulator kind, with an
    epilogue and an export, and a reduction of every element in two stages."""
    device = EmulatedDevice(tmp_path, threads=256)
    monkeypatch.setattr(launch, "CHUNK", 300)
    x = ga.matrix("x", dtype="float32")
    n = ga.matrix("n", dtype="int64")
    e = ga.exp(x - x.max(axis=1, keepdims=True))
    outs = [
        ga.log(e.sum(axis=1)) + 1,  # float32 sums by shuffles, an epilogue
        e / e.sum(axis=1, keepdims=True),  # the sum's pass exports e
        ga.argmax(x, axis=1),
        ga.all(x > -3, axis=1),  # a bool accumulator: shared memory only
        (n * 3).sum(axis=1),
        ga.sum(ga.abs(x)),  # every element: two stages
        ga.max(x),
    ]
    with on_device(device):
        gpu = ga.function([x, n], outs)
    ref = ga.function([x, n], outs, mode="FAST_COMPILE")
    rng = np.random.default_rng(5)
    xv = rng.standard_normal((3, 700)).astype("float32")
    nv = rng.integers(-9, 9, (3, 700))
    for g, w in zip(gpu(xv, nv), ref(xv, nv)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert any(name.endswith("_stage1") for name in device.launched)


def _kernel_nodes(f):
    return [n for n in f.maker.fgraph.apply_nodes if getattr(n.op, "kernel", None) is not None]


def test_strided_and_broadcast_operands(emulated_cuda):
    x = ga.matrix("x")
    b = ga.vector("b")
    outs = [ga.tanh(x * 2 + b), (x * b).sum(axis=0), ga.exp(x).max(axis=1, keepdims=True) + b]
    gpu = ga.function([x, b], outs)
    ref = ga.function([x, b], outs, mode="FAST_COMPILE")
    v = np.arange(24.0).reshape(4, 6)[:, ::2] / 10  # not contiguous
    for xv, bv in [(v, np.ones(3)), (v.T.copy().T, np.arange(3.0)), (np.ones((1, 3)), np.ones(3))]:
        for g, w in zip(gpu(xv, bv), ref(xv, bv)):
            np.testing.assert_allclose(g, w, rtol=1e-12)


def test_two_stage_reduction_of_every_element(emulated_cuda, monkeypatch):
    monkeypatch.setattr(launch, "CHUNK", 1000)  # several chunks without a huge array
    x = ga.vector("x", dtype="float32")
    outs = [ga.sum(x * 3), ga.max(ga.abs(x)), ga.mean(ga.exp(x)), ga.all(x < 2)]
    gpu = ga.function([x], outs)
    ref = ga.function([x], outs, mode="FAST_COMPILE")
    v = np.random.default_rng(0).standard_normal(4321).astype(np.float32)
    v[1234] = -1.5
    for g, w in zip(gpu(v), ref(v)):
        np.testing.assert_allclose(g, w, rtol=1e-5)
    assert any(name.endswith("_stage2") for name in emulated_cuda.launched)
    v[17] = np.nan
    got, want = gpu(v), ref(v)
    assert np.isnan(got[1]) and np.isnan(want[1])  # NaN survives the combine of the chunks


# --- products on cuBLAS ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products_of_every_layout_match_numpy(emulated_cuda, dtype):
    rng = np.random.default_rng(1)
    a = ga.tensor("a", dtype, shape=(None,) * 3)
    b = ga.tensor("b", dtype, shape=(None,) * 3)
    m, n = ga.matrix("m", dtype=dtype), ga.matrix("n", dtype=dtype)
    v = ga.vector("v", dtype=dtype)
    cases = [
        ([m, n], m @ n),
        ([m, n], m.T @ n),  # a transposed view: operation T, no copy
        ([m, n], m @ n.T),
        ([m, v], m @ v),  # matrix-vector, vector-matrix
        ([m, v], v @ m),
        ([a, b], a @ b),  # batched
        ([a, m], a @ m),  # the matrix broadcast over the batch (stride 0)
        ([a, b], ga.transpose(a, (0, 2, 1)) @ b),
    ]
    values = {
        "m": rng.standard_normal((6, 6)),
        "n": rng.standard_normal((6, 6)),
        "v": rng.standard_normal(6),
        "a": rng.standard_normal((3, 6, 6)),
        "b": rng.standard_normal((3, 6, 6)),
    }
    for ins, out in cases:
        gpu = ga.function(ins, out)
        ref = ga.function(ins, out, mode="FAST_COMPILE")
        args = [values[i.name].astype(dtype) for i in ins]
        strided = [x[..., ::2, ::2] if x.ndim > 1 else x[::2] for x in args]  # copied first
        # rows broadcast from one (stride 0: uploaded once, packed on the device)
        broadcast = [np.broadcast_to(x[..., :1, :], x.shape) if x.ndim > 1 else x for x in args]
        for vals in (args, strided, broadcast):
            if vals is strided and out.owner.inputs[0].owner is not None:
                continue
            tol = 1e-5 if dtype == "float32" else 1e-12
            np.testing.assert_allclose(gpu(*vals), ref(*vals), rtol=tol, atol=tol)
        assert "cuBLAS" in gpu.maker.vm.backends(), out
    assert emulated_cuda.gemms > 0


def test_gemm_with_a_broadcast_c_and_empty_products(emulated_cuda):
    x = ga.matrix("x", dtype="float32")
    w = ga.matrix("w", dtype="float32")
    bias = ga.vector("bias", dtype="float32")
    out = x @ w + bias
    gpu = ga.function([x, w, bias], out)
    ref = ga.function([x, w, bias], out, mode="FAST_COMPILE")
    assert "Gemm" in str([n.op for n in gpu.maker.fgraph.apply_nodes])
    rng = np.random.default_rng(2)
    for k in (4, 0):  # k = 0: the product is zeros, the result the broadcast bias
        vals = [rng.standard_normal(s).astype("float32") for s in ((3, k), (k, 5), (5,))]
        np.testing.assert_allclose(gpu(*vals), ref(*vals), rtol=1e-5, atol=1e-6)
    with pytest.raises(ga.ShapeError, match="do not match"):
        gpu(np.ones((3, 4), "float32"), np.ones((3, 5), "float32"), np.ones(5, "float32"))


# --- memory: transfers, views, shared variables ------------------------------------------


def test_inputs_upload_once_and_views_stay_on_the_device(emulated_cuda):
    x = ga.matrix("x", dtype="float32")
    y = ga.exp(x.T) * 2 + ga.sum(x)  # x read by a view, a kernel and a reduction
    f = ga.function([x], y, profile=True)
    v = np.arange(12, dtype="float32").reshape(3, 4) / 10
    np.testing.assert_allclose(f(v), np.exp(v.T) * 2 + v.sum(), rtol=1e-6)
    assert f.moved == [v.nbytes, v.nbytes]  # one upload, one download
    kinds = f.maker.vm.backends()
    assert "view" in kinds and "CUDA kernel" in kinds
    summary = f.profile.summary()
    assert "emulated (host)" in summary and f"{v.nbytes:12d} / {v.nbytes:12d}" in summary


def test_outputs_on_device_feed_the_next_function_without_transfers(emulated_cuda):
    x = ga.vector("x", dtype="float32")
    double = ga.function([x], x * 2, outputs_on_device=True)
    inc = ga.function([x], x + 1)
    d = double(np.arange(4, dtype="float32"))
    assert isinstance(d, DeviceArray) and d.shape == (4,) and d.dtype == np.float32
    up = emulated_cuda.uploaded
    np.testing.assert_array_equal(inc(d), [1, 3, 5, 7])
    assert emulated_cuda.uploaded == up  # the argument was already there
    np.testing.assert_array_equal(np.asarray(d), [0, 2, 4, 6])
    assert pickle.loads(pickle.dumps(d)).tolist() == [0, 2, 4, 6]
    # an output that is an argument itself is copied, never handed out twice
    same = ga.function([x], [x, x * 1], outputs_on_device=True)
    a, _ = same(d)
    assert not a.shares_memory(d)
    z = ga.vector("z", dtype="float64")
    with pytest.raises(ga.GraphadTypeError, match="DeviceArray of dtype float32.*expected"):
        ga.function([z], z + 1)(d)


def test_shared_variables_live_on_the_device(emulated_cuda):
    rng = np.random.default_rng(3)
    x = ga.matrix("x", dtype="float32")
    y = ga.vector("y", dtype="int64")
    w0 = rng.standard_normal((5, 3)).astype("float32")
    w = ga.shared(w0, name="w")
    loss = ga.categorical_crossentropy(ga.softmax(x @ w), y).mean()
    step = ga.function([x, y], loss, updates=[(w, w - 0.5 * ga.grad(loss, w))])
    xv, yv = rng.standard_normal((8, 5)).astype("float32"), rng.integers(0, 3, 8)
    losses = [float(step(xv, yv)) for _ in range(3)]
    assert isinstance(w.container[0], DeviceArray)
    # the same steps on the CPU from the same start
    ga.config.device = "cpu"
    w_cpu = ga.shared(w0, name="w_cpu")
    loss_cpu = ga.categorical_crossentropy(ga.softmax(x @ w_cpu), y).mean()
    step_cpu = ga.function(
        [x, y], loss_cpu, updates=[(w_cpu, w_cpu - 0.5 * ga.grad(loss_cpu, w_cpu))]
    )
    want = [float(step_cpu(xv, yv)) for _ in range(3)]
    np.testing.assert_allclose(losses, want, rtol=1e-5)
    np.testing.assert_allclose(w.get_value(), w_cpu.get_value(), rtol=1e-5)
    # set_value uploads; get_value downloads a copy
    w.set_value(np.ones((5, 3), "float32"))
    assert isinstance(w.container[0], DeviceArray)
    got = w.get_value()
    got[0, 0] = 7
    assert w.get_value()[0, 0] == 1
    with pytest.raises(ga.GraphadTypeError, match="float32"):
        w.set_value(np.ones((5, 3)))
    # a CPU function reading it brings it back to the host
    read = ga.function([], w.sum())
    assert float(read()) == 15 and isinstance(w.container[0], np.ndarray)
    # a pickled shared variable carries its value
    assert pickle.loads(pickle.dumps(w)).get_value().sum() == 15


def test_ops_without_a_gpu_path_run_on_the_host_and_the_profile_shows_it(emulated_cuda):
    x = ga.matrix("x")
    i = ga.vector("i", dtype="int64")
    y = ga.exp(x[i]).sum(axis=1) + x.sum()  # advanced indexing has no CUDA path
    f = ga.function([x, i], y, profile=True)
    xv, iv = np.arange(12.0).reshape(4, 3) / 10, np.array([3, 0, 3])
    np.testing.assert_allclose(f(xv, iv), np.exp(xv[iv]).sum(axis=1) + xv.sum())
    moved = {}
    for kind, (thunk, *_) in zip(f.maker.vm.backends(), f.maker.vm.steps):
        moved.setdefault(kind, [0, 0])
        moved[kind] = [m + t for m, t in zip(moved[kind], thunk.moved)]
    assert moved["host"][1] == xv.nbytes  # x[i] downloaded x (uploaded for the sum)
    assert moved["CUDA kernel"][0] == 3 * 3 * 8  # the kernel uploaded x[i]
    summary = f.profile.summary()
    assert "host:" in summary and "bytes moved" in summary
    with pytest.raises(IndexError):
        f(xv, np.array([4]))


def test_shape_errors_name_the_node(emulated_cuda):
    x, y = ga.vector("x"), ga.vector("y")
    f = ga.function([x, y], ga.exp(x) + y)
    with pytest.raises(ga.ShapeError, match="fused kernel"):
        f(np.ones(3), np.ones(4))


def test_a_function_pickles_and_runs_again(emulated_cuda):
    x = ga.vector("x")
    f = ga.function([x], ga.tanh(x) * 3, outputs_on_device=True)
    g = pickle.loads(pickle.dumps(f))
    assert g.outputs_on_device and g.maker.vm.device is emulated_cuda
    np.testing.assert_allclose(np.asarray(g(np.ones(2))), np.tanh(np.ones(2)) * 3)
    np.testing.assert_allclose(np.asarray(f.copy()(np.ones(2))), np.tanh(np.ones(2)) * 3)


def test_without_pycuda_device_cuda_warns_and_runs_on_the_cpu(monkeypatch):
    from graphad.backend.cuda import runtime
    from graphad.compile import maker

    monkeypatch.setattr(maker, "_warned", set())
    monkeypatch.setattr(runtime, "_failed", [])
    monkeypatch.setattr(runtime, "_current", [])
    monkeypatch.setenv("GRAPHAD_NO_GPU", "1")
    monkeypatch.setattr(ga.config, "device", "cuda")
    x = ga.vector("x")
    with pytest.warns(UserWarning, match="device=cuda.*run on the CPU"):
        f = ga.function([x], x + 1)
    assert f.maker.vm.device is None
    np.testing.assert_array_equal(f([1.0]), [2.0])


def test_arrays_of_another_device_go_through_the_host(emulated_cuda, tmp_path):
    other = EmulatedDevice(tmp_path / "other")
    (tmp_path / "other").mkdir()
    x = ga.vector("x")
    w = ga.shared(np.arange(3.0), name="w")
    f = ga.function([x], x * w)
    elsewhere = other.upload(np.ones(3))
    np.testing.assert_array_equal(f(elsewhere), [0, 1, 2])
    w.container[0] = other.upload(np.full(3, 2.0))  # as if another device's function ran
    np.testing.assert_array_equal(f(np.ones(3)), [2, 2, 2])
    assert w.container[0].device is emulated_cuda


def test_a_cpu_function_compiled_before_the_move_brings_values_back(emulated_cuda, monkeypatch):
    w = ga.shared(np.arange(4.0), name="w")
    monkeypatch.setattr(ga.config, "device", "cpu")
    total = ga.function([], w.sum())  # C runner: reads the value as it is
    other = ga.function([], ga.shared(np.ones(2)).sum())  # reads another variable
    assert total._fast is not None and float(total()) == 6
    monkeypatch.setattr(ga.config, "device", "cuda")
    x = ga.vector("x")
    step = ga.function([x], x, updates=[(w, w + x)])
    step(np.ones(4))
    assert isinstance(w.container[0], DeviceArray)
    assert total._fast is None and other._fast is not None  # only w's readers change
    assert float(total()) == 10 and isinstance(w.container[0], np.ndarray)
    assert total._fast is not None  # the value is back: the C runner again
    step(np.ones(4))
    monkeypatch.setattr(ga.config, "device", "cpu")
    late = ga.function([], w * 1)  # compiled while the value is on the device
    np.testing.assert_array_equal(late(), [2, 3, 4, 5])


@pytest.mark.parametrize(
    "script, check",
    [
        ("logistic_regression.py", r"10-class test accuracy: 0\.9[0-9]"),
        ("mlp_digits.py", r"test accuracy: 0\.9[5-9]"),
        ("hessian_vector_newton_cg.py", r"hvp check: relative error [0-9.]+e-1[0-9]"),
        ("lissa.py", r"LiSSA relative error vs np.linalg.solve: [0-9.]+e-0[4-9]"),
        ("bbvi.py", r"\(rose\)"),
        ("hypergradient.py", r"relative error [0-9.]+e-(0[6-9]|1[0-9])"),
    ],
)
def test_the_examples_run_on_the_device(emulated_cuda, script, check, capsys, monkeypatch):
    """Each example as a user runs it, with ``device=cuda`` (no fallback warning) on
    the emulation; its own printed check must hold."""
    pytest.importorskip("sklearn", reason="the examples need scikit-learn: pip install .[examples]")
    emulated_cuda.defer = False
    monkeypatch.setattr(sys, "argv", [script])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            runpy.run_path(str(REPO / "examples" / script), run_name="__main__")
        except SystemExit as exc:
            assert not exc.code, exc.code
    out = capsys.readouterr().out
    assert re.search(check, out), out
    assert emulated_cuda.launched and emulated_cuda.gemms
