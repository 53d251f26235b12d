"""Second-order programs: Newton fits that compile the loss, its gradient and its
Hessian and take the Newton step in NumPy; Hessian-vector products and Newton-CG;
Gauss-Newton and Levenberg-Marquardt with the Jacobian of the residuals."""

import numpy as np

import graphad as ga


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _newton_step(w, g, H):
    """The step every Newton program takes, in float64, back in the variant's dtype."""
    step = np.linalg.solve(np.asarray(H, "float64"), np.asarray(g, "float64"))
    return (np.asarray(w, "float64") - step).astype(w.dtype)


def _blobs(prog, n, d):
    """Two overlapping classes, so the logistic fit has a finite optimum."""
    xs = prog.data(n, d)
    ys = (xs @ np.linspace(1.0, -1.0, d) + 0.5 * prog.data(n) > 0).astype(prog.dtype)
    return xs, ys


def test_newton_logistic_regression(prog):
    """Logistic regression with a ridge term, fitted by Newton's method: the compiled
    function returns [loss, g, H], the user solves H step = g in NumPy and writes the
    new weights back into the shared variable."""
    X, y = prog.tensor("X", (30, 4)), prog.tensor("y", (30,))
    w = prog.shared(np.zeros(4), name="w")
    p = ga.sigmoid(X @ w)
    loss = -(y * ga.log(p) + (1 - y) * ga.log(1 - p)).mean() + 0.05 * (w**2).sum()
    f = prog.function([X, y], [loss, ga.grad(loss, w), ga.hessian(loss, w)])

    xs, ys = _blobs(prog, 30, 4)
    w_np = np.zeros(4)
    x64, y64 = xs.astype("float64"), ys.astype("float64")
    for step in range(4):
        p_np = _sigmoid(x64 @ w_np)
        loss_np = -(y64 * np.log(p_np) + (1 - y64) * np.log(1 - p_np)).mean()
        loss_np += 0.05 * (w_np**2).sum()
        g_np = x64.T @ (p_np - y64) / 30 + 0.1 * w_np
        H_np = (x64.T * (p_np * (1 - p_np))) @ x64 / 30 + 0.1 * np.eye(4)
        out_loss, g, H = f(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(g, g_np, f"gradient at step {step}")
        prog.close(H, H_np, f"Hessian at step {step}")
        w.set_value(_newton_step(w.get_value(), g, H))
        w_np = w_np - np.linalg.solve(H_np, g_np)
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_newton_weighted_least_squares(prog):
    """Weighted least squares with a bias, weights passed as an input: one Newton step
    solves it exactly, the next ones find a zero gradient."""
    X, y, s = prog.tensor("X", (25, 3)), prog.tensor("y", (25,)), prog.tensor("s", (25,))
    theta = prog.tensor("theta", (4,))
    pred = X.dot(theta[:3]) + theta[3]
    loss = (s * (pred - y) ** 2).mean()
    g, H = ga.grad(loss, theta), ga.hessian(loss, theta)
    f = prog.function([X, y, s, theta], [loss, g, H])

    xs, ys, ss = prog.data(25, 3), prog.data(25), prog.data(25, low=0.5, high=2.0)
    A = np.hstack([xs, np.ones((25, 1))]).astype("float64")
    theta_np = np.array([0.3, -0.2, 0.1, 0.0])
    theta_ga = theta_np.astype(prog.dtype)
    for step in range(3):
        r = A @ theta_np - ys
        loss_np = (ss * r**2).mean()
        g_np = 2 * A.T @ (ss * r) / 25
        H_np = 2 * (A.T * ss) @ A / 25
        out_loss, g_out, H_out = f(xs, ys, ss, theta_ga)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(g_out, g_np, f"gradient at step {step}")
        prog.close(H_out, H_np, f"Hessian at step {step}")
        theta_ga = _newton_step(theta_ga, g_out, H_out)
        theta_np = theta_np - np.linalg.solve(H_np, g_np)
        prog.close(theta_ga, theta_np, f"theta after step {step}")


def test_newton_poisson_regression(prog):
    """Poisson regression (log link) by Newton: mean(exp(Xw) - y Xw)."""
    X, y = prog.tensor("X", (40, 3)), prog.tensor("y", (40,))
    w = prog.shared(np.zeros(3), name="w")
    eta = ga.dot(X, w)
    loss = ga.mean(ga.exp(eta) - y * eta)
    f = prog.function([X, y], [loss, ga.grad(loss, w), ga.hessian(loss, w)])

    xs = prog.data(40, 3)
    ys = np.floor(np.exp(xs @ np.array([0.5, -0.3, 0.2])) * 2).astype(prog.dtype)
    x64 = xs.astype("float64")
    w_np = np.zeros(3)
    for step in range(4):
        mu = np.exp(x64 @ w_np)
        loss_np = (mu - ys * (x64 @ w_np)).mean()
        g_np = x64.T @ (mu - ys) / 40
        H_np = (x64.T * mu) @ x64 / 40
        out_loss, g, H = f(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(g, g_np, f"gradient at step {step}")
        prog.close(H, H_np, f"Hessian at step {step}")
        w.set_value(_newton_step(w.get_value(), g, H))
        w_np = w_np - np.linalg.solve(H_np, g_np)
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_newton_softmax_regression_flat_parameters(prog):
    """Multinomial logistic regression whose weight matrix is a reshaped flat vector,
    so that the Hessian is a plain matrix (the Kronecker-structured one)."""
    d, k, n = 3, 3, 24
    X = prog.tensor("X", (n, d))
    Y = prog.tensor("Y", (n, k))  # one-hot targets
    w = prog.shared(np.zeros(d * k), name="w")
    W = w.reshape((d, k))
    logp = ga.log_softmax(X @ W, axis=1)
    loss = -(Y * logp).sum(axis=1).mean() + 0.05 * ga.sqr(w).sum()
    f = prog.function([X, Y], [loss, ga.grad(loss, w), ga.hessian(loss, w)])

    xs = prog.data(n, d)
    labels = np.argmax(xs @ np.array([[1.0, -1, 0], [0, 1, -1], [-1, 0, 1]]), axis=1)
    labels[:3] = (labels[:3] + 1) % k  # not separable: a finite optimum
    ys = np.eye(k, dtype=prog.dtype)[labels]
    x64 = xs.astype("float64")
    w_np = np.zeros(d * k)
    for step in range(3):
        z = x64 @ w_np.reshape(d, k)
        P = np.exp(z - z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        loss_np = -(ys * np.log(P)).sum(axis=1).mean() + 0.05 * (w_np**2).sum()
        g_np = (x64.T @ (P - ys) / n).ravel() + 0.1 * w_np
        H_np = 0.1 * np.eye(d * k)
        for i in range(n):
            S = np.diag(P[i]) - np.outer(P[i], P[i])
            H_np += np.kron(np.outer(x64[i], x64[i]), S) / n  # w index = a * k + c
        out_loss, g, H = f(xs, ys)
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(g, g_np, f"gradient at step {step}")
        prog.close(H, H_np, f"Hessian at step {step}")
        w.set_value(_newton_step(w.get_value(), g, H))
        w_np = w_np - np.linalg.solve(H_np, g_np)
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_newton_rosenbrock(prog):
    """Pure Newton on the Rosenbrock function from the classic start (-1.2, 1)."""
    xy = prog.tensor("xy", (2,))
    x, y = xy[0], xy[1]
    f_expr = (1 - x) ** 2 + 100 * (y - x**2) ** 2
    f = prog.function([xy], [f_expr, ga.grad(f_expr, xy), ga.hessian(f_expr, xy)])

    def numpy_parts(point):
        a, b = np.asarray(point, "float64")
        val = (1 - a) ** 2 + 100 * (b - a**2) ** 2
        g_np = np.array([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)])
        H_np = np.array([[2 - 400 * b + 1200 * a**2, -400 * a], [-400 * a, 200]])
        return val, g_np, H_np

    p_np = np.array([-1.2, 1.0])
    p_ga = p_np.astype(prog.dtype)
    for step in range(5):
        # The NumPy reference at graphad's own iterate: near the valley floor
        # 200 (y - x^2) cancels, so the float32 and float64 iterates' gradients differ.
        val, g_np, H_np = numpy_parts(p_ga)
        out, g, H = f(p_ga)
        prog.close(out, val, f"f at step {step}")
        prog.close(g, g_np, f"gradient at step {step}")
        prog.close(H, H_np, f"Hessian at step {step}")
        p_ga = _newton_step(p_ga, g, H)
        _, g64, H64 = numpy_parts(p_np)
        p_np = p_np - np.linalg.solve(H64, g64)
        # float32: the Newton iterates carry float32 rounding of H entries ~1e3
        prog.close(p_ga, p_np, f"point after step {step}", scale=10)


def test_hessian_vector_product_list_of_parameters(prog):
    """Pearlmutter's Hv for a logistic loss in two parameters (w, b), lists in and out,
    against the full Hessian of the stacked parameters times v."""
    X, y = prog.tensor("X", (20, 3)), prog.tensor("y", (20,))
    vw, vb = prog.tensor("vw", (3,)), prog.tensor("vb", ())
    w = prog.shared([0.2, -0.1, 0.3], name="w")
    b = prog.shared(0.1, name="b")
    z = X @ w + b
    loss = ga.mean(ga.softplus(z) - y * z)
    hv = ga.hessian_vector_product(loss, [w, b], [vw, vb])
    assert isinstance(hv, list) and len(hv) == 2
    f = prog.function([X, y, vw, vb], [loss] + hv)

    xs, ys = _blobs(prog, 20, 3)
    A = np.hstack([xs, np.ones((20, 1))]).astype("float64")
    theta = np.array([0.2, -0.1, 0.3, 0.1])
    p = _sigmoid(A @ theta)
    loss_np = (np.log1p(np.exp(A @ theta)) - ys * (A @ theta)).mean()
    H_np = (A.T * (p * (1 - p))) @ A / 20
    for trial in range(3):
        v = prog.data(4)
        out_loss, hw, hb = f(xs, ys, v[:3], v[3])
        expected = H_np @ v.astype("float64")
        prog.close(out_loss, loss_np, f"loss, trial {trial}")
        prog.close(hw, expected[:3], f"Hv for w, trial {trial}")
        prog.close(hb, expected[3], f"Hv for b, trial {trial}")


def test_newton_cg_with_hessian_vector_products(prog):
    """Newton-CG: the compiled function gives [loss, g, Hv] at (w, v); NumPy runs the
    conjugate-gradient inner loop calling it for each Hv and takes the step."""
    X, y = prog.tensor("X", (30, 5)), prog.tensor("y", (30,))
    w, v = prog.tensor("w", (5,)), prog.tensor("v", (5,))
    p = ga.sigmoid(X @ w)
    loss = ga.binary_crossentropy(p, y).mean() + 0.01 * (w * w).sum()
    g = ga.grad(loss, w)
    f = prog.function([X, y, w, v], [loss, g, ga.hessian_vector_product(loss, w, v)])

    xs, ys = _blobs(prog, 30, 5)
    x64 = xs.astype("float64")

    def numpy_parts(w_np):
        p_np = _sigmoid(x64 @ w_np)
        loss_np = -(ys * np.log(p_np) + (1 - ys) * np.log(1 - p_np)).mean()
        loss_np += 0.01 * (w_np**2).sum()
        g_np = x64.T @ (p_np - ys) / 30 + 0.02 * w_np
        H_np = (x64.T * (p_np * (1 - p_np))) @ x64 / 30 + 0.02 * np.eye(5)
        return loss_np, g_np, H_np

    w_ga = np.zeros(5, prog.dtype)
    w_np = np.zeros(5)
    for step in range(3):
        loss_np, g_np, H_np = numpy_parts(w_np)
        out_loss, g_out, _ = f(xs, ys, w_ga, np.zeros(5, prog.dtype))
        prog.close(out_loss, loss_np, f"loss at step {step}")
        prog.close(g_out, g_np, f"gradient at step {step}")
        # Five CG iterations on H d = -g (exact in exact arithmetic for n = 5).
        d = np.zeros(5)
        r = -np.asarray(g_out, "float64")
        q = r.copy()
        for it in range(5):
            Hq = f(xs, ys, w_ga, q.astype(prog.dtype))[2]
            prog.close(Hq, H_np @ q.astype(prog.dtype), f"Hv at step {step}, CG {it}")
            Hq = np.asarray(Hq, "float64")
            alpha = (r @ r) / (q @ Hq)
            d, r_new = d + alpha * q, r - alpha * Hq
            if np.linalg.norm(r_new) < 1e-10:
                break
            q, r = r_new + (r_new @ r_new) / (r @ r) * q, r_new
        w_ga = (w_ga + d).astype(prog.dtype)
        w_np = w_np - np.linalg.solve(H_np, g_np)
        prog.close(w_ga, w_np, f"w after step {step}", scale=10)  # CG vs solve rounding


def test_gauss_newton_exponential_model(prog):
    """Gauss-Newton for y = a exp(b t): the compiled function returns the residuals
    and their Jacobian (ga.jacobian); the step solves J^T J d = J^T r in NumPy."""
    t, y = prog.tensor("t", (15,)), prog.tensor("y", (15,))
    theta = prog.shared([1.0, 0.1], name="theta")
    r = theta[0] * ga.exp(theta[1] * t) - y
    J = ga.jacobian(r, theta)
    f = prog.function([t, y], [0.5 * (r**2).sum(), r, J])

    ts = np.linspace(0, 1, 15).astype(prog.dtype)
    ys = (2.0 * np.exp(-1.5 * ts) + 0.01 * prog.data(15)).astype(prog.dtype)
    t64 = ts.astype("float64")
    th_np = np.array([1.0, 0.1])
    for step in range(5):
        e = np.exp(th_np[1] * t64)
        r_np = th_np[0] * e - ys
        J_np = np.stack([e, th_np[0] * t64 * e], axis=1)
        cost, r_out, J_out = f(ts, ys)
        prog.close(cost, 0.5 * (r_np**2).sum(), f"cost at step {step}")
        prog.close(r_out, r_np, f"residuals at step {step}")
        prog.close(J_out, J_np, f"Jacobian at step {step}")
        J64, r64 = np.asarray(J_out, "float64"), np.asarray(r_out, "float64")
        th = theta.get_value().astype("float64")
        theta.set_value((th - np.linalg.solve(J64.T @ J64, J64.T @ r64)).astype(prog.dtype))
        th_np = th_np - np.linalg.solve(J_np.T @ J_np, J_np.T @ r_np)
        prog.close(theta.get_value(), th_np, f"theta after step {step}", scale=10)


def test_levenberg_marquardt_decay_with_offset(prog):
    """Levenberg-Marquardt for y = a exp(-k t) + c, parameters as an input vector;
    the damping shrinks after each accepted step (decided on NumPy's cost)."""
    t, y = prog.tensor("t", (20,)), prog.tensor("y", (20,))
    p = prog.tensor("p", (3,))
    a, k, c = p[0], p[1], p[2]
    resid = a * ga.exp(-k * t) + c - y
    f = prog.function([t, y, p], [ga.sum(resid**2), resid, ga.jacobian(resid, p)])

    ts = np.linspace(0, 3, 20).astype(prog.dtype)
    ys = (1.5 * np.exp(-0.8 * ts) + 0.4 + 0.02 * prog.data(20)).astype(prog.dtype)
    t64 = ts.astype("float64")
    p_np = np.array([1.0, 0.3, 0.0])
    p_ga = p_np.astype(prog.dtype)
    lam = 1e-2
    for step in range(4):
        e = np.exp(-p_np[1] * t64)
        r_np = p_np[0] * e + p_np[2] - ys
        J_np = np.stack([e, -p_np[0] * t64 * e, np.ones_like(t64)], axis=1)
        cost, r_out, J_out = f(ts, ys, p_ga)
        prog.close(cost, (r_np**2).sum(), f"cost at step {step}")
        prog.close(r_out, r_np, f"residuals at step {step}")
        prog.close(J_out, J_np, f"Jacobian at step {step}")
        J64, r64 = np.asarray(J_out, "float64"), np.asarray(r_out, "float64")
        A = J64.T @ J64
        p_ga = (p_ga - np.linalg.solve(A + lam * np.diag(np.diag(A)), J64.T @ r64)).astype(
            prog.dtype
        )
        A_np = J_np.T @ J_np
        p_np = p_np - np.linalg.solve(A_np + lam * np.diag(np.diag(A_np)), J_np.T @ r_np)
        lam *= 0.3
        prog.close(p_ga, p_np, f"parameters after step {step}", scale=10)
