"""The VM: runs a precomputed schedule of thunks over a list of storage slots.

Each graph variable has a slot. Inputs, constants and shared values are written into
their slots by the Function; each step reads its input slots and writes its output
slots; an intermediate slot is cleared after its last reader, so memory follows
liveness.

Buffers are reused by liveness: an array a compiled node made goes, once its last
reader has run and nothing else holds it (its reference count says so), into a pool
by shape and dtype; a later kernel whose output has that shape and dtype writes into
it instead of allocating, in this call or the next. Outputs handed to the user are
never pooled while the user holds them.
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
        self.steps = [
            (
                make_thunk(node),
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
        # slots whose arrays compiled code allocated (never views of other arrays)
        self.fresh_slots = {
            i for thunk, _, outs, _, _ in self.steps if getattr(thunk, "fresh", False) for i in outs
        }
        self.pool: dict = {}  # (shape, dtype) -> arrays free for reuse
        # the recycling allocator, when a compiled module loaded it (with the threads)
        self.memory = sys.modules.get("graphad_pool") if self.fresh_slots else None

    def new_storage(self):
        storage = [None] * self.n_slots
        for slot, data in self.constants:
            storage[slot] = data
        return storage

    def run(self, storage, profile=False):
        """Execute every step; raise a node-naming error if one fails. Arrays allocated
        meanwhile get their memory from the C backend's recycling allocator, when the
        backend is loaded (kernels/graphad_pool.c)."""
        memory = self.memory
        if memory is None:
            return self._run(storage, profile)
        old = memory.use_allocator()
        try:
            return self._run(storage, profile)
        finally:
            memory.restore_allocator(old)

    def _run(self, storage, profile):
        pool, fresh = self.pool, self.fresh_slots
        touched = set()  # shapes used in this call; others are dropped at its end
        for k, (thunk, ins, outs, node, frees) in enumerate(self.steps):
            args = [storage[i] for i in ins]
            start = time.perf_counter() if profile else 0.0
            buf = None
            out_key = getattr(thunk, "out_key", None)
            if out_key is not None and pool:
                key = out_key(args)
                bucket = pool.get(key)
                if bucket:
                    buf = bucket.pop()
                    touched.add(key)
            try:
                results = thunk(args) if buf is None else thunk(args, buf)
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
            args = buf = results = None  # hold no references while freeing
            for i in frees:
                value, storage[i] = storage[i], None
                if i in fresh and _unshared(value):
                    key = (value.shape, value.dtype.str)
                    pool.setdefault(key, []).append(value)
                    touched.add(key)
        if len(pool) > len(touched):  # a call with other shapes: free what it left
            for key in [k for k in pool if k not in touched]:
                del pool[key]


def _unshared(value) -> bool:
    """An array nobody else references (only the caller's variable, this function's
    argument and getrefcount's) that owns its writable memory: safe to overwrite."""
    return (
        type(value) is np.ndarray
        and value.flags.owndata
        and value.flags.writeable
        and sys.getrefcount(value) == 3
    )


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
