"""Newton-CG on L2-regularized logistic regression, with Hessian-vector products only.

The loss is the mean binary cross-entropy of "digit < 5" on scikit-learn's digits
(8x8 pixels scaled to [0, 1] plus a bias column, 65 weights) plus (lam / 2) ||w||^2,
so it is strongly convex. Each Newton step solves H p = -g by conjugate gradients,
and CG touches H only through H·d, which graphad compiles from the symbolic loss as

    hvp = ga.function([w, v], ga.hessian_vector_product(loss, w, v))

(forward-over-reverse: the Rop of the gradient graph, about the cost of one gradient;
the 65 x 65 Hessian is never formed). A backtracking line search keeps each step a
descent step. At the end one hvp is checked against a central difference of the
gradient and against the explicit Hessian of ga.hessian (built only for that check).

Run:  python examples/hessian_vector_newton_cg.py [--steps N] [--lam 1e-3] [--dump hvp.svg]
(--dump writes the compiled hvp function in any format of ga.printing.write_graph,
.txt being ga.dprint's text.)
It prints loss, |grad| and CG iterations per Newton step; it converges in 6 (--lam 1e-4: 7).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

import graphad as ga


def load_data():
    """Digits scaled to [0, 1] with a bias column of ones; targets 1.0 for digits 0-4."""
    digits = load_digits()
    x = digits.data / 16.0
    x = np.hstack([x, np.ones((len(x), 1))]).astype(ga.config.floatX)
    t = (digits.target < 5).astype(ga.config.floatX)
    return x, t


def build(x, t, lam):
    """Compile loss(w), grad(w), hvp(w, v) and, for the check only, hessian(w)."""
    w = ga.vector("w")
    v = ga.vector("v")
    X, T = ga.constant(x, name="X"), ga.constant(t, name="t")
    loss = ga.binary_crossentropy(ga.sigmoid(X @ w), T).mean() + (lam / 2) * ga.sqr(w).sum()
    loss_f = ga.function([w], loss, name="loss")
    grad_f = ga.function([w], ga.grad(loss, w), name="grad")
    hvp_f = ga.function([w, v], ga.hessian_vector_product(loss, w, v), name="hvp")
    hess_f = ga.function([w], ga.hessian(loss, w), name="hessian")
    return loss_f, grad_f, hvp_f, hess_f


def conjugate_gradient(hvp, w, b, tol=1e-10, max_iter=200):
    """Solve H p = b for symmetric positive definite H = hessian(w), given only hvp."""
    p = np.zeros_like(b)
    r = b.copy()
    d = r.copy()
    rr = r @ r
    b_norm = np.sqrt(rr)
    for it in range(1, max_iter + 1):
        hd = hvp(w, d)
        alpha = rr / (d @ hd)
        p += alpha * d
        r -= alpha * hd
        rr_new = r @ r
        if np.sqrt(rr_new) <= tol * b_norm:
            return p, it
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p, max_iter


def newton_cg(loss_f, grad_f, hvp_f, w, steps, gtol):
    """Newton steps, each with a backtracking (Armijo) line search; returns w, steps, |grad|."""
    f, g = float(loss_f(w)), grad_f(w)
    print(f"step  0  loss {f:.12f}  |grad| {np.linalg.norm(g):.3e}")
    for step in range(1, steps + 1):
        p, cg_iters = conjugate_gradient(hvp_f, w, -g)
        alpha, slack = 1.0, 1e-14 * abs(f)  # slack: near the optimum, rounding decides
        while float(loss_f(w + alpha * p)) > f + 1e-4 * alpha * (g @ p) + slack:
            alpha /= 2
            if alpha < 1e-10:
                break
        w = w + alpha * p
        f, g = float(loss_f(w)), grad_f(w)
        g_norm = np.linalg.norm(g)
        print(
            f"step {step:2d}  loss {f:.12f}  |grad| {g_norm:.3e}  cg iters {cg_iters:3d}"
            f"  step size {alpha:g}"
        )
        if g_norm < gtol:
            return w, step, g_norm
    return w, steps, np.linalg.norm(g)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="at most this many Newton steps")
    parser.add_argument("--lam", type=float, default=1e-3, help="L2 regularization strength")
    parser.add_argument("--gtol", type=float, default=1e-8, help="stop when |grad| is below")
    parser.add_argument(
        "--dump", metavar="PATH", help="write the hvp function's graph (.txt, .svg, .html, ...)"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    x, t = load_data()
    loss_f, grad_f, hvp_f, hess_f = build(x, t, args.lam)
    if args.dump:
        ga.printing.write_graph(hvp_f, args.dump)

    w0 = np.zeros(x.shape[1], dtype=ga.config.floatX)
    w, steps, g_norm = newton_cg(loss_f, grad_f, hvp_f, w0, args.steps, args.gtol)
    converged = g_norm < args.gtol
    status = "converged" if converged else "NOT converged"
    print(f"{status} in {steps} Newton steps, |grad| = {g_norm:.1e}")

    # Check one hvp at the solution: a central difference of the gradient, and H @ v.
    v = np.random.default_rng(0).normal(size=w.shape)
    hv = hvp_f(w, v)
    eps = 1e-5
    fd = (grad_f(w + eps * v) - grad_f(w - eps * v)) / (2 * eps)
    fd_err = np.linalg.norm(hv - fd) / np.linalg.norm(hv)
    h_err = np.linalg.norm(hv - hess_f(w) @ v) / np.linalg.norm(hv)
    print(f"hvp check: relative error {fd_err:.1e} (finite difference of the gradient)")
    print(f"hvp check: relative error {h_err:.1e} (explicit ga.hessian times v)")
    accuracy = float(np.mean((x @ w > 0) == (t > 0.5)))
    print(f"training accuracy: {accuracy:.4f}")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return converged and fd_err < 1e-6 and h_err < 1e-8


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
