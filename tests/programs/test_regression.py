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
