"""Clustering programs: k-means (hard and soft) and EM for Gaussian mixtures, each step
one call of a compiled function whose updates move the shared parameters."""

import math

import numpy as np

import graphad as ga

CENTERS = np.array([[2.0, 2.0, 0.0], [-2.0, 1.0, 1.0], [0.0, -2.0, -1.0]])


def _blobs(prog, per_cluster=10):
    """Three well separated blobs in 3-D: no ties and no empty cluster."""
    parts = [c + 0.5 * prog.data(per_cluster, 3) for c in CENTERS]
    return np.concatenate(parts).astype(prog.dtype)


def _kmeans_numpy(xs, C):
    D = ((xs[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    labels = D.argmin(axis=1)
    R = (labels[:, None] == np.arange(len(C))).astype("float64")
    return D, labels, (R.T @ xs) / R.sum(axis=0)[:, None]


def test_kmeans_broadcast_distances(prog):
    """Lloyd's step: pairwise squared distances by broadcasting, argmin assignments,
    one-hot by comparing with arange, centroids as the shared update."""
    X = prog.tensor("X", (30, 3))
    C0 = np.array([[1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    C = prog.shared(C0, name="C")
    D = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    labels = D.argmin(axis=1)
    R = ga.eq(labels[:, None], ga.arange(3)[None, :]).astype(X.dtype)
    new_C = (R.T @ X) / R.sum(axis=0)[:, None]
    step = prog.function([X], [labels, D.min(axis=1).sum()], updates=[(C, new_C)])

    xs = _blobs(prog)
    C_np = C0.copy()
    for it in range(4):
        D_np, labels_np, C_next = _kmeans_numpy(xs.astype("float64"), C_np)
        out_labels, inertia = step(xs)
        np.testing.assert_array_equal(out_labels, labels_np, f"labels at step {it}")
        prog.close(inertia, D_np.min(axis=1).sum(), f"inertia at step {it}")
        C_np = C_next
        prog.close(C.get_value(), C_np, f"centroids after step {it}")


def test_kmeans_dimshuffle_expanded_distances(prog):
    """The same step written the other usual way: |x|^2 - 2 x.c + |c|^2 with
    dimshuffle, argmin of the distances and a mask built with `==` on arange."""
    X = prog.tensor("X", (30, 3))
    C0 = np.array([[0.5, 0.5, 0.5], [-0.5, 0.5, 0.0], [0.0, -0.5, -0.5]])
    C = prog.shared(C0, name="C")
    D = (
        (X**2).sum(axis=1).dimshuffle(0, "x")
        - 2 * X.dot(C.T)
        + (C**2).sum(axis=1).dimshuffle("x", 0)
    )
    k = ga.argmin(D, axis=1)
    R = ga.eq(k.dimshuffle(0, "x"), ga.arange(C.shape[0]).dimshuffle("x", 0))
    counts = R.sum(axis=0)
    new_C = ga.dot(R.T.astype(X.dtype), X) / counts.dimshuffle(0, "x").astype(X.dtype)
    step = prog.function([X], [counts, D], updates=[(C, new_C)])

    xs = _blobs(prog)
    C_np = C0.copy()
    for it in range(3):
        D_np, labels_np, C_next = _kmeans_numpy(xs.astype("float64"), C_np)
        out_counts, out_D = step(xs)
        np.testing.assert_array_equal(out_counts, np.bincount(labels_np, minlength=3))
        # float32: |x|^2 - 2 x.c + |c|^2 cancels for the near centroid (values ~10)
        prog.close(out_D, D_np, f"distances at step {it}", scale=10)
        C_np = C_next
        prog.close(C.get_value(), C_np, f"centroids after step {it}")


def test_kmeans_one_hot_assignments(prog):
    """k-means with `ga.one_hot` of the argmin labels (a name DESIGN §1 promises)."""
    X = prog.tensor("X", (30, 3))
    C0 = np.array([[1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    C = prog.shared(C0, name="C")
    D = ((X.dimshuffle(0, "x", 1) - C.dimshuffle("x", 0, 1)) ** 2).sum(axis=-1)
    R = ga.one_hot(D.argmin(axis=1), 3).astype(X.dtype)
    new_C = (R.T @ X) / R.sum(axis=0, keepdims=True).T
    step = prog.function([X], D.argmin(axis=1), updates=[(C, new_C)])

    xs = _blobs(prog)
    C_np = C0.copy()
    for it in range(3):
        _, labels_np, C_np = _kmeans_numpy(xs.astype("float64"), C_np)
        np.testing.assert_array_equal(step(xs), labels_np)
        prog.close(C.get_value(), C_np, f"centroids after step {it}")


def test_soft_kmeans(prog):
    """Soft k-means: responsibilities softmax(-beta D) over clusters, centroids the
    responsibility-weighted means; beta is an input."""
    X, beta = prog.tensor("X", (30, 3)), prog.tensor("beta", ())
    C0 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    C = prog.shared(C0, name="C")
    D = ((X.dimshuffle(0, "x", 1) - C.dimshuffle("x", 0, 1)) ** 2).sum(axis=2)
    R = ga.softmax(-beta * D, axis=1)
    new_C = R.T.dot(X) / R.sum(axis=0).dimshuffle(0, "x")
    step = prog.function([X, beta], R, updates=[(C, new_C)])

    xs = _blobs(prog)
    x64 = xs.astype("float64")
    C_np = C0.copy()
    for it, b in enumerate([0.5, 1.0, 2.0, 2.0]):
        D_np = ((x64[:, None, :] - C_np[None]) ** 2).sum(axis=2)
        Z = -b * D_np
        R_np = np.exp(Z - Z.max(axis=1, keepdims=True))
        R_np /= R_np.sum(axis=1, keepdims=True)
        prog.close(step(xs, b), R_np, f"responsibilities at step {it}")
        C_np = R_np.T @ x64 / R_np.sum(axis=0)[:, None]
        prog.close(C.get_value(), C_np, f"centroids after step {it}")


def test_soft_kmeans_gradient_descent(prog):
    """Soft k-means as gradient descent on the soft-min objective
    -1/beta sum_i logsumexp_k(-beta D_ik); its gradient is 2 sum_i r_ik (c_k - x_i)."""
    X = prog.tensor("X", (30, 3))
    C0 = np.array([[1.0, 1.0, 0.0], [-1.0, 0.0, 0.5], [0.0, -1.0, 0.0]])
    C = prog.shared(C0, name="C")
    beta, lr = 2.0, 0.01
    D = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    objective = -ga.logsumexp(-beta * D, axis=1).sum() / beta
    g = ga.grad(objective, C)
    step = prog.function([X], [objective, g], updates=[(C, C - lr * g)])

    xs = _blobs(prog)
    x64 = xs.astype("float64")
    C_np = C0.copy()
    for it in range(4):
        Z = -beta * ((x64[:, None, :] - C_np[None]) ** 2).sum(axis=2)
        m = Z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]
        R = np.exp(Z - lse[:, None])
        g_np = 2 * (R.sum(axis=0)[:, None] * C_np - R.T @ x64)
        out_obj, out_g = step(xs)
        prog.close(out_obj, -lse.sum() / beta, f"objective at step {it}")
        prog.close(out_g, g_np, f"gradient at step {it}")
        C_np = C_np - lr * g_np
        prog.close(C.get_value(), C_np, f"centroids after step {it}")


def _gmm1d_data(prog):
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.normal(-2, 0.5, 15), rng.normal(0.5, 0.7, 15), rng.normal(3, 0.4, 10)])
    return xs.astype(prog.dtype)


def test_em_gaussian_mixture_1d(prog):
    """EM for a three-component 1-D Gaussian mixture: the E-step's responsibilities
    are a softmax of the joint log densities, the M-step is the shared updates; the
    function returns the log-likelihood (logsumexp) before the step."""
    x = prog.tensor("x", (40,))
    mu = prog.shared([-1.0, 0.0, 1.0], name="mu")
    var = prog.shared([1.0, 1.0, 1.0], name="var")
    pi = prog.shared([1 / 3, 1 / 3, 1 / 3], name="pi")
    xc = x[:, None]
    logjoint = ga.log(pi) - 0.5 * ga.log(2 * np.pi * var) - (xc - mu) ** 2 / (2 * var)
    loglik = ga.logsumexp(logjoint, axis=1).sum()
    r = ga.softmax(logjoint, axis=1)
    Nk = r.sum(axis=0)
    new_mu = (r * xc).sum(axis=0) / Nk
    new_var = (r * (xc - new_mu) ** 2).sum(axis=0) / Nk
    em = prog.function(
        [x], loglik, updates=[(mu, new_mu), (var, new_var), (pi, Nk / ga.cast(x.shape[0], x.dtype))]
    )

    xs = _gmm1d_data(prog)
    x64 = xs.astype("float64")[:, None]
    mu_np, var_np, pi_np = np.array([-1.0, 0.0, 1.0]), np.ones(3), np.full(3, 1 / 3)
    for it in range(5):
        lj = np.log(pi_np) - 0.5 * np.log(2 * np.pi * var_np) - (x64 - mu_np) ** 2 / (2 * var_np)
        m = lj.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(lj - m).sum(axis=1))
        r_np = np.exp(lj - lse[:, None])
        prog.close(em(xs), lse.sum(), f"log-likelihood at step {it}")
        Nk_np = r_np.sum(axis=0)
        mu_np = (r_np * x64).sum(axis=0) / Nk_np
        var_np = (r_np * (x64 - mu_np) ** 2).sum(axis=0) / Nk_np
        pi_np = Nk_np / len(xs)
        prog.close(mu.get_value(), mu_np, f"means after step {it}")
        prog.close(var.get_value(), var_np, f"variances after step {it}")
        prog.close(pi.get_value(), pi_np, f"weights after step {it}")


def test_em_diagonal_gaussian_mixture(prog):
    """EM for a diagonal-covariance mixture in 3-D (a 3-tensor of per-point,
    per-component deviations); the log-variances are the shared state."""
    X = prog.tensor("X", (30, 3))
    means = prog.shared(CENTERS * 0.5, name="means")
    logvar = prog.shared(np.zeros((3, 3)), name="logvar")
    logw = prog.shared(np.log(np.full(3, 1 / 3)), name="logw")
    dev = X.dimshuffle(0, "x", 1) - means.dimshuffle("x", 0, 1)  # (n, k, d)
    prec = ga.exp(-logvar)
    logdens = -0.5 * ((dev**2) * prec + logvar + math.log(2 * math.pi)).sum(axis=2)
    logjoint = logdens + logw
    lse = ga.logsumexp(logjoint, axis=1, keepdims=True)
    r = ga.exp(logjoint - lse)  # (n, k)
    Nk = r.sum(axis=0)
    new_means = (r.T @ X) / Nk[:, None]
    new_var = (r.T @ X**2) / Nk[:, None] - new_means**2
    em = prog.function(
        [X],
        [lse.mean(), r],
        updates=[
            (means, new_means),
            (logvar, ga.log(new_var)),
            (logw, ga.log(Nk) - ga.log(Nk.sum())),
        ],
    )

    xs = _blobs(prog)
    x64 = xs.astype("float64")
    mu_np, lv_np, lw_np = CENTERS * 0.5, np.zeros((3, 3)), np.log(np.full(3, 1 / 3))
    for it in range(4):
        d = x64[:, None, :] - mu_np[None]
        lj = -0.5 * (d**2 * np.exp(-lv_np) + lv_np + np.log(2 * np.pi)).sum(axis=2) + lw_np
        m = lj.max(axis=1, keepdims=True)
        lse_np = m + np.log(np.exp(lj - m).sum(axis=1, keepdims=True))
        r_np = np.exp(lj - lse_np)
        out_ll, out_r = em(xs)
        prog.close(out_ll, lse_np.mean(), f"mean log-likelihood at step {it}")
        prog.close(out_r, r_np, f"responsibilities at step {it}")
        Nk_np = r_np.sum(axis=0)
        mu_np = r_np.T @ x64 / Nk_np[:, None]
        # E[x^2] - E[x]^2 cancels in float32 for a tight blob far from the origin
        lv_np = np.log(r_np.T @ x64**2 / Nk_np[:, None] - mu_np**2)
        lw_np = np.log(Nk_np / Nk_np.sum())
        prog.close(means.get_value(), mu_np, f"means after step {it}")
        prog.close(logvar.get_value(), lv_np, f"log-variances after step {it}", scale=20)
        prog.close(logw.get_value(), lw_np, f"log-weights after step {it}")


def test_gmm_means_by_gradient_ascent(prog):
    """Mixture means fitted by gradient ascent on the log-likelihood (ga.grad through
    logsumexp), variances and weights fixed and passed as inputs."""
    x = prog.tensor("x", (40,))
    var, logpi = prog.tensor("var", (3,)), prog.tensor("logpi", (3,))
    mu = prog.shared([-1.0, 0.0, 1.0], name="mu")
    logjoint = logpi - 0.5 * ga.log(2 * np.pi * var) - ga.sqr(x.dimshuffle(0, "x") - mu) / (2 * var)
    ll = ga.logsumexp(logjoint).mean()  # default axis=-1: over the components
    g = ga.grad(ll, mu)
    step = prog.function([x, var, logpi], [ll, g], updates=[(mu, mu + 0.5 * g)])

    xs = _gmm1d_data(prog)
    vs = np.array([0.3, 0.5, 0.2], prog.dtype)
    lps = np.log(np.array([0.4, 0.35, 0.25])).astype(prog.dtype)
    x64, v64, lp64 = (a.astype("float64") for a in (xs, vs, lps))
    mu_np = np.array([-1.0, 0.0, 1.0])
    for it in range(4):
        lj = lp64 - 0.5 * np.log(2 * np.pi * v64) - (x64[:, None] - mu_np) ** 2 / (2 * v64)
        m = lj.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(lj - m).sum(axis=1))
        r = np.exp(lj - lse[:, None])
        g_np = (r * (x64[:, None] - mu_np) / v64).sum(axis=0) / len(xs)
        out_ll, out_g = step(xs, vs, lps)
        prog.close(out_ll, lse.mean(), f"log-likelihood at step {it}")
        prog.close(out_g, g_np, f"gradient at step {it}")
        mu_np = mu_np + 0.5 * g_np
        prog.close(mu.get_value(), mu_np, f"means after step {it}")
