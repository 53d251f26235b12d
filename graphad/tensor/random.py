"""Random streams: counter-based Philox4x32-10 draws, the same bits on every backend.

A draw is a pure function of (seed, call counter, draw id, element index)
(kernels/graphad_philox.h lays the words out), so it is an ordinary elementwise op,
``Philox``, on an array of element indices: it fuses with the work that reads it (a
dropout mask and the activation it scales are one kernel), and the NumPy reference
below computes the bits the C kernels compute. A ``RandomStream`` keeps its seed and
call counter in one shared int64 vector; a compiled function that draws from it updates
the counter by one per call (an update it adds by itself), and each draw of a stream has
its own id, so two draws, two calls, or two functions never see the same numbers.

>>> import graphad as ga
>>> rng = ga.RandomStream(7)
>>> f = ga.function([], rng.uniform((3,)))
>>> a, b = f(), f()
>>> bool((a != b).all()) and bool(((0 <= a) & (a < 1)).all())
True
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphadTypeError, GraphadValueError
from ..graph.basic import Apply
from ..graph.op import Op
from .math import cast
from .scalar_base import ScalarOp
from .type import FLOAT_DTYPES, TensorType

__all__ = ["RandomStream", "philox4x32_10"]

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint32(0x9E3779B9), np.uint32(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counters (c0, c1, c2, c3) under key (k0, k1), elementwise over
    broadcast uint32 arrays; returns the four output words.

    >>> [hex(int(w)) for w in philox4x32_10(0, 0, 0, 0, 0, 0)]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3, k0, k1 = (np.asarray(v, dtype=np.uint32) for v in (c0, c1, c2, c3, k0, k1))
    with np.errstate(over="ignore"):
        for _ in range(10):
            p0 = _M0 * c0.astype(np.uint64)
            p1 = _M1 * c2.astype(np.uint64)
            c0, c1, c2, c3 = (
                (p1 >> np.uint64(32)).astype(np.uint32) ^ c1 ^ k0,
                (p1 & _MASK).astype(np.uint32),
                (p0 >> np.uint64(32)).astype(np.uint32) ^ c3 ^ k1,
                (p0 & _MASK).astype(np.uint32),
            )
            k0 = k0 + _W0
            k1 = k1 + _W1
    return c0, c1, c2, c3


def _block(seed, counter, draw, block):
    seed = np.asarray(seed, dtype=np.int64).astype(np.uint64)
    counter = np.asarray(counter, dtype=np.int64).astype(np.uint64)
    block = np.asarray(block, dtype=np.uint64)
    words = philox4x32_10(
        block & _MASK,
        np.uint32(draw),
        counter & _MASK,
        counter >> np.uint64(32),
        seed & _MASK,
        seed >> np.uint64(32),
    )
    return np.stack(np.broadcast_arrays(*words))


def _u53(a, b):
    return ((a >> np.uint32(5)).astype(np.float64) * 67108864.0 + (b >> np.uint32(6))) * (
        1.0 / 9007199254740992.0
    )


def draw_values(dist, dtype, draw, seed, counter, index, n=1, p=None):
    """The NumPy reference of one draw: element ``index`` (int64 array) of draw id
    ``draw`` of the stream at (``seed``, ``counter``), as kernels/graphad_philox.h
    computes it."""
    index = np.asarray(index, dtype=np.int64)
    i = index.astype(np.uint64)
    if dist == "uniform" and dtype == "float32":
        words = _block(seed, counter, draw, i >> np.uint64(2))
        lane = (i & np.uint64(3)).astype(np.intp)
        w = np.take_along_axis(words, lane[None], 0)[0]
        return (w >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    if dist == "uniform":
        words = _block(seed, counter, draw, i >> np.uint64(1))
        k = ((i & np.uint64(1)) * np.uint64(2)).astype(np.intp)
        a = np.take_along_axis(words, k[None], 0)[0]
        b = np.take_along_axis(words, (k + 1)[None], 0)[0]
        return _u53(a, b).astype(dtype)
    if dist == "normal":
        words = _block(seed, counter, draw, i >> np.uint64(1))
        u1 = 1.0 - _u53(words[0], words[1])
        u2 = _u53(words[2], words[3])
        r = np.sqrt(-2.0 * np.log(u1))
        t = 6.283185307179586 * u2
        return (r * np.where(index & 1, np.sin(t), np.cos(t))).astype(dtype)
    # binomial: how many of n float64 uniforms are below p
    count = np.zeros(np.broadcast_shapes(index.shape, np.shape(p)), dtype=np.int64)
    for j in range(n):
        u = draw_values("uniform", "float64", draw, seed, counter, index * n + j)
        count += u < p
    return count.astype(dtype)


class Philox(ScalarOp):
    """Element ``index`` of draw ``draw`` of a stream at (seed, counter): a uniform in
    [0, 1), a standard normal, or (with a probability operand) a binomial(n, p)."""

    __props__ = ("dist", "dtype", "draw", "n")
    promote = ()

    def __init__(self, dist, dtype, draw, n=1):
        self.dist, self.dtype, self.draw, self.n = dist, dtype, int(draw), int(n)

    @property
    def nin(self) -> int:
        return 4 if self.dist == "binomial" else 3  # binomials read p too

    @property
    def name(self) -> str:
        return f"philox_{self.dist}"

    def output_dtype(self, *dtypes) -> str:
        return self.dtype

    def operand_dtypes(self, in_dtypes, out_dtype) -> list:
        return ["int64", "int64", "int64", "float64"][: self.nin]

    def impl(self, seed, counter, index, p=None):
        return draw_values(self.dist, self.dtype, self.draw, seed, counter, index, self.n, p)

    def c_code(self, args, dtype):
        seed, counter, index = args[:3]
        head = f"{seed}, {counter}, {self.draw}u, {index}"
        if self.dist == "binomial":
            return f"gd_philox_binomial({head}, {self.n}LL, {args[3]})"
        if self.dist == "normal":
            return f"gd_philox_normal({head})"
        return f"gd_philox_uniform_{'f32' if self.dtype == 'float32' else 'f64'}({head})"

    def partials(self, out, *inputs):
        return [None] * self.nin  # a draw is a constant of the graph


class FlatIndex(Op):
    """``arange(prod(shape)).reshape(shape)`` (int64): the element indices of a draw."""

    def make_node(self, *shape):
        from .shape import _int64_scalar, static_value

        dims = [_int64_scalar(s, f"a random draw's size entry {k}") for k, s in enumerate(shape)]
        static = [static_value(d) for d in dims]
        if any(s is not None and s < 0 for s in static):
            raise GraphadValueError(f"a random draw of negative size {static}")
        return Apply(self, dims, [TensorType("int64", static).make_variable()])

    def perform(self, node, inputs, outputs):
        shape = tuple(int(s) for s in inputs)
        if any(s < 0 for s in shape):
            raise GraphadValueError(f"a random draw of negative size {shape}")
        outputs[0][0] = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs)]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


class RandomStream:
    """A stream of random draws for compiled functions, reproducible from ``seed`` on
    every backend (``ga.RandomStream(seed)``).

    ``uniform``, ``normal`` and ``binomial`` return graph variables; every call of a
    compiled function that uses any of them advances the stream. ``seed(s)`` restarts
    it. ``size`` is a tuple of ints or integer scalars, or a shape vector such as
    ``x.shape``.

    >>> import graphad as ga
    >>> rng = ga.RandomStream(seed=42)
    >>> f = ga.function([], rng.uniform((3,)))
    >>> a, b = f(), f()
    >>> a.shape, bool((a != b).all()), bool(((0 <= a) & (a < 1)).all())
    ((3,), True, True)
    >>> rng.seed(42)
    >>> bool((f() == a).all())
    True
    """

    def __init__(self, seed=0):
        from ..compile.shared import shared

        self.state = shared(np.array([_check_seed(seed), 0], dtype=np.int64), name="rng_state")
        self.state.default_update = self.state + np.array([0, 1], dtype=np.int64)
        self._draws = 0

    def seed(self, seed):
        """Restart the stream at ``seed`` (the call counter goes back to 0)."""
        self.state.set_value(np.array([_check_seed(seed), 0], dtype=np.int64))

    def _draw(self, dist, size, dtype, n=1, p=None):
        from .elemwise import Elemwise
        from .shape import _dims_of
        from .variable import as_tensor_variable

        index = FlatIndex()(*_dims_of(size))
        op = Philox(dist, dtype, self._draws, n)
        self._draws += 1
        args = [self.state[0], self.state[1], index]
        if p is not None:
            args.append(as_tensor_variable(p))
        return Elemwise(op)(*args)

    def uniform(self, size, low=0.0, high=1.0, dtype=None):
        """Uniform draws in [low, high) (float32 or float64; floatX by default)."""
        dtype = _float_dtype(dtype, "uniform")
        u = self._draw("uniform", size, dtype)
        if _is(low, 0) and _is(high, 1):
            return u
        return cast(low + (high - low) * u, dtype)

    def normal(self, size, mean=None, std=1.0, dtype=None, avg=None):
        """Normal draws ``mean + std * z`` (z standard normal, by Box-Muller): gradients
        flow to ``mean`` and ``std`` (the reparameterization trick). ``avg`` is Theano's
        name for ``mean`` (give one of the two; the mean is 0 without either).

        >>> import graphad as ga
        >>> rng = ga.RandomStream(3)
        >>> a = ga.function([], rng.normal((2000,), avg=5.0, std=0.1))()
        >>> bool(abs(a.mean() - 5.0) < 0.01)
        True
        """
        if avg is not None:
            if mean is not None:
                raise GraphadTypeError(
                    "normal: got both mean and avg (Theano's name for mean); give one"
                )
            mean = avg
        mean = 0.0 if mean is None else mean
        dtype = _float_dtype(dtype, "normal")
        z = self._draw("normal", size, dtype)
        if _is(mean, 0) and _is(std, 1):
            return z
        return cast(mean + std * z, dtype)

    def binomial(self, size, n=1, p=0.5, dtype="int64"):
        """Binomial(n, p) draws: how many of ``n`` trials succeed with probability ``p``
        (``p`` may be a variable broadcast to ``size``; ``n`` a Python int)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
            raise GraphadTypeError(f"binomial: n must be a non-negative Python int, got {n!r}")
        if np.dtype(dtype).kind not in "iuf":
            raise GraphadTypeError(f"binomial: dtype must be an integer or float, got {dtype!r}")
        return self._draw("binomial", size, str(np.dtype(dtype)), int(n), cast(p, "float64"))


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise GraphadTypeError(f"a random seed must be an int, got {seed!r}")
    if not -(2**63) <= int(seed) < 2**63:
        raise GraphadValueError(f"a random seed must fit in 64 bits, got {seed}")
    return int(seed)


def _float_dtype(dtype, what):
    from ..config import config

    dtype = config.floatX if dtype is None else str(np.dtype(dtype))
    if dtype not in FLOAT_DTYPES or dtype == "float16":
        raise GraphadTypeError(f"{what}: dtype must be float32 or float64, got {dtype!r}")
    return dtype


def _is(value, number) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == number
