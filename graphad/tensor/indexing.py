"""Indexing: ``x[...]`` (basic and advanced), ``set_subtensor``/``inc_subtensor``, take.

One op reads (``Subtensor``) and one writes (``IncSubtensor``); both carry a static
``spec`` describing the index, one entry per index component:

- ``("int", v)``: an integer, ``v`` an int or ``"var"`` (a symbolic scalar input);
- ``("slice", start, stop, step)``: each an int, None or ``"var"``;
- ``("array", kind)``: an integer or bool array input (advanced indexing);
- ``("newaxis",)`` and ``("ellipsis",)``.

Semantics are NumPy's: advanced results are copies, basic ones views; out-of-range
indices raise an IndexError subclass; a boolean mask gives a dynamic-length result.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import GraphadIndexError, GraphadTypeError, GraphadValueError
from ..graph.basic import Apply, Variable
from ..graph.op import Op, operand
from .construct import arange
from .math import neq
from .shape import broadcast_to
from .type import TensorType, broadcast_static
from .variable import as_tensor_variable, constant


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def parse_index(x, index):
    """(spec, symbolic inputs) for ``x[index]``; raises naming a bad component."""
    if not isinstance(index, tuple):
        index = (index,)
    spec, inputs = [], []

    def bound(v, what):
        if v is None or _is_int(v):
            return None if v is None else int(v)
        v = as_tensor_variable(v)
        if v.ndim != 0 or not v.dtype.startswith(("int", "uint")):
            raise GraphadTypeError(f"slice {what} must be an integer scalar, got {v} ({v.type})")
        inputs.append(v)
        return "var"

    for k, item in enumerate(index):
        if item is None:
            spec.append(("newaxis",))
        elif item is Ellipsis:
            spec.append(("ellipsis",))
        elif isinstance(item, slice):
            spec.append(
                (
                    "slice",
                    bound(item.start, "start"),
                    bound(item.stop, "stop"),
                    bound(item.step, "step"),
                )
            )
            if spec[-1][3] == 0:
                raise GraphadIndexError("slice step cannot be zero")
        elif _is_int(item):
            spec.append(("int", int(item)))
        elif isinstance(item, (bool, np.bool_)):
            raise GraphadTypeError(f"index component {k} is a bool scalar; use a bool array")
        else:
            if not isinstance(item, Variable):
                item = np.asarray(item)
                if item.dtype.kind == "f" or (item.dtype.kind not in "biu"):
                    raise GraphadTypeError(
                        f"index component {k} has dtype {item.dtype}; indices must be "
                        "integers or booleans"
                    )
                item = constant(item)
            item = as_tensor_variable(item)
            if item.dtype != "bool" and not item.dtype.startswith(("int", "uint")):
                raise GraphadTypeError(
                    f"index component {k} ({item}) has dtype {item.dtype}; indices must be "
                    "integers or booleans (cast with .astype('int64'))"
                )
            inputs.append(item)
            if item.ndim == 0 and item.dtype != "bool":
                spec.append(("int", "var"))
            else:
                spec.append(("array", "bool" if item.dtype == "bool" else "int"))
    if sum(e[0] == "ellipsis" for e in spec) > 1:
        raise GraphadIndexError("an index can only have a single ellipsis ('...')")
    return tuple(spec), inputs


def _static_out_shape(xshape, spec, inputs):
    """NumPy's result shape of ``x[index]`` from static information (None if unknown)."""
    # pair each entry with its symbolic inputs
    it = iter(inputs)
    entries = []
    for e in spec:
        if e[0] == "slice":
            ins = [next(it) for b in e[1:] if b == "var"]
            entries.append((e, ins))
        elif e[0] in ("array",) or (e[0] == "int" and e[1] == "var"):
            entries.append((e, [next(it)]))
        else:
            entries.append((e, []))
    consumed = sum(
        ins[0].ndim
        if e[0] == "array" and e[1] == "bool"
        else (0 if e[0] in ("newaxis", "ellipsis") else 1)
        for e, ins in entries
    )
    ndim = len(xshape)
    if consumed > ndim:
        raise GraphadIndexError(
            f"too many indices: the index uses {consumed} dimension(s) but the array has {ndim}"
        )
    full = []
    for e, ins in entries:
        if e[0] == "ellipsis":
            full.extend([(("slice", None, None, None), [])] * (ndim - consumed))
        else:
            full.append((e, ins))
    if not any(e[0] == "ellipsis" for e, _ in entries):
        full.extend([(("slice", None, None, None), [])] * (ndim - consumed))
    has_array = any(e[0] == "array" for e, _ in full)
    out, adv_shapes, adv_pos = [], [], []
    axis = 0
    for pos, (e, ins) in enumerate(full):
        kind = e[0]
        if kind == "newaxis":
            out.append(1)
            continue
        n = xshape[axis] if axis < ndim else None
        if kind == "slice":
            out.append(_slice_len(e[1:], n))
            axis += 1
        elif kind == "int":
            if e[1] != "var" and n is not None and not -n <= e[1] < n:
                raise GraphadIndexError(
                    f"index {e[1]} is out of bounds for axis {axis} with size {n}"
                )
            if has_array:
                adv_shapes.append(())
                adv_pos.append(pos)
            axis += 1
        else:  # array
            arr = ins[0]
            if e[1] == "bool":
                for have, want in zip(arr.type.shape, xshape[axis:]):
                    if have is not None and want is not None and have != want:
                        raise GraphadIndexError(
                            f"boolean index of shape {arr.type.shape} does not match the "
                            f"indexed dimensions {xshape[axis : axis + arr.ndim]}"
                        )
                adv_shapes.append((None,) if arr.ndim else ())
                axis += arr.ndim
            else:
                adv_shapes.append(arr.type.shape)
                axis += 1
            adv_pos.append(pos)
    if not has_array:
        return tuple(out)
    bshape = broadcast_static(adv_shapes, what="index arrays")
    adjacent = adv_pos == list(range(adv_pos[0], adv_pos[0] + len(adv_pos)))
    # rebuild with the broadcast index shape in NumPy's position
    result = []
    first = adv_pos[0]
    non_adv = [p for p in range(len(full)) if p not in adv_pos]
    slot = {p: i for i, p in enumerate(non_adv)}
    for p in range(len(full)):
        if p == first and adjacent:
            result.extend(bshape)
        if p in slot:
            result.append(out[slot[p]])
    if not adjacent:
        result = list(bshape) + result
    return tuple(result)


def _slice_len(bounds, n):
    start, stop, step = bounds
    if "var" in (start, stop, step):
        return None
    if n is None:
        return None
    return len(range(*slice(start, stop, step).indices(n)))


def _rebuild_index(spec, values):
    """The NumPy index tuple from a spec and the runtime values of its inputs."""
    it = iter(values)
    out = []
    for e in spec:
        kind = e[0]
        if kind == "newaxis":
            out.append(None)
        elif kind == "ellipsis":
            out.append(Ellipsis)
        elif kind == "int":
            out.append(_index_int(next(it)) if e[1] == "var" else e[1])
        elif kind == "slice":
            out.append(slice(*(int(next(it)) if b == "var" else b for b in e[1:])))
        else:
            out.append(np.asarray(next(it)))
    return tuple(out)


def _index_int(value) -> int:
    """A runtime integer index; one beyond int64 (a huge uint64) is out of range, not an
    overflow (NumPy would raise OverflowError)."""
    i = int(value)
    if not -(2**63) <= i < 2**63:
        raise GraphadIndexError(f"index {i} is out of bounds (it does not fit in int64)")
    return i


def _is_advanced(spec) -> bool:
    return any(e[0] == "array" for e in spec)


class Subtensor(Op):
    """``x[index]``: a view for basic indices, a copy when an index is an array."""

    __props__ = ("spec",)
    fusion_kind = "opaque"

    def __init__(self, spec):
        self.spec = tuple(spec)
        self.view_map = {} if _is_advanced(self.spec) else {0: 0}
        self.reads_values = bool(_is_advanced(self.spec))  # basic indices only view

    def __str__(self):
        return f"Subtensor{{{_spec_text(self.spec)}}}"

    def user_text(self, node, args):
        return f"{operand(args[0])}[{_spec_text(self.spec, iter(args[1:]))}]"

    def make_node(self, x, *inputs):
        x = as_tensor_variable(x)
        inputs = [as_tensor_variable(i) for i in inputs]
        shape = _static_out_shape(x.type.shape, self.spec, inputs)
        return Apply(self, [x] + inputs, [TensorType(x.dtype, shape).make_variable()])

    def perform(self, node, inputs, outputs):
        x, *values = inputs
        outputs[0][0] = np.asarray(x[_rebuild_index(self.spec, values)])

    def infer_shape(self, node, input_shapes):
        x, *values = node.inputs
        shp = IndexShape(self.spec)(x.shape, *values)
        static = node.outputs[0].type.shape
        return [
            tuple(constant(np.int64(s)) if s is not None else shp[i] for i, s in enumerate(static))
        ]

    def L_op(self, inputs, outputs, output_grads):
        from .shape import zeros_like

        x, *values = inputs
        gx = IncSubtensor(self.spec, "inc")(zeros_like(x), output_grads[0], *values)
        return [gx] + [None] * len(values)

    def R_op(self, inputs, outputs, tangents):
        x, *values = inputs
        return [None if tangents[0] is None else self(tangents[0], *values)]


class IndexShape(Op):
    """The shape of ``x[index]`` from ``x.shape`` and the index values, without ``x``."""

    __props__ = ("spec",)

    def __init__(self, spec):
        self.spec = tuple(spec)

    def make_node(self, shape, *inputs):
        out = TensorType("int64", (None,)).make_variable()
        return Apply(self, [as_tensor_variable(shape)] + list(inputs), [out])

    def perform(self, node, inputs, outputs):
        shape, *values = inputs
        dummy = np.broadcast_to(np.zeros((), dtype=np.int8), tuple(int(s) for s in shape))
        result = dummy[_rebuild_index(self.spec, values)]
        outputs[0][0] = np.array(result.shape, dtype="int64")

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


class IncSubtensor(Op):
    """A copy of ``x`` with ``x[index]`` set to (``mode="set"``) or incremented by
    (``mode="inc"``) ``y``. Repeated indices: the last write wins for set; increments
    accumulate (``np.add.at``)."""

    __props__ = ("spec", "mode")
    fusion_kind = "opaque"

    def __init__(self, spec, mode):
        self.spec, self.mode = tuple(spec), mode

    def __str__(self):
        return f"{'Set' if self.mode == 'set' else 'Inc'}Subtensor{{{_spec_text(self.spec)}}}"

    def make_node(self, x, y, *inputs):
        x = as_tensor_variable(x)
        y = as_tensor_variable(y)
        if getattr(y, "weak", None) is not None:
            y = constant(y.weak, dtype=x.dtype)  # overflow raises, as in NumPy
        if y.dtype != x.dtype:
            if not np.can_cast(y.dtype, x.dtype, "same_kind"):
                raise GraphadTypeError(
                    f"{self.mode}_subtensor: cannot write {y} of dtype {y.dtype} into {x} "
                    f"of dtype {x.dtype}; cast it with .astype('{x.dtype}')"
                )
            from .math import cast

            y = cast(y, x.dtype)
        inputs = [as_tensor_variable(i) for i in inputs]
        target = _static_out_shape(x.type.shape, self.spec, inputs)
        if y.ndim > len(target):
            raise GraphadIndexError(
                f"{self.mode}_subtensor: {y} has {y.ndim} dims but x[index] has {len(target)}"
            )
        broadcast_static([target, y.type.shape], what=f"{self.mode}_subtensor value and target")
        return Apply(self, [x, y] + inputs, [x.type.make_variable()])

    def perform(self, node, inputs, outputs):
        x, y, *values = inputs
        out = x.copy()
        index = _rebuild_index(self.spec, values)
        if self.mode == "set":
            out[index] = y
        elif _is_advanced(self.spec):
            np.add.at(out, index, y)
        else:
            out[index] += y
        outputs[0][0] = out

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        from .elemwise import sum_to_shape
        from .shape import zeros_like

        x, y, *values = inputs
        (g,) = output_grads
        gx = g
        if self.mode == "set":
            gx = IncSubtensor(self.spec, "set")(g, zeros_like(y), *values)
        picked = Subtensor(self.spec)(g, *values)
        if self.mode == "set" and _is_advanced(self.spec):
            picked = picked * _landed(x, self.spec, values, picked)
        gy = sum_to_shape(picked, y)
        return [gx, gy] + [None] * len(values)

    def R_op(self, inputs, outputs, tangents):
        from .shape import zeros_like

        x, y, *values = inputs
        tx, ty = tangents[0], tangents[1]
        if tx is None and ty is None:
            return [None]
        tx = zeros_like(x) if tx is None else tx
        ty = zeros_like(y) if ty is None else ty
        return [self(tx, ty, *values)]


class CheckIndex(Op):
    """``i`` itself, once every value is known to index an axis of size ``n``
    (``-n <= i < n``); otherwise the IndexError NumPy's indexing would raise. Keeps the
    check of an index that a rewrite turned into arithmetic (a one-hot compare)."""

    __props__ = ("axis",)
    fusion_kind = "opaque"
    view_map = {0: 0}

    def __init__(self, axis):
        self.axis = axis

    def make_node(self, i, n):
        i, n = as_tensor_variable(i), as_tensor_variable(n)
        return Apply(self, [i, n], [i.type.make_variable()])

    def perform(self, node, inputs, outputs):
        i, n = inputs
        n = int(n)
        if i.size:
            bad = (i < -n) | (i >= n)
            if bad.any():
                raise GraphadIndexError(
                    f"index {i[bad].flat[0]} is out of bounds for axis {self.axis} with size {n}"
                )
        outputs[0][0] = i

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]


def _landed(x, spec, values, target):
    """True where a write of ``set_subtensor(x[index], y)`` lands and False where a later
    write to the same element (a repeated index) overwrites it; ``target`` has the shape
    of ``x[index]``. Only the writes that land have a gradient."""
    from .construct import arange
    from .math import eq
    from .shape import reshape, zeros_like

    ids = reshape(arange(target.shape.prod()) + 1, target.shape)
    board = IncSubtensor(spec, "set")(zeros_like(x, dtype="int64"), ids, *values)
    return eq(Subtensor(spec)(board, *values), ids)


def _spec_text(spec, values=None) -> str:
    """The index as text; a symbolic entry prints as the next of ``values`` (the
    texts of the index inputs, in order), or ``?`` without them."""

    def value(entry):
        return (next(values, "?") if values is not None else "?") if entry == "var" else entry

    parts = []
    for e in spec:
        if e[0] == "slice":
            bounds = [value(b) for b in e[1:]]
            parts.append(":".join("" if b is None else str(b) for b in bounds).rstrip(":") or ":")
        elif e[0] == "int":
            parts.append(str(value(e[1])))
        elif e[0] == "array":
            default = "mask" if e[1] == "bool" else "idx"
            parts.append(next(values, default) if values is not None else default)
        else:
            parts.append({"newaxis": "None", "ellipsis": "..."}[e[0]])
    return ", ".join(parts)


def getitem(x, index):
    """``x[index]`` with NumPy semantics (see the module docstring)."""
    x = as_tensor_variable(x)
    spec, inputs = parse_index(x, index)
    return Subtensor(spec)(x, *inputs)


def _write(mode, target, y):
    node = getattr(target, "owner", None)
    if node is None or not isinstance(node.op, Subtensor):
        raise GraphadTypeError(
            f"{mode}_subtensor expects an indexed variable such as x[1:3], got {target}"
        )
    x, *values = node.inputs
    return IncSubtensor(node.op.spec, mode)(x, y, *values)


def set_subtensor(target, y):
    """A copy of ``x`` with ``x[index] = y``, for ``target = x[index]``.

    >>> import graphad as ga
    >>> x = ga.constant([0.0, 0.0, 0.0])
    >>> ga.set_subtensor(x[1:], 5.0).eval().tolist()
    [0.0, 5.0, 5.0]
    """
    return _write("set", target, y)


def inc_subtensor(target, y):
    """A copy of ``x`` with ``x[index] += y`` (repeated indices accumulate).

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> ga.inc_subtensor(x[[0, 2, 0]], 1.0).eval({x: [0.0, 0.0, 0.0]}).tolist()
    [2.0, 0.0, 1.0]
    """
    return _write("inc", target, y)


def take(a, indices, axis=None):
    """``np.take``: elements of ``a`` at ``indices`` along ``axis`` (flattened if None).

    >>> import graphad as ga
    >>> a = ga.constant([[1, 2], [3, 4]])
    >>> ga.take(a, [1, 0], axis=1).eval().tolist(), ga.take(a, [3, 0]).eval().tolist()
    ([[2, 1], [4, 3]], [4, 1])
    """
    from .shape import flatten

    a = as_tensor_variable(a)
    if axis is None:
        return getitem(flatten(a), (indices,))
    if not _is_int(axis) or not -a.ndim <= axis < a.ndim:
        raise GraphadIndexError(f"take: axis {axis!r} is out of range for {a.ndim}-d {a}")
    return getitem(a, (slice(None),) * (axis % a.ndim) + (indices,))


def nonzero(x):
    """The indices of the nonzero entries of ``x``, one int64 vector per axis, in
    row-major order as ``np.nonzero``: ``x[x.nonzero()]`` is ``x[x != 0]``. Each is a
    boolean-mask read of the axis's index grid, so its length is known only at run time.

    >>> import graphad as ga
    >>> v = ga.vector("v")
    >>> (idx,) = ga.nonzero(v)
    >>> idx.eval({v: [0.0, 5.0, 0.0, 1.0]}).tolist()
    [1, 3]
    """
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise GraphadValueError(
            f"nonzero of the 0-d {x} is not defined (as in NumPy 2); use nonzero(x.reshape((1,)))"
        )
    mask = x if x.dtype == "bool" else neq(x, 0)
    indices = []
    for axis in range(x.ndim):
        pattern = ["x"] * x.ndim
        pattern[axis] = 0
        grid = broadcast_to(arange(x.shape[axis]).dimshuffle(pattern), x.shape)
        indices.append(getitem(grid, (mask,)))
    return tuple(indices)


def take_along_last(a, indices):
    """``a[..., indices]`` pairing each leading position with its own index: for a
    matrix and a vector of labels, ``a[i, labels[i]]``."""
    from .construct import arange

    a, indices = as_tensor_variable(a), as_tensor_variable(indices)
    lead = a.ndim - 1
    index = []
    for axis in range(lead):
        pattern = ["x"] * lead
        pattern[axis] = 0
        index.append(arange(a.shape[axis]).dimshuffle(pattern))
    return getitem(a, tuple(index) + (indices,))
