"""Products with derivatives: Lop (vector-Jacobian) and the Hessian-vector product.

``hessian_vector_product`` is forward-over-reverse (Pearlmutter 1994): the ``Rop`` of
the gradient graph, so it costs about one gradient and never builds the Hessian.
"""

from __future__ import annotations

from ..errors import GraphadValueError, NonDifferentiableError
from ..graph.basic import Variable
from ..tensor.type import TensorType
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


def jacobian(expr, wrt):
    """The Jacobian of ``expr`` with respect to ``wrt``: shape ``expr.shape + wrt.shape``
    (a list of them when ``wrt`` is a list).

    Built as one ``Map`` node over the rows of an identity matrix, each row a
    vector-Jacobian product: no Python loop over output entries.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.jacobian(ga.sqr(x), x).eval({x: [1.0, 2.0]}).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    from ..tensor.construct import eye
    from ..tensor.loop import map_rows
    from ..tensor.shape import flatten, reshape, shape_tuple
    from ..tensor.type import FLOAT_DTYPES
    from ..tensor.variable import as_tensor_variable
    from .reverse import _tag_grad_nodes

    expr = as_tensor_variable(expr)
    single = isinstance(wrt, Variable)
    wrt_list = [wrt] if single else list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable) or w.dtype not in FLOAT_DTYPES:
            raise NonDifferentiableError(
                f"jacobian: {w!r} is not a float variable; only floats have derivatives"
            )
    flat = flatten(expr) if expr.ndim != 1 else expr
    if expr.ndim == 0:
        flat = reshape(expr, (1,))
    dtype = flat.dtype if flat.dtype in FLOAT_DTYPES else "float64"
    row = TensorType(dtype, (None,)).make_variable("cotangent")
    rows = eye(flat.shape[0], dtype=dtype)
    result = []
    for w in wrt_list:
        vjp = grad(None, w, known_grads={flat: row}, disconnected_inputs="ignore")
        jac = map_rows(row, vjp, rows)
        result.append(reshape(jac, tuple(shape_tuple(expr)) + tuple(shape_tuple(w))))
    _tag_grad_nodes(result, [expr])
    return result[0] if single else result


def hessian(cost, wrt):
    """The Hessian of scalar ``cost`` with respect to ``wrt`` (each of a list).

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.hessian((x ** 3).sum(), x).eval({x: [1.0, 2.0]}).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    single = isinstance(wrt, Variable)
    wrt_list = [wrt] if single else list(wrt)
    result = [jacobian(grad(cost, w), w) for w in wrt_list]
    return result[0] if single else result
