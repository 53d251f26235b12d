"""Stabilize: replace expressions that overflow, underflow or cancel with their
numerically safe forms.

``log(1 + x)`` → ``log1p(x)``, ``exp(x) - 1`` → ``expm1(x)``, ``log(softmax(x))`` →
``log_softmax(x)``, ``log(sum(exp(x)))`` → ``logsumexp(x)`` (max-shifted),
``log(sigmoid(x))`` → ``-softplus(-x)``, ``log(1 - sigmoid(x))`` → ``-softplus(x)``.
With these, the cross-entropies of ``softmax``/``sigmoid`` outputs become their
logits forms, finite at logits of ±1000.

``stabilized(outputs, keep)`` runs the same table on a copy of a user's expression;
``ga.grad`` and ``ga.Rop`` differentiate that copy, so gradients are as stable as the
values.
"""

from __future__ import annotations

from ..autodiff.ops import DisconnectedGrad
from ..tensor import math as m
from ..tensor import scalar_ops as so
from ..tensor.indexing import Subtensor
from ..tensor.nnet import LogSoftmax, Softmax
from ..tensor.reduce import Reduce, logsumexp
from ..tensor.type import FLOAT_DTYPES
from .engine import RuleTable, node_rule, rule
from .pattern import P


def _float(x, **_):
    return x.dtype in FLOAT_DTYPES


def _log_softmax(s, x, **_):
    return LogSoftmax(s.owner.op.axis)(x)


def _logsumexp(s, x, **_):
    op = s.owner.op
    if op.kind != "sum" or op.dtype is not None or _is_max_shifted(x):
        return None
    return logsumexp(x, op.axis, op.keepdims)


def _is_max_shifted(x) -> bool:
    """x is ``y - max(y)`` (through a switch guarding infinities and the cut gradient):
    already safe, and
    what ``logsumexp`` itself builds, so the rule must not fire on its own output."""
    node = x.owner
    if node is None or not isinstance(getattr(node.op, "scalar_op", None), so.Sub):
        return False
    shift = node.inputs[1]
    if shift.owner is not None and isinstance(shift.owner.op, DisconnectedGrad):
        shift = shift.owner.inputs[0]
    if shift.owner is not None and isinstance(
        getattr(shift.owner.op, "scalar_op", None), so.Switch
    ):
        shift = shift.owner.inputs[2]
    return shift.owner is not None and getattr(shift.owner.op, "kind", None) == "max"


@node_rule(so.Log)
def log_of_indexed_softmax(fgraph, node):
    """log(softmax(z)[rows, labels]) ⇒ log_softmax(z)[rows, labels]"""
    (picked,) = node.inputs
    index = picked.owner
    if index is None or not isinstance(index.op, Subtensor):
        return None
    probs = index.inputs[0]
    if probs.owner is None or not isinstance(probs.owner.op, Softmax):
        return None
    logp = LogSoftmax(probs.owner.op.axis)(probs.owner.inputs[0])
    return {node.outputs[0]: index.op(logp, *index.inputs[1:])}


stabilize_rules = RuleTable(
    "stabilize",
    [
        rule("log_sigmoid", (m.log, (m.sigmoid, "x")), lambda x: -m.softplus(-x)),
        rule(
            "log_one_minus_sigmoid",
            (m.log, (m.sub, 1, (m.sigmoid, "x"))),
            lambda x: -m.softplus(x),
        ),
        rule("log1p_neg_sigmoid", (m.log1p, (m.neg, (m.sigmoid, "x"))), lambda x: -m.softplus(x)),
        rule("log1p", (m.log, (m.add, 1, "x")), (m.log1p, "x"), where=_float),
        rule("log1p_of_one_minus", (m.log, (m.sub, 1, "x")), lambda x: m.log1p(-x), where=_float),
        rule("expm1", (m.sub, (m.exp, "x"), 1), (m.expm1, "x"), where=_float),
        rule("log_softmax", (m.log, P(Softmax, "x", name="s")), _log_softmax),
        rule("logsumexp", (m.log, P(Reduce, (m.exp, "x"), name="s")), _logsumexp),
        log_of_indexed_softmax,
    ],
)


def stabilized(outputs, keep=()):
    """``outputs`` rebuilt with the stabilize rules applied (the originals when no rule
    applies). Variables in ``keep`` (e.g. the ``wrt`` of a gradient) and the graph's
    leaves are shared with the original, not copied.

    >>> import graphad as ga
    >>> x = ga.vector("x")
    >>> y, = stabilized([ga.log(1 + x)])
    >>> y.owner.op
    Elemwise{log1p}
    """
    from ..config import config
    from ..graph.fgraph import FunctionGraph
    from ..graph.traversal import clone_replace, graph_inputs
    from .engine import RewriteRecord, run_table

    outputs = list(outputs)
    # kept variables become ownerless stand-ins, so no rule looks (or rewrites) through
    # them: a gradient with respect to softmax(z) must stay one with respect to it
    stand_in = {k: k.clone() for k in dict.fromkeys(keep)}
    copies = clone_replace(outputs, stand_in)
    free = [v for v in graph_inputs(copies) if not _is_value(v)]
    fgraph = FunctionGraph(free, copies, clone=False)
    record = RewriteRecord()
    run_table(fgraph, stabilize_rules, "stabilize", record, strict=config.rewrite_checks)
    if not record.fired():
        return outputs
    return clone_replace(list(fgraph.outputs), {v: k for k, v in stand_in.items()})


def _is_value(var) -> bool:
    from ..graph.basic import Constant

    return isinstance(var, Constant) or getattr(var, "is_shared", False)
