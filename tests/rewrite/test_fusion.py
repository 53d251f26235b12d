"""Fusion: which elementwise nodes become one Fused kernel, what each kernel reads and
computes, where fusion stops, and that fused graphs compute what the unfused NumPy
reference (FAST_COMPILE) computes."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest

import graphad as ga
from graphad.graph.basic import Constant
from graphad.kernel.fused import Fused
from graphad.kernel.ir import Literal
from graphad.rewrite import fusion
from graphad.tensor.elemwise import Elemwise

RNG = np.random.default_rng(20240611)
HERE = os.path.basename(__file__)


def fused_nodes(f):
    """The Fused nodes of a compiled function, in schedule order."""
    return [n for n in f.maker.fgraph.toposort() if isinstance(n.op, Fused)]


def steps_named(f, name):
    """How many scalar steps called ``name`` all kernels of ``f`` hold together."""
    return sum(str(s.op) == name for n in fused_nodes(f) for s in n.op.kernel.steps)


def kernel_with(f, name):
    """The one Fused node whose kernel computes ``name``."""
    found = [n for n in fused_nodes(f) if name in n.op.kernel.op_names()]
    assert len(found) == 1, [str(n.op) for n in fused_nodes(f)]
    return found[0]


def check_against_reference(f, inputs, outputs, args, rtol=1e-13, atol=1e-15):
    """``f``'s results equal FAST_COMPILE's: integers exactly, floats to ``rtol``/``atol``
    (libm and NumPy may differ by an ulp; rtol=atol=0 asks for exact equality)."""
    ref = ga.function(inputs, outputs, mode="FAST_COMPILE", on_unused_input="ignore")
    got, want = f(*args), ref(*args)
    if not isinstance(outputs, list):
        got, want = [got], [want]
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, (k, g.dtype, w.dtype, g.shape, w.shape)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {k}")


def assert_c_kernels(f):
    """Every Fused step of ``f`` runs compiled C, not the NumPy fallback."""
    kinds = [thunk.kind for thunk, _, _, node, _ in f.maker.vm.steps if isinstance(node.op, Fused)]
    assert kinds and set(kinds) == {"c"}, kinds


def _line(marker):
    """The line number of the line of this file that ends with ``# marker``."""
    with open(__file__) as fh:
        for number, text in enumerate(fh, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


def workload_w1(x, y, z):
    """W1, written over three lines so that each line is a source of the kernel."""
    left = ga.tanh(x * y + z) * ga.exp(-x * x)  # w1-left
    right = ga.log1p(abs(z)) / (1 + ga.sqrt(abs(y)))  # w1-right
    return left + right  # w1-root


def _vectors(*names, dtype="float64"):
    return [ga.vector(n, dtype) for n in names]


def normal(*shapes):
    """Standard normal arrays of these shapes."""
    return [RNG.normal(size=s) for s in shapes]


# --- what one kernel holds ------------------------------------------------------------------
def test_w1_is_one_kernel_reading_each_input_once():
    x, y, z = _vectors("x", "y", "z")
    out = workload_w1(x, y, z)
    f = ga.function([x, y, z], out)
    nodes = f.maker.fgraph.toposort()
    assert len(nodes) == 1 and isinstance(nodes[0].op, Fused), [str(n.op) for n in nodes]
    (node,) = nodes
    kernel = node.op.kernel
    assert len(kernel.inputs) == 3 and len(node.inputs) == 3
    assert set(node.inputs) == set(f.maker.fgraph.inputs)
    assert node.outputs[0] is f.maker.fgraph.outputs[0]
    names = kernel.op_names()
    for name in ("mul", "add", "tanh", "neg", "exp", "log1p", "abs", "sqrt", "true_divide"):
        assert name in names, names
    # the root is the final add, and each input is referenced by the scalar DAG
    assert kernel.describe().startswith("add(")
    for i in range(3):
        assert re.search(rf"\bi{i}\b", kernel.describe()), kernel.describe()
    assert_c_kernels(f)
    check_against_reference(f, [x, y, z], out, normal((50,), (50,), (50,)))


def test_intermediate_used_twice_in_a_group_is_computed_once():
    x, y = _vectors("x", "y")
    t = ga.exp(x * y)
    out = ga.sin(t) + ga.cos(t) * t
    f = ga.function([x, y], out)
    (node,) = f.maker.fgraph.toposort()
    kernel = node.op.kernel
    assert steps_named(f, "exp") == 1 and steps_named(f, "mul") == 2, kernel.op_names()
    # the exp step's value is an argument of three later steps (sin, cos, mul)
    n_in = len(kernel.inputs)
    exp_ref = n_in + [str(s.op) for s in kernel.steps].index("exp")
    readers = [s for s in kernel.steps if exp_ref in s.args]
    assert sorted(str(s.op) for s in readers) == ["cos", "mul", "sin"]
    assert_c_kernels(f)
    check_against_reference(f, [x, y], out, normal((40,), (40,)))


def test_intermediate_that_is_also_an_output_is_an_extra_kernel_output():
    x, y = _vectors("x", "y")
    t = ga.exp(x * y)
    outs = [ga.sin(t) + 1, t]
    f = ga.function([x, y], outs)
    assert steps_named(f, "exp") == 1  # computed once, in the one kernel
    kernel = kernel_with(f, "exp")
    assert kernel is kernel_with(f, "sin")
    assert list(kernel.outputs) == list(f.maker.fgraph.outputs)  # both results from it
    assert_c_kernels(f)
    check_against_reference(f, [x, y], outs, normal((30,), (30,)))
    # a length-1 input that only the root broadcasts: t keeps its own shape
    check_against_reference(f, [x, y], outs, normal((1,), (1,)))


def test_extra_output_whose_other_reader_feeds_the_kernel_is_not_exported():
    """t is read by the kernel and by a matmul whose result the kernel also reads:
    exporting t would make the kernel depend on itself."""
    x = ga.vector("x")
    m = ga.matrix("m")
    t = ga.exp(x)
    out = t * (m @ t)
    f = ga.function([x, m], out)
    fg = f.maker.fgraph
    fg.toposort()  # no cycle
    check_against_reference(f, [x, m], out, normal((4,), (4, 4)))


def test_intermediate_also_read_by_a_reduction_is_written_by_the_reduction_kernel():
    """t feeds t.sum() and sin(t): the reduction kernel computes t once and also writes
    it for the sin kernel (no separate pass that stores t for two readers)."""
    x, y = _vectors("x", "y")
    t = ga.exp(x * y)
    out = ga.sin(t) + t.sum()
    f = ga.function([x, y], out)
    assert steps_named(f, "exp") == 1
    assert not any(str(n.op) == "Elemwise{exp}" for n in f.maker.fgraph.apply_nodes)
    producer = kernel_with(f, "exp")
    assert producer.op.kernel.reduce.kind == "sum" and len(producer.outputs) == 2
    assert producer.outputs[1].ndim == 1  # t at full shape, beside the 0-d sum
    readers = [c for c, _ in f.maker.fgraph.clients[producer.outputs[1]]]
    assert readers == [kernel_with(f, "sin")]
    assert_c_kernels(f)
    check_against_reference(f, [x, y], out, normal((30,), (30,)))
    check_against_reference(f, [x, y], out, normal((0,), (0,)))


def _softmax_by_hand(z, axis=1):
    e = ga.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax_by_hand_is_three_passes_with_exp_computed_once():
    """max; exp(z - max) with its row sum, writing the exponentials; the division."""
    z = ga.matrix("z")
    out = _softmax_by_hand(z)
    f = ga.function([z], out)
    kernels = fused_nodes(f)
    assert len(f.maker.fgraph.apply_nodes) == len(kernels) == 3
    assert [k.op.kernel.reduce and k.op.kernel.reduce.kind for k in kernels] == ["max", "sum", None]
    assert steps_named(f, "exp") == 1
    assert_c_kernels(f)
    for args in (normal((6, 50)), normal((50, 6)), [RNG.normal(size=(7, 9)).T], normal((0, 3))):
        check_against_reference(f, [z], out, args)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exported_prologue_values_over_columns_and_strided_inputs(dtype):
    """The reduced axis is not the last one, the inputs are transposed or reversed,
    and the exported value is float32 when the graph is."""
    z = ga.matrix("z", dtype)
    out = _softmax_by_hand(z, axis=0)
    f = ga.function([z], out)
    assert steps_named(f, "exp") == 1
    assert_c_kernels(f)
    a = RNG.normal(size=(12, 5)).astype(dtype)
    rtol = 1e-6 if dtype == "float32" else 1e-13
    for args in ([a], [a.T.copy().T], [a[::-1, ::-2]], [np.asfortranarray(a)]):
        check_against_reference(f, [z], out, args, rtol=rtol, atol=0)


def test_exported_value_broadcast_at_run_time_keeps_its_own_shape():
    """e reads only x; the sum also reads w. When x turns out (n, 1) at run time, e keeps
    that shape (the reference runs that call) instead of the (n, m) iteration shape."""
    x, w = ga.matrix("x"), ga.matrix("w")
    e = ga.exp(x)
    out = [e + 1, (e * w).sum(axis=1)]
    f = ga.function([x, w], out)
    assert steps_named(f, "exp") == 1
    reducer = kernel_with(f, "sum")
    assert len(reducer.outputs) == 2 and "exp" in reducer.op.kernel.op_names()
    check_against_reference(f, [x, w], out, normal((4, 6), (4, 6)))
    check_against_reference(f, [x, w], out, normal((4, 1), (4, 6)))


def test_exported_value_with_a_max_reduction_and_integers():
    i = ga.matrix("i", "int64")
    doubled = i * 3 // 7  # a division: stored once rather than recomputed
    out = doubled - doubled.max(axis=1, keepdims=True)
    f = ga.function([i], out)
    assert sum(len(k.outputs) == 2 for k in fused_nodes(f)) == 1
    assert_c_kernels(f)
    check_against_reference(f, [i], out, [RNG.integers(-50, 50, size=(5, 8))])


def test_cheap_value_read_by_a_reduction_and_later_is_recomputed_not_stored():
    """d = z - max(z) is read by sum(exp(d)) and by the output's kernel: each kernel
    computes the subtraction itself instead of the reduction kernel writing d."""
    z = ga.matrix("z")
    d = z - z.max(axis=1, keepdims=True)
    out = d - ga.log(ga.exp(d).sum(axis=1, keepdims=True))
    f = ga.function([z], out)
    kernels = fused_nodes(f)
    assert all(len(k.outputs) == 1 for k in kernels)
    assert sum("sub" in k.op.kernel.op_names() for k in kernels) == 2
    assert f.maker.rewrites.fired("recompute_cheap") >= 1
    assert_c_kernels(f)
    for args in (normal((6, 50)), normal((0, 3)), [RNG.normal(size=(7, 9)).T]):
        check_against_reference(f, [z], out, args)


def test_shared_subexpression_of_two_outputs_is_computed_once():
    x, y = _vectors("x", "y")
    t = ga.tanh(x - y)
    outs = [ga.exp(t) + 1, t * t * 2]
    f = ga.function([x, y], outs)
    assert steps_named(f, "tanh") == 1
    shared = kernel_with(f, "tanh")
    assert all(shared.outputs[0] in n.inputs for n in fused_nodes(f) if n is not shared)
    check_against_reference(f, [x, y], outs, normal((30,), (30,)))


# --- where fusion stops ---------------------------------------------------------------------
def _matmul_case():
    m, w = ga.matrix("m"), ga.matrix("w")
    return [m, w], ga.exp(m @ w) + 1, [RNG.normal(size=(4, 5)), RNG.normal(size=(5, 3))]


def _indexing_case():
    (x,) = _vectors("x")
    return [x], ga.exp(ga.tanh(x * 2)[1::2]) * 3, [RNG.normal(size=11)]


def _argmax_case():
    m = ga.matrix("m")
    picked = ga.cast(ga.argmax(ga.tanh(m * 2), axis=1), "float64")
    return [m], ga.exp(picked) + 1, [RNG.normal(size=(3, 6))]


def _reduction_case():
    m = ga.matrix("m")
    return [m], ga.exp(ga.tanh(m * 2).max(axis=0)) + 1, [RNG.normal(size=(4, 6))]


def test_reduction_with_prologue_and_epilogue_is_one_kernel():
    """tanh(2m) feeds the max, exp(.) + 1 runs on its result: one kernel, one pass."""
    inputs, out, args = _reduction_case()
    f = ga.function(inputs, out)
    (node,) = f.maker.fgraph.apply_nodes
    kernel = node.op.kernel
    assert [str(s.op) for s in kernel.steps] == ["mul", "tanh"]
    assert kernel.reduce.kind == "max" and kernel.reduce.axes == (0,)
    assert [str(s.op) for s in kernel.epilogue] == ["exp", "add"]
    assert_c_kernels(f)
    check_against_reference(f, inputs, out, args)


def test_reduction_read_by_two_epilogues_keeps_each_result_at_its_own_shape():
    """mean(c) over an unknown length, with its gradient in the same function: the
    divisor (the length) is read by two epilogues, ``sum / n`` and ``1 / n``. The
    kernels of both merged into one with two results, and the reduction then joined
    it, exporting ``sum / n`` at the full shape: ``replace`` refused it. A kernel ends
    in a reduction only when its epilogue has one result."""
    c = ga.vector("c")
    m = c.mean()
    outs = [m, ga.grad(m, c), c * 3]
    f = ga.function([c], outs)
    for n in fused_nodes(f):
        if n.op.kernel.reduce is not None:
            assert n.outputs[0].ndim == 0
    assert_c_kernels(f)
    check_against_reference(f, [c], outs, normal((7,)))


def test_a_group_that_fails_to_fuse_runs_unfused_with_a_warning(monkeypatch):
    """A bug in fusion costs speed, never the function: outside tests (no
    rewrite_checks) the group stays unfused, with a warning naming it."""
    monkeypatch.setattr(ga.config, "rewrite_checks", False)
    real = fusion.build_kernel

    def broken(group, *args):
        if any(str(n.op) == "Elemwise{tanh}" for n in group):
            raise ValueError("lowering bug")
        return real(group, *args)

    monkeypatch.setattr(fusion, "build_kernel", broken)
    x, y = ga.vector("x"), ga.vector("y")
    outs = [ga.tanh(x * y) + 1, ga.exp(x) - y]
    with pytest.warns(UserWarning, match="lowering bug.*run unfused") as record:
        f = ga.function([x, y], outs)
    assert "tanh" in str(record[0].message) and HERE in str(record[0].message)
    assert any(str(n.op) == "Elemwise{tanh}" for n in f.maker.fgraph.apply_nodes)
    check_against_reference(f, [x, y], outs, normal((5,), (5,)))
    monkeypatch.setattr(ga.config, "rewrite_checks", True)
    with pytest.raises(ga.RewriteError, match="lowering bug"):
        ga.function([x, y], outs)


def test_epilogue_input_larger_at_run_time_still_broadcasts():
    """max over rows minus w: when the matrix has one row and w has three entries, the
    result has three (NumPy's broadcasting), not the reduced shape."""
    m, w = ga.matrix("m"), ga.vector("w")
    out = m.max(axis=1) - w
    f = ga.function([m, w], out)
    (node,) = f.maker.fgraph.apply_nodes
    assert node.op.kernel.epilogue_inputs() == {1}
    check_against_reference(f, [m, w], out, [RNG.normal(size=(3, 4)), RNG.normal(size=3)])
    check_against_reference(f, [m, w], out, [RNG.normal(size=(1, 4)), RNG.normal(size=3)])


@pytest.mark.parametrize(
    "case, opaque",
    [
        (_matmul_case, "MatMul"),
        (_indexing_case, "Subtensor"),
        (_argmax_case, "ArgReduce"),
    ],
    ids=["matmul", "indexing", "argmax"],
)
def test_fusion_stops_at_opaque_ops(case, opaque):
    inputs, out, args = case()
    f = ga.function(inputs, out)
    after = kernel_with(f, "exp")
    # the elementwise ops after the opaque op are one kernel that contains nothing else
    names = [n for n in after.op.kernel.op_names() if not n.startswith("cast")]
    assert names in (["exp", "add"], ["exp", "mul"]), str(after.op)
    assert after.op.kernel.reduce is None
    (source,) = [v.owner for v in after.inputs if v.owner is not None]
    assert type(source.op).__name__ == opaque, str(source.op)
    # elementwise ops before the opaque op are never pulled past it
    if opaque != "MatMul":
        assert steps_named(f, "exp") == 1 and "tanh" not in after.op.kernel.op_names()
    check_against_reference(f, inputs, out, args)


def test_matmul_then_kernel_in_schedule_order():
    inputs, out, args = _matmul_case()
    f = ga.function(inputs, out)
    ops = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
    assert ops == ["MatMul", "Fused"], ops


# --- broadcast patterns ----------------------------------------------------------------------
def test_lower_rank_intermediate_stays_its_own_kernel():
    m, b = ga.matrix("m"), ga.vector("b")
    out = ga.tanh(m + ga.exp(b))
    f = ga.function([m, b], out)
    bias, root = kernel_with(f, "exp"), kernel_with(f, "tanh")
    assert bias is not root and bias.op.kernel.op_names() == ["exp"]
    assert bias.outputs[0].ndim == 1 and bias.outputs[0] in root.inputs
    assert_c_kernels(f)
    check_against_reference(f, [m, b], out, [RNG.normal(size=(7, 5)), RNG.normal(size=5)])


def test_broadcastable_row_intermediate_stays_its_own_kernel():
    m, r = ga.matrix("m"), ga.tensor("r", shape=(1, None))
    out = ga.tanh(m * ga.exp(r))
    f = ga.function([m, r], out)
    assert kernel_with(f, "exp") is not kernel_with(f, "tanh")
    check_against_reference(f, [m, r], out, [RNG.normal(size=(6, 4)), RNG.normal(size=(1, 4))])


def test_same_rank_operands_fuse_into_one_kernel():
    m, n = ga.matrix("m"), ga.matrix("n")
    out = ga.tanh(m + ga.exp(n))
    f = ga.function([m, n], out)
    (node,) = f.maker.fgraph.toposort()
    assert node.op.kernel.op_names() == ["exp", "add", "tanh"]
    # a (1, k) array still broadcasts at run time inside the one kernel
    check_against_reference(f, [m, n], out, [RNG.normal(size=(6, 4)), RNG.normal(size=(1, 4))])


# --- constants -------------------------------------------------------------------------------
def test_scalar_constants_are_literals_and_arrays_are_inputs():
    (x,) = _vectors("x")
    table = ga.constant(np.array([0.5, -1.0, 2.0]))
    out = ga.where(x > 0.1, x * 2.5 + table, np.nan) + ga.where(x < -1, -np.inf, 0.0)
    f = ga.function([x], out)
    (node,) = fused_nodes(f)
    kernel = node.op.kernel
    assert len(kernel.inputs) == 2 and len(node.inputs) == 2
    assert any(isinstance(v, Constant) and v.ndim == 1 for v in node.inputs)
    assert not any(isinstance(v, Constant) and v.ndim == 0 for v in node.inputs)
    literals = {repr(a.value) for s in kernel.steps for a in s.args if isinstance(a, Literal)}
    assert {"0.1", "2.5", "nan", "-inf"} <= literals, literals
    assert_c_kernels(f)
    check_against_reference(f, [x], out, [np.array([-3.0, 0.0, 0.2])], rtol=0, atol=0)


def test_integer_literals_keep_their_dtype():
    (i,) = _vectors("i", dtype="int8")
    out = (i * 3 + 100) // 7
    f = ga.function([i], out)
    (node,) = f.maker.fgraph.toposort()
    assert len(node.op.kernel.inputs) == 1 and node.outputs[0].dtype == "int8"
    literals = [a for s in node.op.kernel.steps for a in s.args if isinstance(a, Literal)]
    assert sorted(a.value for a in literals) == [3, 7, 100], literals
    assert {a.dtype for a in literals} == {"int8"}
    check_against_reference(f, [i], out, [np.arange(-128, 128, dtype="int8")])


# --- ops without a C path ---------------------------------------------------------------------
def test_float16_ops_stay_elemwise():
    (h,) = _vectors("h", dtype="float16")
    out = ga.exp(h) * 2 + 1
    f = ga.function([h], out)
    nodes = f.maker.fgraph.toposort()
    assert nodes and all(isinstance(n.op, Elemwise) for n in nodes), [str(n.op) for n in nodes]
    assert {t.kind for t, *_ in f.maker.vm.steps} == {"numpy"}
    assert f(np.zeros(3, "float16")).dtype == np.float16
    check_against_reference(f, [h], out, [np.linspace(-2, 2, 9).astype("float16")], rtol=1e-3)


def test_integer_power_stays_elemwise_and_its_neighbours_fuse():
    i, j = _vectors("i", "j", dtype="int64")
    x, y = _vectors("x", "y")
    outs = [(i**j) * 2 + 1, ga.exp(x) ** y + 1]
    f = ga.function([i, j, x, y], outs)
    (power,) = [n for n in f.maker.fgraph.apply_nodes if isinstance(n.op, Elemwise)]
    assert str(power.op) == "Elemwise{pow}" and power.outputs[0].dtype == "int64"
    assert kernel_with(f, "pow").op.kernel.op_names() == ["exp", "pow", "add"]
    after = [n for n in fused_nodes(f) if power.outputs[0] in n.inputs]
    assert len(after) == 1 and "pow" not in after[0].op.kernel.op_names()
    args = [np.arange(6), np.array([0, 1, 2, 3, 4, 5]), RNG.normal(size=6), RNG.normal(size=6)]
    check_against_reference(f, [i, j, x, y], outs, args)


# --- long chains -----------------------------------------------------------------------------
def test_thousand_op_chain_is_cut_into_kernels_of_at_most_max_steps():
    (x,) = _vectors("x")
    out = x
    for _ in range(500):
        out = ga.tanh(out) * 1.01
    f = ga.function([x], out)
    nodes = f.maker.fgraph.toposort()
    sizes = [len(n.op.kernel.steps) for n in nodes]
    assert all(isinstance(n.op, Fused) for n in nodes)
    assert sum(sizes) == 1000 and max(sizes) <= fusion.MAX_STEPS
    assert len(nodes) == math.ceil(1000 / fusion.MAX_STEPS)
    # consecutive kernels: each reads only the previous one's result
    for prev, node in zip(nodes, nodes[1:]):
        assert list(node.inputs) == [prev.outputs[0]]
    assert_c_kernels(f)
    check_against_reference(f, [x], out, [np.linspace(-3, 3, 13)], rtol=1e-12)


def test_max_steps_is_read_at_fusion_time(monkeypatch):
    monkeypatch.setattr(fusion, "MAX_STEPS", 4)
    (x,) = _vectors("x")
    out = x
    for _ in range(5):
        out = ga.sin(out) + 0.5
    f = ga.function([x], out, mode=ga.compile.modes.Mode("FAST_RUN", passes="FAST_RUN"))
    sizes = [len(n.op.kernel.steps) for n in f.maker.fgraph.toposort()]
    assert sum(sizes) == 10 and max(sizes) == 4 and len(sizes) == 3, sizes
    check_against_reference(f, [x], out, [np.linspace(-1, 1, 5)])


# --- printing and sources -------------------------------------------------------------------
def test_dprint_shows_each_kernel_with_its_ops():
    x, y, z = _vectors("x", "y", "z")
    m, w = ga.matrix("m"), ga.matrix("w")
    outs = [workload_w1(x, y, z), ga.exp(m @ w) + 1]
    f = ga.function([x, y, z, m, w], outs)
    text = ga.dprint(f, file=False)
    lines = [line for line in text.splitlines() if "Fused{" in line]
    assert len(lines) == 2, text
    for node in fused_nodes(f):
        assert any(str(node.op) in line for line in lines), (str(node.op), text)
    w1_line = next(line for line in lines if "tanh" in line)
    for name in ("tanh", "exp", "log1p", "sqrt", "true_divide"):
        assert name in w1_line
    assert "MatMul" in text


def test_kernel_source_is_the_root_line_and_describe_names_every_line():
    x, y, z = _vectors("x", "y", "z")
    f = ga.function([x, y, z], workload_w1(x, y, z))
    (node,) = fused_nodes(f)
    assert os.path.realpath(node.source[0]) == os.path.realpath(__file__)
    assert node.source[1] == _line("w1-root")
    text = node.op.describe_node(node)
    assert text.startswith("fused kernel "), text
    for marker in ("w1-left", "w1-right", "w1-root"):
        assert f"test_fusion.py:{_line(marker)}" in text, text
    assert "tanh" in text and "log1p" in text


def test_kernel_error_names_the_user_lines():
    x, y, z = _vectors("x", "y", "z")
    f = ga.function([x, y, z], workload_w1(x, y, z))
    with pytest.raises(ValueError) as info:
        f(np.ones(3), np.ones(4), np.ones(3))
    message = str(info.value)
    assert f"test_fusion.py:{_line('w1-root')}" in message, message
    assert "(3,)" in message and "(4,)" in message, message


# --- modes agree ----------------------------------------------------------------------------
def _bias_graph():
    m, b = ga.matrix("m"), ga.vector("b")
    return (
        [m, b],
        ga.tanh(m * ga.exp(b)) - ga.sigmoid(m),
        [RNG.normal(size=(5, 3)), RNG.normal(size=3)],
    )


def _w1_graph():
    x, y, z = _vectors("x", "y", "z")
    return [x, y, z], workload_w1(x, y, z), normal((20,), (20,), (20,))


def _integer_graph():
    i, j = _vectors("i", "j", dtype="int32")
    out = ga.where(ga.neq(j, 0), i // j, i % 7) * 3 - abs(i)
    return [i, j], out, [np.arange(-10, 10, dtype="int32"), np.arange(20, dtype="int32") - 9]


@pytest.mark.parametrize("graph", [_w1_graph, _bias_graph, _integer_graph])
def test_debug_fast_run_and_fast_compile_agree(graph):
    inputs, out, args = graph()
    functions = {mode: ga.function(inputs, out, mode=mode) for mode in ga.compile.modes.MODES}
    assert fused_nodes(functions["DEBUG"]) and fused_nodes(functions["FAST_RUN"])
    assert not fused_nodes(functions["FAST_COMPILE"])
    want = functions["FAST_COMPILE"](*args)
    for mode in ("FAST_RUN", "DEBUG"):
        got = functions[mode](*args)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_logsumexp_over_rows_reads_the_matrix_twice():
    """max-shift, exp, sum, log, add: one pass for the max, one for the shifted sum of
    exponentials; the log and add run on the reduced column only."""
    z = ga.matrix("z")
    out = ga.logsumexp(z, axis=1)
    f = ga.function([z], out)
    (zc,) = f.maker.fgraph.inputs  # the compiled graph's copy of z
    readers = [node for node in f.maker.fgraph.apply_nodes if zc in node.inputs]
    assert len(readers) == 2 and all(isinstance(n.op, Fused) for n in readers)
    assert sorted(n.op.kernel.reduce.kind for n in readers) == ["max", "sum"]
    assert_c_kernels(f)
    check_against_reference(f, [z], out, normal((6, 50)))


def test_kernels_reading_one_intermediate_merge_into_one_multi_output_kernel():
    """exp(x*y) read by a sin chain and a cos chain: one kernel computes it once and
    writes both results, so it is never stored and read back."""
    x, y = _vectors("x", "y")
    t = ga.exp(x * y)
    outs = [ga.sin(t) + 1, ga.cos(t) * 2]
    f = ga.function([x, y], outs)
    (node,) = f.maker.fgraph.apply_nodes
    assert len(node.outputs) == 2 and steps_named(f, "exp") == 1
    assert_c_kernels(f)
    check_against_reference(f, [x, y], outs, normal((30,), (30,)))


def test_merged_outputs_keep_their_own_shapes():
    """sin(t) reads x, y only; cos(t) * z reads z too: when z alone is long at run
    time, sin(t) keeps the short shape (the reference runs that call)."""
    x, y, z = _vectors("x", "y", "z")
    t = ga.exp(x * y)
    outs = [ga.sin(t), ga.cos(t) * z]
    f = ga.function([x, y, z], outs)
    assert len(f.maker.fgraph.apply_nodes) == 1
    check_against_reference(f, [x, y, z], outs, normal((4,), (4,), (4,)))
    check_against_reference(f, [x, y, z], outs, normal((1,), (1,), (6,)))
