"""Train a one-hidden-layer MLP on scikit-learn's digits with minibatch SGD + momentum.

The digits data set ships inside scikit-learn (8x8 grey images of 0-9, 1797 of them),
so nothing is downloaded. The whole training step (forward pass, symbolic gradients
and the momentum update of every weight) is ONE compiled graphad function whose
updates all read the old values:

    velocity <- momentum * velocity - lr * dloss/dparam
    param    <- param + (momentum * velocity - lr * dloss/dparam)

Run:  python examples/mlp_digits.py [--epochs N] [--dropout 0.2] [--dump graph.svg]
(--dump writes the compiled training step in any format of ga.printing.write_graph,
.txt being ga.dprint's text.)
It prints the loss per epoch and the held-out test accuracy (about 0.97-0.98).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphad as ga


def load_data(seed):
    """Digits scaled to [0, 1], split 75 / 25 with stratified classes."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(ga.config.floatX)
    y = digits.target.astype("int64")
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


def build_model(n_in, n_hidden, n_out, rng, lr, momentum, dropout=0.0, seed=0):
    """Symbolic MLP; returns the compiled (train_step, predict) functions. With
    ``dropout`` > 0, training drops each hidden unit with that probability (inverted
    dropout: kept units are scaled by 1 / (1 - dropout)); the mask is drawn from a
    ga.RandomStream(seed), inside the training step's compiled kernels."""

    def weight(shape, name):
        bound = np.sqrt(6.0 / (shape[0] + shape[1]))  # Glorot uniform, for tanh
        return ga.shared(rng.uniform(-bound, bound, size=shape).astype(ga.config.floatX), name)

    w1 = weight((n_in, n_hidden), "W1")
    b1 = ga.shared(np.zeros(n_hidden, dtype=ga.config.floatX), "b1")
    w2 = weight((n_hidden, n_out), "W2")
    b2 = ga.shared(np.zeros(n_out, dtype=ga.config.floatX), "b2")
    params = [w1, b1, w2, b2]

    x = ga.matrix("x")
    y = ga.vector("y", dtype="int64")
    hidden = ga.tanh(x @ w1 + b1)
    probs = ga.softmax(hidden @ w2 + b2)
    train_hidden = hidden
    if dropout > 0:
        keep = ga.RandomStream(seed).binomial(hidden.shape, p=1 - dropout, dtype=hidden.dtype)
        train_hidden = hidden * keep / (1 - dropout)
    train_probs = ga.softmax(train_hidden @ w2 + b2)
    loss = ga.categorical_crossentropy(train_probs, y).mean()
    grads = ga.grad(loss, params)

    updates = []
    for param, grad in zip(params, grads):
        velocity = ga.shared(np.zeros_like(param.get_value()), f"v_{param.name}")
        new_velocity = momentum * velocity - lr * grad
        updates.append((velocity, new_velocity))
        updates.append((param, param + new_velocity))

    train_step = ga.function([x, y], loss, updates=updates, name="train_step")
    predict = ga.function([x], ga.argmax(probs, axis=1), name="predict")
    return train_step, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.0, help="drop hidden units (0-1)")
    parser.add_argument(
        "--dump", metavar="PATH", help="write the training step's graph (.txt, .svg, .html, ...)"
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    x_train, x_test, y_train, y_test = load_data(args.seed)
    train_step, predict = build_model(
        x_train.shape[1], args.hidden, 10, rng, args.lr, args.momentum, args.dropout, args.seed
    )
    if args.dump:
        ga.printing.write_graph(train_step, args.dump)

    n = len(x_train)
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        total = 0.0
        for lo in range(0, n, args.batch_size):
            batch = order[lo : lo + args.batch_size]
            total += float(train_step(x_train[batch], y_train[batch])) * len(batch)
        print(f"epoch {epoch:3d}  loss {total / n:.4f}")

    accuracy = float(np.mean(predict(x_test) == y_test))
    print(f"test accuracy: {accuracy:.4f}  ({len(y_test)} held-out digits)")
    print(f"time: {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    sys.exit(0 if main() >= 0.95 else 1)
