"""One row per public op: the table that tests/tensor/test_op_specs.py runs through every
check (values vs NumPy, dtypes, broadcasting, layouts, zero sizes, infer_shape, static
shapes, gradients vs finite differences, R_op vs L_op).

A row says how to build the op on symbolic inputs, what NumPy (or scipy) computes for the
same arrays, which shapes, value domains and dtypes its inputs take, how close float
results must be, which inputs are differentiable, and which checks do not apply (each
with the reason). Adding an op is adding a row here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.special as sps

import graphad as ga
from graphad.tensor import scalar_ops as so
from graphad.tensor.elemwise import Elemwise
from graphad.tensor.linalg import Gemm

# --- check names (the keys of ``OpSpec.skip``) -------------------------------------------
VALUE = "value"
DTYPE = "dtype"
BROADCAST = "broadcast"
LAYOUT = "noncontiguous"
ZERO = "zero_size"
INFER = "infer_shape"
STATIC = "static_shape"
GRAD = "grad"
ROP = "rop"
CHECKS = (VALUE, DTYPE, BROADCAST, LAYOUT, ZERO, INFER, STATIC, GRAD, ROP)

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
FI = FLOATS + INTS
# mixed-dtype input pairs: NumPy 2 promotion across kinds and widths
MIXED = (("float32", "int64"), ("int8", "uint8"), ("float32", "float64"))

# (rtol, atol) by the dtype of the compared result; integers and bools compare exactly
DEFAULT_TOL = {
    "float16": (2e-3, 2e-3),
    "float32": (1e-5, 1e-6),
    "float64": (1e-10, 1e-12),
    "complex64": (1e-5, 1e-6),
    "complex128": (1e-10, 1e-12),
}


# --- value domains ------------------------------------------------------------------------
@dataclass(frozen=True)
class Domain:
    """Uniform values in [low, high]; integers (and ``integral`` floats) are drawn from the
    integers in that range. ``avoid`` keeps values at least that far from 0 (nonzero
    divisors, away from the kink of abs/relu); it needs a symmetric range."""

    low: float = -3.0
    high: float = 3.0
    avoid: float = 0.0
    integral: bool = False

    def sample(self, rng, shape, dtype):
        dt = np.dtype(dtype)
        if dt.kind == "b":
            return np.asarray(rng.random(shape) < 0.5)
        if dt.kind in "iu" or self.integral:
            lo, hi = math.ceil(self.low), math.floor(self.high)
            if dt.kind == "u":
                lo = max(lo, 0)
            choices = [v for v in range(lo, hi + 1) if abs(v) >= self.avoid]
            return np.asarray(rng.choice(choices, size=shape)).astype(dtype)
        if self.avoid:
            assert self.low == -self.high, "avoid needs a symmetric domain"
            mag = rng.uniform(self.avoid, self.high, size=shape)
            return np.asarray(np.where(rng.random(shape) < 0.5, -mag, mag)).astype(dtype)
        return np.asarray(rng.uniform(self.low, self.high, size=shape)).astype(dtype)


@dataclass(frozen=True)
class Indices:
    """Integer indices into an axis of length ``n``, negative ones included; with
    ``repeat`` the first index appears twice (when there is room)."""

    n: int
    repeat: bool = False
    negative: bool = True

    def sample(self, rng, shape, dtype):
        low = -self.n if self.negative else 0
        idx = rng.integers(low, self.n, size=shape)
        if self.repeat and idx.size >= 2:
            flat = idx.reshape(-1)
            flat[-1] = flat[0] - self.n if flat[0] >= 0 and self.negative else flat[0]
        return np.asarray(idx).astype(dtype)


@dataclass(frozen=True)
class Fixed:
    """These exact values (when the shape asked for is theirs; else an empty array)."""

    values: tuple

    def sample(self, rng, shape, dtype):
        arr = np.asarray(self.values, dtype=dtype)
        if arr.shape == tuple(shape):
            return arr.copy()
        assert 0 in shape, f"Fixed{self.values} asked for shape {shape}"
        return np.zeros(shape, dtype=dtype)


@dataclass(frozen=True)
class Simplex:
    """Positive rows that sum to 1 along the last axis (probabilities)."""

    def sample(self, rng, shape, dtype):
        p = rng.uniform(0.1, 1.0, size=shape)
        return np.asarray(p / p.sum(axis=-1, keepdims=True)).astype(dtype)


@dataclass(frozen=True)
class Specials:
    """Finite values with NaN, +Inf and -Inf mixed in (for isnan/isinf)."""

    def sample(self, rng, shape, dtype):
        v = Domain(-3, 3).sample(rng, shape, dtype)
        if np.dtype(dtype).kind == "f" and v.size >= 3:
            flat = v.reshape(-1)
            flat[0], flat[1], flat[-1] = np.nan, np.inf, -np.inf
        return v


ANY = Domain()
POSITIVE = Domain(0.1, 3.0)
UNIT = Domain(-0.9, 0.9)
NONZERO = Domain(-3.0, 3.0, avoid=0.1)
SMALL_INTS = Domain(-2.0, 2.0, integral=True)  # ties for comparisons, zeros for logic
PROBS = Domain(0.05, 0.95)


# --- the row ------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpSpec:
    """One op under test.

    ``build(*inputs)`` makes the graphad expression (a variable or a list), ``ref(*arrays)``
    the NumPy result for the same arrays. ``dtypes`` lists the run dtypes: a name applies
    to every input whose ``fixed`` entry is None, a tuple gives one dtype per input.
    ``grad`` lists the differentiable inputs (checked in float64 at values from
    ``grad_domains`` or ``domains``). ``zero`` gives zero-size input shapes (elementwise
    rows derive them), ``zero_domains`` overrides the domains for them. ``static``
    declares inputs with their full static shapes. ``skip`` maps a check name to the
    reason it does not apply. ``covers`` names the public API entries this row tests.
    """

    name: str
    build: Callable
    ref: Callable
    shapes: tuple
    domains: tuple = ()
    dtypes: tuple = FLOATS
    fixed: tuple = ()
    tol: dict = field(default_factory=dict)
    grad: tuple = ()
    grad_domains: tuple = ()
    elemwise: bool = False
    static: bool = False
    zero: tuple | None = None
    zero_domains: tuple = ()
    covers: tuple = ()
    skip: dict = field(default_factory=dict)

    @property
    def nin(self) -> int:
        return len(self.shapes)

    def input_dtypes(self, run) -> tuple:
        if isinstance(run, tuple):
            return run
        fixed = self.fixed or (None,) * self.nin
        return tuple(run if f is None else f for f in fixed)

    def domain(self, i, kind="value"):
        table = {"grad": self.grad_domains, "zero": self.zero_domains}.get(kind, ())
        if table and table[i] is not None:
            return table[i]
        return self.domains[i] if self.domains else ANY

    def sample(self, rng, run, shapes=None, kind="value"):
        shapes = self.shapes if shapes is None else shapes
        return [
            self.domain(i, kind).sample(rng, shp, dt)
            for i, (shp, dt) in enumerate(zip(shapes, self.input_dtypes(run)))
        ]

    def zero_shapes(self):
        if self.zero is not None:
            return self.zero
        if self.elemwise:
            return tuple((0,) + tuple(s[1:]) if s else () for s in self.shapes)
        return None

    def tolerance(self, dtype) -> tuple:
        return self.tol.get(dtype, DEFAULT_TOL[dtype])


def _public(row_name):
    """The public op a row name starts with: ``expand_dims_tuple`` -> ``expand_dims``."""
    parts = row_name.split("_")
    for n in range(len(parts), 0, -1):
        if callable(getattr(ga, "_".join(parts[:n]), None)):
            return "_".join(parts[:n])
    raise ValueError(f"row {row_name!r} names no public op; give covers=")


def _ew(name, build, ref, nin, domains=None, dtypes=FI, grad=None, **kw):
    """An elementwise row: inputs of shape (2, 3), every input differentiable by default."""
    domains = domains if domains is not None else (ANY,) * nin
    if not isinstance(domains, tuple):
        domains = (domains,) * nin
    grad = tuple(range(nin)) if grad is None else grad
    kw.setdefault("covers", (name,))
    return OpSpec(
        name, build, ref, ((2, 3),) * nin, domains, dtypes, grad=grad, elemwise=True, **kw
    )


def _unary(name, ref, domain=ANY, dtypes=FI, grad=True, **kw):
    fn = getattr(ga, name)
    return _ew(name, lambda x: fn(x), ref, 1, (domain,), dtypes, (0,) if grad else (), **kw)


def _binary(name, ref, domains=(ANY, ANY), dtypes=FI + MIXED, grad=True, fn=None, **kw):
    fn = fn or getattr(ga, name)
    return _ew(name, lambda x, y: fn(x, y), ref, 2, domains, dtypes, (0, 1) if grad else (), **kw)


def no_grad(reason):
    """The skip entries of a row without a derivative."""
    return {GRAD: reason, ROP: reason}


BOOL_OUT = no_grad("returns integers or booleans: no derivative")


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis=-1, keepdims=False):
    x = x if x.dtype.kind == "f" else x.astype("float64")
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # empty: log(0) = -inf
    m = np.where(np.isinf(m), 0, m)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _set(mode, index_of):
    """NumPy reference of set/inc_subtensor: ``index_of(*index_arrays)`` is the index."""

    def ref(x, y, *idx):
        out = x.copy()
        index = index_of(*idx)
        if mode == "set":
            out[index] = y
        else:
            np.add.at(out, index, y)
        return out

    return ref


# negative non-integers (poles at the integers), and a value above the recurrence's 10
_NEGATIVE_GAMMA = Fixed(((-0.5, -1.25, -2.75), (-3.6, -10.3, 12.5)))
_TIES = Fixed(((0.5, -1.0, 2.0), (3.0, 0.0, -20.0)))
_FIXED_PAIR = "fixed values; the logaddexp row checks broadcasting"


def _one_hot(indices, n, dtype=None):
    return (indices[..., None] == np.arange(n)).astype(dtype or ga.config.floatX)


# The tables below keep one row per line or two, aligned by hand: ruff's formatter would
# put every argument on its own line.
# fmt: off

# --- elementwise ----------------------------------------------------------------------------
_NO_ZERO_DIV = no_grad("integer inputs only (division and modulo by zero give 0)")
ELEMWISE = [
    _binary("add", np.add, dtypes=FI + ("int8", "bool") + MIXED),
    _binary("sub", np.subtract, dtypes=FI + ("int8", "uint8") + MIXED),
    _binary("mul", np.multiply, dtypes=FI + ("int8", "bool") + MIXED),
    _binary("true_divide", np.true_divide, (ANY, NONZERO), covers=("true_divide", "true_div")),
    _binary("floor_divide", np.floor_divide, (ANY, NONZERO), dtypes=FI + ("uint8",) + MIXED),
    _binary("mod", np.mod, (ANY, NONZERO), dtypes=FI + ("uint8",) + MIXED),
    _binary("floor_divide_by_zero_int", np.floor_divide, (SMALL_INTS, SMALL_INTS),
            INTS + ("uint8",), grad=False, fn=ga.floor_divide, covers=("floor_divide",),
            skip=_NO_ZERO_DIV),
    _binary("mod_by_zero_int", np.mod, (SMALL_INTS, SMALL_INTS), INTS + ("uint8",), grad=False,
            fn=ga.mod, covers=("mod",), skip=_NO_ZERO_DIV),
    # NumPy refuses integers to negative integer powers: integer exponents stay >= 0
    _binary("pow", np.power, (Domain(0.5, 3.0), Domain(0.0, 2.5)),
            FI + (("int8", "uint8"), ("float32", "int64"), ("int32", "float32"))),
    _binary("pow_negative_exponent", np.power, (Domain(0.5, 3.0), Domain(-2.5, 0.0)),
            FLOATS + (("float32", "int64"),), fn=ga.pow, covers=("pow",)),
    _binary("maximum", np.maximum),
    _binary("minimum", np.minimum),
    _binary("arctan2", np.arctan2, (NONZERO, NONZERO)),
    _unary("neg", np.negative, dtypes=FI + ("int8", "uint8")),
    _unary("abs", np.abs, NONZERO, FI + ("int8",)),
    _unary("sign", np.sign, NONZERO),
    _unary("exp", np.exp, dtypes=FI + ("int8",)),
    _unary("exp2", np.exp2),
    _unary("expm1", np.expm1),
    _unary("log", np.log, POSITIVE, FI + ("uint8",)),
    _unary("log2", np.log2, POSITIVE),
    _unary("log10", np.log10, POSITIVE),
    _unary("log1p", np.log1p, Domain(-0.9, 3.0)),
    _unary("sqrt", np.sqrt, POSITIVE, FI + ("int8",)),
    _unary("sqr", np.square, dtypes=FI + ("int8",), covers=("sqr", "square")),
    _unary("sin", np.sin),
    _unary("cos", np.cos),
    _unary("tan", np.tan, Domain(-1.2, 1.2)),
    _unary("arcsin", np.arcsin, UNIT),
    _unary("arccos", np.arccos, UNIT),
    _unary("arctan", np.arctan),
    _unary("sinh", np.sinh),
    _unary("cosh", np.cosh),
    _unary("tanh", np.tanh),
    _unary("arcsinh", np.arcsinh),
    _unary("arccosh", np.arccosh, Domain(1.1, 3.0)),
    _unary("arctanh", np.arctanh, UNIT),
    _unary("sigmoid", _sigmoid, Domain(-5.0, 5.0), FI + ("int8",)),
    _unary("softplus", lambda x: np.logaddexp(0, x), Domain(-5.0, 5.0), FI + ("int8",)),
    # made by the stabilize pass from log(1 - exp(x)), not public: both branches (-ln 2)
    _ew("log1mexp", Elemwise(so.Log1mexp()), lambda x: np.log(-np.expm1(x)), 1,
        Domain(-3.0, -0.05), FI, covers=()),
    _unary("relu", lambda x: np.maximum(x, 0), NONZERO, FI + ("int8",)),
    _ew("relu_leaky", lambda x: ga.relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), 1,
        NONZERO, FI + ("int8",), covers=("relu",)),
    _ew("relu_alpha_variable", ga.relu, lambda x, a: np.where(x > 0, x, a * x), 2,
        (NONZERO, ANY), FLOATS + (("float32", "float64"),), covers=("relu",)),
    # scipy gives float32 for int8 where NumPy's ufuncs give float16: int8 stays out
    _unary("erf", sps.erf),
    _unary("erfc", sps.erfc),
    _unary("gammaln", sps.gammaln, POSITIVE),
    _unary("digamma", sps.digamma, POSITIVE),
    # below 0: the reflection formulas (and the poles of gammaln's C and NumPy paths)
    _ew("gammaln_negative", ga.gammaln, sps.gammaln, 1, _NEGATIVE_GAMMA, FLOATS,
        covers=("gammaln",)),
    _ew("digamma_negative", ga.digamma, sps.digamma, 1, _NEGATIVE_GAMMA, FLOATS,
        covers=("digamma",)),
    # digamma's derivative, not public: it has no derivative of its own
    _ew("trigamma", Elemwise(so.Trigamma()), lambda x: sps.polygamma(1, x).astype(
        sps.digamma(x).dtype), 1, Domain(-3.0, 3.0, avoid=0.1), FI, grad=(), covers=(),
        skip=no_grad("trigamma's derivative, polygamma(2, x), is not implemented")),
    _unary("log_sigmoid", lambda x: -np.logaddexp(0, -x), Domain(-5.0, 5.0), FI + ("int8",)),
    _ew("log_sigmoid_extreme", ga.log_sigmoid, lambda x: -np.logaddexp(0, -x), 1,
        Fixed(((-1000.0, -80.0, 0.0), (40.0, 1000.0, -745.5))), FLOATS, covers=("log_sigmoid",)),
    _binary("logaddexp", np.logaddexp),
    # a == b: the tie's own branch, gradient 0.5 to each (maximum's alone gives 1 and 0)
    _ew("logaddexp_ties", ga.logaddexp, np.logaddexp, 2, (_TIES, _TIES), FLOATS,
        covers=("logaddexp",), skip={BROADCAST: _FIXED_PAIR}),
    # inf - inf is NaN: both -inf give -inf, both +inf give +inf
    _ew("logaddexp_infinities", ga.logaddexp, np.logaddexp, 2,
        (Fixed(((-np.inf, np.inf, -np.inf), (np.inf, 3.0, -1e30))),
         Fixed(((-np.inf, np.inf, 2.0), (-np.inf, -np.inf, -1e30)))), FLOATS, grad=(),
        covers=("logaddexp",),
        skip={BROADCAST: _FIXED_PAIR, **no_grad("infinite inputs: no finite differences")}),
    _unary("floor", np.floor),
    _unary("ceil", np.ceil),
    _unary("round", np.round),
    OpSpec("clip", ga.clip, np.clip, ((2, 3), (), ()), (ANY, Domain(-2.0, -0.5),
           Domain(0.5, 2.0)), FI, grad=(0, 1, 2), elemwise=True, covers=("clip",)),
    OpSpec("clip_method", lambda x: x.clip(-1.0, 1.0), lambda x: np.clip(x, -1.0, 1.0),
           ((2, 3),), dtypes=FI, grad=(0,), elemwise=True, covers=("clip",)),
    OpSpec("switch", ga.switch, np.where, ((2, 3),) * 3, fixed=("bool", None, None),
           dtypes=FI + (("bool", "float32", "int64"), ("bool", "int8", "uint8")), grad=(1, 2),
           elemwise=True, covers=("switch", "where")),
    OpSpec("where_float_condition", ga.where, np.where, ((2, 3),) * 3, (SMALL_INTS, ANY, ANY),
           FLOATS, grad=(1, 2), elemwise=True, covers=("where",)),
    *[_binary(name, f, (SMALL_INTS, SMALL_INTS), grad=False, skip=BOOL_OUT)
      for name, f in [("eq", np.equal), ("neq", np.not_equal), ("lt", np.less),
                      ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)]],
    *[_binary(name, f, (SMALL_INTS, SMALL_INTS), ("bool", "float64", "int64", ("bool", "int8")),
              grad=False, skip=BOOL_OUT)
      for name, f in [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                      ("logical_xor", np.logical_xor)]],
    _unary("logical_not", np.logical_not, SMALL_INTS, ("bool", "float64", "int64"), grad=False,
           skip=BOOL_OUT),
    _unary("isnan", np.isnan, Specials(), grad=False, skip=BOOL_OUT),
    _unary("isinf", np.isinf, Specials(), grad=False, skip=BOOL_OUT),
    OpSpec("cast_int32", lambda x: ga.cast(x, "int32"), lambda x: x.astype("int32"), ((2, 3),),
           dtypes=FLOATS + ("int64", "bool"), elemwise=True, covers=("cast",),
           skip=no_grad("casts to an integer: no derivative")),
    OpSpec("cast_float32", lambda x: x.astype("float32"), lambda x: x.astype("float32"),
           ((2, 3),), dtypes=("float64", "int64", "bool"), elemwise=True, covers=("cast",),
           skip=no_grad("float32 rounding swamps the 1e-6 steps of central differences and "
                        "the 1e-6 tolerance of R_op vs L_op; cast_float64 checks the rule")),
    OpSpec("cast_float64", lambda x: ga.cast(x, "float64"), lambda x: x.astype("float64"),
           ((2, 3),), dtypes=("float32", "float64", "int64", "bool"), grad=(0,), elemwise=True,
           covers=("cast",)),
]

# --- variable operators (& | ^ ~ map to bitwise ops with no function of their own) ----------
BITWISE = ("bool", "int64", "int8", "uint8", ("int8", "uint8"), ("bool", "int32"))
TWO = ((2, 3), (2, 3))
OPERATORS = [
    OpSpec("operator_and", lambda x, y: x & y, np.bitwise_and, TWO, (SMALL_INTS,) * 2, BITWISE,
           elemwise=True, covers=("&",), skip=BOOL_OUT),
    OpSpec("operator_or", lambda x, y: x | y, np.bitwise_or, TWO, (SMALL_INTS,) * 2, BITWISE,
           elemwise=True, covers=("|",), skip=BOOL_OUT),
    OpSpec("operator_xor", lambda x, y: x ^ y, np.bitwise_xor, TWO, (SMALL_INTS,) * 2, BITWISE,
           elemwise=True, covers=("^",), skip=BOOL_OUT),
    OpSpec("and_", ga.and_, np.bitwise_and, TWO, (SMALL_INTS,) * 2, BITWISE, elemwise=True,
           covers=("and_",), skip=BOOL_OUT),
    OpSpec("or_", ga.or_, np.bitwise_or, TWO, (SMALL_INTS,) * 2, BITWISE, elemwise=True,
           covers=("or_",), skip=BOOL_OUT),
    OpSpec("operator_invert", lambda x: ~x, np.invert, ((2, 3),), (SMALL_INTS,), BITWISE[:4],
           elemwise=True, covers=("~",), skip=BOOL_OUT),
    # Python scalars are weak (NEP 50): x_float32 * 2.0 stays float32, uint8 + 3 stays uint8
    OpSpec("operator_weak_scalars", lambda x: (x * 2.0 + 3) / 4 - 1,
           lambda x: (x * 2.0 + 3) / 4 - 1, ((2, 3),), dtypes=FI + ("uint8", "int8"), grad=(0,),
           elemwise=True, covers=("+", "-", "*", "/")),
    OpSpec("operator_weak_int", lambda x: x + 3, lambda x: x + 3, ((2, 3),), (Domain(0, 3),),
           FI + ("uint8", "int8"), grad=(0,), elemwise=True, covers=("+",)),
    # |y| >= 1 for the gradient keeps the jumps of // and % far from the 1e-6 steps
    OpSpec("operator_arith", lambda x, y: -(x - y) * x // y % y**2,
           lambda x, y: -(x - y) * x // y % y**2, TWO, (ANY, NONZERO), FI + MIXED, grad=(0, 1),
           grad_domains=(ANY, Domain(-3.0, 3.0, avoid=1.0)), elemwise=True,
           covers=("-", "*", "//", "%", "**", "-x")),
    OpSpec("operator_compare", lambda x, y: [x < y, x <= y, x > y, x >= y],
           lambda x, y: [x < y, x <= y, x > y, x >= y], TWO, (SMALL_INTS,) * 2, FI,
           elemwise=True, covers=("<", "<=", ">", ">="), skip=BOOL_OUT),
    OpSpec("operator_abs_pos", lambda x: [abs(x), +x], lambda x: [abs(x), +x], ((2, 3),),
           (NONZERO,), FI + ("int8",), grad=(0,), elemwise=True, covers=("abs()", "+x")),
]

# --- reductions -----------------------------------------------------------------------------
def _norm(x, L, axis=None, keepdims=False):
    """Theano's ``x.norm(L)`` in NumPy (np.linalg.norm reads a 2-d array as a matrix)."""
    a = np.abs(x if x.dtype.kind == "f" else x.astype("float64"))
    if L == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if L == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if L == 0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(a.dtype)
    return np.sum(a**L, axis=axis, keepdims=keepdims) ** (1.0 / L)


R, R3 = (2, 3), (2, 3, 4)
REDUCE_DTYPES = FI + ("bool",)
EMPTY_MAX = {ZERO: "NumPy's max/min/argmax/argmin of an empty array raise (no identity)"}
ARG = no_grad("argmax/argmin give int64 indices")
LOGIC = no_grad("all/any give booleans")
FLOAT32_OUT = no_grad("a float32 result even from float64 input: its rounding swamps the 1e-6 "
                      "steps of central differences (sum_acc_dtype checks the rule)")


def _red(name, build, ref, shape=R, zero=((0, 3),), dtypes=REDUCE_DTYPES, grad=(0,), **kw):
    if "covers" not in kw:  # (x.norm's rows name a method, not a public function)
        kw["covers"] = (_public(name),)
    return OpSpec(name, build, ref, (shape,), dtypes=dtypes, grad=grad, zero=zero, **kw)


REDUCTIONS = [
    _red("sum", ga.sum, np.sum),
    _red("sum_axis1_method", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1)),
    _red("sum_axes_keepdims", lambda x: ga.sum(x, axis=(0, 2), keepdims=True),
         lambda x: np.sum(x, axis=(0, 2), keepdims=True), R3, ((2, 0, 4),)),
    _red("sum_negative_axis", lambda x: ga.sum(x, axis=-2), lambda x: np.sum(x, axis=-2), R3,
         ((2, 3, 0),)),
    _red("sum_acc_dtype", lambda x: ga.sum(x, acc_dtype="float64"),
         lambda x: np.sum(x, dtype="float64").astype(np.sum(x).dtype)),
    _red("sum_dtype_method", lambda x: x.sum(axis=1, dtype="float32"),
         lambda x: x.sum(axis=1, dtype="float32"), skip=FLOAT32_OUT),
    _red("prod", ga.prod, np.prod, grad_domains=(Domain(0.5, 1.5),)),
    _red("prod_axis0_keepdims", lambda x: ga.prod(x, axis=0, keepdims=True),
         lambda x: np.prod(x, axis=0, keepdims=True)),
    # exact zeros: one zero in a slice, two in another (the gradient must stay exact)
    _red("prod_with_zeros", lambda x: ga.prod(x, axis=1), lambda x: np.prod(x, axis=1), (3, 3),
         ((3, 0),), FLOATS + ("int64",),
         domains=(Fixed(((0.0, 2.0, 3.0), (0.0, 0.0, 1.5), (1.0, -2.0, 0.5))),)),
    _red("mean", ga.mean, np.mean),
    _red("mean_axis1_keepdims", lambda x: x.mean(axis=1, keepdims=True),
         lambda x: np.mean(x, axis=1, keepdims=True)),
    _red("mean_dtype", lambda x: ga.mean(x, dtype="float32"),
         lambda x: np.mean(x, dtype="float32"), skip=FLOAT32_OUT),
    _red("mean_acc_dtype_method", lambda x: x.mean(axis=0, acc_dtype="float64"),
         lambda x: np.mean(x, axis=0, dtype="float64").astype(np.mean(x, axis=0).dtype)),
    _red("var", ga.var, np.var),
    _red("var_axis0_ddof1", lambda x: x.var(axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1),
         zero=((2, 0),)),
    _red("std", ga.std, np.std),
    _red("std_axis1_keepdims", lambda x: ga.std(x, axis=1, keepdims=True),
         lambda x: np.std(x, axis=1, keepdims=True)),
    _red("max", ga.max, np.max, zero=None, skip=EMPTY_MAX),
    _red("max_axis1_method", lambda x: x.max(axis=1), lambda x: x.max(axis=1)),
    _red("min", ga.min, np.min, zero=None, skip=EMPTY_MAX),
    _red("min_axis0_keepdims", lambda x: ga.min(x, axis=0, keepdims=True),
         lambda x: np.min(x, axis=0, keepdims=True), zero=((2, 0),)),
    _red("argmax", ga.argmax, np.argmax, zero=None, grad=(), skip={**EMPTY_MAX, **ARG}),
    _red("argmax_axis1_method", lambda x: x.argmax(axis=1), lambda x: x.argmax(axis=1), grad=(),
         skip=ARG),
    _red("argmin", ga.argmin, np.argmin, zero=None, grad=(), skip={**EMPTY_MAX, **ARG}),
    _red("argmin_axis0_keepdims", lambda x: ga.argmin(x, axis=0, keepdims=True),
         lambda x: np.argmin(x, axis=0, keepdims=True), zero=((2, 0),), grad=(), skip=ARG),
    _red("all", ga.all, np.all, domains=(SMALL_INTS,), grad=(), skip=LOGIC),
    _red("all_axis1_method", lambda x: x.all(axis=1), lambda x: x.all(axis=1),
         domains=(SMALL_INTS,), grad=(), skip=LOGIC),
    _red("any", ga.any, np.any, domains=(SMALL_INTS,), grad=(), skip=LOGIC),
    _red("any_axis0_keepdims", lambda x: ga.any(x, axis=0, keepdims=True),
         lambda x: np.any(x, axis=0, keepdims=True), domains=(SMALL_INTS,), grad=(), skip=LOGIC),
    _red("logsumexp", ga.logsumexp, _logsumexp, dtypes=FI),
    *[_red(f"norm_{label}", lambda x, L=L: x.norm(L), lambda x, L=L: _norm(x, L), dtypes=FI,
           domains=(NONZERO,), covers=("x.norm",))
      for label, L in [("l1", 1), ("l2", 2), ("l3", 3), ("l0", 0), ("lhalf", 0.5)]],
    _red("norm_l2_axis1_keepdims", lambda x: x.norm(2, axis=1, keepdims=True),
         lambda x: _norm(x, 2, axis=1, keepdims=True), dtypes=FI, domains=(NONZERO,),
         covers=("x.norm",)),
    _red("norm_inf_axis0", lambda x: x.norm(np.inf, axis=0), lambda x: _norm(x, np.inf, 0),
         zero=((2, 0),), dtypes=FI, domains=(NONZERO,), covers=("x.norm",)),
    _red("norm_minus_inf", lambda x: x.norm(-np.inf), lambda x: _norm(x, -np.inf), zero=None,
         dtypes=FI, domains=(NONZERO,), covers=("x.norm",), skip=EMPTY_MAX),
    _red("logsumexp_axis0_keepdims", lambda x: ga.logsumexp(x, axis=0, keepdims=True),
         lambda x: _logsumexp(x, axis=0, keepdims=True), dtypes=FI, zero=((2, 0),)),
    _red("logsumexp_all_axes", lambda x: ga.logsumexp(x, axis=None),
         lambda x: _logsumexp(x, axis=None), dtypes=FLOATS),
]

# --- shape ops -------------------------------------------------------------------------------
SHAPE_DTYPES = FLOATS + ("int64", "bool")
SIZE, ZERO_SIZE = Domain(1.0, 3.0), Domain(0.0, 0.0)  # a runtime size; a size of 0
CONST_TARGET = {ZERO: "the target shape is a constant that a zero-size input cannot fill"}
FROM_SIZES = no_grad("builds an array from sizes: nothing to differentiate")
SHAPE_VALUES = no_grad("int64 shape values")
ONE_HOT_INDICES = no_grad("integer indices: no derivative")


def _shape(name, build, ref, shapes, zero, dtypes=SHAPE_DTYPES, **kw):
    kw.setdefault("covers", (_public(name),))
    kw.setdefault("grad", tuple(range(len(shapes))))
    return OpSpec(name, build, ref, shapes, dtypes=dtypes, zero=zero, **kw)


def _sized(name, build, ref, nin=1, dtypes=INTS, domains=None, zero_domains=None, **kw):
    """A row whose inputs are sizes (int scalars); its zero-size case passes a size of 0."""
    return OpSpec(name, build, ref, ((),) * nin, domains or (SIZE,) * nin, dtypes,
                  zero=((),) * nin, zero_domains=zero_domains or (ZERO_SIZE,) * nin,
                  covers=(_public(name),), skip=FROM_SIZES, **kw)


SHAPE_OPS = [
    _shape("reshape", lambda x: ga.reshape(x, (3, 2)), lambda x: x.reshape(3, 2), (R,), None,
           skip=CONST_TARGET),
    _shape("reshape_symbolic", lambda x: x.reshape((x.shape[1], -1)),
           lambda x: x.reshape(x.shape[1], -1), (R,), ((0, 3),)),
    _shape("reshape_minus1_3d", lambda x: ga.reshape(x, (-1, 4)), lambda x: x.reshape(-1, 4),
           (R3,), ((0, 3, 4),)),
    _shape("transpose", ga.transpose, np.transpose, (R3,), ((0, 3, 4),)),
    _shape("transpose_axes", lambda x: ga.transpose(x, (1, 0, 2)),
           lambda x: np.transpose(x, (1, 0, 2)), (R3,), ((2, 0, 4),)),
    _shape("transpose_T", lambda x: x.T, lambda x: x.T, (R,), ((0, 3),)),
    _shape("dimshuffle", lambda x: ga.dimshuffle(x, (1, "x", 0)), lambda x: x.T[:, None, :],
           (R,), ((0, 3),)),
    _shape("dimshuffle_drop_method", lambda x: x.dimshuffle(2, 0), lambda x: x[:, 0, :].T,
           ((2, 1, 3),), ((0, 1, 3),)),
    _shape("flatten", ga.flatten, lambda x: x.reshape(-1), (R3,), ((0, 3, 4),)),
    _shape("flatten_ndim2", lambda x: ga.flatten(x, 2),
           lambda x: x.reshape(x.shape[0], x.shape[1] * x.shape[2]), (R3,), ((0, 3, 4),)),
    _shape("expand_dims", lambda x: ga.expand_dims(x, 1), lambda x: np.expand_dims(x, 1), (R,),
           ((0, 3),)),
    _shape("expand_dims_tuple", lambda x: ga.expand_dims(x, (0, -1)),
           lambda x: np.expand_dims(x, (0, -1)), (R,), ((0, 3),)),
    _shape("squeeze", lambda x: ga.squeeze(x, 1), lambda x: np.squeeze(x, 1), ((2, 1, 3),),
           ((0, 1, 3),)),
    # without axis only statically-1 axes go (DESIGN), so the input is declared static
    _shape("squeeze_static", lambda x: x.squeeze(), np.squeeze, ((2, 1, 3, 1),),
           ((0, 1, 3, 1),), static=True),
    _shape("broadcast_to", lambda x: ga.broadcast_to(x, (3, 2, 4)),
           lambda x: np.broadcast_to(x, (3, 2, 4)), ((2, 1),), None, skip=CONST_TARGET),
    _shape("broadcast_to_symbolic", lambda x: ga.broadcast_to(x, (3, x.shape[0], 4)),
           lambda x: np.broadcast_to(x, (3, x.shape[0], 4)), ((2, 1),), ((0, 1),)),
    _shape("concatenate", lambda x, y: ga.concatenate([x, y], axis=1),
           lambda x, y: np.concatenate([x, y], axis=1), ((2, 3), (2, 2)), ((0, 3), (0, 2)),
           dtypes=SHAPE_DTYPES + (("float32", "float64"), ("int32", "float32"))),
    _shape("concatenate_axis0_three", lambda x, y, z: ga.concatenate([x, y, z]),
           lambda x, y, z: np.concatenate([x, y, z]), ((1, 3), (2, 3), (1, 3)),
           ((0, 3), (2, 3), (0, 3))),
    _shape("stack", lambda x, y: ga.stack([x, y]), lambda x, y: np.stack([x, y]), (R, R),
           ((0, 3), (0, 3))),
    _shape("stack_last_axis", lambda x, y: ga.stack([x, y], axis=-1),
           lambda x, y: np.stack([x, y], axis=-1), (R, R), ((0, 3), (0, 3))),
    _shape("split", lambda x: ga.split(x, [1, 3], axis=1), lambda x: np.split(x, [1, 3], axis=1),
           ((2, 4),), ((0, 4),)),
    _shape("split_sections", lambda x: ga.split(x, 2), lambda x: np.split(x, 2), ((4, 3),),
           ((0, 3),)),
    _shape("tile", lambda x: ga.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1)), (R,), ((0, 3),)),
    _shape("tile_int_reps", lambda x: ga.tile(x, 3), lambda x: np.tile(x, 3), (R,), ((0, 3),)),
    _shape("repeat", lambda x: ga.repeat(x, 2, axis=1), lambda x: np.repeat(x, 2, axis=1), (R,),
           ((0, 3),)),
    _shape("repeat_flat", lambda x: ga.repeat(x, 2), lambda x: np.repeat(x, 2), (R,), ((0, 3),)),
    _shape("repeat_counts", lambda x: ga.repeat(x, [1, 0, 2], axis=1),
           lambda x: np.repeat(x, [1, 0, 2], axis=1), (R,), ((0, 3),)),
    _sized("zeros", lambda n: ga.zeros((n, 3)), lambda n: np.zeros((n, 3))),
    _sized("ones_dtype", lambda n: ga.ones((2, n), dtype="int8"),
           lambda n: np.ones((2, n), dtype="int8")),
    _sized("ones_float32", lambda n: ga.ones(n, dtype="float32"),
           lambda n: np.ones(n, dtype="float32"), dtypes=("int64",)),
    _shape("zeros_like", ga.zeros_like, np.zeros_like, (R,), ((0, 3),), grad=(),
           skip=no_grad("constant zeros: the output does not depend on x's values")),
    _shape("ones_like", ga.ones_like, np.ones_like, (R,), ((0, 3),), grad=(),
           skip=no_grad("constant ones: the output does not depend on x's values")),
    OpSpec("full", lambda v, n: ga.full((n, 2), v), lambda v, n: np.full((n, 2), v), ((), ()),
           (ANY, SIZE), SHAPE_DTYPES, fixed=(None, "int64"), grad=(0,), zero=((), ()),
           zero_domains=(None, ZERO_SIZE), covers=("full",)),
    _sized("full_python_scalar", lambda n: ga.full((n,), 1.5), lambda n: np.full((n,), 1.5)),
    OpSpec("alloc", lambda v, n: ga.alloc(v, n, 3), lambda v, n: np.broadcast_to(v, (n, 3)),
           ((3,), ()), (ANY, SIZE), SHAPE_DTYPES, fixed=(None, "int64"), grad=(0,),
           zero=((3,), ()), zero_domains=(None, ZERO_SIZE), covers=("alloc",)),
    _sized("arange", ga.arange, np.arange, domains=(Domain(0.0, 5.0),)),
    _sized("arange_start_stop_step", lambda a, b: ga.arange(a, b, 2),
           lambda a, b: np.arange(a, b, 2), 2, INTS + FLOATS + (("int32", "int64"),),
           (Domain(-3.0, 0.0), Domain(1.0, 6.0))),
    _sized("arange_float_step", lambda a, b: ga.arange(a, b, 0.5),
           lambda a, b: np.arange(a, b, 0.5), 2, FLOATS + ("int64",),
           (Domain(-1.0, 0.0), Domain(1.0, 2.0))),
    _sized("eye", ga.eye, np.eye),
    _sized("eye_rect_k", lambda n, m: ga.eye(n, m, 1, dtype="int32"),
           lambda n, m: np.eye(n, m, 1, dtype="int32"), 2, ("int64",),
           zero_domains=(ZERO_SIZE, SIZE)),
    # indices outside [0, n), negative ones included, give rows of zeros
    OpSpec("one_hot", lambda i: ga.one_hot(i, 4), lambda i: _one_hot(i, 4), ((5,),),
           (Domain(-2.0, 5.0),), INTS + ("uint8",), zero=((0,),), covers=("one_hot",),
           skip=ONE_HOT_INDICES),
    OpSpec("one_hot_symbolic_n_dtype", lambda i, n: ga.one_hot(i, n, dtype="float32"),
           lambda i, n: _one_hot(i, n, "float32"), ((2, 3), ()), (Domain(-1.0, 4.0), SIZE),
           INTS, fixed=(None, "int64"), zero=((0, 3), ()), covers=("one_hot",),
           skip=ONE_HOT_INDICES),
    _shape("shape", ga.shape, lambda x: np.array(x.shape), (R3,), ((0, 3, 4),), grad=(),
           skip=SHAPE_VALUES),
    _shape("shape_attribute_entries", lambda x: x.shape[1] * x.shape[0],
           lambda x: np.int64(x.shape[1] * x.shape[0]), (R,), ((0, 3),), grad=(),
           skip=SHAPE_VALUES),
]

# --- indexing --------------------------------------------------------------------------------
X = (3, 4)
INDEX_DTYPES = FLOATS + ("int64",)
BASIC, ADVANCED, MASK = ("getitem_basic",), ("getitem_advanced",), ("getitem_mask",)
SET, INC = ("set_subtensor",), ("inc_subtensor",)
ROWS_2, FLAT_2 = (slice(1, None), slice(None, None, 2)), slice(None, None, 2)


def _idx(name, build, ref, shapes, zero, covers, fixed=None, grad=(0,), **kw):
    """An indexing row: input 0 is indexed, the others are int64 indices unless ``fixed``
    says otherwise."""
    fixed = fixed or (None,) + ("int64",) * (len(shapes) - 1)
    kw.setdefault("dtypes", INDEX_DTYPES)
    return OpSpec(name, build, ref, shapes, fixed=fixed, grad=grad, zero=zero, covers=covers,
                  **kw)


INDEXING = [
    _idx("getitem_basic", lambda x: x[1:, ::2], lambda x: x[1:, ::2], (X,), ((0, 4),), BASIC),
    _idx("getitem_int", lambda x: x[1], lambda x: x[1], (X,), ((2, 0),), BASIC),
    _idx("getitem_negative_step", lambda x: x[::-1, -1:0:-2], lambda x: x[::-1, -1:0:-2], (X,),
         ((0, 4),), BASIC),
    _idx("getitem_newaxis_ellipsis", lambda x: x[None, ..., -1], lambda x: x[None, ..., -1],
         (R3,), ((0, 3, 4),), BASIC),
    _idx("getitem_symbolic_bounds", lambda x, n: x[n:, n - 1], lambda x, n: x[n:, n - 1],
         (X, ()), ((0, 4), ()), BASIC, domains=(ANY, Domain(1.0, 2.0))),
    _idx("getitem_advanced", lambda x, i: x[i], lambda x, i: x[i], (X, (4,)), (X, (0,)),
         ADVANCED, domains=(ANY, Indices(3, repeat=True))),
    _idx("getitem_advanced_axis1", lambda x, i: x[:, i], lambda x, i: x[:, i], (X, (2, 2)),
         ((0, 4), (2, 2)), ADVANCED, domains=(ANY, Indices(4, repeat=True))),
    _idx("getitem_advanced_pair", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
         (X, (2, 1), (3,)), (X, (0, 1), (3,)), ADVANCED, domains=(ANY, Indices(3), Indices(4))),
    _idx("getitem_advanced_separated", lambda x, i, j: x[i, :, j], lambda x, i, j: x[i, :, j],
         (R3, (2,), (2,)), ((2, 0, 4), (2,), (2,)), ADVANCED,
         domains=(ANY, Indices(2), Indices(4))),
    _idx("getitem_mask", lambda x, m: x[m], lambda x, m: x[m], (X, X), ((0, 4), (0, 4)), MASK,
         fixed=(None, "bool")),
    _idx("getitem_mask_rows", lambda x, m: x[m, 1:], lambda x, m: x[m, 1:], (X, (3,)),
         ((0, 4), (0,)), MASK, fixed=(None, "bool")),
    _idx("getitem_mask_expression", lambda x: x[x > 0], lambda x: x[x > 0], (X,), ((0, 4),),
         MASK),
    _idx("nonzero", lambda x: list(ga.nonzero(x)), lambda x: list(np.nonzero(x)), (X,),
         ((0, 4),), ("nonzero",), dtypes=INDEX_DTYPES + ("bool",), domains=(SMALL_INTS,),
         grad=(), skip=no_grad("int64 indices")),
    _idx("nonzero_method_3d", lambda x: list(x.nonzero()), lambda x: list(np.nonzero(x)),
         (R3,), ((2, 0, 4),), ("nonzero",), domains=(SMALL_INTS,), grad=(),
         skip=no_grad("int64 indices")),
    _idx("nonzero_vector", lambda x: x.nonzero()[0], lambda x: np.nonzero(x)[0], ((5,),),
         ((0,),), ("nonzero",), domains=(SMALL_INTS,), grad=(), skip=no_grad("int64 indices")),
    _idx("set_subtensor_basic", lambda x, y: ga.set_subtensor(x[1:, ::2], y),
         _set("set", lambda: ROWS_2), (X, (2, 2)), ((0, 4), (0, 2)), SET, (None, None), (0, 1)),
    _idx("set_subtensor_broadcast_value", lambda x, y: ga.set_subtensor(x[:, 1], y),
         _set("set", lambda: (slice(None), 1)), (X, ()), ((0, 4), ()), SET, (None, None),
         (0, 1)),
    _idx("set_subtensor_python_scalar", lambda x: ga.set_subtensor(x[0], 2),
         lambda x: _set("set", lambda: 0)(x, 2), (X,), ((1, 0),), SET),
    _idx("set_subtensor_advanced", lambda x, y, i: ga.set_subtensor(x[i], y),
         _set("set", lambda i: i), (X, (2, 4), (2,)), (X, (0, 4), (0,)), SET,
         (None, None, "int64"), (0, 1), domains=(ANY, ANY, Fixed((2, 0)))),
    # repeated indices: the last write wins, so the overwritten value has no gradient
    _idx("set_subtensor_repeated", lambda x, y, i: ga.set_subtensor(x[i], y),
         _set("set", lambda i: i), (X, (3, 4), (3,)), (X, (0, 4), (0,)), SET,
         (None, None, "int64"), (0, 1), domains=(ANY, ANY, Fixed((0, 2, 0)))),
    _idx("set_subtensor_mask", lambda x, y, m: ga.set_subtensor(x[m], y),
         _set("set", lambda m: m), (X, (), X), ((0, 4), (), (0, 4)), SET,
         (None, None, "bool"), (0, 1)),
    _idx("inc_subtensor_basic", lambda x, y: ga.inc_subtensor(x[1:, ::2], y),
         _set("inc", lambda: ROWS_2), (X, (2, 2)), ((0, 4), (0, 2)), INC, (None, None), (0, 1)),
    _idx("inc_subtensor_broadcast_value", lambda x, y: ga.inc_subtensor(x[::2], y),
         _set("inc", lambda: FLAT_2), (X, (4,)), ((0, 4), (4,)), INC, (None, None), (0, 1)),
    # repeated indices accumulate (np.add.at)
    _idx("inc_subtensor_repeated", lambda x, y, i: ga.inc_subtensor(x[i], y),
         _set("inc", lambda i: i), (X, (3, 4), (3,)), (X, (0, 4), (0,)), INC,
         (None, None, "int64"), (0, 1), domains=(ANY, ANY, Fixed((0, 2, 0)))),
    _idx("inc_subtensor_advanced_pair", lambda x, y, i, j: ga.inc_subtensor(x[i, j], y),
         _set("inc", lambda i, j: (i, j)), (X, (4,), (4,), (4,)), (X, (0,), (0,), (0,)), INC,
         (None, None, "int64", "int64"), (0, 1),
         domains=(ANY, ANY, Fixed((0, 1, 0, -1)), Fixed((2, 3, 2, 0)))),
    _idx("take_axis0", lambda x, i: ga.take(x, i, axis=0), lambda x, i: np.take(x, i, axis=0),
         (X, (4,)), (X, (0,)), ("take",), domains=(ANY, Indices(3, repeat=True))),
    _idx("take_flat", ga.take, np.take, (X, (2, 3)), ((0, 4), (0, 3)), ("take",),
         domains=(ANY, Indices(12, repeat=True))),
    _idx("take_last_axis_2d_indices", lambda x, i: ga.take(x, i, axis=-1),
         lambda x, i: np.take(x, i, axis=-1), (R3, (2, 2)), ((0, 3, 4), (2, 2)), ("take",),
         domains=(ANY, Indices(4, repeat=True))),
]

# --- linear algebra --------------------------------------------------------------------------
LA_DTYPES = FLOATS + ("int64", ("float32", "float64"), ("int32", "float32"))


def _la(name, build, ref, shapes, zero, **kw):
    kw.setdefault("covers", (_public(name),))
    return OpSpec(name, build, ref, shapes, dtypes=LA_DTYPES, grad=(0, 1), zero=zero, **kw)


LINALG = [
    _la("dot_vv", ga.dot, np.dot, ((3,), (3,)), ((0,), (0,))),
    _la("dot_mv", ga.dot, np.dot, ((2, 3), (3,)), ((0, 3), (3,))),
    _la("dot_mm", ga.dot, np.dot, ((2, 3), (3, 4)), ((2, 0), (0, 4))),
    _la("dot_scalar", ga.dot, np.dot, ((), (2, 3)), ((), (0, 3))),
    _la("dot_3d_2d", ga.dot, np.dot, ((2, 3, 4), (4, 2)), ((0, 3, 4), (4, 2))),
    _la("dot_3d_3d", ga.dot, np.dot, ((2, 1, 3), (2, 3, 2)), ((2, 1, 0), (2, 0, 2))),
    _la("dot_method", lambda a, b: a.dot(b), lambda a, b: a.dot(b), ((2, 3), (3,)),
        ((0, 3), (3,))),
    _la("matmul", ga.matmul, np.matmul, ((2, 3), (3, 4)), ((0, 3), (3, 4))),
    _la("matmul_batched", ga.matmul, np.matmul, ((2, 2, 3), (3, 4)), ((0, 2, 3), (3, 4))),
    # batch axes broadcast at run time: the first is declared None and is 1
    _la("matmul_batch_broadcast", ga.matmul, np.matmul, ((1, 2, 3), (4, 3, 2)),
        ((1, 2, 3), (0, 3, 2))),
    _la("matmul_vector_left", ga.matmul, np.matmul, ((3,), (2, 3, 4)), ((3,), (0, 3, 4))),
    _la("matmul_vector_right", ga.matmul, np.matmul, ((2, 2, 3), (3,)), ((0, 2, 3), (3,))),
    _la("matmul_operator", lambda a, b: a @ b, lambda a, b: a @ b, ((2, 3), (3, 2)),
        ((2, 0), (0, 2)), covers=("matmul", "@")),
    _la("outer", ga.outer, np.outer, ((3,), (4,)), ((0,), (4,))),
    _la("outer_flattens", ga.outer, np.outer, ((2, 2), (3,)), ((0, 2), (3,))),
    _la("tensordot_axes1", lambda a, b: ga.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1),
        ((2, 3), (3, 4)), ((2, 0), (0, 4))),
    _la("tensordot_axes2", ga.tensordot, np.tensordot, ((2, 3, 4), (3, 4, 2)),
        ((0, 3, 4), (3, 4, 2))),
    _la("tensordot_axes_lists", lambda a, b: ga.tensordot(a, b, ([1, 2], [1, 0])),
        lambda a, b: np.tensordot(a, b, ([1, 2], [1, 0])), ((2, 3, 4), (4, 3, 2)),
        ((0, 3, 4), (4, 3, 2))),
    # GEMM is made by the specialize pass, not by users; its row checks it all the same
    OpSpec("gemm", lambda c, al, a, b, be: Gemm()(c, al, a, b, be),
           lambda c, al, a, b, be: be * c + al * (a @ b), ((2, 4), (), (2, 3), (3, 4), ()),
           grad=(0, 1, 2, 3, 4), zero=((0, 4), (), (0, 3), (3, 4), ()), covers=()),
    OpSpec("gemm_bias", lambda c, al, a, b, be: Gemm()(c, al, a, b, be),
           lambda c, al, a, b, be: be * c + al * (a @ b), ((4,), (), (2, 3), (3, 4), ()),
           grad=(0, 1, 2, 3, 4), zero=((4,), (), (0, 3), (3, 4), ()), covers=(),
           skip={BROADCAST: "C of another rank is the case under test"}),
]

# --- neural nets (sigmoid, softplus and relu are elementwise rows above) ---------------------
NNET = [
    OpSpec("softmax", ga.softmax, _softmax, (R,), dtypes=FLOATS + ("int64",), grad=(0,),
           zero=((0, 3),), covers=("softmax",)),
    OpSpec("softmax_axis0", lambda x: ga.softmax(x, axis=0), lambda x: _softmax(x, 0), (R3,),
           grad=(0,), zero=((2, 0, 4),), covers=("softmax",)),
    OpSpec("log_softmax", ga.log_softmax, lambda x: x - _logsumexp(x, keepdims=True), (R,),
           dtypes=FLOATS + ("int64",), grad=(0,), zero=((0, 3),), covers=("log_softmax",)),
    OpSpec("log_softmax_axis0", lambda x: ga.log_softmax(x, axis=0),
           lambda x: x - _logsumexp(x, axis=0, keepdims=True), (R3,), grad=(0,),
           zero=((2, 0, 4),), covers=("log_softmax",)),
    OpSpec("categorical_crossentropy_labels", ga.categorical_crossentropy,
           lambda p, t: -np.log(p[np.arange(len(t)), t]), ((4, 3), (4,)),
           (Simplex(), Indices(3, negative=False)), fixed=(None, "int64"), grad=(0,),
           zero=((0, 3), (0,)), covers=("categorical_crossentropy",)),
    OpSpec("categorical_crossentropy_probs", ga.categorical_crossentropy,
           lambda p, t: -(t * np.log(p)).sum(axis=-1), ((4, 3), (4, 3)), (Simplex(), Simplex()),
           FLOATS + (("float32", "float64"),), grad=(0, 1), zero=((0, 3), (0, 3)),
           covers=("categorical_crossentropy",)),
    OpSpec("binary_crossentropy", ga.binary_crossentropy,
           lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)), (R, R), (PROBS, PROBS),
           FLOATS + (("float32", "float64"),), grad=(0, 1), elemwise=True,
           covers=("binary_crossentropy",)),
]

# fmt: on

ROWS = ELEMWISE + OPERATORS + REDUCTIONS + SHAPE_OPS + INDEXING + LINALG + NNET
ROWS_BY_NAME = {row.name: row for row in ROWS}
