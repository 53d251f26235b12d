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
_HINT = "compile with allow_input_downcast=True"  # how a caller of ga.function allows a cast


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

    def filter(self, value, strict=False, allow_downcast=None, what="value", hint=_HINT):
        """Convert ``value`` to an ndarray of this type, or raise naming ``what``
        (``hint``: how the caller may allow a lossy cast, for the messages).

        ``allow_downcast``: None casts Python scalars and lists when their values
        survive the cast and allows safe casts of arrays; True allows any cast (NumPy's
        ``astype``); False allows exact or safe casts only. Under every setting a
        complex value for a real type, and a Python number outside the dtype's range,
        raise (docs/concepts.md, "Argument conversion").

        >>> t = TensorType("int8", (None,))
        >>> t.filter([1, 2.0]).tolist()
        [1, 2]
        >>> try:
        ...     t.filter([1, 300], what="input 0 ('n')")
        ... except OverflowError as e:
        ...     print(str(e).split(";")[0])
        input 0 ('n'): 300 is outside the range of int8 [-128, 127]
        """
        if type(value) is np.ndarray and value.dtype.name == self.dtype and not strict:
            arr = value
        else:
            arr = self._convert(value, allow_downcast, what, hint)
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

    def _convert(self, value, allow_downcast, what, hint):
        if isinstance(value, (str, bytes)) or value is None:
            raise GraphadTypeError(f"{what} must be an array or a number, not {value!r}")
        if isinstance(value, np.ndarray):
            value = plain_ndarray(value, what)
        python = not isinstance(value, (np.ndarray, np.generic))
        try:
            arr = np.asarray(value)
        except Exception as exc:
            raise GraphadTypeError(f"{what} cannot be read as an array: {exc}") from None
        if python and arr.dtype.kind in "fO":
            arr = self._python_numbers(value, arr, what)
        if arr.dtype.kind not in "biufc":
            raise GraphadTypeError(
                f"{what} has dtype {arr.dtype}; graphad inputs must be numeric or bool "
                f"(expected {self.dtype})"
            )
        if arr.dtype.name == self.dtype:
            return arr
        if arr.dtype.kind == "c" and self.dtype not in COMPLEX_DTYPES:
            raise GraphadTypeError(
                f"{what} is complex ({arr.dtype}) but the input is real ({self.dtype}); "
                "graphad never drops an imaginary part: pass np.real(value) if that is "
                "what you mean"
            )
        if np.can_cast(arr.dtype, self.dtype, "safe"):
            return arr.astype(self.dtype)
        if python and allow_downcast is not False:
            return self._cast_python(arr, allow_downcast is None, what, hint)
        if allow_downcast:
            return arr.astype(self.dtype)
        raise GraphadTypeError(
            f"{what} has dtype {arr.dtype}, which does not cast safely to {self.dtype}; "
            f"pass an array of dtype {self.dtype} (e.g. value.astype('{self.dtype}'))"
            + (f" or {hint}" if hint else "")
        )

    def _python_numbers(self, value, arr, what):
        """``value`` (Python numbers) as an array without NumPy's lossy guesses: ints
        beyond int64 make an object array, and ints mixed with ones beyond int64 (or
        with floats) a float64 one, which would round ``2**64 - 1`` for a uint64 input."""
        target = np.dtype(self.dtype)
        if arr.dtype.kind == "f" and target.kind not in "iu":
            return arr
        items = np.array(value, dtype=object).ravel()
        if not all(isinstance(v, (int, float, complex, np.number, np.bool_)) for v in items):
            return arr  # not numbers: the caller reports the dtype
        if target.kind in "iu" and all(isinstance(v, (int, np.integer)) for v in items):
            info = np.iinfo(target)
            for v in items:
                if not info.min <= v <= info.max:
                    raise _out_of_range(what, v, target)
            return np.array(value, dtype=target)
        if arr.dtype.kind == "f":
            return arr
        is_complex = any(isinstance(v, (complex, np.complexfloating)) for v in items)
        kind = complex if is_complex else float
        try:
            return np.array(value, dtype=kind)
        except OverflowError:  # an int beyond every float
            big = max((v for v in items if isinstance(v, int)), key=abs)
            raise _out_of_range(what, big, target) from None

    def _cast_python(self, arr, exact, what, hint):
        """``arr`` (from Python numbers) as this dtype; raises where a value does not
        fit the dtype's range, and, when ``exact``, where one would change."""
        target = np.dtype(self.dtype)
        if target.kind in "iu":
            _check_int_range(arr, target, what)
        with np.errstate(all="ignore"):
            cast = arr.astype(target)
        if target.kind in "fc":
            overflow = np.isfinite(arr) & ~np.isfinite(cast)
            if overflow.any():
                raise _out_of_range(what, arr[overflow].flat[0], target)
        elif exact and not np.array_equal(cast, arr):
            shown = arr.item() if arr.ndim == 0 else arr.tolist()
            raise GraphadTypeError(
                f"{what} {shown!r} cannot be represented exactly as {self.dtype}; pass "
                "values of that dtype" + (f", or {hint} to truncate" if hint else "")
            )
        return cast

    def value_zeros(self, shape):
        return np.zeros(shape, dtype=self.dtype)


def plain_ndarray(value, what="value"):
    """``value`` (an ndarray) as a base-class ndarray: ``np.matrix`` keeps rank 2 under
    indexing and multiplies as matrices, and a masked array's mask means nothing to
    graphad, so neither is passed on as it is.

    >>> import numpy as np
    >>> type(plain_ndarray(np.ma.masked_array([1.0, 2.0]))).__name__
    'ndarray'
    """
    if type(value) is np.ndarray:
        return value
    if isinstance(value, np.ma.MaskedArray) and np.ma.is_masked(value):
        raise GraphadTypeError(
            f"{what} is a masked array with masked entries; graphad has no masks: pass "
            "value.filled(fill_value) (or value.data to use the stored values)"
        )
    return value.view(np.ndarray)


def _check_int_range(arr, target, what):
    """Raise GraphadOverflowError when a value of ``arr`` (truncated toward zero, as a
    cast does) is NaN or outside ``target``'s range."""
    info = np.iinfo(target)
    if arr.size == 0:
        return
    if arr.dtype.kind == "f":
        t = np.trunc(arr.astype(np.float64))
        # info.max + 1 and info.min are powers of two: exact as floats
        bad = ~((t >= info.min) & (t < info.max + 1))
        if bad.any():
            raise _out_of_range(what, arr[bad].flat[0], target)
    elif arr.dtype.kind in "iu":
        low, high = int(arr.min()), int(arr.max())
        if low < info.min or high > info.max:
            raise _out_of_range(what, low if low < info.min else high, target)


def _out_of_range(what, value, target):
    value = value.item() if isinstance(value, np.generic) else value
    shown = repr(value)
    if len(shown) > 40:  # 10**400
        shown = f"an int of {len(str(abs(value)))} digits"
    if target.kind in "iu":
        info = np.iinfo(target)
        span = f"[{info.min}, {info.max}]"
    else:
        span = f"(finite values up to ±{float(np.finfo(target).max):.8g})"
    return GraphadOverflowError(
        f"{what}: {shown} is outside the range of {target.name} {span}; pass a value "
        f"in range, or declare the variable with a wider dtype"
    )


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
