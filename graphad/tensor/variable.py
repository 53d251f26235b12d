"""Tensor variables: operators and methods, constants, and the variable constructors.

``x + 1``, ``x @ W``, ``x[1:, idx]``, ``x.sum(axis=0)``: each operator or method
forwards to the one function in ``graphad.tensor`` that builds the op, so every
op is defined once.
"""

from __future__ import annotations

import importlib
import numbers
import sys

import numpy as np

from ..errors import GraphadOverflowError, GraphadTypeError
from ..graph.basic import Constant, Variable
from .type import TensorType, check_dtype


def _operator(module, name):
    """The method and the reflected method for the operator built by
    ``graphad.tensor.<module>.<name>``; both look the function up when called, since
    those modules import this one."""

    qualified = f"{__package__}.{module}"

    def build(*args):
        mod = sys.modules.get(qualified) or importlib.import_module(qualified)
        return getattr(mod, name)(*args)

    def method(self, *other):
        return build(self, *other)

    def reflected(self, other):
        return build(other, self)

    method.__name__, reflected.__name__ = name, f"r{name}"
    return method, reflected


def _ops():
    from . import indexing, linalg, math, reduce, shape

    return math, reduce, shape, indexing, linalg


class _TensorOps:
    """Operators and methods shared by every tensor variable (symbolic or constant)."""

    __array_ufunc__ = None  # make NumPy defer to our reflected operators
    __array_priority__ = 1000

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def shape(self):
        """The symbolic shape: an int64 vector; ``x.shape[0]`` is an int64 scalar."""
        return _ops()[2].shape(self)

    @property
    def size(self):
        return _ops()[1].prod(self.shape)

    @property
    def T(self):
        return self.transpose()

    def __bool__(self):
        # As in Theano: a variable is truthy, so ``if not W:`` and ``if persistent:``
        # test whether one was given. A boolean the graph computes (x > 0, ga.eq(x, y),
        # ga.logical_and(...)) is a condition whose value only a call knows: Python's
        # ``if``, ``and``, ``not`` and chained comparisons (0 < x < 1) cannot use it.
        if self.owner is not None and self.dtype == "bool":
            raise GraphadTypeError(
                f"the truth value of the symbolic condition {self} is not known at "
                "graph-build time. To test whether a variable was given, use `x is None` / "
                "`x is not None`; for an elementwise choice, use ga.switch(cond, a, b) (and "
                "ga.logical_and / ga.logical_or to combine conditions)"
            )
        return True

    def __iter__(self):
        if self.ndim == 0 or self.type.shape[0] is None:
            raise GraphadTypeError(
                f"cannot iterate over {self} (type {self.type}): its length is not known "
                "statically; index it with x[i] instead"
            )
        return (self[i] for i in range(self.type.shape[0]))

    def __len__(self):
        if self.ndim == 0 or self.type.shape[0] is None:
            raise GraphadTypeError(f"len() of {self} is not known statically; use x.shape[0]")
        return self.type.shape[0]

    # operators: each forwards to the one function that builds its op ------------
    __add__, __radd__ = _operator("math", "add")
    __sub__, __rsub__ = _operator("math", "sub")
    __mul__, __rmul__ = _operator("math", "mul")
    __truediv__, __rtruediv__ = _operator("math", "true_divide")
    __floordiv__, __rfloordiv__ = _operator("math", "floor_divide")
    __mod__, __rmod__ = _operator("math", "mod")
    __pow__, __rpow__ = _operator("math", "pow")
    __matmul__, __rmatmul__ = _operator("linalg", "matmul")
    __and__, __rand__ = _operator("math", "bitwise_and")
    __or__, __ror__ = _operator("math", "bitwise_or")
    __xor__, __rxor__ = _operator("math", "bitwise_xor")
    __lt__ = _operator("math", "lt")[0]
    __le__ = _operator("math", "le")[0]
    __gt__ = _operator("math", "gt")[0]
    __ge__ = _operator("math", "ge")[0]
    __neg__ = _operator("math", "neg")[0]
    __abs__ = _operator("math", "abs")[0]
    __invert__ = _operator("math", "invert")[0]

    def __pos__(self):
        return self

    # == stays identity so variables can be dict keys; use ga.eq for elementwise
    __hash__ = object.__hash__

    def __getitem__(self, index):
        return _ops()[3].getitem(self, index)

    # methods ----------------------------------------------------------------
    def sum(self, axis=None, keepdims=False, dtype=None, acc_dtype=None):
        return _ops()[1].sum(self, axis, keepdims, dtype=dtype, acc_dtype=acc_dtype)

    def prod(self, axis=None, keepdims=False, dtype=None):
        return _ops()[1].prod(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis=None, keepdims=False, dtype=None, acc_dtype=None):
        return _ops()[1].mean(self, axis, keepdims, dtype=dtype, acc_dtype=acc_dtype)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _ops()[1].var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return _ops()[1].std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def max(self, axis=None, keepdims=False):
        return _ops()[1].max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops()[1].min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis=None, keepdims=False):
        return _ops()[1].argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False):
        return _ops()[1].argmin(self, axis=axis, keepdims=keepdims)

    def all(self, axis=None, keepdims=False):
        return _ops()[1].all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False):
        return _ops()[1].any(self, axis=axis, keepdims=keepdims)

    def norm(self, L, axis=None, keepdims=False):
        """The ``L``-norm over ``axis`` (Theano's ``x.norm(L)``): ``sum(|x| ** L) **
        (1 / L)``; ``L=1`` sums ``|x|``, ``L=2`` is ``sqrt(sum(x ** 2))``.

        >>> import graphad as ga
        >>> x = ga.vector("x")
        >>> float(x.norm(2).eval({x: [3.0, -4.0]})), float(x.norm(1).eval({x: [3.0, -4.0]}))
        (5.0, 7.0)
        """
        return _ops()[1].norm(self, L, axis=axis, keepdims=keepdims)

    def nonzero(self):
        """The indices of the nonzero entries, one int64 vector per axis (``np.nonzero``);
        their length is known only when the function runs.

        >>> import graphad as ga
        >>> m = ga.matrix("m")
        >>> rows, cols = m.nonzero()
        >>> ga.function([m], [rows, cols])([[0.0, 2.0], [3.0, 0.0]])
        [array([0, 1]), array([1, 0])]
        """
        return _ops()[3].nonzero(self)

    def reshape(self, *shape, ndim=None):
        if len(shape) == 1 and not isinstance(shape[0], (numbers.Integral, Variable)):
            shape = shape[0]
        return _ops()[2].reshape(self, shape, ndim=ndim)

    def dimshuffle(self, *pattern):
        if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
            pattern = pattern[0]
        return _ops()[2].dimshuffle(self, pattern)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = axes[0]
        return _ops()[2].transpose(self, axes or None)

    def flatten(self, ndim=1):
        return _ops()[2].flatten(self, ndim)

    def squeeze(self, axis=None):
        return _ops()[2].squeeze(self, axis)

    def astype(self, dtype):
        return _ops()[0].cast(self, dtype)

    def dot(self, other):
        return _ops()[4].dot(self, other)

    def clip(self, a_min, a_max):
        return _ops()[0].clip(self, a_min, a_max)

    def eval(self, givens=None):
        """Compute this variable's value, with ``givens`` mapping inputs to values.

        >>> import graphad as ga
        >>> x = ga.scalar("x")
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        from ..compile.function import function

        givens = dict(givens or {})
        f = function(list(givens), self, mode="FAST_COMPILE", on_unused_input="ignore")
        return f(*givens.values())


class TensorVariable(_TensorOps, Variable):
    """A symbolic tensor.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> isinstance(x, ga.TensorVariable), x.dtype, x.ndim
    (True, 'float64', 1)
    >>> (x * 2 + 1).eval({x: [1.0, 2.0]}).tolist()
    [3.0, 5.0]
    """


class TensorConstant(_TensorOps, Constant):
    """A tensor with a value fixed at graph-build time.

    ``weak`` holds the Python scalar a constant came from (``x * 2.0``): such
    constants take their dtype from the other operand, as in NumPy 2 (NEP 50).

    >>> import graphad as ga
    >>> c = ga.constant([1.0, 2.0])
    >>> isinstance(c, ga.TensorConstant), c.data.tolist()
    (True, [1.0, 2.0])
    >>> (ga.vector("x", "float32") * 2.0).dtype
    'float32'
    """

    def __init__(self, type, data, name=None, weak=None):
        super().__init__(type, data, name)
        self.weak = weak

    def signature(self):
        return super().signature() + (self.weak is not None,)


TensorType.variable_class = TensorVariable
TensorType.constant_class = TensorConstant


def constant(value, name=None, dtype=None):
    """A tensor constant; without ``dtype`` it takes NumPy's dtype for ``value``.

    >>> import graphad as ga
    >>> ga.constant([1, 2]).dtype, ga.constant(1.5, dtype="float32").dtype
    ('int64', 'float32')
    """
    arr = _as_array(value, dtype)
    return TensorConstant(TensorType(arr.dtype, arr.shape), arr, name=name)


def _as_array(value, dtype):
    if isinstance(value, Variable):
        raise GraphadTypeError(f"ga.constant expects a value, got the variable {value}")
    try:
        arr = np.asarray(value, dtype=None if dtype is None else check_dtype(dtype))
    except OverflowError as exc:  # as NumPy 2: np.asarray(300, dtype="uint8") overflows
        raise GraphadOverflowError(f"cannot make a constant of {value!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise GraphadTypeError(f"cannot make a constant of {value!r}: {exc}") from None
    check_dtype(arr.dtype, what=f"constant {value!r} has dtype")
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def as_tensor_variable(value, name=None, ndim=None) -> TensorVariable:
    """``value`` as a tensor variable: variables pass through, values become constants.

    Python scalars become weak constants (NEP 50): ``x_float32 * 2.0`` stays float32.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.as_tensor_variable(x) is x
    True
    >>> ga.as_tensor_variable([1, 2]).dtype, ga.as_tensor_variable(2.0).weak
    ('int64', 2.0)
    """
    if isinstance(value, _TensorOps):
        result = value
    elif isinstance(value, Variable):
        raise GraphadTypeError(f"{value!r} is not a tensor variable")
    elif isinstance(value, (bool, int, float, complex)) and not isinstance(value, np.generic):
        arr = _python_scalar_array(value)
        result = TensorConstant(TensorType(arr.dtype, ()), arr, name=name, weak=value)
    else:
        result = constant(value, name=name)
    if ndim is not None and result.ndim != ndim:
        raise GraphadTypeError(f"expected a {ndim}-d tensor, got {result} of type {result.type}")
    return result


def _python_scalar_array(value):
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**64:
            # only a float operand can take it (x_float + 10**30 is fine in NumPy 2):
            # keep a float placeholder and let promotion (result_dtype) decide
            try:
                arr = np.asarray(float(value))
            except OverflowError:
                raise GraphadOverflowError(f"the integer {value} does not fit in 64 bits") from None
        else:
            arr = np.asarray(value, dtype="int64" if value < 2**63 else "uint64")
    else:
        arr = np.asarray(value)
    arr.setflags(write=False)
    return arr


def tensor(name=None, dtype=None, shape=None, ndim=None) -> TensorVariable:
    """A symbolic tensor input: ``ga.tensor("x", "float32", shape=(None, 3))``.

    >>> import graphad as ga
    >>> ga.tensor("x", "float32", shape=(None, 3)).type
    TensorType(float32, (None, 3))
    """
    if shape is None:
        if ndim is None:
            raise GraphadTypeError("ga.tensor needs shape=(...) (use None for unknown sizes)")
        shape = (None,) * ndim
    if isinstance(name, (tuple, list)):
        raise GraphadTypeError("the first argument of ga.tensor is the name; pass shape=...")
    return TensorType(dtype, shape).make_variable(name)


def scalar(name=None, dtype=None):
    """A 0-d tensor input.

    >>> import graphad as ga
    >>> s = ga.scalar("s")
    >>> s.ndim, float((s * 2).eval({s: 1.5}))
    (0, 3.0)
    >>> ga.scalar("n", "int32").type
    TensorType(int32, ())
    """
    return tensor(name, dtype, ())


def vector(name=None, dtype=None, shape=(None,)):
    """A 1-d tensor input.

    >>> import graphad as ga
    >>> ga.vector("x").type, ga.vector("i", "int32", shape=(3,)).type
    (TensorType(float64, (None,)), TensorType(int32, (3,)))
    """
    return tensor(name, dtype, _check_rank(shape, 1))


def matrix(name=None, dtype=None, shape=(None, None)):
    """A 2-d tensor input.

    >>> import graphad as ga
    >>> m = ga.matrix("m", shape=(None, 2))
    >>> m.type
    TensorType(float64, (None, 2))
    >>> m.sum(axis=1).eval({m: [[1.0, 2.0], [3.0, 4.0]]}).tolist()
    [3.0, 7.0]
    """
    return tensor(name, dtype, _check_rank(shape, 2))


def tensor3(name=None, dtype=None, shape=(None,) * 3):
    """A 3-d tensor input.

    >>> import graphad as ga
    >>> t = ga.tensor3("t")
    >>> t.type
    TensorType(float64, (None, None, None))
    >>> t.sum(axis=(1, 2)).eval({t: [[[1.0, 2.0], [3.0, 4.0]]]}).tolist()
    [10.0]
    """
    return tensor(name, dtype, _check_rank(shape, 3))


def tensor4(name=None, dtype=None, shape=(None,) * 4):
    """A 4-d tensor input (e.g. a batch of images: batch, channels, rows, columns).

    >>> import graphad as ga
    >>> images = ga.tensor4("images", "float32", shape=(None, 3, 32, 32))
    >>> images.type
    TensorType(float32, (None, 3, 32, 32))
    """
    return tensor(name, dtype, _check_rank(shape, 4))


def _check_rank(shape, ndim):
    shape = tuple(shape)
    if len(shape) != ndim:
        raise GraphadTypeError(f"a {ndim}-d variable needs a shape of length {ndim}, got {shape}")
    return shape


def row(name=None, dtype=None):
    """A matrix input with one row, shape ``(1, None)`` (Theano's ``row``): it broadcasts
    down the rows of a matrix it meets.

    >>> import graphad as ga
    >>> r = ga.row("r")
    >>> r.type
    TensorType(float64, (1, None))
    >>> (ga.matrix("m") + r).type.shape
    (None, None)
    """
    return tensor(name, dtype, (1, None))


def col(name=None, dtype=None):
    """A matrix input with one column, shape ``(None, 1)`` (Theano's ``col``).

    >>> import graphad as ga
    >>> c = ga.col("c", "float32")
    >>> c.type
    TensorType(float32, (None, 1))
    """
    return tensor(name, dtype, (None, 1))


# Theano's typed constructors: the first letter is the dtype (i int32, l int64, f float32,
# d float64), the rest the rank
_TYPED = {"i": "int32", "l": "int64", "f": "float32", "d": "float64"}
_RANKS = {"scalar": 0, "vector": 1, "matrix": 2}


def _typed_constructor(fname):
    dtype, ndim = _TYPED[fname[0]], _RANKS[fname[1:]]

    def make(name=None):
        return tensor(name, dtype, (None,) * ndim)

    make.__name__ = make.__qualname__ = fname
    make.__doc__ = (
        f"A {ndim}-d {dtype} input (Theano's ``{fname}``): "
        f"``ga.tensor(name, {dtype!r}, shape={(None,) * ndim})``.\n\n"
        ">>> import graphad as ga\n"
        f'>>> ga.{fname}("x").type\n'
        f"TensorType({dtype}, {(None,) * ndim})\n"
    )
    return make


iscalar = _typed_constructor("iscalar")
ivector = _typed_constructor("ivector")
imatrix = _typed_constructor("imatrix")
lscalar = _typed_constructor("lscalar")
lvector = _typed_constructor("lvector")
fscalar = _typed_constructor("fscalar")
fvector = _typed_constructor("fvector")
fmatrix = _typed_constructor("fmatrix")
dscalar = _typed_constructor("dscalar")
dvector = _typed_constructor("dvector")
dmatrix = _typed_constructor("dmatrix")
