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

# relative tolerances by dtype, with an absolute floor of rtol * the largest magnitude the
# node read or wrote
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
                problem = mismatch(np.asarray(got), np.asarray(want), inputs)
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


def mismatch(got, want, inputs=()) -> str:
    """Why ``got`` is not ``want`` (dtype, shape or values), or '' when it is.

    The tolerance is that of the least precise float among the result and the
    ``inputs`` the node read (float32 values summed into a float64 result round as
    float32 did), relative to the largest magnitude among them (a sum that cancels to
    almost 0 keeps the rounding error of its terms)."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return f"got {got.dtype}{list(got.shape)}, expected {want.dtype}{list(want.shape)}"
    if got.dtype.kind != "f":
        bad = got != want
    else:
        floats = [np.asarray(x) for x in inputs if np.asarray(x).dtype.kind == "f"]
        rtol = max(RTOL.get(x.dtype.name, 1e-3) for x in [got, *floats])
        scale = max([_magnitude(want)] + [_magnitude(x) for x in floats])
        with np.errstate(all="ignore"):
            close = np.isclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-30), equal_nan=True)
        bad = ~close
    if not np.any(bad):
        return ""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"at index {list(index)} got {got[index]!r}, expected {want[index]!r}"


def _magnitude(x) -> float:
    """The largest finite magnitude in ``x`` (0 for none)."""
    finite = np.isfinite(x)
    return float(np.max(np.abs(x[finite]), initial=0.0))
