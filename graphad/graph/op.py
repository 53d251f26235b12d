"""The Op base class: THE op contract every operation implements.

An op is a value: two ops are equal when their class and ``params`` are equal, which is
what merging and the compile cache use. Subclasses list their parameters in
``__props__`` and implement:

- ``make_node(*inputs)``: the type rule; checks inputs, names the bad argument.
- ``perform(node, inputs, outputs)``: the NumPy reference; writes ``outputs[i][0]``.
- ``infer_shape(node, input_shapes)``: symbolic output shapes (lists of int64 scalars).
- ``L_op(inputs, outputs, output_grads)``: vector-Jacobian product.
- ``R_op(inputs, outputs, tangents)``: Jacobian-vector product.

Traits read by passes and backends instead of isinstance checks:
``fusion_kind`` ("elemwise", "reduce", "injective", "opaque") and the algebraic
traits ``commutative``, ``associative`` and ``identity``.
"""

from __future__ import annotations

import numpy as np

from ..errors import (
    GraphadError,
    GraphadIndexError,
    GraphadMemoryError,
    GraphadTypeError,
    GraphadValueError,
    KernelError,
    NaNError,
)
from .basic import Apply, format_source


class Value:
    """An immutable value identified by its class and ``params`` (the attributes
    named in ``__props__``): ops and scalar ops, which merging and the compile cache
    compare and hash."""

    __props__: tuple = ()

    @property
    def params(self) -> tuple:
        """The values that make two instances of this class equal."""
        return tuple(getattr(self, name) for name in self.__props__)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        # hashed on every merge and rewrite: once
        h = self.__dict__.get("_hash")
        if h is None:
            h = self.__dict__["_hash"] = hash((type(self), self.params))
        return h

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_hash", None)  # str hashes differ between processes
        return state


class Op(Value):
    """Base of every operation. See the module docstring for the contract."""

    __props__: tuple = ()
    fusion_kind = "opaque"
    commutative = False
    associative = False
    identity = None  # the neutral element, when the op has one
    # Outputs that may alias (be views of) an input: {output index: input index}.
    view_map: dict = {}
    # False when perform's errors, output shapes and choice of returning a view never
    # depend on the elements of its data inputs (the ``view_map`` inputs; all inputs of
    # an op without one): it reads their shapes (``x.shape``), or makes views of them,
    # or computes from them only what it returns. A device backend then runs perform
    # on stand-ins of the layout: a view it returns becomes the same view of device
    # memory, and only a computed result makes it run perform again on the real data.
    reads_values = True

    def __str__(self) -> str:
        name = type(self).__name__
        if not self.__props__:
            return name
        args = ", ".join(f"{k}={_short(v)}" for k, v in zip(self.__props__, self.params))
        return f"{name}{{{args}}}"

    __repr__ = __str__

    def __call__(self, *inputs, **kwargs):
        """Build a node and return its output (or the list of outputs)."""
        node = self.make_node(*inputs, **kwargs)
        if len(node.outputs) == 1:
            return node.outputs[0]
        return node.outputs

    def make_node(self, *inputs) -> Apply:
        raise NotImplementedError(f"{type(self).__name__} does not define make_node")

    def perform(self, node, inputs, outputs) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no NumPy reference")

    def infer_shape(self, node, input_shapes):
        """Default: the shapes are those of the computed outputs (no shortcut)."""
        from ..tensor.shape import shape_tuple

        return [shape_tuple(out) for out in node.outputs]

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError(f"{self} has no gradient (L_op) yet")

    def R_op(self, inputs, outputs, tangents):
        raise NotImplementedError(f"{self} has no forward-mode derivative (R_op) yet")

    def describe_node(self, node) -> str:
        """What the node computes, for error messages; fused ops list their contents."""
        return str(self)

    def user_text(self, node, args) -> str:
        """The node as its user wrote it, given the texts of its inputs: ``a + b``,
        ``x[i]``, ``A @ B + 1``. Error messages use it; ops override the default
        ``Op(args)``."""
        return f"{self}({', '.join(args)})"

    def nonfinite_site(self, node, inputs):
        """``(text, source)`` of the user-level expression inside ``node`` that made a
        NaN or Inf from finite values, or None for the node itself."""
        return None

    def failure_site(self, node, inputs):
        """``(text, source)`` of the user-level expression to blame when ``node`` fails
        on ``inputs`` (a fused kernel names the step whose operands do not fit), or
        None for the node itself."""
        return None


def user_expression(var, depth=3) -> str:
    """``var`` in the user's words, for error messages: a name where it has one, a
    0-d constant's value, else its op's ``user_text`` (``...`` below ``depth``)."""
    if var.name:
        return var.name
    data = getattr(var, "data", None)
    if data is not None and getattr(data, "ndim", None) == 0:
        return repr(data.item())
    if data is not None:
        values = np.asarray(data)
        if values.ndim == 1 and values.size <= 8:
            return repr(tuple(values.tolist()))
        return "a constant"
    if var.owner is None:
        return "a shared variable" if getattr(var, "is_shared", False) else "an unnamed input"
    if depth == 0:
        return "..."
    node = var.owner
    text = getattr(node.tag, "user_text", None)  # a composite that named itself
    if text is None:
        text = node.op.user_text(node, [user_expression(v, depth - 1) for v in node.inputs])
    if len(node.outputs) > 1:
        text += f"[output {node.outputs.index(var)}]"
    return text


def operand(text) -> str:
    """``text`` in parentheses when it has an operator at its top level (so that
    ``(a + b) * 2`` keeps its meaning); names and calls stay bare."""
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == " " and depth == 0:
            return f"({text})"
    return text


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_RUNTIME_CLASSES = (
    (IndexError, GraphadIndexError),
    (MemoryError, GraphadMemoryError),
    (FloatingPointError, NaNError),
    (TypeError, GraphadTypeError),
    (ValueError, GraphadValueError),
)


def node_error(exc, node, inputs):
    """An exception for ``exc`` raised while running ``node``: it names the op, the
    input shapes and dtypes, and where the user built the node; its class keeps the
    category (IndexError stays an IndexError)."""
    cls = KernelError
    if isinstance(exc, GraphadError) and "__init__" not in vars(type(exc)):
        cls = type(exc)  # keep the precise class (ShapeError stays ShapeError)
    else:
        for builtin, ours in _RUNTIME_CLASSES:
            if isinstance(exc, builtin):
                cls = ours
                break
    shapes = ", ".join(_describe_value(v) for v in inputs)
    site = node.op.failure_site(node, inputs) if inputs is not None else None
    if site is None:
        site = user_expression(node.outputs[0]), node.source
    message = (
        f"`{site[0]}` failed: {exc}\n"
        f"  inputs: {shapes or 'none'}\n"
        f"  built at: {format_source(site[1])}\n"
        f"  runs as: {node.op.describe_node(node)}"
    )
    err = cls(message)
    err.node = node
    return err


def _describe_value(value) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None:
        return type(value).__name__
    return f"{dtype}{list(shape)}"
