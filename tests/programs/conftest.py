"""The ``prog`` fixture every program in the corpus runs under.

Each program is written the way a user writes it and runs once per mode (FAST_RUN,
FAST_COMPILE, DEBUG) and per variant: float64 with every dimension unknown when the
graph is built, and float32 with static shapes. ``prog`` builds the symbolic inputs
and shared variables for the variant, compiles in the mode, and compares with the
plain NumPy version the test writes, at the variant's tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphad as ga

MODES = ("FAST_RUN", "FAST_COMPILE", "DEBUG")
VARIANTS = (("float64", False), ("float32", True))  # (dtype, static shapes)
TOLERANCE = {"float64": (1e-9, 1e-11), "float32": (2e-4, 2e-5)}  # (rtol, atol)


class Program:
    """What a program needs from its variant: ``tensor``, ``shared``, ``function`` and
    ``close``; ``dtype`` for the NumPy side, ``rng`` for data."""

    def __init__(self, mode, dtype, static):
        self.mode, self.dtype, self.static = mode, dtype, static
        self.rng = np.random.default_rng(1234)
        self.rtol, self.atol = TOLERANCE[dtype]

    def tensor(self, name, shape, dtype=None):
        """A symbolic input of the variant's dtype (or ``dtype``): ``shape`` when the
        variant's shapes are static, every dimension unknown otherwise."""
        shape = tuple(shape) if self.static else (None,) * len(shape)
        return ga.tensor(name, dtype=dtype or self.dtype, shape=shape)

    def data(self, *shape, low=-1.0, high=1.0):
        """Uniform random data of the variant's dtype."""
        return self.rng.uniform(low, high, size=shape).astype(self.dtype)

    def shared(self, value, name=None):
        """A shared variable holding ``value`` cast to the variant's dtype."""
        return ga.shared(np.asarray(value, dtype=self.dtype), name=name)

    def function(self, inputs, outputs, **kwargs):
        """``ga.function`` in the program's mode; any warning fails the program (a
        skipped rewrite or a fallback is a bug here)."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ga.function(inputs, outputs, mode=self.mode, **kwargs)

    def close(self, actual, expected, what="result", scale=1.0):
        """``actual`` matches NumPy's ``expected`` in dtype-appropriate tolerance
        (``scale`` widens it for long iterations)."""
        actual = np.asarray(actual)
        assert actual.shape == np.shape(expected), f"{what}: shape {actual.shape}"
        np.testing.assert_allclose(
            actual,
            np.asarray(expected, dtype="float64"),
            rtol=self.rtol * scale,
            atol=self.atol * scale,
            err_msg=f"{what} ({self.mode}, {self.dtype}, static={self.static})",
        )


@pytest.fixture(
    params=[(m, d, s) for d, s in VARIANTS for m in MODES],
    ids=lambda p: f"{p[0]}-{p[1]}-{'static' if p[2] else 'unknown'}",
)
def prog(request):
    """A Program for one mode and variant."""
    return Program(*request.param)
