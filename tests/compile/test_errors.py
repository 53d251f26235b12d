"""Run-time errors name the op, the input shapes and dtypes, the user's line (through
rewrites and fusion) and, for a fused kernel, the expression it computes: in FAST_RUN
(compiled, with the C call path and with the profiler's Python loop) and FAST_COMPILE."""

from __future__ import annotations

import inspect
import os

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
