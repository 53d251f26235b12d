"""The rewrite engine: patterns and captures, rule tables, the worklist's budget, rules
that fail, what new nodes inherit, the record of firings, and DEBUG mode's checks."""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pytest

import graphad as ga
from graphad.errors import RewriteError
from graphad.graph.fgraph import FunctionGraph
from graphad.graph.verify import LintError, lint
from graphad.rewrite import pipeline
from graphad.rewrite.engine import RewriteRecord, RuleTable, node_rule, rule, run_table
from graphad.rewrite.pattern import P, compile_pattern
from graphad.tensor import math as m
from graphad.tensor import scalar_ops as so
from graphad.tensor.nnet import Softmax
from tests.util import AS_WRITTEN, REWRITES

HERE = os.path.basename(__file__)


def lineno():
    """The line of the caller (to compare with the source line nodes record)."""
    return inspect.currentframe().f_back.f_lineno


def matches(pattern, var):
    return list(compile_pattern(pattern).match(var))


def run(fgraph, rules, strict=True, name="test_pass", budget=None):
    record = RewriteRecord()
    table = rules if isinstance(rules, RuleTable) else RuleTable("t", rules)
    run_table(fgraph, table, name, record, strict=strict, budget=budget)
    return record


def evaluate(fgraph, *values):
    outputs = fgraph.outputs if len(fgraph.outputs) > 1 else fgraph.outputs[0]
    return ga.function(fgraph.inputs, outputs, mode=AS_WRITTEN)(*values)


# --- patterns ----------------------------------------------------------------------------
def test_capture_and_nested_ops():
    x, y = ga.vector("x"), ga.vector("y")
    (caps,) = matches((ga.log, (ga.add, "a", (ga.exp, "b"))), ga.log(x + ga.exp(y)))
    assert caps["a"] is x and caps["b"] is y
    assert matches((ga.log, (ga.add, "a", (ga.exp, "b"))), ga.log(x + y)) == []
    assert matches((ga.exp, "a"), x) == []  # an input has no owner


def test_same_name_twice_is_the_same_variable():
    x, y = ga.vector("x"), ga.vector("y")
    (caps,) = matches((ga.sub, "a", "a"), x - x)
    assert caps == {"a": x}
    assert matches((ga.sub, "a", "a"), x - y) == []
    # equal but distinct nodes are different variables
    assert matches((ga.sub, "a", "a"), ga.exp(x) - ga.exp(x)) == []


def test_commutative_ops_match_both_orders():
    x = ga.vector("x")
    (caps,) = matches((ga.add, 1, "a"), x + 1)
    assert caps["a"] is x
    assert len(matches((ga.mul, 2, "a"), x * 2)) == 1
    # sub is not commutative: 1 - x is not x - 1
    assert matches((ga.sub, "a", 1), 1 - x) == []
    assert len(matches((ga.sub, 1, "a"), 1 - x)) == 1
    # both orders of a commutative op are offered when both fit
    y = ga.vector("y")
    found = matches((ga.add, "a", "b"), x + y)
    assert [(c["a"], c["b"]) for c in found] == [(x, y), (y, x)]


def test_constant_value_matches_arrays_of_equal_elements():
    x = ga.vector("x")
    assert len(matches((ga.mul, "a", 1), x * ga.constant(np.ones(3)))) == 1
    assert len(matches((ga.mul, "a", 1), x * ga.constant(np.ones((2, 3), dtype="float32")))) == 1
    assert len(matches((ga.mul, "a", 1), x * np.int64(1))) == 1
    assert matches((ga.mul, "a", 1), x * ga.constant(np.array([1.0, 2.0, 1.0]))) == []
    assert matches((ga.mul, "a", 1), x * ga.vector("one")) == []  # not a constant
    assert matches((ga.mul, "a", 0.5), x * ga.constant(np.zeros(0))) == []  # no elements


def test_op_spec_forms():
    """A pattern's op may be a ga function, a scalar op class, an Op class or an op."""
    z = ga.matrix("z")
    s = ga.softmax(z)
    for spec in (Softmax, s.owner.op):
        (caps,) = matches((spec, "a"), s)
        assert caps["a"] is z
    for spec in (ga.log, so.Log, ga.log(z).owner.op, ga.log(z).owner.op.scalar_op):
        (caps,) = matches((spec, "a"), ga.log(z))
        assert caps["a"] is z
        assert matches((spec, "a"), ga.exp(z)) == []
    with pytest.raises(TypeError, match="neither"):
        compile_pattern((lambda v: v, "a"))
    with pytest.raises(TypeError, match="pattern"):
        compile_pattern(["not", "a", "pattern"])


def test_named_pattern_with_condition():
    x = ga.vector("x")
    x32 = ga.vector("x32", dtype="float32")
    pat = (ga.log, P(ga.exp, "a", name="e", where=lambda v: v.dtype == "float64"))
    e = ga.exp(x)
    (caps,) = matches(pat, ga.log(e))
    assert caps["e"] is e and caps["a"] is x
    assert matches(pat, ga.log(ga.exp(x32))) == []
    # the name of a P, used again, must be the same variable
    same = (ga.add, P(ga.exp, "a", name="e"), "e")
    found = matches(same, e + e)
    assert found and all(c == {"a": x, "e": e} for c in found)
    assert matches(same, e + ga.exp(x)) == []


# --- rule tables -------------------------------------------------------------------------
def test_tables_compose_and_refuse_duplicate_names():
    a = RuleTable("a", [rule("log1p", (m.log, (m.add, 1, "x")), (m.log1p, "x"))])
    b = RuleTable("b", [rule("expm1", (m.sub, (m.exp, "x"), 1), (m.expm1, "x"))])
    both = a + b
    assert both.name == "a+b" and len(both) == 2
    assert [r.name for r in both] == ["log1p", "expm1"]
    assert [r.name for r in both.candidates(ga.log(ga.vector()).owner.op)] == ["log1p"]
    with pytest.raises(ValueError, match="log1p"):
        a + a
    with pytest.raises(ValueError, match="unique"):
        RuleTable("c", [rule("same", (m.exp, "x"), "x"), rule("same", (m.log, "x"), "x")])


def test_node_rule_needs_a_before_after_docstring():
    def undocumented(fgraph, node):
        return None

    with pytest.raises(TypeError, match="undocumented"):
        node_rule(so.Exp)(undocumented)

    def vague(fgraph, node):
        """Makes things better."""

    with pytest.raises(TypeError, match="⇒"):
        node_rule(so.Exp)(vague)


def test_rule_with_template_condition_and_numbers():
    x = ga.vector("x")
    i = ga.vector("i", dtype="int64")
    double = rule("double", (m.mul, "a", 2), (m.add, "a", "a"), where=lambda a: a.ndim == 1)
    fg = FunctionGraph([x, i], [ga.exp(x * 2), i * 2, ga.exp(ga.sum(x) * 2)], clone=False)
    record = run(fg, [double])
    assert record.fired("double") == 2  # the vectors, not the scalar sum
    lint(fg)
    out_x, out_i, out_s = evaluate(fg, np.array([0.5, -1.0]), np.array([3, 4]))
    np.testing.assert_allclose(out_x, np.exp([1.0, -2.0]))
    np.testing.assert_array_equal(out_i, [6, 8])
    np.testing.assert_allclose(out_s, np.exp(-1.0))


def test_replacement_of_another_type_is_declined():
    x = ga.vector("x")
    fg = FunctionGraph([x], [ga.exp(x)], clone=False)
    record = run(fg, [rule("to_scalar", (m.exp, "a"), lambda a: ga.sum(a))])
    assert record.fired() == 0 and record.declined[("test_pass", "to_scalar")] == 1
    np.testing.assert_allclose(evaluate(fg, np.array([0.0, 1.0])), np.exp([0.0, 1.0]))


# --- rules that never settle, and rules that fail ----------------------------------------
# each undoes the other: a - (-b) ⇒ a + b and a + b ⇒ a - (-b)
UNDOING = [
    rule("add_to_sub", (m.add, "a", "b"), lambda a, b: m.sub(a, m.neg(b))),
    rule("sub_to_add", (m.sub, "a", (m.neg, "b")), lambda a, b: m.add(a, b)),
]


def _looping_graph():
    x, y = ga.vector("x"), ga.vector("y")
    return FunctionGraph([x, y], [ga.exp(x + y)], clone=False)


def test_rules_undoing_each_other_raise_when_strict():
    with pytest.raises(RewriteError, match="add_to_sub|sub_to_add") as info:
        run(_looping_graph(), UNDOING, strict=True, budget=50)
    assert "test_pass" in str(info.value)


def test_rules_undoing_each_other_stop_with_a_warning():
    fg = _looping_graph()
    with pytest.warns(UserWarning, match="add_to_sub|sub_to_add"):
        record = run(fg, UNDOING, strict=False, budget=50)
    # stopped at the budget, not forever
    assert 50 <= record.fired() <= 52
    lint(fg)
    x, y = np.array([0.5, 1.0]), np.array([-2.0, 0.25])
    np.testing.assert_allclose(evaluate(fg, x, y), np.exp(x + y))


def test_default_budget_grows_with_the_graph():
    small = _looping_graph()
    x, y, z = ga.vector("x"), ga.vector("y"), ga.vector("z")
    chain = z
    for _ in range(60):
        chain = ga.exp(chain)
    large = FunctionGraph([x, y, z], [ga.exp(x + y), chain], clone=False)
    fired = []
    for fg in (small, large):
        with pytest.warns(UserWarning, match="stopped after"):
            fired.append(run(fg, UNDOING, strict=False).fired())
    assert 0 < fired[0] < fired[1]


def _boom(**caps):
    raise ZeroDivisionError("kaboom")


def _failing_table():
    return [
        rule("exploding", (m.exp, "a"), _boom),
        rule("log1p", (m.log, (m.add, 1, "a")), (m.log1p, "a")),
    ]


def test_failing_rule_raises_when_strict():
    x = ga.vector("x")
    fg = FunctionGraph([x], [ga.log(1 + ga.exp(x))], clone=False)
    with pytest.raises(RewriteError, match="exploding") as info:
        run(fg, _failing_table(), strict=True)
    assert "kaboom" in str(info.value) and "test_pass" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_failing_rule_is_skipped_with_a_warning():
    x = ga.vector("x")
    fg = FunctionGraph([x], [ga.log(1 + ga.exp(x)), ga.exp(2 * x)], clone=False)
    with pytest.warns(UserWarning, match="exploding") as caught:
        record = run(fg, _failing_table(), strict=False)
    assert len(caught) == 1  # disabled after its first failure, not retried on each node
    assert record.failures == [("test_pass", "exploding", "kaboom")]
    assert "exploding" in record.summary()
    assert record.fired("log1p") == 1  # the other rules still run
    lint(fg)
    v = np.array([-1.0, 0.5])
    out, twice = evaluate(fg, v)
    np.testing.assert_allclose(out, np.log1p(np.exp(v)), rtol=1e-14)
    np.testing.assert_allclose(twice, np.exp(2 * v))


def test_replacement_reading_what_it_replaces_is_refused():
    x = ga.vector("x")
    fg = FunctionGraph([x], [ga.exp(x)], clone=False)
    cyclic = rule("cyclic", P(m.exp, "a", name="e"), lambda e, a: e * 1)
    with pytest.raises(RewriteError, match="cyclic"):
        run(fg, [cyclic], strict=True)
    fg = FunctionGraph([x], [ga.exp(x)], clone=False)
    with pytest.warns(UserWarning, match="cyclic"):
        record = run(fg, [cyclic], strict=False)
    assert record.fired() == 0
    lint(fg)


def test_rule_returning_a_non_variable_fails():
    x = ga.vector("x")
    fg = FunctionGraph([x], [ga.exp(x)], clone=False)
    with pytest.raises(RewriteError, match="not_a_variable"):
        run(fg, [rule("not_a_variable", (m.exp, "a"), lambda a: "oops")], strict=True)


def test_pipeline_rule_failure_in_fast_run(monkeypatch):
    """A failing rule of a pipeline pass raises under rewrite_checks (tests) and is
    skipped with a warning naming it otherwise, leaving a correct function."""
    step = next(s for s in pipeline.FAST_RUN if s.name == "stabilize")
    monkeypatch.setattr(step, "table", RuleTable("broken", _failing_table()))
    x = ga.vector("x")
    with pytest.raises(RewriteError, match="exploding.*stabilize"):
        ga.function([x], ga.log(1 + ga.exp(x)), mode=REWRITES)
    monkeypatch.setattr(ga.config, "rewrite_checks", False)
    with pytest.warns(UserWarning, match="exploding"):
        f = ga.function([x], ga.log(1 + ga.exp(x)), mode=REWRITES)
    assert f.maker.rewrites.failures == [("stabilize", "exploding", "kaboom")]
    v = np.array([-3.0, 2.0])
    np.testing.assert_allclose(f(v), np.log1p(np.exp(v)), rtol=1e-14)


# --- what new nodes inherit -----------------------------------------------------------------
def test_new_nodes_inherit_the_users_line():
    x = ga.vector("x")
    y, line = ga.log(ga.sigmoid(x)), lineno()
    f = ga.function([x], y, mode=REWRITES)
    assert f.maker.rewrites.fired("log_sigmoid") == 1
    nodes = f.maker.fgraph.toposort()
    assert len(nodes) == 3  # -softplus(-x)
    for node in nodes:
        assert node.source[1] == line and os.path.basename(node.source[0]) == HERE


def test_new_nodes_inherit_the_grad_tag():
    x = ga.vector("x")
    y = ga.log(1 + x)
    y.owner.tag.grad = True
    fg = FunctionGraph([x], [y * 2], clone=False)
    source = y.owner.source
    run(
        fg, [rule("log1p_neg", (m.log, (m.add, 1, "a")), lambda a: m.neg(m.log1p(m.neg(m.neg(a)))))]
    )
    (mul,) = [n for n in fg.apply_nodes if isinstance(n.op.scalar_op, so.Mul)]
    new = [n for n in fg.apply_nodes if n is not mul]
    assert len(new) == 4  # neg, neg, log1p, neg
    for node in new:
        assert getattr(node.tag, "grad", None) is True
        assert node.source == source
    assert getattr(mul.tag, "grad", None) is None  # only what replaced a tagged node


def test_gradient_nodes_keep_the_tag_through_rewrites():
    x = ga.vector("x")
    g = ga.grad(ga.sum(x**3), x)
    f = ga.function([x], g, mode=REWRITES)
    assert f.maker.rewrites.fired("pow_two") >= 1
    assert all(getattr(n.tag, "grad", False) for n in f.maker.fgraph.apply_nodes)
    v = np.array([0.5, -2.0])
    np.testing.assert_allclose(f(v), 3 * v**2)


# --- the record --------------------------------------------------------------------------------
def test_record_counts_and_summary():
    rec = RewriteRecord()
    rec.fire("stabilize", "log1p")
    rec.fire("stabilize", "log1p")
    rec.fire("specialize", "log1p")
    rec.fire("specialize", "gemm")
    assert rec.fired("log1p") == 3
    assert rec.fired("log1p", "stabilize") == 2
    assert rec.fired(pass_name="specialize") == 2
    assert rec.fired() == 4 and rec.fired("expm1") == 0
    rec.pass_times["stabilize"] = 0.0021
    rec.failures.append(("specialize", "gemm", "bad shape"))
    text = rec.summary()
    lines = text.splitlines()
    assert any(line.split() == ["stabilize", "log1p", "2"] for line in lines), text
    assert any(line.split() == ["specialize", "gemm", "1"] for line in lines), text
    assert "2.1 ms" in text and "specialize/gemm" in text and "bad shape" in text


def test_compiled_function_records_its_passes():
    x = ga.vector("x")
    f = ga.function([x], ga.log(1 + x) + (ga.exp(x) - 1), mode=REWRITES)
    rec = f.maker.rewrites
    assert rec.fired("log1p", "stabilize") == 1 and rec.fired("expm1", "stabilize") == 1
    names = [s.name for s in pipeline.FAST_RUN]
    assert set(rec.pass_times) <= set(names) and "stabilize" in rec.pass_times
    written = ga.function([x], ga.log(1 + x), mode=AS_WRITTEN)
    assert written.maker.rewrites.fired() == 0 and not written.maker.rewrites.pass_times


# --- DEBUG mode -----------------------------------------------------------------------------
def test_debug_mode_names_the_node_that_makes_a_nan():
    x = ga.vector("x")
    y, line = ga.log(x - 2.0), lineno()
    f = ga.function([x], y * 3, mode="DEBUG")
    np.testing.assert_allclose(f(np.array([3.0, 5.0])), 3 * np.log([1.0, 3.0]))
    with pytest.raises(FloatingPointError) as info:
        f(np.array([3.0, 1.0]))
    message = str(info.value)
    assert "log" in message and f"{HERE}:{line}" in message
    # NaN in, NaN out is not the node's fault
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = f(np.array([np.nan, 3.0]))
    assert np.isnan(out[0])


def test_debug_mode_runs_the_stabilized_graph():
    """log(sigmoid(-800)) is -inf as written; DEBUG runs the rewritten -softplus(800)."""
    x = ga.vector("x")
    f = ga.function([x], ga.log(ga.sigmoid(x)), mode="DEBUG")
    assert f.maker.rewrites.fired("log_sigmoid") == 1
    v = np.array([-800.0, 2.0])
    np.testing.assert_allclose(f(v), -np.logaddexp(0, -v), rtol=1e-15)


@node_rule(so.Exp)
def rewire_behind_the_graphs_back(fgraph, node):
    """exp(x) ⇒ exp(stranger), by mutating node.inputs instead of asking the fgraph"""
    node.inputs[0] = ga.vector("stranger")
    return None


@pytest.mark.parametrize("mode", ["DEBUG", "FAST_RUN"])
def test_lint_after_every_pass_names_the_pass(monkeypatch, mode):
    step = next(s for s in pipeline.FAST_RUN if s.name == "stabilize")
    monkeypatch.setattr(step, "table", RuleTable("bad", [rewire_behind_the_graphs_back]))
    # DEBUG lints on its own; FAST_RUN does under rewrite_checks (on in tests)
    monkeypatch.setattr(ga.config, "rewrite_checks", mode == "FAST_RUN")
    x = ga.vector("x")
    with pytest.raises(LintError, match="stabilize") as info:
        ga.function([x], ga.exp(x) + 1, mode=mode)
    assert "exp" in str(info.value) and "stranger" in str(info.value)
