"""Elementwise primitives: one class each, with NumPy reference and derivatives.

A scalar op says what happens to one element. ``Elemwise`` (elemwise.py) lifts it to
tensors, handling broadcasting, dtype promotion and un-broadcasting of gradients once,
so the rules here are written as if all shapes matched.

``partials(out, *inputs)`` gives the derivative of the output with respect to each
input as graphad expressions: ``0`` for a zero derivative (floor, sign), ``None`` when
the input is not differentiable (a condition, an integer). ``L_op`` and ``R_op`` of
Elemwise are both built from it, so each rule is written once.
"""

from __future__ import annotations

import math as _pymath

import numpy as np

from .scalar_base import ScalarOp, _float_rule, _int_helper, _m, float_to_int
from .special import Digamma, Gammaln, Trigamma  # noqa: F401  (scalar ops live here too)


# --- arithmetic ---------------------------------------------------------------
class Add(ScalarOp):
    c_expr = "({0} + {1})"

    nin, ufunc, commutative, associative, identity = 2, np.add, True, True, 0

    def partials(self, out, x, y):
        return [1, 1]


class Sub(ScalarOp):
    c_expr = "({0} - {1})"

    nin, ufunc = 2, np.subtract

    def partials(self, out, x, y):
        return [1, -1]


class Mul(ScalarOp):
    c_expr = "({0} * {1})"

    nin, ufunc, commutative, associative, identity = 2, np.multiply, True, True, 1

    def partials(self, out, x, y):
        return [y, x]


class TrueDivide(ScalarOp):
    c_expr = "({0} / {1})"

    nin, ufunc = 2, np.true_divide

    def partials(self, out, x, y):
        return [1 / y, -out / y]


class FloorDivide(ScalarOp):
    c_expr = "graphad_floordiv_f{b}({0}, {1})"
    c_code = _int_helper("floordiv")

    nin, ufunc = 2, np.floor_divide

    def partials(self, out, x, y):
        return [0, 0]


class Mod(ScalarOp):
    c_expr = "graphad_mod_f{b}({0}, {1})"
    c_code = _int_helper("mod")

    nin, ufunc = 2, np.mod

    def partials(self, out, x, y):
        return [1, -_m().floor_divide(x, y)]


class Pow(ScalarOp):
    c_func = "pow"  # integer powers have no C path: NumPy raises on x ** -1

    nin, ufunc = 2, np.power

    def partials(self, out, x, y):
        m = _m()
        return [y * x ** (y - 1), out * m.log(m.switch(m.eq(x, 0), 1, x))]


class Maximum(ScalarOp):
    c_expr = "((isnan({0}) || {0} >= {1}) ? {0} : {1})"
    c_int = "({0} >= {1} ? {0} : {1})"

    nin, ufunc, commutative, associative = 2, np.maximum, True, True

    def partials(self, out, x, y):
        m = _m()
        return [m.ge(x, y), m.lt(x, y)]


class Minimum(ScalarOp):
    c_expr = "((isnan({0}) || {0} <= {1}) ? {0} : {1})"
    c_int = "({0} <= {1} ? {0} : {1})"

    nin, ufunc, commutative, associative = 2, np.minimum, True, True

    def partials(self, out, x, y):
        m = _m()
        return [m.le(x, y), m.gt(x, y)]


class Arctan2(ScalarOp):
    c_func = "atan2"

    nin, ufunc = 2, np.arctan2

    def partials(self, out, y, x):
        r2 = x * x + y * y
        return [x / r2, -y / r2]


class Neg(ScalarOp):
    c_expr = "(-{0})"

    ufunc = np.negative

    def partials(self, out, x):
        return [-1]


class Abs(ScalarOp):
    c_func = "fabs"
    c_int = "({0} < 0 ? -{0} : {0})"

    ufunc = np.abs

    def partials(self, out, x):
        return [_m().sign(x)]  # abs'(0) = 0


class Sign(ScalarOp):
    c_expr = "({0} > 0 ? 1 : ({0} < 0 ? -1 : ({0} == 0 ? 0 : {0})))"
    c_int = "(({0} > 0) - ({0} < 0))"

    ufunc = np.sign

    def partials(self, out, x):
        return [0]


class Sqr(ScalarOp):
    c_expr = "({0} * {0})"

    ufunc = np.square

    def partials(self, out, x):
        return [2 * x]


class Sqrt(ScalarOp):
    c_func = "sqrt"

    ufunc = np.sqrt

    def partials(self, out, x):
        return [0.5 / out]  # sqrt'(0) = +inf


# --- exponentials and logarithms -------------------------------------------------
class Exp(ScalarOp):
    c_func = "exp"

    ufunc = np.exp

    def partials(self, out, x):
        return [out]


class Exp2(ScalarOp):
    c_func = "exp2"

    ufunc = np.exp2

    def partials(self, out, x):
        return [out * _pymath.log(2.0)]


class Expm1(ScalarOp):
    c_func = "expm1"

    ufunc = np.expm1

    def partials(self, out, x):
        return [out + 1]


class Log(ScalarOp):
    c_func = "log"

    ufunc = np.log

    def partials(self, out, x):
        return [1 / x]


class Log2(ScalarOp):
    c_func = "log2"

    ufunc = np.log2

    def partials(self, out, x):
        return [1 / (x * _pymath.log(2.0))]


class Log10(ScalarOp):
    c_func = "log10"

    ufunc = np.log10

    def partials(self, out, x):
        return [1 / (x * _pymath.log(10.0))]


class Log1p(ScalarOp):
    c_func = "log1p"

    ufunc = np.log1p

    def partials(self, out, x):
        return [1 / (1 + x)]


# --- trigonometric and hyperbolic ---------------------------------------------
class Sin(ScalarOp):
    c_func = "sin"

    ufunc = np.sin

    def partials(self, out, x):
        return [_m().cos(x)]


class Cos(ScalarOp):
    c_func = "cos"

    ufunc = np.cos

    def partials(self, out, x):
        return [-_m().sin(x)]


class Tan(ScalarOp):
    c_func = "tan"

    ufunc = np.tan

    def partials(self, out, x):
        return [1 + out * out]


class Arcsin(ScalarOp):
    c_func = "asin"

    ufunc = np.arcsin

    def partials(self, out, x):
        return [1 / _m().sqrt(1 - x * x)]


class Arccos(ScalarOp):
    c_func = "acos"

    ufunc = np.arccos

    def partials(self, out, x):
        return [-1 / _m().sqrt(1 - x * x)]


class Arctan(ScalarOp):
    c_func = "atan"

    ufunc = np.arctan

    def partials(self, out, x):
        return [1 / (1 + x * x)]


class Sinh(ScalarOp):
    c_func = "sinh"

    ufunc = np.sinh

    def partials(self, out, x):
        return [_m().cosh(x)]


class Cosh(ScalarOp):
    c_func = "cosh"

    ufunc = np.cosh

    def partials(self, out, x):
        return [_m().sinh(x)]


class Tanh(ScalarOp):
    c_func = "tanh"

    ufunc = np.tanh

    def partials(self, out, x):
        return [1 - out * out]


class Arcsinh(ScalarOp):
    c_func = "asinh"

    ufunc = np.arcsinh

    def partials(self, out, x):
        return [1 / _m().sqrt(x * x + 1)]


class Arccosh(ScalarOp):
    c_func = "acosh"

    ufunc = np.arccosh

    def partials(self, out, x):
        return [1 / _m().sqrt(x * x - 1)]


class Arctanh(ScalarOp):
    c_func = "atanh"

    ufunc = np.arctanh

    def partials(self, out, x):
        return [1 / (1 - x * x)]


# --- neural-net and special functions ----------------------------------------------
class Sigmoid(ScalarOp):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    # one exp of -|x|: t = exp(-|x|) gives 1 / (1 + t) for x >= 0, t / (1 + t) below
    c_expr = "(({0} >= 0 ? 1 : exp{f}(-fabs{f}({0}))) / (1 + exp{f}(-fabs{f}({0}))))"

    def impl(self, x):
        x = np.asarray(x)
        dtype = _float_rule(x.dtype.name)
        x = x.astype(dtype, copy=False)
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(dtype, copy=False)

    def partials(self, out, x):
        return [out * (1 - out)]


class Softplus(ScalarOp):
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): finite for every finite x."""

    c_expr = "(({0} > 0 ? {0} : 0) + log1p{f}(exp{f}(-fabs{f}({0}))))"

    def impl(self, x):
        x = np.asarray(x)
        x = x.astype(_float_rule(x.dtype.name), copy=False)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def partials(self, out, x):
        return [_m().sigmoid(x)]


class Log1mexp(ScalarOp):
    """log(1 - exp(x)) for x <= 0, accurate over the whole range (Mächler 2012):
    log(-expm1(x)) above -ln 2, where exp(x) is near 1; log1p(-exp(x)) below, where it
    is small. -inf at 0 and NaN above, as the written form. The stabilize pass makes it
    from ``log(1 - exp(x))``."""

    c_expr = "({0} > -0.6931471805599453{f} ? log{f}(-expm1{f}({0})) : log1p{f}(-exp{f}({0})))"

    def impl(self, x):
        x = np.asarray(x)
        x = x.astype(_float_rule(x.dtype.name), copy=False)
        with np.errstate(divide="ignore", invalid="ignore"):  # the branch not taken
            near, far = np.log(-np.expm1(x)), np.log1p(-np.exp(x))
        return np.where(x > -_pymath.log(2.0), near, far).astype(x.dtype, copy=False)

    def partials(self, out, x):
        # -exp(x) / (1 - exp(x)), with no overflow in between: 0 at -inf, -inf at 0
        m = _m()
        return [m.exp(x) / m.expm1(x)]


class Relu(ScalarOp):
    """max(x, 0) in x's dtype; relu'(0) = 0."""

    c_expr = "((isnan({0}) || {0} > 0) ? {0} : 0)"
    c_int = "({0} > 0 ? {0} : 0)"

    def impl(self, x):
        x = np.asarray(x)
        return np.maximum(x, np.zeros((), x.dtype))

    def partials(self, out, x):
        return [_m().gt(x, 0)]


def _erf_reference():
    try:
        from scipy.special import erf as scipy_erf

        return scipy_erf
    except ImportError:  # scipy is optional: fall back to libm's erf element by element
        return np.vectorize(_pymath.erf, otypes=["float64"])


class Erf(ScalarOp):
    c_func = "erf"

    def impl(self, x):
        x = np.asarray(x)
        dtype = _float_rule(x.dtype.name)
        return np.asarray(_erf_reference()(x.astype("float64")), dtype=dtype)

    def partials(self, out, x):
        return [(2 / _pymath.sqrt(_pymath.pi)) * _m().exp(-x * x)]


class Erfc(ScalarOp):
    c_func = "erfc"

    def impl(self, x):
        x = np.asarray(x)
        dtype = _float_rule(x.dtype.name)
        x64 = x.astype("float64")
        try:
            from scipy.special import erfc as scipy_erfc

            result = scipy_erfc(x64)
        except ImportError:  # no scipy: libm's erfc element by element
            result = np.vectorize(_pymath.erfc, otypes=["float64"])(x64)
        return np.asarray(result, dtype=dtype)

    def partials(self, out, x):
        return [(-2 / _pymath.sqrt(_pymath.pi)) * _m().exp(-x * x)]


# --- rounding -------------------------------------------------------------------
class Floor(ScalarOp):
    c_func = "floor"
    c_int = "{0}"

    ufunc = np.floor

    def partials(self, out, x):
        return [0]


class Ceil(ScalarOp):
    c_func = "ceil"
    c_int = "{0}"

    ufunc = np.ceil

    def partials(self, out, x):
        return [0]


class Round(ScalarOp):
    """Round half to even, as ``np.round``."""

    c_func = "rint"  # the default rounding mode rounds half to even, as np.round
    c_int = "{0}"

    # np.round is a plain function, not a ufunc: as a class attribute it would bind as a
    # method and receive the op as its first argument
    ufunc = staticmethod(np.round)

    def partials(self, out, x):
        return [0]


# --- selection ------------------------------------------------------------------
class Clip(ScalarOp):
    c_expr = "graphad_clip_f{b}({0}, {1}, {2})"
    # minimum(maximum(x, lo), hi) as np.clip, so crossed bounds (lo > hi) give hi
    c_int = "(({0} < {1} ? {1} : {0}) < {2} ? ({0} < {1} ? {1} : {0}) : {2})"

    nin = 3

    def impl(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def partials(self, out, x, lo, hi):
        m = _m()
        return [m.logical_and(m.ge(x, lo), m.le(x, hi)), m.lt(x, lo), m.gt(x, hi)]


class Switch(ScalarOp):
    """``where(cond, a, b)``; the condition takes no part in dtype promotion."""

    nin, promote = 3, (1, 2)
    c_expr = "({0} ? {1} : {2})"

    def operand_dtypes(self, in_dtypes, out_dtype):
        return ["bool", out_dtype, out_dtype]

    def impl(self, cond, a, b):
        return np.where(cond, a, b)

    def partials(self, out, cond, a, b):
        m = _m()
        return [None, m.neq(cond, 0), m.eq(cond, 0)]


class Cast(ScalarOp):
    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    @property
    def name(self):
        return f"cast{{{self.dtype}}}"

    c_expr = "{0}"  # the conversion to the output dtype is the cast

    def operand_dtypes(self, in_dtypes, out_dtype):
        return list(in_dtypes)

    def impl(self, x):
        x = np.asarray(x)
        if x.dtype.kind == "f" and np.dtype(self.dtype).kind in "iu":
            return float_to_int(x, self.dtype)
        return x.astype(self.dtype)

    def output_dtype(self, dtype):
        return self.dtype

    def partials(self, out, x):
        return [1]


# --- comparisons and logic (not differentiable) -----------------------------------
class _Predicate(ScalarOp):
    operands = "out"  # "common": the inputs' common dtype; "bool"; "input": as given

    def partials(self, out, *inputs):
        return [None] * len(inputs)

    def operand_dtypes(self, in_dtypes, out_dtype):
        if self.operands == "common":
            kinds = {np.dtype(d).kind for d in in_dtypes}
            if {"i", "u"} <= kinds and "f" not in kinds:
                # NumPy compares int64 with uint64 exactly; their common dtype (float64)
                # would round above 2**53: no C path (None is no C type)
                return [None] * len(in_dtypes)
            return [np.result_type(*in_dtypes).name] * len(in_dtypes)
        if self.operands == "bool":
            return ["bool"] * len(in_dtypes)
        if self.operands == "input":
            return list(in_dtypes)
        return [out_dtype] * len(in_dtypes)


def _predicate(cls_name, ufunc, nin, commutative=False, c_expr=None, operands="out", c_int=None):
    attrs = {"ufunc": ufunc, "nin": nin, "commutative": commutative, "__module__": __name__}
    attrs.update(c_expr=c_expr, c_int=c_int, operands=operands)
    return type(cls_name, (_Predicate,), attrs)


Eq = _predicate("Eq", np.equal, 2, True, "({0} == {1})", "common")
Neq = _predicate("Neq", np.not_equal, 2, True, "({0} != {1})", "common")
Lt = _predicate("Lt", np.less, 2, c_expr="({0} < {1})", operands="common")
Le = _predicate("Le", np.less_equal, 2, c_expr="({0} <= {1})", operands="common")
Gt = _predicate("Gt", np.greater, 2, c_expr="({0} > {1})", operands="common")
Ge = _predicate("Ge", np.greater_equal, 2, c_expr="({0} >= {1})", operands="common")
LogicalAnd = _predicate("LogicalAnd", np.logical_and, 2, True, "({0} && {1})", "bool")
LogicalOr = _predicate("LogicalOr", np.logical_or, 2, True, "({0} || {1})", "bool")
LogicalXor = _predicate("LogicalXor", np.logical_xor, 2, True, "({0} != {1})", "bool")
LogicalNot = _predicate("LogicalNot", np.logical_not, 1, c_expr="(!{0})", operands="bool")
IsNan = _predicate("IsNan", np.isnan, 1, c_expr="isnan({0})", operands="input", c_int="0")
IsInf = _predicate("IsInf", np.isinf, 1, c_expr="isinf({0})", operands="input", c_int="0")
BitwiseAnd = _predicate("BitwiseAnd", np.bitwise_and, 2, True, c_int="({0} & {1})")
BitwiseOr = _predicate("BitwiseOr", np.bitwise_or, 2, True, c_int="({0} | {1})")
BitwiseXor = _predicate("BitwiseXor", np.bitwise_xor, 2, True, c_int="({0} ^ {1})")
# ~ of a bool is logical not, as in NumPy
Invert = _predicate("Invert", np.invert, 1, c_int="(~{0})")
Invert.c_code = lambda self, args, dtype: (
    f"(!{args[0]})" if dtype == "bool" else ScalarOp.c_code(self, args, dtype)
)
