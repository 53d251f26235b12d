"""Multi-layer perceptrons trained with hand-written optimizers (SGD, momentum,
Nesterov, RMSProp, Adam, Adagrad), checked step by step against NumPy backprop."""

import numpy as np

import graphad as ga

N, D, H, K = 24, 5, 8, 3  # rows, features, hidden units, classes


def f64(*arrays):
    """The NumPy reference runs in float64 from the variant's (possibly float32) data."""
    return [np.asarray(a, dtype="float64") for a in arrays]


def np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {  # name: (f, f')
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky": (lambda z: np.maximum(z, 0.01 * z), lambda z: np.where(z > 0, 1.0, 0.01)),
}


def np_mlp_classifier(params, xs, ys, act="tanh"):
    """Loss and gradients of ``softmax(act(X W1 + b1) W2 + b2)`` with mean cross-
    entropy against integer labels, by hand-written backprop."""
    W1, b1, W2, b2 = params
    f, df = ACTIVATIONS[act]
    z1 = xs @ W1 + b1
    h = f(z1)
    p = np_softmax(h @ W2 + b2)
    n = len(ys)
    loss = -np.log(p[np.arange(n), ys]).mean()
    dz2 = (p - np.eye(p.shape[1])[ys]) / n
    dh = dz2 @ W2.T
    dz1 = dh * df(z1)
    return loss, [xs.T @ dz1, dz1.sum(axis=0), h.T @ dz2, dz2.sum(axis=0)], p


def np_mlp_regressor(params, xs, ys, act="tanh"):
    """Loss and gradients of ``act(X W1 + b1) w2 + b2`` with MSE."""
    W1, b1, w2, b2 = params
    f, df = ACTIVATIONS[act]
    z1 = xs @ W1 + b1
    h = f(z1)
    r = h @ w2 + b2 - ys
    loss = (r**2).mean()
    dout = 2 * r / len(ys)
    dz1 = np.outer(dout, w2) * df(z1)
    return loss, [xs.T @ dz1, dz1.sum(axis=0), h.T @ dout, dout.sum()]


def init(prog, k=K):
    """Initial (W1, b1, W2, b2) of the variant's dtype; ``k=None`` for one output."""
    out_shape = (H,) if k is None else (H, k)
    return [
        prog.data(D, H) / np.sqrt(D),
        0.1 * prog.data(H),
        prog.data(*out_shape) / np.sqrt(H),
        0.1 * prog.data(*out_shape[1:]),
    ]


def classification_data(prog, n=N):
    xs = prog.data(n, D)
    ys = np.argmax(xs[:, :K] + 0.5 * prog.data(n, K), axis=1).astype("int64")
    return xs, ys


def check_params(prog, shared, expected, step):
    for p, e, name in zip(shared, expected, ("W1", "b1", "W2", "b2", "W3", "b3")):
        prog.close(p.get_value(), e, f"{name} after step {step}")


def test_mlp_tanh_sgd(prog):
    """One tanh hidden layer, softmax output, plain SGD over a list of params."""
    lr = 0.5
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v, name=n) for v, n in zip(values, ("W1", "b1", "W2", "b2"))]
    W1, b1, W2, b2 = params
    h = ga.tanh(X @ W1 + b1)
    p = ga.softmax(h @ W2 + b2)
    loss = ga.categorical_crossentropy(p, y).mean()
    grads = ga.grad(loss, params)
    train = prog.function([X, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, grads)])

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref = f64(*values)
    for step in range(4):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "tanh")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_relu_sgd_regression(prog):
    """A ReLU hidden layer (``ga.relu``) and one linear output trained on MSE."""
    lr = 0.2
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,))
    values = init(prog, k=None)
    W1, b1, w2, b2 = params = [prog.shared(v) for v in values]
    out = ga.relu(X.dot(W1) + b1).dot(w2) + b2
    loss = ((out - y) ** 2).mean()
    grads = ga.grad(loss, params)
    train = prog.function([X, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, grads)])

    xs = prog.data(N, D)
    ys = np.sin(2 * xs[:, 0]) + xs[:, 1] * xs[:, 2]
    (xn, yn) = f64(xs, ys)
    ref = f64(*values)
    for step in range(4):
        loss_np, grads_np = np_mlp_regressor(ref, xn, yn, "relu")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_leaky_relu_maximum(prog):
    """Leaky ReLU written ``ga.maximum(z, 0.01 * z)``."""
    lr = 0.5
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    W1, b1, W2, b2 = params = [prog.shared(v) for v in values]
    z = X @ W1 + b1
    p = ga.softmax(ga.maximum(z, 0.01 * z) @ W2 + b2)
    loss = ga.categorical_crossentropy(p, y).mean()
    grads = ga.grad(loss, params)
    train = prog.function([X, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, grads)])

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref = f64(*values)
    for step in range(4):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "leaky")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_leaky_relu_switch(prog):
    """Leaky ReLU written ``ga.switch(z > 0, z, 0.01 * z)``, regression output."""
    lr = 0.2
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,))
    values = init(prog, k=None)
    W1, b1, w2, b2 = params = [prog.shared(v) for v in values]
    z = X @ W1 + b1
    h = ga.switch(z > 0, z, 0.01 * z)
    loss = ((ga.dot(h, w2) + b2 - y) ** 2).sum() / N
    grads = ga.grad(loss, params)
    train = prog.function([X, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, grads)])

    xs = prog.data(N, D)
    ys = np.abs(xs[:, 0]) - xs[:, 3]
    (xn, yn) = f64(xs, ys)
    ref = f64(*values)
    for step in range(4):
        loss_np, grads_np = np_mlp_regressor(ref, xn, yn, "leaky")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_momentum(prog):
    """Classical momentum: a velocity shared variable per parameter,
    ``v <- mu v - lr g``, ``p <- p + v_new``."""
    lr, mu = 0.3, 0.9
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v) for v in values]
    velocities = [prog.shared(np.zeros_like(v)) for v in values]
    W1, b1, W2, b2 = params
    loss = ga.categorical_crossentropy(ga.softmax(ga.tanh(X @ W1 + b1) @ W2 + b2), y).mean()
    updates = []
    for q, v, g in zip(params, velocities, ga.grad(loss, params)):
        v_new = mu * v - lr * g
        updates += [(v, v_new), (q, q + v_new)]
    train = prog.function([X, y], loss, updates=updates)

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref, vel = f64(*values), [np.zeros(v.shape) for v in values]
    for step in range(5):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "tanh")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        vel = [mu * v - lr * g for v, g in zip(vel, grads_np)]
        ref = [q + v for q, v in zip(ref, vel)]
        check_params(prog, params, ref, step)
        prog.close(velocities[0].get_value(), vel[0], f"velocity of W1 after step {step}")


def test_mlp_nesterov(prog):
    """Nesterov momentum in the Sutskever form used by Lasagne:
    ``v' = mu v - lr g``, ``p' = p + mu v' - lr g``."""
    lr, mu = 0.3, 0.9
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v) for v in values]
    velocities = [prog.shared(np.zeros_like(v)) for v in values]
    W1, b1, W2, b2 = params
    loss = ga.categorical_crossentropy(ga.softmax(ga.relu(X @ W1 + b1) @ W2 + b2), y).mean()
    updates = []
    for q, v, g in zip(params, velocities, ga.grad(loss, params)):
        v_new = mu * v - lr * g
        updates += [(v, v_new), (q, q + mu * v_new - lr * g)]
    train = prog.function([X, y], loss, updates=updates)

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref, vel = f64(*values), [np.zeros(v.shape) for v in values]
    for step in range(5):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "relu")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        vel = [mu * v - lr * g for v, g in zip(vel, grads_np)]
        ref = [q + mu * v - lr * g for q, v, g in zip(ref, vel, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_rmsprop(prog):
    """RMSProp: a running mean of squared gradients per parameter."""
    lr, rho, eps = 0.01, 0.9, 1e-6
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,))
    values = init(prog, k=None)
    params = [prog.shared(v) for v in values]
    accs = [prog.shared(np.zeros_like(v)) for v in values]
    W1, b1, w2, b2 = params
    loss = ((ga.tanh(X @ W1 + b1) @ w2 + b2 - y) ** 2).mean()
    updates = []
    for q, a, g in zip(params, accs, ga.grad(loss, params)):
        a_new = rho * a + (1 - rho) * g**2
        updates += [(a, a_new), (q, q - lr * g / (ga.sqrt(a_new) + eps))]
    train = prog.function([X, y], loss, updates=updates)

    xs = prog.data(N, D)
    ys = xs[:, 0] * xs[:, 1] - xs[:, 2]
    xn, yn = f64(xs, ys)
    ref, acc = f64(*values), [np.zeros(v.shape) for v in values]
    for step in range(5):
        loss_np, grads_np = np_mlp_regressor(ref, xn, yn, "tanh")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        acc = [rho * a + (1 - rho) * g**2 for a, g in zip(acc, grads_np)]
        ref = [q - lr * g / (np.sqrt(a) + eps) for q, a, g in zip(ref, acc, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_adam(prog):
    """Adam with a step-counter shared variable and bias correction
    ``b1 ** t``, ``b2 ** t``."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v) for v in values]
    ms = [prog.shared(np.zeros_like(v)) for v in values]
    vs = [prog.shared(np.zeros_like(v)) for v in values]
    t = prog.shared(0.0, name="t")
    W1, b1, W2, b2 = params
    loss = ga.categorical_crossentropy(ga.softmax(ga.tanh(X @ W1 + b1) @ W2 + b2), y).mean()
    t_new = t + 1
    updates = [(t, t_new)]
    for q, m, v, g in zip(params, ms, vs, ga.grad(loss, params)):
        m_new = beta1 * m + (1 - beta1) * g
        v_new = beta2 * v + (1 - beta2) * g**2
        m_hat = m_new / (1 - beta1**t_new)
        v_hat = v_new / (1 - beta2**t_new)
        updates += [(m, m_new), (v, v_new), (q, q - lr * m_hat / (ga.sqrt(v_hat) + eps))]
    train = prog.function([X, y], loss, updates=updates)

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref = f64(*values)
    m_np, v_np = [np.zeros(v.shape) for v in values], [np.zeros(v.shape) for v in values]
    for step in range(1, 6):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "tanh")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        m_np = [beta1 * m + (1 - beta1) * g for m, g in zip(m_np, grads_np)]
        v_np = [beta2 * v + (1 - beta2) * g**2 for v, g in zip(v_np, grads_np)]
        ref = [
            q - lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
            for q, m, v in zip(ref, m_np, v_np)
        ]
        check_params(prog, params, ref, step)
        prog.close(t.get_value(), step, "step counter")


def test_mlp_adagrad(prog):
    """Adagrad: accumulated squared gradients, ``lr g / (sqrt(acc) + eps)``."""
    lr, eps = 0.1, 1e-6
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v) for v in values]
    accs = [prog.shared(np.zeros_like(v)) for v in values]
    W1, b1, W2, b2 = params
    z = X @ W1 + b1
    loss = ga.categorical_crossentropy(ga.softmax(ga.maximum(z, 0.01 * z) @ W2 + b2), y).mean()
    updates = []
    for q, a, g in zip(params, accs, ga.grad(loss, params)):
        a_new = a + g**2
        updates += [(a, a_new), (q, q - lr * g / (ga.sqrt(a_new) + eps))]
    train = prog.function([X, y], loss, updates=updates)

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref, acc = f64(*values), [np.zeros(v.shape) for v in values]
    for step in range(5):
        loss_np, grads_np, _ = np_mlp_classifier(ref, xn, ys, "leaky")
        prog.close(train(xs, ys), loss_np, f"loss {step}")
        acc = [a + g**2 for a, g in zip(acc, grads_np)]
        ref = [q - lr * g / (np.sqrt(a) + eps) for q, a, g in zip(ref, acc, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_two_hidden_layers(prog):
    """Two hidden layers (tanh then relu), softmax output, SGD."""
    lr, H2 = 0.5, 6
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = [
        prog.data(D, H) / np.sqrt(D),
        0.1 * prog.data(H),
        prog.data(H, H2) / np.sqrt(H),
        0.1 * prog.data(H2),
        prog.data(H2, K) / np.sqrt(H2),
        np.zeros(K, prog.dtype),
    ]
    params = [prog.shared(v) for v in values]
    W1, b1, W2, b2, W3, b3 = params
    h1 = ga.tanh(X @ W1 + b1)
    h2 = ga.relu(h1 @ W2 + b2)
    p = ga.softmax(h2 @ W3 + b3)
    loss = ga.categorical_crossentropy(p, y).mean()
    grads = ga.grad(loss, params)
    train = prog.function([X, y], loss, updates=[(q, q - lr * g) for q, g in zip(params, grads)])

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref = f64(*values)
    for step in range(4):
        W1n, b1n, W2n, b2n, W3n, b3n = ref
        z1 = xn @ W1n + b1n
        a1 = np.tanh(z1)
        z2 = a1 @ W2n + b2n
        a2 = np.maximum(z2, 0)
        p_np = np_softmax(a2 @ W3n + b3n)
        prog.close(train(xs, ys), -np.log(p_np[np.arange(N), ys]).mean(), f"loss {step}")
        dz3 = (p_np - np.eye(K)[ys]) / N
        dz2 = (dz3 @ W3n.T) * (z2 > 0)
        dz1 = (dz2 @ W2n.T) * (1 - a1**2)
        grads_np = [xn.T @ dz1, dz1.sum(0), a1.T @ dz2, dz2.sum(0), a2.T @ dz3, dz3.sum(0)]
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)


def test_mlp_loss_and_accuracy(prog):
    """Training returns ``[loss, accuracy]`` (accuracy ``mean(eq(argmax, y))`` of the
    parameters before the update); a separate prediction function afterwards."""
    lr = 1.0
    X, y = prog.tensor("X", (N, D)), prog.tensor("y", (N,), dtype="int64")
    values = init(prog)
    params = [prog.shared(v) for v in values]
    W1, b1, W2, b2 = params
    p = ga.softmax(ga.tanh(X @ W1 + b1) @ W2 + b2)
    loss = -ga.mean(ga.log(p)[ga.arange(y.shape[0]), y])
    acc = ga.mean(ga.eq(ga.argmax(p, axis=1), y))
    grads = ga.grad(loss, params)
    updates = [(q, q - lr * g) for q, g in zip(params, grads)]
    train = prog.function([X, y], [loss, acc], updates=updates)
    predict = prog.function([X], ga.argmax(p, axis=1))

    xs, ys = classification_data(prog)
    (xn,) = f64(xs)
    ref = f64(*values)
    for step in range(4):
        loss_np, grads_np, p_np = np_mlp_classifier(ref, xn, ys, "tanh")
        loss_out, acc_out = train(xs, ys)
        prog.close(loss_out, loss_np, f"loss {step}")
        prog.close(acc_out, np.mean(p_np.argmax(axis=1) == ys), f"accuracy {step}")
        ref = [q - lr * g for q, g in zip(ref, grads_np)]
        check_params(prog, params, ref, step)
    p_np = np_mlp_classifier(ref, xn, ys, "tanh")[2]
    np.testing.assert_array_equal(predict(xs), p_np.argmax(axis=1))
