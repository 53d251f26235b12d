"""Modes: which passes run and which backend executes a compiled function.

``FAST_COMPILE`` runs cheap rewrites on the NumPy reference backend; ``FAST_RUN`` runs
every rewrite and the C backend; ``DEBUG`` runs the C backend and the reference side by
side (raising at the first node whose results differ), lints the graph after every
pass and raises at the first node that makes a NaN or Inf from finite inputs.
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
    # "c": fused kernels compiled into one extension module; "numpy": the reference;
    # "debug": both, every compiled node checked against the reference
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
    backend = {"FAST_RUN": "c", "DEBUG": "debug"}.get(mode, "numpy")
    return Mode(mode, check_nan=debug, lint=debug, backend=backend)
