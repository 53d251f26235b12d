"""Fused: one graph node that runs a whole kernel (a DAG of elementwise ops).

The fusion pass (rewrite/fusion.py) replaces groups of Elemwise nodes by one Fused
node. Its NumPy ``perform`` evaluates the kernel's scalar DAG with the ops' own
references, so the reference backend runs fused graphs too; the C backend compiles
the kernel instead. Gradients are taken before fusion, so Fused needs no L_op.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..graph.basic import Apply
from ..graph.op import Op, user_expression
from ..tensor.type import TensorType, broadcast_static
from .ir import Kernel, Literal


class Fused(Op):
    """A fused elementwise kernel; ``kernel`` is its IR, ``sources`` the user lines
    of the nodes it replaced, one per value the kernel computes (its steps, then the
    reduction and the epilogue's steps), for error messages."""

    __props__ = ("kernel",)
    fusion_kind = "elemwise"

    def __init__(self, kernel: Kernel, sources=()):
        self.kernel = kernel
        self.sources = tuple(sources)

    def __str__(self):
        return f"Fused{{{','.join(self.kernel.op_names())}}}"

    __repr__ = __str__

    @property
    def fused_ops(self) -> list:
        """The ops the kernel runs, in evaluation order (shown by every graph dump)."""
        return self.kernel.op_names()

    def describe_node(self, node) -> str:
        from ..graph.basic import format_source

        lines = sorted({format_source(s) for s in self.sources if s})
        where = f" (from {', '.join(lines)})" if lines else ""
        return f"fused kernel {self.kernel.describe()}{where}"

    def user_text(self, node, args):
        return self.kernel.describe(self.kernel.result_refs[0], 4, args)

    def _site(self, node, ref):
        """``(text, source)`` of value ``ref``: its expression, named as the user wrote
        it, and the line that built it."""
        k = ref - len(self.kernel.inputs)
        source = self.sources[k] if k < len(self.sources) else node.source
        return self.kernel.describe(ref, 2, [user_expression(v) for v in node.inputs]), source

    def failure_site(self, node, inputs):
        """The first step whose operands do not broadcast together, with the line
        that built it (not the kernel's root, which may be a later ``sum``)."""
        kernel = self.kernel
        shapes = [np.shape(v) for v in inputs]
        refs = list(range(len(kernel.inputs), kernel.reduced_ref))
        if kernel.reduce is not None:
            refs += list(range(kernel.reduced_ref + 1, kernel.result_ref + 1))
        shape_of = dict(enumerate(shapes))
        for ref in refs:
            if kernel.reduce is not None and ref == kernel.reduced_ref + 1:
                full = shape_of.get(kernel.outputs[0], ())
                shape_of[kernel.reduced_ref] = kernel.reduce.out_shape(full)
            operands = [
                () if isinstance(a, Literal) else shape_of[a] for a in kernel.step(ref).args
            ]
            try:
                shape_of[ref] = np.broadcast_shapes(*operands)
            except ValueError:
                return self._site(node, ref)
        return None

    def make_node(self, *inputs):
        from ..tensor.variable import as_tensor_variable

        inputs = [as_tensor_variable(x) for x in inputs]
        kernel, red = self.kernel, self.kernel.reduce
        first = sorted(kernel.prologue_inputs())
        shape = broadcast_static(
            [inputs[i].type.shape for i in first], what=f"the inputs of {self}"
        )
        if red is not None:
            shape = red.out_shape(shape)
            late = [inputs[i].type.shape for i in sorted(kernel.epilogue_inputs())]
            shape = broadcast_static([shape, *late], what=f"the epilogue of {self}")
        shapes = [shape] if red is not None else []
        shapes += [  # the broadcast shape of the inputs each reads
            broadcast_static([inputs[i].type.shape for i in kernel.input_deps(r)])
            for r in kernel.full_outputs
        ]
        outs = [
            TensorType(d, shp).make_variable() for d, shp in zip(self.kernel.out_dtypes(), shapes)
        ]
        return Apply(self, inputs, outs)

    def perform(self, node, inputs, outputs):
        kernel, red = self.kernel, self.kernel.reduce
        values = self.evaluate(node, inputs)
        if red is not None:
            outputs[0][0] = np.array(values[kernel.result_ref])
            outputs = outputs[1:]
        for cell, ref in zip(outputs, kernel.full_outputs):  # shaped by the inputs each reads
            deps = kernel.input_deps(ref)
            shape = np.broadcast_shapes(*(np.shape(inputs[i]) for i in deps))
            cell[0] = np.array(np.broadcast_to(values[ref], shape))

    def evaluate(self, node, inputs) -> list:
        """Every value of the kernel (indexed by ref) for ``inputs``, by NumPy."""
        kernel, red = self.kernel, self.kernel.reduce
        try:
            shape = np.broadcast_shapes(*(np.shape(inputs[i]) for i in kernel.prologue_inputs()))
        except ValueError as exc:
            raise ShapeError(f"{self.describe_node(node)}: {exc}") from None
        values = list(inputs)
        _run_steps(kernel, kernel.steps, values)
        if red is not None:
            value = np.broadcast_to(
                values[kernel.outputs[0]], (1,) * (red.ndim - len(shape)) + shape
            )
            kwargs = {} if red.initial is None else {"initial": red.initial}
            if red.kind in ("sum", "prod"):  # NumPy reduces in the output dtype
                kwargs["dtype"] = red.dtype
            with np.errstate(all="ignore"):
                result = getattr(np, red.kind)(
                    value, axis=red.axes, keepdims=red.keepdims, **kwargs
                )
            values.append(np.asarray(result, dtype=red.dtype))
            _run_steps(kernel, kernel.epilogue, values)
        return values

    def nonfinite_site(self, node, inputs):
        """``(text, source)`` of the first step that makes a NaN or Inf from finite
        operands (DEBUG mode names the ``log`` inside a kernel, not the kernel)."""
        kernel = self.kernel
        with np.errstate(all="ignore"):
            values = self.evaluate(node, inputs)

        def finite(ref):
            if isinstance(ref, Literal):
                return bool(np.isfinite(ref.value))
            v = np.asarray(values[ref])
            return v.dtype.kind not in "fc" or bool(np.isfinite(v).all())

        for ref in range(len(kernel.inputs), len(values)):
            if kernel.reduce is not None and ref == kernel.reduced_ref:
                operands = [kernel.outputs[0]]
            else:
                operands = kernel.step(ref).args
            if not finite(ref) and all(finite(a) for a in operands):
                return self._site(node, ref)
        return None

    def infer_shape(self, node, input_shapes):
        from ..tensor.elemwise import broadcast_shapes_symbolic
        from ..tensor.shape import shape_tuple

        result = [shape_tuple(node.outputs[0])] if self.kernel.reduce is not None else []
        for ref, out in zip(self.kernel.full_outputs, node.outputs[len(result) :]):
            deps = sorted(self.kernel.input_deps(ref))
            result.append(
                broadcast_shapes_symbolic([input_shapes[i] for i in deps], out.type.shape)
            )
        return result


def _run_steps(kernel, steps, values):
    """Evaluate ``steps`` with the ops' NumPy references, appending to ``values``."""
    for step in steps:
        in_dtypes = [kernel.value_dtype(a) for a in step.args]
        operand = step.op.operand_dtypes(in_dtypes, step.dtype)
        args = [
            np.asarray(a.value if isinstance(a, Literal) else values[a], dtype=d)
            for a, d in zip(step.args, operand)
        ]
        values.append(np.asarray(step.op.impl(*args), dtype=step.dtype))
