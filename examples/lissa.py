"""LiSSA: a Hessian-inverse-vector product from minibatch Hessian-vector products.

Agarwal, Bullins & Hazan, "Second-order stochastic optimization for machine learning in
linear time" (JMLR 2017, arXiv:1602.03943) estimate H^-1 v without forming H, by the
Neumann series H^-1 = sum_i (I - H)^i (valid when 0 < H < I) and the recursion

    x_0 = v,    x_j = v + (I - H_j) x_{j-1} = v + x_{j-1} - H_j x_{j-1},

where H_j x is the Hessian-vector product of the loss on the j-th random minibatch.
Every x_j is an unbiased estimate of the series cut after j terms; the paper averages
S independent chains at the final depth. Here minibatch noise stalls that mean near
3e-3, so the estimate also averages each chain's x_j over the depths past a burn-in
(iterate averaging: the same unbiased estimates, reused). H_j x is ONE compiled graphad
function of (w, x, Xb, tb), forward-over-reverse (ga.hessian_vector_product), called on
minibatches that NumPy samples; no full-batch HVP is used.

The problem: L2-regularized logistic regression on scikit-learn's digits (label: digit
>= 5), at w0 after a few gradient steps, with v = grad L(w0): x = H^-1 v is the Newton
step there. The full Hessian (ga.hessian) is formed only to check against
np.linalg.solve(H, v).

Run:  python examples/lissa.py [--depth 1000] [--batch 256] [--chains 8] [--seed 0]
      [--dump hvp.txt]  (the compiled minibatch HVP, in any format of
      ga.printing.write_graph; .txt is ga.dprint's text)
It prints the relative error to np.linalg.solve as the depth grows, about 5e-4 at the
end, and exits with status 0 when that error is below 1e-3.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

import graphad as ga


def load_data():
    """Digits scaled to [0, 1] plus a constant bias feature; binary label digit >= 5."""
    digits = load_digits()
    x = np.hstack([digits.data / 16.0, np.ones((len(digits.data), 1))])
    return x.astype(ga.config.floatX), (digits.target >= 5).astype(ga.config.floatX)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=1000, help="terms of the series per chain")
    parser.add_argument("--batch", type=int, default=256, help="minibatch size of each H_j")
    parser.add_argument("--chains", type=int, default=8, help="independent chains S")
    parser.add_argument("--lam", type=float, default=0.3, help="L2 regularization")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dump", metavar="PATH", help="write the minibatch HVP's graph")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    x_all, t_all = load_data()
    n, d = x_all.shape
    rng = np.random.default_rng(args.seed)

    # L(w) = mean logistic loss of the batch (Xb, tb) + lam/2 ||w||^2, for any batch.
    w, x, xb, tb = ga.vector("w"), ga.vector("x"), ga.matrix("Xb"), ga.vector("tb")
    z = xb @ w
    loss = (ga.softplus(z) - tb * z).mean() + 0.5 * args.lam * ga.sqr(w).sum()
    hvp = ga.function([w, x, xb, tb], ga.hessian_vector_product(loss, w, x), name="hvp")
    grad = ga.function([w, xb, tb], ga.grad(loss, w), name="grad")
    if args.dump:
        ga.printing.write_graph(hvp, args.dump)

    # LiSSA needs every H_j in (0, I]. The minibatch Hessian is
    #   H_j = mean_i s_i (1 - s_i) x_i x_i^T + lam I,   s_i = sigmoid(x_i . w),
    # and s (1 - s) <= 1/4, so ||H_j|| <= c = max_i ||x_i||^2 / 4 + lam for EVERY batch:
    # we run the series on H / c (the loss divided by c) and divide the sum by c again.
    # The regularizer also bounds it below, H / c >= (lam / c) I, so the terms left out
    # after depth j are at most (1 - lam / c)^j of the whole: that fixes the burn-in.
    c = float((x_all**2).sum(axis=1).max()) / 4 + args.lam
    burn = int(np.ceil(np.log(1e-4) / np.log1p(-args.lam / c)))
    if burn >= args.depth:
        parser.error(f"--depth must exceed the burn-in of {burn} terms")

    w0 = np.zeros(d)
    for _ in range(10):  # a few full-batch gradient steps (1 / c bounds the curvature)
        w0 -= grad(w0, x_all, t_all) / c
    v = grad(w0, x_all, t_all)

    # Reference only: the full Hessian from graphad, solved by NumPy.
    hessian = ga.function([w, xb, tb], ga.hessian(loss, w), name="hessian")
    h_full = hessian(w0, x_all, t_all)
    x_ref = np.linalg.solve(h_full, v)
    eig = np.linalg.eigvalsh(h_full / c)

    def rel_error(estimate):
        return np.linalg.norm(estimate / c - x_ref) / np.linalg.norm(x_ref)

    print(f"digits: {n} samples, {d} features (64 pixels + bias), label digit >= 5")
    print(f"H / c at w0: eigenvalues in [{eig[0]:.4f}, {eig[-1]:.4f}], c = {c:.3f}")
    print(
        f"{args.chains} chains, batch {args.batch}, depth {args.depth}; "
        f"averaging x_j over depths > {burn} (truncation < 1e-4)"
    )
    print("relative errors to np.linalg.solve: the mean of the chains' x_j at this depth,")
    print("and the estimate (that mean, averaged over the depths past the burn-in)")

    # Every chain's x_j past the burn-in is an unbiased estimate of the (converged)
    # series, so besides the S chains we average each chain's tail: the noise of
    # neighbouring x_j is correlated, but over hundreds of depths it averages out.
    chains = np.tile(v, (args.chains, 1))
    tail_sum, tail_count = np.zeros(d), 0
    for depth in range(1, args.depth + 1):
        for s in range(args.chains):
            batch = rng.integers(0, n, size=args.batch)
            chains[s] = v + chains[s] - hvp(w0, chains[s], x_all[batch], t_all[batch]) / c
        if depth > burn:
            tail_sum += chains.mean(axis=0)
            tail_count += 1
        if depth in (1, 10, 50) or depth % 100 == 0 or depth == args.depth:
            now = rel_error(chains.mean(axis=0))
            estimate = rel_error(tail_sum / tail_count) if tail_count else now
            print(f"depth {depth:5d}  chains' x_j {now:.2e}  estimate {estimate:.2e}")

    error = rel_error(tail_sum / tail_count)
    calls = args.chains * args.depth
    print(f"{calls} minibatch HVPs of {args.batch} rows, {time.perf_counter() - start:.1f} s")
    print(f"LiSSA relative error vs np.linalg.solve: {error:.1e} (target 1e-3)")
    return error


if __name__ == "__main__":
    sys.exit(0 if main() < 1e-3 else 1)
