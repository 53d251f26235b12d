"""Likelihood programs: maximum likelihood fits of Gaussian, Poisson, Laplace,
Student-t, exponential and mixture models, with gradients derived by hand in NumPy."""

import math

import numpy as np

import graphad as ga

LOG_2PI = np.log(2 * np.pi)


# np.log(2 pi) is a NumPy float64 scalar: it makes a float32 program's NLL float64
# (NumPy 2 rules), and DEBUG then trips on the bug below.
def f64(*arrays):
    """The NumPy reference runs in float64 from the variant's (possibly float32) data."""
    return [np.asarray(a, dtype="float64") for a in arrays]


def np_gaussian_nll(x, mu, log_sigma):
    """Mean Gaussian NLL and its gradients with respect to mu and log_sigma."""
    s = np.exp(log_sigma)
    z = (x - mu) / s
    nll = (log_sigma + 0.5 * z**2 + 0.5 * LOG_2PI).mean()
    return nll, (-z / s).mean(), (1 - z**2).mean()


def test_gaussian_nll_gradients_of_inputs(prog):
    """``ga.grad(nll, [mu, log_sigma])`` with the parameters as scalar inputs,
    evaluated at several points (no training)."""
    n = 30
    x = prog.tensor("x", (n,))
    mu, log_sigma = prog.tensor("mu", ()), prog.tensor("log_sigma", ())
    z = (x - mu) / ga.exp(log_sigma)
    nll = (log_sigma + 0.5 * z**2).mean() + 0.5 * LOG_2PI
    g_mu, g_ls = ga.grad(nll, [mu, log_sigma])
    f = prog.function([x, mu, log_sigma], [nll, g_mu, g_ls])

    xs = 1.5 + 2 * prog.data(n)
    for mu_v, ls_v in [(0.0, 0.0), (1.0, 0.5), (2.0, -0.3), (1.5, 0.2)]:
        expected = np_gaussian_nll(xs.astype("float64"), mu_v, ls_v)
        for got, want, what in zip(f(xs, mu_v, ls_v), expected, ("nll", "d mu", "d log_sigma")):
            prog.close(got, want, f"{what} at mu={mu_v}, log_sigma={ls_v}")


def test_gaussian_nll_descent_on_shared(prog):
    """mu and log_sigma as 0-d shared variables, trained by gradient descent on the
    summed NLL divided by ``n``."""
    n, lr = 40, 0.3
    x = prog.tensor("x", (n,))
    mu, log_sigma = prog.shared(0.0, name="mu"), prog.shared(0.0, name="log_sigma")
    sigma = ga.exp(log_sigma)
    nll = (ga.log(sigma) + 0.5 * ((x - mu) / sigma) ** 2 + 0.5 * LOG_2PI).sum() / n
    g_mu, g_ls = ga.grad(nll, [mu, log_sigma])
    train = prog.function(
        [x], nll, updates=[(mu, mu - lr * g_mu), (log_sigma, log_sigma - lr * g_ls)]
    )

    xs = 0.7 + 0.5 * prog.data(n)
    (xn,) = f64(xs)
    mu_np, ls_np = 0.0, 0.0
    for step in range(5):
        nll_np, gm, gl = np_gaussian_nll(xn, mu_np, ls_np)
        prog.close(train(xs), nll_np, f"nll {step}")
        mu_np, ls_np = mu_np - lr * gm, ls_np - lr * gl
        prog.close(mu.get_value(), mu_np, f"mu after step {step}")
        prog.close(log_sigma.get_value(), ls_np, f"log_sigma after step {step}")


def test_gaussian_fit_by_gradient_ascent(prog):
    """Gradient *ascent* on the log-likelihood; the updates add the gradient, and
    ``sqrt(var)`` of the data appears as a reported statistic."""
    n, lr = 50, 0.2
    x = prog.tensor("x", (n,))
    mu, log_sigma = prog.shared(0.0, name="mu"), prog.shared(0.5, name="log_sigma")
    ll = -ga.mean(log_sigma + 0.5 * ga.square(x - mu) * ga.exp(-2 * log_sigma)) - 0.5 * LOG_2PI
    g_mu, g_ls = ga.grad(ll, [mu, log_sigma])
    fit = prog.function(
        [x],
        [ll, x.mean(), x.std()],
        updates=[(mu, mu + lr * g_mu), (log_sigma, log_sigma + lr * g_ls)],
    )

    xs = -0.4 + prog.data(n)
    (xn,) = f64(xs)
    mu_np, ls_np = 0.0, 0.5
    for step in range(5):
        nll_np, gm, gl = np_gaussian_nll(xn, mu_np, ls_np)
        ll_out, mean_out, std_out = fit(xs)
        prog.close(ll_out, -nll_np, f"log-likelihood {step}")
        prog.close(mean_out, xn.mean(), "sample mean")
        prog.close(std_out, xn.std(), "sample std")
        mu_np, ls_np = mu_np - lr * gm, ls_np - lr * gl
        prog.close(mu.get_value(), mu_np, f"mu after step {step}")
        prog.close(log_sigma.get_value(), ls_np, f"log_sigma after step {step}")
    assert abs(mu_np - xn.mean()) < abs(xn.mean())  # it does move towards the mean


def test_diagonal_gaussian_nll(prog):
    """A d-dimensional Gaussian with diagonal covariance; mean and log-std vectors,
    the NLL summed over features (``sum(axis=1)``) and averaged over rows."""
    n, d, lr = 30, 4, 0.3
    X = prog.tensor("X", (n, d))
    mu = prog.shared(np.zeros(d), name="mu")
    log_sigma = prog.shared(np.zeros(d), name="log_sigma")
    Z = (X - mu) / ga.exp(log_sigma)
    nll = (log_sigma + 0.5 * Z**2).sum(axis=1).mean() + 0.5 * d * LOG_2PI
    g_mu, g_ls = ga.grad(nll, [mu, log_sigma])
    train = prog.function(
        [X], nll, updates=[(mu, mu - lr * g_mu), (log_sigma, log_sigma - lr * g_ls)]
    )

    xs = prog.data(n, d) * np.array([0.5, 1.0, 2.0, 0.3], prog.dtype) + np.arange(
        d, dtype=prog.dtype
    )
    (xn,) = f64(xs)
    mu_np, ls_np = np.zeros(d), np.zeros(d)
    for step in range(5):
        s = np.exp(ls_np)
        Z_np = (xn - mu_np) / s
        nll_np = (ls_np + 0.5 * Z_np**2).sum(axis=1).mean() + 0.5 * d * LOG_2PI
        prog.close(train(xs), nll_np, f"nll {step}")
        mu_np = mu_np - lr * (-Z_np / s).mean(axis=0)
        ls_np = ls_np - lr * (1 - Z_np**2).mean(axis=0)
        prog.close(mu.get_value(), mu_np, f"mu after step {step}")
        prog.close(log_sigma.get_value(), ls_np, f"log_sigma after step {step}")


def poisson_data(prog, n, d):
    xs = 0.5 * prog.data(n, d)
    rates = np.exp(xs.astype("float64") @ np.linspace(-1, 1, d) + 0.5)
    return xs, prog.rng.poisson(rates).astype(prog.dtype)


def test_poisson_regression_full_log_likelihood(prog):
    """Poisson regression with the full log-likelihood ``y eta - exp(eta) - gammaln(y + 1)``
    (the constant term does not change the gradient)."""
    gammaln = np.vectorize(math.lgamma)

    n, d, lr = 30, 3, 0.1
    X, y = prog.tensor("X", (n, d)), prog.tensor("y", (n,))
    w = prog.shared(np.zeros(d), name="w")
    eta = X @ w
    ll = (y * eta - ga.exp(eta) - ga.gammaln(y + 1)).mean()
    train = prog.function([X, y], ll, updates=[(w, w + lr * ga.grad(ll, w))])

    xs, ys = poisson_data(prog, n, d)
    xn, yn = f64(xs, ys)
    w_np = np.zeros(d)
    for step in range(4):
        eta_np = xn @ w_np
        prog.close(train(xs, ys), (yn * eta_np - np.exp(eta_np) - gammaln(yn + 1)).mean())
        w_np = w_np + lr * xn.T @ (yn - np.exp(eta_np)) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")


def test_poisson_regression_with_offset(prog):
    """Poisson regression without the constant term, an intercept and a log-exposure
    offset as a second input; descent on the negative log-likelihood."""
    n, d, lr = 30, 3, 0.1
    X, y, off = prog.tensor("X", (n, d)), prog.tensor("y", (n,)), prog.tensor("off", (n,))
    w, b = prog.shared(np.zeros(d), name="w"), prog.shared(0.0, name="b")
    eta = X.dot(w) + b + off
    nll = ga.mean(ga.exp(eta) - y * eta)
    gw, gb = ga.grad(nll, [w, b])
    train = prog.function([X, y, off], nll, updates=[(w, w - lr * gw), (b, b - lr * gb)])

    xs, ys = poisson_data(prog, n, d)
    offs = 0.2 * prog.data(n)
    xn, yn, on = f64(xs, ys, offs)
    w_np, b_np = np.zeros(d), 0.0
    for step in range(5):
        eta_np = xn @ w_np + b_np + on
        prog.close(train(xs, ys, offs), (np.exp(eta_np) - yn * eta_np).mean(), f"nll {step}")
        r = (np.exp(eta_np) - yn) / n
        w_np, b_np = w_np - lr * xn.T @ r, b_np - lr * r.sum()
        prog.close(w.get_value(), w_np, f"w after step {step}")
        prog.close(b.get_value(), b_np, f"b after step {step}")


def test_gaussian_mixture_log_likelihood_logsumexp(prog):
    """A two-component 1-D Gaussian mixture: per-component log densities in an
    (n, k) matrix, ``ga.logsumexp(..., axis=1)``, mixture weights through
    ``logits - logsumexp(logits)``; gradient ascent on all three parameter vectors."""
    n, k, lr = 40, 2, 0.5
    x = prog.tensor("x", (n,))
    logits = prog.shared(np.zeros(k), name="logits")
    mus = prog.shared(np.array([-0.5, 0.5]), name="mus")
    log_sigmas = prog.shared(np.zeros(k), name="log_sigmas")
    log_pi = logits - ga.logsumexp(logits)
    z = (x.dimshuffle(0, "x") - mus) / ga.exp(log_sigmas)
    comp = log_pi - log_sigmas - 0.5 * z**2 - 0.5 * LOG_2PI
    ll = ga.logsumexp(comp, axis=1).mean()
    params = [logits, mus, log_sigmas]
    grads = ga.grad(ll, params)
    train = prog.function([x], ll, updates=[(p, p + lr * g) for p, g in zip(params, grads)])

    xs = np.concatenate([prog.data(n // 2) - 1.0, 0.5 * prog.data(n // 2) + 1.0])
    (xn,) = f64(xs)
    lg, mu_np, ls_np = np.zeros(k), np.array([-0.5, 0.5]), np.zeros(k)
    for step in range(5):
        pi = np.exp(lg - lg.max()) / np.exp(lg - lg.max()).sum()
        s = np.exp(ls_np)
        z_np = (xn[:, None] - mu_np) / s
        comp_np = np.log(pi) - ls_np - 0.5 * z_np**2 - 0.5 * LOG_2PI
        m = comp_np.max(axis=1, keepdims=True)
        ll_np = (m[:, 0] + np.log(np.exp(comp_np - m).sum(axis=1))).mean()
        prog.close(train(xs), ll_np, f"log-likelihood {step}")
        r = np.exp(comp_np - m) / np.exp(comp_np - m).sum(axis=1, keepdims=True)
        g_lg = (r - pi).mean(axis=0)
        g_mu = (r * z_np / s).mean(axis=0)
        g_ls = (r * (z_np**2 - 1)).mean(axis=0)
        lg, mu_np, ls_np = lg + lr * g_lg, mu_np + lr * g_mu, ls_np + lr * g_ls
        prog.close(logits.get_value(), lg, f"logits after step {step}")
        prog.close(mus.get_value(), mu_np, f"mus after step {step}")
        prog.close(log_sigmas.get_value(), ls_np, f"log_sigmas after step {step}")


def test_logsumexp_keepdims_log_partition(prog):
    """Evaluation only: a log-partition with ``keepdims=True`` normalizes scores into
    log-probabilities, the row sums of their exponentials are 1, and the gradient of
    the total log-partition is the softmax."""
    n, k = 12, 5
    S = prog.tensor("S", (n, k))
    logZ = ga.logsumexp(S, axis=1, keepdims=True)
    logp = S - logZ
    f = prog.function([S], [logp, ga.exp(logp).sum(axis=1), ga.grad(logZ.sum(), S)])

    for trial in range(3):
        ss = 3 * prog.data(n, k)
        (sn,) = f64(ss)
        m = sn.max(axis=1, keepdims=True)
        logZ_np = m + np.log(np.exp(sn - m).sum(axis=1, keepdims=True))
        logp_out, sums_out, grad_out = f(ss)
        prog.close(logp_out, sn - logZ_np, f"log-probabilities {trial}")
        prog.close(sums_out, np.ones(n), f"row sums {trial}")
        prog.close(grad_out, np.exp(sn - logZ_np), f"gradient {trial}")


def test_laplace_nll(prog):
    """Laplace NLL ``log(2 b) + |x - mu| / b`` with ``b = exp(log_b)``; subgradient
    descent on location and log-scale."""
    n, lr = 31, 0.2
    x = prog.tensor("x", (n,))
    mu, log_b = prog.shared(0.1, name="mu"), prog.shared(0.0, name="log_b")
    b = ga.exp(log_b)
    nll = ga.mean(ga.log(2 * b) + ga.abs(x - mu) / b)
    g_mu, g_lb = ga.grad(nll, [mu, log_b])
    train = prog.function(
        [x], [nll, g_mu, g_lb], updates=[(mu, mu - lr * g_mu), (log_b, log_b - lr * g_lb)]
    )

    xs = 0.8 + prog.data(n)
    (xn,) = f64(xs)
    mu_np, lb_np = 0.1, 0.0
    for step in range(5):
        b_np = np.exp(lb_np)
        a = np.abs(xn - mu_np)
        expected = (
            (np.log(2 * b_np) + a / b_np).mean(),
            (-np.sign(xn - mu_np) / b_np).mean(),
            (1 - a / b_np).mean(),
        )
        for got, want, what in zip(train(xs), expected, ("nll", "d mu", "d log_b")):
            prog.close(got, want, f"{what} {step}")
        mu_np, lb_np = mu_np - lr * expected[1], lb_np - lr * expected[2]
        prog.close(mu.get_value(), mu_np, f"mu after step {step}")
        prog.close(log_b.get_value(), lb_np, f"log_b after step {step}")


def test_student_t_nll(prog):
    """Student-t location/scale NLL with fixed degrees of freedom (constants dropped):
    ``log s + (nu + 1) / 2 * log1p(z**2 / nu)``, robust to the outliers in the data."""
    n, nu, lr = 30, 4.0, 0.3
    x = prog.tensor("x", (n,))
    mu, log_s = prog.shared(0.0, name="mu"), prog.shared(0.0, name="log_s")
    z = (x - mu) / ga.exp(log_s)
    nll = (log_s + (nu + 1) / 2 * ga.log1p(z**2 / nu)).mean()
    g_mu, g_ls = ga.grad(nll, [mu, log_s])
    train = prog.function([x], nll, updates=[(mu, mu - lr * g_mu), (log_s, log_s - lr * g_ls)])

    xs = 0.5 + prog.data(n)
    xs[:3] = [6.0, -5.0, 8.0]  # outliers
    (xn,) = f64(xs)
    mu_np, ls_np = 0.0, 0.0
    for step in range(5):
        s = np.exp(ls_np)
        z_np = (xn - mu_np) / s
        prog.close(train(xs), (ls_np + (nu + 1) / 2 * np.log1p(z_np**2 / nu)).mean())
        g_mu_np = (-(nu + 1) * z_np / (s * (nu + z_np**2))).mean()
        g_ls_np = (1 - (nu + 1) * z_np**2 / (nu + z_np**2)).mean()
        mu_np, ls_np = mu_np - lr * g_mu_np, ls_np - lr * g_ls_np
        prog.close(mu.get_value(), mu_np, f"mu after step {step}")
        prog.close(log_s.get_value(), ls_np, f"log_s after step {step}")


def test_exponential_rate_mle(prog):
    """Exponential distribution: ``-(log_rate - exp(log_rate) x).mean()``; the rate
    moves towards ``1 / mean(x)``."""
    n, lr = 25, 0.3
    x = prog.tensor("x", (n,))
    log_rate = prog.shared(0.0, name="log_rate")
    nll = -(log_rate - ga.exp(log_rate) * x).mean()
    train = prog.function([x], nll, updates=[(log_rate, log_rate - lr * ga.grad(nll, log_rate))])

    xs = prog.data(n, low=0.1, high=0.9)
    (xn,) = f64(xs)
    lr_np = 0.0
    for step in range(5):
        prog.close(train(xs), -(lr_np - np.exp(lr_np) * xn).mean(), f"nll {step}")
        lr_np = lr_np - lr * (-1 + np.exp(lr_np) * xn.mean())
        prog.close(log_rate.get_value(), lr_np, f"log_rate after step {step}")
    assert abs(lr_np + np.log(xn.mean())) < abs(np.log(xn.mean()))


def test_bernoulli_log_likelihood_of_logit(prog):
    """Bernoulli likelihood of a single logit, written with ``ga.log1p(ga.exp(.))``
    for ``log(1 + e^a)``; the logit is a scalar input and the gradient is returned."""
    n = 20
    y = prog.tensor("y", (n,))
    a = prog.tensor("a", ())
    ll = (y * a - ga.log1p(ga.exp(a))).sum()
    f = prog.function([y, a], [ll, ga.grad(ll, a)])

    ys = prog.rng.integers(0, 2, size=n).astype(prog.dtype)
    for a_v in (-1.0, 0.0, 0.4, 2.0):
        ll_out, g_out = f(ys, a_v)
        prog.close(ll_out, (ys * a_v).sum() - n * np.log1p(np.exp(a_v)), f"ll at {a_v}")
        prog.close(g_out, ys.sum() - n / (1 + np.exp(-a_v)), f"gradient at {a_v}")


def test_bernoulli_log_likelihood_logaddexp(prog):
    """Logistic-regression log-likelihood with labels t in {-1, +1} written
    ``-logaddexp(0, -t z)``, trained by gradient ascent."""
    n, d, lr = 30, 4, 1.0
    X, t = prog.tensor("X", (n, d)), prog.tensor("t", (n,))
    w = prog.shared(np.zeros(d), name="w")
    ll = -ga.logaddexp(0, -t * (X @ w)).mean()
    train = prog.function([X, t], ll, updates=[(w, w + lr * ga.grad(ll, w))])

    xs = prog.data(n, d)
    ts = (2 * prog.rng.integers(0, 2, size=n) - 1).astype(prog.dtype)
    xn, tn = f64(xs, ts)
    w_np = np.zeros(d)
    for step in range(5):
        m = tn * (xn @ w_np)
        prog.close(train(xs, ts), -np.logaddexp(0, -m).mean(), f"log-likelihood {step}")
        w_np = w_np + lr * xn.T @ (tn / (1 + np.exp(m))) / n
        prog.close(w.get_value(), w_np, f"w after step {step}")
