"""Stabilize: replace expressions that overflow, underflow or cancel with their
numerically safe forms.

``log(1 + x)`` → ``log1p(x)``, ``exp(x) - 1`` → ``expm1(x)``, ``log(softmax(x))`` →
``log_softmax(x)``, ``log(sum(exp(x)))`` → ``logsumexp(x)`` (max-shifted),
``log(sigmoid(x))`` → ``-softplus(-x)``, ``log(1 - sigmoid(x))`` → ``-softplus(x)``.
With these, the cross-entropies of ``softmax``/``sigmoid`` outputs become their
logits forms, finite at logits of ±1000.

The hand-written spellings of those functions become the functions, so they reach the
rules above: ``1 / (1 + exp(-x))`` and ``exp(x) / (1 + exp(x))`` → ``sigmoid(x)``,
``log(1 + exp(x))`` (through ``log1p(exp(x))``) → ``softplus(x)``, ``exp(x) /
sum(exp(x), axis=k, keepdims=True)`` → ``softmax(x, axis=k)``. Inverse pairs cancel:
``log(exp(x))`` → ``x``, and ``exp(log(x))`` → ``x`` where x is provably not negative
(``_nonnegative``). ``log(1 - exp(x))`` (through ``log1p(-exp(x))``) → ``log1mexp(x)``,
accurate both near 0 and far below it.

``stabilized(outputs, keep)`` runs the same table on a copy of a user's expression;
``ga.grad`` and ``ga.Rop`` differentiate that copy, so gradients are as stable as the
values.
"""

from __future__ import annotations

import numpy as np

from ..autodiff.ops import DisconnectedGrad, ZeroGrad
from ..graph.basic import Constant
from ..tensor import math as m
from ..tensor import scalar_ops as so
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import Subtensor
from ..tensor.nnet import LogSoftmax, Softmax
from ..tensor.reduce import Reduce, logsumexp
from ..tensor.type import FLOAT_DTYPES
from .engine import RuleTable, node_rule, rule
from .pattern import P


def _float(x, **_):
    return x.dtype in FLOAT_DTYPES


def _minus(x):
    """-x in the float dtype sigmoid(x) computes in: an unsigned -x wraps around, and a
    bool has no -x."""
    if x.dtype not in FLOAT_DTYPES:
        x = m.cast(x, so.Sigmoid().output_dtype(x.dtype))
    return -x


# log(1 - exp(x)) as one op: its two branches in one expression, and a derivative with
# no overflow between them (not a public function, so not in tensor/math.py's table)
_log1mexp = Elemwise(so.Log1mexp())

# ops whose every result is >= 0 (or NaN): what exp(log(x)) ⇒ x asks of x
_NONNEGATIVE_OPS = (
    so.Exp, so.Exp2, so.Softplus, so.Sigmoid, so.Sqrt, so.Abs, so.Sqr, so.Relu, so.Cosh,
    so.Erfc,
)  # fmt: skip
# ops whose result is >= 0 (or NaN) when every operand is
_CLOSED_OPS = (so.Add, so.Mul, so.TrueDivide, so.Maximum, so.Minimum)


def _nonnegative(x, depth=4) -> bool:
    """Whether every element of ``x`` is provably >= 0 or NaN, which is where
    ``exp(log(x)) = x`` (log(0) = -inf and exp(-inf) = 0; NaN stays NaN): a constant
    with no negative element; a result of exp, exp2, softplus, sigmoid, sqrt, abs, sqr,
    relu, cosh, erfc or softmax; ``a * a``; or a sum, product, quotient, max or min of
    such (to ``depth`` levels). Nothing else counts: no shape ops, reductions or
    switches, however obvious."""
    if isinstance(x, Constant):
        data = np.asarray(x.data)
        with np.errstate(invalid="ignore"):
            return data.dtype.kind in "biuf" and not bool(np.any(data < 0))
    node = x.owner
    if node is None or depth == 0:
        return False
    if isinstance(node.op, Softmax):
        return True
    scalar = getattr(node.op, "scalar_op", None)
    if isinstance(scalar, _NONNEGATIVE_OPS):
        return True
    if isinstance(scalar, so.Mul) and node.inputs[0] is node.inputs[1]:
        return True
    return isinstance(scalar, _CLOSED_OPS) and all(_nonnegative(v, depth - 1) for v in node.inputs)


def _float_nonnegative(x, **_):
    return _float(x) and _nonnegative(x)


def _softmax(x, s, **_):
    """softmax(x) when ``s`` sums exp(x) over one axis and keeps it (or sums all of a
    vector): each row of the quotient then sums to 1."""
    op = s.owner.op
    if op.kind != "sum" or op.initial is not None or op.dtype not in (None, s.dtype):
        return None
    if len(op.axis) != 1 or not (op.keepdims or x.ndim == 1):
        return None
    return Softmax(op.axis[0])(_unshifted(x, op.axis[0]))


def _unshifted(x, axis):
    """y when x is ``y - max(y, axis, keepdims=True)``, the shift users write before a
    softmax (the op makes its own, and two would cost a pass over the data), else x."""
    node = x.owner
    if node is None or not isinstance(getattr(node.op, "scalar_op", None), so.Sub):
        return x
    y, shift = node.inputs
    if shift.owner is not None and isinstance(shift.owner.op, (DisconnectedGrad, ZeroGrad)):
        shift = shift.owner.inputs[0]  # (the gradient through a shift is 0 anyway)
    op = getattr(shift.owner, "op", None)
    if (
        isinstance(op, Reduce)
        and (op.kind, op.axis) == ("max", (axis,))
        and (op.keepdims or y.ndim == 1)
        and shift.owner.inputs[0] is y
    ):
        return y
    return x


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
        rule("log_sigmoid", (m.log, (m.sigmoid, "x")), (m.log_sigmoid, "x")),
        rule(
            "log_one_minus_sigmoid",
            (m.log, (m.sub, 1, (m.sigmoid, "x"))),
            lambda x: -m.softplus(x),
        ),
        rule("log1p_neg_sigmoid", (m.log1p, (m.neg, (m.sigmoid, "x"))), lambda x: -m.softplus(x)),
        rule("log1p", (m.log, (m.add, 1, "x")), (m.log1p, "x"), where=_float),
        rule("log1p_of_one_minus", (m.log, (m.sub, 1, "x")), lambda x: m.log1p(-x), where=_float),
        rule("expm1", (m.sub, (m.exp, "x"), 1), (m.expm1, "x"), where=_float),
        # spellings users write for sigmoid, softplus and softmax, so the rules on the
        # functions (above and below) see them (an integer -x may wrap around, so it
        # stays, and sigmoid_of_neg negates it again in floats)
        rule(
            "sigmoid",
            (m.true_divide, 1, (m.add, 1, (m.exp, (m.neg, "x")))),
            (m.sigmoid, "x"),
            where=_float,
        ),
        rule(
            "sigmoid_of_neg",
            (m.true_divide, 1, (m.add, 1, (m.exp, "x"))),
            lambda x: m.sigmoid(_minus(x)),
        ),
        rule(
            "sigmoid_exp_ratio",
            (m.true_divide, (m.exp, "x"), (m.add, 1, (m.exp, "x"))),
            (m.sigmoid, "x"),
        ),
        rule("softplus", (m.log1p, (m.exp, "x")), (m.softplus, "x")),
        rule("softmax", (m.true_divide, (m.exp, "x"), P(Reduce, (m.exp, "x"), name="s")), _softmax),
        # inverse pairs
        rule("log_exp", (m.log, (m.exp, "x")), "x", where=_float),
        rule("exp_log", (m.exp, (m.log, "x")), "x", where=_float_nonnegative),
        rule("log1mexp", (m.log1p, (m.neg, (m.exp, "x"))), (_log1mexp, "x")),
        rule("log_neg_expm1", (m.log, (m.neg, (m.expm1, "x"))), (_log1mexp, "x")),
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
