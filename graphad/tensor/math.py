"""The public elementwise functions: ``ga.add``, ``ga.exp``, ``ga.where``, ``ga.cast``...

Each is one ``Elemwise`` over a scalar op from scalar_ops.py; this module only names
them and adapts NumPy-style signatures.
"""

from __future__ import annotations

from . import scalar_ops as so
from .elemwise import Elemwise
from .type import check_dtype
from .variable import as_tensor_variable


def _elemwise(scalar_op, public_name, doc):
    op = Elemwise(scalar_op)

    def build(*args):
        return op(*args)

    build.__name__ = build.__qualname__ = public_name
    build.__doc__ = doc
    build.op = op
    return build


_TABLE = [
    # name, scalar op, docstring example
    ("add", so.Add(), "x + y"),
    ("sub", so.Sub(), "x - y"),
    ("mul", so.Mul(), "x * y"),
    ("true_divide", so.TrueDivide(), "x / y (integers give float64, as in NumPy)"),
    ("floor_divide", so.FloorDivide(), "x // y (integer division by zero gives 0)"),
    ("mod", so.Mod(), "x % y with the sign of y (modulo by zero gives 0)"),
    ("pow", so.Pow(), "x ** y"),
    ("maximum", so.Maximum(), "elementwise max (NaN propagates)"),
    ("minimum", so.Minimum(), "elementwise min (NaN propagates)"),
    ("arctan2", so.Arctan2(), "arctan(y / x) in the right quadrant"),
    ("neg", so.Neg(), "-x"),
    ("abs", so.Abs(), "|x|; abs'(0) = 0"),
    ("sign", so.Sign(), "-1, 0 or 1"),
    ("sqr", so.Sqr(), "x * x"),
    ("sqrt", so.Sqrt(), "square root; sqrt'(0) = +inf"),
    ("exp", so.Exp(), "e ** x"),
    ("exp2", so.Exp2(), "2 ** x"),
    ("expm1", so.Expm1(), "exp(x) - 1, accurate near 0"),
    ("log", so.Log(), "natural logarithm"),
    ("log2", so.Log2(), "base-2 logarithm"),
    ("log10", so.Log10(), "base-10 logarithm"),
    ("log1p", so.Log1p(), "log(1 + x), accurate near 0"),
    ("sin", so.Sin(), "sine"),
    ("cos", so.Cos(), "cosine"),
    ("tan", so.Tan(), "tangent"),
    ("arcsin", so.Arcsin(), "inverse sine"),
    ("arccos", so.Arccos(), "inverse cosine"),
    ("arctan", so.Arctan(), "inverse tangent"),
    ("sinh", so.Sinh(), "hyperbolic sine"),
    ("cosh", so.Cosh(), "hyperbolic cosine"),
    ("tanh", so.Tanh(), "hyperbolic tangent"),
    ("arcsinh", so.Arcsinh(), "inverse hyperbolic sine"),
    ("arccosh", so.Arccosh(), "inverse hyperbolic cosine"),
    ("arctanh", so.Arctanh(), "inverse hyperbolic tangent"),
    ("sigmoid", so.Sigmoid(), "1 / (1 + exp(-x)), without overflow"),
    ("softplus", so.Softplus(), "log(1 + exp(x)), without overflow"),
    ("relu", so.Relu(), "max(x, 0); relu'(0) = 0"),
    ("erf", so.Erf(), "the error function"),
    ("erfc", so.Erfc(), "1 - erf(x), accurate for large x"),
    ("floor", so.Floor(), "round down"),
    ("ceil", so.Ceil(), "round up"),
    ("round", so.Round(), "round half to even, as np.round"),
    ("eq", so.Eq(), "x == y elementwise (bool)"),
    ("neq", so.Neq(), "x != y elementwise (bool)"),
    ("lt", so.Lt(), "x < y (bool)"),
    ("le", so.Le(), "x <= y (bool)"),
    ("gt", so.Gt(), "x > y (bool)"),
    ("ge", so.Ge(), "x >= y (bool)"),
    ("logical_and", so.LogicalAnd(), "x and y (bool)"),
    ("logical_or", so.LogicalOr(), "x or y (bool)"),
    ("logical_xor", so.LogicalXor(), "x xor y (bool)"),
    ("logical_not", so.LogicalNot(), "not x (bool)"),
    ("isnan", so.IsNan(), "x is NaN (bool)"),
    ("isinf", so.IsInf(), "x is +-Inf (bool)"),
    ("bitwise_and", so.BitwiseAnd(), "x & y (integers and bools)"),
    ("bitwise_or", so.BitwiseOr(), "x | y (integers and bools)"),
    ("bitwise_xor", so.BitwiseXor(), "x ^ y (integers and bools)"),
    ("invert", so.Invert(), "~x (bitwise not; logical not for bools)"),
]

for _name, _op, _doc in _TABLE:
    globals()[_name] = _elemwise(_op, _name, f"Elementwise {_doc}.")
del _name, _op, _doc

square = sqr  # noqa: F821  (defined by the table above)
true_div = true_divide  # noqa: F821


def clip(x, a_min, a_max):
    """``x`` limited to ``[a_min, a_max]``, as ``np.clip``.

    >>> import graphad as ga
    >>> ga.clip(ga.constant([-2.0, 0.5, 3.0]), 0, 1).eval().tolist()
    [0.0, 0.5, 1.0]
    """
    return _CLIP(x, a_min, a_max)


def switch(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (``np.where`` with three arguments).

    >>> import graphad as ga
    >>> ga.switch(ga.constant([True, False]), 1.0, 2.0).eval().tolist()
    [1.0, 2.0]
    """
    return _SWITCH(cond, a, b)


where = switch


def cast(x, dtype):
    """``x`` converted to ``dtype`` (``x.astype(dtype)``); a no-op if it already is.

    >>> import graphad as ga
    >>> ga.cast(ga.vector("x"), "int32").dtype
    'int32'
    """
    x = as_tensor_variable(x)
    dtype = check_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(so.Cast(dtype))(x)


_CLIP = Elemwise(so.Clip())
_SWITCH = Elemwise(so.Switch())

__all__ = [n for n, _, _ in _TABLE] + ["square", "clip", "switch", "where", "cast", "true_div"]
