"""The CUDA backend on a real GPU through PyCUDA (issue 10, "with a GPU"): the op-spec
table, the random-graph property test, cuBLAS, Philox and the examples under
``device=cuda`` against the NumPy reference. Every test here is skipped, with the
reason, where PyCUDA or a GPU is missing; test_cuda_runtime.py runs the same checks on
the host emulation everywhere.
"""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings

import graphad as ga
from tests.backend.cuda_device import on_device
from tests.backend.test_cuda_runtime import check_rows, row_functions
from tests.test_examples import REPO, run_script
from tests.test_random_graphs import EXAMPLES, cases, check_case

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu():
    """The process's GPU, with ``device=cuda`` for the module's functions."""
    pytest.importorskip(
        "pycuda", reason="PyCUDA is not installed: pip install 'graphad[cuda]' on a GPU machine"
    )
    from graphad.backend.cuda.runtime import current_device

    try:
        device = current_device()
    except ga.MissingToolError as exc:
        pytest.skip(f"no usable GPU: {exc}")
    with on_device(device):
        yield device


def test_every_op_spec_row_on_the_gpu(gpu):
    gpu.defer = True  # one nvcc run for the kernels of every row
    try:
        found = row_functions()
    finally:
        gpu.defer = False
    gpu.build_deferred()
    assert all(f.maker.vm.device is gpu for _, _, f, _, _ in found)
    assert check_rows(found) > 100


@settings(max_examples=max(EXAMPLES // 5, 1), deadline=None, derandomize=True, database=None)
@given(case=cases())
def test_random_graphs_on_the_gpu(gpu, case):
    """A fifth of the CPU test's examples: each compiles its own module with nvcc."""
    check_case(case, ["FAST_RUN"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_products_and_reductions(gpu, dtype):
    rng = np.random.default_rng(0)
    a, b = ga.matrix("a", dtype=dtype), ga.matrix("b", dtype=dtype)
    outs = [a @ b, (a.T @ b).sum(axis=0), ga.max(ga.abs(a)), ga.tanh(a).sum(axis=1)]
    f = ga.function([a, b], outs)
    ref = ga.function([a, b], outs, mode="FAST_COMPILE")
    av = rng.standard_normal((1500, 1500)).astype(dtype)
    bv = rng.standard_normal((1500, 700)).astype(dtype)
    tol = 2e-3 if dtype == "float32" else 1e-9
    for g, w in zip(f(av, bv), ref(av, bv)):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * 40)
    assert {"CUDA kernel", "cuBLAS"} <= set(f.maker.vm.backends())


def test_a_sum_of_many_elements_combines_blocks(gpu):
    x = ga.vector("x", dtype="float64")
    f = ga.function([x], [ga.sum(x), ga.max(x), ga.argmax(x)])
    v = np.random.default_rng(1).standard_normal(10_000_019)
    got = f(v)
    np.testing.assert_allclose(got[0], v.sum(), rtol=1e-9)
    assert got[1] == v.max() and got[2] == v.argmax()


def test_random_streams_give_the_reference_bits(gpu):
    s = ga.RandomStream(7)
    m = ga.matrix("m", dtype="float32")
    outs = [s.uniform(m.shape, dtype="float32"), s.binomial(m.shape, p=0.3), s.normal(m.shape)]
    f = ga.function([m], outs)
    values = f(np.zeros((300, 70), "float32"))
    s.seed(7)
    ref = ga.function([m], outs, mode="FAST_COMPILE")
    want = ref(np.zeros((300, 70), "float32"))
    np.testing.assert_array_equal(values[0], want[0])  # uniforms and binomials: same bits
    np.testing.assert_array_equal(values[1], want[1])
    np.testing.assert_allclose(values[2], want[2], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    "script, args",
    [
        ("mlp_digits.py", ["--epochs", "5"]),
        ("logistic_regression.py", []),
        ("hessian_vector_newton_cg.py", []),
        ("lissa.py", []),
        ("bbvi.py", []),
        ("hypergradient.py", []),
    ],
)
def test_examples_on_the_gpu(gpu, script, args, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHAD_FLAGS", "device=cuda")
    out = run_script(REPO / "examples" / script, *args, cwd=tmp_path)
    assert out.strip(), script
    if script == "mlp_digits.py":
        accuracy = float(re.search(r"^test accuracy: ([0-9.]+)", out, re.M).group(1))
        assert accuracy >= 0.9, out


def test_examples_do_not_fall_back_to_the_cpu(gpu, tmp_path):
    """The child interpreter finds the GPU too (no 'run on the CPU' warning)."""
    import subprocess

    code = (
        "import warnings, graphad as ga\n"
        "warnings.simplefilter('error')\n"
        "x = ga.vector('x')\n"
        "f = ga.function([x], x * 2)\n"
        "print(f.maker.vm.device.name)\n"
    )
    env = dict(os.environ, GRAPHAD_FLAGS="device=cuda", PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "cuda:0" in proc.stdout, proc.stderr
