"""Reductions: sum prod max min all any argmax argmin, and the compositions built on
them (mean var std logsumexp).

``axis`` is None (all axes), an int or a tuple of ints, negative counting from the
end, as in NumPy; ``keepdims`` keeps reduced axes as size 1.
"""

from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from ..errors import GraphadTypeError, GraphadValueError, describe
from ..graph.basic import Apply
from ..graph.op import Op, operand
from . import math as m
from .type import DISCRETE_DTYPES, FLOAT_DTYPES, TensorType, check_dtype
from .variable import as_tensor_variable, constant


def normalize_axes(axis, ndim, what="axis"):
    """A sorted tuple of non-negative axes; raises naming the bad one."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (numbers.Integral, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (numbers.Integral, np.integer)) or isinstance(a, bool):
            raise GraphadTypeError(f"{what} entries must be ints, got {a!r}")
        if not -ndim <= a < ndim:
            raise GraphadValueError(f"{what} {a} is out of range for a {ndim}-d input")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise GraphadValueError(f"{what} {axis} repeats an axis")
    return tuple(sorted(out))


_REDUCERS = {
    "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
    "all": np.all, "any": np.any,
}  # fmt: skip


@lru_cache(maxsize=1024)
def _reduce_dtype(kind, dtype, acc_dtype):
    probe = np.ones(1, dtype=dtype)
    kwargs = {"dtype": acc_dtype} if acc_dtype else {}
    return np.asarray(_REDUCERS[kind](probe, **kwargs)).dtype.name


class Reduce(Op):
    """One NumPy reduction over ``axis`` (a sorted tuple); ``dtype`` is the accumulator.

    ``initial`` is NumPy's ``initial=``: the value an empty reduction gives (so a max
    with ``initial=-inf`` is defined on zero-size input).
    """

    __props__ = ("kind", "axis", "keepdims", "dtype", "initial")
    fusion_kind = "reduce"

    def __init__(self, kind, axis, keepdims=False, dtype=None, initial=None):
        if kind not in _REDUCERS:
            raise GraphadValueError(f"unknown reduction {kind!r}")
        self.kind, self.axis, self.keepdims = kind, tuple(axis), bool(keepdims)
        self.dtype = None if dtype is None else check_dtype(dtype)
        self.initial = initial

    identity = property(
        lambda self: {"sum": 0, "prod": 1, "all": True, "any": False}.get(self.kind)
    )

    def __str__(self):
        extra = ", keepdims" if self.keepdims else ""
        return f"{self.kind.capitalize()}{{axis={list(self.axis)}{extra}}}"

    def user_text(self, node, args):
        return reduction_text(args[0], self.kind, self.axis, self.keepdims)

    def make_node(self, x):
        x = as_tensor_variable(x)
        for a in self.axis:
            if not 0 <= a < x.ndim:
                raise GraphadValueError(f"{self.kind}: axis {a} is out of range for {x}")
        dtype = _reduce_dtype(self.kind, x.dtype, self.dtype)
        shape = _reduced_shape(x.type.shape, self.axis, self.keepdims)
        return Apply(self, [x], [TensorType(dtype, shape).make_variable()])

    def kernel_reduce(self, node):
        """This reduction as the tail of a fused kernel (None when kernels cannot do
        it: an initial value that is not a plain number)."""
        from ..kernel.ir import KReduce

        if self.initial is not None and not isinstance(self.initial, (int, float)):
            return None
        x, out = node.inputs[0], node.outputs[0]
        return KReduce(self.kind, self.axis, self.keepdims, x.ndim, out.dtype, self.initial)

    def perform(self, node, inputs, outputs):
        kwargs = {"dtype": self.dtype} if self.dtype else {}
        if self.initial is not None:
            kwargs["initial"] = self.initial
        result = _REDUCERS[self.kind](inputs[0], axis=self.axis, keepdims=self.keepdims, **kwargs)
        outputs[0][0] = np.asarray(result, dtype=node.outputs[0].dtype)

    def infer_shape(self, node, input_shapes):
        one = constant(np.int64(1))
        (shp,) = input_shapes
        if self.keepdims:
            return [tuple(one if i in self.axis else s for i, s in enumerate(shp))]
        return [tuple(s for i, s in enumerate(shp) if i not in self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (g,) = inputs, outputs, output_grads
        from . import math as m
        from .shape import broadcast_to

        if x.dtype in DISCRETE_DTYPES:
            return [None]
        g, out = _keep(g, self), _keep(out, self)
        if self.kind == "sum":
            grad = broadcast_to(g, x.shape)
        elif self.kind in ("max", "min"):
            grad = g * m.eq(x, out)
        elif self.kind == "prod":
            grad = g * _prod_others(x, self.axis)
        else:
            return [None]
        return [m.cast(grad, x.dtype)]

    def R_op(self, inputs, outputs, tangents):
        (x,), (out,), (t,) = inputs, outputs, tangents
        from . import math as m

        if t is None or x.dtype in DISCRETE_DTYPES:
            return [None]
        if self.kind == "sum":
            return [Reduce("sum", self.axis, self.keepdims, self.dtype)(t)]
        if self.kind in ("max", "min"):
            mask = m.eq(x, _keep(out, self))
            # with ties, the tangent is the mean over the extremal entries
            picked = Reduce("sum", self.axis, self.keepdims)(t * mask)
            count = Reduce("sum", self.axis, self.keepdims)(m.cast(mask, t.dtype))
            return [picked / count]
        if self.kind == "prod":
            return [Reduce("sum", self.axis, self.keepdims)(t * _prod_others(x, self.axis))]
        return [None]


def _keep(v, op):
    """``v`` (a reduction output) with the reduced axes put back as size 1."""
    if op.keepdims:
        return v
    from .shape import expand_dims

    return expand_dims(v, op.axis) if op.axis else v


def _prod_others(x, axis):
    """For each entry, the product of the other entries of its reduced slice; exact
    when entries are zero (no division by zero)."""
    from . import math as m

    is_zero = m.eq(x, 0)
    zeros = Reduce("sum", axis, True)(m.cast(is_zero, "int64"))
    nonzero_prod = Reduce("prod", axis, True)(m.switch(is_zero, 1, x))
    no_zero = nonzero_prod / m.switch(is_zero, 1, x)
    one_zero = m.switch(is_zero, nonzero_prod, 0)
    return m.switch(m.eq(zeros, 0), no_zero, m.switch(m.eq(zeros, 1), one_zero, 0))


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def reduction_text(operand_text, kind, axes, keepdims) -> str:
    """A reduction as its user writes it (error messages): ``(a + b).sum(axis=0)``."""
    axis = axes[0] if len(axes) == 1 else axes
    extra = ", keepdims=True" if keepdims else ""
    return f"{operand(operand_text)}.{kind}(axis={axis}{extra})"


def _reduce(kind, x, axis, keepdims, dtype=None):
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, f"{kind} of {describe(x)}: axis")
    return Reduce(kind, axes, keepdims, dtype)(x)


def sum(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    """Sum over ``axis``; integers accumulate in int64/uint64 as in NumPy.

    ``dtype`` is the dtype of the result and of the accumulator (NumPy's); ``acc_dtype``
    (Theano's) sets the accumulator alone: the result keeps the dtype it would have, so
    float32 data summed with ``acc_dtype="float64"`` gives a float32 sum.

    >>> import graphad as ga
    >>> ga.sum(ga.constant([[1, 2], [3, 4]]), axis=0).eval().tolist()
    [4, 6]
    >>> x = ga.fvector("x")
    >>> x.sum(acc_dtype="float64").dtype, ga.sum(x, dtype="float64").dtype
    ('float32', 'float64')
    """
    if acc_dtype is None:
        return _reduce("sum", x, axis, keepdims, dtype)
    x = as_tensor_variable(x)
    out_dtype = _reduce_dtype("sum", x.dtype, None) if dtype is None else check_dtype(dtype)
    return m.cast(_reduce("sum", x, axis, keepdims, acc_dtype), out_dtype)


def prod(x, axis=None, keepdims=False, dtype=None):
    """Product over ``axis``; its gradient is exact when entries are zero.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> float(ga.prod(x).eval({x: [2.0, 3.0, 4.0]}))
    24.0
    >>> ga.grad(ga.prod(x), x).eval({x: [2.0, 0.0, 4.0]}).tolist()
    [0.0, 8.0, 0.0]
    """
    return _reduce("prod", x, axis, keepdims, dtype)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis`` (NaN propagates); the gradient goes to the maximal entries.

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> ga.max(m, axis=0).eval({m: [[1.0, 5.0], [3.0, 2.0]]}).tolist()
    [3.0, 5.0]
    >>> x = ga.vector("x")
    >>> ga.grad(ga.max(x), x).eval({x: [1.0, 3.0, 2.0]}).tolist()
    [0.0, 1.0, 0.0]
    """
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Minimum over ``axis`` (NaN propagates).

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> ga.min(m, axis=1).eval({m: [[1.0, 5.0], [3.0, 2.0]]}).tolist()
    [1.0, 2.0]
    """
    return _reduce("min", x, axis, keepdims)


def all(x, axis=None, keepdims=False):
    """True where every entry along ``axis`` is nonzero.

    >>> import graphad as ga
    >>> ga.all(ga.constant([[1, 0], [2, 3]]), axis=1).eval().tolist()
    [False, True]
    """
    return _reduce("all", x, axis, keepdims)


def any(x, axis=None, keepdims=False):
    """True where some entry along ``axis`` is nonzero.

    >>> import graphad as ga
    >>> ga.any(ga.constant([[0, 0], [0, 3]]), axis=1).eval().tolist()
    [False, True]
    """
    return _reduce("any", x, axis, keepdims)


class ArgReduce(Op):
    """Index (int64) of the max/min along one axis, or into the flattened array."""

    __props__ = ("kind", "axis", "keepdims")

    def __init__(self, kind, axis, keepdims=False):
        self.kind, self.axis, self.keepdims = kind, axis, bool(keepdims)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if self.axis is None:
            shape = (1,) * x.ndim if self.keepdims else ()
        else:
            shape = _reduced_shape(x.type.shape, (self.axis,), self.keepdims)
        return Apply(self, [x], [TensorType("int64", shape).make_variable()])

    def perform(self, node, inputs, outputs):
        fn = np.argmax if self.kind == "argmax" else np.argmin
        result = fn(inputs[0], axis=self.axis, keepdims=self.keepdims)
        outputs[0][0] = np.asarray(result, dtype="int64")

    def infer_shape(self, node, input_shapes):
        (shp,) = input_shapes
        one = constant(np.int64(1))
        if self.axis is None:
            return [(one,) * len(shp) if self.keepdims else ()]
        if self.keepdims:
            return [tuple(one if i == self.axis else s for i, s in enumerate(shp))]
        return [tuple(s for i, s in enumerate(shp) if i != self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


def _arg(kind, x, axis, keepdims):
    x = as_tensor_variable(x)
    if axis is not None:
        if not isinstance(axis, (numbers.Integral, np.integer)):
            raise GraphadTypeError(f"{kind}: axis must be an int or None, got {axis!r}")
        axis = normalize_axes(axis, x.ndim, f"{kind} of {describe(x)}: axis")[0]
    return ArgReduce(kind, axis, keepdims)(x)


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum along ``axis`` (the first one on ties), int64.

    >>> import graphad as ga
    >>> m = ga.constant([[1, 7, 7], [9, 0, 2]])
    >>> ga.argmax(m, axis=1).eval().tolist(), int(ga.argmax(m).eval())
    ([1, 0], 3)
    """
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum along ``axis`` (the first one on ties), int64.

    >>> import graphad as ga
    >>> m = ga.constant([[4, 1, 1], [0, 5, 0]])
    >>> ga.argmin(m, axis=1).eval().tolist(), int(ga.argmin(m).eval())
    ([1, 0], 3)
    """
    return _arg("argmin", x, axis, keepdims)


def _count(x, axes):
    """The number of entries reduced over ``axes``, as an int64 scalar."""
    from .shape import shape_tuple

    dims = shape_tuple(x)
    n = constant(np.int64(1))
    for a in axes:
        n = n * dims[a]
    return n


def mean(x, axis=None, keepdims=False, dtype=None, acc_dtype=None):
    """Arithmetic mean; integers give float64, as in NumPy.

    ``dtype`` is the dtype of the result and of the accumulator (NumPy's);
    ``acc_dtype`` (Theano's) sets the accumulator alone.

    >>> import graphad as ga
    >>> float(ga.mean(ga.constant([1, 2, 3, 4])).eval())
    2.5
    >>> ga.mean(ga.ivector("i"), dtype="float32").dtype
    'float32'
    """
    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, f"mean of {describe(x)}: axis")
    if dtype is not None:
        out_dtype = check_dtype(dtype)
    elif x.dtype in FLOAT_DTYPES or x.dtype.startswith("complex"):
        out_dtype = x.dtype
    else:
        out_dtype = "float64"
    if acc_dtype is not None:
        acc = check_dtype(acc_dtype)
    else:
        acc = "float32" if out_dtype == "float16" else out_dtype
    total = Reduce("sum", axes, keepdims, acc)(x)
    return m.cast(total / m.cast(_count(x, axes), acc), out_dtype)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance with ``ddof`` delta degrees of freedom (0 by default, as in NumPy).

    >>> import graphad as ga
    >>> x = ga.constant([1.0, 2.0, 3.0, 4.0])
    >>> float(ga.var(x).eval()), round(float(ga.var(x, ddof=1).eval()), 4)
    (1.25, 1.6667)
    """
    from .math import cast, sqr

    x = as_tensor_variable(x)
    axes = normalize_axes(axis, x.ndim, f"var of {describe(x)}: axis")
    centered = x - mean(x, axes, keepdims=True)
    result = mean(sqr(centered), axes, keepdims)
    if ddof:
        n = cast(_count(x, axes), result.dtype)
        result = result * (n / (n - ddof))
    return result


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation, ``sqrt(var(x, ddof=ddof))``.

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> ga.std(m, axis=1).eval({m: [[1.0, 3.0], [2.0, 2.0]]}).tolist()
    [1.0, 0.0]
    """
    from .math import sqrt

    return sqrt(var(x, axis, keepdims, ddof))


def norm(x, L, axis=None, keepdims=False):
    """The ``L``-norm of ``x`` over ``axis`` (all axes by default), Theano's
    ``x.norm(L)``: ``sum(|x| ** L) ** (1 / L)``. ``L=1`` is ``sum(|x|)``, ``L=2``
    ``sqrt(sum(x ** 2))`` (its gradient at x = 0 is NaN, as sqrt'(0) = inf), ``L=inf``
    the largest ``|x|``, ``-inf`` the smallest, ``0`` the number of nonzero entries
    (NumPy's vector norms). Integers are taken as float64.

    >>> import graphad as ga
    >>> m = ga.matrix("m")
    >>> m.norm(1, axis=1).eval({m: [[3.0, -4.0], [1.0, 0.0]]}).tolist()
    [7.0, 1.0]
    """
    if isinstance(L, bool) or not isinstance(L, (numbers.Real, np.floating, np.integer)):
        raise GraphadTypeError(f"norm: L must be a number (1, 2, np.inf, ...), got {L!r}")
    x = as_tensor_variable(x)
    if x.dtype not in FLOAT_DTYPES:
        x = m.cast(x, "float64")
    axes = normalize_axes(axis, x.ndim, f"norm of {describe(x)}: axis")
    L = float(L)
    if L == 1:
        return sum(m.abs(x), axes, keepdims)
    if L == 2:
        return m.sqrt(sum(m.sqr(x), axes, keepdims))
    if L == np.inf:
        return max(m.abs(x), axes, keepdims)
    if L == -np.inf:
        return min(m.abs(x), axes, keepdims)
    if L == 0:
        return sum(m.cast(m.neq(x, 0), x.dtype), axes, keepdims)
    return sum(m.abs(x) ** L, axes, keepdims) ** (1.0 / L)


def max_shift(x, axes):
    """``max(x, axes, keepdims=True)``, 0 where that is infinite: what to subtract
    before ``exp`` so it cannot overflow (initial=-inf: an empty axis gives a shift of
    0 and log(0) = -inf after, as scipy and JAX do)."""
    from . import math as m

    shift = Reduce("max", axes, True, initial=-np.inf)(x)
    return m.switch(m.isinf(shift), 0, shift)


def logsumexp(x, axis=-1, keepdims=False):
    """``log(sum(exp(x), axis))`` computed with a max shift, so it never overflows.

    >>> import graphad as ga
    >>> round(float(ga.logsumexp(ga.constant([1000.0, 1000.0])).eval()), 4)
    1000.6931
    """
    from . import math as m
    from .shape import squeeze

    x = as_tensor_variable(x)
    if x.dtype not in FLOAT_DTYPES:
        x = m.cast(x, "float64")
    axes = normalize_axes(axis, x.ndim, f"logsumexp of {describe(x)}: axis")
    from ..autodiff.ops import disconnected_grad

    # the result does not depend on the shift: no gradient flows through it (it would
    # be zero, at the cost of passes over x)
    shift = disconnected_grad(max_shift(x, axes))
    result = m.log(sum(m.exp(x - shift), axes, keepdims=True)) + shift
    return result if keepdims else squeeze(result, axes)
