"""Logistic regression on scikit-learn's digits: binary (sigmoid) and 10-class (softmax).

Two linear models trained with minibatch gradient descent, each as ONE compiled graphad
function that returns the loss and the gradients and updates the weights:

    binary (digit 0 or not):  p = sigmoid(x @ w + b),  loss = mean(binary_crossentropy(p, t))
    10-class:                 P = softmax(x @ W + b),  loss = mean(categorical_crossentropy(P, y))
    W <- W - lr * dloss/dW,   b <- b - lr * dloss/db

The gradients graphad derives on the first step are checked against the closed forms,
X^T (p - t) / n and mean(p - t) (with the one-hot labels in place of t for softmax).

Run:  python examples/logistic_regression.py [--epochs N] [--lr 0.5] [--dump graph.svg]
(--dump writes the compiled 10-class training step in any format of
ga.printing.write_graph, .txt being ga.dprint's text.)
It prints the losses, the gradient check and both held-out test accuracies (about 0.99
binary, 0.96 10-class); the exit status is 0 when all of them pass.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphad as ga

GRAD_TOL = 1e-10


def load_data(seed):
    """Digits scaled to [0, 1], split 75 / 25 with stratified classes."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(ga.config.floatX)
    y = digits.target.astype("int64")
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def build_model(n_in, n_out, rng, lr):
    """Symbolic logistic regression; n_out=1 is binary (sigmoid, float targets), else
    softmax over n_out classes (int64 labels). Returns (train_step, predict, W, b)."""
    x = ga.matrix("x")
    shape = (n_in,) if n_out == 1 else (n_in, n_out)
    W = ga.shared(rng.normal(0, 0.01, size=shape).astype(ga.config.floatX), "W")
    b = ga.shared(np.zeros(shape[1:], dtype=ga.config.floatX), "b")
    z = x @ W + b
    if n_out == 1:
        t = ga.vector("t")
        loss = ga.binary_crossentropy(ga.sigmoid(z), t).mean()
        prediction = z > 0
    else:
        t = ga.vector("y", dtype="int64")
        loss = ga.categorical_crossentropy(ga.softmax(z), t).mean()
        prediction = ga.argmax(z, axis=1)
    gW, gb = ga.grad(loss, [W, b])
    updates = [(W, W - lr * gW), (b, b - lr * gb)]
    train_step = ga.function([x, t], [loss, gW, gb], updates=updates, name="train_step")
    predict = ga.function([x], prediction, name="predict")
    return train_step, predict, W, b


def closed_form_grad(x, t, W, b):
    """NumPy gradient of the mean cross-entropy: X^T (p - t) / n and mean(p - t)."""
    z = x @ W + b
    if W.ndim == 1:
        err = 1.0 / (1.0 + np.exp(-z)) - t
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        err = e / e.sum(axis=1, keepdims=True) - np.eye(W.shape[1])[t]
    return x.T @ err / len(x), err.mean(axis=0)


def train(label, model, x, t, args, rng):
    """Minibatch gradient descent; returns the gradient check's max abs difference."""
    train_step, _, W, b = model
    n, diff = len(x), None
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for lo in range(0, n, args.batch_size):
            batch = order[lo : lo + args.batch_size]
            if diff is None:  # the first step: its gradients at the initial weights
                expect = closed_form_grad(x[batch], t[batch], W.get_value(), b.get_value())
            loss, gW, gb = train_step(x[batch], t[batch])
            if diff is None:
                diff = max(np.abs(gW - expect[0]).max(), np.abs(gb - expect[1]).max())
            total += float(loss) * len(batch)
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(f"{label:8s} epoch {epoch:3d}  loss {total / n:.4f}")
    return diff


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dump", metavar="PATH", help="write the 10-class training step's graph (.txt, .svg, ...)"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    binary = build_model(x_train.shape[1], 1, rng, args.lr)
    multi = build_model(x_train.shape[1], 10, rng, args.lr)
    if args.dump:
        ga.printing.write_graph(multi[0], args.dump)

    t_train = (y_train == 0).astype(ga.config.floatX)  # binary: is it a 0?
    diffs = [train("binary", binary, x_train, t_train, args, rng)]
    diffs.append(train("10-class", multi, x_train, y_train, args, rng))

    diff = max(diffs)
    binary_acc = float(np.mean(binary[1](x_test) == (y_test == 0)))
    multi_acc = float(np.mean(multi[1](x_test) == y_test))
    print(f"gradient check: max |graphad - closed form| = {diff:.1e}")
    print(f"binary test accuracy: {binary_acc:.4f}  (digit 0 or not, {len(y_test)} held out)")
    print(f"10-class test accuracy: {multi_acc:.4f}")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return diff < GRAD_TOL and binary_acc >= 0.95 and multi_acc >= 0.93


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
