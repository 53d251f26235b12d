"""The base of elementwise primitives: ``ScalarOp`` (NumPy reference, dtype rule,
C expression hooks), the C types and helpers the C renderer shares with it, and
``float_to_int``, the float → int cast every backend computes alike.

The primitives themselves are in scalar_ops.py.
"""

from __future__ import annotations

import platform
import re
from functools import lru_cache

import numpy as np

from ..graph.op import Value, operand


def _m():
    from . import math

    return math


# the operators that print as Python writes them
INFIX = {
    "add": "+", "sub": "-", "mul": "*", "true_divide": "/", "floor_divide": "//",
    "mod": "%", "pow": "**", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
    "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^", "logical_and": "&",
    "logical_or": "|", "logical_xor": "^",
}  # fmt: skip
PREFIX = {"neg": "-", "invert": "~", "logical_not": "~"}


class ScalarOp(Value):
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

    def __str__(self):
        return self.name

    __repr__ = __str__

    def user_text(self, args) -> str:
        """The op applied to the texts ``args`` as a user writes it: ``a + b``,
        ``-a``, ``exp(a)`` (for error messages)."""
        symbol = INFIX.get(self.name)
        if symbol is not None and len(args) == 2:
            return f"{operand(args[0])} {symbol} {operand(args[1])}"
        if self.name in PREFIX and len(args) == 1:
            return f"{PREFIX[self.name]}{operand(args[0])}"
        return f"{self.name}({', '.join(args)})"

    # C code: ``c_func`` names a libm function (``exp`` → ``expf`` for float32),
    # ``c_expr`` is a template over the operands ``{0}, {1}, ...`` (``{f}`` is the libm
    # suffix, ``{t}`` the C type); ``c_int`` overrides it for integer and bool loops.
    # Operands arrive already converted to ``operand_dtypes``. None: no C path (the
    # NumPy reference runs instead).
    c_func: str | None = None
    c_expr: str | None = None
    c_int: str | None = None

    def impl(self, *args):
        return self.ufunc(*args)

    def operand_dtypes(self, in_dtypes, out_dtype) -> list:
        """The dtypes NumPy's loop computes in (what each operand is converted to)."""
        return [out_dtype] * len(in_dtypes)

    def c_code(self, args, dtype):
        """The C expression of this op on operand expressions ``args`` whose loop
        dtype is ``dtype``, or None when there is no C path for it."""
        kind = np.dtype(dtype).kind
        if kind not in "biuf" or dtype == "float16":
            return None
        if kind == "f" and self.c_func:
            return f"{self.c_func}{_suffix(dtype)}({', '.join(args)})"
        template = self.c_int if kind != "f" and self.c_int is not None else self.c_expr
        if template is None:
            return None
        bits = np.dtype(dtype).itemsize * 8
        return template.format(*args, f=_suffix(dtype), t=c_type(dtype), b=bits)

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


C_TYPES = {
    "bool": "npy_bool",
    "int8": "npy_int8",
    "int16": "npy_int16",
    "int32": "npy_int32",
    "int64": "npy_int64",
    "uint8": "npy_uint8",
    "uint16": "npy_uint16",
    "uint32": "npy_uint32",
    "uint64": "npy_uint64",
    "float32": "npy_float32",
    "float64": "npy_float64",
}


def c_type(dtype: str) -> str:
    """The C type of a dtype (NumPy's fixed-width typedefs)."""
    return C_TYPES[dtype]


def _suffix(dtype: str) -> str:
    return "f" if dtype == "float32" else ""


def _int_helper(name):
    """c_code for floor_divide/mod on integers: graphad_runtime.h's helpers, which
    give 0 for a zero divisor and never trap."""

    def c_code(self, args, dtype):
        kind = np.dtype(dtype).kind
        if kind == "f":
            return ScalarOp.c_code(self, args, dtype)
        if kind == "b":
            return None
        width = "64" if np.dtype(dtype).itemsize == 8 else "32"
        sign = "u" if kind == "u" else "i"
        return f"({c_type(dtype)})graphad_{name}_{sign}{width}({args[0]}, {args[1]})"

    return c_code


def _float_rule(dtype: str) -> str:
    """The dtype NumPy's transcendental ufuncs give for ``dtype`` (np.exp's rule)."""
    return np.exp(np.ones(1, dtype=dtype)).dtype.name


_X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def float_to_int(x, dtype):
    """The float array ``x`` cast to the int ``dtype`` by graphad's rule, which gives
    NaN, ±Inf and out-of-range values the result NumPy gives on x86-64 (docs/ops.md,
    "Casts"; the C backend's ``kernel.render_c.float_to_int`` is the same rule).

    >>> float_to_int(np.array([np.nan, 3.7, -1.5, 300.0, 1e20]), "int8").tolist()
    [0, 3, -1, 44, 0]
    """
    dtype = np.dtype(dtype)
    with np.errstate(invalid="ignore"):  # the result is defined: no warning
        if not _X86_64:
            return _x86_float_to_int(x, dtype)
        if dtype.name == "uint32":  # NumPy's own loop disagrees with itself here
            return x.astype(np.int64).astype(dtype)
        return x.astype(dtype)


def _x86_float_to_int(x, dtype):
    """The rule spelled out, for machines whose casts differ (ARM saturates)."""
    x = x.astype(np.float64)  # exact; float16 would overflow at x - 2**63
    bits = 64 if dtype.itemsize == 8 or dtype.name == "uint32" else 32
    half, wide = 2.0 ** (bits - 1), np.dtype(f"int{bits}")
    least = np.iinfo(wide).min

    def indefinite(v):  # SSE's conversion: INT_MIN for NaN and out-of-range values
        ok = (v >= -half) & (v < half)
        return np.where(ok, np.where(ok, v, 0).astype(wide), least)

    if dtype.name == "uint64":
        return np.where(x >= half, indefinite(x - half) ^ least, indefinite(x)).astype(dtype)
    return indefinite(x).astype(dtype)
