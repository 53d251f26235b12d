"""Graph exports: to_networkx, to_dot, to_json, and write_graph's files (DOT, JSON, HTML,
and SVG/PNG/PDF drawn by the real Graphviz)."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET

import networkx as nx
import numpy as np
import pytest

import graphad as ga
from graphad.printing import to_dot, to_html, to_json, to_networkx, write_graph

from .tools import image_colours, need

HERE = os.path.basename(__file__)


def _train_step():
    """A softmax regression step: an input, labels, a shared weight and its update."""
    x = ga.matrix("x")
    y = ga.vector("y", dtype="int64")
    w = ga.shared(np.zeros((4, 3)), name="W")
    loss = ga.categorical_crossentropy(ga.softmax(x @ w), y).mean()  # the loss's line
    g = ga.grad(loss, w)
    return ga.function([x, y], loss, updates=[(w, w - 0.1 * g)])


def _nodes(graph, **match):
    return [
        (n, d) for n, d in graph.nodes(data=True) if all(d.get(k) == v for k, v in match.items())
    ]


# --- to_networkx ---------------------------------------------------------------------------


def test_networkx_of_a_function_shows_what_runs():
    f = _train_step()
    g = to_networkx(f)
    assert nx.is_directed_acyclic_graph(g)
    applies = _nodes(g, kind="apply")
    assert len(applies) == len(f.maker.fgraph.apply_nodes)
    fused = _nodes(g, kind="apply", fused=True)
    assert fused, "the step has fused kernels"
    for _, d in fused:
        assert d["fused_ops"] and d["expression"] and d["steps"][-1].startswith("return ")
        assert d["runs"] == "C kernel"
        assert d["op_type"] == "Fused"
        assert any(HERE in s for s in d["sources"])
    assert {d["runs"] for _, d in applies} <= {"C kernel", "BLAS", "NumPy"}
    assert any(d["runs"] == "BLAS" for _, d in applies), "x @ W runs through BLAS"
    # the gradient's nodes are marked; the forward's are not all marked
    grads = [d["grad"] for _, d in applies]
    assert any(grads) and not all(grads)


def test_networkx_variable_roles_and_types():
    g = to_networkx(_train_step())
    roles = {d["role"] for _, d in _nodes(g, kind="variable")}
    assert {"input", "shared", "output", "update", "intermediate"} <= roles
    ((_, x),) = [(n, d) for n, d in _nodes(g, kind="variable") if d["name"] == "x"]
    assert x["role"] == "input" and x["dtype"] == "float64" and x["shape"] == [None, None]
    ((_, w),) = _nodes(g, kind="variable", role="shared")
    assert w["name"] == "W" and len(w["shape"]) == 2  # a shared value may change size
    ((_, up),) = _nodes(g, kind="variable", role="update")
    assert up["updates"] == "W"
    ((_, out),) = _nodes(g, kind="variable", role="output")
    assert out["output_index"] == 0 and out["shape"] == []


def test_networkx_output_index_is_the_first_position():
    x = ga.vector("x")
    y = ga.exp(x)
    g = to_networkx([y, x * 2, y])
    outputs = [d for _, d in g.nodes(data=True) if d.get("role") == "output"]
    assert sorted((d["label"], d["output_index"]) for d in outputs) == [("%0", 0), ("%1", 1)]


def test_networkx_edges_keep_argument_positions():
    x, y = ga.vector("x"), ga.vector("y")
    g = to_networkx(x - y)
    ((n, _),) = _nodes(g, kind="apply")
    by_name = {d["name"]: k for k, d in _nodes(g, kind="variable")}
    assert g.edges[by_name["x"], n]["position"] == 0
    assert g.edges[by_name["y"], n]["position"] == 1


def test_networkx_records_the_users_line_and_params():
    x = ga.matrix("x")
    line = _line() + 1
    out = ga.sum(ga.exp(x), axis=1)
    g = to_networkx(out)
    for _, d in _nodes(g, kind="apply"):
        assert d["source"].endswith(f"{HERE}:{line}")
    ((_, red),) = [(n, d) for n, d in _nodes(g, kind="apply") if "axis" in d["params"]]
    assert red["params"]["axis"] == "(1,)"


def _line():
    import inspect

    return inspect.currentframe().f_back.f_lineno


@pytest.mark.parametrize("form", ["variable", "list", "fgraph", "function"])
def test_every_export_accepts_the_four_forms(form):
    x = ga.vector("x")
    y = ga.exp(x) * 2
    f = ga.function([x], y)
    obj = {"variable": y, "list": [y, x + 1], "fgraph": f.maker.fgraph, "function": f}[form]
    g = to_networkx(obj)
    assert _nodes(g, kind="apply")
    assert to_dot(obj).startswith("digraph")
    assert json.loads(to_json(obj))["nodes"]
    assert "exp" in to_html(obj)


def test_exports_refuse_other_objects():
    for bad in (3, "x", [ga.vector("x"), 2]):
        with pytest.raises(ga.GraphadTypeError, match="variable, a list of variables"):
            to_networkx(bad)


# --- DOT and JSON --------------------------------------------------------------------------


def test_dot_marks_grad_fused_inputs_shared_outputs():
    text = to_dot(_train_step())
    lines = text.splitlines()

    def styled(pattern):
        return [line for line in lines if re.search(pattern, line)]

    assert styled(r'label="\[grad\] ') and all('color="#c62828"' in s for s in styled(r"\[grad\]"))
    fused = styled(r'label="(\[grad\] )?fused kernel')
    assert fused and all("peripheries=2" in s and "#fbd9a8" in s for s in fused)
    assert styled(r'label="x\\n.*fillcolor="#c8ecc8"')  # input: green
    assert styled(r'label="W\\n.*shape=cylinder')  # shared
    assert styled(r"update of W.*peripheries=2")  # the update, doubly outlined
    assert len(styled(r"->")) == to_networkx(_train_step()).number_of_edges()


def test_dot_quotes_awkward_names():
    x = ga.vector('a "quoted"\\name')
    text = to_dot(ga.exp(x))
    assert 'label="a \\"quoted\\"\\\\name' in text


def test_json_is_networkx_node_link_data():
    f = _train_step()
    data = json.loads(to_json(f))
    back = nx.readwrite.json_graph.node_link_graph(data, edges="edges")
    g = to_networkx(f)
    assert set(back.nodes) == set(g.nodes) and set(back.edges) == set(g.edges)
    for n, d in g.nodes(data=True):
        assert back.nodes[n] == json.loads(json.dumps(d))


# --- write_graph ---------------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["txt", "dot", "json", "html"])
def test_write_graph_text_formats_need_no_graphviz(tmp_path, monkeypatch, ext):
    f = _train_step()
    monkeypatch.setenv("PATH", "")
    path = tmp_path / f"g.{ext}"
    assert write_graph(f, path) == str(path)
    text = path.read_text()
    expected = {"txt": "[grad]", "dot": "digraph", "json": '"nodes"', "html": "<!doctype html>"}
    assert expected[ext] in text


def test_write_graph_format_overrides_the_extension(tmp_path):
    path = tmp_path / "graph.txt"
    write_graph(ga.exp(ga.vector("x")), path, format="dot")
    assert path.read_text().startswith("digraph")


def test_write_graph_unknown_extension_says_which_work(tmp_path):
    with pytest.raises(ga.GraphadValueError, match=r"g\.bmp.*\.html.*\.svg"):
        write_graph(ga.vector("x") + 1, tmp_path / "g.bmp")


def test_missing_graphviz_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ga.MissingToolError, match="apt-get install graphviz") as info:
        write_graph(ga.vector("x") + 1, tmp_path / "g.svg")
    assert isinstance(info.value, RuntimeError)
    assert not (tmp_path / "g.svg").exists()


def test_svg_from_graphviz(tmp_path):
    need("dot", "apt-get install graphviz")
    f = _train_step()
    path = write_graph(f, tmp_path / "g.svg")
    root = ET.parse(path).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = {g.get("id"): g for g in root.iterfind(".//s:g", ns)}
    applies = [n for n, d in to_networkx(f).nodes(data=True) if d["kind"] == "apply"]
    assert all(n in groups for n in applies), "every node is drawn under its own id"
    texts = " ".join(t.text or "" for t in root.iterfind(".//s:text", ns))
    assert "fused kernel" in texts and "[grad]" in texts and "update of W" in texts


def test_png_from_graphviz_is_a_picture(tmp_path):
    need("dot", "apt-get install graphviz")
    path = write_graph(_train_step(), tmp_path / "g.png")
    width, height, colours, ink = image_colours(path)
    assert width > 200 and height > 200
    assert colours > 8 and ink > 0.02, "the drawing is not blank"


def test_pdf_from_graphviz(tmp_path):
    need("dot", "apt-get install graphviz")
    path = write_graph(_train_step(), tmp_path / "g.pdf")
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) == 1
    box = re.search(rb"/MediaBox\s*\[\s*([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", data)
    assert box and float(box.group(3)) > 100 and float(box.group(4)) > 100


def test_graphviz_accepts_every_dot_we_write(tmp_path):
    """dot parses the DOT of graphs with constants, names needing quotes, and grads."""
    dot = need("dot", "apt-get install graphviz")
    import subprocess

    x = ga.matrix('odd "name" {x}')
    y = ga.vector("y")
    out = ga.grad((ga.tanh(x * 2.5 + y) ** 2).sum() + ga.constant(np.arange(3.0)).sum(), [x, y])
    proc = subprocess.run([dot, "-Tsvg"], input=to_dot(out).encode(), capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()


# --- the HTML page, without a browser ------------------------------------------------------


def _page_data(text):
    found = re.search(r'<script id="graph-data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(found.group(1))


def test_html_is_self_contained():
    text = to_html(_train_step())
    assert "<script src" not in text and "<link" not in text and "@import" not in text
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    data = _page_data(text)
    kinds = {n["kind"] for n in data["nodes"]}
    assert kinds == {"apply", "variable"}
    assert all(
        0 <= a < len(data["nodes"]) and 0 <= b < len(data["nodes"]) for a, b in data["edges"]
    )


def test_html_data_cannot_close_its_script():
    x = ga.vector("</script><script>alert(1)</script>")
    text = to_html(ga.exp(x))
    assert text.count("<script") == 2  # the data and the viewer, nothing injected
    names = [n["attrs"].get("name") for n in _page_data(text)["nodes"]]
    assert "</script><script>alert(1)</script>" in names


def test_html_layout_puts_readers_below_what_they_read():
    data = _page_data(to_html(_train_step()))
    nodes = data["nodes"]
    for a, b in data["edges"]:
        assert nodes[a]["y"] + nodes[a]["h"] <= nodes[b]["y"], (nodes[a]["id"], nodes[b]["id"])
    rows = {}
    for n in nodes:  # nodes of one row do not overlap
        rows.setdefault(n["y"] + n["h"] / 2, []).append(n)
    for row in rows.values():
        row.sort(key=lambda n: n["x"])
        for left, right in zip(row, row[1:]):
            assert left["x"] + left["w"] <= right["x"]


def test_dprint_tags_fused_kernels_with_their_ops():
    text = ga.dprint(_train_step(), file=False)
    assert re.search(r"\[fused: [a-z_]+(, [a-z_]+)*\]", text)
    assert "[grad]" in text
