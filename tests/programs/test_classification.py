"""Classification programs: logistic and softmax regression in the spellings of the
tutorials, trained by hand-written gradient descent and checked against NumPy."""

import numpy as np

import graphad as ga


def f64(*arrays):
    """The NumPy reference runs in float64 from the variant's (possibly float32) data."""
    return [np.asarray(a, dtype="float64") for a in arrays]


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_hot(labels, k):
    return np.eye(k)[labels]


def binary_labels(prog, n):
    return prog.rng.integers(0, 2, size=n).astype(prog.dtype)


def int_labels(prog, n, k):
    return prog.rng.integers(0, k, size=n).astype("int64")


def test_logistic_regression_sigmoid_bce(prog):
    """``sigmoid`` + ``binary_crossentropy``, weights and a 0-d bias, ``.mean()``."""
    n, d, lr = 30, 4, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w, b = prog.shared(w0, name="w"), prog.shared(0.0, name="b")
    p = ga.sigmoid(X @ w + b)
    loss = ga.binary_crossentropy(p, y).mean()
    gw, gb = ga.grad(loss, [w, b])
    train = prog.function([X, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), binary_labels(prog, n)
    xn, yn, w_np = f64(xs, ys, w0)
    b_np = 0.0
    for step in range(5):
        p_np = np_sigmoid(xn @ w_np + b_np)
        loss_np = -(yn * np.log(p_np) + (1 - yn) * np.log(1 - p_np)).mean()
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        dz = (p_np - yn) / n
        w_np, b_np = w_np - lr * xn.T @ dz, b_np - lr * dz.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_logistic_regression_tutorial_spelling(prog):
    """The Theano tutorial's program: ``1 / (1 + exp(-(X w + b)))``, the cross-entropy
    written out, an L2 term, and ``[prediction, cost]`` returned with the updates."""
    n, d, lr = 30, 5, 0.3
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w0 = prog.data(d)
    w, b = prog.shared(w0, name="w"), prog.shared(0.0, name="b")
    p_1 = 1 / (1 + ga.exp(-(X @ w + b)))
    prediction = p_1 > 0.5
    xent = -(y * ga.log(p_1) + (1 - y) * ga.log(1 - p_1))
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = ga.grad(cost, [w, b])
    train = prog.function([X, y], [prediction, cost], updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), binary_labels(prog, n)
    xn, yn, w_np = f64(xs, ys, w0)
    b_np = 0.0
    for step in range(5):
        p_np = np_sigmoid(xn @ w_np + b_np)
        cost_np = -(yn * np.log(p_np) + (1 - yn) * np.log(1 - p_np)).mean()
        cost_np += 0.01 * (w_np**2).sum()
        pred_out, cost_out = train(xs, ys)
        assert np.asarray(pred_out).dtype == bool
        sure = np.abs(p_np - 0.5) > 1e-4  # rounding may flip a prediction at 0.5
        np.testing.assert_array_equal(np.asarray(pred_out)[sure], (p_np > 0.5)[sure])
        prog.close(cost_out, cost_np, f"cost {step}")
        dz = (p_np - yn) / n
        w_np, b_np = w_np - lr * (xn.T @ dz + 0.02 * w_np), b_np - lr * dz.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_logistic_regression_softplus_pm1_labels(prog):
    """Labels in {-1, +1} and the logistic loss ``softplus(-t z)``, ``ga.dot``."""
    n, d, lr = 30, 4, 1.0
    X, t = prog.tensor("X", (n, d)), prog.tensor("t", (n,))
    w = prog.shared(np.zeros(d), name="w")
    loss = ga.mean(ga.softplus(-t * ga.dot(X, w)))
    train = prog.function([X, t], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ts = prog.data(n, d), 2 * binary_labels(prog, n) - 1
    xn, tn = f64(xs, ts)
    w_np = np.zeros(d)
    for step in range(5):
        m = tn * (xn @ w_np)
        prog.close(train(xs, ts), np.log1p(np.exp(-m)).mean(), f"loss {step}")
        w_np = w_np - lr * xn.T @ (-tn * np_sigmoid(-m)) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_logistic_regression_int_labels_cast(prog):
    """Integer 0/1 labels as an int64 input, cast to the float dtype in the graph."""
    n, d, lr = 30, 4, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    w0 = prog.data(d)
    w = prog.shared(w0, name="w")
    p = ga.sigmoid(X.dot(w))
    loss = ga.binary_crossentropy(p, y.astype(prog.dtype)).sum() / n
    train = prog.function([X, y], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys = prog.data(n, d), prog.rng.integers(0, 2, size=n)
    xn, w_np = f64(xs, w0)
    for step in range(5):
        p_np = np_sigmoid(xn @ w_np)
        loss_np = -(ys * np.log(p_np) + (1 - ys) * np.log(1 - p_np)).mean()
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        w_np = w_np - lr * xn.T @ (p_np - ys) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_softmax_regression_categorical_crossentropy(prog):
    """``softmax`` + ``categorical_crossentropy(probs, int_labels)``."""
    n, d, k, lr = 30, 5, 3, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W, b = prog.shared(np.zeros((d, k)), name="W"), prog.shared(np.zeros(k), name="b")
    p = ga.softmax(X @ W + b)
    loss = ga.categorical_crossentropy(p, y).mean()
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, y], loss, updates=[(W, W - lr * gW), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    (xn,) = f64(xs)
    W_np, b_np = np.zeros((d, k)), np.zeros(k)
    for step in range(5):
        p_np = np_softmax(xn @ W_np + b_np)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        dz = (p_np - one_hot(ys, k)) / n
        W_np, b_np = W_np - lr * xn.T @ dz, b_np - lr * dz.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_softmax_regression_manual_softmax_indexing(prog):
    """The softmax written out with ``keepdims`` and the loss picked by advanced
    indexing ``p[arange(n), y]``."""
    n, d, k, lr = 30, 5, 4, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W0 = prog.data(d, k)
    W = prog.shared(W0, name="W")
    z = X @ W
    e = ga.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = -ga.log(p[ga.arange(y.shape[0]), y]).mean()
    train = prog.function([X, y], loss, updates=[(W, W - lr * ga.grad(loss, W))])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    xn, W_np = f64(xs, W0)
    for step in range(5):
        p_np = np_softmax(xn @ W_np)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        W_np = W_np - lr * xn.T @ (p_np - one_hot(ys, k)) / n
        prog.close(W.get_value(), W_np, f"W after step {step}")


def test_softmax_regression_manual_softmax_one_hot(prog):
    """Manual softmax against one-hot targets given as a matrix input,
    ``-(Y * log(p)).sum(axis=1).mean()``, with the bias broadcast over rows."""
    n, d, k, lr = 30, 5, 3, 0.5
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    W, b = prog.shared(np.zeros((d, k)), name="W"), prog.shared(np.zeros(k), name="b")
    z = ga.dot(X, W) + b
    e = ga.exp(z - ga.max(z, axis=1, keepdims=True))
    p = e / ga.sum(e, axis=1, keepdims=True)
    loss = -(Y * ga.log(p)).sum(axis=1).mean()
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, Y], loss, updates=[(W, W - lr * gW), (b, b - lr * gb)])

    labels = int_labels(prog, n, k)
    xs, ys = prog.data(n, d), one_hot(labels, k).astype(prog.dtype)
    (xn,) = f64(xs)
    W_np, b_np = np.zeros((d, k)), np.zeros(k)
    for step in range(5):
        p_np = np_softmax(xn @ W_np + b_np)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), labels]).mean(), f"loss {step}")
        dz = (p_np - ys) / n
        W_np, b_np = W_np - lr * xn.T @ dz, b_np - lr * dz.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_softmax_categorical_crossentropy_matrix_targets(prog):
    """``categorical_crossentropy`` with a matrix of soft target probabilities."""
    n, d, k, lr = 24, 4, 3, 0.5
    X, T = prog.tensor("X", (n, d)), prog.tensor("T", (n, k))
    W0 = prog.data(d, k)
    W = prog.shared(W0, name="W")
    loss = ga.categorical_crossentropy(ga.softmax(X @ W), T).mean()
    train = prog.function([X, T], loss, updates=[(W, W - lr * ga.grad(loss, W))])

    xs = prog.data(n, d)
    ts = np_softmax(2 * prog.data(n, k).astype("float64")).astype(prog.dtype)
    xn, tn, W_np = f64(xs, ts, W0)
    for step in range(5):
        p_np = np_softmax(xn @ W_np)
        prog.close(train(xs, ts), -(tn * np.log(p_np)).sum(axis=1).mean(), f"loss {step}")
        W_np = W_np - lr * xn.T @ (p_np - tn) / n  # the targets' rows sum to 1
        prog.close(W.get_value(), W_np, f"W after step {step}")


def test_softmax_regression_with_prediction_error(prog):
    """Training returns the loss and the error rate
    ``mean(neq(argmax(p, axis=1), y))`` of the parameters before the step."""
    n, d, k, lr = 40, 5, 3, 1.0
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W0 = 0.5 * prog.data(d, k)
    W, b = prog.shared(W0, name="W"), prog.shared(np.zeros(k), name="b")
    p = ga.softmax(X @ W + b)
    loss = ga.categorical_crossentropy(p, y).mean()
    err = ga.mean(ga.neq(ga.argmax(p, axis=1), y))
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, y], [loss, err], updates=[(W, W - lr * gW), (b, b - lr * gb)])
    test = prog.function([X, y], err)

    xs = prog.data(n, d)
    ys = np.argmax(xs[:, :k] + 0.3 * prog.data(n, k), axis=1).astype("int64")
    xn, W_np = f64(xs, W0)
    b_np = np.zeros(k)
    for step in range(4):
        p_np = np_softmax(xn @ W_np + b_np)
        loss_out, err_out = train(xs, ys)
        prog.close(loss_out, -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        prog.close(err_out, np.mean(p_np.argmax(axis=1) != ys), f"error {step}")
        dz = (p_np - one_hot(ys, k)) / n
        W_np, b_np = W_np - lr * xn.T @ dz, b_np - lr * dz.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
    p_np = np_softmax(xn @ W_np + b_np)
    prog.close(test(xs, ys), np.mean(p_np.argmax(axis=1) != ys), "final error")


def test_multinomial_logistic_with_l2(prog):
    """Multinomial regression with an L2 penalty on ``W`` only."""
    n, d, k, lr, lam = 30, 6, 4, 0.5, 0.01
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W0 = prog.data(d, k)
    W, b = prog.shared(W0, name="W"), prog.shared(np.zeros(k), name="b")
    nll = ga.categorical_crossentropy(ga.softmax(X @ W + b), y).mean()
    loss = nll + lam * ga.sum(W**2)
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, y], [loss, nll], updates=[(W, W - lr * gW), (b, b - lr * gb)])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    xn, W_np = f64(xs, W0)
    b_np = np.zeros(k)
    for step in range(4):
        p_np = np_softmax(xn @ W_np + b_np)
        nll_np = -np.log(p_np[np.arange(n), ys]).mean()
        loss_out, nll_out = train(xs, ys)
        prog.close(loss_out, nll_np + lam * (W_np**2).sum(), f"loss {step}")
        prog.close(nll_out, nll_np, f"nll {step}")
        dz = (p_np - one_hot(ys, k)) / n
        W_np = W_np - lr * (xn.T @ dz + 2 * lam * W_np)
        b_np = b_np - lr * dz.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_softmax_regression_log_softmax(prog):
    """``log_softmax`` and the loss picked with ``p[arange, y]``, ``.T`` in the graph
    (the weights stored as (k, d))."""
    n, d, k, lr = 30, 5, 3, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    V0 = prog.data(k, d)
    V = prog.shared(V0, name="V")
    logp = ga.log_softmax(X @ V.T)
    loss = -logp[ga.arange(n), y].sum() / n
    train = prog.function([X, y], loss, updates=[(V, V - lr * ga.grad(loss, V))])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    xn, V_np = f64(xs, V0)
    for step in range(5):
        p_np = np_softmax(xn @ V_np.T)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        V_np = V_np - lr * ((p_np - one_hot(ys, k)) / n).T @ xn
        prog.close(V.get_value(), V_np, f"V after step {step}")


def test_classifier_evaluation_only(prog):
    """An evaluation function (no updates): probabilities, predicted classes,
    accuracy and the per-row loss for a fixed model, on several batches."""
    d, k = 4, 3
    X, y = prog.tensor("X", (12, d)), prog.tensor("y", (12,), dtype="int64")
    W0, b0 = prog.data(d, k), prog.data(k)
    W, b = prog.shared(W0, name="W"), prog.shared(b0, name="b")
    p = ga.softmax(X @ W + b, axis=1)
    pred = p.argmax(axis=1)
    acc = ga.eq(pred, y).mean()
    per_row = ga.categorical_crossentropy(p, y)
    evaluate = prog.function([X, y], [p, pred, acc, per_row])

    W_np, b_np = f64(W0, b0)
    for batch in range(3):
        xs, ys = prog.data(12, d), int_labels(prog, 12, k)
        p_np = np_softmax(xs.astype("float64") @ W_np + b_np)
        p_out, pred_out, acc_out, row_out = evaluate(xs, ys)
        prog.close(p_out, p_np, f"probabilities {batch}")
        np.testing.assert_array_equal(pred_out, p_np.argmax(axis=1))
        prog.close(acc_out, np.mean(p_np.argmax(axis=1) == ys), f"accuracy {batch}")
        prog.close(row_out, -np.log(p_np[np.arange(12), ys]), f"per-row loss {batch}")


def test_logistic_regression_log_sigmoid(prog):
    """The stable spelling ``-(y log_sigmoid(z) + (1 - y) log_sigmoid(-z)).mean()``."""
    n, d, lr = 30, 4, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w = prog.shared(np.zeros(d), name="w")
    z = X @ w
    loss = -(y * ga.log_sigmoid(z) + (1 - y) * ga.log_sigmoid(-z)).mean()
    train = prog.function([X, y], loss, updates=[(w, w - lr * ga.grad(loss, w))])

    xs, ys = prog.data(n, d), binary_labels(prog, n)
    xn, yn = f64(xs, ys)
    w_np = np.zeros(d)
    for step in range(5):
        p_np = np_sigmoid(xn @ w_np)
        loss_np = -(yn * np.log(p_np) + (1 - yn) * np.log(1 - p_np)).mean()
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        w_np = w_np - lr * xn.T @ (p_np - yn) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_softmax_regression_one_hot_in_graph(prog):
    """Integer labels turned into one-hot targets in the graph with ``ga.one_hot``."""
    n, d, k, lr = 30, 5, 3, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W = prog.shared(np.zeros((d, k)), name="W")
    p = ga.softmax(X @ W)
    loss = -(ga.one_hot(y, k) * ga.log(p)).sum(axis=1).mean()
    train = prog.function([X, y], loss, updates=[(W, W - lr * ga.grad(loss, W))])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    (xn,) = f64(xs)
    W_np = np.zeros((d, k))
    for step in range(5):
        p_np = np_softmax(xn @ W_np)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        W_np = W_np - lr * xn.T @ (p_np - one_hot(ys, k)) / n
        prog.close(W.get_value(), W_np, f"W after step {step}")


def test_softmax_regression_centered_logits(prog):
    """Logits centered per row (``z - z.mean(axis=1, keepdims=True)``, a common
    identifiability fix) before ``softmax``; centering does not change the
    probabilities, and the gradient through the mean cancels row by row."""
    n, d, k, lr = 30, 5, 4, 0.5
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W0 = prog.data(d, k)
    W = prog.shared(W0, name="W")
    z = X @ W
    p = ga.softmax(z - z.mean(axis=1, keepdims=True))
    loss = ga.categorical_crossentropy(p, y).mean()
    train = prog.function([X, y], loss, updates=[(W, W - lr * ga.grad(loss, W))])

    xs, ys = prog.data(n, d), int_labels(prog, n, k)
    xn, W_np = f64(xs, W0)
    for step in range(5):
        p_np = np_softmax(xn @ W_np)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(n), ys]).mean(), f"loss {step}")
        dz = (p_np - one_hot(ys, k)) / n  # each row sums to 0: centering passes it through
        W_np = W_np - lr * xn.T @ (dz - dz.mean(axis=1, keepdims=True))
        prog.close(W.get_value(), W_np, f"W after step {step}")
