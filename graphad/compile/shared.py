"""Shared variables: graph leaves whose value lives across calls and updates.

A shared variable's type (dtype and rank) is fixed at creation; every size is
``None`` so ``set_value`` may change the shape. A GPU function keeps the values it
reads on its device (a DeviceArray in the container): ``get_value`` downloads them,
``set_value`` uploads, and a CPU function that reads one brings it back.
"""

from __future__ import annotations

import threading
import warnings
import weakref

import numpy as np

from ..backend.cuda.runtime import DeviceArray
from ..config import config
from ..errors import GraphadTypeError
from ..tensor.type import TensorType, plain_ndarray
from ..tensor.variable import TensorVariable


def moved_to_device(var):
    """Note that ``var``'s value now lives on a device: the CPU functions that read it
    leave their C runner (which reads values as they are) for the Python path, which
    brings the value back first."""
    for f in list(var.readers):
        f.value_on_device()


class SharedVariable(TensorVariable):
    """A tensor variable with a value. ``get_value``/``set_value`` read and write it.

    >>> import numpy as np, graphad as ga
    >>> w = ga.shared(np.zeros(3), name="w")
    >>> w.set_value(np.ones(3)); w.get_value().tolist()
    [1.0, 1.0, 1.0]
    """

    is_shared = True

    def __init__(self, type, value, name=None):
        super().__init__(type, name=name)
        self.container = [type.filter(value, strict=True, allow_downcast=False, what=self._what())]
        self._fresh_state()

    def _fresh_state(self):
        """What a shared variable holds besides its value (not pickled: made anew)."""
        self.readers = weakref.WeakSet()  # the CPU functions with a C runner that read it
        self.assumed_shapes = frozenset()  # value shapes compiled functions were tuned for
        self.lock = threading.Lock()  # held by a call that updates the value

    @property
    def value_shape(self) -> tuple:
        """The current value's shape (no download from a device)."""
        return tuple(self.container[0].shape)

    def assume_shape(self, shape):
        """A compiled function chose a faster form (a product order) for this shape of
        the value; ``set_value`` of another shape warns that it may now be slower."""
        self.assumed_shapes |= {tuple(shape)}

    def _warn_if_assumed_otherwise(self, shape):
        assumed = self.assumed_shapes
        if assumed and tuple(shape) not in assumed:
            warnings.warn(
                f"shared variable {self.name or ''!r} now has shape {tuple(shape)}; functions "
                f"compiled while it had shape {' or '.join(map(str, sorted(assumed)))} "
                "multiply it in the order fastest for that shape. Their results are "
                "right; compile them again for the fastest order.",
                stacklevel=3,
            )
            self.assumed_shapes = assumed | {tuple(shape)}  # once per shape

    def _what(self):
        return f"the value of shared variable {self.name!r}" if self.name else "the value"

    def get_value(self, borrow=False):
        """The current value (a copy unless ``borrow``; one on a device is downloaded)."""
        value = self.container[0]
        if isinstance(value, DeviceArray):
            return value.get()
        return value if borrow else value.copy()

    def set_value(self, value, borrow=False):
        """Set the value; its dtype and rank must match the variable's type. A value
        that lives on a device is replaced there (an upload)."""
        current = self.container[0]
        if isinstance(value, DeviceArray):
            self._check(value)
            self.container[0] = value if borrow else value.copy()
            moved_to_device(self)
            return
        if isinstance(value, np.ndarray):
            value = plain_ndarray(value, f"set_value of shared variable {self.name or ''!r}")
        else:
            try:
                value = np.asarray(value)
            except (TypeError, ValueError) as exc:  # ragged lists and the like
                raise GraphadTypeError(
                    f"set_value of shared variable {self.name or ''!r}: cannot read "
                    f"{value!r} as an array ({exc})"
                ) from None
        self._check(value)
        self._warn_if_assumed_otherwise(value.shape)
        if isinstance(current, DeviceArray):
            self.container[0] = current.device.upload(value)
            return
        self.container[0] = value if borrow else value.copy()

    def _check(self, value):
        if value.dtype.name != self.type.dtype or value.ndim != self.type.ndim:
            raise GraphadTypeError(
                f"set_value of shared variable {self.name or ''!r}: expected dtype "
                f"{self.type.dtype} with {self.type.ndim} dimension(s), got dtype "
                f"{value.dtype} with {value.ndim}; cast with value.astype('{self.type.dtype}')"
            )

    def clone(self):
        # a shared variable stands for its storage: graph copies keep the same object
        return self

    @property
    def value(self):
        value = self.container[0]
        return value.get() if isinstance(value, DeviceArray) else value

    def __reduce__(self):
        return (_rebuild_shared, (self.type, self.container[0], self.name))


def _rebuild_shared(type, value, name):
    var = SharedVariable.__new__(SharedVariable)
    TensorVariable.__init__(var, type, name=name)
    var.container = [value]
    var._fresh_state()
    return var


def shared(value, name=None, borrow=False):
    """A shared variable holding ``value`` (copied unless ``borrow``).

    As in Theano, a Python float (or a list of them) takes ``ga.config.floatX``; a
    NumPy array or NumPy scalar keeps its dtype, and Python ints give int64.

    >>> import numpy as np, graphad as ga
    >>> ga.shared(np.zeros((2, 3), "float32")).type
    TensorType(float32, (None, None))
    >>> ga.shared(0.5).dtype == ga.config.floatX, ga.shared(np.float64(0.5)).dtype
    (True, 'float64')
    """
    if isinstance(value, TensorVariable):
        raise GraphadTypeError("ga.shared takes a value (NumPy array or number), not a variable")
    if isinstance(value, float) and not isinstance(value, np.floating):
        arr = np.asarray(value, dtype=config.floatX)
    elif isinstance(value, (bool, int, float, complex)) or np.isscalar(value):
        arr = np.asarray(value)
    elif isinstance(value, np.ndarray):
        arr = plain_ndarray(value, "the value of ga.shared")
        arr = arr if borrow else arr.copy()
    else:
        try:
            arr = np.array(value)
        except (TypeError, ValueError) as exc:  # ragged lists and the like
            raise GraphadTypeError(f"ga.shared cannot read {value!r} as an array ({exc})") from None
        if isinstance(value, (list, tuple)) and arr.dtype == np.float64:  # Python floats
            arr = arr.astype(config.floatX)
    if arr.dtype.kind not in "biufc":
        raise GraphadTypeError(f"ga.shared needs a numeric or bool value, got dtype {arr.dtype}")
    return SharedVariable(TensorType(arr.dtype, (None,) * arr.ndim), arr, name=name)
