"""grad: options, errors, tags and the size of gradient graphs (DESIGN §1 Differentiation)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import graphad as ga
from graphad.graph.traversal import toposort


def test_grad_of_a_list_returns_a_list(mode):
    x, y = ga.scalar("x"), ga.scalar("y")
    gx, gy = ga.grad(x * y + x, [x, y])
    f = ga.function([x, y], [gx, gy], mode=mode)
    assert [float(v) for v in f(2.0, 3.0)] == [4.0, 2.0]


def test_consider_constant_blocks_the_path(mode):
    x = ga.scalar("x")
    y = x * x
    g = ga.grad(y * x, x, consider_constant=[y])
    assert float(ga.function([x], g, mode=mode)(3.0)) == 9.0


def test_known_grads_with_and_without_cost(mode):
    x = ga.vector("x")
    h = ga.tanh(x)
    g_known = ga.grad(None, x, known_grads={h: ga.ones_like(h)})
    g_cost = ga.grad(h.sum(), x)
    g_both = ga.grad(h.sum(), x, known_grads={h: ga.ones_like(h)})
    f = ga.function([x], [g_known, g_cost, g_both], mode=mode)
    a, b, c = f(np.array([0.1, -0.5]))
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(c, 2 * b)


def test_cost_must_be_a_scalar():
    x = ga.vector("x")
    with pytest.raises(ga.GraphadTypeError, match="scalar"):
        ga.grad(x * 2, x)


def test_disconnected_input_policies():
    x, y = ga.scalar("x"), ga.scalar("y")
    with pytest.raises(ga.DisconnectedInputError, match="'y'"):
        ga.grad(x * 2, y)
    with pytest.warns(UserWarning, match="'y'"):
        g = ga.grad(x * 2, y, disconnected_inputs="warn")
    assert float(g.eval({y: 1.0})) == 0.0
    g = ga.grad(x * 2, y, disconnected_inputs="ignore")
    assert float(g.eval({y: 1.0})) == 0.0
    with pytest.raises(ValueError, match="disconnected_inputs"):
        ga.grad(x * 2, x, disconnected_inputs="sometimes")


def test_integer_wrt_raises_unless_ignored():
    i = ga.vector("i", dtype="int64")
    cost = ga.cast(i, "float64").sum()
    with pytest.raises(ga.NonDifferentiableError, match="'i'") as info:
        ga.grad(cost, i)
    assert isinstance(info.value, TypeError)
    g = ga.grad(cost, i, disconnected_inputs="ignore")
    assert g.dtype == "float64"
    assert g.eval({i: [1, 2, 3]}).tolist() == [0.0, 0.0, 0.0]


def test_zero_grad_and_disconnected_grad(mode):
    x = ga.scalar("x")
    f = ga.function([x], ga.grad(ga.zero_grad(x) * x, x), mode=mode)
    assert float(f(3.0)) == 3.0
    with pytest.raises(ga.DisconnectedInputError):
        ga.grad(ga.disconnected_grad(x) * 2, x)
    g = ga.grad(ga.disconnected_grad(x) * x, x)
    assert float(ga.function([x], g, mode=mode)(3.0)) == 3.0


def test_grad_clip(mode):
    x = ga.vector("x")
    g = ga.grad((ga.grad_clip(x, -1.0, 1.0) * ga.constant([5.0, 0.5])).sum(), x)
    assert ga.function([x], g, mode=mode)(np.zeros(2)).tolist() == [1.0, 0.5]


def test_float32_gradients_stay_float32(mode):
    x = ga.vector("x", dtype="float32")
    W = ga.shared(np.ones((2, 3), "float32"))
    cost = (ga.sigmoid(x @ W) * 0.5).sum() + ga.logsumexp(x)
    gx, gW = ga.grad(cost, [x, W])
    assert gx.dtype == "float32" and gW.dtype == "float32"
    out = ga.function([x], [gx, gW], mode=mode)(np.ones(2, "float32"))
    assert [o.dtype for o in out] == [np.float32, np.float32]


def test_gradient_nodes_carry_the_grad_tag():
    x = ga.vector("x")
    cost = ga.exp(x).sum()
    g = ga.grad(cost, x)
    forward = set(toposort([cost]))
    new = [n for n in toposort([g]) if n not in forward]
    assert new and all(getattr(n.tag, "grad", False) for n in new)
    assert not any(getattr(n.tag, "grad", False) for n in forward)
    assert "grad" in ga.dprint(g, file=False)


def test_rop_nodes_carry_the_grad_tag():
    x, v = ga.vector("x"), ga.vector("v")
    jv = ga.Rop(ga.tanh(x), x, v)
    assert getattr(jv.owner.tag, "grad", False)


def test_gradient_graph_is_linear_in_the_forward_graph():
    x = ga.vector("x")
    y = x
    for k in range(200):
        y = ga.tanh(y) * 0.9 + y if k % 2 else ga.sin(y) + 0.1 * y
    cost = y.sum()
    forward = len(toposort([cost]))
    total = len(toposort([ga.grad(cost, x)]))
    assert total <= 10 * forward, (forward, total)


def test_shared_subexpressions_are_differentiated_once():
    x = ga.vector("x")
    h = ga.exp(x)
    cost = (h * h + h).sum()
    g = ga.grad(cost, x)
    exp_nodes = [n for n in toposort([g]) if str(n.op) == "Elemwise{exp}"]
    assert len(exp_nodes) == 1


def test_grad_through_runtime_broadcast(mode):
    x = ga.matrix("x")
    y = ga.matrix("y")
    gx, gy = ga.grad((x * y).sum(), [x, y])
    f = ga.function([x, y], [gx, gy], mode=mode)
    xv, yv = np.ones((1, 3)), np.arange(6.0).reshape(2, 3)
    a, b = f(xv, yv)
    assert a.shape == (1, 3) and b.shape == (2, 3)
    np.testing.assert_allclose(a, yv.sum(axis=0, keepdims=True))


def test_gradients_of_max_go_to_the_maximal_entries(mode):
    x = ga.vector("x")
    g = ga.function([x], ga.grad(ga.max(x), x), mode=mode)
    assert g(np.array([1.0, 3.0, 2.0])).tolist() == [0.0, 1.0, 0.0]


def test_prod_gradient_is_exact_with_zeros(mode):
    x = ga.vector("x")
    g = ga.function([x], ga.grad(ga.prod(x), x), mode=mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert g(np.array([2.0, 0.0, 3.0])).tolist() == [0.0, 6.0, 0.0]
        assert g(np.array([0.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 0.0]
        assert g(np.array([2.0, 4.0, 3.0])).tolist() == [12.0, 6.0, 8.0]


def test_subgradient_conventions(mode):
    x = ga.vector("x")
    f = ga.function(
        [x],
        [ga.grad(ga.relu(x).sum(), x), ga.grad(abs(x).sum(), x), ga.grad(ga.sqrt(x).sum(), x)],
        mode=mode,
    )
    relu_g, abs_g, sqrt_g = f(np.array([0.0, 2.0]))
    assert relu_g.tolist() == [0.0, 1.0]
    assert abs_g.tolist() == [0.0, 1.0]
    assert sqrt_g[0] == np.inf
