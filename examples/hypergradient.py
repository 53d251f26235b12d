"""The gradient of a validation loss with respect to the learning rate, through training.

Maclaurin, Duvenaud & Adams, "Gradient-based hyperparameter optimization through
reversible learning" (ICML 2015), differentiate the validation loss after K steps of
SGD with respect to the hyperparameters of those steps. Here the K steps are unrolled
symbolically: multinomial logistic regression on scikit-learn's digits (200 training
and 200 validation rows, bias folded into the weights), starting from fixed random
weights W_0, with fixed minibatches so that the whole run is one deterministic function
of the learning rate,

    W_{k+1} = W_k - lr * ga.grad(train_loss(W_k, batch_k), W_k),   k = 0 .. K-1
    val     = validation_loss(W_K),   hyper = ga.grad(val, lr)

and ``ga.function([lr], [val, hyper])`` compiles both. The hypergradient (a
second-order quantity: it runs back through every gradient step) is checked against a
central finite difference, then used for a few steps of gradient descent on log(lr).

Run:  python examples/hypergradient.py [--steps 20] [--lr 0.1] [--seed 0] [--dump f.txt]
(--dump writes the compiled function: any format of ga.printing.write_graph, .txt
being ga.dprint's text.) Exit status 0 when the relative error is below 1e-5.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

import graphad as ga


def load_data(rng, n_train=200, n_val=200):
    """Digits scaled to [0, 1] with a column of ones appended (the bias), split at random."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(ga.config.floatX)
    x = np.hstack([x, np.ones((len(x), 1), dtype=x.dtype)])
    y = digits.target.astype("int64")
    order = rng.permutation(len(x))
    train, val = order[:n_train], order[n_train : n_train + n_val]
    return x[train], y[train], x[val], y[val]


def loss(w, x, y):
    """Mean cross-entropy of softmax(x @ w) against the labels y (x and y are constants)."""
    return ga.categorical_crossentropy(ga.softmax(ga.constant(x) @ w), ga.constant(y)).mean()


def build(lr, x_train, y_train, x_val, y_val, steps, batch_size, rng):
    """The unrolled SGD run as one graph; returns (validation loss, its d/d lr)."""
    w = ga.constant(rng.normal(0.0, 0.01, size=(x_train.shape[1], 10)), name="W0")
    order = rng.permutation(len(x_train))  # minibatches fixed in advance
    for k in range(steps):
        batch = np.take(order, range(k * batch_size, (k + 1) * batch_size), mode="wrap")
        w = w - lr * ga.grad(loss(w, x_train[batch], y_train[batch]), w)
    val = loss(w, x_val, y_val)
    return val, ga.grad(val, lr)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="unrolled SGD steps K")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hyper-steps", type=int, default=8, help="descent steps on log(lr)")
    parser.add_argument("--hyper-lr", type=float, default=1.0)
    parser.add_argument(
        "--dump", metavar="PATH", help="write the compiled function's graph (.txt, .svg, ...)"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    x_train, y_train, x_val, y_val = load_data(rng)
    lr = ga.scalar("lr")
    val, hyper = build(lr, x_train, y_train, x_val, y_val, args.steps, args.batch_size, rng)
    f = ga.function([lr], [val, hyper], name="hypergradient")
    print(f"unrolled {args.steps} SGD steps; compiled in {time.perf_counter() - start:.1f} s")
    if args.dump:
        ga.printing.write_graph(f, args.dump)

    grad = float(f(args.lr)[1])
    h = 1e-5 * args.lr
    finite = (float(f(args.lr + h)[0]) - float(f(args.lr - h)[0])) / (2 * h)
    error = abs(grad - finite) / max(abs(finite), 1e-300)

    # Gradient descent on log(lr), whose gradient is lr * d val / d lr; each step changes
    # lr by at most a factor e**0.5 (at large lr the loss is rough in lr).
    lr_now = args.lr
    for step in range(args.hyper_steps + 1):
        value, slope = (float(v) for v in f(lr_now))
        print(
            f"hyper step {step}: lr {lr_now:.4f}  validation loss {value:.6f}  d/dlr {slope:+.4f}"
        )
        lr_now *= math.exp(-min(0.5, max(-0.5, args.hyper_lr * lr_now * slope)))

    print(f"time: {time.perf_counter() - start:.1f} s")
    print(
        f"hypergradient d val / d lr = {grad:.10g} ; finite difference = {finite:.10g} ; "
        f"relative error {error:.1e}"
    )
    return error


if __name__ == "__main__":
    sys.exit(0 if main() < 1e-5 else 1)
