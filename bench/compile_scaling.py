"""Rewrite time of a generated MLP-like gradient graph of about 10,000 and 20,000 nodes.

    python bench/compile_scaling.py [--reps 3]

The graph is the loss of a deep MLP (tanh layers with bias, softmax cross-entropy)
and its gradients with respect to every weight and bias, as ``ga.function`` sees it
before rewriting. The number of layers is chosen so the graph has about the target
number of nodes. The FAST_RUN pipeline is timed on a fresh copy of that graph (the
minimum of ``--reps`` runs is reported, with the median), per pass and in total.
Targets (issue 4, on a 2-core machine): 10,000 nodes < 1 s, and the 20,000-node time
< 2.2× the 10,000-node time. Writes bench/results/<date>-<host>-compile_scaling.json.
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
from graphad.graph.fgraph import FunctionGraph
from graphad.rewrite.pipeline import run_pipeline


def mlp_gradient_graph(layers, width=32):
    """The FunctionGraph of [loss] + gradients of a ``layers``-deep MLP."""
    rng = np.random.default_rng(0)
    x = ga.matrix("x", "float32")
    labels = ga.vector("labels", "int64")
    params, h = [], x
    for k in range(layers):
        w = ga.shared(rng.normal(size=(width, width)).astype("float32"), f"W{k}")
        b = ga.shared(np.zeros(width, "float32"), f"b{k}")
        params += [w, b]
        h = ga.tanh(h @ w + b)
    loss = ga.categorical_crossentropy(ga.softmax(h), labels).mean()
    grads = ga.grad(loss, params)
    updates = [p - 0.1 * g for p, g in zip(params, grads)]
    return FunctionGraph([x, labels], [loss] + updates)


def graph_for(target):
    """The MLP gradient graph with the node count closest to ``target``."""
    per_layer = len(mlp_gradient_graph(2).apply_nodes) - len(mlp_gradient_graph(1).apply_nodes)
    base = len(mlp_gradient_graph(1).apply_nodes) - per_layer
    layers = max(1, round((target - base) / per_layer))
    return mlp_gradient_graph(layers), layers


def time_pipeline(fgraph, reps):
    totals, passes, sizes = [], [], None
    for _ in range(reps):
        fg = fgraph.clone()
        start = time.perf_counter()
        record = run_pipeline(fg, "FAST_RUN")
        totals.append(time.perf_counter() - start)
        passes.append(dict(record.pass_times))
        sizes = len(fg.apply_nodes)
    best = totals.index(min(totals))
    return min(totals), statistics.median(totals), passes[best], sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for target in (10_000, 20_000):
        fgraph, layers = graph_for(target)
        n = len(fgraph.apply_nodes)
        best, median, passes, after = time_pipeline(fgraph, args.reps)
        rows.append(
            {
                "target_nodes": target,
                "layers": layers,
                "nodes_before": n,
                "nodes_after": after,
                "rewrite_s_min": best,
                "rewrite_s_median": median,
                "pass_s": passes,
            }
        )
        detail = ", ".join(f"{k} {v:.3f}" for k, v in passes.items())
        print(
            f"{n:6d} nodes ({layers} layers) -> {after} nodes: min {best:.3f} s, "
            f"median {median:.3f} s  [{detail}]"
        )
    ratio = rows[1]["rewrite_s_min"] / rows[0]["rewrite_s_min"]
    size_ratio = rows[1]["nodes_before"] / rows[0]["nodes_before"]
    print(f"time ratio 20k/10k: {ratio:.2f} (node ratio {size_ratio:.2f}; target < 2.2)")
    print(f"10k-node rewrite: {rows[0]['rewrite_s_min']:.3f} s (target < 1 s)")
    machine = {
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    result = {"machine": machine, "rows": rows, "ratio_20k_10k": ratio}
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(out_dir, exist_ok=True)
    name = f"{datetime.date.today()}-{platform.node() or 'host'}-compile_scaling.json"
    with open(os.path.join(out_dir, name), "w") as fh:
        json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
