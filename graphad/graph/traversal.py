"""Graph walks: toposort, ancestors, clone and clone_replace.

All of them are iterative (explicit stacks), so a chain of 100,000 nodes never meets
Python's recursion limit.
"""

from __future__ import annotations

from .basic import Apply, Variable, inputs_first


def ancestors(outputs, blockers=()):
    """Every variable the ``outputs`` depend on, stopping at ``blockers``.

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> x in ancestors([x + 1])
    True
    """
    blocked = set(blockers)
    seen = set()
    order = []
    stack = list(reversed(list(outputs)))
    while stack:
        var = stack.pop()
        if var in seen:
            continue
        seen.add(var)
        order.append(var)
        if var.owner is not None and var not in blocked:
            stack.extend(reversed(var.owner.inputs))
    return order


def graph_inputs(outputs, blockers=()):
    """The variables without owner (or in ``blockers``) that ``outputs`` depend on."""
    blocked = set(blockers)
    return [v for v in ancestors(outputs, blocked) if v.owner is None or v in blocked]


def toposort(outputs, inputs=()):
    """The Apply nodes between ``inputs`` and ``outputs``, each after its inputs' owners.

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> [str(n.op) for n in toposort([ga.exp(x + 1)])]
    ['Elemwise{add}', 'Elemwise{exp}']
    """
    stop = inputs if isinstance(inputs, (set, frozenset, dict)) else set(inputs)
    return inputs_first(outputs, stop)


def clone_get_equiv(inputs, outputs, copy_inputs=True, memo=None):
    """Copy the graph from ``inputs`` to ``outputs``; return the old→new mapping.

    Constants are kept (shared between copies); inputs are copied when
    ``copy_inputs``. Entries already in ``memo`` are used as given (that is how
    ``clone_replace`` substitutes).
    """
    equiv = dict(memo or {})
    for var in inputs:
        if var not in equiv:
            equiv[var] = var.clone() if copy_inputs else var
    for node in toposort(outputs, [v for v in equiv]):
        new_inputs = []
        for inp in node.inputs:
            if inp not in equiv:
                equiv[inp] = inp if inp.owner is None and not copy_inputs else _clone_leaf(inp)
            new_inputs.append(equiv[inp])
        strict = all(a.type == b.type for a, b in zip(new_inputs, node.inputs))
        new_node = node.clone_with_new_inputs(new_inputs, strict=strict)
        equiv[node] = new_node
        for old, new in zip(node.outputs, new_node.outputs):
            equiv.setdefault(old, new)
    for var in outputs:
        if var not in equiv:
            equiv[var] = var if var.owner is None and not copy_inputs else _clone_leaf(var)
    return equiv


def _clone_leaf(var: Variable) -> Variable:
    from .basic import Constant

    if isinstance(var, Constant) or getattr(var, "is_shared", False):
        return var
    return var.clone()


def clone(inputs, outputs, copy_inputs=True):
    """Copies of ``inputs`` and ``outputs`` over a fresh copy of the graph between them."""
    equiv = clone_get_equiv(inputs, outputs, copy_inputs)
    return [equiv[v] for v in inputs], [equiv[v] for v in outputs]


def clone_replace(outputs, replace=None):
    """Copies of ``outputs`` where each key of ``replace`` is replaced by its value.

    >>> import graphad as ga
    >>> x, y = ga.scalar("x"), ga.scalar("y")
    >>> out = clone_replace([x * 2], {x: y})[0]
    >>> out.owner.inputs[0] is y
    True
    """
    replace = dict(replace or {})
    single = isinstance(outputs, Variable)
    outs = [outputs] if single else list(outputs)
    for old, new in replace.items():
        if old.type != new.type and not _compatible(old, new):
            raise TypeError(f"cannot replace {old!r} by {new!r}: types differ")
    equiv = clone_get_equiv([], outs, copy_inputs=False, memo=replace)
    result = [equiv[v] for v in outs]
    return result[0] if single else result


def _compatible(old, new) -> bool:
    check = getattr(old.type, "is_compatible", None)
    return bool(check and check(new.type))


def io_toposort(inputs, outputs):
    """Alias of ``toposort(outputs, inputs)`` in the argument order of Theano."""
    return toposort(outputs, inputs)


def applys_between(inputs, outputs):
    """The set of Apply nodes on some path from ``inputs`` to ``outputs``."""
    return set(toposort(outputs, inputs))


__all__ = [
    "Apply",
    "ancestors",
    "applys_between",
    "clone",
    "clone_get_equiv",
    "clone_replace",
    "graph_inputs",
    "io_toposort",
    "toposort",
]
