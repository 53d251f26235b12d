"""Elemwise: lifts a scalar op to tensors, with NumPy broadcasting and promotion.

Broadcasting is handled here, once: the static shape rule, the symbolic shape rule
(a ``None`` dimension may be 1 at run time), and ``sum_to_shape``, which reduces a
gradient back to each input's runtime shape so scalar derivative rules never see a
broadcast.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphadOverflowError, GraphadTypeError, ShapeError
from ..graph.basic import Apply
from ..graph.op import Op
from .type import FLOAT_DTYPES, TensorType, broadcast_static, result_dtype
from .variable import TensorConstant, as_tensor_variable


class Elemwise(Op):
    """A scalar op applied elementwise: ``Elemwise(Exp())(x)`` is ``ga.exp(x)``."""

    __props__ = ("scalar_op",)
    fusion_kind = "elemwise"

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    commutative = property(lambda self: self.scalar_op.commutative)
    associative = property(lambda self: self.scalar_op.associative)
    identity = property(lambda self: self.scalar_op.identity)

    def __str__(self):
        return f"Elemwise{{{self.scalar_op.name}}}"

    __repr__ = __str__

    def user_text(self, node, args):
        return self.scalar_op.user_text(args)

    def make_node(self, *inputs):
        name = self.scalar_op.name
        if len(inputs) != self.scalar_op.nin:
            raise GraphadTypeError(
                f"{name} takes {self.scalar_op.nin} argument(s), got {len(inputs)}"
            )
        inputs = promote_weak([as_tensor_variable(x) for x in inputs], self.scalar_op.promote)
        dtypes = tuple(x.dtype for x in inputs)
        try:
            dtype = self.scalar_op.output_dtype(*dtypes)
        except TypeError as exc:
            raise GraphadTypeError(
                f"{name} is not defined for inputs of dtype {', '.join(dtypes)} ({exc})"
            ) from None
        shape = broadcast_static([x.type.shape for x in inputs], what=f"the inputs of {name}")
        return Apply(self, inputs, [TensorType(dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        try:
            np.broadcast_shapes(*(np.shape(x) for x in inputs))
        except ValueError as exc:  # NumPy's text names the shapes
            raise ShapeError(str(exc)) from None
        result = self.scalar_op.impl(*inputs)
        outputs[0][0] = np.asarray(result, dtype=node.outputs[0].dtype)

    def infer_shape(self, node, input_shapes):
        out = node.outputs[0]
        return [broadcast_shapes_symbolic(input_shapes, out.type.shape)]

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        partials = self.scalar_op.partials(outputs[0], *inputs)
        grads = []
        for i, (x, d) in enumerate(zip(inputs, partials)):
            if d is None:
                grads.append(None)
            elif _is_zero(d):
                grads.append(_zeros_like_float(x))
            else:
                g = _scale(gz, d)
                if not _defines_shape(x, [v for j, v in enumerate(inputs) if j != i]):
                    g = sum_to_shape(g, x)
                grads.append(_cast_like(g, x))
        return grads

    def R_op(self, inputs, outputs, tangents):
        terms = [
            _scale(t, d)
            for t, d in zip(tangents, self.scalar_op.partials(outputs[0], *inputs))
            if t is not None and d is not None and not _is_zero(d)
        ]
        if not terms:
            return [_zeros_like_float(outputs[0])]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return [_cast_like(total, outputs[0])]


def promote_weak(inputs, which=None):
    """Give weak Python-scalar constants the dtype NumPy 2 would give them (NEP 50).

    >>> import graphad as ga
    >>> x = ga.vector("x", "float32")
    >>> promote_weak([x, as_tensor_variable(2.0)])[1].dtype
    'float32'
    """
    idx = range(len(inputs)) if which is None else which
    weak = [i for i in idx if getattr(inputs[i], "weak", None) is not None]
    if not weak:
        return inputs
    operands = [inputs[i].weak if i in weak else inputs[i].dtype for i in idx]
    common = result_dtype(*operands)
    out = list(inputs)
    for i in weak:
        if inputs[i].dtype != common:
            value = inputs[i].weak
            try:
                with np.errstate(all="ignore"):
                    data = np.asarray(value, dtype=common)
            except OverflowError as exc:  # NumPy 2 refuses e.g. uint8 + 300 the same way
                raise GraphadOverflowError(
                    f"{exc}: the Python scalar {value!r} takes the dtype {common} of the "
                    "array it meets (NEP 50); cast the array to a wider dtype first"
                ) from None
            data.setflags(write=False)
            out[i] = TensorConstant(TensorType(common, ()), data, weak=value)
    return out


def _defines_shape(x, others) -> bool:
    """True when ``x``'s runtime shape is surely the broadcast shape: every other
    input is statically 1 (or absent) wherever it overlaps x."""
    for v in others:
        if v.ndim > x.ndim:
            return False
        if any(s != 1 for s in v.type.shape):
            return False
    return True


def _is_zero(d) -> bool:
    return isinstance(d, (int, float)) and d == 0


def _scale(g, d):
    if isinstance(d, (int, float)):
        return g if d == 1 else (-g if d == -1 else g * d)
    return g * d


def _cast_like(g, x):
    if x.dtype in FLOAT_DTYPES and g.dtype != x.dtype:
        from .math import cast

        return cast(g, x.dtype)
    return g


def _zeros_like_float(x):
    from .shape import zeros_like

    return zeros_like(x, dtype=x.dtype if x.dtype in FLOAT_DTYPES else None)


def broadcast_shapes_symbolic(input_shapes, static_shape):
    """Symbolic broadcast of input shapes (lists of int64 scalars), right-aligned."""
    from .math import eq, switch
    from .variable import constant

    ndim = len(static_shape)
    result = []
    for axis in range(ndim):
        if static_shape[axis] is not None:
            result.append(constant(np.int64(static_shape[axis])))
            continue
        dims = []
        for shp in input_shapes:
            k = axis - (ndim - len(shp))
            if k >= 0 and not _is_const_one(shp[k]):
                dims.append(shp[k])
        dim = dims[0]
        for other in dims[1:]:
            dim = switch(eq(dim, 1), other, dim)
        result.append(dim)
    return result


def _is_const_one(v) -> bool:
    return isinstance(v, TensorConstant) and v.data.size == 1 and int(v.data) == 1


class SumToShape(Op):
    """Sum a gradient over the axes its input was broadcast along (at run time).

    Inputs: the gradient and the target shape (int64 vector); ``shape`` is the target's
    static shape. Leading extra axes are summed away; an axis the target has as 1 is
    summed with keepdims.
    """

    __props__ = ("shape",)
    fusion_kind = "reduce"
    view_map = {0: 0}  # the gradient itself when nothing was broadcast
    reads_values = False

    def __init__(self, shape):
        self.shape = tuple(shape)

    def make_node(self, g, target_shape):
        g = as_tensor_variable(g)
        target_shape = as_tensor_variable(target_shape)
        if g.ndim < len(self.shape):
            raise ShapeError(f"cannot sum a {g.ndim}-d gradient to shape {self.shape}")
        out = TensorType(g.dtype, self.shape).make_variable()
        return Apply(self, [g, target_shape], [out])

    def perform(self, node, inputs, outputs):
        g, shape = inputs
        shape = tuple(int(s) for s in shape)
        lead = g.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
        )
        result = np.sum(g, axis=axes, keepdims=True) if axes else g
        if result.shape[lead:] != shape:
            raise ShapeError(f"a gradient of shape {g.shape} does not reduce to shape {shape}")
        outputs[0][0] = np.asarray(result.reshape(shape), dtype=g.dtype)

    def infer_shape(self, node, input_shapes):
        from .shape import shape_tuple_of_vector

        return [shape_tuple_of_vector(node.inputs[1], len(self.shape))]

    def L_op(self, inputs, outputs, output_grads):
        from .shape import broadcast_to

        return [broadcast_to(output_grads[0], inputs[0].shape), None]

    def R_op(self, inputs, outputs, tangents):
        return [None if tangents[0] is None else SumToShape(self.shape)(tangents[0], inputs[1])]


def sum_to_shape(g, x):
    """``g`` summed over the axes along which ``x`` was broadcast to ``g``'s shape."""
    gshape, xshape = g.type.shape, x.type.shape
    if len(gshape) == len(xshape) and all(
        (xs is not None and xs != 1 and gs == xs) or (xs == 1 and gs == 1)
        for xs, gs in zip(xshape, gshape)
    ):
        return g
    return SumToShape(xshape)(g, x.shape)
