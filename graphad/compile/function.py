"""``ga.function`` and the Function object it returns.

A call checks every argument (dtype, rank, known sizes) before anything runs, so a
bad call changes nothing; then the VM runs the schedule; then the updates are written,
all computed from the old values.
"""

from __future__ import annotations

import numpy as np

from ..backend.cuda.runtime import DeviceArray
from ..errors import CompileError, GraphadError, GraphadTypeError
from ..graph.basic import Variable, format_source
from . import shared as _shared
from .io import unwrap_inputs
from .maker import FunctionMaker


def function(
    inputs,
    outputs=None,
    updates=None,
    givens=None,
    mode=None,
    name=None,
    on_unused_input="raise",
    allow_input_downcast=None,
    profile=False,
    outputs_on_device=False,
):
    """Compile a callable from symbolic ``inputs`` to ``outputs``.

    ``outputs`` is a variable (the call returns one array) or a list (it returns a
    list). ``updates`` are ``(shared_variable, expression)`` pairs written after the
    outputs are computed, all reading the old values. With ``device=cuda``, a call
    downloads its outputs unless ``outputs_on_device`` (then they are DeviceArrays,
    which CUDA functions take as arguments without a transfer). An input given as
    ``ga.In(variable, value=default)`` may be left out of a call.

    >>> import graphad as ga
    >>> x, y = ga.scalar("x"), ga.scalar("y")
    >>> f = ga.function([x, y], x * y + 1)
    >>> float(f(2.0, 3.0)), float(f(y=3.0, x=2.0))
    (7.0, 7.0)
    """
    single = isinstance(outputs, Variable) or (
        outputs is not None and not isinstance(outputs, (list, tuple))
    )
    outs = [] if outputs is None else ([outputs] if single else list(outputs))
    if allow_input_downcast not in (None, True, False):
        raise GraphadTypeError("allow_input_downcast must be None, True or False")
    inputs, names, defaults = unwrap_inputs(inputs)
    try:
        maker = FunctionMaker(inputs, outs, updates, givens, mode, on_unused_input)
    except GraphadError:
        raise
    except Exception as exc:  # graphad's own bug: say so, with the user's line
        raise _compile_error(exc, outs, updates) from exc
    signature = _signature(maker.fgraph.inputs, names, defaults, allow_input_downcast)
    return Function(
        maker, single, name, allow_input_downcast, profile, None, outputs_on_device, signature
    )


def _signature(inputs, names, defaults, allow_input_downcast):
    """``(keyword names, defaults)`` of the inputs, each default converted to its
    input's type now (a bad one raises here, naming the input) and read-only; None
    when no input has a default or a name of its own (``ga.In``)."""
    if all(d is None for d in defaults) and names == [v.name for v in inputs]:
        return None
    converted = []
    for pos, (var, value) in enumerate(zip(inputs, defaults)):
        if value is not None:
            what = f"the default of input {pos}" + (f" ({names[pos]!r})" if names[pos] else "")
            value = np.array(var.type.filter(value, allow_downcast=allow_input_downcast, what=what))
            value.setflags(write=False)
        converted.append(value)
    return tuple(names), tuple(converted)


def _compile_error(exc, outputs, updates):
    """A CompileError for ``exc``, raised while compiling ``outputs`` and ``updates``."""
    exprs = list(outputs) + [u[1] for u in updates or () if isinstance(u, (list, tuple))]
    lines = sorted({format_source(v.owner.source) for v in exprs if getattr(v, "owner", None)})
    where = f" (outputs built at {', '.join(lines)})" if lines else ""
    return CompileError(
        f"graphad failed to compile this function{where}: {type(exc).__name__}: {exc}. "
        "This is a bug in graphad; please report it with the program. Another mode "
        "(mode='FAST_COMPILE' runs fewer rewrites) may avoid it meanwhile."
    )


class Function:
    """A compiled function. Call it with arrays; ``f.maker.fgraph`` is its graph.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> f = ga.function([x], x * 2, name="double")
    >>> isinstance(f, ga.Function), f
    (True, <graphad Function double (1 inputs)>)
    >>> f([1.0, 2.5]).tolist(), f(x=[3.0]).tolist()
    ([2.0, 5.0], [6.0])
    """

    def __init__(
        self,
        maker,
        single,
        name,
        allow_input_downcast,
        profile,
        shared=None,
        outputs_on_device=False,
        signature=None,
    ):
        self.maker = maker
        self.single = single
        self.name = name
        self.allow_input_downcast = allow_input_downcast
        # each call fills a copy of this (constants in place): calls share no state
        self._template = maker.vm.new_storage()
        # the shared variables this function reads and updates, by identity
        self.shared = list(shared) if shared is not None else list(maker.shared_leaves)
        self._shared_slots = [maker.vm.slot[v] for v in maker.shared_leaves]
        self._update_targets = [
            self.shared[maker.shared_leaves.index(var)] if var in maker.shared_leaves else var
            for var in maker.update_vars
        ]
        # a call that updates shared variables holds their locks from reading them to
        # writing them (in one global order), so concurrent calls lose no update
        locks = sorted({v.lock for v in self._update_targets}, key=id)
        self._locks = _Held(locks) if locks else None
        # keyword names and defaults (ga.In): None where a call must give the value
        self.signature = signature
        if signature is None:
            self.input_names = [v.name for v in maker.fgraph.inputs]
            self._defaults = (None,) * len(maker.fgraph.inputs)
        else:
            self.input_names, self._defaults = list(signature[0]), signature[1]
        # on a GPU (vm.device): outputs left there if asked, and the bytes calls moved
        self.outputs_on_device = bool(outputs_on_device)
        self._device = maker.vm.device
        self.moved = [0, 0]  # bytes the arguments and results moved: up, down
        if profile:
            from .profile import Profile

            self.profile = Profile(self)
        else:
            self.profile = None
        # compiled functions run their calls in C (kernels/graphad_runner.h)
        runner = None
        if self.profile is None and maker.mode.backend == "c" and self._device is None:
            runner = maker.vm.runner(self)
        self._runner = runner
        self._fast = None if runner is None else runner.call
        if runner is not None:
            for var in self.shared:
                var.readers.add(self)  # told when its value moves to a device
                if isinstance(var.container[0], DeviceArray):
                    self._fast = None  # the Python path brings it back first
        # NumPy steps in the runner skip np.errstate per node: it is set once per call
        self._quiet = runner is not None and maker.vm.runs_numpy
        # the runner's call as it is: nothing to set up around it
        self._direct = not self._quiet and self._locks is None

    @property
    def fgraph(self):
        return self.maker.fgraph

    @property
    def inputs(self):
        return self.maker.fgraph.inputs

    def __call__(self, *args, **kwargs):
        fast = self._fast
        if fast is not None and not kwargs and self._direct:
            result = fast(*args)  # the common call, without a frame more
            if result is not NotImplemented:
                return result
        if self._locks is not None:
            with self._locks:
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        fast = self._fast
        if fast is not None:
            if self._quiet:
                with np.errstate(all="ignore"):  # NaN/Inf are values
                    return self._run(fast, args, kwargs)
            return self._run(fast, args, kwargs)
        if self._device is None:
            self._shared_to_host()
        values = self._bind(args, kwargs)
        vm = self.maker.vm
        storage = list(self._template)
        if self._device is not None:
            self._place(storage, values)
        else:
            for var, value in zip(self.inputs, values):
                storage[vm.slot[var]] = value
            for slot, var in zip(self._shared_slots, self.shared):
                storage[slot] = var.container[0]
        vm.run(storage, profile=self.profile is not None)
        results = [storage[vm.slot[v]] for v in self.fgraph.outputs]
        n = self.maker.n_outputs
        # never hand out or keep an array someone else holds: an argument, a shared
        # variable's value, a returned output or another update's new value
        held = [*values, *(s.container[0] for s in self.shared)]
        outputs = []
        for r in results[:n]:
            outputs.append(self._result(r, held + outputs, self.outputs_on_device))
        held += outputs
        new_values = []
        for value, var in zip(results[n:], self._update_targets):
            new_values.append(self._result(value, held + new_values, None, var.dtype))
        for var, value in zip(self._update_targets, new_values):
            var.container[0] = value
            if isinstance(value, DeviceArray):
                _shared.moved_to_device(var)
        if self.profile is not None:
            self.profile.calls += 1
        if self.single:
            return outputs[0]
        return outputs

    def _place(self, storage, values):
        """A GPU function's arguments and shared values into ``storage``: uploaded
        where device steps read them (a shared value then stays on the device)."""
        device, slot, read = self._device, self.maker.vm.slot, self.maker.vm.device_reads
        up = device.uploaded
        for var, value in zip(self.inputs, values):
            k = slot[var]
            storage[k] = device.to_device(value) if k in read else value
        for k, var in zip(self._shared_slots, self.shared):
            value = var.container[0]
            if k in read and getattr(value, "device", None) is not device:
                value = var.container[0] = device.to_device(value)
                _shared.moved_to_device(var)
            storage[k] = value
        self.moved[0] += device.uploaded - up

    def _result(self, value, held, on_device, dtype=None):
        """An output (or, with ``on_device`` None, an update's new value) as the call
        hands it out: never an array someone else holds; downloaded from the device
        unless ``on_device``; an update's value stays where it was computed."""
        if isinstance(value, DeviceArray):
            if on_device is False:
                down = value.device.downloaded
                host = value.get()
                self.moved[1] += value.device.downloaded - down
                return host
            if any(isinstance(h, DeviceArray) and value.shares_memory(h) for h in held):
                return value.copy()
            return value
        value = _private(np.asarray(value, dtype=dtype), held)
        if on_device and self._device is not None:
            return self._device.upload(value)
        return value

    def _shared_to_host(self):
        """Bring this (CPU) function's shared values back from a device; then its C
        runner may read them again."""
        for var in self.shared:
            if isinstance(var.container[0], DeviceArray):
                var.container[0] = var.container[0].get()
        if self._runner is not None:
            self._fast = self._runner.call

    def value_on_device(self):
        """A shared value this function reads moved to a device (shared.py)."""
        if self._device is None:
            self._fast = None

    def _run(self, fast, args, kwargs):
        """The C runner's call: as it is, or after Python's checks of the arguments."""
        if not kwargs:
            result = fast(*args)
            if result is not NotImplemented:
                return result
        return self._runner.bound(self._bind(args, kwargs))

    def _bind(self, args, kwargs):
        inputs = self.inputs
        if len(args) > len(inputs):
            raise GraphadTypeError(
                f"{self._label()} takes {len(inputs)} argument(s) but {len(args)} were given"
            )
        values = list(args) + [_MISSING] * (len(inputs) - len(args))
        for key, value in kwargs.items():
            if key not in self.input_names:
                raise GraphadTypeError(
                    f"{self._label()} got an unexpected keyword argument {key!r}; the "
                    f"named inputs are {[n for n in self.input_names if n]}"
                )
            pos = self.input_names.index(key)
            if values[pos] is not _MISSING:
                raise GraphadTypeError(f"{self._label()} got two values for input {key!r}")
            values[pos] = value
        result = []
        for pos, (var, value) in enumerate(zip(inputs, values)):
            what = f"input {pos}" + (f" ({var.name!r})" if var.name else "")
            if value is _MISSING:
                value = self._defaults[pos]  # already of the input's type
                if value is None:
                    raise GraphadTypeError(f"{self._label()} is missing a value for {what}")
                result.append(value)
                continue
            if isinstance(value, DeviceArray):
                if self._device is not None:
                    result.append(_device_argument(var, value, f"{self._label()}: {what}"))
                    continue
                value = value.get()  # a CPU function reads it on the host
            result.append(
                var.type.filter(value, allow_downcast=self.allow_input_downcast, what=what)
            )
        return result

    def _label(self):
        return f"function {self.name!r}" if self.name else "the compiled function"

    def copy(self, swap=None):
        """A sibling sharing the compiled code; ``swap={old: new}`` rebinds shared
        variables (the types must match). Other shared variables stay shared."""
        swap = dict(swap or {})
        shared = list(self.shared)
        for old, new in swap.items():
            if old not in shared:
                raise GraphadTypeError(f"copy(swap=...): {old!r} is not a shared variable of f")
            if (
                not getattr(new, "is_shared", False)
                or new.type.dtype != old.type.dtype
                or (new.type.ndim != old.type.ndim)
            ):
                raise GraphadTypeError(
                    f"copy(swap=...): {new!r} must be a shared variable of type {old.type}"
                )
            shared[shared.index(old)] = new
        return Function(
            self.maker,
            self.single,
            self.name,
            self.allow_input_downcast,
            self.profile is not None,
            shared,
            self.outputs_on_device,
            self.signature,
        )

    def __reduce__(self):
        return (
            _rebuild_function,
            (
                self.maker,
                self.single,
                self.name,
                self.allow_input_downcast,
                self.profile is not None,
                self.shared,
                self.outputs_on_device,
                self.signature,
            ),
        )

    def __repr__(self):
        return f"<graphad Function {self.name or ''} ({len(self.inputs)} inputs)>"


def _rebuild_function(*args):
    return Function(*args)


def _private(value, held):
    """``value``, copied if it is read-only or shares memory with an array in ``held``."""
    if not value.flags.writeable or any(
        isinstance(h, np.ndarray) and np.may_share_memory(value, h) for h in held
    ):
        return value.copy()
    return value


def _device_argument(var, value, what):
    """A DeviceArray argument of a GPU function, checked as ``var.type.filter`` checks
    a host one (no casts: a device array is taken as it is)."""
    shape = var.type.shape
    if (
        value.dtype.name != var.type.dtype
        or value.ndim != len(shape)
        or any(s is not None and s != n for s, n in zip(shape, value.shape))
    ):
        raise GraphadTypeError(
            f"{what} is a DeviceArray of dtype {value.dtype.name} and shape {value.shape}; "
            f"expected {var.type} (device arrays are not cast: cast before uploading, or "
            "pass a NumPy array)"
        )
    return value


class _Held:
    """Holds ``locks`` (acquired in order, released in reverse) for a ``with`` block."""

    __slots__ = ("locks",)

    def __init__(self, locks):
        self.locks = tuple(locks)

    def __enter__(self):
        for lock in self.locks:
            lock.acquire()

    def __exit__(self, *exc):
        for lock in reversed(self.locks):
            lock.release()


class _Missing:
    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()
