"""Regression programs: least squares and its regularized relatives, trained by hand-
written gradient descent."""

import numpy as np

import graphad as ga


def test_mse_linear_regression(prog):
    """The first program of every regression tutorial: MSE loss, its gradient, SGD."""
    X, y = prog.tensor("X", (20, 5)), prog.tensor("y", (20,))
    w = prog.shared(np.zeros(5), name="w")
    loss = ((X @ w - y) ** 2).mean()
    train = prog.function([X, y], loss, updates=[(w, w - 0.1 * ga.grad(loss, w))])

    xs, ys = prog.data(20, 5), prog.data(20)
    w_np = np.zeros(5, prog.dtype)
    for step in range(5):
        loss_np = ((xs @ w_np - ys) ** 2).mean()
        grad_np = 2 * xs.T @ (xs @ w_np - ys) / len(ys)
        prog.close(train(xs, ys), loss_np, f"loss at step {step}")
        w_np = w_np - 0.1 * grad_np
        prog.close(w.get_value(), w_np, f"w after step {step}")


def f64(*arrays):
    """The NumPy reference runs in float64 from the variant's (possibly float32) data."""
    return [np.asarray(a, dtype="float64") for a in arrays]


def test_ridge_regression(prog):
    """Ridge: MSE written as ``.sum() / n`` plus an L2 penalty, ``X.dot(w)``.
    (``X.shape[0]`` is int64, so in float32 the loss is float64, as in NumPy 2.)"""
    n, d, lam, lr = 24, 6, 0.1, 0.2
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    loss = ((X.dot(w) - y) ** 2).sum() / X.shape[0] + lam * (w**2).sum()
    train = prog.function([X, y], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys = prog.data(n, d), prog.data(n)
    xn, yn, w_np = f64(xs, ys, w0)
    for step in range(4):
        r = xn @ w_np - yn
        prog.close(train(xs, ys), (r**2).sum() / n + lam * (w_np**2).sum(), f"loss {step}")
        w_np = w_np - lr * (2 * xn.T @ r / n + 2 * lam * w_np)
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_lasso_subgradient(prog):
    """Lasso: an L1 penalty through ``abs``, trained by subgradient descent."""
    n, d, lam, lr = 20, 5, 0.05, 0.1
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    loss = ga.mean((X @ w - y) ** 2) + lam * abs(w).sum()
    g = ga.grad(loss, w)
    train = prog.function([X, y], [loss, g], updates=[(w, w - lr * g)])

    xs, ys = prog.data(n, d), prog.data(n)
    xn, yn, w_np = f64(xs, ys, w0)
    for step in range(4):
        r = xn @ w_np - yn
        g_np = 2 * xn.T @ r / n + lam * np.sign(w_np)
        loss_out, g_out = train(xs, ys)
        prog.close(loss_out, (r**2).mean() + lam * np.abs(w_np).sum(), f"loss {step}")
        prog.close(g_out, g_np, f"subgradient {step}")
        w_np = w_np - lr * g_np
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_elastic_net(prog):
    """Elastic net: both penalties, ``ga.abs`` and ``ga.sqr``, bias as a 0-d shared."""
    n, d, l1, l2, lr = 20, 4, 0.02, 0.05, 0.1
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w, b = prog.shared(w0, name="w"), prog.shared(0.5, name="b")
    pred = ga.dot(X, w) + b
    loss = ga.mean(ga.sqr(pred - y)) + l1 * ga.sum(ga.abs(w)) + l2 * ga.sum(ga.sqr(w))
    gw, gb = ga.grad(loss, [w, b])
    train = prog.function([X, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), prog.data(n)
    xn, yn, w_np = f64(xs, ys, w0)
    b_np = 0.5
    for step in range(4):
        r = xn @ w_np + b_np - yn
        loss_np = (r**2).mean() + l1 * np.abs(w_np).sum() + l2 * (w_np**2).sum()
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        gw_np = 2 * xn.T @ r / n + l1 * np.sign(w_np) + 2 * l2 * w_np
        w_np, b_np = w_np - lr * gw_np, b_np - lr * 2 * r.mean()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_huber_loss_with_switch(prog):
    """Huber loss written with ``ga.switch`` on ``abs(r) <= delta``."""
    n, d, delta, lr = 30, 4, 0.5, 0.3
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w = prog.shared(np.zeros(d), name="w")
    r = X @ w - y
    a = abs(r)
    loss = ga.switch(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta)).mean()
    train = prog.function([X, y], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys = prog.data(n, d), prog.data(n, low=-2.0, high=2.0)
    xn, yn = f64(xs, ys)
    w_np = np.zeros(d)
    for step in range(5):
        r_np = xn @ w_np - yn
        small = np.abs(r_np) <= delta
        loss_np = np.where(small, 0.5 * r_np**2, delta * (np.abs(r_np) - 0.5 * delta))
        prog.close(train(xs, ys), loss_np.mean(), f"loss {step}")
        dr = np.where(small, r_np, delta * np.sign(r_np)) / n
        w_np = w_np - lr * xn.T @ dr
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_huber_loss_with_minimum(prog):
    """Huber loss written without a branch: ``q = minimum(|r|, delta)``,
    ``0.5 q**2 + delta (|r| - q)``; also ``ga.where`` is not needed."""
    n, d, delta, lr = 30, 4, 0.5, 0.3
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    a = ga.abs(X.dot(w) - y)
    q = ga.minimum(a, delta)
    loss = (0.5 * q**2 + delta * (a - q)).sum() / n
    train = prog.function([X, y], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys = prog.data(n, d), prog.data(n, low=-2.0, high=2.0)
    xn, yn, w_np = f64(xs, ys, w0)
    for step in range(5):
        r_np = xn @ w_np - yn
        q_np = np.minimum(np.abs(r_np), delta)
        prog.close(train(xs, ys), (0.5 * q_np**2 + delta * (np.abs(r_np) - q_np)).mean())
        dr = np.clip(r_np, -delta, delta) / n
        w_np = w_np - lr * xn.T @ dr
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_quantile_pinball_loss(prog):
    """Quantile regression: pinball loss ``maximum(tau r, (tau - 1) r)`` with a bias."""
    n, d, tau, lr = 25, 3, 0.8, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w, b = prog.shared(w0, name="w"), prog.shared(0.0, name="b")
    r = y - (X @ w + b)
    loss = ga.maximum(tau * r, (tau - 1) * r).mean()
    gw, gb = ga.grad(loss, [w, b])
    train = prog.function([X, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), prog.data(n, low=-2.0, high=2.0)
    xn, yn, w_np = f64(xs, ys, w0)
    b_np = 0.0
    for step in range(5):
        r_np = yn - (xn @ w_np + b_np)
        prog.close(train(xs, ys), np.maximum(tau * r_np, (tau - 1) * r_np).mean())
        dr = np.where(r_np > 0, tau, tau - 1) / n  # d loss / d r
        w_np, b_np = w_np + lr * xn.T @ dr, b_np + lr * dr.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_regression_with_bias_returns_loss_and_grads(prog):
    """``[loss, gw, gb]`` returned together with the updates that use the same grads."""
    n, d, lr = 20, 5, 0.1
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w = prog.shared(np.zeros(d), name="w")
    b = prog.shared(np.zeros(1), name="b")
    loss = ((X @ w + b - y) ** 2).mean()
    gw, gb = ga.grad(loss, [w, b])
    train = prog.function([X, y], [loss, gw, gb], updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), prog.data(n) + 1
    xn, yn = f64(xs, ys)
    w_np, b_np = np.zeros(d), np.zeros(1)
    for step in range(5):
        r = xn @ w_np + b_np - yn
        gw_np, gb_np = 2 * xn.T @ r / n, np.array([2 * r.mean()])
        loss_out, gw_out, gb_out = train(xs, ys)
        prog.close(loss_out, (r**2).mean(), f"loss {step}")
        prog.close(gw_out, gw_np, f"gw {step}")
        prog.close(gb_out, gb_np, f"gb {step}")
        w_np, b_np = w_np - lr * gw_np, b_np - lr * gb_np
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_weight_decay_in_update(prog):
    """Decoupled weight decay: the penalty is in the update, not in the loss."""
    n, d, lr, wd = 20, 5, 0.1, 0.05
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    loss = ((X @ w - y) ** 2).mean()
    g = ga.grad(loss, w)
    train = prog.function([X, y], loss, updates=[(w, w - lr * (g + wd * w))])

    xs, ys = prog.data(n, d), prog.data(n)
    xn, yn, w_np = f64(xs, ys, w0)
    for step in range(5):
        r = xn @ w_np - yn
        prog.close(train(xs, ys), (r**2).mean(), f"loss {step}")
        w_np = (1 - lr * wd) * w_np - lr * 2 * xn.T @ r / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_gradient_clipping_by_norm(prog):
    """Clip the gradient to norm ``c``: ``g * minimum(1, c / sqrt((g**2).sum()))``.
    The data is scaled so the first steps clip and the later ones may not."""
    n, d, lr, c = 20, 5, 0.5, 3.0
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w = prog.shared(np.zeros(d), name="w")
    loss = ((X @ w - y) ** 2).mean()
    g = ga.grad(loss, w)
    norm = ga.sqrt((g**2).sum())
    g_clipped = g * ga.minimum(1, c / norm)
    train = prog.function([X, y], [loss, norm], updates=[(w, w - lr * g_clipped)])

    xs = prog.data(n, d)
    ys = (xs @ np.arange(1, d + 1, dtype=prog.dtype) + prog.data(n)).astype(prog.dtype)
    xn, yn = f64(xs, ys)
    w_np = np.zeros(d)
    norms = []
    for step in range(5):
        r = xn @ w_np - yn
        g_np = 2 * xn.T @ r / n
        norm_np = np.sqrt((g_np**2).sum())
        norms.append(norm_np)
        loss_out, norm_out = train(xs, ys)
        prog.close(loss_out, (r**2).mean(), f"loss {step}")
        prog.close(norm_out, norm_np, f"grad norm {step}")
        w_np = w_np - lr * g_np * min(1.0, c / norm_np)
        prog.close(w.get_value(), w_np, f"w after step {step}")
    assert norms[0] > c > norms[-1]  # the program clips, then stops clipping


def test_per_example_cost_and_its_gradient(prog):
    """``[mean(c), grad(mean(c), c)]``: the gradient with respect to an intermediate
    (the per-example costs) is ``1 / n`` everywhere."""
    n, d, lr = 16, 4, 0.1
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    c = (X @ w - y) ** 2
    cost = ga.mean(c)
    train = prog.function(
        [X, y], [cost, ga.grad(cost, c)], updates=[(w, w - lr * ga.grad(cost, w))]
    )

    xs, ys = prog.data(n, d), prog.data(n)
    xn, yn, w_np = f64(xs, ys, w0)
    for step in range(3):
        r = xn @ w_np - yn
        cost_out, gc_out = train(xs, ys)
        prog.close(cost_out, (r**2).mean(), f"cost {step}")
        prog.close(gc_out, np.full(n, 1 / n), f"grad wrt c {step}")
        w_np = w_np - lr * 2 * xn.T @ r / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_multi_output_regression(prog):
    """A matrix of targets: ``W`` (d, k), per-output MSE with ``mean(axis=0)``,
    the gradient spelled through ``.T`` in NumPy only."""
    n, d, k, lr = 20, 4, 3, 0.2
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    W0 = prog.data(d, k)
    W, b = prog.shared(W0, name="W"), prog.shared(np.zeros(k), name="b")
    per_output = ((X @ W + b - Y) ** 2).mean(axis=0)
    loss = per_output.sum()
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, Y], [loss, per_output], updates=[(W, W - lr * gW), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), prog.data(n, k)
    xn, yn, W_np = f64(xs, ys, W0)
    b_np = np.zeros(k)
    for step in range(4):
        R = xn @ W_np + b_np - yn
        loss_out, per_out = train(xs, ys)
        prog.close(loss_out, (R**2).mean(axis=0).sum(), f"loss {step}")
        prog.close(per_out, (R**2).mean(axis=0), f"per-output loss {step}")
        W_np, b_np = W_np - lr * 2 * xn.T @ R / n, b_np - lr * 2 * R.mean(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_weighted_least_squares(prog):
    """Sample weights as a third input; the loss normalized by their sum."""
    n, d, lr = 20, 4, 0.3
    X, y, s = prog.tensor("X", (n, d)), prog.tensor("y", (n,)), prog.tensor("s", (n,))
    w = prog.shared(np.zeros(d), name="w")
    loss = (s * (X @ w - y) ** 2).sum() / s.sum()
    train = prog.function([X, y, s], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys, ss = prog.data(n, d), prog.data(n), prog.data(n, low=0.1, high=2.0)
    xn, yn, sn = f64(xs, ys, ss)
    w_np = np.zeros(d)
    for step in range(4):
        r = xn @ w_np - yn
        prog.close(train(xs, ys, ss), (sn * r**2).sum() / sn.sum(), f"loss {step}")
        w_np = w_np - lr * 2 * xn.T @ (sn * r) / sn.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
