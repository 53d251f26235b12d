"""Argument structs and launch plans of the CUDA kernels of ``kernel/render_cuda.py``.

A kernel takes one struct by value (``<name>_args``); a node's ``Planner`` computes
it per call the way the C backend's drivers do (NumPy broadcasting, byte strides, 0
along broadcast axes, outputs at the iteration shape) and says which functions to launch
on how many blocks. Memory is the caller's: ``empty(shape, dtype)`` allocates an array
(device memory under PyCUDA, NumPy arrays when the source runs as host code) and
``address(array)`` gives its data pointer, so one plan serves a GPU and the host
emulation the tests use.
"""

from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import ShapeError
from ...kernel.render_reduce import _accumulator

BLOCK = 256  # GD_CUDA_BLOCK in kernels/graphad_cuda.h
MAX_BLOCKS = 65535
# reduced elements per block in the first stage of a reduction over every element
CHUNK = 1 << 16

# the dtype of a reduction's accumulator (render_reduce._accumulator's C type)
_ACC = {"npy_float64": "float64", "npy_float32": "float32", "int": "int32"}


@dataclass
class Launch:
    """``function(struct, *extra)`` on ``grid`` blocks of ``block`` threads."""

    function: str
    grid: int
    block: int
    extra: tuple = ()


@dataclass
class Plan:
    """What to launch for one kernel call, and the arrays it returns."""

    args: ctypes.Structure
    launches: list
    outputs: list
    keep: list = field(default_factory=list)  # scratch arrays alive until the launch ends


@functools.cache
def _elementwise_struct(n, nd):
    """The ctypes twin of an elementwise kernel's ``<name>_args`` (one class per
    operand count and rank: making one is slow next to a launch)."""
    fields = [
        ("p", ctypes.c_void_p * n),
        ("st", (ctypes.c_longlong * nd) * n),
        ("shape", ctypes.c_longlong * nd),
        ("size", ctypes.c_longlong),
    ]
    return type("elementwise_args", (ctypes.Structure,), {"_fields_": fields})


@functools.cache
def _reduction_struct(ni, nx, nd):
    """The ctypes twin of a reduction kernel's ``<name>_args``."""
    ll, ptr = ctypes.c_longlong, ctypes.c_void_p
    fields = [
        ("p", ptr * ni),
        ("out", ptr),
        ("xp", ptr * nx),
        ("st", (ll * nd) * ni),
        ("est", (ll * nd) * ni),
        ("ost", ll * nd),
        ("xst", (ll * nd) * nx),
        ("shape", ll * nd),
        ("outer", ll),
        ("inner", ll),
        ("scratch", ptr),
        ("chunk", ll),
    ]
    return type("reduction_args", (ctypes.Structure,), {"_fields_": fields})


def _strides(shape, strides, nd):
    """Byte strides of an array of ``shape`` over ``nd`` right-aligned axes, 0 where it
    has size 1 or no axis."""
    off = nd - len(shape)
    return [0 if d < off or shape[d - off] == 1 else strides[d - off] for d in range(nd)]


def _broadcast(shapes, what):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise ShapeError(f"{what}: {exc}") from None


class Planner:
    """The launch plans of one kernel: what depends only on the kernel is worked out
    once, here; ``planner(arrays, empty, address)`` does the rest per call."""

    def __init__(self, name, kernel):
        self.name, self.kernel = name, kernel
        self.dtypes = [kernel.value_dtype(r) for r in kernel.result_refs]
        red = kernel.reduce
        if red is None:
            self.n = len(kernel.inputs) + len(kernel.outputs)
            self.nd = max(max((len(i.ones) for i in kernel.inputs), default=0), 1)
            self.struct = _elementwise_struct(self.n, self.nd)
            return
        self.first = sorted(kernel.prologue_inputs())
        self.late = kernel.epilogue_inputs()
        nd = red.ndim
        self.kept = [d for d in range(nd) if d not in red.axes]
        self.out_axes = [d for d in range(nd) if red.keepdims or d in self.kept]
        self.n_exports = len(kernel.full_outputs)
        # integers accumulate in the result's type
        self.acc_dtype = _ACC.get(_accumulator(red)[0], red.dtype)
        ni, nx = max(len(kernel.inputs), 1), max(self.n_exports, 1)
        self.struct = _reduction_struct(ni, nx, max(nd, 1))

    def __call__(self, arrays, empty, address) -> Plan:
        if self.kernel.reduce is not None:
            return self._reduction(arrays, empty, address)
        return self._elementwise(arrays, empty, address)

    def _elementwise(self, arrays, empty, address):
        name, nd = self.name, self.nd
        shape = _broadcast([a.shape for a in arrays], f"{name}'s inputs")
        if len(shape) > nd:
            raise ShapeError(f"{name}: inputs of {len(shape)} dimensions for a {nd}-d kernel")
        outputs = [empty(shape, dtype) for dtype in self.dtypes]
        args = self.struct()
        for j, a in enumerate((*arrays, *outputs)):
            args.p[j] = address(a)
            args.st[j][:] = _strides(a.shape, a.strides, nd)
        args.shape[:] = (1,) * (nd - len(shape)) + shape
        args.size = math.prod(shape)
        grid = max(1, min(MAX_BLOCKS, -(-args.size // BLOCK)))
        return Plan(args, [Launch(name, grid, BLOCK)], outputs)

    def _reduction(self, arrays, empty, address):
        name, red = self.name, self.kernel.reduce
        nd, first, late, kept, out_axes = red.ndim, self.first, self.late, self.kept, self.out_axes
        for i in first:
            if arrays[i].ndim > nd:
                raise ShapeError(f"{name}: an input has too many dimensions")
        shape = _broadcast([arrays[i].shape for i in first], f"{name}'s inputs")
        shape = (1,) * (nd - len(shape)) + shape
        inner = math.prod(shape[d] for d in red.axes)
        outer = math.prod(shape[d] for d in kept)
        if red.kind in ("max", "min") and red.initial is None and inner == 0 and outer > 0:
            kind = "maximum" if red.kind == "max" else "minimum"
            raise ValueError(f"zero-size array to reduction operation {kind} which has no identity")
        out_shape = tuple(1 if d in red.axes else shape[d] for d in out_axes)
        out = empty(out_shape, self.dtypes[0])
        xs = [empty(shape, dtype) for dtype in self.dtypes[1:]]
        args = self.struct()
        for i, a in enumerate(arrays):
            args.p[i] = address(a)
            if i in first:
                args.st[i][:nd] = _strides(a.shape, a.strides, nd)
            if i in late:
                if a.ndim > len(out_axes):
                    raise ShapeError(f"{name}: an epilogue input has too many dimensions")
                est = _strides(a.shape, a.strides, len(out_axes))
                off = len(out_axes) - a.ndim
                for k, d in enumerate(out_axes):
                    size = 1 if k < off else a.shape[k - off]
                    if size not in (1, out_shape[k]):
                        raise ShapeError(f"{name}: an epilogue input does not broadcast")
                    args.est[i][d] = est[k]
        ost = dict(zip(out_axes, _strides(out.shape, out.strides, len(out_axes))))
        for d in kept:
            args.ost[d] = ost.get(d, 0)
        args.out = address(out)
        for j, x in enumerate(xs):
            args.xp[j] = address(x)
            args.xst[j][:nd] = _strides(x.shape, x.strides, nd)
        args.shape[:nd] = shape
        args.outer, args.inner = outer, inner
        outputs = [out, *xs]
        if kept or inner <= CHUNK:
            grid = max(1, min(MAX_BLOCKS, outer))
            return Plan(args, [Launch(name, grid, BLOCK)] if outer else [], outputs)
        blocks = -(-inner // CHUNK)  # a reduction of every element: two stages
        scratch = empty((blocks,), self.acc_dtype)
        args.scratch, args.chunk = address(scratch), CHUNK
        launches = [
            Launch(f"{name}_stage1", blocks, BLOCK),
            Launch(f"{name}_stage2", 1, BLOCK, (ctypes.c_longlong(blocks),)),
        ]
        return Plan(args, launches, outputs, keep=[scratch])
