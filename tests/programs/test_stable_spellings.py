"""Programs that write sigmoid, softmax, softplus and log(1 - exp(-u)) out by hand, as
tutorials and papers do, trained by gradient descent and checked against NumPy's
stable formulas.

Each program runs twice: under the ``prog`` fixture (every mode and variant) on data
where the hand-written form is still accurate, since FAST_COMPILE computes it as
written; and in FAST_RUN and DEBUG, whose stabilize pass turns the spellings into the
stable functions, at weights or rates where the written form overflows to inf or NaN.
"""

import numpy as np
import pytest

import graphad as ga
from tests.programs.conftest import VARIANTS, Program

STABILIZING_MODES = ("FAST_RUN", "DEBUG")


def f64(*arrays):
    """The NumPy reference runs in float64 from the variant's (possibly float32) data."""
    return [np.asarray(a, dtype="float64") for a in arrays]


def np_softplus(z):
    return np.logaddexp(0, z)


def np_sigmoid(z):
    return np.exp(-np_softplus(-z))


def np_log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_log1mexp(x):
    """log(1 - exp(x)) for x <= 0, accurate at both ends."""
    with np.errstate(divide="ignore"):
        return np.where(x > -np.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def stabilizing(mode_dtype_static):
    """A Program for a mode that stabilizes (the large-value runs)."""
    return Program(*mode_dtype_static)


LARGE = pytest.mark.parametrize(
    "mode_dtype_static",
    [(m, d, s) for d, s in VARIANTS for m in STABILIZING_MODES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)


# --- logistic regression, the Theano tutorial's spelling -------------------------------------
def logistic_regression_tutorial(prog, xs, ys, w0, steps=5, lr=0.3):
    """``p_1 = 1 / (1 + exp(-dot(x, w) - b))``, the cross-entropy written out with an L2
    term, ``[prediction, cost]`` returned and the updates applied."""
    n, d = xs.shape
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w, b = prog.shared(w0, name="w"), prog.shared(0.0, name="b")
    p_1 = 1 / (1 + ga.exp(-ga.dot(X, w) - b))
    prediction = p_1 > 0.5
    xent = -y * ga.log(p_1) - (1 - y) * ga.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ga.grad(cost, [w, b])
    train = prog.function([X, y], [prediction, cost], updates=[(w, w - lr * gw), (b, b - lr * gb)])
    if prog.mode != "FAST_COMPILE":
        assert train.maker.rewrites.fired("log_sigmoid") >= 1

    xn, yn, w_np = f64(xs, ys, w0)
    b_np = 0.0
    for step in range(steps):
        z = xn @ w_np + b_np
        cost_np = (yn * np_softplus(-z) + (1 - yn) * np_softplus(z)).mean()
        cost_np += 0.01 * (w_np**2).sum()
        pred_out, cost_out = train(xs, ys)
        sure = np.abs(z) > 1e-3  # rounding may flip a prediction at p = 0.5
        np.testing.assert_array_equal(np.asarray(pred_out)[sure], (z > 0)[sure])
        prog.close(cost_out, cost_np, f"cost {step}")
        dz = (np_sigmoid(z) - yn) / n
        w_np, b_np = w_np - lr * (xn.T @ dz + 0.02 * w_np), b_np - lr * dz.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def binary_labels(prog, n):
    return prog.rng.integers(0, 2, size=n).astype(prog.dtype)


def test_logistic_regression_tutorial(prog):
    xs, ys = prog.data(30, 5), binary_labels(prog, 30)
    logistic_regression_tutorial(prog, xs, ys, prog.data(5))


@LARGE
def test_logistic_regression_tutorial_at_large_weights(mode_dtype_static):
    """Logits up to ±1500: the written p_1 is exactly 0 or 1, its log -inf."""
    prog = stabilizing(mode_dtype_static)
    xs, ys = prog.data(30, 5), binary_labels(prog, 30)
    logistic_regression_tutorial(prog, xs, ys, 300 * prog.data(5))


# --- softmax regression with the softmax written out ------------------------------------------
def softmax_regression(prog, xs, labels, W0, steps=5, lr=0.5):
    """The deep-learning tutorial's ``LogisticRegression`` with ``exp(z) / sum(exp(z))``
    for its softmax: the mean negative log-likelihood of the labels, and argmax
    predictions."""
    (n, d), k = xs.shape, W0.shape[1]
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W, b = prog.shared(W0, name="W"), prog.shared(np.zeros(k), name="b")
    e = ga.exp(ga.dot(X, W) + b)
    p_y_given_x = e / e.sum(axis=1, keepdims=True)
    nll = -ga.mean(ga.log(p_y_given_x)[ga.arange(y.shape[0]), y])
    y_pred = ga.argmax(p_y_given_x, axis=1)
    gW, gb = ga.grad(nll, [W, b])
    train = prog.function([X, y], [nll, y_pred], updates=[(W, W - lr * gW), (b, b - lr * gb)])
    if prog.mode != "FAST_COMPILE":
        assert train.maker.rewrites.fired("log_softmax") >= 1

    xn, W_np = f64(xs, W0)
    b_np = np.zeros(k)
    rows = np.arange(n)
    for step in range(steps):
        z = xn @ W_np + b_np
        logp = np_log_softmax(z)
        nll_out, pred_out = train(xs, labels)
        prog.close(nll_out, -logp[rows, labels].mean(), f"nll {step}")
        top2 = np.sort(z, axis=1)[:, -2:]
        sure = top2[:, 1] - top2[:, 0] > 1e-3  # near-ties may round either way
        np.testing.assert_array_equal(np.asarray(pred_out)[sure], z.argmax(axis=1)[sure])
        dz = (np.exp(logp) - np.eye(k)[labels]) / n
        W_np, b_np = W_np - lr * xn.T @ dz, b_np - lr * dz.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_softmax_regression_manual_softmax(prog):
    xs, labels = prog.data(30, 5), prog.rng.integers(0, 3, size=30)
    softmax_regression(prog, xs, labels, prog.data(5, 3))


@LARGE
def test_softmax_regression_manual_softmax_at_large_logits(mode_dtype_static):
    """Logits in the hundreds: the written exp(z) overflows in float32 and float64."""
    prog = stabilizing(mode_dtype_static)
    xs, labels = prog.data(30, 5), prog.rng.integers(0, 3, size=30)
    softmax_regression(prog, xs, labels, 400 * prog.data(5, 3))


# --- softplus written out in a loss -------------------------------------------------------------
def logistic_loss_by_hand(prog, xs, ts, w0, steps=5, lr=1.0):
    """Labels in {-1, +1} and the logistic loss ``log(1 + exp(-t z))`` written out."""
    n, d = xs.shape
    X, t = prog.tensor("X", (n, d)), prog.tensor("t", (n,))
    w = prog.shared(w0, name="w")
    loss = ga.mean(ga.log(1 + ga.exp(-t * ga.dot(X, w))))
    train = prog.function([X, t], loss, updates=[(w, w - lr * ga.grad(loss, w))])
    if prog.mode != "FAST_COMPILE":
        assert train.maker.rewrites.fired("softplus") >= 1

    xn, tn, w_np = f64(xs, ts, w0)
    for step in range(steps):
        margin = tn * (xn @ w_np)
        prog.close(train(xs, ts), np_softplus(-margin).mean(), f"loss {step}")
        w_np = w_np - lr * xn.T @ (-tn * np_sigmoid(-margin)) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def signed_labels(prog, n):
    return (2 * prog.rng.integers(0, 2, size=n) - 1).astype(prog.dtype)


def test_logistic_loss_softplus_by_hand(prog):
    xs, ts = prog.data(30, 4), signed_labels(prog, 30)
    logistic_loss_by_hand(prog, xs, ts, prog.data(4))


@LARGE
def test_logistic_loss_softplus_by_hand_at_large_margins(mode_dtype_static):
    """Margins up to ±1200: the written log(1 + exp(-m)) is inf for the wrong side."""
    prog = stabilizing(mode_dtype_static)
    xs, ts = prog.data(30, 4), signed_labels(prog, 30)
    logistic_loss_by_hand(prog, xs, ts, 300 * prog.data(4))


# --- log(1 - exp(-u)) in a likelihood ------------------------------------------------------------
def censored_exponential(prog, times, failed, theta0, steps=5, lr=0.5):
    """Interval-censored failure times: each unit is inspected once, at time t, and found
    failed or not; with an exponential rate exp(theta), P(failed by t) = 1 - exp(-rate t).
    The negative log-likelihood written out, and gradient descent on theta."""
    (n,) = times.shape
    t, d = prog.tensor("t", (n,)), prog.tensor("d", (n,))
    theta = prog.shared(theta0, name="theta")
    u = ga.exp(theta) * t
    loglik = d * ga.log(1 - ga.exp(-u)) + (1 - d) * -u
    loss = -loglik.mean()
    train = prog.function([t, d], loss, updates=[(theta, theta - lr * ga.grad(loss, theta))])
    if prog.mode != "FAST_COMPILE":
        assert train.maker.rewrites.fired("log1mexp") >= 1

    tn, dn = f64(times, failed)
    theta_np = float(theta0)
    for step in range(steps):
        u_np = np.exp(theta_np) * tn
        loss_np = -(dn * np_log1mexp(-u_np) - (1 - dn) * u_np).mean()
        prog.close(train(times, failed), loss_np, f"loss {step}")
        grad_np = -(dn * u_np / np.expm1(u_np) - (1 - dn) * u_np).mean()
        theta_np -= lr * grad_np
        prog.close(theta.get_value(), theta_np, f"theta after step {step}")


def test_censored_exponential(prog):
    times, failed = prog.data(40, low=0.1, high=2.0), binary_labels(prog, 40)
    censored_exponential(prog, times, failed, 0.0)


@LARGE
def test_censored_exponential_at_tiny_rates(mode_dtype_static):
    """A rate of e^-46 ≈ 1e-20: the written 1 - exp(-u) rounds to 0, its log to -inf,
    where log(u) ≈ -46 is the answer."""
    prog = stabilizing(mode_dtype_static)
    times, failed = prog.data(40, low=0.1, high=2.0), binary_labels(prog, 40)
    censored_exponential(prog, times, failed, -46.0)
