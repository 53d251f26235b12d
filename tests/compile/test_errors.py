"""Run-time errors name the op, the input shapes and dtypes, the user's line (through
rewrites and fusion) and, for a fused kernel, the expression it computes: in FAST_RUN
(compiled, with the C call path and with the profiler's Python loop) and FAST_COMPILE."""

from __future__ import annotations

import inspect
import os
import re

import numpy as np
import pytest

import graphad as ga

HERE = os.path.basename(__file__)

# (mode, profile): the C runner, the Python loop, the NumPy reference backend
PATHS = [("FAST_RUN", False), ("FAST_RUN", True), ("FAST_COMPILE", False)]


def _line():
    return inspect.currentframe().f_back.f_lineno


def _compile(inputs, output, path):
    mode, profile = path
    return ga.function(inputs, output, mode=mode, profile=profile)


def _raised(f, *args):
    with pytest.raises(ga.GraphadError) as info:
        f(*args)
    return info.value, str(info.value)


@pytest.mark.parametrize("path", PATHS)
def test_broadcast_failure_in_a_fused_kernel(path):
    x, y = ga.vector("x"), ga.vector("y")
    line = _line() + 1
    out = ga.exp(x) * 2 + y
    err, text = _raised(_compile([x, y], out, path), np.ones(3), np.ones(4))
    assert isinstance(err, ga.ShapeError) and isinstance(err, ValueError)
    assert "float64[3]" in text and "float64[4]" in text
    assert f"{HERE}:{line}" in text
    if path[0] == "FAST_RUN":  # one kernel: its expression is named
        assert "fused kernel add(mul(exp(i0), 2.0), i1)" in text
    else:
        assert "Elemwise{add}" in text
    assert err.node is not None


@pytest.mark.parametrize("path", PATHS)
def test_the_line_of_every_fused_node_is_named(path):
    """A kernel made of nodes from two lines names both: the failing add is on the
    first, the kernel's root on the second."""
    x, y = ga.vector("x"), ga.vector("y")
    first = _line() + 1
    t = x + y
    second = _line() + 1
    out = ga.tanh(t) * 3
    _, text = _raised(_compile([x, y], out, path), np.ones(2), np.ones(5))
    assert f"{HERE}:{first}" in text
    if path[0] == "FAST_RUN":
        assert f"{HERE}:{second}" in text and "tanh" in text


@pytest.mark.parametrize("path", PATHS)
def test_index_out_of_range(path):
    m, i = ga.matrix("m"), ga.vector("i", dtype="int64")
    line = _line() + 1
    out = ga.tanh(m[i]).sum()
    err, text = _raised(_compile([m, i], out, path), np.ones((3, 3)), np.array([5]))
    assert isinstance(err, IndexError)
    assert "Subtensor" in text and "index 5" in text
    assert "float64[3, 3]" in text and "int64[1]" in text
    assert f"{HERE}:{line}" in text


@pytest.mark.parametrize("path", PATHS)
def test_matrix_product_of_wrong_shapes(path):
    a, b = ga.matrix("a"), ga.matrix("b")
    line = _line() + 1
    out = (a @ b).sum()
    err, text = _raised(_compile([a, b], out, path), np.ones((3, 2)), np.ones((3, 2)))
    assert isinstance(err, ga.ShapeError)
    assert "MatMul" in text and "do not match: 2 (the first's last axis) != 3" in text
    assert f"{HERE}:{line}" in text


@pytest.mark.parametrize("path", PATHS)
def test_reduction_of_nothing(path):
    x = ga.matrix("x")
    line = _line() + 1
    out = ga.exp(ga.max(x, axis=0))
    err, text = _raised(_compile([x], out, path), np.ones((0, 3)))
    assert isinstance(err, ValueError)
    assert "zero-size array" in text and "float64[0, 3]" in text
    assert f"{HERE}:{line}" in text
    if path[0] == "FAST_RUN":
        assert "fused kernel exp(Max{axis=[0]}(i0))" in text


@pytest.mark.parametrize("path", PATHS)
def test_the_line_survives_a_stabilizing_rewrite(path):
    """log(softmax(z)) is rewritten to the log-softmax form; its failure still points
    at the user's line."""
    z, y = ga.matrix("z"), ga.matrix("y")
    line = _line() + 1
    out = ga.log(ga.softmax(z)) * y
    _, text = _raised(_compile([z, y], out, path), np.ones((2, 3)), np.ones((2, 4)))
    assert f"{HERE}:{line}" in text
    assert "float64[2, 3]" in text or "float64[2, 1]" in text


def test_the_c_runner_and_the_python_loop_say_the_same():
    x, y = ga.vector("x"), ga.vector("y")
    out = ga.sqrt(x) - y
    texts = {
        _raised(_compile([x, y], out, ("FAST_RUN", profile)), np.ones(2), np.ones(3))[1]
        for profile in (False, True)
    }
    assert len(texts) == 1, texts


def test_an_unforeseen_failure_while_compiling_is_a_compile_error_naming_the_line(monkeypatch):
    """No exception other than a graphad error leaves ``ga.function``: a bug deep in
    the backend becomes a CompileError naming the user's line, with the original
    error chained."""
    from graphad.compile import maker

    def broken(self):
        raise KeyError("slot 7")

    monkeypatch.setattr(maker.FunctionMaker, "build_vm", broken)
    x = ga.vector("x")
    line = _line() + 1
    out = ga.exp(x).sum()
    with pytest.raises(ga.CompileError) as info:
        ga.function([x], out)
    msg = str(info.value)
    assert f"{HERE}:{line}" in msg and "KeyError" in msg and "slot 7" in msg
    assert "bug in graphad" in msg and isinstance(info.value.__cause__, KeyError)


def test_a_pass_that_fails_outside_tests_is_skipped_with_a_warning(monkeypatch):
    """Outside tests (no rewrite_checks) a pass that raises is cut short with a warning
    naming it, and the function still computes the right values."""
    from graphad.rewrite import pipeline

    step = next(s for s in pipeline.FAST_RUN if s.name == "specialize")

    def broken(fgraph, record, strict=False):
        raise IndexError("rule table corrupted")

    monkeypatch.setattr(step, "run", broken)
    monkeypatch.setattr(ga.config, "rewrite_checks", False)
    x = ga.vector("x")
    with pytest.warns(UserWarning, match="'specialize' failed.*rule table corrupted"):
        f = ga.function([x], (x**2).sum())
    assert float(f([1.0, 2.0])) == 5.0
    monkeypatch.setattr(ga.config, "rewrite_checks", True)
    with pytest.raises(ga.RewriteError, match="specialize"):
        ga.function([x], (x**2).sum())


# --- the user's words and the user's line ---------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
def test_a_broadcast_failure_inside_a_kernel_names_that_expression_and_its_line(path):
    """``a + b`` fails inside a kernel that ends in a ``sum`` built on a later line:
    the error names ``a + b`` and its own line, not the sum's."""
    a, b = ga.vector("a"), ga.vector("b")
    line = _line() + 1
    c = a + b
    total = (c * 2).sum()
    err, msg = _raised(_compile([a, b], total, path), np.ones(3), np.ones(4))
    assert isinstance(err, ga.ShapeError)
    assert msg.startswith("`a + b` failed")
    assert re.search(rf"built at: \S*{HERE}:{line}\n", msg)


@pytest.mark.parametrize("path", PATHS)
def test_a_product_plus_a_constant_is_named_as_written_not_as_gemm(path):
    A, B = ga.matrix("A"), ga.matrix("B")
    line = _line() + 1
    out = A @ B + 1
    err, msg = _raised(_compile([A, B], out, path), np.ones((2, 3)), np.ones((4, 2)))
    # compiled, the sum runs inside the product (GEMM); the reference fails at A @ B
    assert msg.startswith("`A @ B + 1" if path[0] == "FAST_RUN" else "`A @ B`")
    assert f"{HERE}:{line}" in msg
    assert "Gemm" not in msg.split("\n")[0]


@pytest.mark.parametrize("path", PATHS)
def test_an_nd_dot_mismatch_names_the_dot(path):
    X, W = ga.tensor3("X"), ga.matrix("W")
    line = _line() + 1
    out = ga.dot(X, W)
    err, msg = _raised(_compile([X, W], out, path), np.ones((2, 3, 4)), np.ones((5, 2)))
    assert msg.startswith("`ga.dot(X, W)` failed") and f"{HERE}:{line}" in msg
    assert "Reshape" not in msg.split("\n")[0]


@pytest.mark.parametrize("path", PATHS)
def test_an_index_error_names_the_index_expression(path):
    v, i = ga.vector("v"), ga.lscalar("i")
    err, msg = _raised(_compile([v, i], v[i] * 2, path), np.ones(2), 5)
    assert isinstance(err, IndexError)
    assert msg.startswith("`v[i]` failed") and "Subtensor{?}" not in msg.split("\n")[0]


@pytest.mark.parametrize("path", PATHS)
def test_a_reshape_error_prints_plain_integers(path):
    m = ga.matrix("m")
    err, msg = _raised(_compile([m], m.reshape((m.shape[0] * 2, 10)), path), np.ones((3, 4)))
    assert "(6, 10)" in msg and "np.int64" not in msg


def test_debug_names_the_op_inside_a_kernel_that_made_the_nan():
    x = ga.vector("x")
    line = _line() + 1
    inner = ga.log(x - 1)
    out = ga.exp(inner * 2) + 1
    f = ga.function([x], out, mode="DEBUG")
    assert any(type(n.op).__name__ == "Fused" for n in f.maker.fgraph.apply_nodes)
    with pytest.raises(ga.NaNError) as info:
        f(np.array([0.5, 2.0]))
    msg = str(info.value)
    assert msg.startswith("`log(x - 1") and re.search(rf"built at \S*{HERE}:{line}\n", msg)
