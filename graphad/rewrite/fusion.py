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

from ..kernel.fused import Fused
from ..kernel.lower import build_kernel
from ..tensor.scalar_base import C_TYPES

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


def reduction(node):
    """The KReduce of a reduction a kernel can end with, else None."""
    if getattr(node.op, "fusion_kind", None) != "reduce":
        return None
    describe = getattr(node.op, "kernel_reduce", None)
    red = describe(node) if describe is not None else None
    if red is None or node.inputs[0].dtype not in C_TYPES or red.dtype not in C_TYPES:
        return None
    return red


def _same_pattern(var, root) -> bool:
    a, b = var.type.shape, root.type.shape
    return len(a) == len(b) and all((x == 1) == (y == 1) for x, y in zip(a, b))


def fusion_groups(fgraph):
    """(nodes, exported) per kernel to build: the nodes in topological order, the last
    one the root (an elementwise node, or a reduction fed by the rest), and the nodes
    whose results are also read outside the kernel (extra outputs, computed once)."""
    order = fgraph.toposort()
    position = {node: i for i, node in enumerate(order)}
    group_of = {}  # node -> index into groups
    groups, shape_of, exported = [], [], []
    for node in reversed(order):
        is_reduce = reduction(node) is not None
        if not (is_reduce or fusible(node)):
            continue
        out = node.outputs[0]
        target, export = None, False
        if not is_reduce:
            target, export = _join(node, fgraph.clients[out], group_of, groups, position)
        if target is not None:
            full = len(groups[target]) >= MAX_STEPS
            if full or not _same_pattern(out, shape_of[target]):
                target, export = None, False
        if target is None:
            target = len(groups)
            groups.append([])
            shape_of.append(node.inputs[0] if is_reduce else out)
            exported.append([])
        groups[target].append(node)
        if export:
            exported[target].append(node)
        group_of[node] = target
    return [(list(reversed(g)), e) for g, e in zip(groups, exported)]


def _join(node, readers, group_of, groups, position):
    """(group, exported) that ``node`` can join: the one group reading it; exported
    when something else reads it too. An exported node's other readers must come
    after the group's root, or the kernel would feed itself."""
    found = {group_of.get(c) for c, _ in readers if c != "output"}
    found.discard(None)
    if len(found) != 1:
        return None, False
    target = found.pop()
    others = [c for c, _ in readers if c == "output" or group_of.get(c) != target]
    if not others:
        return target, False
    root = groups[target][0]
    if reduction(root) is not None:
        return None, False  # a reduction kernel has one output: the reduced value
    if all(c == "output" or position[c] > position[root] for c in others):
        return target, True
    return None, False


class FusionPass:
    """Replace each fusion group by a Fused node (single nodes too, so the backend
    compiles every elementwise op the same way)."""

    name = "fusion"

    def __init__(self, name="fusion"):
        self.name = name

    def run(self, fgraph, record, strict=False):
        start = time.perf_counter()
        for group, exported in fusion_groups(fgraph):
            kernel, inputs = build_kernel(group, exported)
            if not inputs:  # nothing but literals: fold's business, not a kernel's
                continue
            root = group[-1]
            node = Fused(kernel, [n.source for n in group]).make_node(*inputs)
            node.source = root.source
            if getattr(root.tag, "grad", None):
                node.tag.grad = True
            pairs = zip([root, *exported], node.outputs)
            fgraph.replace_all([(n.outputs[0], out) for n, out in pairs], reason="fusion")
            record.fire(self.name, "fuse_elemwise" if len(group) > 1 else "kernel_of_one")
        record.pass_times[self.name] = record.pass_times.get(self.name, 0.0) + (
            time.perf_counter() - start
        )
