"""Reverse mode: ``grad`` builds the gradient as a new symbolic subgraph.

One sweep over the nodes between ``wrt`` and the cost, in reverse topological order:
each node's ``L_op`` turns its output gradients into input gradients, and the
contributions to a variable are summed once all its clients are done. Shared
subexpressions are differentiated once. Every node the sweep creates carries the tag
``grad`` so dumps can show it.
"""

from __future__ import annotations

import warnings

from ..errors import (
    DisconnectedInputError,
    GraphadTypeError,
    GraphadValueError,
    NonDifferentiableError,
    describe,
)
from ..graph.basic import Variable
from ..graph.traversal import ancestors, toposort
from ..tensor.type import FLOAT_DTYPES


def grad(cost, wrt, consider_constant=None, known_grads=None, disconnected_inputs="raise"):
    """The gradient of scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    >>> import graphad as ga
    >>> x = ga.scalar("x")
    >>> g = ga.grad(x ** 3, x)
    >>> float(g.eval({x: 2.0}))
    12.0
    """
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise GraphadValueError(
            f"disconnected_inputs must be 'raise', 'warn' or 'ignore', not {disconnected_inputs!r}"
        )
    single = isinstance(wrt, Variable)
    wrt_list = [wrt] if single else list(wrt)
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise GraphadTypeError(f"grad: wrt entry {i} is {w!r}, not a graphad variable")
    seeds = _seeds(cost, known_grads)
    seeds = _stable_seeds(seeds, cost is not None, wrt_list, consider_constant or ())
    grads = backprop(seeds, wrt_list, consider_constant or ())
    result = []
    for w in wrt_list:
        g = grads.get(w)
        if w.dtype not in FLOAT_DTYPES and not w.dtype.startswith("complex"):
            if disconnected_inputs != "ignore":
                raise NonDifferentiableError(
                    f"grad: {describe(w)} has dtype {w.dtype}; integer and boolean variables "
                    "have no gradient (pass disconnected_inputs='ignore' to get zeros)"
                )
            result.append(_zeros(w, "float64"))
            continue
        if g is None:
            msg = (
                f"grad: the cost does not depend on {describe(w)}; pass "
                "disconnected_inputs='ignore' (zeros) or 'warn'"
            )
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            g = _zeros(w, w.dtype)
        result.append(_cast(g, w.dtype))
    _tag_grad_nodes(result, [v for v, _ in seeds])
    return result[0] if single else result


def _seeds(cost, known_grads):
    from ..tensor.shape import ones_like
    from ..tensor.variable import as_tensor_variable

    seeds = []
    if cost is not None:
        cost = as_tensor_variable(cost)
        if cost.ndim != 0:
            raise GraphadTypeError(
                f"grad: the cost must be a scalar, but {describe(cost)} has {cost.ndim} "
                "dimension(s); reduce it first (e.g. cost.sum() or cost.mean())"
            )
        if cost.dtype not in FLOAT_DTYPES:
            raise NonDifferentiableError(f"grad: the cost {describe(cost)} is not a float")
        seeds.append((cost, ones_like(cost)))
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise GraphadTypeError(
                f"grad: known_grads for {describe(var)} has {g.ndim} dims, expected {var.ndim}"
            )
        seeds.append((var, g))
    if not seeds:
        raise GraphadValueError("grad: give a cost or known_grads (or both)")
    return seeds


def _stable_seeds(seeds, has_cost, wrt, consider_constant):
    """The seeds' variables rebuilt by the stabilize rules (log(softmax) → log_softmax,
    ...), so the gradient is taken of the stable form: its values and its gradients
    stay finite where the written form overflows. ``wrt``, ``consider_constant`` and
    the known_grads variables stay the user's own variables."""
    from ..rewrite.stabilize import stabilized

    keep = list(wrt) + list(consider_constant)
    known = [v for v, _ in (seeds[1:] if has_cost else seeds)]
    result = []
    for k, (var, g) in enumerate(seeds):
        (new,) = stabilized([var], keep + known if has_cost and k == 0 else keep)
        result.append((new, g))
    return result


def backprop(seeds, wrt, consider_constant=()):
    """Sum-of-contributions gradients of every variable between ``wrt`` and the seeds.

    ``seeds`` is a list of (variable, its gradient). Returns {variable: gradient};
    variables the seeds do not depend on are absent.
    """
    blockers = set(consider_constant)
    outputs = [v for v, _ in seeds]
    # variables from which some wrt is reachable: only those need gradients
    wrt_set = set(wrt)
    order = toposort(outputs, blockers)
    reaches = set(wrt_set)
    for node in order:
        if any(i in reaches for i in node.inputs):
            reaches.update(node.outputs)
    contributions: dict = {}
    for var, g in seeds:
        contributions.setdefault(var, []).append(g)
    grads = {}
    for node in reversed(order):
        if not any(o in reaches for o in node.outputs):
            continue
        out_grads = [_total(contributions.get(o)) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        for o in node.outputs:
            grads[o] = _total(contributions.get(o))
        if all(g is None for g, o in zip(out_grads, node.outputs)):
            continue
        out_grads = [
            g if g is not None else _zeros(o, _grad_dtype(o))
            for g, o in zip(out_grads, node.outputs)
        ]
        in_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
        if len(in_grads) != len(node.inputs):
            raise GraphadValueError(
                f"{node.op}.L_op returned {len(in_grads)} gradients for {len(node.inputs)} inputs"
            )
        for inp, g in zip(node.inputs, in_grads):
            if g is None or inp not in reaches or inp in blockers:
                continue
            if inp.dtype not in FLOAT_DTYPES and not inp.dtype.startswith("complex"):
                continue
            contributions.setdefault(inp, []).append(g)
    for var, gs in contributions.items():
        if var not in grads:
            grads[var] = _total(gs)
    return grads


def _total(gs):
    if not gs:
        return None
    total = gs[0]
    for g in gs[1:]:
        total = total + g
    return total


def _grad_dtype(var):
    return var.dtype if var.dtype in FLOAT_DTYPES else "float64"


def _zeros(var, dtype):
    from ..tensor.shape import zeros_like

    return zeros_like(var, dtype=dtype)


def _cast(g, dtype):
    from ..tensor.math import cast

    return cast(g, dtype) if g.dtype != dtype else g


def _tag_grad_nodes(results, forward_outputs):
    forward = set(ancestors(forward_outputs))
    for node in toposort(results, forward):
        if not any(o in forward for o in node.outputs):
            node.tag.grad = True
