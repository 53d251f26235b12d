"""Arrays made from scratch: arange, eye and one_hot (zeros/ones/full live with Alloc in
shape.py)."""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import GraphadTypeError, GraphadValueError
from ..graph.basic import Apply
from ..graph.op import Op
from .math import cast, eq
from .type import INT_DTYPES, TensorType, check_dtype, result_dtype
from .variable import as_tensor_variable


class ARange(Op):
    """``np.arange(start, stop, step)`` with a fixed dtype."""

    __props__ = ("dtype",)
    fusion_kind = "opaque"

    def __init__(self, dtype):
        self.dtype = check_dtype(dtype)

    def make_node(self, start, stop, step):
        args = [as_tensor_variable(v) for v in (start, stop, step)]
        for name, v in zip(("start", "stop", "step"), args):
            if v.ndim != 0:
                raise GraphadValueError(f"arange: {name} must be a scalar, got {v} ({v.type})")
        length = None
        consts = [getattr(v, "data", None) for v in args]
        if all(c is not None for c in consts) and consts[2] != 0:
            length = len(np.arange(*[c.item() for c in consts]))
        return Apply(self, args, [TensorType(self.dtype, (length,)).make_variable()])

    def perform(self, node, inputs, outputs):
        start, stop, step = (v.item() for v in inputs)
        if step == 0:
            raise GraphadValueError("arange: step must not be zero")
        outputs[0][0] = np.arange(start, stop, step, dtype=self.dtype)

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values, as ``np.arange``; the dtype follows NumPy's for the arguments.

    >>> import graphad as ga
    >>> ga.arange(3).eval().tolist()
    [0, 1, 2]
    """
    if stop is None:
        start, stop = 0, start
    args = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        # NumPy promotes the arguments with its default int: np.arange(np.int32(3)) is
        # int64, np.arange(np.float32(3)) float64
        dtype = result_dtype(
            "int64", *[v.weak if getattr(v, "weak", None) is not None else v.dtype for v in args]
        )
    return ARange(dtype)(*args)


class Eye(Op):
    """``np.eye(n, m, k)``: ones on the k-th diagonal."""

    __props__ = ("dtype",)
    fusion_kind = "opaque"

    def __init__(self, dtype):
        self.dtype = check_dtype(dtype)

    def make_node(self, n, m, k):
        from .shape import _int64_scalar, static_value

        args = [_int64_scalar(v, f"eye: {name}") for v, name in zip((n, m, k), "nmk")]
        shape = (static_value(args[0]), static_value(args[1]))
        return Apply(self, args, [TensorType(self.dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        n, m, k = (int(v) for v in inputs)
        if n < 0 or m < 0:
            raise GraphadValueError(f"eye: negative size ({n}, {m})")
        outputs[0][0] = np.eye(n, m, k, dtype=self.dtype)

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs[:2])]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None, None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


def eye(n, m=None, k=0, dtype=None):
    """An ``n`` by ``m`` (default ``n``) array with ones on diagonal ``k``.

    >>> import graphad as ga
    >>> ga.eye(2).eval().tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> ga.eye(2, 3, k=1, dtype="int64").eval().tolist()
    [[0, 1, 0], [0, 0, 1]]
    """
    return Eye(check_dtype(dtype))(n, n if m is None else m, k)


def one_hot(indices, n, dtype=None):
    """``out[..., k] = 1`` where ``indices[...] == k``, else 0, as ``jax.nn.one_hot``: a
    last axis of length ``n`` added to the integer tensor ``indices``, in ``dtype``
    (floatX by default). ``n`` is a Python int or an integer scalar variable. An index
    outside ``[0, n)``, negative ones included, gives a row of zeros (no error, no
    counting from the end). No gradient flows to ``indices``.

    >>> import graphad as ga
    >>> y = ga.lvector("y")
    >>> ga.one_hot(y, 3).eval({y: [2, 0, 5]}).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    """
    indices = as_tensor_variable(indices)
    if indices.dtype not in INT_DTYPES:
        raise GraphadTypeError(
            f"one_hot: indices must be integers, got {indices} ({indices.type}); "
            "round and cast them first, e.g. ga.cast(indices, 'int64')"
        )
    if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n < 0:
        raise GraphadValueError(f"one_hot: n must not be negative, got {n}")
    size = as_tensor_variable(n)
    if size.ndim != 0 or size.dtype not in INT_DTYPES:
        raise GraphadTypeError(
            f"one_hot: n must be an int or an integer scalar variable, got {n!r} ({size.type})"
        )
    hit = eq(indices.dimshuffle(*range(indices.ndim), "x"), arange(size))
    return cast(hit, check_dtype(dtype))
