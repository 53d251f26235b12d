"""The VM: runs a precomputed schedule of thunks over a list of storage slots.

Each graph variable has a slot. Inputs, constants and shared values are written into
their slots by the Function; each step reads its input slots and writes its output
slots; an intermediate slot is cleared after its last reader, so memory follows
liveness.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..errors import GraphadError, NaNError, node_error
from ..graph.basic import Constant, format_source


class VM:
    """A schedule for ``fgraph`` built from ``make_thunk(node)`` per node."""

    def __init__(self, fgraph, make_thunk, check_nan=False):
        self.fgraph = fgraph
        self.check_nan = check_nan
        order = fgraph.toposort()
        self.order = order
        self.slot = {}
        for var in list(fgraph.inputs) + _leaves(order) + list(fgraph.outputs):
            self.slot.setdefault(var, len(self.slot))
        for node in order:
            for out in node.outputs:
                self.slot.setdefault(out, len(self.slot))
        self.n_slots = len(self.slot)
        keep = {self.slot[v] for v in fgraph.outputs} | {self.slot[v] for v in fgraph.inputs}
        keep |= {self.slot[v] for v in _leaves(order)}
        last_use = {}
        for i, node in enumerate(order):
            for inp in node.inputs:
                last_use[self.slot[inp]] = i
        frees = [[] for _ in order]
        for slot, i in last_use.items():
            if slot not in keep:
                frees[i].append(slot)
        results = set(fgraph.outputs)
        self.steps = [
            (
                _reusing(make_thunk(node), node, results),
                [self.slot[v] for v in node.inputs],
                [self.slot[v] for v in node.outputs],
                node,
                frees[i],
            )
            for i, node in enumerate(order)
        ]
        leaves = _leaves(order) + [v for v in fgraph.outputs if v.owner is None]
        self.constants = [(self.slot[v], v.data) for v in leaves if isinstance(v, Constant)]
        self.node_time = [0.0] * len(order)
        self.node_calls = [0] * len(order)

    def new_storage(self):
        storage = [None] * self.n_slots
        for slot, data in self.constants:
            storage[slot] = data
        return storage

    def run(self, storage, profile=False):
        """Execute every step; raise a node-naming error if one fails."""
        for k, (thunk, ins, outs, node, frees) in enumerate(self.steps):
            args = [storage[i] for i in ins]
            start = time.perf_counter() if profile else 0.0
            try:
                results = thunk(args)
            except GraphadError as exc:
                if getattr(exc, "node", None) is not None:
                    raise
                raise node_error(exc, node, args) from exc
            except Exception as exc:
                raise node_error(exc, node, args) from exc
            if profile:
                self.node_time[k] += time.perf_counter() - start
                self.node_calls[k] += 1
            if self.check_nan:
                _check_finite(node, args, results)
            for i, value in zip(outs, results):
                storage[i] = value
            for i in frees:
                storage[i] = None


class _Reuse:
    """A compiled thunk that writes into the array it returned last time, when the
    inputs have the same shapes again and nothing else holds that array (its
    reference count says so): intermediates are not reallocated on every call."""

    __slots__ = ("thunk", "buffer", "shapes", "kind")

    def __init__(self, thunk):
        self.thunk, self.buffer, self.shapes = thunk, None, None
        self.kind = thunk.kind

    def __call__(self, inputs):
        shapes = [getattr(a, "shape", None) for a in inputs]
        buf = self.buffer
        # referenced by self.buffer, buf and getrefcount's argument only
        if buf is not None and shapes == self.shapes and sys.getrefcount(buf) == 3:
            results = self.thunk(inputs, buf)
        else:
            results = self.thunk(inputs)
        self.buffer, self.shapes = results[0], shapes
        return results


def _reusing(thunk, node, results):
    """``thunk``, made to reuse its output buffer when that output is an intermediate
    (a function output is handed to the user and must be fresh)."""
    if getattr(thunk, "accepts_out", False) and not any(o in results for o in node.outputs):
        return _Reuse(thunk)
    return thunk


def _leaves(order):
    seen, leaves = set(), []
    for node in order:
        for inp in node.inputs:
            if inp.owner is None and inp not in seen:
                seen.add(inp)
                leaves.append(inp)
    return leaves


def _check_finite(node, args, results):
    def finite(a):
        a = np.asarray(a)
        return a.dtype.kind not in "fc" or bool(np.isfinite(a).all())

    if all(finite(a) for a in args):
        for k, r in enumerate(results):
            if not finite(r):
                raise NaNError(
                    f"{node.op.describe_node(node)} produced NaN or Inf in output {k} from "
                    f"finite inputs; built at {format_source(node.source)}"
                )
