"""The graph IR: Variable, Constant, Apply (with the user's source line), FunctionGraph
(clients, replace, listeners), traversal, deep graphs and lint."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import graphad as ga
from graphad.errors import MissingInputError
from graphad.graph.basic import Apply, Constant, Variable
from graphad.graph.fgraph import OUTPUT, Clients, FunctionGraph
from graphad.graph.traversal import (
    ancestors,
    applys_between,
    clone,
    clone_get_equiv,
    clone_replace,
    graph_inputs,
    io_toposort,
    toposort,
)
from graphad.graph.verify import LintError, lint
from graphad.tensor.elemwise import Elemwise
from graphad.tensor.reduce import Reduce
from graphad.tensor.scalar_ops import Exp, Log
from graphad.tensor.type import TensorType

HERE = __file__


def _line():
    """The line number of the caller (the line where the expression is built)."""
    return sys._getframe(1).f_lineno


# --- Variable, Constant, Apply ----------------------------------------------------------
def test_variable_basics():
    x = ga.vector("x", "float32")
    assert x.name == "x" and x.owner is None and x.index is None
    assert x.type == TensorType("float32", (None,))
    assert "x" in repr(x) and "float32" in repr(x)
    assert str(x) == "x"
    y, z = ga.vector(), ga.vector()
    assert str(y) != str(z)  # unnamed variables get distinct automatic names
    assert isinstance(x, Variable)


def test_variable_clone_is_a_fresh_leaf_with_own_tag():
    x = ga.vector("x")
    x.tag.note = "original"
    y = ga.exp(x)
    c = y.clone()
    assert c is not y and c.owner is None and c.index is None
    assert c.type == y.type and c.name == y.name
    c.tag.note = "copy"
    x2 = x.clone()
    x2.tag.note = "changed"
    assert x.tag.note == "original"
    assert y.owner.outputs[0] is y  # the original is untouched


def test_apply_links_inputs_and_outputs():
    x, y = ga.vector("x"), ga.vector("y")
    out = x * y
    node = out.owner
    assert isinstance(node, Apply)
    assert node.inputs == [x, y] and node.outputs == [out] and node.out is out
    assert out.index == 0 and node.nin == 2
    assert node.op == Elemwise(ga.mul.op.scalar_op)
    assert "mul" in str(node.op)


def test_multi_output_apply():
    x = ga.vector("x")
    pieces = ga.split(x, [1, 3])
    node = pieces[0].owner
    assert len(pieces) == 3 and all(p.owner is node for p in pieces)
    assert [p.index for p in pieces] == [0, 1, 2]
    with pytest.raises(ValueError, match="3 outputs"):
        _ = node.out
    got = ga.function([x], pieces, mode="FAST_COMPILE")(np.arange(5.0))
    for g, e in zip(got, np.split(np.arange(5.0), [1, 3]), strict=True):
        np.testing.assert_array_equal(g, e)


def test_constant_basics():
    c = ga.constant([1.0, 2.0], name="c")
    assert isinstance(c, Constant) and c.owner is None
    assert c.type == TensorType("float64", (2,))
    np.testing.assert_array_equal(c.data, [1.0, 2.0])
    with pytest.raises(ValueError):
        c.data[0] = 5.0  # constants are immutable
    same, other_dtype = ga.constant([1.0, 2.0]), ga.constant(np.array([1, 2], dtype="float32"))
    assert c.signature() == same.signature()
    assert c.signature() != other_dtype.signature()
    assert c.signature() != ga.constant([1.0, 3.0]).signature()
    copy = c.clone()
    assert copy is not c and copy.data is c.data and copy.signature() == c.signature()


def test_constant_copies_mutable_input():
    value = np.array([1.0, 2.0])
    c = ga.constant(value)
    value[0] = 100.0
    np.testing.assert_array_equal(c.data, [1.0, 2.0])


def test_op_equality_follows_params():
    assert Elemwise(Exp()) == Elemwise(Exp())
    assert hash(Elemwise(Exp())) == hash(Elemwise(Exp()))
    assert Elemwise(Exp()) != Elemwise(Log())
    assert Reduce("sum", (0,)) == Reduce("sum", (0,))
    assert Reduce("sum", (0,)) != Reduce("sum", (1,))
    assert Reduce("sum", (0,)) != Reduce("max", (0,))
    assert Reduce("sum", (0,), keepdims=True).params != Reduce("sum", (0,)).params


def test_clone_with_new_inputs():
    x = ga.vector("x")
    node = ga.exp(x).owner
    y = ga.vector("y")
    strict = node.clone_with_new_inputs([y])
    assert strict.op == node.op and strict.inputs == [y]
    assert strict.outputs[0] is not node.outputs[0]
    assert strict.outputs[0].type == node.outputs[0].type
    assert strict.source == node.source
    f32 = ga.vector("f", "float32")
    rebuilt = node.clone_with_new_inputs([f32], strict=False)
    assert rebuilt.outputs[0].dtype == "float32"  # make_node follows the new input
    assert rebuilt.source == node.source


# --- source lines ---------------------------------------------------------------------
def test_apply_records_user_source_line():
    x, y = ga.vector("x"), ga.vector("y")
    out, line = x * y + 1, _line()
    assert out.owner.source == (HERE, line)
    assert out.owner.inputs[0].owner.source == (HERE, line)
    s, line_s = ga.exp(out).sum(), _line()
    assert s.owner.source == (HERE, line_s)
    assert s.owner.inputs[0].owner.source == (HERE, line_s)


def test_every_node_of_a_composite_records_the_user_line():
    x = ga.matrix("x")
    out, line = x.var(axis=0) + ga.softmax(x).std(), _line()
    nodes = toposort([out])
    assert len(nodes) > 5
    for node in nodes:
        assert node.source == (HERE, line), node


def test_gradient_nodes_record_the_line_of_the_grad_call():
    x = ga.vector("x")
    cost = (ga.exp(x) * x).sum()
    g, line = ga.grad(cost, x), _line()
    new_nodes = set(toposort([g])) - set(toposort([cost]))
    assert new_nodes
    for node in new_nodes:
        assert node.source == (HERE, line), node


def test_source_survives_cloning_and_compilation():
    x = ga.vector("x")
    out, line = ga.log(x) * 3, _line()
    fg = FunctionGraph([x], [out])
    assert {n.source for n in fg.apply_nodes} == {(HERE, line)}
    f = ga.function([x], out, mode="FAST_COMPILE")
    assert {n.source for n in f.maker.fgraph.apply_nodes} == {(HERE, line)}
    (_,), (cloned,) = clone([x], [out])
    assert cloned.owner.source == (HERE, line)


# --- FunctionGraph -------------------------------------------------------------------------
class Recorder:
    def __init__(self):
        self.events = []

    def on_import(self, fg, node):
        self.events.append(("import", node))

    def on_change_input(self, fg, client, i, old, new, reason):
        self.events.append(("change", client, i, old, new, reason))

    def on_prune(self, fg, node):
        self.events.append(("prune", node))


def test_fgraph_clone_true_copies_and_tracks_clients():
    x, y = ga.vector("x"), ga.vector("y")
    out = ga.exp(x * y) + x
    fg = FunctionGraph([x, y], [out])
    assert fg.inputs[0] is not x and fg.outputs[0] is not out
    assert [v.name for v in fg.inputs] == ["x", "y"]
    assert len(fg.apply_nodes) == 3
    fx = fg.inputs[0]
    readers = {(node.op.scalar_op.name, i) for node, i in fg.clients[fx]}
    assert readers == {("mul", 0), ("add", 1)}
    assert fg.clients[fg.outputs[0]] == [(OUTPUT, 0)]
    for node in fg.apply_nodes:
        for i, inp in enumerate(node.inputs):
            assert (node, i) in fg.clients[inp]
    # the user's graph is untouched
    assert out.owner.inputs[1] is x
    lint(fg)


def test_fgraph_clone_false_uses_the_given_variables():
    x = ga.vector("x")
    out = ga.exp(x)
    fg = FunctionGraph([x], [out], clone=False)
    assert fg.inputs == [x] and fg.outputs == [out]
    assert fg.apply_nodes == {out.owner}
    assert fg.clients[x] == [(out.owner, 0)]


def test_fgraph_free_variable_raises_missing_input():
    x, y = ga.vector("x"), ga.vector("y")
    with pytest.raises(MissingInputError, match="'y'"):
        FunctionGraph([x], [x + y])
    # constants and shared variables need no input slot
    w = ga.shared(np.ones(2), name="w")
    fg = FunctionGraph([x], [x + w + ga.constant(np.ones(2))])
    lint(fg)


def test_replace_updates_clients_prunes_and_notifies():
    x = ga.vector("x")
    doubled = x * 2
    exp = ga.exp(doubled)
    out = exp + 1
    fg = FunctionGraph([x], [out], clone=False)
    rec = Recorder()
    fg.attach_listener(rec)
    mul_node, exp_node = doubled.owner, exp.owner
    two = mul_node.inputs[1]
    new = x + x
    fg.replace(doubled, new, reason="x * 2 => x + x")

    assert exp_node.inputs[0] is new
    assert mul_node not in fg.apply_nodes and new.owner in fg.apply_nodes
    assert doubled not in fg.clients and doubled not in fg.variables
    assert two not in fg.clients  # the dead node's constant went with it
    assert sorted(fg.clients[x], key=lambda c: c[1]) == [(new.owner, 0), (new.owner, 1)]
    assert fg.clients[new] == [(exp_node, 0)]
    kinds = [e[0] for e in rec.events]
    assert kinds == ["import", "change", "prune"]
    assert rec.events[0][1] is new.owner
    assert rec.events[1][1:] == (exp_node, 0, doubled, new, "x * 2 => x + x")
    assert rec.events[2][1] is mul_node
    lint(fg)
    order = fg.toposort()
    assert order.index(new.owner) < order.index(exp_node)
    got = ga.function([x], out, mode="FAST_COMPILE")(np.array([0.5]))
    np.testing.assert_allclose(got, np.exp(1.0) + 1)


def test_replacing_an_output_prunes_the_whole_dead_chain():
    x = ga.vector("x")
    chain = ga.exp(ga.log(ga.sin(x)))
    fg = FunctionGraph([x], [chain, x + 1], clone=False)
    rec = Recorder()
    fg.attach_listener(rec)
    replacement = ga.cos(x)
    fg.replace(chain, replacement)
    assert fg.outputs[0] is replacement
    assert fg.clients[replacement] == [(OUTPUT, 0)]
    assert len(fg.apply_nodes) == 2
    pruned = [e[1] for e in rec.events if e[0] == "prune"]
    assert {str(n.op) for n in pruned} == {"Elemwise{exp}", "Elemwise{log}", "Elemwise{sin}"}
    assert fg.clients[x] and all(node in fg.apply_nodes for node, _ in fg.clients[x])
    lint(fg)


def test_replace_rejects_another_type_and_same_variable_is_a_noop():
    x = ga.vector("x")
    out = ga.exp(x)
    fg = FunctionGraph([x], [out * 2], clone=False)
    with pytest.raises(TypeError):
        fg.replace(out, ga.matrix("m").sum(axis=0).astype("float32"))
    rec = Recorder()
    fg.attach_listener(rec)
    fg.replace(out, out)
    assert rec.events == []
    fg.remove_listener(rec)
    fg.replace(out, ga.sin(x))
    assert rec.events == []
    lint(fg)


def test_change_input_on_a_node():
    x, y = ga.vector("x"), ga.vector("y")
    out = ga.exp(x) + y
    fg = FunctionGraph([x, y], [out], clone=False)
    rec = Recorder()
    fg.attach_listener(rec)
    add = out.owner
    fg.change_input(add, 0, x)
    assert add.inputs == [x, y]
    assert (add, 0) in fg.clients[x]
    assert [e[0] for e in rec.events] == ["change", "prune"]
    assert len(fg.apply_nodes) == 1
    lint(fg)


# --- traversal ------------------------------------------------------------------------------
def _diamond():
    x, y = ga.vector("x"), ga.vector("y")
    a = x * y
    b = ga.exp(a)
    c = ga.log(a)
    d = b + c
    return x, y, a, b, c, d


def test_toposort_orders_each_node_after_its_inputs():
    x, y, a, b, c, d = _diamond()
    order = toposort([d])
    assert len(order) == 4 and len(set(order)) == 4
    pos = {node: i for i, node in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if inp.owner is not None:
                assert pos[inp.owner] < pos[node]
    assert order[0] is a.owner and order[-1] is d.owner
    # inputs block the walk
    assert set(toposort([d], [a])) == {b.owner, c.owner, d.owner}
    assert io_toposort([a], [d]) == toposort([d], [a])
    assert applys_between([a], [d]) == {b.owner, c.owner, d.owner}


def test_ancestors_and_graph_inputs():
    x, y, a, b, c, d = _diamond()
    found = ancestors([d])
    assert {x, y, a, b, c, d} <= set(found)
    assert len(found) == len(set(found))
    assert set(ancestors([d], blockers=[a])) == {a, b, c, d}
    assert set(graph_inputs([d])) == {x, y}
    assert set(graph_inputs([d], blockers=[b])) == {b, x, y}
    k = ga.constant(2.0)
    assert k in graph_inputs([x * k])


def test_clone_copies_the_graph_and_keeps_the_original():
    x, y, a, b, c, d = _diamond()
    (cx, cy), (cd,) = clone([x, y], [d])
    assert cx is not x and cy is not y and cd is not d
    originals = set(toposort([d]))
    copies = toposort([cd], [cx, cy])
    assert not originals & set(copies)
    assert [n.op for n in copies] == [n.op for n in toposort([d])]
    assert set(graph_inputs([cd])) == {cx, cy}
    equiv = clone_get_equiv([x, y], [d])
    assert equiv[a].owner.op == a.owner.op and equiv[a] is not a
    (kx,), (kd,) = clone([x], [x + 1], copy_inputs=False)
    assert kx is x and kd.owner.inputs[0] is x
    xv, yv = np.array([0.5, 2.0]), np.array([1.5, 0.25])
    f = ga.function([x, y], d, mode="FAST_COMPILE")
    g = ga.function([cx, cy], cd, mode="FAST_COMPILE")
    np.testing.assert_array_equal(f(xv, yv), g(xv, yv))


def test_clone_replace_substitutes_without_touching_the_original():
    x, y, a, b, c, d = _diamond()
    z = ga.vector("z")
    new_d = clone_replace(d, {x: z})
    assert isinstance(new_d, Variable)
    assert set(graph_inputs([new_d])) == {z, y}
    assert set(graph_inputs([d])) == {x, y}
    # replacing an intermediate variable cuts everything above it
    w = ga.vector("w")
    (cut,) = clone_replace([d], {a: w})
    assert set(graph_inputs([cut])) == {w}
    zv, yv, wv = np.array([0.5]), np.array([3.0]), np.array([2.0])
    got = ga.function([z, y], new_d, mode="FAST_COMPILE")(zv, yv)
    np.testing.assert_allclose(got, np.exp(zv * yv) + np.log(zv * yv))
    np.testing.assert_allclose(
        ga.function([w], cut, mode="FAST_COMPILE")(wv), np.exp(wv) + np.log(wv)
    )
    with pytest.raises(TypeError):
        clone_replace(d, {x: ga.matrix("m")})


# --- deep graphs ----------------------------------------------------------------------
@pytest.mark.slow
def test_chain_of_100k_nodes_without_recursion_error():
    n = 100_000
    timings = {}
    start = time.perf_counter()
    x = ga.vector("x")
    one, scale = ga.constant(1.0), ga.constant(0.999)
    y = x
    for k in range(n):
        y = y + one if k % 2 == 0 else y * scale
    timings["build"] = time.perf_counter() - start

    start = time.perf_counter()
    order = toposort([y])
    timings["toposort"] = time.perf_counter() - start
    assert len(order) == n
    assert order[0].inputs[0] is x and order[-1] is y.owner

    start = time.perf_counter()
    (cx,), (cy,) = clone([x], [y])
    timings["clone"] = time.perf_counter() - start
    assert cy is not y and len(toposort([cy], [cx])) == n

    start = time.perf_counter()
    f = ga.function([x], y, mode="FAST_COMPILE")
    timings["compile"] = time.perf_counter() - start

    start = time.perf_counter()
    xv = np.array([0.0, -3.0])
    got = f(xv)
    timings["run"] = time.perf_counter() - start
    expected = xv.copy()
    for k in range(n):  # the same IEEE operations in the same order: exact
        expected = expected + 1.0 if k % 2 == 0 else expected * 0.999
    np.testing.assert_array_equal(got, expected)

    start = time.perf_counter()
    lint(f.maker.fgraph)
    timings["lint"] = time.perf_counter() - start
    print("100k-node chain timings (s):", {k: round(v, 2) for k, v in timings.items()})


def test_deep_chain_gradient_and_ancestors_are_iterative():
    x = ga.scalar("x")
    y = x
    for _ in range(5_000):
        y = ga.sin(y)
    assert len(ancestors([y])) == 5_001
    g = ga.grad(y, x)
    f = ga.function([x], g, mode="FAST_COMPILE")
    value, expected, d = 0.3, 1.0, 0.3
    for _ in range(5_000):
        expected *= np.cos(d)
        d = np.sin(d)
    np.testing.assert_allclose(f(value), expected, rtol=1e-10)


# --- lint -------------------------------------------------------------------------------
def test_lint_passes_on_good_graphs():
    x, y, a, b, c, d = _diamond()
    lint(FunctionGraph([x, y], [d]))
    lint(FunctionGraph([x, y], [d, a, b]))
    m = ga.matrix("m")
    w = ga.shared(np.ones((3, 2)), name="w")
    cost = ga.softmax(m @ w).sum() + ga.split(m, 3, axis=1)[1].sum()
    lint(FunctionGraph([m], [cost, ga.grad(cost, m)]))
    f = ga.function([m], ga.grad(cost, w), mode="FAST_COMPILE")
    lint(f.maker.fgraph)


def _broken_graph():
    x, y = ga.vector("x"), ga.vector("y")
    prod, line = x * y, _line()
    out = ga.exp(prod)
    fg = FunctionGraph([x, y], [out], clone=False)
    lint(fg)
    return fg, x, y, prod.owner, out, line


def test_lint_names_node_with_corrupted_client_list():
    fg, x, y, node, out, line = _broken_graph()
    fg.clients[x].remove((node, 0))
    with pytest.raises(LintError) as info:
        lint(fg)
    text = str(info.value)
    assert "mul" in text and f"{HERE}:{line}" in text and "client" in text


def test_lint_names_stale_client_entry():
    fg, x, y, node, out, line = _broken_graph()
    fg.clients[y].append((out.owner, 0))  # exp reads prod, not y
    with pytest.raises(LintError, match="stale client") as info:
        lint(fg)
    assert "exp" in str(info.value)


def test_lint_names_missing_output_client():
    fg, x, y, node, out, line = _broken_graph()
    fg.clients[out].clear()
    with pytest.raises(LintError, match="output 0"):
        lint(fg)


def test_lint_names_node_with_tampered_output_type():
    fg, x, y, node, out, line = _broken_graph()
    node.outputs[0].type = TensorType("float32", (None,))
    with pytest.raises(LintError) as info:
        lint(fg)
    text = str(info.value)
    assert "mul" in text and f"{HERE}:{line}" in text and "float32" in text
    assert "make_node" in text
    lint(fg, check_types=False)  # the structure itself is still sound


def test_lint_names_free_variable_missing_from_inputs():
    fg, x, y, node, out, line = _broken_graph()
    free = ga.vector("free")
    node.inputs[1] = free
    fg.clients[y].remove((node, 1))
    fg.clients.setdefault(free, Clients()).append((node, 1))
    with pytest.raises(LintError) as info:
        lint(fg)
    text = str(info.value)
    assert "free" in text and "mul" in text and f"{HERE}:{line}" in text
    assert "input 1" in text


def test_lint_names_unreachable_node():
    fg, x, y, node, out, line = _broken_graph()
    stray = ga.sin(x)
    fg.apply_nodes.add(stray.owner)
    with pytest.raises(LintError, match="not reachable"):
        lint(fg)
