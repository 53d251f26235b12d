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
import re
from functools import lru_cache

import numpy as np


def _m():
    from . import math

    return math


class ScalarOp:
    """Base of elementwise primitives; subclasses set ``nin`` and ``ufunc`` or ``impl``."""

    nin = 1
    ufunc = None
    commutative = False
    associative = False
    identity = None
    # Which inputs take part in dtype promotion (weak Python scalars adopt their dtype).
    promote = None  # None: all
    __props__: tuple = ()

    @property
    def name(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()

    @property
    def params(self):
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other):
        return type(self) is type(other) and self.params == other.params

    def __hash__(self):
        h = self.__dict__.get("_hash")  # immutable value: hash once
        if h is None:
            h = self.__dict__["_hash"] = hash((type(self), self.params))
        return h

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_hash", None)  # str hashes differ between processes
        return state

    def __str__(self):
        return self.name

    __repr__ = __str__

    def impl(self, *args):
        return self.ufunc(*args)

    def output_dtype(self, *dtypes) -> str:
        """The output dtype NumPy gives for these input dtypes."""
        return _probe_dtype(self, dtypes)

    def partials(self, out, *inputs):
        raise NotImplementedError(f"{self.name} has no derivative yet")


@lru_cache(maxsize=4096)
def _probe_dtype(op, dtypes) -> str:
    probes = [np.ones(1, dtype=d) for d in dtypes]
    with np.errstate(all="ignore"):
        return np.asarray(op.impl(*probes)).dtype.name


def _float_rule(dtype: str) -> str:
    """The dtype NumPy's transcendental ufuncs give for ``dtype`` (np.exp's rule)."""
    return np.exp(np.ones(1, dtype=dtype)).dtype.name


# --- arithmetic ---------------------------------------------------------------
class Add(ScalarOp):
    nin, ufunc, commutative, associative, identity = 2, np.add, True, True, 0

    def partials(self, out, x, y):
        return [1, 1]


class Sub(ScalarOp):
    nin, ufunc = 2, np.subtract

    def partials(self, out, x, y):
        return [1, -1]


class Mul(ScalarOp):
    nin, ufunc, commutative, associative, identity = 2, np.multiply, True, True, 1

    def partials(self, out, x, y):
        return [y, x]


class TrueDivide(ScalarOp):
    nin, ufunc = 2, np.true_divide

    def partials(self, out, x, y):
        return [1 / y, -out / y]


class FloorDivide(ScalarOp):
    nin, ufunc = 2, np.floor_divide

    def partials(self, out, x, y):
        return [0, 0]


class Mod(ScalarOp):
    nin, ufunc = 2, np.mod

    def partials(self, out, x, y):
        return [1, -_m().floor_divide(x, y)]


class Pow(ScalarOp):
    nin, ufunc = 2, np.power

    def partials(self, out, x, y):
        m = _m()
        return [y * x ** (y - 1), out * m.log(m.switch(m.eq(x, 0), 1, x))]


class Maximum(ScalarOp):
    nin, ufunc, commutative, associative = 2, np.maximum, True, True

    def partials(self, out, x, y):
        m = _m()
        return [m.ge(x, y), m.lt(x, y)]


class Minimum(ScalarOp):
    nin, ufunc, commutative, associative = 2, np.minimum, True, True

    def partials(self, out, x, y):
        m = _m()
        return [m.le(x, y), m.gt(x, y)]


class Arctan2(ScalarOp):
    nin, ufunc = 2, np.arctan2

    def partials(self, out, y, x):
        r2 = x * x + y * y
        return [x / r2, -y / r2]


class Neg(ScalarOp):
    ufunc = np.negative

    def partials(self, out, x):
        return [-1]


class Abs(ScalarOp):
    ufunc = np.abs

    def partials(self, out, x):
        return [_m().sign(x)]  # abs'(0) = 0


class Sign(ScalarOp):
    ufunc = np.sign

    def partials(self, out, x):
        return [0]


class Sqr(ScalarOp):
    ufunc = np.square

    def partials(self, out, x):
        return [2 * x]


class Sqrt(ScalarOp):
    ufunc = np.sqrt

    def partials(self, out, x):
        return [0.5 / out]  # sqrt'(0) = +inf


# --- exponentials and logarithms -------------------------------------------------
class Exp(ScalarOp):
    ufunc = np.exp

    def partials(self, out, x):
        return [out]


class Exp2(ScalarOp):
    ufunc = np.exp2

    def partials(self, out, x):
        return [out * _pymath.log(2.0)]


class Expm1(ScalarOp):
    ufunc = np.expm1

    def partials(self, out, x):
        return [out + 1]


class Log(ScalarOp):
    ufunc = np.log

    def partials(self, out, x):
        return [1 / x]


class Log2(ScalarOp):
    ufunc = np.log2

    def partials(self, out, x):
        return [1 / (x * _pymath.log(2.0))]


class Log10(ScalarOp):
    ufunc = np.log10

    def partials(self, out, x):
        return [1 / (x * _pymath.log(10.0))]


class Log1p(ScalarOp):
    ufunc = np.log1p

    def partials(self, out, x):
        return [1 / (1 + x)]


# --- trigonometric and hyperbolic ---------------------------------------------
class Sin(ScalarOp):
    ufunc = np.sin

    def partials(self, out, x):
        return [_m().cos(x)]


class Cos(ScalarOp):
    ufunc = np.cos

    def partials(self, out, x):
        return [-_m().sin(x)]


class Tan(ScalarOp):
    ufunc = np.tan

    def partials(self, out, x):
        return [1 + out * out]


class Arcsin(ScalarOp):
    ufunc = np.arcsin

    def partials(self, out, x):
        return [1 / _m().sqrt(1 - x * x)]


class Arccos(ScalarOp):
    ufunc = np.arccos

    def partials(self, out, x):
        return [-1 / _m().sqrt(1 - x * x)]


class Arctan(ScalarOp):
    ufunc = np.arctan

    def partials(self, out, x):
        return [1 / (1 + x * x)]


class Sinh(ScalarOp):
    ufunc = np.sinh

    def partials(self, out, x):
        return [_m().cosh(x)]


class Cosh(ScalarOp):
    ufunc = np.cosh

    def partials(self, out, x):
        return [_m().sinh(x)]


class Tanh(ScalarOp):
    ufunc = np.tanh

    def partials(self, out, x):
        return [1 - out * out]


class Arcsinh(ScalarOp):
    ufunc = np.arcsinh

    def partials(self, out, x):
        return [1 / _m().sqrt(x * x + 1)]


class Arccosh(ScalarOp):
    ufunc = np.arccosh

    def partials(self, out, x):
        return [1 / _m().sqrt(x * x - 1)]


class Arctanh(ScalarOp):
    ufunc = np.arctanh

    def partials(self, out, x):
        return [1 / (1 - x * x)]


# --- neural-net and special functions ----------------------------------------------
class Sigmoid(ScalarOp):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

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

    def impl(self, x):
        x = np.asarray(x)
        x = x.astype(_float_rule(x.dtype.name), copy=False)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    def partials(self, out, x):
        return [_m().sigmoid(x)]


class Relu(ScalarOp):
    """max(x, 0) in x's dtype; relu'(0) = 0."""

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
    def impl(self, x):
        x = np.asarray(x)
        dtype = _float_rule(x.dtype.name)
        return np.asarray(_erf_reference()(x.astype("float64")), dtype=dtype)

    def partials(self, out, x):
        return [(2 / _pymath.sqrt(_pymath.pi)) * _m().exp(-x * x)]


class Erfc(ScalarOp):
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
    ufunc = np.floor

    def partials(self, out, x):
        return [0]


class Ceil(ScalarOp):
    ufunc = np.ceil

    def partials(self, out, x):
        return [0]


class Round(ScalarOp):
    """Round half to even, as ``np.round``."""

    # np.round is a plain function, not a ufunc: as a class attribute it would bind as a
    # method and receive the op as its first argument
    ufunc = staticmethod(np.round)

    def partials(self, out, x):
        return [0]


# --- selection ------------------------------------------------------------------
class Clip(ScalarOp):
    nin = 3

    def impl(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def partials(self, out, x, lo, hi):
        m = _m()
        return [m.logical_and(m.ge(x, lo), m.le(x, hi)), m.lt(x, lo), m.gt(x, hi)]


class Switch(ScalarOp):
    """``where(cond, a, b)``; the condition takes no part in dtype promotion."""

    nin, promote = 3, (1, 2)

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

    def impl(self, x):
        return np.asarray(x).astype(self.dtype)

    def output_dtype(self, dtype):
        return self.dtype

    def partials(self, out, x):
        return [1]


# --- comparisons and logic (not differentiable) -----------------------------------
class _Predicate(ScalarOp):
    def partials(self, out, *inputs):
        return [None] * len(inputs)


def _predicate(cls_name, ufunc, nin, commutative=False):
    return type(
        cls_name,
        (_Predicate,),
        {"ufunc": ufunc, "nin": nin, "commutative": commutative, "__module__": __name__},
    )


Eq = _predicate("Eq", np.equal, 2, True)
Neq = _predicate("Neq", np.not_equal, 2, True)
Lt = _predicate("Lt", np.less, 2)
Le = _predicate("Le", np.less_equal, 2)
Gt = _predicate("Gt", np.greater, 2)
Ge = _predicate("Ge", np.greater_equal, 2)
LogicalAnd = _predicate("LogicalAnd", np.logical_and, 2, True)
LogicalOr = _predicate("LogicalOr", np.logical_or, 2, True)
LogicalXor = _predicate("LogicalXor", np.logical_xor, 2, True)
LogicalNot = _predicate("LogicalNot", np.logical_not, 1)
IsNan = _predicate("IsNan", np.isnan, 1)
IsInf = _predicate("IsInf", np.isinf, 1)
BitwiseAnd = _predicate("BitwiseAnd", np.bitwise_and, 2, True)
BitwiseOr = _predicate("BitwiseOr", np.bitwise_or, 2, True)
BitwiseXor = _predicate("BitwiseXor", np.bitwise_xor, 2, True)
Invert = _predicate("Invert", np.invert, 1)
