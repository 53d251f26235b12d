"""W8: the cost of gradients, time(loss and all gradients) / time(loss alone).

    python bench/grad_cost.py [--reps 7]

W3: MLP 64-512-512-10, batch 512, tanh hidden layers, softmax cross-entropy, float32
(theory: about 2.89). W4: row-wise logsumexp of a 4096x4096 matrix, float32 and float64
(theory: 2). Runs on the default mode's backend; prints medians and minima of the timed
repetitions and writes bench/results/<date>-<host>-grad_cost.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import numpy as np

import graphad as ga


def timed(f, args, reps):
    f(*args)  # warm up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def mlp(reps):
    rng = np.random.default_rng(0)
    sizes = [64, 512, 512, 10]
    params = [
        ga.shared((rng.normal(size=(a, b)) / np.sqrt(a)).astype("float32"))
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    x, y = ga.matrix("x", "float32"), ga.vector("y", "int64")
    h = x
    for W in params[:-1]:
        h = ga.tanh(h @ W)
    loss = ga.categorical_crossentropy(ga.softmax(h @ params[-1]), y).mean()
    f_loss = ga.function([x, y], loss)
    f_both = ga.function([x, y], [loss, *ga.grad(loss, params)])
    args = (rng.normal(size=(512, 64)).astype("float32"), rng.integers(0, 10, 512))
    return timed(f_loss, args, reps), timed(f_both, args, reps)


def logsumexp_rows(dtype, reps):
    x = ga.matrix("x", dtype)
    out = ga.logsumexp(x, axis=1).sum()
    f_fwd = ga.function([x], out)
    f_both = ga.function([x], [out, ga.grad(out, x)])
    args = (np.random.default_rng(1).normal(size=(4096, 4096)).astype(dtype),)
    return timed(f_fwd, args, reps), timed(f_both, args, reps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    reps = parser.parse_args().reps
    rows = {
        "W3 mlp float32": mlp(reps),
        "W4 logsumexp float32": logsumexp_rows("float32", reps),
        "W4 logsumexp float64": logsumexp_rows("float64", reps),
    }
    report = {"mode": ga.config.mode, "machine": platform.platform(), "workloads": {}}
    print(f"mode {ga.config.mode}; medians (min) of {reps} repetitions")
    for name, ((loss_med, loss_min), (both_med, both_min)) in rows.items():
        ratio = both_med / loss_med
        print(
            f"{name:22s} loss {loss_med * 1e3:8.2f} ms ({loss_min * 1e3:.2f})  "
            f"loss+grad {both_med * 1e3:8.2f} ms ({both_min * 1e3:.2f})  ratio {ratio:.2f}"
        )
        report["workloads"][name] = {
            "loss_median_s": loss_med,
            "loss_min_s": loss_min,
            "loss_and_grad_median_s": both_med,
            "loss_and_grad_min_s": both_min,
            "ratio": ratio,
        }
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(folder, exist_ok=True)
    stamp = datetime.date.today().isoformat()
    path = os.path.join(folder, f"{stamp}-{platform.node()}-grad_cost.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
