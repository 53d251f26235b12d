"""DEBUG mode's backend: every compiled node also runs on the NumPy reference, and the
first node whose results differ raises, naming the node, the fused kernel's
expression and the user's line.

Floats compare with a tolerance scaled to the result's magnitude (libm and NumPy may
round transcendental functions one ulp apart, and summation orders differ); NaN must
be NaN in both; integers and bools must be equal.
"""

from __future__ import annotations

import numpy as np

from ..errors import BackendMismatchError
from ..graph.basic import format_source

# relative tolerances by dtype, applied with an absolute floor of rtol * max|reference|
RTOL = {"float32": 1e-4, "float64": 1e-9}


def thunk_maker(fgraph, timings=None):
    """A ``make_thunk(node)`` running the compiled thunk and checking it against the
    reference thunk on the same inputs (``timings``: as the C backend's)."""
    from ..backend.c.module import thunk_maker as c_thunk_maker
    from ..backend.numpy import make_thunk as numpy_thunk

    compiled = c_thunk_maker(fgraph, timings)

    def make_thunk(node):
        fast = compiled(node)
        if getattr(fast, "kind", None) == "numpy":
            return fast
        ref = numpy_thunk(node)

        def thunk(inputs):
            results = fast(inputs)
            expected = ref(inputs)
            for k, (got, want) in enumerate(zip(results, expected)):
                problem = mismatch(np.asarray(got), np.asarray(want))
                if problem:
                    err = BackendMismatchError(
                        f"{node.op.describe_node(node)}: output {k} of the {fast.kind} backend "
                        f"differs from the NumPy reference: {problem}; built at "
                        f"{format_source(node.source)} (please report this bug; "
                        "mode='FAST_COMPILE' runs the reference meanwhile)"
                    )
                    err.node = node  # already names the node: the VM must not wrap it
                    raise err
            return results

        thunk.kind = fast.kind
        return thunk

    return make_thunk


def mismatch(got, want) -> str:
    """Why ``got`` is not ``want`` (dtype, shape or values), or '' when it is."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    if got.dtype.kind != "f":
        bad = got != want
    else:
        rtol = RTOL.get(got.dtype.name, 1e-3)
        finite = np.isfinite(want)
        scale = float(np.max(np.abs(want[finite]), initial=0.0))
        with np.errstate(all="ignore"):
            close = np.isclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-30), equal_nan=True)
        bad = ~close
    if not np.any(bad):
        return ""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"at index {list(index)} got {got[index]!r}, expected {want[index]!r}"
