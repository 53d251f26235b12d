"""TensorType (dtype + static shape) and the NumPy-2 type-promotion rules.

A static shape entry is an int when known at graph-build time, ``None`` when not. A
known ``1`` means the dimension is broadcastable; a ``None`` dimension may still be 1
at run time and then broadcasts too (NumPy semantics).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import GraphadOverflowError, GraphadTypeError, GraphadValueError, ShapeError
from ..graph.basic import Type

DTYPES = (
    "bool",
    "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64",
    "complex64", "complex128",
)  # fmt: skip
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = tuple(d for d in DTYPES if d.startswith(("int", "uint")))
COMPLEX_DTYPES = ("complex64", "complex128")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES
_DTYPE_SET = frozenset(DTYPES)


def check_dtype(dtype, what="dtype") -> str:
    """The canonical name of ``dtype``; raises GraphadTypeError for unsupported ones."""
    if dtype is None:
        from ..config import config

        return config.floatX
    if dtype.__class__ is str and dtype in _DTYPE_SET:
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise GraphadTypeError(f"{what} {dtype!r} is not supported; use one of {', '.join(DTYPES)}")
    return name


class TensorType(Type):
    """The type of a tensor variable: a dtype and a static shape.

    >>> TensorType("float32", (None, 3))
    TensorType(float32, (None, 3))
    """

    def __init__(self, dtype, shape=()):
        self.dtype = check_dtype(dtype)
        shape = tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or s < 0):
                raise GraphadValueError(
                    f"static shape entries must be non-negative ints or None; got {shape}"
                )
        self.shape = tuple(None if s is None else int(s) for s in shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple:
        return tuple(s == 1 for s in self.shape)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and (self.dtype, self.shape) == (
            other.dtype,
            other.shape,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.dtype, self.shape))

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.shape})"

    def __str__(self) -> str:
        dims = ",".join("?" if s is None else str(s) for s in self.shape)
        return f"{self.dtype}[{dims}]"

    def clone(self, dtype=None, shape=None) -> TensorType:
        return TensorType(
            self.dtype if dtype is None else dtype, self.shape if shape is None else shape
        )

    def is_compatible(self, other) -> bool:
        """True when every value of ``other`` is a value of ``self``."""
        return (
            isinstance(other, TensorType)
            and other.dtype == self.dtype
            and other.ndim == self.ndim
            and all(a is None or a == b for a, b in zip(self.shape, other.shape))
        )

    def filter(self, value, strict=False, allow_downcast=None, what="value"):
        """Convert ``value`` to an ndarray of this type, or raise naming ``what``.

        ``allow_downcast``: None casts Python scalars and lists and allows safe casts of
        arrays; True allows any cast; False allows exact or safe casts only.
        """
        if isinstance(value, np.ndarray) and value.dtype.name == self.dtype and not strict:
            arr = value
        else:
            arr = self._convert(value, allow_downcast, what)
        if arr.ndim != self.ndim:
            raise GraphadTypeError(
                f"{what} has {arr.ndim} dimension(s) but {self.ndim} are expected "
                f"(type {self}); got shape {arr.shape}"
            )
        for axis, (want, got) in enumerate(zip(self.shape, arr.shape)):
            if want is not None and want != got:
                raise ShapeError(
                    f"{what} has shape {arr.shape}, but dimension {axis} must be {want} "
                    f"(type {self})"
                )
        return arr

    def _convert(self, value, allow_downcast, what):
        if isinstance(value, (str, bytes)) or value is None:
            raise GraphadTypeError(f"{what} must be an array or a number, not {value!r}")
        python = not isinstance(value, (np.ndarray, np.generic))
        try:
            arr = np.asarray(value)
        except Exception as exc:
            raise GraphadTypeError(f"{what} cannot be read as an array: {exc}") from None
        if arr.dtype.kind not in "biufc":
            raise GraphadTypeError(
                f"{what} has dtype {arr.dtype}; graphad inputs must be numeric or bool "
                f"(expected {self.dtype})"
            )
        if arr.dtype.name == self.dtype:
            return arr
        if allow_downcast or np.can_cast(arr.dtype, self.dtype, "safe"):
            return arr.astype(self.dtype)
        if python and allow_downcast is None:
            cast = arr.astype(self.dtype)
            if self.dtype in DISCRETE_DTYPES and not np.array_equal(cast, arr):
                raise GraphadTypeError(
                    f"{what} {value!r} cannot be represented exactly as {self.dtype}"
                )
            return cast
        raise GraphadTypeError(
            f"{what} has dtype {arr.dtype}, which does not cast safely to {self.dtype}; "
            f"pass an array of dtype {self.dtype} (e.g. value.astype('{self.dtype}')) or "
            "compile with allow_input_downcast=True"
        )

    def value_zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)


def result_dtype(*operands) -> str:
    """NumPy-2 promotion of dtypes and weak Python scalars (NEP 50).

    ``operands`` are dtype names or Python scalars (weak).

    >>> result_dtype("float32", 2.0), result_dtype("uint8", 3), result_dtype("int32", 2.5)
    ('float32', 'uint8', 'float64')
    """
    # keyed by (type, value): 2 and 2.0 are equal keys for a dict but promote differently
    return _result_dtype(tuple((x.__class__, x) for x in operands))


@lru_cache(maxsize=4096)
def _result_dtype(keyed) -> str:
    operands = [x for _, x in keyed]
    args = [np.dtype(x) if isinstance(x, str) else x for x in operands]
    try:
        return np.result_type(*args).name
    except OverflowError as exc:
        raise GraphadOverflowError(f"{exc}; cast the scalar or the array explicitly") from None
    except TypeError as exc:
        raise GraphadTypeError(f"no common dtype for {operands}: {exc}") from None


def broadcast_static(shapes, what="inputs"):
    """The static broadcast shape of several static shapes (NumPy rules).

    A dimension is known when some input knows a size other than 1 there; it is
    1 when every input says 1; otherwise None. Two known sizes that differ (and
    neither is 1) cannot broadcast: ShapeError.

    >>> broadcast_static([(None, 3), (1,)])
    (None, 3)
    """
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for axis in range(ndim):
        sizes = [s[axis] for s in padded]
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ShapeError(
                f"{what} with shapes {list(shapes)} cannot broadcast: dimension "
                f"{axis - ndim} has sizes {sorted(known)}"
            )
        if known:
            out.append(known.pop())
        elif all(d == 1 for d in sizes):
            out.append(1)
        else:
            out.append(None)
    return tuple(out)
