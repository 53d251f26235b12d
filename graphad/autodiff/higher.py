"""Products with derivatives: Lop (vector-Jacobian) and the Hessian-vector product.

``hessian_vector_product`` is forward-over-reverse (Pearlmutter 1994): the ``Rop`` of
the gradient graph, so it costs about one gradient and never builds the Hessian.
"""

from __future__ import annotations

from ..errors import GraphadValueError
from ..graph.basic import Variable
from .forward import Rop
from .reverse import grad


def Lop(f, wrt, eval_points):
    """The vector-Jacobian product ``eval_points · J(f)`` with respect to ``wrt``.

    ``f`` and ``eval_points`` are a variable each or equal-length lists; the result
    has the structure of ``wrt``.

    >>> import graphad as ga
    >>> x, u = ga.vector("x"), ga.vector("u")
    >>> ga.Lop(ga.sqr(x), x, u).eval({x: [1.0, 2.0], u: [1.0, 1.0]}).tolist()
    [2.0, 4.0]
    """
    fs = [f] if isinstance(f, Variable) else list(f)
    points = [eval_points] if isinstance(eval_points, Variable) else list(eval_points)
    if len(fs) != len(points):
        raise GraphadValueError(f"Lop: {len(fs)} output(s) but {len(points)} eval point(s)")
    return grad(None, wrt, known_grads=dict(zip(fs, points)), disconnected_inputs="ignore")


def hessian_vector_product(cost, wrt, v):
    """``H(cost) · v`` by forward-over-reverse; lists in, lists out.

    >>> import graphad as ga
    >>> x, v = ga.vector("x"), ga.vector("v")
    >>> hv = ga.hessian_vector_product((x ** 3).sum(), x, v)
    >>> hv.eval({x: [1.0, 2.0], v: [1.0, 1.0]}).tolist()
    [6.0, 12.0]
    """
    single = isinstance(wrt, Variable)
    wrt_list = [wrt] if single else list(wrt)
    vs = [v] if isinstance(v, Variable) else list(v)
    if len(vs) != len(wrt_list):
        raise GraphadValueError(
            f"hessian_vector_product: {len(wrt_list)} wrt variable(s) but {len(vs)} vector(s)"
        )
    grads = grad(cost, wrt_list)
    result = Rop(grads, wrt_list, vs)
    return result[0] if single else result
