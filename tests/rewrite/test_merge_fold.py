"""Merge (common subexpressions, equal constants) and constant folding (its size cap,
errors left for run time, shared variables left alone), checked on the rewritten graph
and against the unrewritten one; FAST_COMPILE runs exactly these two passes."""

from __future__ import annotations

import inspect
import os
import warnings
from collections import Counter

import numpy as np
import pytest

import graphad as ga
from graphad.graph.basic import Constant
from graphad.rewrite.fold import MAX_ELEMENTS
from tests.util import AS_WRITTEN, assert_same_result

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0, 3.0])


def op_name(node):
    return type(getattr(node.op, "scalar_op", None) or node.op).__name__


def op_counts(f):
    """How many nodes compute each op (the scalar ops of a fused kernel counted one by
    one, so the counts hold whether or not the fusion pass ran)."""
    counts = Counter()
    for node in f.maker.fgraph.apply_nodes:
        kernel = getattr(node.op, "kernel", None)
        if kernel is None:
            counts[op_name(node)] += 1
        else:
            counts.update(type(step.op).__name__ for step in kernel.steps)
            if kernel.reduce is not None:  # a kernel ending in a reduction
                counts["Reduce"] += 1
    return counts


def graph_constants(f):
    """The distinct constants the rewritten graph reads (or returns)."""
    fg = f.maker.fgraph
    found = {id(v): v for n in fg.apply_nodes for v in n.inputs if isinstance(v, Constant)}
    found.update({id(v): v for v in fg.outputs if isinstance(v, Constant)})
    return list(found.values())


def constant_values(f):
    """The 0-d values the rewritten graph reads, as constants or inlined into kernels."""
    values = [c.data for c in graph_constants(f) if np.ndim(c.data) == 0]
    for node in f.maker.fgraph.apply_nodes:
        kernel = getattr(node.op, "kernel", None)
        steps = kernel.steps if kernel is not None else ()
        values += [a.value for step in steps for a in step.args if hasattr(a, "value")]
    return [float(v) for v in values]


def compile_pair(inputs, out, mode="FAST_RUN"):
    return ga.function(inputs, out, mode=mode), ga.function(inputs, out, mode=AS_WRITTEN)


def structure(f):
    """The rewritten graph as plain data: per node in topological order, its op text
    and where each input comes from (graph input k, constant value, or node output)."""
    fg = f.maker.fgraph
    names = {v: f"in{k}" for k, v in enumerate(fg.inputs)}
    rows = []
    for i, node in enumerate(fg.toposort()):
        ins = []
        for v in node.inputs:
            if isinstance(v, Constant):
                ins.append(("const", v.dtype, np.asarray(v.data).tobytes()))
            else:
                ins.append(names[v])
        rows.append((str(node.op), tuple(ins)))
        names.update({out: f"n{i}.{k}" for k, out in enumerate(node.outputs)})
    outs = tuple(names.get(v, "const") for v in fg.outputs)
    return rows, outs


# --- merge -------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_equal_subexpressions_computed_once(mode):
    x = ga.vector("x")
    out = (ga.exp(x) * 3).sum() + (ga.exp(x) * 3).sum()
    f, ref = compile_pair([x], out, mode)
    counts = op_counts(f)
    assert counts["Exp"] == 1 and counts["Reduce"] == 1
    assert op_counts(ref)["Exp"] == 2
    assert f.maker.rewrites.fired("merge_nodes") >= 3  # exp, mul, sum
    assert_same_result(f, ref, [SPECIAL])


def test_merge_whole_chains():
    x = ga.vector("x")

    def chain():
        y = x
        for k in range(40):
            y = ga.tanh(y) * 0.5 if k % 2 else y + 1.0
        return y

    f, ref = compile_pair([x], [chain(), chain()], mode="FAST_COMPILE")
    assert len(f.maker.fgraph.apply_nodes) == len(ref.maker.fgraph.apply_nodes) // 2
    assert f.maker.fgraph.outputs[0] is f.maker.fgraph.outputs[1]
    assert_same_result(f, ref, [SPECIAL])


def test_equal_constants_merged():
    x = ga.vector("x")
    c1, c2 = ga.constant(2.0), ga.constant(2.0)
    f, ref = compile_pair([x], x * c1 + c2, mode="FAST_COMPILE")
    assert len(graph_constants(f)) == 1 and len(graph_constants(ref)) == 2
    assert f.maker.rewrites.fired("merge_constants") == 1
    assert_same_result(f, ref, [SPECIAL])


def test_equal_nan_constants_merged():
    x = ga.vector("x")
    f, ref = compile_pair([x], x * ga.constant(np.nan) + ga.constant(np.nan), "FAST_COMPILE")
    assert len(graph_constants(f)) == 1
    assert_same_result(f, ref, [SPECIAL])


@pytest.mark.parametrize(
    "a, b",
    [
        (ga.constant(0.0), ga.constant(-0.0)),  # equal as floats, different as values
        (ga.constant(2.0), ga.constant(np.float32(2.0))),
        (ga.constant(2.0), ga.constant(2)),
        (ga.constant([2.0, 2.0]), ga.constant(2.0)),
    ],
    ids=["signed zeros", "float32", "int", "shape"],
)
def test_different_constants_not_merged(a, b):
    x = ga.vector("x")
    f, ref = compile_pair([x], [x / a, x / b], mode="FAST_COMPILE")
    assert len(graph_constants(f)) == 2
    assert op_counts(f)["TrueDivide"] == 2
    assert_same_result(f, ref, [np.array([1.0, -1.0])])


def test_signed_zero_constants_keep_their_sign_in_fast_run():
    x = ga.vector("x")
    f, ref = compile_pair([x], [x / ga.constant(0.0), x / ga.constant(-0.0)])
    pos, neg = f(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(pos, [np.inf, -np.inf])
    np.testing.assert_array_equal(neg, [-np.inf, np.inf])
    assert_same_result(f, ref, [np.array([1.0, -1.0])])


@pytest.mark.parametrize(
    "build",
    [
        lambda m: [m.sum(0), m.sum(1)],
        lambda m: [m.sum(0), m.sum(0, keepdims=True)],
        lambda m: [m.max(0), m.min(0)],
        lambda m: [m.T, m.dimshuffle(1, "x", 0)],
    ],
    ids=["axis", "keepdims", "kind", "pattern"],
)
def test_nodes_with_different_params_not_merged(build):
    m = ga.matrix("m")
    f, ref = compile_pair([m], build(m), mode="FAST_COMPILE")
    assert len(f.maker.fgraph.apply_nodes) == 2
    assert f.maker.rewrites.fired("merge_nodes") == 0
    assert_same_result(f, ref, [np.resize(SPECIAL, (3, 3))])


def test_nodes_reading_different_inputs_not_merged():
    x, y = ga.vector("x"), ga.vector("y")
    f, ref = compile_pair([x, y], [ga.exp(x), ga.exp(y), ga.exp(x)], mode="FAST_COMPILE")
    assert op_counts(f)["Exp"] == 2
    assert_same_result(f, ref, [SPECIAL, SPECIAL[::-1].copy()])


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_merge_is_deterministic(mode):
    def build():
        x, y = ga.vector("x"), ga.vector("y")
        a = ga.exp(x) * y + ga.exp(x) * ga.constant(2.0)
        b = ga.tanh(a) + ga.exp(x) * y + ga.constant(2.0)
        return [x, y], [a * b, (a * b).sum(), ga.exp(x) * y]

    shapes = [structure(ga.function(*build(), mode=mode)) for _ in range(3)]
    assert shapes[0] == shapes[1] == shapes[2]
    inputs, outputs = build()
    again = ga.function(inputs, outputs, mode=mode)
    assert structure(again) == structure(ga.function(inputs, outputs, mode=mode))
    ref = ga.function(inputs, outputs, mode=AS_WRITTEN)
    assert_same_result(again, ref, [SPECIAL, SPECIAL[::-1].copy()])


# --- fold --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_constant_subgraph_becomes_a_constant(mode):
    x = ga.vector("x")
    f, ref = compile_pair([x], x + ga.exp(ga.constant(2.0)), mode)
    assert op_counts(f)["Exp"] == 0 and op_counts(ref)["Exp"] == 1
    assert f.maker.rewrites.fired("fold_constants") >= 1
    assert np.exp(2.0) in constant_values(f)
    assert_same_result(f, ref, [SPECIAL])


def test_nested_constant_expression_folds_to_one_constant():
    x = ga.vector("x")
    c = ga.exp(ga.constant(2.0)) * ga.log(ga.constant([3.0, 4.0])) - ga.sqrt(ga.constant(5.0))
    f, ref = compile_pair([x], x + c, mode="FAST_COMPILE")
    assert op_counts(f) == Counter({"Add": 1})
    (const,) = graph_constants(f)
    np.testing.assert_array_equal(const.data, np.exp(2.0) * np.log([3.0, 4.0]) - np.sqrt(5.0))
    assert not const.data.flags.writeable  # a compiled function's constant stays put
    assert_same_result(f, ref, [np.array([1.0, -0.0])])


def test_folding_special_values_is_silent_and_exact():
    x = ga.vector("x")
    outs = [
        ga.log(ga.constant(-1.0)) + x,  # NaN
        ga.constant(1.0) / ga.constant(-0.0) + x,  # -inf
        ga.constant(7) // ga.constant(0) + x,  # 0, as NumPy
        ga.constant(np.float32(1e30)) * ga.constant(np.float32(1e30)) + x,  # float32 inf
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from NumPy at compile time
        f, ref = compile_pair([x], outs, mode="FAST_COMPILE")
    assert f.maker.rewrites.fired("fold_constants") == 4
    assert_same_result(f, ref, [SPECIAL])


def test_folded_constant_keeps_its_dtype():
    x = ga.vector("x", dtype="float32")
    c = ga.constant(np.float32(2.0)) * ga.constant(np.float32(3.0))
    f, ref = compile_pair([x], x * c, mode="FAST_COMPILE")
    (const,) = graph_constants(f)
    assert const.dtype == "float32"
    assert_same_result(f, ref, [SPECIAL.astype("float32")])


def _too_big(c):
    return [v for v in c if np.size(v.data) > MAX_ELEMENTS]


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_fold_size_cap(mode):
    s = ga.scalar("s")
    f, ref = compile_pair([s], ga.zeros((1000, 1000)) + s, mode)
    assert op_counts(f)["Alloc"] == 1
    assert _too_big(graph_constants(f)) == []
    assert all(
        np.size(v.data) <= MAX_ELEMENTS for v in f.maker.fgraph.variables if isinstance(v, Constant)
    )
    assert_same_result(f, ref, [np.float64(-0.5)])


def test_fold_size_cap_when_the_size_is_an_expression():
    # the output's static shape is unknown: the size comes from the shape rule
    s = ga.scalar("s")
    f, ref = compile_pair([s], ga.alloc(1.5, ga.constant(1000) * 1000) + s, "FAST_COMPILE")
    assert op_counts(f)["Alloc"] == 1
    assert _too_big(graph_constants(f)) == []
    assert_same_result(f, ref, [np.float64(2.0)])


@pytest.mark.parametrize("n, folded", [(MAX_ELEMENTS, True), (MAX_ELEMENTS + 1, False)])
def test_fold_size_cap_boundary(n, folded):
    s = ga.scalar("s")
    f, ref = compile_pair([s], ga.ones((n,)) + s, "FAST_COMPILE")
    assert (op_counts(f)["Alloc"] == 0) is folded
    assert_same_result(f, ref, [np.float64(np.inf)])


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_constant_index_error_is_left_for_run_time(mode):
    s = ga.scalar("s")
    out = ga.constant([1.0, 2.0])[ga.constant(5)] + s
    line = inspect.currentframe().f_lineno - 1  # where `out` was built
    f = ga.function([s], out, mode=mode)  # compiling does not raise
    assert op_counts(f)["Subtensor"] == 1
    with pytest.raises(IndexError) as info:
        f(1.0)
    assert f"{os.path.basename(__file__)}:{line}" in str(info.value)


def test_index_computed_by_folding_still_raises_at_run_time():
    s = ga.scalar("s")
    f = ga.function([s], ga.constant([1.0, 2.0])[ga.constant(1) + 4] + s, mode="FAST_COMPILE")
    assert f.maker.rewrites.fired("fold_constants") == 1  # 1 + 4, not the index
    with pytest.raises(IndexError):
        f(1.0)


def test_shared_variables_are_not_folded():
    x = ga.vector("x")
    w = ga.shared(np.float64(2.0), name="w")
    f = ga.function([x], ga.exp(w) + x, mode="FAST_RUN")
    assert op_counts(f)["Exp"] == 1
    np.testing.assert_array_equal(f(np.zeros(2)), np.exp(2.0) * np.ones(2))
    w.set_value(np.float64(-1.0))
    np.testing.assert_array_equal(f(np.zeros(2)), np.exp(-1.0) * np.ones(2))


# --- FAST_COMPILE ------------------------------------------------------------------------
def test_fast_compile_runs_merge_and_fold_only():
    x = ga.vector("x")
    out = ga.exp(x) * 1 + ga.exp(x) * ga.exp(ga.constant(0.5)) - 0
    f, ref = compile_pair([x], out, mode="FAST_COMPILE")
    record = f.maker.rewrites
    assert {p for p, _ in record.counts} == {"merge", "fold"}
    assert set(record.pass_times) == {"merge", "fold"}
    assert record.fired(pass_name="merge") >= 1 and record.fired(pass_name="fold") >= 1
    # canonicalize did not run: x * 1 and x - 0 are still there
    counts = op_counts(f)
    assert counts["Exp"] == 1 and counts["Sub"] == 1 and counts["Mul"] == 2
    assert_same_result(f, ref, [SPECIAL])


def test_fast_run_also_merges_and_folds():
    x = ga.vector("x")
    f = ga.function([x], ga.exp(x) + ga.exp(x) * ga.exp(ga.constant(0.5)), mode="FAST_RUN")
    record = f.maker.rewrites
    assert {"merge", "fold", "canonicalize"} <= set(record.pass_times)
    assert record.fired("merge_nodes", "merge") == 1
    assert record.fired("fold_constants", "fold") == 1
