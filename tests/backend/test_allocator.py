"""The recycling allocator compiled functions run with (kernels/graphad_pool.c): large
blocks freed by graphad's arrays are handed out again, only during calls, and the
arrays stay correct and independent."""

from __future__ import annotations

import sys

import numpy as np
from numpy._core.multiarray import get_handler_name

import graphad as ga

BIG = 400_000  # float64 elements: 3.2 MB, above the 64 KiB the allocator recycles


def _function():
    x = ga.vector("x")
    return ga.function([x], ga.exp(x) * 2 + 1)


def test_outputs_come_from_the_recycling_allocator_and_user_arrays_do_not():
    f = _function()
    out = f(np.ones(BIG))
    assert get_handler_name(out) == "graphad_cache"
    assert get_handler_name(np.ones(BIG)) == "default_allocator"  # outside a call


def test_memory_of_dropped_outputs_is_reused_and_results_stay_right():
    f = _function()
    pool = sys.modules["graphad_pool"]
    a = np.linspace(-1, 1, BIG)
    want = np.exp(a) * 2 + 1
    before = pool.allocator_stats()["hits"]
    for _ in range(4):
        np.testing.assert_allclose(f(a), want, rtol=1e-13)
    assert pool.allocator_stats()["hits"] > before


def test_kept_outputs_are_independent_arrays():
    f = _function()
    a, b = np.zeros(BIG), np.ones(BIG)
    first = f(a)
    second = f(b)
    third = f(a)
    assert len({first.ctypes.data, second.ctypes.data, third.ctypes.data}) == 3
    np.testing.assert_array_equal(first, np.full(BIG, 3.0))
    np.testing.assert_allclose(second, np.full(BIG, 2 * np.e + 1), rtol=1e-15)
    np.testing.assert_array_equal(third, first)


def test_cached_bytes_stay_under_the_limit():
    f = _function()
    for n in range(20):  # many distinct large sizes freed one after another
        f(np.ones(BIG + 1000 * n))
    stats = sys.modules["graphad_pool"].allocator_stats()
    assert stats["cached_bytes"] <= 256 << 20 and stats["cached_blocks"] <= 64


def test_blocks_of_sizes_no_longer_used_make_room_for_new_ones():
    """The cache keeps the most recently freed blocks: after many other sizes filled it,
    the size a function now computes is still recycled."""
    f = _function()
    pool = sys.modules["graphad_pool"]
    for n in range(80):  # more sizes than the cache has slots, 3.2-10 MB each
        f(np.ones(BIG + 10_000 * n))
    a = np.linspace(0, 1, 2 * BIG + 7)  # a size not seen before
    f(a)
    before = pool.allocator_stats()["hits"]
    np.testing.assert_allclose(f(a), np.exp(a) * 2 + 1, rtol=1e-13)
    assert pool.allocator_stats()["hits"] > before
