"""The stabilize pass: each rule's before ⇒ after, its values against the unrewritten
graph, and the cross-entropies of softmax/sigmoid outputs at extreme logits (values and
gradients) against their logits forms computed in NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.rewrite.stabilize import stabilized
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
}  # fmt: skip


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
    value = _value(kind, rng, -0.9, 0.9)
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
