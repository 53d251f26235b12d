"""The VM: runs a precomputed schedule of thunks over a list of storage slots.

Each graph variable has a slot. Inputs, constants and shared values are written into
their slots by the Function; each step reads its input slots and writes its output
slots; an intermediate slot is cleared after its last reader, so memory follows
liveness. While compiled code runs, array memory comes from the runtime's recycling
allocator (kernels/graphad_pool.c): a large block an intermediate freed is handed to the
next array of that size, in this call or the next.

Compiled functions run this schedule in C (``VM.runner``, kernels/graphad_runner.h);
``VM.run`` is the Python loop that profiling and DEBUG's checks go through.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..errors import GraphadError, NaNError, ShapeError
from ..graph.basic import Constant, format_source
from ..graph.op import node_error, user_expression


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
        # the GPU the steps run on (the CUDA backend's make_thunk names it), or None,
        # and the slots its device steps read (uploaded once: constants per storage)
        self.device = getattr(make_thunk, "device", None)
        self.device_reads = set()
        for thunk, ins, *_ in self.steps:
            self.device_reads.update(ins[i] for i in getattr(thunk, "device_inputs", ()))
        self.node_time = [0.0] * len(order)
        self.node_calls = [0] * len(order)
        # the recycling allocator, when compiled code runs here (the runtime module)
        compiled = any(getattr(thunk, "kind", None) == "c" for thunk, *_ in self.steps)
        self.memory = sys.modules.get("graphad_pool") if compiled else None

    def backends(self) -> list:
        """How each step runs, in schedule order: "C kernel" (a fused loop of the
        function's module), "BLAS" (a product through the runtime's BLAS driver) or
        "NumPy" (the reference implementation); on a GPU "CUDA kernel", "cuBLAS",
        "view" (of a device array) or "host" (NumPy, with transfers)."""
        found = []
        for thunk, _, _, node, _ in self.steps:
            if hasattr(thunk, "runs_as"):
                found.append(thunk.runs_as)
            elif getattr(thunk, "kind", "numpy") != "c":
                found.append("NumPy")
            else:
                found.append("C kernel" if hasattr(node.op, "kernel") else "BLAS")
        return found

    def new_storage(self):
        storage = [None] * self.n_slots
        for slot, data in self.constants:
            if slot in self.device_reads:
                data = self.device.upload(data)
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
        for k, (thunk, ins, outs, node, frees) in enumerate(self.steps):
            args = [storage[i] for i in ins]
            start = time.perf_counter() if profile else 0.0
            try:
                results = thunk(args)
            except Exception as exc:
                err = step_error(exc, node, args)
                if err is exc:
                    raise
                raise err from exc
            if profile:
                if hasattr(thunk, "synchronize"):  # a GPU's launches return at once
                    thunk.synchronize()
                self.node_time[k] += time.perf_counter() - start
                self.node_calls[k] += 1
            if self.check_nan:
                _check_finite(node, args, results)
            for i, value in zip(outs, results):
                storage[i] = value
            for i in frees:
                storage[i] = None

    def runner(self, function):
        """The C call path (kernels/graphad_runner.h) of ``function``, a Function of
        this schedule: its argument checks, steps, outputs and updates run in C. None
        when the runtime module is not loaded or the call must stay in Python (DEBUG's
        NaN checks)."""
        runtime = sys.modules.get("graphad_pool")
        if runtime is None or self.check_nan or self.device is not None:
            return None
        slot = self.slot
        inputs = tuple(
            (slot[v], np.dtype(v.dtype).num, tuple(v.type.shape)) for v in self.fgraph.inputs
        )
        shared = tuple(
            (slot[v], var.container)
            for v, var in zip(function.maker.shared_leaves, function.shared)
        )
        steps = []
        for thunk, ins, outs, _, frees in self.steps:
            fn = getattr(thunk, "c_function", None)
            run = fn or getattr(thunk, "raw", thunk)  # Function ignores FP errors per call
            steps.append((run, fn is not None, tuple(ins), tuple(outs), tuple(frees)))
        outputs = tuple(slot[v] for v in self.fgraph.outputs[: function.maker.n_outputs])
        updates = tuple(
            (slot[v], var.container, np.dtype(var.dtype).num)
            for v, var in zip(
                self.fgraph.outputs[function.maker.n_outputs :], function._update_targets
            )
        )
        return runtime.Runner(
            self.n_slots,
            inputs,
            shared,
            tuple(self.constants),
            tuple(steps),
            outputs,
            updates,
            function.single,
            self.memory is not None,
            self._on_error,
        )

    @property
    def runs_numpy(self) -> bool:
        """Whether the runner calls a NumPy step without its own np.errstate (then a
        call ignores floating-point errors once)."""
        return any(hasattr(thunk, "raw") for thunk, *_ in self.steps)

    def _on_error(self, k, exc, args):
        """The C runner's hook: step ``k`` raised ``exc`` on ``args``."""
        if not isinstance(exc, Exception):  # KeyboardInterrupt and the like pass
            raise exc
        thunk, node = self.steps[k][0], self.steps[k][3]
        if getattr(thunk, "c_function", None) is not None:
            exc = c_error(exc)
        err = step_error(exc, node, args)
        if err is exc:
            raise exc
        raise err from exc


def c_error(exc):
    """A compiled kernel's exception as graphad raises it: NumPy's iterator reports
    shapes that do not broadcast as a plain ValueError."""
    if isinstance(exc, ValueError) and not isinstance(exc, GraphadError):
        return ShapeError(str(exc))
    return exc


def step_error(exc, node, args):
    """What to raise for ``exc`` from ``node`` run on ``args``: an error naming the
    node, unless ``exc`` already names one."""
    if isinstance(exc, GraphadError) and getattr(exc, "node", None) is not None:
        return exc
    return node_error(exc, node, args)


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
                site = node.op.nonfinite_site(node, args)
                text, source = site or (user_expression(node.outputs[k]), node.source)
                raise NaNError(
                    f"`{text}` produced NaN or Inf from finite inputs; built at "
                    f"{format_source(source)}\n  runs as: {node.op.describe_node(node)}, "
                    f"output {k}"
                )
