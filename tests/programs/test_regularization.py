"""Regularization programs: weight decay in the loss and in the update, L1/elastic
net, gradient clipping (elementwise, by global norm, ga.grad_clip), a max-norm
constraint as an update, dropout with the mask as an input, and an early-stopping
loop with train/validate functions sharing the weights."""

import numpy as np

import graphad as ga


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _labels(xs, k):
    """Labels from a fixed linear rule, a few flipped (not separable)."""
    d = xs.shape[1]
    rule = np.cos(np.arange(d * k).reshape(d, k))
    y = np.argmax(xs @ rule, axis=1)
    y[::7] = (y[::7] + 1) % k
    return y


def test_l2_weight_decay_in_loss(prog):
    """Ridge-regularized linear regression: lam * |w|^2 added to the MSE, the bias
    not decayed, SGD on both."""
    X, y = prog.tensor("X", (20, 4)), prog.tensor("y", (20,))
    w, b = prog.shared(np.ones(4), "w"), prog.shared(0.0, "b")
    lam, lr = 0.1, 0.2
    loss = ((X @ w + b - y) ** 2).mean() + lam * (w**2).sum()
    gw, gb = ga.grad(loss, [w, b])
    train = prog.function([X, y], loss, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = prog.data(20, 4), prog.data(20)
    x64 = xs.astype("float64")
    w_np, b_np = np.ones(4), 0.0
    for step in range(5):
        r = x64 @ w_np + b_np - ys
        loss_np = (r**2).mean() + lam * (w_np**2).sum()
        gw_np = 2 * x64.T @ r / 20 + 2 * lam * w_np
        gb_np = 2 * r.mean()
        prog.close(train(xs, ys), loss_np, f"loss at step {step}")
        w_np, b_np = w_np - lr * gw_np, b_np - lr * gb_np
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_decoupled_weight_decay_in_update(prog):
    """Softmax regression whose decay is in the update (w <- (1 - lr*lam) w - lr g,
    decoupled as in AdamW), integer labels into categorical_crossentropy."""
    n, d, k, lr, lam = 21, 4, 3, 0.5, 0.05
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,), dtype="int64")
    W, b = prog.shared(np.zeros((d, k)), "W"), prog.shared(np.zeros(k), "b")
    p = ga.softmax(X @ W + b)
    loss = ga.categorical_crossentropy(p, y).mean()
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function(
        [X, y], [loss, p], updates=[(W, (1 - lr * lam) * W - lr * gW), (b, b - lr * gb)]
    )

    xs = prog.data(n, d)
    ys = _labels(xs.astype("float64"), k)
    x64 = xs.astype("float64")
    W_np, b_np = np.zeros((d, k)), np.zeros(k)
    for step in range(5):
        P = _softmax(x64 @ W_np + b_np)
        loss_np = -np.log(P[np.arange(n), ys]).mean()
        G = (P - np.eye(k)[ys]) / n
        out_loss, out_p = train(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(out_p, P, f"probabilities at step {step}")
        W_np = (1 - lr * lam) * W_np - lr * x64.T @ G
        b_np = b_np - lr * G.sum(axis=0)
        prog.close(W.get_value(), W_np, f"W after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_elastic_net_penalty(prog):
    """Elastic net: l1 |w|_1 + l2 |w|^2 on a logistic loss (softplus form); abs has the
    sign subgradient (w never exactly 0 here)."""
    X, y = prog.tensor("X", (24, 5)), prog.tensor("y", (24,))
    w = prog.shared([0.5, -0.4, 0.3, -0.2, 0.6], "w")
    l1, l2, lr = 0.02, 0.05, 0.3
    z = X.dot(w)
    loss = ga.mean(ga.softplus(z) - y * z) + l1 * ga.abs(w).sum() + l2 * ga.sqr(w).sum()
    g = ga.grad(loss, w)
    train = prog.function([X, y], [loss, g], updates=[(w, w - lr * g)])

    xs = prog.data(24, 5)
    ys = (xs[:, 0] - xs[:, 2] > 0).astype(prog.dtype)
    x64 = xs.astype("float64")
    w_np = np.array([0.5, -0.4, 0.3, -0.2, 0.6])
    for step in range(5):
        z_np = x64 @ w_np
        loss_np = (np.logaddexp(0, z_np) - ys * z_np).mean()
        loss_np += l1 * np.abs(w_np).sum() + l2 * (w_np**2).sum()
        g_np = x64.T @ (1 / (1 + np.exp(-z_np)) - ys) / 24 + l1 * np.sign(w_np) + 2 * l2 * w_np
        out_loss, out_g = train(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(out_g, g_np, f"gradient at step {step}")
        w_np = w_np - lr * g_np
        prog.close(w.get_value(), w_np, f"w after step {step}")


def _mlp_numpy(x64, W1, b1, W2, b2, y, mask=None):
    """Two-layer tanh MLP with MSE, by hand: loss and gradients."""
    a = np.tanh(x64 @ W1 + b1)
    h = a if mask is None else a * mask
    out = h @ W2 + b2
    loss = ((out - y) ** 2).mean()
    dout = 2 * (out - y) / out.size
    dh = dout @ W2.T
    da = dh if mask is None else dh * mask
    dz = da * (1 - a**2)
    return loss, [x64.T @ dz, dz.sum(axis=0), h.T @ dout, dout.sum(axis=0)]


def _mlp_params(prog, d, nh, k, seed=0):
    rng = np.random.default_rng(seed)
    values = [
        rng.uniform(-1, 1, (d, nh)),
        rng.uniform(-0.1, 0.1, nh),
        rng.uniform(-1, 1, (nh, k)),
        np.zeros(k),
    ]
    names = ["W1", "b1", "W2", "b2"]
    return values, [prog.shared(v, n) for v, n in zip(values, names)]


def test_elementwise_gradient_clipping(prog):
    """Each gradient entry clipped to [-c, c] with ga.clip before the SGD step; c is
    small enough that some entries clip and some do not."""
    n, d, nh, k, lr, c = 16, 4, 5, 2, 0.5, 0.05
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    values, params = _mlp_params(prog, d, nh, k)
    W1, b1, W2, b2 = params
    out = ga.tanh(X @ W1 + b1) @ W2 + b2
    loss = ((out - Y) ** 2).mean()
    grads = ga.grad(loss, params)
    clipped = [ga.clip(g, -c, c) for g in grads]
    train = prog.function(
        [X, Y], [loss] + clipped, updates=[(p, p - lr * g) for p, g in zip(params, clipped)]
    )

    xs, ys = prog.data(n, d), prog.data(n, k)
    x64 = xs.astype("float64")
    np_params = [v.copy() for v in values]
    saw_clipped = saw_free = False
    for step in range(4):
        loss_np, grads_np = _mlp_numpy(x64, *np_params, ys)
        clipped_np = [np.clip(g, -c, c) for g in grads_np]
        saw_clipped |= any((np.abs(g) > c).any() for g in grads_np)
        saw_free |= any((np.abs(g) < c).any() for g in grads_np)
        results = train(xs, ys)
        prog.close(results[0], loss_np, f"loss at step {step}")
        for p, g_out, g_np in zip(params, results[1:], clipped_np):
            prog.close(g_out, g_np, f"clipped gradient of {p.name} at step {step}")
        np_params = [p - lr * g for p, g in zip(np_params, clipped_np)]
        for p, p_np in zip(params, np_params):
            prog.close(p.get_value(), p_np, f"{p.name} after step {step}")
    assert saw_clipped and saw_free


def test_global_norm_gradient_clipping(prog):
    """Clipping by the global norm over all parameters' gradients (as in
    clip_grad_norm_): every gradient scaled by min(1, max_norm / norm)."""
    n, d, nh, k, lr, max_norm = 16, 4, 5, 2, 0.5, 0.3
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    values, params = _mlp_params(prog, d, nh, k, seed=1)
    h = ga.tanh(ga.dot(X, params[0]) + params[1])
    out = ga.dot(h, params[2]) + params[3]
    loss = ga.mean(ga.square(out - Y))
    grads = ga.grad(loss, params)
    norm = ga.sqrt(sum((g**2).sum() for g in grads))
    scale = ga.minimum(1.0, max_norm / norm)
    train = prog.function(
        [X, Y], [loss, norm], updates=[(p, p - lr * scale * g) for p, g in zip(params, grads)]
    )

    xs, ys = prog.data(n, d), 3 * prog.data(n, k)
    x64 = xs.astype("float64")
    np_params = [v.copy() for v in values]
    for step in range(4):
        loss_np, grads_np = _mlp_numpy(x64, *np_params, ys)
        norm_np = np.sqrt(sum((g**2).sum() for g in grads_np))
        s = min(1.0, max_norm / norm_np)
        out_loss, out_norm = train(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(out_norm, norm_np, f"global gradient norm at step {step}")
        np_params = [p - lr * s * g for p, g in zip(np_params, grads_np)]
        for p, p_np in zip(params, np_params):
            prog.close(p.get_value(), p_np, f"{p.name} after step {step}")
    assert norm_np > max_norm  # the clipping was active


def test_grad_clip_on_the_backward_path(prog):
    """ga.grad_clip(z, lo, hi) leaves the forward value and clips the gradient that
    flows back through z (Theano's gradient.grad_clip)."""
    X, y = prog.tensor("X", (12, 3)), prog.tensor("y", (12,))
    w = prog.shared([1.0, -2.0, 0.5], "w")
    z = ga.grad_clip(X @ w, -0.05, 0.05)
    loss = ((z - y) ** 2).mean()
    g = ga.grad(loss, w)
    train = prog.function([X, y], [loss, g], updates=[(w, w - 0.5 * g)])

    xs, ys = prog.data(12, 3), prog.data(12)
    x64 = xs.astype("float64")
    w_np = np.array([1.0, -2.0, 0.5])
    for step in range(4):
        r = x64 @ w_np - ys
        dz = np.clip(2 * r / 12, -0.05, 0.05)
        out_loss, out_g = train(xs, ys)
        prog.close(out_loss, (r**2).mean(), f"loss at step {step}")
        prog.close(out_g, x64.T @ dz, f"gradient at step {step}")
        w_np = w_np - 0.5 * x64.T @ dz
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_max_norm_constraint_on_rows(prog):
    """SGD followed by a max-norm constraint on each row of W, in the update itself:
    rows longer than c are rescaled to length c (the Theano/Keras spelling with
    clip and an epsilon)."""
    n, d, k, lr, c, eps = 20, 4, 3, 1.0, 0.6, 1e-7
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    W = prog.shared(np.full((d, k), 0.3), "W")
    loss = ((X @ W - Y) ** 2).sum(axis=1).mean()
    stepped = W - lr * ga.grad(loss, W)
    norms = ga.sqrt((stepped**2).sum(axis=1, keepdims=True))
    desired = ga.clip(norms, 0, c)
    constrained = stepped * (desired / (eps + norms))
    train = prog.function([X, Y], [loss, norms], updates=[(W, constrained)])

    xs, ys = prog.data(n, d), 2 * prog.data(n, k)
    x64 = xs.astype("float64")
    W_np = np.full((d, k), 0.3)
    for step in range(4):
        r = x64 @ W_np - ys
        loss_np = (r**2).sum(axis=1).mean()
        s = W_np - lr * 2 * x64.T @ r / n
        nrm = np.sqrt((s**2).sum(axis=1, keepdims=True))
        out_loss, out_norms = train(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(out_norms, nrm, f"row norms at step {step}")
        W_np = s * (np.clip(nrm, 0, c) / (eps + nrm))
        prog.close(W.get_value(), W_np, f"W after step {step}")
        assert np.all(np.sqrt((W.get_value() ** 2).sum(axis=1)) <= c * (1 + 1e-5))


def test_dropout_mask_as_input(prog):
    """Inverted dropout on the hidden layer: the 0/1 mask is drawn in NumPy and
    passed in; the kept units are scaled by 1/(1 - p) in the graph."""
    n, d, nh, k, lr, p_drop = 16, 4, 6, 2, 0.3, 0.5
    X, Y, mask = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k)), prog.tensor("mask", (n, nh))
    values, params = _mlp_params(prog, d, nh, k, seed=2)
    W1, b1, W2, b2 = params
    h = ga.tanh(X @ W1 + b1) * mask / (1 - p_drop)
    out = h @ W2 + b2
    loss = ((out - Y) ** 2).mean()
    grads = ga.grad(loss, params)
    train = prog.function(
        [X, Y, mask], loss, updates=[(p, p - lr * g) for p, g in zip(params, grads)]
    )

    xs, ys = prog.data(n, d), prog.data(n, k)
    x64 = xs.astype("float64")
    rng = np.random.default_rng(5)
    np_params = [v.copy() for v in values]
    for step in range(4):
        m = (rng.uniform(size=(n, nh)) > p_drop).astype(prog.dtype)
        loss_np, grads_np = _mlp_numpy(x64, *np_params, ys, mask=m / (1 - p_drop))
        prog.close(train(xs, ys, m), loss_np, f"loss at step {step}")
        np_params = [p - lr * g for p, g in zip(np_params, grads_np)]
        for p, p_np in zip(params, np_params):
            prog.close(p.get_value(), p_np, f"{p.name} after step {step}")


def test_dropout_on_inputs_and_hidden_with_switch(prog):
    """Dropout on the inputs (mask * x / keep) and on the hidden units through
    ga.switch(mask, h / keep, 0), masks given as bool inputs."""
    n, d, nh, k, lr, keep = 12, 5, 4, 1, 0.2, 0.8
    X, Y = prog.tensor("X", (n, d)), prog.tensor("Y", (n, k))
    m_in, m_h = prog.tensor("m_in", (n, d), "bool"), prog.tensor("m_h", (n, nh), "bool")
    values, params = _mlp_params(prog, d, nh, k, seed=3)
    W1, b1, W2, b2 = params
    xd = ga.switch(m_in, X / keep, 0)
    h = ga.switch(m_h, ga.tanh(xd @ W1 + b1) / keep, 0)
    loss = ((h @ W2 + b2 - Y) ** 2).mean()
    grads = ga.grad(loss, params)
    train = prog.function(
        [X, Y, m_in, m_h], loss, updates=[(p, p - lr * g) for p, g in zip(params, grads)]
    )

    xs, ys = prog.data(n, d), prog.data(n, k)
    rng = np.random.default_rng(6)
    np_params = [v.copy() for v in values]
    for step in range(4):
        mi, mh = rng.uniform(size=(n, d)) < keep, rng.uniform(size=(n, nh)) < keep
        x_drop = np.where(mi, xs.astype("float64") / keep, 0)
        loss_np, grads_np = _mlp_numpy(x_drop, *np_params, ys, mask=mh / keep)
        prog.close(train(xs, ys, mi, mh), loss_np, f"loss at step {step}")
        np_params = [p - lr * g for p, g in zip(np_params, grads_np)]
        for p, p_np in zip(params, np_params):
            prog.close(p.get_value(), p_np, f"{p.name} after step {step}")


def test_early_stopping_keeps_best_parameters(prog):
    """Early stopping: a train function (SGD updates) and a validate function share
    W and b; after each epoch the best parameters so far are saved with get_value
    and restored with set_value at the end. The large learning rate makes the
    validation loss go up after a few epochs, so the saved copy matters."""
    n, d, lr = 16, 3, 0.9
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    W, b = prog.shared(np.zeros(d), "W"), prog.shared(0.0, "b")
    loss = ((X @ W + b - y) ** 2).mean()
    gW, gb = ga.grad(loss, [W, b])
    train = prog.function([X, y], loss, updates=[(W, W - lr * gW), (b, b - lr * gb)])
    validate = prog.function([X, y], loss)

    rng = np.random.default_rng(4)
    true_w = np.array([1.0, -1.0, 0.5])
    xt = prog.data(n, d)
    yt = (xt @ true_w + 0.8 * rng.standard_normal(n)).astype(prog.dtype)
    xv = prog.data(n, d)
    yv = (xv @ true_w).astype(prog.dtype)
    xt64, xv64 = xt.astype("float64"), xv.astype("float64")

    W_np, b_np = np.zeros(d), 0.0
    best, best_np = np.inf, None
    best_ga = None
    history = []
    for epoch in range(5):
        r = xt64 @ W_np + b_np - yt
        prog.close(train(xt, yt), (r**2).mean(), f"training loss at epoch {epoch}")
        W_np, b_np = W_np - lr * 2 * xt64.T @ r / n, b_np - lr * 2 * r.mean()
        v_np = ((xv64 @ W_np + b_np - yv) ** 2).mean()
        v = validate(xv, yv)
        prog.close(v, v_np, f"validation loss at epoch {epoch}")
        prog.close(W.get_value(), W_np, f"W after epoch {epoch}")
        history.append(v_np)
        if v_np < best:
            best, best_np = v_np, (W_np.copy(), b_np)
            best_ga = (W.get_value(), b.get_value())
    assert np.argmin(history) < len(history) - 1, history  # it did overfit/diverge

    W.set_value(best_ga[0])
    b.set_value(best_ga[1])
    prog.close(W.get_value(), best_np[0], "restored W")
    prog.close(b.get_value(), best_np[1], "restored b")
    prog.close(validate(xv, yv), best, "validation loss of the restored parameters")
