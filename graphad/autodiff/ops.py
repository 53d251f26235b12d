"""Gradient-shaping identities: zero_grad, disconnected_grad, grad_clip.

Each is the identity in the forward computation and changes only what flows back.
"""

from __future__ import annotations

from ..graph.basic import Apply
from ..graph.op import Op
from ..tensor.variable import as_tensor_variable


class _GradIdentity(Op):
    """Forward: the input itself (a view). Subclasses define the backward rule."""

    fusion_kind = "elemwise"
    view_map = {0: 0}
    reads_values = False

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type.make_variable()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


class ZeroGrad(_GradIdentity):
    """Passes a zero gradient back (the input stays connected)."""

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor.shape import zeros_like

        return [zeros_like(output_grads[0])]

    def R_op(self, inputs, outputs, tangents):
        from ..tensor.shape import zeros_like

        return [None if tangents[0] is None else zeros_like(tangents[0])]


class DisconnectedGrad(_GradIdentity):
    """Cuts the gradient path: what lies behind it is disconnected from the cost."""

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def R_op(self, inputs, outputs, tangents):
        return [None]


class GradClip(_GradIdentity):
    """Clips the gradient flowing back into ``[lower, upper]`` elementwise."""

    __props__ = ("lower", "upper")

    def __init__(self, lower, upper):
        if not lower <= upper:
            raise ValueError(f"grad_clip: lower bound {lower} exceeds upper bound {upper}")
        self.lower, self.upper = float(lower), float(upper)

    def L_op(self, inputs, outputs, output_grads):
        from ..tensor.math import clip

        return [clip(output_grads[0], self.lower, self.upper)]

    def R_op(self, inputs, outputs, tangents):
        return [tangents[0]]


def zero_grad(x):
    """``x`` in the forward pass; its gradient is zero (no error, unlike disconnected).

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> float(ga.grad(ga.zero_grad(x) * x, x).eval({x: 3.0}))
    3.0
    """
    return ZeroGrad()(x)


def disconnected_grad(x):
    """``x`` in the forward pass; no gradient flows through it (stop-gradient).

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> float(ga.grad(ga.disconnected_grad(x) * x, x).eval({x: 3.0}))
    3.0
    """
    return DisconnectedGrad()(x)


def grad_clip(x, lower_bound, upper_bound):
    """``x`` in the forward pass; the gradient through it is clipped elementwise.

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> y = ga.grad_clip(x, -1.0, 1.0) * 5.0
    >>> float(y.eval({x: 3.0})), float(ga.grad(y, x).eval({x: 3.0}))
    (15.0, 1.0)
    """
    return GradClip(lower_bound, upper_bound)(x)


__all__ = ["disconnected_grad", "grad_clip", "zero_grad"]
