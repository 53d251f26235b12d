"""Calls from several threads at once: every mode gives each call its own state, and a
call that updates shared variables holds their locks from reading to writing them, so
no update is lost (issue 19, items 1 and 2)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import graphad as ga

# (mode, profile): the C runner, FAST_RUN's Python loop (profiling), the reference, DEBUG
PATHS = [("FAST_RUN", False), ("FAST_RUN", True), ("FAST_COMPILE", False), ("DEBUG", False)]
IDS = ["runner", "profiled", "reference", "debug"]


def run_threads(work, n=4, timeout=120):
    """Run ``work(k)`` in ``n`` threads; re-raise the first failure; fail on a hang."""
    errors = []

    def target(k):
        try:
            work(k)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread did not finish: the calls deadlocked or hung"
    if errors:
        raise errors[0]


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_concurrent_calls_each_get_their_own_result(path):
    mode, profile = path
    x, y = ga.vector("x"), ga.vector("y")
    f = ga.function([x, y], ga.exp(x)[::-1] * 2 + y, mode=mode, profile=profile)

    def work(k):
        rng = np.random.default_rng(k)
        for _ in range(30):
            a, b = rng.normal(size=1000), rng.normal(size=1000)
            np.testing.assert_allclose(f(a, b), np.exp(a)[::-1] * 2 + b, rtol=1e-12, atol=1e-12)

    run_threads(work)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_concurrent_increments_are_not_lost(path):
    mode, profile = path
    c = ga.shared(0.0, name="c")
    f = ga.function([], [], updates=[(c, c + 1)], mode=mode, profile=profile)
    run_threads(lambda k: [f() for _ in range(2000 if mode == "FAST_RUN" else 300)])
    assert c.get_value() == 4 * (2000 if mode == "FAST_RUN" else 300)


def test_two_functions_updating_the_same_variables_in_opposite_orders():
    """f updates (a, b), g updates (b, a): their calls take the locks in one order, so
    they neither deadlock nor lose updates."""
    a, b = ga.shared(0.0, name="a"), ga.shared(0.0, name="b")
    f = ga.function([], [], updates=[(a, a + 1), (b, b + 2)])
    g = ga.function([], [], updates=[(b, b + 1), (a, a + 2)])
    run_threads(lambda k: [(f if k % 2 else g)() for _ in range(1000)])
    assert a.get_value() == b.get_value() == 2 * 1000 * 3


def test_a_function_that_reads_but_does_not_update_never_waits():
    """Only updating calls lock: a reader sees the old or the new value, whole."""
    w = ga.shared(np.zeros(1000), name="w")
    step = ga.function([], [], updates=[(w, w + 1)])
    read = ga.function([], w.sum())
    assert read._locks is None and step._locks is not None

    def work(k):
        for _ in range(200):
            if k % 2:
                step()
            else:
                total = float(read())
                assert total % 1000 == 0, total  # never half-updated

    run_threads(work)
    assert w.get_value()[0] == 2 * 200


def test_a_pickled_shared_variable_gets_its_own_lock():
    import pickle

    c = ga.shared(1.0, name="c")
    f = ga.function([], [], updates=[(c, c * 2)])
    g = pickle.loads(pickle.dumps(f))
    g()
    assert g.shared[0].lock is not c.lock and g.shared[0].get_value() == 2.0
