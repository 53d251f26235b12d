"""Neural-net ops: softmax and log_softmax (ops, so the stabilize pass can see them),
and the compositions sigmoid/softplus/relu (scalar ops, re-exported) and the
cross-entropies.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphadTypeError
from ..graph.basic import Apply
from ..graph.op import Op
from .math import relu, sigmoid, softplus  # noqa: F401  (re-exported)
from .reduce import normalize_axes
from .type import FLOAT_DTYPES
from .variable import as_tensor_variable


def _float_input(x, what):
    x = as_tensor_variable(x)
    if x.dtype not in FLOAT_DTYPES:
        from .math import cast

        x = cast(x, "float64")
    return x


class Softmax(Op):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis``."""

    __props__ = ("axis",)
    fusion_kind = "reduce"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x):
        x = _float_input(x, "softmax")
        normalize_axes(self.axis, x.ndim, "softmax: axis")
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        shifted = x - _safe_max(x, self.axis)
        e = np.exp(shifted)
        outputs[0][0] = np.asarray(e / e.sum(axis=self.axis, keepdims=True), dtype=x.dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        (s,), (g,) = outputs, output_grads
        return [s * (g - (g * s).sum(axis=self.axis, keepdims=True))]

    def R_op(self, inputs, outputs, tangents):
        (s,), (t,) = outputs, tangents
        if t is None:
            return [None]
        return [s * (t - (t * s).sum(axis=self.axis, keepdims=True))]


class LogSoftmax(Op):
    """``x - logsumexp(x)`` along ``axis``, computed with a max shift."""

    __props__ = ("axis",)
    fusion_kind = "reduce"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, x):
        x = _float_input(x, "log_softmax")
        normalize_axes(self.axis, x.ndim, "log_softmax: axis")
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs, outputs):
        (x,) = inputs
        shifted = x - _safe_max(x, self.axis)
        lse = np.log(np.exp(shifted).sum(axis=self.axis, keepdims=True))
        outputs[0][0] = np.asarray(shifted - lse, dtype=x.dtype)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        from .math import exp

        (y,), (g,) = outputs, output_grads
        return [g - exp(y) * g.sum(axis=self.axis, keepdims=True)]

    def R_op(self, inputs, outputs, tangents):
        from .math import exp

        (y,), (t,) = outputs, tangents
        if t is None:
            return [None]
        return [t - (exp(y) * t).sum(axis=self.axis, keepdims=True)]


def _safe_max(x, axis):
    if x.shape[axis] == 0:
        return np.zeros_like(x.sum(axis=axis, keepdims=True))
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (the last by default).

    >>> import graphad as ga
    >>> ga.softmax(ga.constant([0.0, 0.0])).eval().tolist()
    [0.5, 0.5]
    """
    x = as_tensor_variable(x)
    return Softmax(normalize_axes(axis, max(x.ndim, 1), "softmax: axis")[0])(x)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, finite for any finite logits.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.log_softmax(x).eval({x: [0.0, 0.0]}).round(4).tolist()
    [-0.6931, -0.6931]
    >>> ga.log_softmax(x).eval({x: [0.0, 1000.0]}).tolist()
    [-1000.0, 0.0]
    """
    x = as_tensor_variable(x)
    return LogSoftmax(normalize_axes(axis, max(x.ndim, 1), "log_softmax: axis")[0])(x)


def categorical_crossentropy(probs, targets):
    """Per-row cross-entropy ``-sum(targets * log(probs), axis=-1)``.

    ``targets`` are integer class labels (one per row) or a matrix of target
    probabilities. Theano's argument order: probabilities first.

    >>> import graphad as ga
    >>> p = ga.constant([[0.5, 0.5], [0.9, 0.1]])
    >>> ga.categorical_crossentropy(p, ga.constant([0, 0])).eval().round(4).tolist()
    [0.6931, 0.1054]
    """
    from .indexing import take_along_last
    from .math import log

    probs, targets = as_tensor_variable(probs), as_tensor_variable(targets)
    if targets.dtype.startswith(("int", "uint")):
        if targets.ndim != probs.ndim - 1:
            raise GraphadTypeError(
                f"categorical_crossentropy: integer targets {targets} must have one "
                f"dimension less than probs {probs} ({probs.ndim}-d)"
            )
        return -log(take_along_last(probs, targets))
    if targets.ndim != probs.ndim:
        raise GraphadTypeError(
            f"categorical_crossentropy: target probabilities {targets} must have the same "
            f"rank as probs {probs}; pass integer labels for one label per row"
        )
    return -(targets * log(probs)).sum(axis=-1)


def binary_crossentropy(probs, targets):
    """Elementwise ``-(t log p + (1 - t) log(1 - p))``.

    >>> import graphad as ga
    >>> p, t = ga.vector("p"), ga.vector("t")
    >>> ga.binary_crossentropy(p, t).eval({p: [0.5, 0.9], t: [1.0, 0.0]}).round(4).tolist()
    [0.6931, 2.3026]
    """
    from .math import log

    probs, targets = as_tensor_variable(probs), as_tensor_variable(targets)
    return -(targets * log(probs) + (1 - targets) * log(1 - probs))
