"""The kernel IR: what one generated loop computes, independent of C or CUDA.

A ``Kernel`` reads strided inputs broadcast (NumPy's rules, stride 0 along broadcast
axes) to one iteration space, evaluates a DAG of scalar ops per element, and writes
its outputs. Values are numbered: ``0 .. n_inputs - 1`` are the inputs, then one
value per ``ScalarStep`` in order; a ``Literal`` is a constant folded into the code.

>>> from graphad.tensor import scalar_ops as so
>>> k = Kernel((KInput("float64"),), (ScalarStep(so.Exp(), (0,), "float64"),), (1,))
>>> k.describe()
'exp(i0)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..tensor.reduce import reduction_text


@dataclass(frozen=True)
class KInput:
    """A strided input array of ``dtype``, broadcast to the iteration space.

    ``ones`` says which of its own dimensions the graph knows to be 1 (so broadcast,
    stride 0): renderers load such an input once per inner loop instead of per element.
    """

    dtype: str
    ones: tuple = ()

    def invariant_along(self, axis: int, ndim: int) -> bool:
        """Whether the input is constant along ``axis`` of an ``ndim``-d iteration
        space (it has fewer dimensions, or a static 1 there)."""
        own = axis - (ndim - len(self.ones))
        return own < 0 or bool(self.ones[own])


@dataclass(frozen=True)
class Literal:
    """A scalar constant inlined into the generated code."""

    value: object
    dtype: str

    def __hash__(self):
        return hash((repr(self.value), self.dtype))

    def __eq__(self, other):
        return (
            isinstance(other, Literal)
            and self.dtype == other.dtype
            and repr(self.value) == repr(other.value)
        )


@dataclass(frozen=True)
class ScalarStep:
    """``op`` applied to earlier values (ints) or literals, giving ``dtype``."""

    op: object
    args: tuple
    dtype: str


@dataclass(frozen=True)
class KReduce:
    """A reduction of the kernel's (single) output value over ``axes`` of its
    ``ndim``-d iteration space: NumPy's ``kind(value, axis=axes, keepdims=keepdims,
    initial=initial)`` giving ``dtype``."""

    kind: str
    axes: tuple
    keepdims: bool
    ndim: int
    dtype: str
    initial: object = None

    def __hash__(self):
        return hash(
            (self.kind, self.axes, self.keepdims, self.ndim, self.dtype, repr(self.initial))
        )

    def __str__(self) -> str:
        """Named as the Reduce op prints itself: ``Max{axis=[0]}``."""
        return f"{self.kind.capitalize()}{{axis={list(self.axes)}}}"

    def out_shape(self, shape) -> tuple:
        """The result's shape (static entries may be None) for an iteration space of
        ``shape``, which is padded with leading 1s to ``ndim`` axes."""
        shape = (1,) * (self.ndim - len(shape)) + tuple(shape)
        return tuple(
            1 if a in self.axes else n
            for a, n in enumerate(shape)
            if self.keepdims or a not in self.axes
        )


@dataclass(frozen=True)
class Kernel:
    """Inputs, a topologically ordered list of scalar steps, and the output values.

    With ``reduce``, the first output value is reduced (the steps are its prologue),
    and ``epilogue`` steps may follow on the reduced value: it is value
    ``reduced_ref`` (right after the prologue's), the epilogue's values come after it,
    and the last one is the kernel's first result. Epilogue steps read inputs at the
    reduced shape. Further outputs are prologue values, written at the full shape of
    the inputs they read (computed in the reduction's pass, for later kernels).
    """

    inputs: tuple
    steps: tuple
    outputs: tuple
    reduce: KReduce | None = None
    epilogue: tuple = ()

    @property
    def reduced_ref(self) -> int:
        return len(self.inputs) + len(self.steps)

    @property
    def result_ref(self) -> int:
        """The value a reduction kernel returns (the reduced value or the epilogue's)."""
        return self.reduced_ref + len(self.epilogue)

    def value_dtype(self, ref) -> str:
        if isinstance(ref, Literal):
            return ref.dtype
        n = len(self.inputs)
        if ref < n:
            return self.inputs[ref].dtype
        if ref < self.reduced_ref:
            return self.steps[ref - n].dtype
        if ref == self.reduced_ref:
            return self.reduce.dtype
        return self.epilogue[ref - self.reduced_ref - 1].dtype

    def step(self, ref):
        """The ScalarStep computing value ``ref`` (a prologue or epilogue step)."""
        if ref < self.reduced_ref:
            return self.steps[ref - len(self.inputs)]
        return self.epilogue[ref - self.reduced_ref - 1]

    def epilogue_inputs(self) -> set:
        """The input indices the epilogue reads (at the reduced shape)."""
        return {
            a for s in self.epilogue for a in s.args if isinstance(a, int) and a < len(self.inputs)
        }

    def prologue_inputs(self) -> set:
        """The input indices the prologue reads (at the full iteration shape)."""
        if self.reduce is None:
            return set(range(len(self.inputs)))
        return set().union(*(self.input_deps(r) for r in self.outputs))

    @property
    def result_refs(self) -> tuple:
        """The values the kernel returns, in order: a reduction's result first, then
        the full-shape outputs."""
        first = (self.result_ref,) if self.reduce is not None else ()
        return first + self.full_outputs

    @property
    def full_outputs(self) -> tuple:
        """The output values written at the broadcast shape of the inputs each reads:
        all of an elementwise kernel's, a reduction kernel's exported prologue values."""
        return self.outputs[1:] if self.reduce is not None else self.outputs

    def describe(self, ref=None, depth=6, names=None) -> str:
        """The kernel's outputs as nested expressions: ``tanh(add(mul(i0, i1), i2))``
        (``...`` below ``depth`` levels, so a long chain prints in one line). With
        ``names``, the texts of the inputs, in the user's words: ``tanh(x * y + z)``."""
        if ref is None:
            return ", ".join(self.describe(r, depth, names) for r in self.result_refs)
        if isinstance(ref, Literal):
            return repr(ref.value)
        n = len(self.inputs)
        if ref < n:
            return f"i{ref}" if names is None else names[ref]
        if depth == 0:
            return "..."
        if self.reduce is not None and ref == self.reduced_ref:
            inner, red = self.describe(self.outputs[0], depth - 1, names), self.reduce
            if names is None:
                return f"{red}({inner})"
            return reduction_text(inner, red.kind, red.axes, red.keepdims)
        step = self.step(ref)
        args = [self.describe(a, depth - 1, names) for a in step.args]
        return f"{step.op}({', '.join(args)})" if names is None else step.op.user_text(args)

    def listing(self) -> list:
        """One line per value the kernel computes, in evaluation order: ``v3 =
        sub(i0, i1)``, the reduction as ``v5 = Sum{axis=[1]}(v4)``, and which values
        it returns."""

        def name(ref):
            if isinstance(ref, Literal):
                return repr(ref.value)
            return f"i{ref}" if ref < len(self.inputs) else f"v{ref}"

        lines = [
            f"{name(r)} = {s.op}({', '.join(map(name, s.args))})"
            for r, s in enumerate(self.steps, len(self.inputs))
        ]
        if self.reduce is not None:
            lines.append(f"{name(self.reduced_ref)} = {self.reduce}({name(self.outputs[0])})")
            lines += [
                f"{name(k)} = {s.op}({', '.join(map(name, s.args))})"
                for k, s in enumerate(self.epilogue, self.reduced_ref + 1)
            ]
        lines.append("return " + ", ".join(map(name, self.result_refs)))
        return lines

    def op_names(self) -> list:
        """The scalar ops inside, in evaluation order (then the reduction)."""
        names = [str(s.op) for s in self.steps]
        if self.reduce is None:
            return names
        return names + [self.reduce.kind] + [str(s.op) for s in self.epilogue]

    def input_deps(self, ref) -> set:
        """The input indices value ``ref`` depends on."""
        n = len(self.inputs)
        deps, stack, seen = set(), [ref], set()
        while stack:
            r = stack.pop()
            if isinstance(r, Literal) or r in seen:
                continue
            seen.add(r)
            if r < n:
                deps.add(r)
            elif self.reduce is not None and r == self.reduced_ref:
                stack.append(self.outputs[0])
            else:
                stack.extend(self.step(r).args)
        return deps

    def out_dtypes(self) -> list:
        return [self.value_dtype(r) for r in self.result_refs]


def c_literal(value, dtype: str) -> str:
    """An exact C literal of ``value`` in ``dtype`` (hex floats, no rounding).

    >>> c_literal(0.1, "float64"), c_literal(float("-inf"), "float32"), c_literal(3, "int8")
    ('0x1.999999999999ap-4', '(-INFINITY)', '3')
    """
    kind = np.dtype(dtype).kind
    if kind == "b":
        return "1" if bool(value) else "0"
    if kind in "iu":
        v = int(value)
        if dtype == "int64" and v == -(2**63):
            return "INT64_MIN"
        suffix = "ULL" if kind == "u" and np.dtype(dtype).itemsize == 8 else ""
        suffix = "LL" if kind == "i" and np.dtype(dtype).itemsize == 8 else suffix
        return f"{v}{suffix}"
    v = float(value)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    text = v.hex()
    return f"{text}f" if dtype == "float32" else text
