"""Black-box stochastic variational inference for a Bayesian logistic regression.

After Duvenaud & Adams (2015), "Black-box stochastic variational inference in five lines
of Python": fit a diagonal Gaussian q(w) = N(mu, diag(sigma^2)) to the posterior of

    w ~ N(0, s^2 I),    y_i ~ Bernoulli(sigmoid(x_i . w))

by stochastic gradient ascent on the ELBO = E_q[log p(y, w)] + H[q]. The expectation is a
Monte Carlo average over S draws w = mu + sigma * eps, eps ~ N(0, I) (the reparameterization
trick), and the draws come from a ga.RandomStream *inside* the compiled step, so ga.grad
differentiates through them and each call of the step draws fresh eps. The data are
synthetic: labels drawn from a known weight vector, which the posterior mean should find.

Run:  python examples/bbvi.py [--iters N] [--samples S] [--seed K] [--dump step.svg]
(--dump writes the compiled step: any format of ga.printing.write_graph, .txt
being ga.dprint's text.)
It prints the ELBO averaged over windows of iterations (one draw is noisy), the posterior
next to the true weights, and exits 0 when the ELBO rose.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import graphad as ga


def make_data(n, d, seed):
    """n points in d dimensions, labels from sigmoid(x . w_true); |w_true| in [1, 2.5]."""
    rng = np.random.default_rng(seed)
    w_true = rng.choice([-1.0, 1.0], size=d) * rng.uniform(1.0, 2.5, size=d)
    x = rng.normal(size=(n, d))
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-x @ w_true))).astype(np.float64)
    return x, y, w_true


def build_step(x, y, n_samples, prior_std, lr, seed):
    """The compiled step: draws eps, returns the ELBO estimate, takes one Adam step
    uphill on (mu, log_sigma). Returns (step, mu, log_sigma)."""
    d = x.shape[1]
    data_x, data_y = ga.shared(x, "X"), ga.shared(y, "y")
    mu = ga.shared(np.zeros(d), "mu")
    log_sigma = ga.shared(np.zeros(d), "log_sigma")

    eps = ga.RandomStream(seed).normal((n_samples, d))
    w = mu + ga.exp(log_sigma) * eps  # (S, d): S draws from q, differentiable in mu, sigma
    logits = w @ data_x.T  # (S, n)
    # log sigmoid(z) = -softplus(-z), log(1 - sigmoid(z)) = -softplus(z): stable at any z
    log_lik = (data_y * -ga.softplus(-logits) + (1 - data_y) * -ga.softplus(logits)).sum(axis=1)
    log_prior = -0.5 * (w**2).sum(axis=1) / prior_std**2 - d * np.log(prior_std)
    log_prior = log_prior - 0.5 * d * np.log(2 * np.pi)
    entropy = log_sigma.sum() + 0.5 * d * (1.0 + np.log(2 * np.pi))  # of q, in closed form
    elbo = (log_lik + log_prior).mean() + entropy

    params = [mu, log_sigma]
    grads = ga.grad(-elbo, params)  # through the draw: the reparameterization gradient
    t = ga.shared(np.array(0.0), "t")
    new_t = t + 1
    b1, b2 = 0.9, 0.999
    updates = [(t, new_t)]
    for p, g in zip(params, grads):  # Adam, descending on -ELBO
        m = ga.shared(np.zeros(d), f"m_{p.name}")
        v = ga.shared(np.zeros(d), f"v_{p.name}")
        new_m = b1 * m + (1 - b1) * g
        new_v = b2 * v + (1 - b2) * g**2
        m_hat = new_m / (1 - b1**new_t)
        v_hat = new_v / (1 - b2**new_t)
        updates += [(m, new_m), (v, new_v), (p, p - lr * m_hat / (ga.sqrt(v_hat) + 1e-8))]
    step = ga.function([], elbo, updates=updates, name="bbvi_step")
    return step, mu, log_sigma


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--samples", type=int, default=16, help="Monte Carlo draws per step")
    parser.add_argument("--window", type=int, default=50, help="iterations per ELBO average")
    parser.add_argument("--n", type=int, default=200, help="data points")
    parser.add_argument("--dim", type=int, default=4, help="features (weights)")
    parser.add_argument("--prior-std", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dump", metavar="PATH", help="write the compiled step's graph (.txt, .svg, .html, ...)"
    )
    args = parser.parse_args(argv)
    window = max(1, min(args.window, args.iters // 2))

    start = time.perf_counter()
    x, y, w_true = make_data(args.n, args.dim, args.seed)
    step, mu, log_sigma = build_step(x, y, args.samples, args.prior_std, args.lr, args.seed)
    if args.dump:
        ga.printing.write_graph(step, args.dump)

    elbos = np.array([float(step()) for _ in range(args.iters)])
    for hi in range(window, args.iters + 1, window):
        print(f"iter {hi:5d}  ELBO (mean of last {window}) {elbos[hi - window : hi].mean():9.3f}")

    mean, sd = mu.get_value(), np.exp(log_sigma.get_value())
    for j in range(args.dim):
        print(f"w[{j}]  true {w_true[j]:+.3f}  posterior {mean[j]:+.3f} +- {sd[j]:.3f}")
    signs = int(np.sum(np.sign(mean) == np.sign(w_true)))
    corr = float(np.corrcoef(mean, w_true)[0, 1])
    print(f"posterior mean: {signs}/{args.dim} signs right, correlation with truth {corr:.3f}")

    first, last = elbos[:window].mean(), elbos[-window:].mean()
    rose = last > first + max(1.0, 0.05 * abs(first))
    verdict = "rose" if rose else "did NOT rise"
    means = f"first {window} iters mean {first:.3f}, last {window} iters mean {last:.3f}"
    print(f"ELBO: {means} ({verdict})")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return rose


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
