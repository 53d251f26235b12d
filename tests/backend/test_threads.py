"""The thread pool of compiled loops (kernels/graphad_pool.c): large loops split
across ``config.threads`` threads give the same bits as one thread, survive fork, and
tolerate concurrent callers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.errors import ConfigError
from graphad.kernel.fused import Fused

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(11)
BIG = 1_200_000  # elements: more than 2 * GD_GRAIN (kernels/graphad_pool.h)


@pytest.fixture
def threads():
    """Restores config.threads after the test."""
    before = ga.config.threads
    yield
    ga.config.threads = before


def _on_c(f):
    kinds = [t.kind for t, _, _, node, _ in f.maker.vm.steps if isinstance(node.op, Fused)]
    assert kinds and set(kinds) == {"c"}, kinds


def test_pool_is_loaded_with_the_configured_count(threads):
    x = ga.vector("x")
    _on_c(ga.function([x], ga.exp(x)))
    pool = sys.modules["graphad_pool"]
    ga.config.threads = 3
    assert pool.get_threads() == 3
    ga.config.threads = 1
    assert pool.get_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, "two", 1.5, True, 100_000])
def test_a_bad_thread_count_is_refused_with_the_option_named(bad, threads):
    with pytest.raises(ConfigError, match="threads"):
        ga.config.threads = bad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_elementwise_and_row_reductions_give_the_same_bits_on_any_thread_count(dtype, threads):
    x, y = ga.matrix("x", dtype), ga.matrix("y", dtype)
    e = ga.exp(x - x.max(axis=1, keepdims=True))
    outs = [ga.tanh(x * y) + 1, e / e.sum(axis=1, keepdims=True), (x * y).sum(axis=0)]
    f = ga.function([x, y], outs)
    _on_c(f)
    a = RNG.normal(size=(1200, 1100)).astype(dtype)
    b = RNG.normal(size=(1200, 1100)).astype(dtype)
    results, split = {}, {}
    pool = sys.modules["graphad_pool"]
    for n in (1, 2, 4):
        ga.config.threads = n
        before = pool.split_loops()
        results[n] = f(a, b)
        split[n] = pool.split_loops() - before
    assert split[1] == 0 and split[2] >= 4 and split[4] >= 4, split  # 5 kernels
    for n in (2, 4):
        for got, want in zip(results[n], results[1]):
            np.testing.assert_array_equal(got, want)
    ref = ga.function([x, y], outs, mode="FAST_COMPILE")(a, b)
    # NumPy sums float32 column products in float32, graphad in float64
    tol = 1e-4 if dtype == "float32" else 1e-11
    for got, want in zip(results[2], ref):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_strided_and_broadcast_operands_split_correctly(threads):
    ga.config.threads = 2
    x, v = ga.matrix("x"), ga.vector("v")
    out = ga.sin(x) * v + 1
    f = ga.function([x, v], out)
    a = RNG.normal(size=(1600, 900))  # views of 720,000 elements: split in two
    w = RNG.normal(size=450)
    pool = sys.modules["graphad_pool"]
    before = pool.split_loops()
    np.testing.assert_allclose(f(a[:, ::2], w), np.sin(a[:, ::2]) * w + 1, rtol=1e-13)
    assert pool.split_loops() > before  # 1600 inner loops of 450, split across threads
    b = a.T[:450]  # transposed: (450, 1600) with strides (8, 7200)
    u = RNG.normal(size=1600)
    np.testing.assert_allclose(f(b, u), np.sin(b) * u + 1, rtol=1e-13)


def test_concurrent_callers_from_python_threads(threads):
    """Two Python threads run large kernels at once: one loop uses the pool, the other
    runs on its own thread; both are right."""
    ga.config.threads = 2
    x = ga.vector("x")
    f = ga.function([x], ga.exp(x) * 2 - 1)
    arrays = [RNG.normal(size=BIG) for _ in range(4)]
    errors = []

    def work(a):
        try:
            for _ in range(20):
                np.testing.assert_allclose(f(a), np.exp(a) * 2 - 1, rtol=1e-13, atol=1e-13)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(a,)) for a in arrays]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers) and not errors, errors


CHILD = textwrap.dedent(
    """
    import multiprocessing, os, sys
    import numpy as np
    import graphad as ga
    ga.config.threads = 2
    x = ga.vector("x")
    f = ga.function([x], ga.exp(x) * 2)
    a = np.linspace(-1, 1, 1_200_000)
    f(a)  # the pool's workers now run in this process

    def child_call(_):
        return float(f(a).sum())

    pid = os.fork()
    if pid == 0:  # a plain fork: the child must not wait for the parent's workers
        os._exit(0 if abs(f(a).sum() - (np.exp(a) * 2).sum()) < 1e-6 else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    with multiprocessing.get_context("fork").Pool(2) as pool:
        sums = pool.map(child_call, range(4))
    assert len(set(sums)) == 1, sums
    print("ok")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_forked_children_run_parallel_loops_after_the_parent_did():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
