"""Backends that run a scheduled graph: the NumPy reference, C, CUDA."""

from __future__ import annotations

import os

from ..errors import MissingToolError

# Present in every layout; tells graphad's kernels folder from an unrelated `kernels/`.
_KERNELS_MARKER = "graphad_runtime.h"


def kernels_dir() -> str:
    """The folder of graphad's hand-written C/CUDA sources (``kernels/`` in the repo).

    An installed wheel carries it as the package ``graphad.kernels`` (setup.cfg maps
    the repo's top-level ``kernels/`` there); a source checkout, used directly or
    through an editable install, has it next to the ``graphad/`` folder.

    >>> os.path.isfile(os.path.join(kernels_dir(), "graphad_runtime.h"))
    True
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    candidates = (
        os.path.join(package, "kernels"),  # installed: site-packages/graphad/kernels
        os.path.join(os.path.dirname(package), "kernels"),  # source tree: <repo>/kernels
    )
    for path in candidates:
        if os.path.isfile(os.path.join(path, _KERNELS_MARKER)):
            return path
    raise MissingToolError(
        f"graphad's kernel sources ({_KERNELS_MARKER}) are in none of {list(candidates)}; "
        "the installation is incomplete: reinstall graphad (pip install --force-reinstall "
        "graphad, or pip install -e . in a source checkout)"
    )
