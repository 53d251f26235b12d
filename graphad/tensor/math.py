"""The public elementwise functions: ``ga.add``, ``ga.exp``, ``ga.where``, ``ga.cast``...

Each is one ``Elemwise`` over a scalar op from scalar_ops.py; this module only names
them and adapts NumPy-style signatures.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import scalar_ops as so
from .elemwise import Elemwise, promote_weak
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
    # name, scalar op, what it computes (the docstring's first line)
    ("add", so.Add(), "x + y"),
    ("sub", so.Sub(), "x - y"),
    ("mul", so.Mul(), "x * y"),
    ("true_divide", so.TrueDivide(), "x / y (integers give float64, as in NumPy)"),
    ("floor_divide", so.FloorDivide(), "x // y (integer division by zero gives 0)"),
    ("mod", so.Mod(), "x % y with the sign of y (modulo by zero gives 0)"),
    ("pow", so.Pow(), "x ** y"),
    ("maximum", so.Maximum(), "max of the two (NaN propagates)"),
    ("minimum", so.Minimum(), "min of the two (NaN propagates)"),
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
    ("gammaln", so.Gammaln(), "log|Γ(x)| (+inf at 0 and the negative integers)"),
    ("digamma", so.Digamma(), "psi(x) = gammaln'(x) (NaN at the negative integers)"),
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

_NAN, _INF = float("nan"), float("inf")

# name: (the operands, the result printed): each docstring's example, which the doctests
# run; floats print rounded to 4 decimals
_EXAMPLES = {
    "add": (([1.0, 2.0], [3.0, 4.0]), [4.0, 6.0]),
    "sub": (([5.0, 2.0], [3.0, 4.0]), [2.0, -2.0]),
    "mul": (([2.0, 3.0], [4.0, 5.0]), [8.0, 15.0]),
    "true_divide": (([1, 7], [2, 2]), [0.5, 3.5]),
    "floor_divide": (([7, -7, 3], [2, 2, 0]), [3, -4, 0]),
    "mod": (([7, -7, 7, 3], [3, 3, -3, 0]), [1, 2, -2, 0]),
    "pow": (([2.0, 3.0], [3.0, 0.5]), [8.0, 1.7321]),
    "maximum": (([1.0, 5.0, _NAN], [3.0, 2.0, 0.0]), [3.0, 5.0, _NAN]),
    "minimum": (([1.0, 5.0, _NAN], [3.0, 2.0, 0.0]), [1.0, 2.0, _NAN]),
    "arctan2": (([1.0, 1.0, -1.0], [1.0, -1.0, -1.0]), [0.7854, 2.3562, -2.3562]),
    "neg": (([1.0, -2.0],), [-1.0, 2.0]),
    "abs": (([-1.5, 2.0],), [1.5, 2.0]),
    "sign": (([-3.0, 0.0, 2.0],), [-1.0, 0.0, 1.0]),
    "sqr": (([-3.0, 0.5],), [9.0, 0.25]),
    "sqrt": (([4.0, 2.0],), [2.0, 1.4142]),
    "exp": (([0.0, 1.0],), [1.0, 2.7183]),
    "exp2": (([3.0, -1.0],), [8.0, 0.5]),
    "expm1": (([0.0, 1.0],), [0.0, 1.7183]),
    "log": (([1.0, 10.0],), [0.0, 2.3026]),
    "log2": (([1.0, 8.0],), [0.0, 3.0]),
    "log10": (([1.0, 1000.0],), [0.0, 3.0]),
    "log1p": (([0.0, 1.0],), [0.0, 0.6931]),
    "sin": (([0.0, 1.0],), [0.0, 0.8415]),
    "cos": (([0.0, 1.0],), [1.0, 0.5403]),
    "tan": (([0.0, 1.0],), [0.0, 1.5574]),
    "arcsin": (([0.0, 1.0],), [0.0, 1.5708]),
    "arccos": (([1.0, 0.0],), [0.0, 1.5708]),
    "arctan": (([0.0, 1.0],), [0.0, 0.7854]),
    "sinh": (([0.0, 1.0],), [0.0, 1.1752]),
    "cosh": (([0.0, 1.0],), [1.0, 1.5431]),
    "tanh": (([0.0, 1.0],), [0.0, 0.7616]),
    "arcsinh": (([0.0, 1.0],), [0.0, 0.8814]),
    "arccosh": (([1.0, 2.0],), [0.0, 1.317]),
    "arctanh": (([0.0, 0.5],), [0.0, 0.5493]),
    "sigmoid": (([0.0, 2.0, -1000.0],), [0.5, 0.8808, 0.0]),
    "softplus": (([0.0, 1.0, 1000.0],), [0.6931, 1.3133, 1000.0]),
    "relu": (([-1.0, 0.0, 2.0],), [0.0, 0.0, 2.0]),
    "erf": (([0.0, 1.0],), [0.0, 0.8427]),
    "erfc": (([0.0, 1.0],), [1.0, 0.1573]),
    "gammaln": (([1.0, 0.5, 10.0],), [0.0, 0.5724, 12.8018]),
    "digamma": (([1.0, 0.5, 10.0],), [-0.5772, -1.9635, 2.2518]),
    "floor": (([-1.5, 1.5],), [-2.0, 1.0]),
    "ceil": (([-1.5, 1.5],), [-1.0, 2.0]),
    "round": (([0.5, 1.5, 2.5],), [0.0, 2.0, 2.0]),
    "eq": (([1.0, 2.0], [1.0, 3.0]), [True, False]),
    "neq": (([1.0, 2.0], [1.0, 3.0]), [False, True]),
    "lt": (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), [True, False, False]),
    "le": (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), [True, True, False]),
    "gt": (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), [False, False, True]),
    "ge": (([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]), [False, True, True]),
    "logical_and": (([True, True, False], [True, False, False]), [True, False, False]),
    "logical_or": (([True, True, False], [True, False, False]), [True, True, False]),
    "logical_xor": (([True, True, False], [True, False, False]), [False, True, False]),
    "logical_not": (([True, False],), [False, True]),
    "isnan": (([1.0, _NAN, _INF],), [False, True, False]),
    "isinf": (([1.0, _NAN, -_INF],), [False, False, True]),
    "bitwise_and": (([12, 10], [10, 6]), [8, 2]),
    "bitwise_or": (([12, 10], [10, 6]), [14, 14]),
    "bitwise_xor": (([12, 10], [10, 6]), [6, 12]),
    "invert": (([0, 5],), [-1, -6]),
}

# the operands' names where x and y would not match the first line (arctan2(y, x))
_ARG_NAMES = {"arctan2": ("y", "x")}
# another public name of the same function
_ALIASES = {"sqr": "square", "true_divide": "true_div", "bitwise_and": "and_", "bitwise_or": "or_"}


def _literal(value) -> str:
    """Python source for a list of numbers (NaN and Inf as float("nan"), ...)."""
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    # (not abs(): this module's abs is ga.abs)
    if isinstance(value, float) and (value != value or value in (_INF, -_INF)):
        return f'float("{value}")'
    return repr(value)


def _dtype_arg(values) -> str:
    """The dtype argument of ``ga.vector`` for the operand ``values`` (floatX for floats)."""
    if all(isinstance(v, bool) for v in values):
        return ', "bool"'
    if all(isinstance(v, int) for v in values):
        return ', "int64"'
    return ""


def _docstring(name, doc) -> str:
    """``Elementwise <doc>.`` and a doctest evaluating ``ga.<name>`` on ``_EXAMPLES[name]``."""
    text = f"Elementwise {doc}."
    if name in _ALIASES:
        text += f" ``ga.{_ALIASES[name]}`` is the same function."
    if name not in _EXAMPLES:
        return text
    args, result = _EXAMPLES[name]
    names = _ARG_NAMES.get(name, ("x", "y"))[: len(args)]
    declare = ", ".join(f'ga.vector("{n}"{_dtype_arg(v)})' for n, v in zip(names, args))
    givens = ", ".join(f"{n}: {_literal(v)}" for n, v in zip(names, args))
    show = ".round(4).tolist()" if any(isinstance(r, float) for r in result) else ".tolist()"
    return (
        f"{text}\n\n"
        ">>> import graphad as ga\n"
        f">>> {', '.join(names)} = {declare}\n"
        f">>> ga.{name}({', '.join(names)}).eval({{{givens}}}){show}\n"
        f"{result!r}\n"
    )


for _name, _op, _doc in _TABLE:
    globals()[_name] = _elemwise(_op, _name, _docstring(_name, _doc))
del _name, _op, _doc

square = sqr  # noqa: F821  (defined by the table above)
true_div = true_divide  # noqa: F821
# Theano's names for & and |: logical on bools, bitwise on integers, as in NumPy
and_ = bitwise_and  # noqa: F821
or_ = bitwise_or  # noqa: F821
_RELU = relu  # noqa: F821  (the table's max(x, 0), one scalar op)


def relu(x, alpha=0):
    """Elementwise ``max(x, 0)``; with ``alpha`` (a number or a variable) the leaky
    relu: ``x`` where ``x > 0``, else ``alpha * x``. The derivative is 1 for ``x > 0``
    and ``alpha`` for ``x <= 0`` (relu'(0) = 0 without alpha).

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.relu(x).eval({x: [-1.0, 0.0, 2.0]}).tolist()
    [0.0, 0.0, 2.0]
    >>> ga.relu(x, alpha=0.5).eval({x: [-1.0, 0.0, 2.0]}).tolist()
    [-0.5, 0.0, 2.0]
    """
    if isinstance(alpha, numbers.Number) and alpha == 0:
        return _RELU(x)
    x = as_tensor_variable(x)
    return switch(gt(x, 0), x, alpha * x)  # noqa: F821  (gt: the table)


relu.op = _RELU.op


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


def _computing_in(ufunc, *xs):
    """``xs`` cast to the dtype NumPy's ``ufunc`` computes their dtypes in (its loop:
    np.exp of int64 is float64, np.logaddexp of int8 and uint8 float16), weak Python
    scalars taking the others' dtype."""
    xs = [as_tensor_variable(x) for x in xs]
    dtypes = tuple(np.dtype(x.dtype) for x in promote_weak(xs))
    dtype = ufunc.resolve_dtypes(dtypes + (None,))[-1].name
    # (cast the originals: a promoted constant stays weak, and would promote again with
    # the next Python scalar it meets: 0 / 2 is float64)
    return [cast(x, dtype) for x in xs]


def log_sigmoid(x):
    """Elementwise ``log(sigmoid(x))``, computed as ``-softplus(-x)``: finite values and
    gradients (``sigmoid(-x)``) for every finite x, where the written form gives
    ``log(0) = -inf`` below about -745. Integers and bools compute in the float dtype
    np.exp gives them (float64 for int32 and int64).

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.log_sigmoid(x).eval({x: [0.0, 2.0, -1000.0]}).round(4).tolist()
    [-0.6931, -0.1269, -1000.0]
    """
    (x,) = _computing_in(np.exp, x)
    return -softplus(-x)  # noqa: F821  (softplus: the table)


_LOG2 = 0.6931471805599453


def logaddexp(a, b):
    """``log(exp(a) + exp(b))`` elementwise, as ``np.logaddexp``: computed as
    ``maximum(a, b) + log1p(exp(-|a - b|))``, so it neither overflows nor underflows;
    broadcasting and dtypes as NumPy. Where ``a == b`` (also both ``-inf`` or both
    ``+inf``, where ``a - b`` is NaN) it is ``a + log(2)``, and the gradient is 0.5 to
    each (elsewhere ``sigmoid(a - b)`` and ``sigmoid(b - a)``).

    >>> import graphad as ga
    >>> a, b = ga.vector("a"), ga.vector("b")
    >>> ga.logaddexp(a, b).eval({a: [0.0, 1000.0, -float("inf")],
    ...                          b: [0.0, 0.0, -float("inf")]}).round(4).tolist()
    [0.6931, 1000.0, -inf]
    """
    a, b = _computing_in(np.logaddexp, a, b)
    tie = eq(a, b)  # noqa: F821  (eq: the table)
    d = switch(tie, 0, a - b)  # no NaN from inf - inf, in the values or the gradient
    apart = maximum(a, b) + log1p(exp(-abs(d)))  # noqa: F821  (the table)
    # the tie's own branch, equal in value, splits the gradient evenly (maximum's goes
    # to a alone); a / 2 + b / 2 cannot overflow
    return switch(tie, a / 2 + b / 2 + _LOG2, apart)


_CLIP = Elemwise(so.Clip())
_SWITCH = Elemwise(so.Switch())
# digamma's derivative (not public: no NumPy or SciPy name but polygamma(1, x))
_trigamma = Elemwise(so.Trigamma())

_MORE = ["square", "clip", "switch", "where", "cast", "true_div", "and_", "or_"]
_MORE += ["log_sigmoid", "logaddexp"]
__all__ = [n for n, _, _ in _TABLE] + _MORE
