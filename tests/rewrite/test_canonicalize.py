"""Canonicalize: one row per rule branch (and per guard that must stop a rule), each
checked on the rewritten graph's structure, on the record of fired rules, and against
the unrewritten graph on inputs with NaN, +-Inf and -0.0; shape simplification; the
source line a rewritten node carries."""

from __future__ import annotations

import inspect
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

import graphad as ga
from graphad.graph.basic import Constant
from graphad.rewrite.canonicalize import canonicalize_rules
from graphad.tensor.elemwise import SumToShape
from graphad.tensor.reduce import Reduce
from graphad.tensor.shape import DimShuffle, ShapeI
from tests.util import AS_WRITTEN, REWRITES, assert_same_result

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0, 3.0])
INTS = np.array([-3, 0, 2, 7, -1, 5, 1, 4])
DEFAULT_SHAPES = {0: (), 1: (8,), 2: (2, 4), 3: (2, 2, 2)}


def value_for(var):
    """An argument for ``var``: NaN/Inf/-0.0 and ordinary values (floats), small ints,
    or alternating booleans, of ``var``'s static shape (unknown entries filled in)."""
    default = DEFAULT_SHAPES[var.ndim]
    shape = tuple(d if s is None else s for s, d in zip(var.type.shape, default))
    kind = np.dtype(var.dtype).kind
    base = SPECIAL if kind == "f" else INTS if kind in "iu" else np.array([True, False])
    return np.resize(base, shape).astype(var.dtype)


def op_name(node):
    """The scalar op's class name for an Elemwise (``Mul``), else the op's (``Reduce``)."""
    return type(getattr(node.op, "scalar_op", None) or node.op).__name__


def node_op_names(node):
    """``op_name``, or for a fused kernel the names of the scalar ops it runs (so the
    rows hold whether or not the fusion pass grouped the elementwise ops)."""
    kernel = getattr(node.op, "kernel", None)
    if kernel is None:
        return [op_name(node)]
    return [type(step.op).__name__ for step in kernel.steps]


def op_names(f):
    return sorted(name for n in f.maker.fgraph.apply_nodes for name in node_op_names(n))


def compile_both(inputs, out):
    return ga.function(inputs, out, mode=REWRITES), ga.function(inputs, out, mode=AS_WRITTEN)


def only(f, name):
    """The one node of ``f``'s graph computing an op named ``name`` (maybe fused)."""
    (node,) = [n for n in f.maker.fgraph.apply_nodes if name in node_op_names(n)]
    return node


@dataclass
class Case:
    """``build()`` returns (inputs, output); ``ops`` is the sorted list of op names
    left in the rewritten graph; ``fires`` whether ``rule`` must fire (False: a guard
    keeps the graph as written); ``check(f, graph_inputs)`` asserts anything more."""

    id: str
    rule: str
    build: Callable
    ops: tuple
    fires: bool = True
    args: Callable | None = None
    check: Callable | None = field(default=None, repr=False)


def vec(name="x", dtype=None, shape=(None,)):
    return ga.tensor(name, dtype=dtype, shape=shape)


def _pattern_is(pattern):
    def check(f, inputs):
        node = only(f, "DimShuffle")
        assert node.op.pattern == pattern and node.inputs[0] is inputs[0]

    return check


def _reduce_is(axis, keepdims):
    def check(f, inputs):
        node = only(f, "Reduce")
        assert (node.op.axis, node.op.keepdims) == (axis, keepdims)
        assert node.inputs[0] is inputs[0]

    return check


def _shape_i_of(input_index, i):
    def check(f, inputs):
        node = only(f, "ShapeI")
        assert node.op.i == i and node.inputs[0] is inputs[input_index]

    return check


def _output_constant(f, inputs):
    (out,) = f.maker.fgraph.outputs
    assert isinstance(out, Constant)


def _x_is_output(f, inputs):
    assert f.maker.fgraph.outputs[0] is inputs[0]


def _reshape_of_input(f, inputs):
    assert only(f, "Reshape").inputs[0] is inputs[0]


def _len_one(inputs):
    return [np.array([np.nan])]


def _large_ints(inputs):
    return [np.array([2**53 + 1, -(2**62) - 1, 3], dtype="int64")]


def _narrowing(inputs):
    return [np.array([0.1, 1e300, -1e-300, np.nan, -np.inf, -0.0])]


# fmt: off
CASES = [
    # --- identities: x * 1, x + 0, x - 0, x / 1, x ** 1, --x --------------------------
    Case("x*1", "mul_one", lambda: ([x := vec()], x * 1), (), check=_x_is_output),
    Case("1*x", "mul_one", lambda: ([x := vec()], 1 * x), (), check=_x_is_output),
    Case("x*ones(8)", "mul_one", lambda: ([x := vec(shape=(8,))], x * np.ones(8)), ()),
    Case("f32*1.0", "mul_one", lambda: ([x := vec(dtype="float32")], x * 1.0), ()),
    Case("x+0", "add_zero", lambda: ([x := vec()], x + 0), (), check=_x_is_output),
    Case("0+x", "add_zero", lambda: ([x := vec()], 0 + x), (), check=_x_is_output),
    Case("x+zeros(1)", "add_zero", lambda: ([x := vec()], x + np.zeros(1)), ()),
    Case("x-0", "sub_zero", lambda: ([x := vec()], x - 0), (), check=_x_is_output),
    Case("x/1", "div_one", lambda: ([x := vec()], x / 1), (), check=_x_is_output),
    Case("x**1", "pow_one", lambda: ([x := vec()], x**1), (), check=_x_is_output),
    Case("int**1", "pow_one", lambda: ([x := vec(dtype="int64")], x**1), ()),
    Case("neg(neg x)", "neg_neg", lambda: ([x := vec()], ga.neg(ga.neg(x))), (),
         check=_x_is_output),
    Case("x-(-y)", "sub_neg", lambda: ([x := vec(), y := vec("y")], x - (-y)), ("Add",)),
    Case("x+(-y)", "add_neg", lambda: ([x := vec(), y := vec("y")], x + (-y)), ("Sub",)),
    Case("(-y)+x", "add_neg", lambda: ([x := vec(), y := vec("y")], (-y) + x), ("Sub",)),
    Case("x*-1", "mul_minus_one", lambda: ([x := vec()], x * -1), ("Neg",)),
    Case("-1*x", "mul_minus_one", lambda: ([x := vec()], -1 * x), ("Neg",)),
    Case("int*-1", "mul_minus_one", lambda: ([x := vec(dtype="int64")], x * -1), ("Neg",)),
    # guards: a rule that would change the dtype or the shape must not fire
    Case("int*1.0", "mul_one", lambda: ([x := vec(dtype="int64")], x * 1.0), ("Mul",), False),
    Case("f32*f64(1)", "mul_one", lambda: ([x := vec(dtype="float32")], x * ga.constant(1.0)),
         ("Mul",), False),
    Case("vec*ones(3,8)", "mul_one", lambda: ([x := vec()], x * np.ones((3, 8))), ("Mul",), False),
    # a static 5 against an unknown length: x of length 1 broadcasts to 5
    Case("x(?)*ones(5)", "mul_one", lambda: ([x := vec()], x * np.ones(5)), ("Mul",), False,
         args=_len_one),
    Case("int+0.0", "add_zero", lambda: ([x := vec(dtype="int64")], x + 0.0), ("Add",), False),
    Case("vec+zeros(3,8)", "add_zero", lambda: ([x := vec()], x + np.zeros((3, 8))), ("Add",),
         False),
    Case("0-x", "sub_zero", lambda: ([x := vec()], 0 - x), ("Sub",), False),
    Case("1/x", "div_one", lambda: ([x := vec()], 1 / x), ("TrueDivide",), False),
    Case("int/1", "div_one", lambda: ([x := vec(dtype="int64")], x / 1), ("TrueDivide",), False),
    Case("1**x", "pow_one", lambda: ([x := vec()], 1**x), ("Pow",), False),
    Case("int**1.0", "pow_one", lambda: ([x := vec(dtype="int64")], x**1.0), ("Pow",), False),
    # bool * -1 is int64 and neg is not defined on bool
    Case("bool*-1", "mul_minus_one", lambda: ([x := vec(dtype="bool")], x * -1), ("Mul",), False),
    # --- cast round trips ---------------------------------------------------------------
    Case("f32->f64->f32", "cast_round_trip",
         lambda: ([x := vec(dtype="float32")], ga.cast(ga.cast(x, "float64"), "float32")), (),
         check=_x_is_output),
    Case("i32->i64->i32", "cast_round_trip",
         lambda: ([x := vec(dtype="int32")], ga.cast(ga.cast(x, "int64"), "int32")), ()),
    Case("i16->f32->i16", "cast_round_trip",
         lambda: ([x := vec(dtype="int16")], ga.cast(ga.cast(x, "float32"), "int16")), ()),
    Case("f64->f32->f64", "cast_round_trip",
         lambda: ([x := vec()], ga.cast(ga.cast(x, "float32"), "float64")), ("Cast", "Cast"),
         False, args=_narrowing),
    # NumPy calls int64 -> float64 a safe cast, but 2**53 + 1 does not come back
    Case("i64->f64->i64", "cast_round_trip",
         lambda: ([x := vec(dtype="int64")], ga.cast(ga.cast(x, "float64"), "int64")),
         ("Cast", "Cast"), False, args=_large_ints),
    # --- dimshuffles ------------------------------------------------------------------
    Case("m.T.T", "dimshuffle_of_dimshuffle", lambda: ([m := ga.matrix("m")], m.T.T), (),
         check=_x_is_output),
    Case("compose", "dimshuffle_of_dimshuffle",
         lambda: ([m := ga.matrix("m")], m.dimshuffle(0, "x", 1).dimshuffle(2, 0, 1)),
         ("DimShuffle",), check=_pattern_is((1, 0, "x"))),
    Case("x.T drops 'x'", "dimshuffle_of_dimshuffle",
         lambda: ([x := vec()], x.dimshuffle("x", 0).dimshuffle(1)), (), check=_x_is_output),
    Case("(0,x).T", "dimshuffle_of_dimshuffle", lambda: ([x := vec()], x.dimshuffle(0, "x").T),
         ("DimShuffle",), check=_pattern_is(("x", 0))),
    Case("identity", "dimshuffle_of_dimshuffle",
         lambda: ([m := ga.matrix("m")], DimShuffle((0, 1))(m)), (), check=_x_is_output),
    # --- reshapes ---------------------------------------------------------------------
    Case("two reshapes", "reshape_of_reshape",
         lambda: ([m := ga.matrix("m")], m.reshape((-1,)).reshape((4, 2))), ("Reshape",),
         check=_reshape_of_input),
    Case("static same", "reshape_of_reshape",
         lambda: ([m := ga.tensor("m", shape=(2, 4))], m.reshape((2, 4))), (),
         check=_x_is_output),
    Case("static other", "reshape_of_reshape",
         lambda: ([m := ga.tensor("m", shape=(2, 4))], m.reshape((4, 2))), ("Reshape",), False),
    # --- static no-ops ----------------------------------------------------------------
    Case("broadcast_to same", "static_noop",
         lambda: ([x := vec(shape=(8,))], ga.broadcast_to(x, (8,))), (), check=_x_is_output),
    Case("sum_to_shape same", "static_noop",
         lambda: ([x := vec(shape=(8,))], SumToShape((8,))(-x, x.shape)), ("Neg",)),
    Case("broadcast_to larger", "static_noop",
         lambda: ([x := vec(shape=(8,))], ga.broadcast_to(x, (3, 8))), ("BroadcastTo",), False),
    # --- gradient-only identities, scalar switches between equal values --------------------
    Case("zero_grad", "gradient_identity", lambda: ([x := vec()], ga.zero_grad(x) * 2),
         ("Mul",)),
    Case("disconnected_grad", "gradient_identity",
         lambda: ([x := vec()], ga.disconnected_grad(x)), (), check=_x_is_output),
    Case("grad_clip", "gradient_identity", lambda: ([x := vec()], ga.grad_clip(x, -1, 1)), (),
         check=_x_is_output),
    Case("switch(c, x, x)", "switch_same",
         lambda: ([c := ga.scalar("c", "bool"), x := vec()], ga.switch(c, x, x)), (),
         check=lambda f, inputs: f.maker.fgraph.outputs[0] is inputs[1]),
    Case("switch(c, n, n)", "switch_same",
         lambda: ([c := ga.scalar("c", "bool"), m := ga.matrix("m")],
                  ga.switch(c, m.shape[0], m.shape[0])), ("ShapeI",)),
    # an array condition broadcasts: switch(c, x, x) has c's shape
    Case("switch(vector c)", "switch_same",
         lambda: ([c := vec("c", "bool"), x := vec()], ga.switch(c, x, x)), ("Switch",), False),
    # --- the gradient's sum_to_shape and broadcast_to -------------------------------------
    Case("sum_to_shape as sum", "sum_to_shape_as_sum",
         lambda: ([m := ga.matrix("m")],
                  SumToShape((None, 1))(m, m.sum(1, keepdims=True).shape)),
         ("Reduce",), check=_reduce_is((1,), True)),
    Case("sum_to_shape own shape", "sum_to_shape_as_sum",
         lambda: ([m := ga.matrix("m")], SumToShape((None, None))(-m, m.shape)), ("Neg",)),
    # w's shape may be (1, 4) at run time: the sum over axis 0 stays possible
    Case("sum_to_shape other shape", "sum_to_shape_as_sum",
         lambda: ([m := ga.matrix("m"), w := ga.matrix("w")],
                  SumToShape((None, None))(-m, w.shape)), ("Neg", "Shape", "SumToShape"),
         False, args=lambda inputs: [np.resize(SPECIAL, (2, 4)), np.resize(SPECIAL, (1, 4))]),
    # a bias's gradient: the leading axis always sums, in C; b may be (1,) at run time
    Case("sum_to_shape leading axes", "sum_to_shape_as_sum",
         lambda: ([m := ga.matrix("m"), b := vec("b")], SumToShape((None,))(-m, b.shape)),
         ("Neg", "Reduce", "Shape", "SumToShape"),
         args=lambda inputs: [np.resize(SPECIAL, (3, 4)), np.resize(SPECIAL, (1,))]),
    Case("broadcast_to into mul", "broadcast_into_elemwise",
         lambda: ([m := ga.matrix("m"), v := ga.matrix("v")], ga.broadcast_to(v, m.shape) * m),
         ("Mul",),
         args=lambda inputs: [np.resize(SPECIAL, (2, 4)), np.resize(SPECIAL, (1, 4))]),
    Case("broadcast_to other shape", "broadcast_into_elemwise",
         lambda: ([m := ga.matrix("m"), v := ga.matrix("v"), w := ga.matrix("w")],
                  ga.broadcast_to(v, m.shape) * w), ("BroadcastTo", "Mul", "ShapeI", "ShapeI"),
         False),
    Case("broadcast_to rank", "broadcast_into_elemwise",
         lambda: ([m := ga.matrix("m"), x := vec()], ga.broadcast_to(x, m.shape) * m),
         ("BroadcastTo", "Mul", "ShapeI", "ShapeI"), False,
         args=lambda inputs: [np.resize(SPECIAL, (2, 4)), np.resize(SPECIAL, (4,))]),
    # --- sums of sums -----------------------------------------------------------------
    Case("sum(1).sum(1)", "sum_of_sum", lambda: ([t := ga.tensor3("t")], t.sum(1).sum(1)),
         ("Reduce",), check=_reduce_is((1, 2), False)),
    Case("sum(0).sum()", "sum_of_sum", lambda: ([m := ga.matrix("m")], m.sum(0).sum()),
         ("Reduce",), check=_reduce_is((0, 1), False)),
    Case("keep+keep same", "sum_of_sum",
         lambda: ([t := ga.tensor3("t")], t.sum(0, keepdims=True).sum(0, keepdims=True)),
         ("Reduce",), check=_reduce_is((0,), True)),
    Case("keep+keep", "sum_of_sum",
         lambda: ([t := ga.tensor3("t")], t.sum(2, keepdims=True).sum(0, keepdims=True)),
         ("Reduce",), check=_reduce_is((0, 2), True)),
    Case("keep+covering", "sum_of_sum",
         lambda: ([t := ga.tensor3("t")], t.sum(1, keepdims=True).sum((0, 1))),
         ("Reduce",), check=_reduce_is((0, 1), False)),
    Case("sum(axis=())", "sum_of_sum", lambda: ([m := ga.matrix("m")], m.sum(axis=())), (),
         check=_x_is_output),
    Case("max(axis=())", "sum_of_sum", lambda: ([m := ga.matrix("m")], m.max(axis=())), ()),
    Case("max((), -inf)", "sum_of_sum",
         lambda: ([x := vec()], Reduce("max", (), initial=-np.inf)(x)), ()),
    Case("keep+not covering", "sum_of_sum",
         lambda: ([m := ga.matrix("m")], m.sum(0, keepdims=True).sum(1)), ("Reduce", "Reduce"),
         False),
    Case("drop+keep", "sum_of_sum",
         lambda: ([t := ga.tensor3("t")], t.sum(0).sum(0, keepdims=True)), ("Reduce", "Reduce"),
         False),
    Case("max then sum", "sum_of_sum", lambda: ([m := ga.matrix("m")], m.max(0).sum(0)),
         ("Reduce", "Reduce"), False),
    Case("accumulator", "sum_of_sum",
         lambda: ([m := ga.matrix("m")], ga.sum(m.sum(0), dtype="float32")), ("Reduce", "Reduce"),
         False),
    # max(x, initial=0) over no axis is maximum(x, 0), not x
    Case("max((), 0)", "sum_of_sum", lambda: ([x := vec()], Reduce("max", (), initial=0.0)(x)),
         ("Reduce",), False),
    # --- shapes -----------------------------------------------------------------------
    Case("input shape[-1]", "shape_entry", lambda: ([m := ga.matrix("m")], m.shape[-1]),
         ("ShapeI",), check=_shape_i_of(0, 1)),
    Case("exp shape[1]", "shape_entry", lambda: ([m := ga.matrix("m")], ga.exp(m).shape[1]),
         ("ShapeI",), check=_shape_i_of(0, 1)),
    Case("static shape_i", "shape_i_lift", lambda: ([x := vec(shape=(8,))], ShapeI(0)(x)), (),
         check=_output_constant),
    Case("lift through exp", "shape_i_lift",
         lambda: ([m := ga.matrix("m")], ga.exp(m).shape[0]), ("ShapeI",),
         check=_shape_i_of(0, 0)),
    Case("lift through dot", "shape_i_lift",
         lambda: ([a := ga.matrix("a"), w := ga.matrix("w")], (a @ w).shape[1]), ("ShapeI",),
         args=lambda inputs: [np.resize(SPECIAL, (2, 4)), np.resize(SPECIAL, (4, 3))],
         check=_shape_i_of(1, 1)),
    Case("shape of exp", "shape_to_entries", lambda: ([m := ga.matrix("m")], ga.exp(m).shape),
         ("MakeVector", "ShapeI", "ShapeI")),
    Case("scalar shape", "shape_to_entries", lambda: ([s := ga.scalar("s")], s.shape), (),
         check=_output_constant),
    Case("partly static", "shape_to_entries",
         lambda: ([m := ga.tensor("m", shape=(None, 4))], m.shape), ("MakeVector", "ShapeI")),
    Case("input shape", "shape_to_entries", lambda: ([m := ga.matrix("m")], m.shape),
         ("Shape",), False),
]
# fmt: on


def test_every_rule_has_a_row():
    assert {r.name for r in canonicalize_rules} <= {c.rule for c in CASES if c.fires}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}:{c.id}" for c in CASES])
def test_rule(case):
    inputs, out = case.build()
    f, ref = compile_both(inputs, out)
    assert tuple(op_names(f)) == case.ops, f.maker.rewrites.summary()
    fired = f.maker.rewrites.fired(case.rule)
    assert fired >= 1 if case.fires else fired == 0, f.maker.rewrites.summary()
    if case.check is not None:
        case.check(f, f.maker.fgraph.inputs)  # the graph's (cloned) inputs
    args = case.args(inputs) if case.args else [value_for(v) for v in inputs]
    assert_same_result(f, ref, args)


def test_guards_report_the_declined_rewrite():
    # the rule matched, and the engine refused the type-changing replacement
    x = vec(dtype="int64")
    f = ga.function([x], x * 1.0, mode=REWRITES)
    assert f.maker.rewrites.declined[("canonicalize", "mul_one")] >= 1
    assert f.maker.rewrites.fired("mul_one") == 0


def test_rules_chain_to_a_fixpoint():
    # -(-(x * 1)) + 0 - (-y): four rules, one Add left
    x, y = vec(), vec("y")
    f, ref = compile_both([x, y], (ga.neg(ga.neg(x * 1)) + 0) - (-y))
    assert op_names(f) == ["Add"]
    for name in ("mul_one", "neg_neg", "add_zero", "sub_neg"):
        assert f.maker.rewrites.fired(name) >= 1, name
    assert_same_result(f, ref, [SPECIAL, SPECIAL[::-1].copy()])


def test_add_zero_sign_of_zero_is_the_documented_difference():
    # IEEE: -0.0 + 0 is +0.0; with x + 0 => x the result keeps x's sign (canonicalize.py)
    x = vec()
    f, ref = compile_both([x], x + 0)
    assert np.signbit(f(np.array([-0.0]))[0]) and not np.signbit(ref(np.array([-0.0]))[0])


def test_special_values_pairwise():
    # every pair of special values through the rewrites that keep a node;
    # x * -1 + y * 1 becomes -x + y, then y - x
    a, b = np.meshgrid(SPECIAL, SPECIAL)
    x, y = ga.matrix("x"), ga.matrix("y")
    f, ref = compile_both([x, y], [x - (-y), x + (-y), x * -1 + y * 1])
    assert op_names(f) == ["Add", "Sub", "Sub"]
    assert_same_result(f, ref, [a, b])


# --- shape simplification ----------------------------------------------------------------
def test_shape_does_not_compute_the_value():
    x = ga.vector("x")
    f = ga.function([x], ga.exp(x).shape[0], mode=REWRITES)
    assert "Exp" not in op_names(f)
    assert op_names(f) == ["ShapeI"]
    assert f(SPECIAL) == len(SPECIAL)
    assert np.asarray(f(SPECIAL)).dtype == np.int64


def test_shape_of_deep_expression_reads_only_inputs():
    a, w, b = ga.matrix("a"), ga.matrix("w"), ga.vector("b")
    h = ga.tanh(a @ w + b)
    out = ga.concatenate([h, ga.exp(h)], axis=1).shape
    f, ref = compile_both([a, w, b], out)
    work = {"Tanh", "Exp", "MatMul", "Concatenate"}
    assert work <= set(op_names(ref)) and not work & set(op_names(f))
    shape_of = [n.inputs[0] for n in f.maker.fgraph.apply_nodes if op_name(n) == "ShapeI"]
    assert shape_of and all(v in f.maker.fgraph.inputs for v in shape_of)
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(3, 5)), rng.normal(size=(5, 2)), rng.normal(size=2)]
    assert_same_result(f, ref, args)


def test_static_shapes_become_constants():
    x = ga.tensor("x", shape=(3, None))
    f, ref = compile_both([x], [ga.exp(x).shape[0], (x * 2).sum(1).shape[0]])
    assert op_names(f) == []
    assert all(isinstance(o, Constant) for o in f.maker.fgraph.outputs)
    assert_same_result(f, ref, [np.ones((3, 7))])


def test_reshape_minus_one_shape_does_not_loop():
    x = ga.vector("x")
    f, ref = compile_both([x], x.reshape((-1,)).shape[0])
    assert f.maker.rewrites.fired("shape_i_lift") == 0  # -1: the shape rule reads the value
    assert Counter(op_names(f)) == Counter(["Reshape", "ShapeI"])
    assert_same_result(f, ref, [SPECIAL])


def test_shape_through_reshape_minus_one_drops_later_work():
    m = ga.matrix("m")
    f, ref = compile_both([m], ga.exp(m.reshape((-1, 2))).shape[0])
    assert op_names(f) == ["Reshape", "ShapeI"]
    assert only(f, "ShapeI").inputs[0].owner is only(f, "Reshape")
    assert_same_result(f, ref, [value_for(m)])


def test_shape_of_an_output_that_is_also_computed():
    # the value and its shape both asked for: the shape comes from the input
    x = ga.vector("x")
    y = ga.exp(x)
    f, ref = compile_both([x], [y, y.shape[0] * 2])
    assert Counter(op_names(f))["Exp"] == 1
    shape_i = only(f, "ShapeI")
    assert shape_i.inputs[0] is f.maker.fgraph.inputs[0]
    assert_same_result(f, ref, [SPECIAL])


# --- source lines ------------------------------------------------------------------------
def lineno():
    """The caller's line (to compare with the source line a node records)."""
    return inspect.currentframe().f_back.f_lineno


def assert_source(node, line):
    filename, lineno_ = node.source
    assert os.path.realpath(filename) == os.path.realpath(__file__)
    assert lineno_ == line, (node, node.source, line)


def test_rewritten_nodes_keep_the_user_line():
    x, y = ga.vector("x"), ga.vector("y")
    neg = -y
    out, line = x - neg, lineno()
    f = ga.function([x, y], out, mode=REWRITES)
    assert_source(only(f, "Add"), line)  # the Add replaced the Sub built on `line`


def test_composed_nodes_keep_the_outer_line():
    t = ga.tensor3("t")
    inner = t.sum(0)
    outer, sum_line = inner.sum(0), lineno()
    m = ga.matrix("m")
    ds = m.dimshuffle(0, "x", 1)
    shuffled, ds_line = ds.dimshuffle(2, 0, 1), lineno()
    x = ga.vector("x")
    minus, neg_line = x * -1, lineno()
    reshaped = m.reshape((-1,))
    again, reshape_line = reshaped.reshape((4, 2)), lineno()
    f = ga.function([t, m, x], [outer, shuffled, minus, again], mode=REWRITES)
    assert_source(only(f, "Reduce"), sum_line)
    assert_source(only(f, "DimShuffle"), ds_line)
    assert_source(only(f, "Neg"), neg_line)
    assert_source(only(f, "Reshape"), reshape_line)


def test_lifted_shape_keeps_the_line_of_the_shape_expression():
    m = ga.matrix("m")
    e = ga.exp(m)
    n, line = e.shape[0], lineno()
    f = ga.function([m], n, mode=REWRITES)
    assert_source(only(f, "ShapeI"), line)
