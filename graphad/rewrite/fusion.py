"""Fusion: groups of elementwise nodes become one Fused kernel node.

Nodes are grouped by their declared fusion kind ("elemwise"): walking from the
outputs back, a node joins the group of its consumer when every reader of its
result is in that group (so the result never needs to exist as an array) and it has
the consumer's rank and broadcast pattern (a bias vector's ``exp`` is not recomputed
for every row). An intermediate read twice inside one group is computed once.
0-d constants are inlined as literals. A reduction ends a kernel (its feeders are the
prologue, the elementwise work on its result the epilogue); a prologue value that later
kernels read too is written by the reduction kernel as an extra full-shape output, so
``e / e.sum(axis=1, keepdims=True)`` computes ``e`` once, in the reduction's pass.
Fusion never crosses an op of another kind (GEMM, indexing), and an op without a C
expression for its dtypes stays on its own, run by NumPy.

    tanh(x * y + z) * exp(-x * x)   ⇒   Fused{mul,add,tanh,mul,neg,exp,mul}(x, y, z)
"""

from __future__ import annotations

import heapq

from ..graph.basic import format_source
from ..kernel.fused import Fused
from ..kernel.lower import build_kernel
from ..tensor import scalar_ops as so
from ..tensor.scalar_base import C_TYPES
from .engine import report_failure

# Steps per kernel: beyond this a chain is cut into several kernels, so the C
# compiler's time stays proportional to the graph (one huge function compiles
# superlinearly) while loops stay long enough to amortize reading the inputs.
MAX_STEPS = 64

# Arithmetic a reader recomputes rather than read from memory: a few adds, compares or
# selects per element cost less than storing the value and loading it again.
CHEAP_OPS = (
    so.Add, so.Sub, so.Mul, so.Neg, so.Abs, so.Sqr, so.Sign, so.Maximum, so.Minimum,
    so.Switch, so.Cast, so.Relu, so.Clip, so._Predicate,
)  # fmt: skip
RECOMPUTE_STEPS = 4  # the most cheap steps behind a value that each reader repeats


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
    form the reduction's prologue: inside the kernel only prologue nodes read them
    (an exported one is also read by later kernels, at the full shape). ``pattern`` is
    the variable whose broadcast pattern the next joiner needs.
    """

    def __init__(self, node, pattern, is_reduce):
        self.nodes = [node]
        self.roots = [node]  # several after a merge of groups reading one value
        self.merged = False  # merged into another group
        self.pattern = pattern
        self.exported = []
        self.reduce = node if is_reduce else None
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
    order, reducing = _order(fgraph)
    position = {node: i for i, node in enumerate(order)}
    group_of = {}  # node -> Group
    groups = []
    for node in reversed(order):
        is_reduce = node in reducing
        if not (is_reduce or fusible(node)):
            continue
        out = node.outputs[0]
        readers = fgraph.clients[out]
        if not is_reduce:
            _merge_readers(fgraph, node, readers, group_of, position)
        target, export = _join(is_reduce, readers, group_of, position)
        if target is not None:
            full = len(target.nodes) >= MAX_STEPS
            if full or not _same_pattern(out, target.pattern):
                target = None
        if target is None:
            target = Group(node, node.inputs[0] if is_reduce else out, is_reduce)
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


def _join(is_reduce, readers, group_of, position):
    """(group, exported) that the node ``readers`` read can join, or (None, False): a
    group reading it, the earliest that can take it. Exported when something else reads
    it too; an exported node's other readers must come after the group's root, or the
    kernel would feed itself."""
    found = {group_of.get(c) for c, _ in readers if c != "output"}
    found.discard(None)
    for target in sorted(found, key=lambda g: max(position[r] for r in g.roots)):
        export = _joins(is_reduce, target, readers, group_of, position)
        if export is not None:
            return target, export
    return None, False


def _joins(is_reduce, target, readers, group_of, position):
    """None if the node that ``readers`` read cannot join ``target``, else whether it
    would be exported."""
    inside = [c for c, _ in readers if c != "output" and group_of.get(c) is target]
    others = [c for c, _ in readers if c == "output" or group_of.get(c) is not target]
    if is_reduce:  # a reduction may feed an elementwise epilogue with one result
        ok = not others and target.reduce is None and not target.exported
        return False if ok and len(target.roots) == 1 else None
    if target.reduce is not None and not all(c in target.prologue for c in inside):
        return None  # the epilogue works at the reduced shape
    if not others:
        return False
    last = max(position[r] for r in target.roots)
    if all(c == "output" or position[c] > last for c in others):
        return True
    return None


def _order(fgraph):
    """(order, reductions): a topological order of ``fgraph``'s nodes in which the work
    that feeds a reduction, and the reduction, come as early as their inputs allow
    (earlier reductions first), and other work after: then the other readers of a
    prologue's values come after the reduction, and its kernel can write those values
    for them. ``reductions`` are the nodes a kernel can end with."""
    base = fgraph.toposort()
    reductions = {n for n in base if reduction(n) is not None}
    readers = {
        n: {c for out in n.outputs for c, _ in fgraph.clients[out] if c != "output"} for n in base
    }
    feeds = {}  # node -> position of the first reduction it feeds (itself included)
    for i in range(len(base) - 1, -1, -1):
        n = base[i]
        own = i if n in reductions else len(base)
        feeds[n] = min([own, *(feeds[c] for c in readers[n])])
    key = {n: (feeds[n], i) for i, n in enumerate(base)}  # unique per node
    waiting = {n: len({v.owner for v in n.inputs if v.owner in key}) for n in base}
    ready = [(key[n], n) for n in base if not waiting[n]]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)[1]
        order.append(node)
        for c in readers[node]:
            waiting[c] -= 1
            if not waiting[c]:
                heapq.heappush(ready, (key[c], c))
    return order, reductions


def recompute_cheap(fgraph) -> int:
    """Give each reader of a cheap value its own copy when a reader feeds a reduction,
    so the value fuses into every kernel that needs it instead of being written by the
    reduction's kernel and read back: ``d = x - max(x)`` read by ``sum(exp(d))`` and by
    the gradient. Cheap: at most RECOMPUTE_STEPS steps of CHEAP_OPS. Returns the copies
    made."""
    order = fgraph.toposort()

    def readers(node):
        found = []
        for c, _ in fgraph.clients[node.outputs[0]]:
            if c != "output" and c not in found:
                found.append(c)
        return found

    feeds = set()  # nodes whose result reaches a reduction through elementwise work
    for node in reversed(order):
        if reduction(node) is not None or (fusible(node) and feeds.intersection(readers(node))):
            feeds.add(node)
    cost = {}
    for node in order:
        if fusible(node) and isinstance(node.op.scalar_op, CHEAP_OPS):
            cost[node] = 1 + sum(cost.get(v.owner, 0) for v in node.inputs)
    copies = 0
    for node in reversed(order):
        if cost.get(node, RECOMPUTE_STEPS + 1) > RECOMPUTE_STEPS:
            continue
        users = readers(node)
        if len(users) < 2 or not feeds.intersection(users):
            continue
        out = node.outputs[0]
        for user in users[1:]:
            copy = node.op.make_node(*node.inputs)
            copy.source = node.source
            copy.tag.__dict__.update(node.tag.__dict__)
            for i, v in enumerate(user.inputs):
                if v is out:
                    fgraph.change_input(user, i, copy.outputs[0], reason="recompute")
            if user in feeds:
                feeds.add(copy)
            copies += 1
    return copies


class FusionPass:
    """Replace each fusion group by a Fused node (single nodes too, so the backend
    compiles every elementwise op the same way)."""

    name = "fusion"

    def __init__(self, name="fusion"):
        self.name = name

    def run(self, fgraph, record, strict=False):
        for _ in range(recompute_cheap(fgraph)):
            record.fire(self.name, "recompute_cheap")
        for g in fusion_groups(fgraph):
            try:
                fired = self._fuse(fgraph, g)
            except Exception as exc:
                # a failing group stays unfused (its nodes run one by one): slower,
                # never wrong; tests and DEBUG re-raise
                msg = (
                    f"fusion of {', '.join(str(n.op) for n in g.nodes)} (built at "
                    f"{format_source(g.nodes[-1].source)}) failed: {exc}"
                )
                outcome = "those nodes run unfused"
                report_failure(record, strict, exc, msg, outcome, self.name, "fuse_elemwise")
                continue
            if fired:
                record.fire(self.name, fired)

    def _fuse(self, fgraph, g):
        """Replace group ``g`` by one Fused node; the rule that fired, or None."""
        group, exported = g.nodes, g.exported
        kernel, inputs = build_kernel(group, exported, g.reduce, g.epilogue or ())
        if not inputs:  # nothing but literals: fold's business, not a kernel's
            return None
        root = group[-1]
        epilogue = list(g.epilogue or ())
        body = [n for n in group if n is not g.reduce and n not in epilogue]
        computed = body + ([g.reduce] if g.reduce is not None else []) + epilogue
        node = Fused(kernel, [n.source for n in computed]).make_node(*inputs)
        node.source = root.source
        if getattr(root.tag, "grad", None):
            node.tag.grad = True
        pairs = zip([root, *exported], node.outputs)
        fgraph.replace_all([(n.outputs[0], out) for n, out in pairs], reason="fusion")
        return "fuse_elemwise" if len(group) > 1 else "kernel_of_one"
