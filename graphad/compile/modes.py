"""Modes: which passes run and which backend executes a compiled function.

``FAST_COMPILE`` runs cheap rewrites on the NumPy reference backend; ``FAST_RUN`` runs
every rewrite (on the reference backend until the C backend is in place); ``DEBUG``
runs the reference backend, lints the graph and raises at the first node that makes a
NaN or Inf from finite inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

MODES = ("FAST_RUN", "FAST_COMPILE", "DEBUG")


@dataclass(frozen=True)
class Mode:
    name: str
    check_nan: bool = False
    lint: bool = False
    # the rewrite pipeline to run (rewrite/pipeline.py); None: the one named like the
    # mode. Tests compile with passes="NONE" to get the unrewritten graph as an oracle.
    passes: str | None = None
    # "c": fused kernels compiled into one extension module; "numpy": the reference
    backend: str = "numpy"


def get_mode(mode=None) -> Mode:
    """The Mode for a name (or the config default when None)."""
    if isinstance(mode, Mode):
        return mode
    if mode is None:
        from ..config import config

        mode = config.mode
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    debug = mode == "DEBUG"
    return Mode(mode, check_nan=debug, lint=debug, backend="c" if mode == "FAST_RUN" else "numpy")
