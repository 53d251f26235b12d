"""Backends that run a scheduled graph: the NumPy reference, C, CUDA."""

from __future__ import annotations

import os
from importlib import resources


def kernels_dir() -> str:
    """The folder of graphad's hand-written C/CUDA sources (``kernels/`` in the repo).

    In an installed wheel it is the ``graphad.kernels`` package data; in a source
    checkout run without installing, the repo's ``kernels/`` folder.

    >>> os.path.isfile(os.path.join(kernels_dir(), "graphad_runtime.h"))
    True
    """
    try:
        path = resources.files("graphad.kernels")
        if path.is_dir():
            return str(path)
    except (ModuleNotFoundError, TypeError):  # not installed as a package: a source tree
        pass
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(here, "kernels")
