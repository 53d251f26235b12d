"""Tests for ga.dprint: one line per node, names assigned at print time."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import graphad as ga


def _node_lines(text):
    """Lines that show an Apply node (``result = op(args)``)."""
    return [line for line in text.splitlines() if re.match(r"^\s*\S+( *, *\S+)* = ", line)]


def _build():
    x = ga.vector("x")
    w = ga.shared(np.ones(3), name="w")
    y = ga.exp(x * w)
    return x, w, y, (y + 1).sum()


# --- where the text goes -----------------------------------------------------------------


def test_writes_to_stdout_and_returns_the_text(capsys):
    _, _, _, out = _build()
    text = ga.dprint(out)
    captured = capsys.readouterr()
    assert isinstance(text, str) and text
    assert captured.out == text


def test_file_none_is_stdout(capsys):
    _, _, _, out = _build()
    text = ga.dprint(out, file=None)
    assert capsys.readouterr().out == text


def test_writes_to_a_file_object(capsys):
    _, _, _, out = _build()
    buffer = io.StringIO()
    text = ga.dprint(out, file=buffer)
    assert buffer.getvalue() == text
    assert capsys.readouterr().out == ""


# --- what it accepts -----------------------------------------------------------------------


def test_accepts_a_variable():
    x, _, y, _ = _build()
    text = ga.dprint(y, file=io.StringIO())
    assert "exp" in text
    assert re.search(r"\bx\b", text) and re.search(r"\bw\b", text)
    assert len(_node_lines(text)) == 2  # mul, exp


def test_accepts_a_list_of_variables_and_prints_shared_nodes_once():
    x = ga.vector("x")
    y = ga.exp(x)
    text = ga.dprint([y + 1, y * 2], file=io.StringIO())
    lines = _node_lines(text)
    assert len(lines) == 3
    assert len([line for line in lines if "exp" in line]) == 1
    assert len([line for line in lines if "add" in line]) == 1
    assert len([line for line in lines if "mul" in line]) == 1


def test_accepts_a_function_graph():
    x, _, _, out = _build()
    f = ga.function([x], out, mode="FAST_COMPILE")
    fgraph = f.maker.fgraph
    text = ga.dprint(fgraph, file=io.StringIO())
    assert len(_node_lines(text)) == len(fgraph.apply_nodes)
    for node in fgraph.apply_nodes:
        assert str(node.op) in text


@pytest.mark.parametrize("mode", ["FAST_COMPILE", "FAST_RUN"])
def test_accepts_a_compiled_function(mode):
    x, _, _, out = _build()
    f = ga.function([x], out, mode=mode)
    text = ga.dprint(f, file=io.StringIO())
    assert text == ga.dprint(f.maker.fgraph, file=io.StringIO())
    assert len(_node_lines(text)) == len(f.maker.fgraph.apply_nodes)


def test_function_with_updates():
    w = ga.shared(np.zeros(2), name="weights")
    x = ga.vector("x")
    f = ga.function([x], x.sum(), updates=[(w, w + x)], mode="FAST_COMPILE")
    text = ga.dprint(f, file=io.StringIO())
    assert "weights" in text
    assert len(_node_lines(text)) == len(f.maker.fgraph.apply_nodes)


def test_rejects_other_objects():
    with pytest.raises(TypeError):
        ga.dprint(3.0, file=io.StringIO())
    with pytest.raises(TypeError):
        ga.dprint([ga.vector("x"), "y"], file=io.StringIO())


# --- what each line shows ------------------------------------------------------------------


def test_one_line_per_node_with_op_in_order():
    x = ga.vector("x")
    a = ga.exp(x)
    b = ga.sin(a)
    c = ga.tanh(b)
    text = ga.dprint(c, file=io.StringIO())
    lines = _node_lines(text)
    assert len(lines) == 3
    assert ["exp" in lines[0], "sin" in lines[1], "tanh" in lines[2]] == [True, True, True]


def test_lines_show_dtype_and_static_shape():
    m = ga.tensor("m", "float32", shape=(None, 7))
    y = ga.exp(m).sum(axis=0)
    text = ga.dprint(y, file=io.StringIO())
    exp_line, sum_line = _node_lines(text)
    assert "float32" in exp_line and "7" in exp_line
    assert "float32" in sum_line
    i = ga.vector("i", dtype="int16")
    line = _node_lines(ga.dprint(i + i, file=io.StringIO()))[0]
    assert "int16" in line


def test_inputs_and_shared_variables_are_listed():
    x, w, _, out = _build()
    text = ga.dprint(out, file=io.StringIO())
    for var in (x, w):
        assert any(
            re.search(rf"\b{var.name}\b", line) and str(var.dtype) in line
            for line in text.splitlines()
            if line not in _node_lines(text)
        )


def test_node_ids_are_unique():
    x = ga.vector("x")
    y = ga.exp(x)
    z = ga.log(y) + ga.sin(y) * ga.cos(y)
    lines = _node_lines(ga.dprint(z, file=io.StringIO()))
    results = [line.split(" = ")[0].strip() for line in lines]
    assert len(results) == len(set(results)) == 6


def test_multi_reference_uses_the_same_id():
    x = ga.vector("x")
    y = ga.exp(x)
    text = ga.dprint(y * y, file=io.StringIO())
    exp_line, mul_line = _node_lines(text)
    exp_id = exp_line.split(" = ")[0].strip()
    assert mul_line.count(exp_id) >= 2


# --- names assigned at print time ----------------------------------------------------------


def _same_graph():
    x = ga.vector("x")
    return (ga.exp(x) * 2).sum()


def test_names_are_assigned_at_print_time():
    first = ga.dprint(_same_graph(), file=io.StringIO())
    for _ in range(5):
        ga.vector()  # creating other variables must not shift the printed names
    second = ga.dprint(_same_graph(), file=io.StringIO())
    assert first == second
    assert ga.dprint(_same_graph(), file=io.StringIO()) == first


def test_constants_print_by_value_and_dtype_and_results_are_numbered_in_order():
    # equal bytes, other dtypes: printed apart (the printer remembers each text by value)
    x = ga.vector("x", dtype="int32")
    zero_i, zero_f = ga.constant(np.int32(0)), ga.constant(np.float32(0))
    y = ((x + zero_i) * zero_f + ga.constant(np.int32(0))) + ga.constant(np.zeros(20))
    text = ga.dprint(y, file=io.StringIO())
    assert [line.split("  @ ")[0] for line in text.splitlines()] == [
        "x :: int32[?]  [input]",
        "%0 = Elemwise{add}(x, array(0, dtype=int32)) :: int32[?]",
        "%1 = Elemwise{mul}(%0, array(0., dtype=float32)) :: float64[?]",
        "%2 = Elemwise{add}(%1, array(0, dtype=int32)) :: float64[?]",
        "%3 = Elemwise{add}(%2, <array>) :: float64[20]",
        "return %3",
    ]


def test_unnamed_inputs_get_a_name():
    x = ga.vector()
    y = ga.vector()
    text = ga.dprint(x + y, file=io.StringIO())
    (line,) = _node_lines(text)
    args = line.split(" = ", 1)[1]
    names = re.findall(r"\(([^()]*)\)", args)[-1].split(",")
    names = [n.strip() for n in names]
    assert len(names) == 2 and names[0] != names[1] and all(names)


def test_user_names_are_kept():
    x = ga.vector("pixels")
    y = ga.exp(x)
    text = ga.dprint(y, file=io.StringIO())
    assert "pixels" in _node_lines(text)[0]


# --- gradient nodes ------------------------------------------------------------------------


def test_gradient_nodes_are_tagged_grad():
    x = ga.vector("x")
    cost = (ga.exp(x) * x).sum()
    g = ga.grad(cost, x)
    forward = _node_lines(ga.dprint(cost, file=io.StringIO()))
    assert forward and not any("grad" in line for line in forward)
    text = ga.dprint([cost, g], file=io.StringIO())
    lines = _node_lines(text)
    tagged = [line for line in lines if "grad" in line]
    untagged = [line for line in lines if "grad" not in line]
    assert len(untagged) == len(forward)
    assert len(tagged) == len(lines) - len(forward) > 0


def test_gradient_tag_survives_compilation():
    x = ga.vector("x")
    g = ga.grad((ga.sin(x) ** 2).sum(), x)
    for mode in ("FAST_COMPILE", "FAST_RUN"):
        f = ga.function([x], g, mode=mode)
        lines = _node_lines(ga.dprint(f, file=io.StringIO()))
        assert any("grad" in line for line in lines)
        assert len(lines) == len(f.maker.fgraph.apply_nodes)
