"""Vector math: graphad's compiled kernels (``#pragma omp simd`` loops calling glibc's
libmvec) against the scalar C libm, for every libm-backed function in float32 and
float64 (issue 6): at most 4 ulp apart on finite results, and exactly the same NaNs,
infinities and signs of zero.

The sweep, the ulp distance and the scalar reference library are bench/ulp.py's (its
full run: ``python bench/ulp.py``); here the sweep is 2**14 points plus every special
value, and each dtype's functions share one compiled module.
"""

from __future__ import annotations

import doctest
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

import graphad as ga

# bench/ is not a package: load bench/ulp.py by path, as tests/test_bench.py does
_SPEC = importlib.util.spec_from_file_location(
    "bench_ulp", Path(__file__).resolve().parents[2] / "bench" / "ulp.py"
)
ulp = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ulp)

pytestmark = pytest.mark.skipif(
    shutil.which(ga.config.cc) is None, reason=f"no C compiler ({ga.config.cc!r} not found)"
)

POINTS = 2**14


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """``measured(dtype)``: {function: result row} for every function in ``dtype``."""
    libm = ulp.ScalarLibm(str(tmp_path_factory.mktemp("libm")))
    cache = {}

    def rows(dtype):
        if dtype not in cache:
            found = ulp.measure(ulp.FUNCTIONS, dtype, POINTS, libm)
            cache[dtype] = {row["function"]: row for row in found}
        return cache[dtype]

    return rows


def _cases():
    for dtype in ulp.DTYPES:
        for name in ulp.FUNCTIONS:
            yield pytest.param(name, dtype, id=f"{name}-{dtype}")


@pytest.mark.parametrize("name, dtype", list(_cases()))
def test_vector_math_matches_scalar_libm(measured, name, dtype):
    row = measured(dtype)[name]
    assert row["points"] >= POINTS
    specials = {k: row[k] for k in ("nan_mismatches", "inf_mismatches", "zero_sign_mismatches")}
    # each example: inputs..., graphad's result, libm's
    assert not row["special_mismatches"], (specials, row["special_mismatches"])
    assert row["max_ulp"] <= ulp.bound(name), f"{row['max_ulp']} ulp at {row['worst']}"


def test_sweep_covers_special_values_and_all_binades():
    (x,) = ulp.sweep("exp", "float32", POINTS)
    assert np.isnan(x).any() and np.isposinf(x).any() and np.isneginf(x).any()
    zeros = x[x == 0]
    assert np.signbit(zeros).any() and not np.signbit(zeros).all()
    finite = np.abs(x[np.isfinite(x) & (x != 0)])
    exponents = np.unique(np.frexp(finite)[1])
    assert np.any(finite < np.finfo("float32").tiny)  # denormals
    assert len(exponents) >= 250  # 2**-149 ... 2**128: every binade


def test_ulp_helpers_examples():
    """bench/ulp.py's docstring examples (it is outside the doctest paths)."""
    assert doctest.testmod(ulp, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0
