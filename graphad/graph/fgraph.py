"""FunctionGraph: a graph with fixed inputs and outputs that passes may edit.

It tracks the clients of every variable (which nodes, or which output slots, read
it), supports ``replace`` and notifies change listeners, so rewrites can edit the
graph in place and keep everything consistent.
"""

from __future__ import annotations

from ..errors import MissingInputError
from .basic import Apply, Variable
from .traversal import clone_get_equiv, toposort

OUTPUT = "output"  # the client "node" of a variable used as a graph output


class Clients:
    """The readers of one variable: ``(node or OUTPUT, input index)`` pairs in the
    order they were added, with constant-time ``append``/``remove`` (a merged constant
    may have thousands of readers, and rewriting must stay linear)."""

    __slots__ = ("_d",)

    def __init__(self, items=()):
        self._d = dict.fromkeys(items)

    def append(self, item):
        self._d[item] = None

    def remove(self, item):
        del self._d[item]

    def clear(self):
        self._d.clear()

    def __iter__(self):
        return iter(self._d)

    def __len__(self):
        return len(self._d)

    def __contains__(self, item):
        return item in self._d

    def __getitem__(self, k):
        return list(self._d)[k]

    def __eq__(self, other):
        return list(self._d) == list(other)

    def __repr__(self):
        return repr(list(self._d))


class FunctionGraph:
    """Inputs, outputs and every Apply between them, with client lists.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> fg = FunctionGraph([x], [ga.exp(x)], clone=False)
    >>> len(fg.apply_nodes), fg.clients[x][0][1]
    (1, 0)
    """

    def __init__(self, inputs, outputs, clone=True):
        inputs, outputs = list(inputs), list(outputs)
        if clone:
            equiv = clone_get_equiv(inputs, outputs, copy_inputs=True)
            inputs = [equiv[v] for v in inputs]
            outputs = [equiv[v] for v in outputs]
        self.inputs = inputs
        self.outputs = []
        self.apply_nodes: set[Apply] = set()
        self.variables: set[Variable] = set()
        self.clients: dict[Variable, Clients] = {}
        self.listeners: list = []
        # shapes of leaf values (shared variables) that rewrites chose a faster form
        # for; the form is right for any shape, only its speed depends on them
        self.assumed_shapes: dict[Variable, tuple] = {}
        for var in inputs:
            self._add_variable(var)
        for i, var in enumerate(outputs):
            self.outputs.append(var)
            self._import_var(var)
            self.clients[var].append((OUTPUT, i))

    # --- building --------------------------------------------------------------
    def _add_variable(self, var):
        if var not in self.variables:
            self.variables.add(var)
            self.clients.setdefault(var, Clients())

    def _import_var(self, var):
        for node in toposort([var], self.variables):
            if node in self.apply_nodes:
                continue
            self.apply_nodes.add(node)
            for i, inp in enumerate(node.inputs):
                self._check_free(inp)
                self._add_variable(inp)
                self.clients[inp].append((node, i))
            for out in node.outputs:
                self._add_variable(out)
            self._notify("on_import", node)
        self._check_free(var)
        self._add_variable(var)

    def _check_free(self, var):
        if var.owner is None and var not in self.variables and not _is_leaf_value(var):
            if var not in self.inputs:
                raise MissingInputError(var)

    # --- editing ---------------------------------------------------------------
    def replace(self, old: Variable, new: Variable, reason: str = "") -> None:
        """Make every client of ``old`` read ``new`` instead; prune what died."""
        _check_replaceable(old, new, reason)
        self._replace(old, new, reason)

    def replace_all(self, pairs, reason: str = "") -> None:
        """``replace`` each (old, new) pair; all pairs are checked before any is made,
        so a bad pair leaves the graph as it was."""
        pairs = list(pairs)
        for old, new in pairs:
            _check_replaceable(old, new, reason)
        for old, new in pairs:
            self._replace(old, new, reason)

    def _replace(self, old, new, reason):
        if old is new:
            return
        self._import_var(new)
        for client, i in list(self.clients.get(old, [])):
            self.change_input(client, i, new, reason)

    def change_input(self, client, i: int, new: Variable, reason: str = "") -> None:
        """Set input ``i`` of ``client`` (an Apply or OUTPUT) to ``new``."""
        if client == OUTPUT:
            old = self.outputs[i]
            self.outputs[i] = new
        else:
            old = client.inputs[i]
            client.inputs[i] = new
        self._import_var(new)
        self.clients[old].remove((client, i))
        self.clients[new].append((client, i))
        self._notify("on_change_input", client, i, old, new, reason)
        self._prune(old)

    def _prune(self, var: Variable) -> None:
        stack = [var]
        while stack:
            v = stack.pop()
            if self.clients.get(v) or v in self.inputs:
                continue
            node = v.owner
            if node is None or node not in self.apply_nodes:
                if v.owner is None and v in self.variables:
                    self.variables.discard(v)
                    self.clients.pop(v, None)
                continue
            if any(self.clients.get(o) for o in node.outputs):
                continue
            self.apply_nodes.discard(node)
            for o in node.outputs:
                self.variables.discard(o)
                self.clients.pop(o, None)
            for i, inp in enumerate(node.inputs):
                self.clients[inp].remove((node, i))
                stack.append(inp)
            self._notify("on_prune", node)

    # --- listeners -------------------------------------------------------------
    def attach_listener(self, listener) -> None:
        """``listener`` may define on_import(fg, node), on_prune(fg, node) and
        on_change_input(fg, client, i, old, new, reason)."""
        self.listeners.append(listener)

    def remove_listener(self, listener) -> None:
        self.listeners.remove(listener)

    def _notify(self, event, *args):
        for listener in self.listeners:
            method = getattr(listener, event, None)
            if method is not None:
                method(self, *args)

    # --- queries ---------------------------------------------------------------
    def toposort(self):
        """The graph's Apply nodes in an order where each follows its inputs."""
        return toposort(self.outputs, self.inputs)

    def clone(self):
        """An independent copy (new variables and nodes, constants shared)."""
        return FunctionGraph(self.inputs, self.outputs, clone=True)

    def __reduce__(self):
        # flat, so pickling a 100,000-node graph does not recurse node by node
        return (_unflatten, (_flatten(self),))

    def __repr__(self) -> str:
        return f"FunctionGraph({self.inputs} -> {self.outputs}, {len(self.apply_nodes)} nodes)"


def _is_leaf_value(var) -> bool:
    """Constants and shared variables need no input slot."""
    from .basic import Constant

    return isinstance(var, Constant) or getattr(var, "is_shared", False)


def _flatten(fgraph):
    """A recursion-free description of ``fgraph`` for pickling.

    Leaves (inputs, constants, shared variables) are stored as objects (they have no
    owner, so pickling them does not recurse); nodes as (op, input refs, output
    descriptions) in topological order.
    """
    refs, leaves, nodes = {}, [], []

    def ref(var):
        if var not in refs:
            refs[var] = ("leaf", len(leaves))
            leaves.append(var)
        return refs[var]

    for var in fgraph.inputs:
        ref(var)
    for node in fgraph.toposort():
        ins = [ref(v) for v in node.inputs]
        outs = [(o.type, o.name, vars(o.tag)) for o in node.outputs]
        for k, o in enumerate(node.outputs):
            refs[o] = ("node", len(nodes), k)
        nodes.append((node.op, ins, outs, node.source, vars(node.tag)))
    return {
        "leaves": leaves,
        "nodes": nodes,
        "inputs": [refs[v] for v in fgraph.inputs],
        "outputs": [ref(v) for v in fgraph.outputs],
    }


def _unflatten(state):
    built = []
    leaves = state["leaves"]

    def get(r):
        return leaves[r[1]] if r[0] == "leaf" else built[r[1]].outputs[r[2]]

    for op, ins, outs, source, tag in state["nodes"]:
        outputs = []
        for typ, name, otag in outs:
            var = typ.make_variable(name)
            var.tag.__dict__.update(otag)
            outputs.append(var)
        node = Apply(op, [get(r) for r in ins], outputs, source)
        node.tag.__dict__.update(tag)
        built.append(node)
    return FunctionGraph(
        [get(r) for r in state["inputs"]], [get(r) for r in state["outputs"]], clone=False
    )


def _check_replaceable(old, new, reason):
    if old is new or old.type == new.type:
        return
    check = getattr(old.type, "is_compatible", None)
    if not (check and check(new.type)):
        raise TypeError(
            f"replace: {old!r} and {new!r} have different types ({reason or 'no reason'})"
        )
