"""Fusion: groups of elementwise nodes become one Fused kernel node.

Nodes are grouped by their declared fusion kind ("elemwise"): walking from the
outputs back, a node joins the group of its consumer when every reader of its
result is in that group (so the result never needs to exist as an array) and it has
the consumer's rank and broadcast pattern (a bias vector's ``exp`` is not recomputed
for every row). An intermediate read twice inside one group is computed once.
0-d constants are inlined as literals. Fusion never crosses an op of another kind
(GEMM, indexing, reductions), and an op without a C expression for its dtypes stays
on its own, run by NumPy.

    tanh(x * y + z) * exp(-x * x)   ⇒   Fused{mul,add,tanh,mul,neg,exp,mul}(x, y, z)
"""

from __future__ import annotations

import time

from ..graph.basic import Constant
from ..kernel.fused import Fused
from ..kernel.ir import Kernel, KInput, Literal, ScalarStep
from ..tensor.scalar_ops import C_TYPES

# Steps per kernel: beyond this a chain is cut into several kernels, so the C
# compiler's time stays proportional to the graph (one huge function compiles
# superlinearly) while loops stay long enough to amortize reading the inputs.
MAX_STEPS = 64


def fusible(node) -> bool:
    """An elementwise node whose scalar op has C code for the dtypes it computes in."""
    if getattr(node.op, "fusion_kind", None) != "elemwise" or len(node.outputs) != 1:
        return False
    scalar = getattr(node.op, "scalar_op", None)
    if scalar is None:
        return False
    out = node.outputs[0].dtype
    ins = [v.dtype for v in node.inputs]
    operands = scalar.operand_dtypes(ins, out)
    if not all(d in C_TYPES for d in [out, *ins, *operands]):
        return False  # float16, complex: the NumPy reference runs them
    try:
        return scalar.c_code([f"a{i}" for i in range(len(operands))], operands[-1]) is not None
    except (KeyError, TypeError):
        return False


def _same_pattern(var, root) -> bool:
    a, b = var.type.shape, root.type.shape
    return len(a) == len(b) and all((x == 1) == (y == 1) for x, y in zip(a, b))


def fusion_groups(fgraph):
    """Lists of nodes (each in topological order), one per kernel to build."""
    group_of = {}  # node -> index into groups
    groups = []
    for node in reversed(fgraph.toposort()):
        if not fusible(node):
            continue
        out = node.outputs[0]
        readers = fgraph.clients[out]
        target = None
        if readers and all(c != "output" for c, _ in readers):
            found = {group_of.get(c) for c, _ in readers}
            if len(found) == 1 and None not in found:
                target = found.pop()
                group = groups[target]
                if not _same_pattern(out, group[0].outputs[0]) or len(group) >= MAX_STEPS:
                    target = None
        if target is None:
            target = len(groups)
            groups.append([])
        groups[target].append(node)
        group_of[node] = target
    return [list(reversed(g)) for g in groups]


def build_kernel(group):
    """(Kernel, input variables) for a group of nodes in topological order; the last
    node is the root."""
    inputs, refs, steps = [], {}, []
    n_in = 0
    members = {n.outputs[0] for n in group}
    # inputs first: values are numbered inputs, then steps
    for node in group:
        for v in node.inputs:
            if v in members or v in refs or _literal(v) is not None:
                continue
            refs[v] = n_in
            inputs.append(v)
            n_in += 1
    for node in group:
        args = tuple(refs[v] if v in refs else _literal(v) for v in node.inputs)
        steps.append(ScalarStep(node.op.scalar_op, args, node.outputs[0].dtype))
        refs[node.outputs[0]] = n_in + len(steps) - 1
    kernel = Kernel(
        tuple(KInput(v.dtype) for v in inputs), tuple(steps), (refs[group[-1].outputs[0]],)
    )
    return kernel, inputs


def _literal(var):
    if isinstance(var, Constant) and getattr(var, "ndim", None) == 0:
        return Literal(var.data.item(), var.dtype)
    return None


class FusionPass:
    """Replace each fusion group by a Fused node (single nodes too, so the backend
    compiles every elementwise op the same way)."""

    name = "fusion"

    def __init__(self, name="fusion"):
        self.name = name

    def run(self, fgraph, record, strict=False):
        start = time.perf_counter()
        for group in fusion_groups(fgraph):
            kernel, inputs = build_kernel(group)
            if not inputs:  # nothing but literals: fold's business, not a kernel's
                continue
            root = group[-1]
            node = Fused(kernel, [n.source for n in group]).make_node(*inputs)
            node.source = root.source
            if getattr(root.tag, "grad", None):
                node.tag.grad = True
            fgraph.replace(root.outputs[0], node.outputs[0], reason="fusion")
            record.fire(self.name, "fuse_elemwise" if len(group) > 1 else "kernel_of_one")
        record.pass_times[self.name] = record.pass_times.get(self.name, 0.0) + (
            time.perf_counter() - start
        )
