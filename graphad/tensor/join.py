"""Joining and repeating: concatenate, stack, split, tile, repeat (NumPy semantics).

Three primitives: ``Concatenate``, ``Split`` (one node, one output per piece) and
``Repeat``. ``stack`` is ``expand_dims`` + ``Concatenate``; ``tile`` is a broadcast of
``x`` with a size-1 axis before each of its axes, reshaped, so its gradient is the
broadcast's sum over the copies.
"""

from __future__ import annotations

import numbers
from itertools import pairwise

import numpy as np

from ..errors import GraphadTypeError, GraphadValueError, ShapeError, describe
from ..graph.basic import Apply, Variable
from ..graph.op import Op
from . import math as m
from . import shape as sh
from .construct import arange
from .indexing import inc_subtensor
from .reduce import sum as _sum
from .type import DISCRETE_DTYPES, INT_DTYPES, TensorType, result_dtype
from .variable import TensorConstant, as_tensor_variable, constant


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _axis(axis, ndim, what):
    """``axis`` as a non-negative int in ``range(ndim)``; raises naming the op."""
    if not _is_int(axis):
        raise GraphadTypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise GraphadValueError(f"{what}: axis {axis} is out of range for {ndim} dimension(s)")
    return int(axis) % ndim


def _tensor_list(tensors, what):
    if isinstance(tensors, Variable) or not isinstance(tensors, (list, tuple)):
        raise GraphadTypeError(
            f"{what} expects a list or tuple of tensors, got {tensors!r}; wrap a single "
            "tensor in a list"
        )
    if not tensors:
        raise GraphadValueError(f"{what} needs at least one tensor")
    return [as_tensor_variable(t) for t in tensors]


def _int64(v):
    return constant(np.int64(v)) if _is_int(v) else v


def _resized(x, axis, size):
    """A new variable of ``x``'s type with ``size`` (an int or None) along ``axis``."""
    shape = list(x.type.shape)
    shape[axis] = size
    return TensorType(x.dtype, shape).make_variable()


def _replace(dims, axis, size):
    return tuple(dims[:axis]) + (size,) + tuple(dims[axis + 1 :])


class Concatenate(Op):
    """``np.concatenate(inputs, axis)``; make_node casts the inputs to their common dtype."""

    __props__ = ("axis",)
    fusion_kind = "injective"

    def __init__(self, axis):
        self.axis = int(axis)

    def user_text(self, node, args):
        return f"ga.concatenate([{', '.join(args)}], axis={self.axis})"

    def make_node(self, *tensors):
        xs = _tensor_list(list(tensors), "concatenate")
        for i, x in enumerate(xs):
            if x.ndim == 0:
                raise ShapeError(f"concatenate: input {i}, {describe(x)}, is 0-d; use stack")
            if x.ndim != xs[0].ndim:
                raise ShapeError(
                    f"concatenate: input {i}, {describe(x)}, has {x.ndim} dimension(s) "
                    f"but input 0 has {xs[0].ndim}"
                )
        _axis(self.axis, xs[0].ndim, "concatenate")
        shape = []
        for d in range(xs[0].ndim):
            sizes = [x.type.shape[d] for x in xs]
            first = next((s for s in sizes if s is not None), None)
            bad = [i for i, s in enumerate(sizes) if s not in (None, first)]
            if d != self.axis and bad:
                raise ShapeError(
                    f"concatenate along axis {self.axis}: input {bad[0]}, {describe(xs[bad[0]])}, "
                    f"has size {sizes[bad[0]]} in dimension {d} where an earlier input has {first}"
                )
            shape.append(first if d != self.axis else None if None in sizes else sum(sizes))
        dtype = result_dtype(*[x.dtype for x in xs])
        xs = [m.cast(x, dtype) for x in xs]
        return Apply(self, xs, [TensorType(dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        try:
            outputs[0][0] = np.concatenate(inputs, axis=self.axis)
        except ValueError as exc:  # NumPy's message names the inputs and the dimension
            raise ShapeError(f"concatenate along axis {self.axis}: {exc}") from None

    def infer_shape(self, node, input_shapes):
        dims = list(input_shapes[0])
        dims[self.axis] = sum((shp[self.axis] for shp in input_shapes[1:]), dims[self.axis])
        static = node.outputs[0].type.shape
        return [tuple(d if s is None else _int64(s) for s, d in zip(static, dims))]

    def L_op(self, inputs, outputs, output_grads):
        if outputs[0].dtype in DISCRETE_DTYPES:
            return [None] * len(inputs)
        (g,) = output_grads
        lead = (slice(None),) * self.axis
        grads, start = [], 0
        for x in inputs:
            size = x.type.shape[self.axis]
            stop = start + (sh.shape_tuple(x)[self.axis] if size is None else size)
            grads.append(g[lead + (slice(start, stop),)])
            start = stop
        return grads

    def R_op(self, inputs, outputs, tangents):
        if all(t is None for t in tangents):
            return [None]
        return [self(*[sh.zeros_like(x) if t is None else t for x, t in zip(inputs, tangents)])]


def concatenate(tensors, axis=0):
    """Join tensors along an existing ``axis`` (``None`` flattens them first).

    >>> import graphad as ga
    >>> ga.concatenate([ga.constant([1, 2]), ga.constant([3])]).eval().tolist()
    [1, 2, 3]
    """
    xs = _tensor_list(tensors, "concatenate")
    if axis is None:
        xs, axis = [sh.flatten(x) for x in xs], 0
    elif xs[0].ndim == 0:
        raise ShapeError(f"concatenate: input 0, {describe(xs[0])}, is 0-d; use stack")
    return Concatenate(_axis(axis, xs[0].ndim, "concatenate"))(*xs)


def stack(tensors, axis=0):
    """Join same-shaped tensors along a new ``axis``.

    >>> import graphad as ga
    >>> ga.stack([ga.constant([1, 2]), ga.constant([3, 4])], axis=1).eval().tolist()
    [[1, 3], [2, 4]]
    """
    xs = _tensor_list(tensors, "stack")
    first = xs[0].type.shape
    for i, x in enumerate(xs):
        clash = [None not in (a, b) and a != b for a, b in zip(x.type.shape, first)]
        if x.ndim != len(first) or any(clash):
            raise ShapeError(
                f"stack: input {i}, {describe(x)}, differs in shape from input 0, "
                f"{describe(xs[0])}; stacked tensors must have the same shape"
            )
    axis = _axis(axis, xs[0].ndim + 1, "stack")
    return Concatenate(axis)(*[sh.expand_dims(x, axis) for x in xs])


class Split(Op):
    """``np.split(x, ...)`` along ``axis`` into ``n_outputs`` views of ``x``.

    With ``sections`` the input is ``x`` alone and the pieces are equal; otherwise the
    second input is the int64 vector of the ``n_outputs - 1`` split indices (NumPy's:
    Python slice bounds, so they may be negative, past the end or decreasing).
    """

    __props__ = ("axis", "n_outputs", "sections")
    fusion_kind = "injective"

    def __init__(self, axis, n_outputs, sections):
        self.axis, self.n_outputs, self.sections = int(axis), int(n_outputs), bool(sections)
        self.view_map = {i: 0 for i in range(self.n_outputs)}
        self.reads_values = False

    def make_node(self, x, *indices):
        x = as_tensor_variable(x)
        n = x.type.shape[_axis(self.axis, x.ndim, "split")]
        if self.sections:
            if n is not None and n % self.n_outputs:
                raise ShapeError(
                    f"split: axis {self.axis} of {describe(x)} has size {n}, which does not "
                    f"divide into {self.n_outputs} equal sections; pass split indices instead"
                )
            sizes = [None if n is None else n // self.n_outputs] * self.n_outputs
            inputs = [x]
        else:
            (vec,) = indices
            vec = sh.as_shape_vector(vec, "split: indices")
            if vec.type.shape[0] != self.n_outputs - 1:
                raise GraphadValueError(
                    f"split: {self.n_outputs} outputs need {vec} of length {self.n_outputs - 1}"
                )
            bounds = [0] + sh.static_entries(vec) + [n]
            sizes = [None if None in (n, a, b) else len(range(n)[a:b]) for a, b in pairwise(bounds)]
            inputs = [x, vec]
        return Apply(self, inputs, [_resized(x, self.axis, size) for size in sizes])

    def perform(self, node, inputs, outputs):
        x = inputs[0]
        if self.sections:
            if x.shape[self.axis] % self.n_outputs:
                raise ShapeError(
                    f"split: axis {self.axis} of an array of shape {x.shape} does "
                    f"not divide into {self.n_outputs} equal sections"
                )
            pieces = np.split(x, self.n_outputs, axis=self.axis)
        else:
            pieces = np.split(x, [int(i) for i in inputs[1]], axis=self.axis)
        for cell, piece in zip(outputs, pieces):
            cell[0] = piece

    def infer_shape(self, node, input_shapes):
        dims, n = input_shapes[0], input_shapes[0][self.axis]
        if self.sections:
            sizes = [n // self.n_outputs] * self.n_outputs
        else:
            bounds = [_int64(0)] + list(self._indices(node)) + [n]

            def norm(b):  # a Python slice bound clipped into [0, n]
                return m.switch(m.lt(b, 0), m.maximum(b + n, 0), m.minimum(b, n))

            bounds = [bounds[0]] + [norm(b) for b in bounds[1:-1]] + [n]
            sizes = [m.maximum(b - a, 0) for a, b in pairwise(bounds)]
        statics = [out.type.shape[self.axis] for out in node.outputs]
        sizes = [size if s is None else _int64(s) for s, size in zip(statics, sizes)]
        return [_replace(dims, self.axis, size) for size in sizes]

    def _indices(self, node):
        return sh.shape_tuple_of_vector(node.inputs[1], self.n_outputs - 1)

    def L_op(self, inputs, outputs, output_grads):
        x = inputs[0]
        rest = [None] * (len(inputs) - 1)
        if x.dtype in DISCRETE_DTYPES:
            return [None] + rest
        gs = [sh.zeros_like(o) if g is None else g for g, o in zip(output_grads, outputs)]
        if self.sections or _is_partition(sh.static_entries(inputs[1])):
            return [concatenate(gs, self.axis)] + rest
        # overlapping or symbolic indices: add each piece's gradient at its slice
        bounds = [None] + list(self._indices(outputs[0].owner)) + [None]
        gx = sh.zeros_like(x)
        lead = (slice(None),) * self.axis
        for g, (a, b) in zip(gs, pairwise(bounds)):
            gx = inc_subtensor(gx[lead + (slice(a, b),)], g)
        return [gx] + rest

    def R_op(self, inputs, outputs, tangents):
        if tangents[0] is None:
            return [None] * self.n_outputs
        return self.make_node(tangents[0], *inputs[1:]).outputs


def _is_partition(entries) -> bool:
    """True when static split indices cut an axis of any length into adjacent pieces."""
    return all(e is not None and e >= 0 for e in entries) and entries == sorted(entries)


def split(x, indices_or_sections, axis=0):
    """``np.split``: a list of pieces of ``x`` along ``axis``. An int N gives N equal
    pieces (an error if the size does not divide); a list gives the split indices.

    >>> import graphad as ga
    >>> [p.eval().tolist() for p in ga.split(ga.constant([1, 2, 3, 4]), [1, 3])]
    [[1], [2, 3], [4]]
    """
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise ShapeError(f"split: {describe(x)} is 0-d; it has no axis to split")
    axis = _axis(axis, x.ndim, "split")
    arg = indices_or_sections
    if _is_int(arg):
        if arg <= 0:
            raise GraphadValueError(f"split: the number of sections must be positive, got {arg}")
        return list(Split(axis, arg, True).make_node(x).outputs)
    if isinstance(arg, (bool, np.bool_, numbers.Number)) or getattr(arg, "ndim", 1) != 1:
        raise GraphadTypeError(
            f"split: indices_or_sections must be a Python int or a list of ints, got {arg!r}"
        )
    vec = sh.as_shape_vector(arg, "split: indices")
    if vec.type.shape[0] is None:
        raise GraphadValueError(
            f"split: the length of {vec} must be known statically (it fixes the number of outputs)"
        )
    return list(Split(axis, vec.type.shape[0] + 1, False).make_node(x, vec).outputs)


def tile(x, reps):
    """``np.tile``: ``x`` repeated ``reps[i]`` times along each axis; a ``reps`` longer
    than ``x.ndim`` adds leading axes.

    >>> import graphad as ga
    >>> ga.tile(ga.constant([1, 2]), (2, 2)).eval().tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    x = as_tensor_variable(x)
    reps = [reps] if _is_int(reps) or isinstance(reps, Variable) else list(reps)
    reps = [sh._int64_scalar(_int64(r), f"tile: reps entry {i}") for i, r in enumerate(reps)]
    for i, r in enumerate(reps):
        if (sh.static_value(r) or 0) < 0:
            raise GraphadValueError(
                f"tile: reps entry {i} is {sh.static_value(r)}; reps must be >= 0"
            )
    nd = max(x.ndim, len(reps))
    reps = [_int64(1)] * (nd - len(reps)) + reps
    if nd > x.ndim:
        x = sh.dimshuffle(x, ["x"] * (nd - x.ndim) + list(range(x.ndim)))
    dims = sh.shape_tuple(x)
    pattern, target, out_shape = [], [], []
    for i, (r, d) in enumerate(zip(reps, dims)):
        rv, dv = sh.static_value(r), sh.static_value(d)
        if rv != 1:  # a new size-1 axis before axis i, broadcast to r copies
            pattern.append("x")
            target.append(r)
        pattern.append(i)
        target.append(d)
        if 0 in (rv, dv) or None not in (rv, dv):
            out_shape.append((rv or 0) * (dv or 0))
        else:
            out_shape.append(d if rv == 1 else r * d)
    copies = sh.broadcast_to(sh.dimshuffle(x, pattern), target)
    return sh.reshape(copies, out_shape)


class Repeat(Op):
    """``np.repeat(x, repeats, axis)``: each entry along ``axis`` repeated; ``repeats`` is
    an int64 scalar or vector (one count per entry, or a single count)."""

    __props__ = ("axis",)
    fusion_kind = "opaque"  # data-dependent index map when repeats is a vector

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x, repeats):
        x, r = as_tensor_variable(x), as_tensor_variable(repeats)
        n = x.type.shape[_axis(self.axis, x.ndim, "repeat")]
        if r.ndim > 1 or r.dtype not in INT_DTYPES or r.dtype == "uint64":
            raise GraphadTypeError(f"repeat: repeats must be an int or ints, got {describe(r)}")
        r = m.cast(r, "int64")
        counts = r.data.reshape(-1) if isinstance(r, TensorConstant) else None
        if counts is not None and (counts < 0).any():
            raise GraphadValueError(f"repeat: repeats must be non-negative, got {counts.tolist()}")
        length = r.type.shape[0] if r.ndim else 1
        if length not in (None, 1, n) and n is not None:
            raise ShapeError(
                f"repeat: {length} repeat counts for axis {self.axis} of "
                f"{describe(x)}, which has size {n}; give 1 or {n} counts"
            )
        size = None if counts is None else int(counts.sum())
        if length == 1 and size is not None:
            size = None if n is None else n * size
        return Apply(self, [x, r], [_resized(x, self.axis, size)])

    def perform(self, node, inputs, outputs):
        x, r = inputs
        n = x.shape[self.axis]
        if (r < 0).any():
            raise GraphadValueError(f"repeat: repeats must be non-negative, got {r.tolist()}")
        if r.ndim and r.size not in (1, n):
            raise ShapeError(
                f"repeat: {r.size} repeat counts for axis {self.axis} of an "
                f"array of shape {x.shape}; give 1 or {n} counts"
            )
        outputs[0][0] = np.repeat(x, r, axis=self.axis)

    def infer_shape(self, node, input_shapes):
        r, n = node.inputs[1], input_shapes[0][self.axis]
        s = node.outputs[0].type.shape[self.axis]
        if s is not None:
            size = _int64(s)
        elif r.ndim == 0:
            size = n * r
        else:  # one count broadcasts to every entry
            size = _sum(r) * m.switch(m.eq(input_shapes[1][0], 1), n, 1)
        return [_replace(input_shapes[0], self.axis, size)]

    def L_op(self, inputs, outputs, output_grads):
        (x, r), (g,) = inputs, output_grads
        if x.dtype in DISCRETE_DTYPES:
            return [None, None]
        dims = sh.shape_tuple(x)
        if r.ndim == 0:  # the copies of entry i are adjacent: sum them after a reshape
            copies = dims[: self.axis + 1] + (r,) + dims[self.axis + 1 :]
            return [sh.reshape(g, copies).sum(axis=self.axis + 1), None]
        # unequal counts: add each output slice into the entry it was copied from
        source = Repeat(0)(arange(dims[self.axis]), r)
        lead = (slice(None),) * self.axis
        return [inc_subtensor(sh.zeros_like(x)[lead + (source,)], g), None]

    def R_op(self, inputs, outputs, tangents):
        return [None if tangents[0] is None else self(tangents[0], inputs[1])]


def repeat(x, repeats, axis=None):
    """``np.repeat``: each entry of ``x`` repeated ``repeats`` times along ``axis``
    (``None`` flattens first); ``repeats`` is an int or one count per entry.

    >>> import graphad as ga
    >>> ga.repeat(ga.constant([1, 2]), [1, 2]).eval().tolist()
    [1, 2, 2]
    """
    x = as_tensor_variable(x)
    if isinstance(repeats, (list, tuple, np.ndarray)) or _is_int(repeats):
        repeats = np.asarray(repeats)
        if repeats.dtype.kind not in "iu":
            raise GraphadTypeError(f"repeat: repeats must be ints, got {repeats.tolist()!r}")
        repeats = constant(repeats.astype("int64"))
    if x.ndim == 0 and axis is not None:
        _axis(axis, 1, "repeat")  # NumPy treats a 0-d array as 1-d here
    if axis is None or x.ndim == 0:
        x, axis = sh.flatten(x), 0
    return Repeat(_axis(axis, x.ndim, "repeat"))(x, repeats)
