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


class Group:
    """The nodes of one kernel-to-be, collected from its root backwards.

    ``nodes`` are in reverse topological order while collecting. Before a reduction
    joins, joiners form the epilogue (or the whole kernel, without one); after, they
    form the reduction's prologue and must be read only by it and other prologue
    nodes. ``pattern`` is the variable whose broadcast pattern the next joiner needs.
    """

    def __init__(self, node, pattern):
        self.nodes = [node]
        self.roots = [node]  # several after a merge of groups reading one value
        self.merged = False  # merged into another group
        self.pattern = pattern
        self.exported = []
        self.reduce = node if reduction(node) is not None else None
        self.prologue = {node} if self.reduce is not None else set()
        self.epilogue = [] if self.reduce is not None else None

    def add(self, node, export=False):
        self.nodes.append(node)
        if export:
            self.exported.append(node)
        if self.reduce is not None:
            self.prologue.add(node)

    def add_reduction(self, node):
        """A reduction feeding this (elementwise) group: what came before is its
        epilogue, what comes next its prologue."""
        self.epilogue = list(reversed(self.nodes))
        self.nodes.append(node)
        self.reduce, self.prologue, self.pattern = node, {node}, node.inputs[0]


def fusion_groups(fgraph):
    """The Groups of ``fgraph``, each with ``nodes`` in topological order (the last one
    the root), ``exported`` nodes (extra outputs, computed once), and, for a kernel
    ending in a reduction, ``reduce`` and its ``epilogue`` nodes."""
    order = fgraph.toposort()
    position = {node: i for i, node in enumerate(order)}
    group_of = {}  # node -> Group
    groups = []
    for node in reversed(order):
        is_reduce = reduction(node) is not None
        if not (is_reduce or fusible(node)):
            continue
        out = node.outputs[0]
        readers = fgraph.clients[out]
        if not is_reduce:
            _merge_readers(fgraph, node, readers, group_of, position)
        target, export = _join(node, readers, group_of, position)
        if target is not None:
            full = len(target.nodes) >= MAX_STEPS
            if full or not _same_pattern(out, target.pattern):
                target = None
        if target is None:
            target = Group(node, node.inputs[0] if is_reduce else out)
            groups.append(target)
        elif is_reduce:
            target.add_reduction(node)
        else:
            target.add(node, export)
        group_of[node] = target
    groups = [g for g in groups if not g.merged]
    for g in groups:
        g.nodes.sort(key=position.__getitem__)
        last = g.nodes[-1]
        inside = set(g.nodes)
        for r in g.roots:  # a root read outside the kernel is one of its outputs
            if r is not last and any(
                c == "output" or c not in inside for c, _ in fgraph.clients[r.outputs[0]]
            ):
                g.exported.append(r)
    return groups


def _merge_readers(fgraph, node, readers, group_of, position):
    """Make the elementwise groups that all read ``node`` one kernel with several
    outputs, so ``node`` is computed once and its result never stored: exp(x) read by
    sin and by cos ⇒ one kernel writing sin(exp(x)) and cos(exp(x)).

    Safe when nothing outside the groups reads their values before the last of
    their nodes runs: then no group waits on another through an outside node."""
    found = {group_of.get(c) for c, _ in readers if c != "output"}
    found.discard(None)
    if len(found) < 2:
        return
    groups = sorted(found, key=lambda g: position[g.roots[0]])
    out = node.outputs[0]
    if any(g.reduce is not None or not _same_pattern(out, g.pattern) for g in groups):
        return
    if sum(len(g.nodes) for g in groups) >= MAX_STEPS:
        return
    members = {n for g in groups for n in g.nodes}
    last = max(position[n] for n in members)
    for n in members:
        for c, _ in fgraph.clients[n.outputs[0]]:
            if c != "output" and c not in members and position[c] <= last:
                return
    keep = groups[0]
    for g in groups[1:]:
        keep.nodes += g.nodes
        keep.roots += g.roots
        keep.exported += g.exported
        g.merged = True
        for n in g.nodes:
            group_of[n] = keep


def _join(node, readers, group_of, position):
    """(group, exported) that ``node`` can join, or (None, False): the one group
    reading it. Exported when something else reads it too; an exported node's other
    readers must come after the group's root, or the kernel would feed itself."""
    found = {group_of.get(c) for c, _ in readers if c != "output"}
    found.discard(None)
    if len(found) != 1:
        return None, False
    target = found.pop()
    others = [c for c, _ in readers if c == "output" or group_of.get(c) is not target]
    if reduction(node) is not None:  # a reduction may feed an elementwise epilogue
        ok = not others and target.reduce is None and not target.exported
        return (target, False) if ok else (None, False)
    if target.reduce is not None:  # a prologue node is read by the prologue only
        inside = not others and all(c in target.prologue for c, _ in readers)
        return (target, False) if inside else (None, False)
    if not others:
        return target, False
    last = max(position[r] for r in target.roots)
    if all(c == "output" or position[c] > last for c in others):
        return target, True
    return None, False


class FusionPass:
    """Replace each fusion group by a Fused node (single nodes too, so the backend
    compiles every elementwise op the same way)."""

    name = "fusion"

    def __init__(self, name="fusion"):
        self.name = name

    def run(self, fgraph, record, strict=False):
        for g in fusion_groups(fgraph):
            group, exported = g.nodes, g.exported
            kernel, inputs = build_kernel(group, exported, g.reduce, g.epilogue or ())
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
