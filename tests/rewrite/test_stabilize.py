"""The stabilize pass: each rule's before ⇒ after, its values against the unrewritten
graph, and the cross-entropies of softmax/sigmoid outputs at extreme logits (values and
gradients) against their logits forms computed in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.rewrite.stabilize import stabilize_rules, stabilized
from graphad.tensor import scalar_ops as so
from graphad.tensor.nnet import LogSoftmax, Softmax
from graphad.tensor.reduce import Reduce
from tests.util import AS_WRITTEN, REWRITES, STABILIZED

# the graph exactly as written: the oracle every rewrite is compared with


def op_keys(f):
    """The scalar op class of every Elemwise node, the kind ("sum", "max") of every
    reduction and the op class of every other node in the rewritten graph of ``f``."""
    keys = []
    for node in f.maker.fgraph.toposort():
        scalar = getattr(node.op, "scalar_op", None)
        if isinstance(node.op, Reduce):
            keys.append(node.op.kind)
        else:
            keys.append(type(scalar) if scalar is not None else type(node.op))
    return keys


def np_log_softmax(z):
    z = np.asarray(z, dtype="float64")
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_softmax(z):
    return np.exp(np_log_softmax(z))


def np_sigmoid(z):
    return np.exp(-np.logaddexp(0, -np.asarray(z, dtype="float64")))


# --- each rule: before ⇒ after, and the same values as written ---------------------------
# name: (build from a vector/matrix input, input kind, ops the rewrite must remove,
#        ops it must produce)
RULES = {
    "log_sigmoid": (lambda x: ga.log(ga.sigmoid(x)), "vector", {so.Log, so.Sigmoid},
                    {so.Softplus}),
    "log_one_minus_sigmoid": (lambda x: ga.log(1 - ga.sigmoid(x)), "vector",
                              {so.Log, so.Sigmoid}, {so.Softplus}),
    "log1p_neg_sigmoid": (lambda x: ga.log1p(-ga.sigmoid(x)), "vector",
                          {so.Log1p, so.Sigmoid}, {so.Softplus}),
    "log1p": (lambda x: ga.log(1 + x), "vector", {so.Log, so.Add}, {so.Log1p}),
    "log1p_of_one_minus": (lambda x: ga.log(1 - x), "vector", {so.Log, so.Sub}, {so.Log1p}),
    "expm1": (lambda x: ga.exp(x) - 1, "vector", {so.Exp, so.Sub}, {so.Expm1}),
    "log_softmax": (lambda z: ga.log(ga.softmax(z)), "matrix", {so.Log, Softmax},
                    {LogSoftmax}),
    "logsumexp": (lambda x: ga.log(ga.sum(ga.exp(x))), "vector", set(), {"max"}),
    "log_of_indexed_softmax": (
        lambda z: ga.log(ga.softmax(z)[ga.arange(z.shape[0]), ga.constant([2, 0, 1])]),
        "matrix", {Softmax}, {LogSoftmax}),
    # the spellings users write for sigmoid, softplus, softmax; inverse pairs; log1mexp
    "sigmoid": (lambda x: 1 / (1 + ga.exp(-x)), "vector", {so.Exp, so.TrueDivide},
                {so.Sigmoid}),
    "sigmoid_of_neg": (lambda x: 1 / (1 + ga.exp(x)), "vector", {so.Exp, so.TrueDivide},
                       {so.Sigmoid, so.Neg}),
    "sigmoid_exp_ratio": (lambda x: ga.exp(x) / (1 + ga.exp(x)), "vector",
                          {so.Exp, so.TrueDivide}, {so.Sigmoid}),
    "softplus": (lambda x: ga.log1p(ga.exp(x)), "vector", {so.Log1p, so.Exp}, {so.Softplus}),
    "softmax": (lambda z: ga.exp(z) / ga.exp(z).sum(axis=1, keepdims=True), "matrix",
                {so.Exp, so.TrueDivide, "sum"}, {Softmax}),
    "log_exp": (lambda x: ga.log(ga.exp(x)), "vector", {so.Log, so.Exp}, set()),
    "exp_log": (lambda x: ga.exp(ga.log(ga.softplus(x))), "vector", {so.Log, so.Exp},
                {so.Softplus}),
    "log1mexp": (lambda x: ga.log1p(-ga.exp(x)), "vector", {so.Log1p, so.Exp},
                 {so.Log1mexp}),
    "log_neg_expm1": (lambda x: ga.log(-ga.expm1(x)), "vector", {so.Log, so.Expm1},
                      {so.Log1mexp}),
}  # fmt: skip
# where a rule's values are compared when it is not (-0.9, 0.9): log(1 - exp(x)) is
# NaN for x > 0
DOMAINS = {"log1mexp": (-3.0, -0.01), "log_neg_expm1": (-3.0, -0.01)}


def _input(kind, dtype="float64"):
    return ga.vector("x", dtype=dtype) if kind == "vector" else ga.matrix("z", dtype=dtype)


def _value(kind, rng, low, high):
    shape = (5,) if kind == "vector" else (3, 4)
    return rng.uniform(low, high, size=shape)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_fires_and_rewrites(name):
    build, kind, removed, added = RULES[name]
    x = _input(kind)
    f = ga.function([x], build(x), mode=STABILIZED)
    assert f.maker.rewrites.fired(name, "stabilize") >= 1, f.maker.rewrites.summary()
    keys = op_keys(f)
    assert removed.isdisjoint(keys), (name, keys)
    assert added <= set(keys), (name, keys)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_keeps_values(name):
    build, kind, _, _ = RULES[name]
    rng = np.random.default_rng(len(name))
    # inside every rule's domain: log(1 - x) needs x < 1, log(1 + x) needs x > -1
    value = _value(kind, rng, *DOMAINS.get(name, (-0.9, 0.9)))
    x = _input(kind)
    fast = ga.function([x], build(x), mode=REWRITES)
    written = ga.function([x], build(x), mode=AS_WRITTEN)
    assert written.maker.rewrites.fired() == 0
    np.testing.assert_allclose(fast(value), written(value), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_rule_keeps_axis_and_keepdims(dtype):
    z = ga.matrix("z", dtype=dtype)
    expr = ga.log(ga.sum(ga.exp(z), axis=1, keepdims=True))
    f = ga.function([z], expr, mode=REWRITES)
    assert f.maker.rewrites.fired("logsumexp") == 1
    value = np.random.default_rng(0).normal(size=(3, 4)).astype(dtype)
    out = f(value)
    assert out.shape == (3, 1) and out.dtype == dtype
    ref = np.log(np.exp(value.astype("float64")).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(out, ref, rtol=1e-6 if dtype == "float32" else 1e-12)


def test_log_softmax_rule_keeps_the_axis():
    z = ga.matrix("z")
    f = ga.function([z], ga.log(ga.softmax(z, axis=0)), mode=REWRITES)
    assert f.maker.rewrites.fired("log_softmax") == 1
    value = np.random.default_rng(5).normal(size=(3, 4)) * 300
    np.testing.assert_allclose(f(value), np_log_softmax(value.T).T, rtol=1e-13)


def test_integer_argument_is_not_rewritten():
    """log1p/log1p_of_one_minus/expm1 hold only for float x (their ``where`` guard)."""
    i = ga.vector("i", dtype="int64")
    f = ga.function([i], [ga.log(1 + i), ga.log(1 - i), ga.exp(i) - 1], mode=REWRITES)
    for name in ("log1p", "log1p_of_one_minus", "expm1"):
        assert f.maker.rewrites.fired(name) == 0, name
    value = np.array([0, 3, -7])
    with np.errstate(all="ignore"):
        expected = [np.log(1 + value), np.log(1 - value), np.exp(value) - 1]
    for got, ref in zip(f(value), expected):
        np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int64", "bool"])
def test_sigmoid_rules_on_integer_and_bool_logits(dtype):
    """Rules that negate x do it in floats: an unsigned -x wraps around (-1 is 255) and a
    bool has no -x. ``1 / (1 + exp(-x))`` keeps the wrapped -x the user wrote."""
    x = ga.vector("x", dtype=dtype)
    value = np.array({"bool": [0, 1], "uint8": [0, 1, 3, 7]}.get(dtype, [-7, -3, 0, 1, 3, 7]))
    value = value.astype(dtype)
    v = value.astype("float64")
    cases = [
        (ga.log(ga.sigmoid(x)), -np.logaddexp(0, -v)),
        (ga.log(1 - ga.sigmoid(x)), -np.logaddexp(0, v)),
    ]
    if dtype != "bool":
        wrapped = np.negative(value).astype("float64")
        cases += [
            (1 / (1 + ga.exp(-x)), np_sigmoid(-wrapped)),
            (1 / (1 + ga.exp(x)), np_sigmoid(-v)),
        ]
    f = ga.function([x], [expr for expr, _ in cases], mode=REWRITES)
    assert f.maker.rewrites.fired() >= len(cases)
    for got, (_, want) in zip(f(value), cases):
        assert got.dtype == ("float64" if dtype == "int64" else "float16")
        tol = 2e-3 if got.dtype == "float16" else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 1e-3)


# --- accuracy where the written form loses it --------------------------------------------
# (build, input, NumPy's accurate answer)
ACCURACY = {
    "log1p": (lambda x: ga.log(1 + x), [1e-12, -3e-15], np.log1p),
    "log1p_of_one_minus": (lambda x: ga.log(1 - x), [1e-12, 2e-14], lambda v: np.log1p(-v)),
    "expm1": (lambda x: ga.exp(x) - 1, [1e-12, -4e-13], np.expm1),
    "log_sigmoid": (lambda x: ga.log(ga.sigmoid(x)), [-800.0, 40.0],
                    lambda v: -np.logaddexp(0, -v)),
    "log_one_minus_sigmoid": (lambda x: ga.log(1 - ga.sigmoid(x)), [800.0, -40.0],
                              lambda v: -np.logaddexp(0, v)),
    "log1p_neg_sigmoid": (lambda x: ga.log1p(-ga.sigmoid(x)), [800.0, -40.0],
                          lambda v: -np.logaddexp(0, v)),
    "softplus": (lambda x: ga.log1p(ga.exp(x)), [1000.0, 30.0], lambda v: np.logaddexp(0, v)),
    "log_exp": (lambda x: ga.log(ga.exp(x)), [1000.0, -800.0], lambda v: v),
    "log1mexp": (lambda x: ga.log1p(-ga.exp(x)), [-1e-20, -1e-10], lambda v: np.log(-np.expm1(v))),
    "log_neg_expm1": (lambda x: ga.log(-ga.expm1(x)), [-700.0, -40.0],
                      lambda v: np.log1p(-np.exp(v))),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(ACCURACY))
def test_rewrite_is_more_accurate(name):
    build, values, accurate = ACCURACY[name]
    x = ga.vector("x")
    value = np.array(values)
    ref = accurate(value)
    fast = ga.function([x], build(x), mode=REWRITES)(value)
    with np.errstate(all="ignore"):
        written = ga.function([x], build(x), mode=AS_WRITTEN)(value)
    np.testing.assert_allclose(fast, ref, rtol=1e-14)
    # the written form is measurably worse here, so the rewrite is what makes the difference
    err_written = np.abs(written - ref) / np.abs(ref)
    assert not np.all(err_written < 1e-10), (written, ref)


def test_log_softmax_at_extreme_logits():
    z = ga.matrix("z")
    value = np.array([[0.0, -1000.0, 1000.0], [-1000.0, -1000.0, 1000.0]])
    out = ga.function([z], ga.log(ga.softmax(z)), mode=REWRITES)(value)
    np.testing.assert_allclose(out, np_log_softmax(value), rtol=1e-14)
    with np.errstate(all="ignore"):
        written = ga.function([z], ga.log(ga.softmax(z)), mode=AS_WRITTEN)(value)
    assert np.isinf(written).any()  # what the rewrite saves us from


def test_log_sum_exp_at_1000():
    x = ga.vector("x")
    f = ga.function([x], ga.log(ga.sum(ga.exp(x))), mode=REWRITES)
    value = np.array([1000.0, 1000.0])
    np.testing.assert_allclose(f(value), 1000.0 + np.log(2.0), rtol=1e-15)
    # one firing: the rule does not fire again on the max-shifted form it builds
    assert f.maker.rewrites.fired("logsumexp") == 1
    assert op_keys(f).count(so.Log) == 1
    assert "max" in op_keys(f)  # the shift


def test_logsumexp_rule_does_not_fire_on_ga_logsumexp():
    x = ga.vector("x")
    written = ga.function([x], ga.logsumexp(x), mode=AS_WRITTEN)
    f = ga.function([x], ga.logsumexp(x), mode=REWRITES)
    assert f.maker.rewrites.fired("logsumexp") == 0
    keys = op_keys(f)
    assert keys.count(so.Log) <= 1
    assert len(keys) <= len(written.maker.fgraph.apply_nodes)
    value = np.array([1000.0, 1000.0, -5.0])
    ref = 1000.0 + np.log(2.0 + np.exp(-1005.0))
    np.testing.assert_allclose(f(value), ref, rtol=1e-15)


def test_stabilized_returns_the_originals_when_nothing_applies():
    x = ga.vector("x")
    y = ga.exp(x) * 2
    (same,) = stabilized([y])
    assert same is y
    (new,) = stabilized([ga.log(1 + x)])
    assert isinstance(new.owner.op.scalar_op, so.Log1p)
    assert new.owner.inputs[0] is x  # the leaves are the user's own variables


# --- cross-entropies at extreme logits: values and gradients ------------------------------
LOGITS = np.array(
    [[1000.0, -1000.0, 0.0, 3.0], [-1000.0, 1000.0, 1000.0, -2.0], [0.5, -0.25, 2.0, 1000.0]]
)
LABELS = np.array([1, 2, 0])
DTYPES = [("float64", 1e-12), ("float32", 1e-5)]


def _xent_reference(z, targets):
    """Mean cross-entropy and its gradient computed from the logits in NumPy."""
    n = z.shape[0]
    loss = -(targets * np_log_softmax(z)).sum(axis=-1).mean()
    grad = (np_softmax(z) * targets.sum(axis=-1, keepdims=True) - targets) / n
    return loss, grad


def _check_xent(f, z_val, target_val, targets_dense, dtype, rtol):
    loss, grad = f(z_val.astype(dtype), target_val)
    ref_loss, ref_grad = _xent_reference(z_val.astype(dtype), targets_dense)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert grad.dtype == dtype
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
def test_categorical_crossentropy_integer_labels(dtype, rtol):
    z, labels = ga.matrix("z", dtype=dtype), ga.vector("labels", dtype="int64")
    loss = ga.categorical_crossentropy(ga.softmax(z), labels).mean()
    f = ga.function([z, labels], [loss, ga.grad(loss, z)], mode=REWRITES)
    assert f.maker.rewrites.fired("log_of_indexed_softmax") >= 1
    onehot = np.eye(LOGITS.shape[1])[LABELS]
    _check_xent(f, LOGITS, LABELS, onehot, dtype, rtol)


@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
@pytest.mark.parametrize("targets", ["onehot", "probabilities"])
def test_categorical_crossentropy_target_matrix(dtype, rtol, targets):
    z, t = ga.matrix("z", dtype=dtype), ga.matrix("t", dtype=dtype)
    loss = ga.categorical_crossentropy(ga.softmax(z), t).mean()
    f = ga.function([z, t], [loss, ga.grad(loss, z)], mode=REWRITES)
    assert f.maker.rewrites.fired("log_softmax") >= 1
    if targets == "onehot":
        t_val = np.eye(LOGITS.shape[1])[LABELS]
    else:
        t_val = np.random.default_rng(3).dirichlet(np.ones(LOGITS.shape[1]), size=3)
    t_val = t_val.astype(dtype)
    _check_xent(f, LOGITS, t_val, t_val.astype("float64"), dtype, rtol)


@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
def test_binary_crossentropy_at_extreme_logits(dtype, rtol):
    z, t = ga.vector("z", dtype=dtype), ga.vector("t", dtype=dtype)
    loss = ga.binary_crossentropy(ga.sigmoid(z), t).mean()
    f = ga.function([z, t], [loss, ga.grad(loss, z)], mode=REWRITES)
    assert f.maker.rewrites.fired("log_sigmoid") >= 1
    assert f.maker.rewrites.fired("log_one_minus_sigmoid") >= 1
    z_val = np.array([1000.0, -1000.0, 1000.0, -1000.0, 3.0, -0.5]).astype(dtype)
    t_val = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 1.0]).astype(dtype)
    value, grad = f(z_val, t_val)
    z64, t64 = z_val.astype("float64"), t_val.astype("float64")
    # -(t log σ(z) + (1 - t) log(1 - σ(z))) = t softplus(-z) + (1 - t) softplus(z)
    ref = (t64 * np.logaddexp(0, -z64) + (1 - t64) * np.logaddexp(0, z64)).mean()
    ref_grad = (np_sigmoid(z64) - t64) / z64.size
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ref, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("mode", ["FAST_RUN", "FAST_COMPILE"])
def test_gradient_is_stable_in_every_mode(mode):
    """grad differentiates the stabilized cost, whatever passes the mode runs."""
    z, labels = ga.matrix("z"), ga.vector("labels", dtype="int64")
    loss = ga.categorical_crossentropy(ga.softmax(z), labels).mean()
    grad = ga.function([z, labels], ga.grad(loss, z), mode=mode)(LOGITS, LABELS)
    onehot = np.eye(LOGITS.shape[1])[LABELS]
    np.testing.assert_allclose(grad, (np_softmax(LOGITS) - onehot) / 3, rtol=1e-12, atol=1e-15)


def test_gradient_with_respect_to_an_intermediate():
    """A kept variable (the ``wrt``) is not rewritten through: the gradient stays one
    with respect to softmax(z), not to z."""
    z = ga.matrix("z")
    s = ga.softmax(z)
    g_plus = ga.grad(ga.log(s).sum(), s)
    g_minus = ga.grad(ga.categorical_crossentropy(s, ga.constant([1, 0])).sum(), s)
    f = ga.function([z], [s, g_plus, g_minus], mode=REWRITES)
    s_val, g_plus_val, g_minus_val = f(np.random.default_rng(1).normal(size=(2, 3)))
    np.testing.assert_allclose(g_plus_val, 1 / s_val, rtol=1e-12)
    expected = np.zeros_like(s_val)
    expected[[0, 1], [1, 0]] = -1 / s_val[[0, 1], [1, 0]]
    np.testing.assert_allclose(g_minus_val, expected, rtol=1e-12)


def test_consider_constant_is_not_rewritten_through():
    z = ga.matrix("z")
    s = ga.softmax(z)
    cost = ga.log(s).sum() + (z**2).sum()
    g = ga.function([z], ga.grad(cost, z, consider_constant=[s]), mode=REWRITES)
    value = np.random.default_rng(3).normal(size=(2, 3))
    np.testing.assert_allclose(g(value), 2 * value, rtol=1e-14)


def test_known_grads_at_extreme_logits():
    """A known gradient of log(softmax(z)) is carried back through the stable form."""
    z = ga.matrix("z")
    logp = ga.log(ga.softmax(z))
    g = ga.grad(None, z, known_grads={logp: ga.ones_like(logp)})
    out = ga.function([z], g, mode=REWRITES)(LOGITS)
    # d/dz sum_j log_softmax(z)_j = 1 - k softmax(z) per row of k logits
    ref = 1 - LOGITS.shape[1] * np_softmax(LOGITS)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_rop_of_log_softmax_at_extreme_logits():
    z, v = ga.matrix("z"), ga.matrix("v")
    jv = ga.Rop(ga.log(ga.softmax(z)), z, v)
    v_val = np.random.default_rng(2).normal(size=LOGITS.shape)
    for mode in ("FAST_RUN", "FAST_COMPILE"):
        out = ga.function([z, v], jv, mode=mode)(LOGITS, v_val)
        assert np.all(np.isfinite(out)), mode
        # d log_softmax(z) · v = v - <softmax(z), v> per row
        ref = v_val - (np_softmax(LOGITS) * v_val).sum(axis=-1, keepdims=True)
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


# --- the spellings users write reach the stable forms ------------------------------------
def np_softplus(v):
    return np.logaddexp(0, v)


def np_log1mexp(v):
    """log(1 - exp(v)) for v <= 0, accurate everywhere (a branch for each end)."""
    v = np.asarray(v, dtype="float64")
    with np.errstate(divide="ignore"):
        return np.where(v > -np.log(2), np.log(-np.expm1(v)), np.log1p(-np.exp(v)))


def np_softmax_along(z, axis):
    return np.exp(np_log_softmax_along(z, axis))


def np_log_softmax_along(z, axis):
    return np.moveaxis(np_log_softmax(np.moveaxis(z, axis, -1)), -1, axis)


SIGMOID_OPS, SOFTPLUS_OPS = {so.Exp, so.TrueDivide, so.Add}, {so.Log, so.Log1p, so.Exp}
# name: (a spelling of one vector x, ops the rewritten graph must not have, ops it must have)
SPELLINGS = {
    "log(1 + exp(x))": (lambda x: ga.log(1 + ga.exp(x)), SOFTPLUS_OPS, {so.Softplus}),
    "log(exp(x) + 1)": (lambda x: ga.log(ga.exp(x) + 1), SOFTPLUS_OPS, {so.Softplus}),
    "log(1 + exp(-x))": (lambda x: ga.log(1 + ga.exp(-x)), SOFTPLUS_OPS, {so.Softplus}),
    "-log(1 + exp(-x))": (lambda x: -ga.log(1 + ga.exp(-x)), SOFTPLUS_OPS, {so.Softplus}),
    "1 / (exp(-x) + 1)": (lambda x: 1 / (ga.exp(-x) + 1), SIGMOID_OPS, {so.Sigmoid}),
    # the Theano tutorial's p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    "1.0 / (1.0 + exp(-x - 2))": (lambda x: 1.0 / (1.0 + ga.exp(-x - 2)), SIGMOID_OPS,
                                  {so.Sigmoid}),
    "exp(-x) / (1 + exp(-x))": (lambda x: ga.exp(-x) / (1 + ga.exp(-x)), SIGMOID_OPS,
                                {so.Sigmoid}),
    "log(1 / (1 + exp(-x)))": (lambda x: ga.log(1 / (1 + ga.exp(-x))),
                               SIGMOID_OPS | SOFTPLUS_OPS | {so.Sigmoid}, {so.Softplus}),
    "log(1 - 1 / (1 + exp(-x)))": (lambda x: ga.log(1 - 1 / (1 + ga.exp(-x))),
                                   SIGMOID_OPS | SOFTPLUS_OPS | {so.Sigmoid}, {so.Softplus}),
    "log(1 - exp(-abs(x)))": (lambda x: ga.log(1 - ga.exp(-ga.abs(x))), SOFTPLUS_OPS,
                              {so.Log1mexp}),
    "log(1 - exp(x))": (lambda x: ga.log(1 - ga.exp(x)), SOFTPLUS_OPS, {so.Log1mexp}),
    "exp(log(sqrt(x)))": (lambda x: ga.exp(ga.log(ga.sqrt(x))), {so.Exp, so.Log}, {so.Sqrt}),
    "exp(log(x * x))": (lambda x: ga.exp(ga.log(x * x)), {so.Exp, so.Log}, {so.Mul}),
    "exp(log(relu(x) + 2))": (lambda x: ga.exp(ga.log(ga.relu(x) + 2)), {so.Exp, so.Log},
                              {so.Relu}),
    "exp(log(exp(x) / sigmoid(x)))": (lambda x: ga.exp(ga.log(ga.exp(x) / ga.sigmoid(x))),
                                      {so.Log}, {so.Exp, so.Sigmoid}),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SPELLINGS))
def test_spelling_reaches_the_stable_form(name):
    build, removed, added = SPELLINGS[name]
    x = ga.vector("x")
    keys = op_keys(ga.function([x], build(x), mode=STABILIZED))
    assert removed.isdisjoint(keys), (name, keys)
    assert added <= set(keys), (name, keys)


# name: (build from a matrix or vector z, the softmax axis)
MANUAL_SOFTMAX = {
    "axis=1": (lambda z: ga.exp(z) / ga.exp(z).sum(axis=1, keepdims=True), 1),
    "axis=0": (lambda z: ga.exp(z) / ga.exp(z).sum(axis=0, keepdims=True), 0),
    "axis=-1, ga.sum": (lambda z: ga.exp(z) / ga.sum(ga.exp(z), axis=-1, keepdims=True), 1),
    "vector, sum()": (lambda v: ga.exp(v) / ga.exp(v).sum(), 0),
    # the user's own shift goes: the softmax op makes its own
    "max-shifted": (lambda z: _shifted_softmax(z, axis=0), 0),
    "max-shifted, disconnected": (lambda z: _shifted_softmax(z, 1, ga.disconnected_grad), 1),
    "vector, max-shifted": (lambda v: _shifted_softmax(v, None), 0),
}


def _shifted_softmax(z, axis, wrap=lambda m: m):
    e = ga.exp(z - wrap(z.max(axis=axis, keepdims=axis is not None)))
    return e / e.sum(axis=axis, keepdims=axis is not None)


@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log"])
@pytest.mark.parametrize("name", list(MANUAL_SOFTMAX))
def test_manual_softmax_becomes_softmax(name, log):
    build, axis = MANUAL_SOFTMAX[name]
    z = ga.vector("v") if name.startswith("vector") else ga.matrix("z")
    out = ga.log(build(z)) if log else build(z)
    f = ga.function([z], out, mode=STABILIZED)
    assert f.maker.rewrites.fired("softmax") == 1
    nodes = f.maker.fgraph.toposort()
    assert [type(n.op) for n in nodes] == [LogSoftmax if log else Softmax], nodes
    assert nodes[0].op.axis == axis


def test_manual_softmax_keeps_a_shift_along_another_axis():
    """exp(y) / sum(exp(y), 1) with y = z - max(z, 0): the shift varies along axis 1, so
    it stays (softmax(y), not softmax(z))."""
    z = ga.matrix("z")
    y = z - z.max(axis=0, keepdims=True)
    expr = ga.exp(y) / ga.exp(y).sum(axis=1, keepdims=True)
    f = ga.function([z], expr, mode=STABILIZED)
    assert op_keys(f) == ["max", so.Sub, Softmax]
    value = np.random.default_rng(6).normal(size=(3, 4))
    shifted = value - value.max(axis=0, keepdims=True)
    np.testing.assert_allclose(f(value), np_softmax(shifted), rtol=1e-13)


NOT_REWRITTEN = {
    # exp(log(x)) is NaN for x < 0; nothing says x >= 0
    "exp_log": [lambda x, y: ga.exp(ga.log(x)), lambda x, y: ga.exp(ga.log(ga.exp(x) - 1)),
                lambda x, y: ga.exp(ga.log(x * y)), lambda x, y: ga.exp(ga.log(-ga.exp(x))),
                lambda x, y: ga.exp(ga.log(ga.exp(x).sum()))],
    # not one row of exp(x) over its own sum
    "softmax": [lambda x, y: ga.exp(x) / ga.exp(y).sum(axis=1, keepdims=True),
                lambda x, y: ga.exp(x) / ga.exp(x).sum(),
                lambda x, y: ga.exp(x) / ga.exp(x).sum(axis=(0, 1), keepdims=True),
                lambda x, y: ga.exp(x) / ga.exp(x).max(axis=1, keepdims=True),
                lambda x, y: ga.exp(x) / (1 + ga.exp(x).sum(axis=1, keepdims=True))],
    "sigmoid": [lambda x, y: 1 / (2 + ga.exp(-x)), lambda x, y: 2 / (1 + ga.exp(-x)),
                lambda x, y: ga.exp(y) / (1 + ga.exp(x))],
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "k"), [(n, k) for n, builds in NOT_REWRITTEN.items() for k in range(len(builds))]
)
def test_lookalikes_are_not_rewritten(name, k):
    x, y = ga.matrix("x"), ga.matrix("y")
    expr = NOT_REWRITTEN[name][k](x, y)
    f = ga.function([x, y], expr, mode=REWRITES, on_unused_input="ignore")
    for rule_name in [r.name for r in stabilize_rules if r.name.startswith(name)]:
        assert f.maker.rewrites.fired(rule_name) == 0, rule_name
    rng = np.random.default_rng(k)
    values = [rng.uniform(-2, 2, size=(3, 3)) for _ in range(2)]
    written = ga.function([x, y], expr, mode=AS_WRITTEN, on_unused_input="ignore")
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(f(*values), written(*values), rtol=1e-12)


def test_log_exp_of_integers_is_not_rewritten():
    i = ga.vector("i", dtype="int64")
    f = ga.function([i], ga.log(ga.exp(i)), mode=REWRITES)
    assert f.maker.rewrites.fired("log_exp") == 0
    out = f(np.array([0, 3, -2]))
    assert out.dtype == "float64"
    np.testing.assert_allclose(out, [0.0, 3.0, -2.0], rtol=1e-15)


# --- each spelling at extreme values: values and gradients, as NumPy's stable forms -------
EVERYWHERE = (-1000.0, -30.0, 0.0, 30.0, 1000.0)
BELOW_ZERO = (-1000.0, -30.0, -1e-20)  # log(1 - exp(x)) is -inf at 0 and NaN above


def _log1mexp_slope(v):
    with np.errstate(over="ignore"):
        return -1 / np.expm1(-v)


# name: (a spelling of one vector x, its value, its derivative (NumPy), where checked)
EXTREMES = {
    "log(1 + exp(x))": (lambda x: ga.log(1 + ga.exp(x)), np_softplus, np_sigmoid),
    "log1p(exp(x))": (lambda x: ga.log1p(ga.exp(x)), np_softplus, np_sigmoid),
    "log(1 + exp(-x))": (lambda x: ga.log(1 + ga.exp(-x)), lambda v: np_softplus(-v),
                         lambda v: -np_sigmoid(-v)),
    "-log(1 + exp(-x))": (lambda x: -ga.log(1 + ga.exp(-x)), lambda v: -np_softplus(-v),
                          lambda v: np_sigmoid(-v)),
    "1 / (1 + exp(-x))": (lambda x: 1 / (1 + ga.exp(-x)), np_sigmoid,
                          lambda v: np_sigmoid(v) * np_sigmoid(-v)),
    "1 / (1 + exp(x))": (lambda x: 1 / (1 + ga.exp(x)), lambda v: np_sigmoid(-v),
                         lambda v: -np_sigmoid(v) * np_sigmoid(-v)),
    "exp(x) / (1 + exp(x))": (lambda x: ga.exp(x) / (1 + ga.exp(x)), np_sigmoid,
                              lambda v: np_sigmoid(v) * np_sigmoid(-v)),
    "log(1 / (1 + exp(-x)))": (lambda x: ga.log(1 / (1 + ga.exp(-x))),
                               lambda v: -np_softplus(-v), lambda v: np_sigmoid(-v)),
    "log(1 - 1 / (1 + exp(-x)))": (lambda x: ga.log(1 - 1 / (1 + ga.exp(-x))),
                                   lambda v: -np_softplus(v), lambda v: -np_sigmoid(v)),
    "log(exp(x))": (lambda x: ga.log(ga.exp(x)), lambda v: v, np.ones_like),
    "exp(log(softplus(x)))": (lambda x: ga.exp(ga.log(ga.softplus(x))), np_softplus,
                              np_sigmoid),
    "log(1 - exp(-abs(x)))": (lambda x: ga.log(1 - ga.exp(-ga.abs(x))),
                              lambda v: np_log1mexp(-np.abs(v)),
                              lambda v: -np.sign(v) * _log1mexp_slope(-np.abs(v)),
                              (-1000.0, -30.0, -1e-20, 1e-20, 30.0, 1000.0)),
    "log(1 - exp(x))": (lambda x: ga.log(1 - ga.exp(x)), np_log1mexp, _log1mexp_slope,
                        BELOW_ZERO),
    "log(-expm1(x))": (lambda x: ga.log(-ga.expm1(x)), np_log1mexp, _log1mexp_slope,
                       BELOW_ZERO),
}  # fmt: skip
EXTREME_TOL = {"float32": (1e-5, 1e-7), "float64": (1e-12, 1e-15)}  # (rtol, atol)


def _check_spelling(name, dtype, mode, check_value=True):
    build, value_of, slope_of, *points = EXTREMES[name]
    x = ga.vector("x", dtype=dtype)
    y = build(x)
    f = ga.function([x], [y, ga.grad(y.sum(), x)], mode=mode)
    v = np.array(points[0] if points else EVERYWHERE, dtype=dtype)
    value, slope = f(v)
    assert value.dtype == dtype and slope.dtype == dtype
    v64 = v.astype("float64")
    rtol, atol = EXTREME_TOL[dtype]
    if check_value:
        assert np.all(np.isfinite(value)), value
        np.testing.assert_allclose(value, value_of(v64), rtol=rtol, atol=atol, err_msg="value")
    assert np.all(np.isfinite(slope)), slope
    np.testing.assert_allclose(slope, slope_of(v64), rtol=rtol, atol=atol, err_msg="gradient")


@pytest.mark.parametrize("mode", ["FAST_RUN", "DEBUG"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(EXTREMES))
def test_spelling_at_extreme_values(name, dtype, mode):
    _check_spelling(name, dtype, mode)


@pytest.mark.parametrize("name", list(EXTREMES))
def test_spelling_gradient_at_extreme_values_in_fast_compile(name):
    """FAST_COMPILE computes the value as written, but ``ga.grad`` differentiates the
    stabilized expression in every mode."""
    _check_spelling(name, "float64", "FAST_COMPILE", check_value=False)


def test_log1mexp_at_zero_is_minus_infinity():
    """log(1 - exp(-|x|)) is -inf at 0, written or rewritten (not NaN). DEBUG reports
    it as an Inf made from finite input, as it does for the written form."""
    x = ga.vector("x")
    y = ga.log(1 - ga.exp(-ga.abs(x)))
    out = ga.function([x], y, mode="FAST_RUN")(np.array([0.0, -0.0]))
    np.testing.assert_array_equal(out, [-np.inf, -np.inf])
    with pytest.raises(FloatingPointError):
        ga.function([x], y, mode="DEBUG")(np.array([0.0]))


@pytest.mark.parametrize("mode", ["FAST_RUN", "DEBUG"])
@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
def test_tutorial_logistic_crossentropy_at_extreme_logits(dtype, rtol, mode):
    """The tutorial's ``p = 1 / (1 + exp(-z))`` and ``-y log(p) - (1 - y) log(1 - p)``
    reach the logits form, as ``sigmoid`` and ``binary_crossentropy`` do."""
    z, t = ga.vector("z", dtype=dtype), ga.vector("t", dtype=dtype)
    p = 1 / (1 + ga.exp(-z))
    loss = (-t * ga.log(p) - (1 - t) * ga.log(1 - p)).mean()
    f = ga.function([z, t], [loss, ga.grad(loss, z)], mode=mode)
    assert f.maker.rewrites.fired("sigmoid") >= 1
    z_val = np.array([1000.0, -1000.0, 1000.0, -1000.0, 30.0, -30.0, 0.0]).astype(dtype)
    t_val = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 1.0, 1.0]).astype(dtype)
    value, grad = f(z_val, t_val)
    z64, t64 = z_val.astype("float64"), t_val.astype("float64")
    ref = (t64 * np_softplus(-z64) + (1 - t64) * np_softplus(z64)).mean()
    ref_grad = (np_sigmoid(z64) - t64) / z64.size
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ref, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("mode", ["FAST_RUN", "DEBUG"])
@pytest.mark.parametrize(("dtype", "rtol"), DTYPES)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log"])
@pytest.mark.parametrize("name", list(MANUAL_SOFTMAX))
def test_manual_softmax_at_extreme_logits(name, log, dtype, rtol, mode):
    build, axis = MANUAL_SOFTMAX[name]
    vector = name.startswith("vector")
    z = ga.vector("z", dtype=dtype) if vector else ga.matrix("z", dtype=dtype)
    out = ga.log(build(z)) if log else build(z)
    logits = LOGITS[1] if vector else LOGITS
    weights = np.random.default_rng(4).normal(size=logits.shape)
    f = ga.function([z], [out, ga.grad((out * weights).sum(), z)], mode=mode)
    assert f.maker.rewrites.fired("softmax") == 1
    value, grad = f(logits.astype(dtype))
    z64 = logits.astype(dtype).astype("float64")
    s = np_softmax_along(z64, axis)
    if log:
        ref = np_log_softmax_along(z64, axis)
        ref_grad = weights - s * weights.sum(axis=axis, keepdims=True)
    else:
        ref = s
        ref_grad = s * (weights - (weights * s).sum(axis=axis, keepdims=True))
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ref, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * 1e-3)
