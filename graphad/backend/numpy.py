"""The NumPy reference backend: each node runs its op's ``perform``. It is the oracle
every compiled backend is tested against."""

from __future__ import annotations

import numpy as np


def make_thunk(node):
    """A callable mapping the node's input arrays to its output arrays."""
    op = node.op
    n_out = len(node.outputs)

    def raw(inputs):
        cells = [[None] for _ in range(n_out)]
        op.perform(node, inputs, cells)
        return [c[0] for c in cells]

    def thunk(inputs):
        with np.errstate(all="ignore"):  # NaN/Inf are values; DEBUG mode reports them
            return raw(inputs)

    thunk.kind = "numpy"
    thunk.raw = raw  # for a caller that ignores floating-point errors once per call
    return thunk
