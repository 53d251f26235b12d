"""Shape ops: shape, reshape, dimshuffle/transpose, broadcast_to, alloc and friends.

Symbolic shapes are int64: ``x.shape`` is an int64 vector and ``shape_tuple(x)`` a
tuple of int64 scalars, constant where the static shape knows the size.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import GraphadTypeError, GraphadValueError, ShapeError
from ..graph.basic import Apply, Variable
from ..graph.op import Op, operand
from .type import INT_DTYPES, TensorType, check_dtype
from .variable import TensorConstant, as_tensor_variable, constant


def _int64_scalar(v, what):
    v = as_tensor_variable(v)
    if v.ndim != 0 or v.dtype not in INT_DTYPES or v.dtype == "uint64":
        raise GraphadTypeError(f"{what} must be an integer scalar, got {v} of type {v.type}")
    if v.dtype != "int64":
        from .math import cast

        v = cast(v, "int64")
    return v


def static_value(v):
    """The int value of a constant int scalar, else None."""
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, TensorConstant) and v.ndim == 0:
        return int(v.data)
    return None


class Shape(Op):
    """``x.shape`` as an int64 vector."""

    fusion_kind = "injective"
    reads_values = False

    def user_text(self, node, args):
        return f"{operand(args[0])}.shape"

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,)).make_variable()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.array(inputs[0].shape, dtype="int64")

    def infer_shape(self, node, input_shapes):
        return [(constant(np.int64(node.inputs[0].ndim)),)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


class ShapeI(Op):
    """``x.shape[i]`` as an int64 scalar."""

    __props__ = ("i",)
    fusion_kind = "injective"
    reads_values = False

    def __init__(self, i):
        self.i = int(i)

    def user_text(self, node, args):
        return f"{operand(args[0])}.shape[{self.i}]"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise GraphadValueError(f"shape index {self.i} out of range for {x.ndim}-d {x}")
        return Apply(self, [x], [TensorType("int64", ()).make_variable()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.array(inputs[0].shape[self.i], dtype="int64")

    def infer_shape(self, node, input_shapes):
        return [()]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


def shape(x):
    """The symbolic shape of ``x`` (an int64 vector).

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> ga.shape(m).eval({m: [[1.0, 2.0]]}).tolist()
    [1, 2]
    """
    return Shape()(x)


def shape_tuple(x):
    """A tuple of int64 scalars, constants where ``x``'s static shape is known."""
    return tuple(
        constant(np.int64(s)) if s is not None else ShapeI(i)(x) for i, s in enumerate(x.type.shape)
    )


def shape_tuple_of_vector(v, n):
    """The ``n`` entries of an int64 shape vector as scalars."""
    if isinstance(v, TensorConstant):
        return tuple(constant(np.int64(s)) for s in v.data)
    if v.owner is not None and isinstance(v.owner.op, MakeVector):
        return tuple(v.owner.inputs)
    if v.owner is not None and isinstance(v.owner.op, Shape):
        return shape_tuple(v.owner.inputs[0])
    return tuple(v[i] for i in range(n))


class MakeVector(Op):
    """A vector from scalars of one dtype: ``make_vector(a, b, c)``."""

    __props__ = ("dtype",)
    fusion_kind = "injective"

    def __init__(self, dtype="int64"):
        self.dtype = check_dtype(dtype)

    def user_text(self, node, args):
        return f"({', '.join(args)}{',' if len(args) == 1 else ''})"

    def make_node(self, *scalars):
        scalars = [as_tensor_variable(s) for s in scalars]
        for i, s in enumerate(scalars):
            if s.ndim != 0:
                raise GraphadTypeError(f"make_vector: entry {i} ({s}) is not a scalar")
        from .math import cast

        scalars = [cast(s, self.dtype) for s in scalars]
        out = TensorType(self.dtype, (len(scalars),)).make_variable()
        return Apply(self, scalars, [out])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.array(inputs, dtype=self.dtype).reshape(len(inputs))

    def infer_shape(self, node, input_shapes):
        return [(constant(np.int64(len(node.inputs))),)]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0][i] for i in range(len(inputs))]

    def R_op(self, inputs, outputs, tangents):
        if all(t is None for t in tangents):
            return [None]
        from .shape import zeros_like as _z

        parts = [t if t is not None else _z(x) for t, x in zip(tangents, inputs)]
        return [MakeVector(self.dtype)(*parts)]


def as_shape_vector(shp, what="shape"):
    """An int64 shape vector from a tuple of ints/scalars or an int vector variable."""
    if isinstance(shp, Variable):
        v = as_tensor_variable(shp)
        if v.ndim == 0:
            return MakeVector()(_int64_scalar(v, what))
        if v.ndim != 1 or not v.dtype.startswith(("int", "uint")):
            raise GraphadTypeError(f"{what} must be an int vector, got {v} of type {v.type}")
        return v
    if isinstance(shp, (numbers.Integral, np.integer)):
        shp = (shp,)
    try:
        entries = list(shp)
    except TypeError:
        raise GraphadTypeError(f"{what} must be a tuple of ints, got {shp!r}") from None
    if all(isinstance(s, (numbers.Integral, np.integer)) for s in entries):
        return constant(np.array(entries, dtype="int64").reshape(len(entries)))
    return MakeVector()(*[_int64_scalar(s, f"{what} entry {i}") for i, s in enumerate(entries)])


def static_entries(vec):
    """Known int entries of a shape vector (None where unknown)."""
    if isinstance(vec, TensorConstant):
        return [int(s) for s in vec.data]
    n = vec.type.shape[0]
    if vec.owner is not None and isinstance(vec.owner.op, MakeVector):
        return [static_value(s) for s in vec.owner.inputs]
    if vec.owner is not None and isinstance(vec.owner.op, Shape):
        return list(vec.owner.inputs[0].type.shape)
    return [None] * (n or 0)


class DimShuffle(Op):
    """Permute, drop (size-1) and insert ('x') axes: ``x.dimshuffle(1, "x", 0)``."""

    __props__ = ("pattern",)
    fusion_kind = "injective"
    view_map = {0: 0}
    reads_values = False

    def __init__(self, pattern):
        self.pattern = tuple(p if p == "x" else int(p) for p in pattern)
        kept = [p for p in self.pattern if p != "x"]
        if len(set(kept)) != len(kept):
            raise GraphadValueError(f"dimshuffle pattern {pattern} repeats an axis")

    def user_text(self, node, args):
        if self.pattern == (1, 0):
            return f"{operand(args[0])}.T"
        return f"{operand(args[0])}.dimshuffle({', '.join(map(repr, self.pattern))})"

    def make_node(self, x):
        x = as_tensor_variable(x)
        kept = [p for p in self.pattern if p != "x"]
        for p in kept:
            if not 0 <= p < x.ndim:
                raise GraphadValueError(
                    f"dimshuffle pattern {self.pattern} names axis {p}, but {x} has "
                    f"{x.ndim} dimension(s)"
                )
        for axis in range(x.ndim):
            if axis not in kept and x.type.shape[axis] not in (1, None):
                raise ShapeError(
                    f"dimshuffle {self.pattern} drops axis {axis} of {x}, which has size "
                    f"{x.type.shape[axis]}; only size-1 axes can be dropped"
                )
        shp = tuple(1 if p == "x" else x.type.shape[p] for p in self.pattern)
        return Apply(self, [x], [TensorType(x.dtype, shp).make_variable()])

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        kept = [p for p in self.pattern if p != "x"]
        dropped = [a for a in range(x.ndim) if a not in kept]
        for a in dropped:
            if x.shape[a] != 1:
                raise ShapeError(
                    f"dimshuffle {self.pattern} drops axis {a}, but it has size {x.shape[a]}"
                )
        y = np.transpose(x, kept + dropped)[(Ellipsis,) + (0,) * len(dropped)]
        y = y.reshape([1 if p == "x" else x.shape[p] for p in self.pattern])
        outputs[0][0] = y

    def infer_shape(self, node, input_shapes):
        (shp,) = input_shapes
        one = constant(np.int64(1))
        return [tuple(one if p == "x" else shp[p] for p in self.pattern)]

    def L_op(self, inputs, outputs, output_grads):
        (x,) = inputs
        (g,) = output_grads
        kept = [p for p in self.pattern if p != "x"]
        # drop the inserted axes, then put back the dropped ones in their places
        g = DimShuffle([i for i, p in enumerate(self.pattern) if p != "x"])(g)
        order = []
        for axis in range(x.ndim):
            order.append(kept.index(axis) if axis in kept else "x")
        return [DimShuffle(order)(g)]

    def R_op(self, inputs, outputs, tangents):
        return [None if tangents[0] is None else self(tangents[0])]


def dimshuffle(x, pattern):
    """Reorder axes; ``"x"`` inserts a broadcastable axis; unlisted size-1 axes drop.

    >>> import graphad as ga
    >>> ga.dimshuffle(ga.matrix("m"), (1, "x", 0)).ndim
    3
    """
    return DimShuffle(pattern)(x)


def transpose(x, axes=None):
    """Permute axes (reverse them by default), as ``np.transpose``.

    >>> import graphad as ga
    >>> ga.transpose(ga.constant([[1, 2, 3], [4, 5, 6]])).eval().tolist()
    [[1, 4], [2, 5], [3, 6]]
    >>> ga.transpose(ga.tensor3("t", shape=(2, 3, 4)), (1, 0, 2)).type
    TensorType(float64, (3, 2, 4))
    """
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(_normalize_axis(a, x.ndim, "transpose") for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise GraphadValueError(f"transpose axes {axes} are not a permutation of {x.ndim} axes")
    return DimShuffle(axes)(x)


def _normalize_axis(axis, ndim, what):
    if not isinstance(axis, (numbers.Integral, np.integer)):
        raise GraphadTypeError(f"{what}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise GraphadValueError(f"{what}: axis {axis} is out of range for {ndim} dimension(s)")
    return int(axis) % max(ndim, 1)


def expand_dims(x, axis):
    """Insert size-1 axes at ``axis`` (an int or tuple), as ``np.expand_dims``.

    >>> import graphad as ga
    >>> ga.expand_dims(ga.constant([1, 2]), 0).eval().tolist()
    [[1, 2]]
    >>> ga.expand_dims(ga.vector("x"), (0, 2)).type
    TensorType(float64, (1, None, 1))
    """
    x = as_tensor_variable(x)
    axes = (axis,) if isinstance(axis, (numbers.Integral, np.integer)) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    axes = sorted(_normalize_axis(a, out_ndim, "expand_dims") for a in axes)
    if len(set(axes)) != len(axes):
        raise GraphadValueError(f"expand_dims: repeated axis in {axis}")
    rest = iter(range(x.ndim))
    return DimShuffle(["x" if i in axes else next(rest) for i in range(out_ndim)])(x)


def squeeze(x, axis=None):
    """Drop size-1 axes (those statically 1, or ``axis``, checked at run time).

    >>> import graphad as ga
    >>> ga.squeeze(ga.constant([[1], [2]])).eval().tolist()
    [1, 2]
    >>> m = ga.matrix("m")
    >>> ga.squeeze(m, axis=1).eval({m: [[1.0], [2.0]]}).tolist()
    [1.0, 2.0]
    """
    x = as_tensor_variable(x)
    if axis is None:
        drop = {i for i, s in enumerate(x.type.shape) if s == 1}
    else:
        axes = (axis,) if isinstance(axis, (numbers.Integral, np.integer)) else tuple(axis)
        drop = {_normalize_axis(a, x.ndim, "squeeze") for a in axes}
    return DimShuffle([i for i in range(x.ndim) if i not in drop])(x)


class Reshape(Op):
    """``x`` with a new shape (an int64 vector, one entry may be -1)."""

    __props__ = ("ndim",)
    fusion_kind = "injective"
    view_map = {0: 0}
    reads_values = False

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def user_text(self, node, args):
        return f"{operand(args[0])}.reshape({args[1]})"

    def make_node(self, x, shp):
        x = as_tensor_variable(x)
        shp = as_shape_vector(shp)
        if shp.type.shape[0] not in (None, self.ndim):
            raise ShapeError(
                f"reshape to {self.ndim} dims given a shape of length {shp.type.shape[0]}"
            )
        entries = static_entries(shp) or [None] * self.ndim
        if sum(e == -1 for e in entries) > 1:
            raise GraphadValueError("reshape: only one dimension can be -1")
        for e in entries:
            if e is not None and e < -1:
                raise GraphadValueError(f"reshape: negative dimension {e} in {entries}")
        size = _static_size(x.type.shape)
        known = [e for e in entries if e is not None and e != -1]
        if -1 in entries:
            rest = int(np.prod(known)) if known else 1
            complete = size is not None and len(known) == self.ndim - 1 and rest
            fill = size // rest if complete else None
            entries = [fill if e == -1 else e for e in entries]
        if size is not None and None not in entries and int(np.prod(entries)) != size:
            raise ShapeError(f"cannot reshape {x} of shape {x.type.shape} to {tuple(entries)}")
        out = TensorType(x.dtype, entries).make_variable()
        return Apply(self, [x, shp], [out])

    def perform(self, node, inputs, outputs):
        x, shp = inputs
        try:
            outputs[0][0] = np.reshape(x, tuple(int(s) for s in shp))
        except ValueError as exc:
            raise ShapeError(
                f"reshape of an array of shape {x.shape} to {tuple(int(s) for s in shp)}: {exc}"
            ) from None

    def infer_shape(self, node, input_shapes):
        x, shp = node.inputs
        entries = static_entries(shp)
        out_static = node.outputs[0].type.shape
        if -1 not in entries:
            return [shape_tuple_of_vector(shp, self.ndim)]
        return [
            tuple(
                constant(np.int64(s)) if s is not None else ShapeI(i)(node.outputs[0])
                for i, s in enumerate(out_static)
            )
        ]

    def L_op(self, inputs, outputs, output_grads):
        return [reshape(output_grads[0], shape(inputs[0])), None]

    def R_op(self, inputs, outputs, tangents):
        return [None if tangents[0] is None else self(tangents[0], inputs[1])]


def _static_size(shp):
    if any(s is None for s in shp):
        return None
    return int(np.prod(shp, dtype=np.int64)) if shp else 1


def reshape(x, newshape, ndim=None):
    """``x`` reshaped; ``newshape`` is a tuple of ints/scalars or an int vector.

    >>> import graphad as ga
    >>> ga.reshape(ga.matrix("m"), (-1,)).ndim
    1
    """
    shp = as_shape_vector(newshape)
    n = shp.type.shape[0] if ndim is None else ndim
    if n is None:
        raise GraphadValueError(
            "reshape with a symbolic shape vector of unknown length needs ndim="
        )
    return Reshape(n)(x, shp)


def flatten(x, ndim=1):
    """Collapse the trailing axes so the result has ``ndim`` dimensions.

    >>> import graphad as ga
    >>> t = ga.arange(8).reshape((2, 2, 2))
    >>> ga.flatten(t).eval().tolist()
    [0, 1, 2, 3, 4, 5, 6, 7]
    >>> ga.flatten(t, ndim=2).eval().tolist()
    [[0, 1, 2, 3], [4, 5, 6, 7]]
    """
    x = as_tensor_variable(x)
    if not 1 <= ndim <= max(x.ndim, 1):
        raise GraphadValueError(f"flatten: ndim={ndim} must be between 1 and {x.ndim}")
    dims = shape_tuple(x)
    if ndim == 1:
        return reshape(x, (-1,))
    # the trailing size explicitly, not -1: NumPy cannot infer -1 when a kept axis is 0
    trailing = x.type.shape[ndim - 1 :]
    if None not in trailing:
        rest = int(np.prod(trailing, dtype=np.int64))
    else:
        rest = dims[ndim - 1]
        for d in dims[ndim:]:
            rest = rest * d
    return reshape(x, tuple(dims[: ndim - 1]) + (rest,))


class Alloc(Op):
    """An array of a given shape filled with ``value`` (broadcast to that shape)."""

    fusion_kind = "injective"

    def make_node(self, value, *shp):
        value = as_tensor_variable(value)
        dims = [_int64_scalar(s, f"alloc: shape entry {i}") for i, s in enumerate(shp)]
        if value.ndim > len(dims):
            raise ShapeError(
                f"alloc: value of rank {value.ndim} does not fit shape rank {len(dims)}"
            )
        static = [static_value(d) for d in dims]
        for i, s in enumerate(static):
            if s is not None and s < 0:
                raise GraphadValueError(f"alloc: negative dimension {s} at position {i}")
        out = TensorType(value.dtype, static).make_variable()
        return Apply(self, [value] + dims, [out])

    def perform(self, node, inputs, outputs):
        value, *dims = inputs
        target = tuple(int(d) for d in dims)
        if any(d < 0 for d in target):
            raise GraphadValueError(f"alloc: negative dimension in shape {target}")
        try:
            out = np.empty(target, dtype=node.outputs[0].dtype)
        except (MemoryError, ValueError) as exc:
            raise MemoryError(f"cannot allocate an array of shape {target}: {exc}") from None
        out[...] = value
        outputs[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def L_op(self, inputs, outputs, output_grads):
        from .elemwise import sum_to_shape

        return [sum_to_shape(output_grads[0], inputs[0])] + [None] * (len(inputs) - 1)

    def R_op(self, inputs, outputs, tangents):
        if tangents[0] is None:
            return [None]
        return [self(tangents[0], *inputs[1:])]


def alloc(value, *shp):
    """``value`` broadcast into a new array of shape ``shp``; dtype is ``value``'s.

    >>> import graphad as ga
    >>> ga.alloc(ga.constant([1.0, 2.0]), 2, 2).eval().tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    >>> n = ga.scalar("n", "int64")
    >>> ga.alloc(0.5, n).eval({n: 3}).tolist()
    [0.5, 0.5, 0.5]
    """
    if len(shp) == 1 and isinstance(shp[0], (tuple, list)):
        shp = tuple(shp[0])
    return Alloc()(value, *shp)


def full(shape, fill_value, dtype=None):
    """A new array of ``shape`` filled with ``fill_value`` (NumPy's dtype for it).

    >>> import graphad as ga
    >>> ga.full((2, 2), 7).eval().tolist()
    [[7, 7], [7, 7]]
    >>> ga.full(3, 0.5, dtype="float32").dtype
    'float32'
    """
    value = as_tensor_variable(fill_value)
    if dtype is not None and getattr(value, "weak", None) is not None:
        value = constant(value.weak, dtype=dtype)  # np.full((2,), 300, "uint8") overflows
    elif dtype is not None:
        from .math import cast

        value = cast(value, dtype)
    elif value.ndim == 0 and getattr(value, "weak", None) is not None:
        value = constant(np.asarray(value.weak))
    return Alloc()(value, *_dims_of(shape))


def _dims_of(shape):
    if isinstance(shape, Variable):
        vec = as_shape_vector(shape)
        return shape_tuple_of_vector(vec, vec.type.shape[0])
    if isinstance(shape, (numbers.Integral, np.integer)):
        return (shape,)
    return tuple(shape)


def zeros(shape, dtype=None):
    """A new array of zeros (dtype: floatX unless given).

    >>> import graphad as ga
    >>> ga.zeros((2, 3)).eval().tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    >>> x = ga.vector("x")
    >>> ga.zeros(x.shape, dtype="int32").eval({x: [5.0, 6.0]}).tolist()
    [0, 0]
    """
    return Alloc()(constant(0, dtype=check_dtype(dtype)), *_dims_of(shape))


def ones(shape, dtype=None):
    """A new array of ones (dtype: floatX unless given).

    >>> import graphad as ga
    >>> ga.ones(3).eval().tolist()
    [1.0, 1.0, 1.0]
    >>> ga.ones((2, 1), dtype="int64").eval().tolist()
    [[1], [1]]
    """
    return Alloc()(constant(1, dtype=check_dtype(dtype)), *_dims_of(shape))


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape and dtype (or ``dtype``).

    >>> import graphad as ga
    >>> x = ga.vector("x", "int32")
    >>> z = ga.zeros_like(x)
    >>> z.dtype, z.eval({x: [5, 6, 7]}).tolist()
    ('int32', [0, 0, 0])
    """
    x = as_tensor_variable(x)
    return Alloc()(constant(0, dtype=dtype or x.dtype), *shape_tuple(x))


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape and dtype (or ``dtype``).

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> ga.ones_like(m, dtype="bool").eval({m: [[0.5, 1.5]]}).tolist()
    [[True, True]]
    """
    x = as_tensor_variable(x)
    return Alloc()(constant(1, dtype=dtype or x.dtype), *shape_tuple(x))


class BroadcastTo(Op):
    """``np.broadcast_to``: a read-only view of ``x`` with a larger shape."""

    fusion_kind = "injective"
    view_map = {0: 0}
    reads_values = False

    def user_text(self, node, args):
        shape = ", ".join(args[1:]) + ("," if len(args) == 2 else "")
        return f"ga.broadcast_to({args[0]}, ({shape}))"

    def make_node(self, x, *shp):
        x = as_tensor_variable(x)
        dims = [_int64_scalar(s, f"broadcast_to: shape entry {i}") for i, s in enumerate(shp)]
        static = [static_value(d) for d in dims]
        if x.ndim > len(dims):
            raise ShapeError(f"broadcast_to: cannot broadcast {x} ({x.ndim}-d) to {len(dims)} dims")
        pad = [1] * (len(dims) - x.ndim) + list(x.type.shape)
        for axis, (have, want) in enumerate(zip(pad, static)):
            if have not in (None, 1) and want is not None and have != want:
                raise ShapeError(
                    f"broadcast_to: {x} of shape {x.type.shape} cannot broadcast to "
                    f"{tuple(static)} (axis {axis})"
                )
        shp_out = [
            w if w is not None else (h if h not in (None, 1) else None) for h, w in zip(pad, static)
        ]
        return Apply(self, [x] + dims, [TensorType(x.dtype, shp_out).make_variable()])

    def perform(self, node, inputs, outputs):
        x, *dims = inputs
        try:
            outputs[0][0] = np.broadcast_to(x, tuple(int(d) for d in dims))
        except ValueError as exc:
            raise ShapeError(f"broadcast_to: {exc}") from None

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs[1:])]

    def L_op(self, inputs, outputs, output_grads):
        from .elemwise import sum_to_shape

        return [sum_to_shape(output_grads[0], inputs[0])] + [None] * (len(inputs) - 1)

    def R_op(self, inputs, outputs, tangents):
        return [None if tangents[0] is None else self(tangents[0], *inputs[1:])]


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` (a tuple or an int vector), as ``np.broadcast_to``.

    >>> import graphad as ga
    >>> ga.broadcast_to(ga.constant([1, 2]), (3, 2)).eval().tolist()
    [[1, 2], [1, 2], [1, 2]]
    """
    return BroadcastTo()(x, *_dims_of(shape))


class SpecifyShape(Op):
    """``x``, promised to have the static ``shape`` entries that are not None (checked
    when it runs). ``givens`` puts it in place of an input declared with a static shape
    when the replacement's shape is known only at run time."""

    __props__ = ("shape",)
    fusion_kind = "injective"
    view_map = {0: 0}
    reads_values = False

    def __init__(self, shape):
        self.shape = tuple(None if s is None else int(s) for s in shape)

    def user_text(self, node, args):
        return f"ga.specify_shape({args[0]}, {self.shape})"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != len(self.shape):
            raise ShapeError(f"specify_shape: {x} is {x.ndim}-d, the shape {self.shape} is not")
        merged = []
        for axis, (have, want) in enumerate(zip(x.type.shape, self.shape)):
            if have is not None and want is not None and have != want:
                raise ShapeError(f"specify_shape: dimension {axis} of {x} is {have}, not {want}")
            merged.append(have if want is None else want)
        return Apply(self, [x], [TensorType(x.dtype, tuple(merged)).make_variable()])

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        for axis, want in enumerate(self.shape):
            if want is not None and x.shape[axis] != want:
                raise ShapeError(
                    f"dimension {axis} has size {x.shape[axis]} at run time, but the variable "
                    f"it stands for was declared with shape {self.shape}"
                )
        outputs[0][0] = x.view()

    def infer_shape(self, node, input_shapes):
        return [
            tuple(
                d if s is None else constant(np.int64(s))
                for s, d in zip(self.shape, input_shapes[0])
            )
        ]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]

    def R_op(self, inputs, outputs, tangents):
        return [tangents[0]]


def specify_shape(x, shape):
    """``x`` with the static shape ``shape`` (None entries stay unknown), checked when
    the function runs.

    >>> import graphad as ga
    >>> v = ga.specify_shape(ga.vector("v"), (3,))
    >>> v.type.shape
    (3,)
    >>> v.eval({v.owner.inputs[0]: [1.0, 2.0, 3.0]}).tolist()
    [1.0, 2.0, 3.0]
    """
    x = as_tensor_variable(x)
    if all(s is None for s in shape) or tuple(shape) == x.type.shape:
        return x
    return SpecifyShape(shape)(x)
