"""The CUDA renderer without a GPU: the CUDA source of every op-spec row's fused kernels,
of fused graphs and of every reduction form is generated and compiled with
``nvcc --ptx``, so a codegen error fails the suite (issue 10). Nothing here runs on a
device."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.backend.c.module import distinct_kernels, kernel_names, kernel_nodes
from graphad.compile.modes import Mode
from graphad.kernel.render_cuda import module_source
from tests.tensor.op_specs import ROWS
from tests.tensor.test_op_specs import _symbols

REPO = Path(__file__).resolve().parents[2]
# every rewrite of FAST_RUN, the NumPy backend: the fused graph, nothing compiled for C
REWRITTEN = Mode("FAST_RUN", passes="FAST_RUN", backend="numpy")


def nvcc():
    """The CUDA compiler the backend uses; skip when the CUDA toolkit is missing."""
    from graphad.backend.cuda.module import nvcc_path

    try:
        return nvcc_path()
    except ga.MissingToolError:
        pytest.skip("nvcc (the CUDA toolkit) is not installed")


def _kernels(outputs, inputs, updates=None):
    f = ga.function(inputs, outputs, updates=updates, mode=REWRITTEN, on_unused_input="ignore")
    return [n.op.kernel for n in kernel_nodes(f.maker.fgraph)]


def row_graphs():
    """(row, run, inputs, outputs) of every op-spec row and dtype, as the op-spec tests
    build them (inputs of unknown sizes unless the row is static)."""
    for row in ROWS:
        for run in row.dtypes:
            xs = _symbols(row, run, row.shapes)
            outs = row.build(*xs)
            yield row, run, xs, list(outs) if isinstance(outs, (list, tuple)) else [outs]


def _row_kernels():
    return [k for _, _, xs, outs in row_graphs() for k in _kernels(outs, xs)]


def _graph_kernels():
    """Fused graphs: a training step (softmax cross-entropy, GEMM, updates), reductions
    over every axis form with epilogues and exported values, random draws."""
    x = ga.matrix("x", dtype="float32")
    y = ga.vector("y", dtype="int64")
    w = ga.shared(np.zeros((3, 4), "float32"), name="w")
    loss = ga.categorical_crossentropy(ga.softmax(ga.tanh(x @ w)), y).mean()
    found = _kernels([loss], [x, y], updates=[(w, w - 0.1 * ga.grad(loss, w))])
    t = ga.tensor("t", "float64", shape=(None, None, None))
    e = ga.exp(t - 1)
    outs = [
        ga.logsumexp(t, axis=2),
        (t * 2).sum(axis=(0, 2), keepdims=True) + 1,
        ga.max(ga.abs(t)),  # every axis: the two-stage form
        ga.mean(t, axis=0),
        ga.all(t > 0, axis=1),
        ga.argmax(t, axis=1),
        e / e.sum(axis=2, keepdims=True),  # the sum's pass exports e
        ga.var(t, axis=1),
    ]
    found += _kernels(outs, [t])
    rng = ga.RandomStream(0)
    m = ga.matrix("m")
    found += _kernels(
        [m * rng.binomial(m.shape, p=0.9) + rng.normal(m.shape) * rng.uniform(m.shape)], [m]
    )
    return found


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(names, ptx text) of one module holding every distinct kernel of the suite."""
    compiler = nvcc()
    kernels = list(dict.fromkeys(_row_kernels() + _graph_kernels()))
    names = [(f"k{i}", k) for i, k in enumerate(kernels)]
    folder = tmp_path_factory.mktemp("cuda")
    src, ptx = folder / "kernels.cu", folder / "kernels.ptx"
    src.write_text(module_source(names))
    proc = subprocess.run(
        [
            compiler,
            "--ptx",
            "-Werror",
            "all-warnings",
            f"-I{REPO / 'kernels'}",
            str(src),
            "-o",
            str(ptx),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    return names, ptx.read_text()


def test_every_kernel_compiles_to_ptx(compiled):
    names, ptx = compiled
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert len(names) > 100
    for name, kernel in names:
        assert name in entries, f"{name} ({kernel.describe()}) is not in the PTX"
        if kernel.reduce is not None and len(kernel.reduce.axes) == kernel.reduce.ndim:
            assert {f"{name}_stage1", f"{name}_stage2"} <= entries


def test_float32_math_stays_float32(compiled):
    """A float32 kernel calls the float functions (expf), no double math."""
    names, _ = compiled
    source = module_source(
        [
            (n, k)
            for n, k in names
            if k.reduce is None and {i.dtype for i in k.inputs} == {"float32"}
        ]
    )
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.S)  # not the describing comments
    assert "tanhf(" in code and "expf(" in code
    assert not re.search(r"\b(exp|tanh|log|sqrt|sin|cos)\(", code)


def test_reductions_combine_in_shared_memory_then_by_warp_shuffles(compiled):
    names, ptx = compiled
    reductions = [(n, k) for n, k in names if k.reduce is not None]
    source = module_source(reductions)
    assert "__shared__" in source and "__syncthreads()" in source
    floats = module_source([(n, k) for n, k in reductions if k.reduce.dtype == "float32"][:2])
    assert "__shfl_down_sync" in floats
    assert "shfl.sync.down" in ptx


def test_ptx_modules_are_built_once_and_cached(tmp_path, monkeypatch):
    from graphad.backend.cuda.module import ptx_module

    nvcc()
    monkeypatch.setattr(ga.config, "compiledir", str(tmp_path))
    x = ga.matrix("x", dtype="float32")
    h = x
    for _ in range(3):
        h = ga.tanh(h * 0.5 + 1)  # one kernel: too short to split
    f = ga.function([x], [h.sum(axis=1), ga.exp(x) * 2], mode=REWRITTEN)
    names = kernel_names(kernel_nodes(f.maker.fgraph))
    first, second = {}, {}
    path = ptx_module(distinct_kernels(names).items(), first)
    again = ptx_module(distinct_kernels(names).items(), second)
    assert again == path and first["compiler"] > 0 and second["compiler"] == 0
    ptx = Path(path).read_text()
    assert set(names.values()) <= set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert ".target sm_75" in ptx
    assert {"gd_copy4", "gd_copy8"} <= set(re.findall(r"\.entry\s+(\w+)", ptx))


def test_missing_nvcc_says_how_to_install(monkeypatch):
    from graphad.backend.cuda import module

    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(module.os.path, "exists", lambda p: False)
    with pytest.raises(ga.MissingToolError, match="CUDA toolkit"):
        module.nvcc_path()
