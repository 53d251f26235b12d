"""Map: one inner graph applied to every row of a sequence, looping at run time.

``Map`` is how graphad builds per-row computations (the rows of a Jacobian) without a
Python loop at graph-build time: the graph has one node whatever the number of rows.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphadTypeError
from ..graph.basic import Apply, Constant
from ..graph.fgraph import FunctionGraph
from ..graph.op import Op
from ..graph.traversal import clone_replace, graph_inputs
from .type import TensorType
from .variable import as_tensor_variable


class Map(Op):
    """``out[i] = inner(seq[i], *others)``; ``inner`` is a FunctionGraph whose inputs
    are the row variable followed by the other (non-sequence) inputs."""

    fusion_kind = "opaque"

    def __init__(self, inner: FunctionGraph):
        self.inner = inner
        self._vm = None

    # an inner graph has no value equality: two Maps are equal only if identical
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __str__(self):
        return f"Map{{{len(self.inner.apply_nodes)} inner nodes}}"

    def make_node(self, seq, *others):
        seq = as_tensor_variable(seq)
        row, *inner_others = self.inner.inputs
        if seq.ndim != row.ndim + 1 or seq.dtype != row.dtype:
            raise GraphadTypeError(
                f"Map: the sequence {seq} ({seq.type}) must be rows of {row.type}"
            )
        out = self.inner.outputs[0]
        shape = (seq.type.shape[0],) + out.type.shape
        return Apply(self, [seq, *others], [TensorType(out.dtype, shape).make_variable()])

    def _inner_vm(self):
        if self._vm is None:
            from ..backend.numpy import make_thunk
            from ..compile.vm import VM

            self._vm = VM(self.inner, make_thunk)
        return self._vm

    def _run(self, vm, row, others):
        storage = vm.new_storage()
        for var, value in zip(self.inner.inputs, (row, *others)):
            storage[vm.slot[var]] = value
        vm.run(storage)
        return storage[vm.slot[self.inner.outputs[0]]]

    def perform(self, node, inputs, outputs):
        seq, *others = inputs
        vm = self._inner_vm()
        dtype = node.outputs[0].dtype
        if len(seq) == 0:
            # no rows: run once on a zero row, only to learn the row shape
            probe = self._run(vm, np.zeros(seq.shape[1:], seq.dtype), others)
            outputs[0][0] = np.empty((0,) + np.shape(probe), dtype=dtype)
            return
        first = np.asarray(self._run(vm, seq[0], others))
        result = np.empty((len(seq),) + first.shape, dtype=dtype)
        result[0] = first
        for i in range(1, len(seq)):
            result[i] = self._run(vm, seq[i], others)
        outputs[0][0] = result

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError(
            "differentiating a Map (e.g. the Jacobian itself) is not supported yet; "
            "take the derivative before building the Jacobian"
        )

    def __getstate__(self):
        return {"inner": self.inner, "_vm": None}


def map_rows(row, out, seq):
    """``out`` (an expression of the variable ``row``) evaluated for every row of ``seq``,
    stacked along a new leading axis. Other free variables of ``out`` become inputs."""
    others = [v for v in graph_inputs([out]) if v is not row and not isinstance(v, Constant)]
    stand_ins = [v.type.make_variable(v.name) for v in others]
    inner_out = clone_replace(out, dict(zip(others, stand_ins)))
    inner = FunctionGraph([row, *stand_ins], [inner_out], clone=True)
    return Map(inner)(seq, *others)
