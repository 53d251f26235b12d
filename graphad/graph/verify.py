"""lint(): checks that a FunctionGraph is well formed, and says how to fix it if not.

Run after every pass in tests and in DEBUG mode. It checks that the nodes can be put in
topological order, that client lists match the nodes' inputs, that every free
variable is an input, a constant or a shared variable, and that each node's output
types are what its op's ``make_node`` gives for its inputs.
"""

from __future__ import annotations

from ..errors import GraphadError
from .basic import format_source
from .fgraph import OUTPUT, _is_leaf_value


class LintError(GraphadError, AssertionError):
    """The graph is malformed; the message names the node and the fix."""


def lint(fgraph, check_types=True) -> None:
    """Raise LintError naming the first inconsistency found in ``fgraph``.

    >>> import graphad as ga
    >>> from graphad.graph.fgraph import FunctionGraph
    >>> x = ga.vector("x")
    >>> lint(FunctionGraph([x], [x * 2]))
    """
    order = fgraph.toposort()
    if set(order) != fgraph.apply_nodes:
        extra = fgraph.apply_nodes - set(order)
        raise LintError(
            f"{len(extra)} node(s) are tracked but not reachable from the outputs "
            f"(e.g. {next(iter(extra), None)}); prune them with FunctionGraph.replace"
        )
    position = {node: i for i, node in enumerate(order)}
    # sets, so a variable read by 100,000 nodes (a shared weight) is checked in linear time
    client_sets = {var: set(clients) for var, clients in fgraph.clients.items()}
    for node in order:
        for i, inp in enumerate(node.inputs):
            where = f"input {i} of {node.op} (built at {format_source(node.source)})"
            if inp.owner is None:
                if inp not in fgraph.inputs and not _is_leaf_value(inp):
                    raise LintError(f"{where} is a free variable {inp!r} that is not an input")
            elif position.get(inp.owner, len(order)) >= position[node]:
                raise LintError(f"{where} is computed after the node reading it (a cycle?)")
            if (node, i) not in client_sets.get(inp, ()):
                raise LintError(f"{where} is missing from the client list of {inp!r}")
        if check_types:
            _check_node_types(node)
    for i, out in enumerate(fgraph.outputs):
        if (OUTPUT, i) not in client_sets.get(out, ()):
            raise LintError(f"output {i} ({out!r}) is missing its output client entry")
    for var, clients in fgraph.clients.items():
        for client, i in clients:
            source = fgraph.outputs[i] if client == OUTPUT else client.inputs[i]
            if source is not var:
                raise LintError(f"stale client entry: {client} input {i} no longer reads {var!r}")


def _check_node_types(node) -> None:
    try:
        fresh = node.op.make_node(*node.inputs)
    except Exception as exc:  # a node its own op would refuse is malformed
        raise LintError(
            f"{node.op} at {format_source(node.source)} rejects its inputs: {exc}"
        ) from None
    for old, new in zip(node.outputs, fresh.outputs):
        # a rewrite may make an input's static shape more precise than when the node
        # was built: the recorded type only has to admit what make_node now gives
        compatible = getattr(old.type, "is_compatible", None)
        if old.type != new.type and not (compatible and compatible(new.type)):
            raise LintError(
                f"{node.op} at {format_source(node.source)}: output type {old.type} does not "
                f"match what make_node gives ({new.type}); rebuild the node with make_node"
            )
