"""f.profile.summary(): per-node time, calls and share; how each node ran (a fused C
kernel, BLAS, or NumPy); the compile time split into its phases."""

from __future__ import annotations

import re
import secrets

import numpy as np
import pytest

import graphad as ga
from graphad.compile.profile import PHASES

ROW = re.compile(r"^\s*([\d.]+)\s+([\d.]+)%\s+(\d+)\s+(C kernel|BLAS|NumPy)\s+(.+)$")


def _step(mode="FAST_RUN", salt=None):
    """An MLP step; ``salt`` (a constant in the graph) makes its C source new."""
    x = ga.matrix("x")
    y = ga.vector("y", dtype="int64")
    w1 = ga.shared(np.full((6, 8), 0.1), name="W1")
    w2 = ga.shared(np.full((8, 3), 0.1), name="W2")
    h = ga.tanh(x @ w1) * (salt or 1.0)
    loss = ga.categorical_crossentropy(ga.softmax(h @ w2), y).mean()
    g1, g2 = ga.grad(loss, [w1, w2])
    updates = [(w1, w1 - 0.1 * g1), (w2, w2 - 0.1 * g2)]
    return ga.function([x, y], loss, updates=updates, mode=mode, profile=True)


def _rows(text):
    return [m.groups() for m in map(ROW.match, text.splitlines()) if m]


def _run(f, calls):
    x, y = np.ones((5, 6)), np.arange(5) % 3
    for _ in range(calls):
        f(x, y)


def test_rows_give_time_calls_share_and_how_each_node_ran():
    f = _step()
    _run(f, 3)
    text = f.profile.summary()
    rows = _rows(text)
    assert len(rows) == len(f.maker.fgraph.apply_nodes)
    assert {int(r[2]) for r in rows} == {3}
    shares = [float(r[1]) for r in rows]
    # each share is printed to 0.1 %, so the sum may be off by 0.05 per row
    assert abs(sum(shares) - 100) <= 0.05 * len(shares) + 1e-9
    times = [float(r[0]) for r in rows]
    assert times == sorted(times, reverse=True), "slowest first"
    kinds = {r[3] for r in rows}
    assert kinds == {"C kernel", "BLAS", "NumPy"}
    fused = [r[4] for r in rows if r[3] == "C kernel"]
    assert all(name.startswith("fused kernel ") for name in fused)
    assert "3 call(s)" in text and "mode FAST_RUN" in text


def test_time_per_kind_adds_up():
    f = _step()
    _run(f, 2)
    text = f.profile.summary()
    per_kind = dict(
        (m.group(1), float(m.group(2)))
        for m in re.finditer(r"^\s+(C kernel|BLAS|NumPy)\s+\d+ node\(s\)\s+([\d.]+) ms", text, re.M)
    )
    rows = _rows(text)
    for kind, total in per_kind.items():
        assert total == pytest.approx(sum(float(r[0]) for r in rows if r[3] == kind), abs=0.01)


def test_compile_split_names_every_phase():
    salt = 1 + secrets.randbelow(10**9) / 10**12  # a new kernel: the compiler runs
    f = _step(salt=salt)
    _run(f, 1)
    split = f.profile.compile_split()
    assert set(split) == {key for key, _ in PHASES} | {"total"}
    assert split["compiler"] > 0 and split["rewrite"] > 0 and split["codegen"] > 0
    assert sum(v for k, v in split.items() if k != "total") <= split["total"] * 1.001
    text = f.profile.summary()
    for _, label in PHASES:
        assert label in text
    again = _step(salt=salt)  # the same source: a cache hit
    assert again.profile.compile_split()["compiler"] == 0


def test_fast_compile_runs_numpy_and_compiles_nothing():
    f = _step(mode="FAST_COMPILE")
    _run(f, 1)
    rows = _rows(f.profile.summary())
    assert rows and {r[3] for r in rows} == {"NumPy"}
    split = f.profile.compile_split()
    assert split["compiler"] == split["codegen"] == 0


def test_reset_forgets_the_calls():
    f = _step()
    _run(f, 2)
    f.profile.reset()
    assert "0 call(s)" in f.profile.summary()
    _run(f, 1)
    assert {int(r[2]) for r in _rows(f.profile.summary())} == {1}
