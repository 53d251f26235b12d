"""The special functions NumPy has no ufunc for, as scalar ops: log|Γ(x)| (Gammaln),
digamma and trigamma, with their NumPy references.

scipy is a test dependency only, so these stand alone. ``lgamma`` is CPython's
``math.lgamma`` element by element; ``digamma`` and ``trigamma`` follow the C helpers in
kernels/graphad_runtime.h step for step (reflection below 0, recurrence up to 10, the
asymptotic series), so the reference and the compiled kernels agree to the rounding of
libm's log, tan and sin. Each takes and returns float64 arrays.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import NonDifferentiableError
from .scalar_base import ScalarOp, _float_rule, _m

# x >= SHIFT before the asymptotic series: its first omitted term is below 1e-16 there
SHIFT = 10
# the asymptotic series' coefficients (from the Bernoulli numbers), as the C helpers
# write them: psi(x) ~ log x - 1/(2x) - z (1/12 - z (1/120 - ...)), z = 1/x^2, and
# psi'(x) ~ 1/x + z/2 + z/x (1/6 - z (1/30 - ...))
DIGAMMA_SERIES = (1 / 12, 1 / 120, 1 / 252, 1 / 240, 1 / 132, 691 / 32760, 1 / 12)
TRIGAMMA_SERIES = (1 / 6, 1 / 30, 1 / 42, 1 / 30, 5 / 66, 691 / 2730, 7 / 6, 3617 / 510)


def _lgamma_scalar(x: float) -> float:
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):  # a pole (0, a negative integer), or x > 2.5e305
        return math.inf  # what C's lgamma gives


_lgamma_elements = np.frompyfunc(_lgamma_scalar, 1, 1)


def lgamma(x):
    """log|Γ(x)| of a float64 array; +inf at the poles, as C's ``lgamma``.

    >>> lgamma(np.array([1.0, 0.5, 0.0])).round(4).tolist()
    [0.0, 0.5724, inf]
    """
    return np.asarray(_lgamma_elements(x), dtype="float64")


def _poles(x):
    return (x <= 0) & (x == np.floor(x))


def _shift(x, acc, term):
    """x moved up to SHIFT by the recurrence, ``acc`` updated with ``term(x)`` at each
    step (at most SHIFT steps: x > 0 here)."""
    for _ in range(SHIFT):
        below = x < SHIFT
        if not below.any():
            break
        acc = acc + np.where(below, term(x), 0.0)
        x = np.where(below, x + 1, x)
    return x, acc


def _alternating(z, coefficients):
    """c0 - z (c1 - z (c2 - ...)), by Horner's rule as the C helpers nest it."""
    acc = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        acc = c - z * acc
    return acc


def digamma(x):
    """psi(x) = d/dx log Γ(x) of a float64 array; -1/x at ±0 and NaN at the negative
    integers, as SciPy.

    >>> digamma(np.array([1.0, 0.5])).round(4).tolist()
    [-0.5772, -1.9635]
    """
    x = np.asarray(x, dtype="float64")
    with np.errstate(all="ignore"):
        poles, negative = _poles(x), x < 0
        acc = np.where(negative, -np.pi / np.tan(np.pi * (x - np.rint(x))), 0.0)
        y, acc = _shift(np.where(negative, 1 - x, x), acc, lambda v: -1 / v)
        z = 1 / (y * y)
        out = acc + (np.log(y) - 0.5 / y - z * _alternating(z, DIGAMMA_SERIES))
        return np.where(poles, np.where(x == 0, -1 / x, np.nan), out)


def trigamma(x):
    """psi'(x) of a float64 array; +inf at 0 and the negative integers.

    >>> trigamma(np.array([1.0])).round(4).tolist()
    [1.6449]
    """
    x = np.asarray(x, dtype="float64")
    with np.errstate(all="ignore"):
        poles, negative = _poles(x), x < 0
        s = np.sin(np.pi * (x - np.rint(x)))
        reflected = np.where(negative, np.pi * np.pi / (s * s), 0.0)
        y, acc = _shift(np.where(negative, 1 - x, x), np.zeros_like(x), lambda v: 1 / (v * v))
        z = 1 / (y * y)
        acc = acc + (1 / y + 0.5 * z + z / y * _alternating(z, TRIGAMMA_SERIES))
        out = reflected + np.where(negative, -1.0, 1.0) * acc
        return np.where(poles, np.inf, out)


class Gammaln(ScalarOp):
    """log|Γ(x)|: libm's lgamma; +inf at the poles (0 and the negative integers)."""

    c_func = "lgamma"

    def impl(self, x):
        return _special_impl(lgamma, x)

    def partials(self, out, x):
        return [_m().digamma(x)]


class Digamma(ScalarOp):
    """psi(x) = d/dx log Γ(x); -1/x at ±0, NaN at the negative integers. No libm
    function: graphad_runtime.h's helper (digamma is its NumPy twin)."""

    c_expr = "graphad_digamma_f{b}({0})"

    def impl(self, x):
        return _special_impl(digamma, x)

    def partials(self, out, x):
        return [_m()._trigamma(x)]


class Trigamma(ScalarOp):
    """psi'(x), the derivative of digamma; +inf at the poles. Not a public function:
    digamma's gradient makes it."""

    c_expr = "graphad_trigamma_f{b}({0})"

    def impl(self, x):
        return _special_impl(trigamma, x)

    def partials(self, out, x):
        raise NonDifferentiableError(
            "the derivative of trigamma (polygamma(2, x)) is not implemented: ga.gammaln "
            "can be differentiated twice and ga.digamma once, not more"
        )


def _special_impl(fn, x):
    """``fn`` (float64 arrays) on ``x``, in the dtype np.exp gives for x's dtype."""
    x = np.asarray(x)
    dtype = _float_rule(x.dtype.name)
    with np.errstate(over="ignore"):  # float32: a huge lgamma rounds to inf, as lgammaf's
        return np.asarray(fn(x.astype("float64")), dtype=dtype)
