"""Symbolic differentiation: grad (reverse mode), Rop (forward mode) and friends."""

from .forward import Rop
from .higher import Lop, hessian, hessian_vector_product, jacobian
from .ops import disconnected_grad, grad_clip, zero_grad
from .reverse import grad

__all__ = [
    "Lop",
    "Rop",
    "disconnected_grad",
    "grad",
    "grad_clip",
    "hessian",
    "hessian_vector_product",
    "jacobian",
    "zero_grad",
]
