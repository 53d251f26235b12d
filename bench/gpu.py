"""Issue 10's GPU benchmark: graphad's CUDA backend against PyTorch CUDA eager.

    python bench/run.py --device cuda [--reps 7] [--smoke] [--out PATH]

Measured on the process's GPU, in one run:
- the device-to-device copy bandwidth (a ``cuMemcpyDtoD`` of 400 MB, read + write);
- W1: the elementwise expression of workloads.py on 1e8 float32 elements, as bytes
  moved per second and as a fraction of the copy bandwidth (target >= 70 %);
- W3: the MLP SGD step of mlp.py (target <= 1.0x PyTorch eager);
- W4: the row logsumexp of a 4096 x 4096 float32 matrix (target <= 0.8x PyTorch eager).

Inputs live on the device before the clock starts (graphad: DeviceArrays, shared
variables; PyTorch: CUDA tensors) and results stay there (``outputs_on_device``), so
the figures are the GPU's, not PCIe's. Each rep runs the call often enough to last
about 20 ms and then waits for the device; the table shows the median of the reps.
Each framework's result is checked against NumPy's as run.py checks it
(``workloads.check``). Results go to
``bench/results/<date>-<host>-cuda.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mlp  # noqa: E402
import workloads  # noqa: E402
from workloads import check  # noqa: E402

TARGETS = {"W1": ("copy", 0.7), "W3": ("torch", 1.0), "W4": ("torch", 0.8)}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 rep, no JSON")
    parser.add_argument("--out", help="where to write the JSON results")
    return parser.parse_args(argv)


def timed(fn, sync, reps, min_rep_s):
    """Median and min seconds per call of ``fn`` over ``reps`` reps (each waits for the
    device at its end)."""
    fn()
    sync()
    start = time.perf_counter()
    fn()
    sync()
    once = max(time.perf_counter() - start, 1e-7)
    n = max(1, int(min_rep_s / once))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times), min(times)


def torch_cuda():
    """PyTorch when it is installed and sees a GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def copy_bandwidth(device, n, reps, min_rep_s):
    a, b = device.empty((n,), "float32"), device.empty((n,), "float32")
    med, _ = timed(lambda: device.dtod(b.ptr, a.ptr, a.nbytes), device.synchronize, reps, min_rep_s)
    return 2 * a.nbytes / med  # read + write


def w1(ga, device, torch, n, reps, min_rep_s):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(n).astype("float32") for _ in range(3)]
    want = workloads.elementwise(np, *xs)
    vs = [ga.vector(f"x{i}", dtype="float32") for i in range(3)]
    f = ga.function(vs, workloads.elementwise(ga, *vs), outputs_on_device=True)
    on_device = [device.upload(x) for x in xs]
    rows = {"graphad": (timed(lambda: f(*on_device), device.synchronize, reps, min_rep_s),
                        check(f(*on_device), want, "float32"))}  # fmt: skip
    if torch is not None:
        ts = [torch.from_numpy(x).cuda() for x in xs]
        run = lambda: workloads.elementwise(torch, *ts)  # noqa: E731
        rows["torch"] = (
            timed(run, torch.cuda.synchronize, reps, min_rep_s),
            check(run().cpu().numpy(), want, "float32"),
        )
    return rows, 4 * n * 4


def w3(ga, device, torch, reps, min_rep_s, smoke):
    params, x, y = mlp.mlp_data(smoke)
    want = mlp.mlp_numpy([p.copy() for p in params], x, y, "loss")
    lr = np.float32(mlp.LR)
    shared = [ga.shared(p.copy()) for p in params]
    xv, yv = ga.matrix("x", dtype="float32"), ga.vector("y", dtype="int64")
    loss = mlp.mlp_loss("graphad", shared, xv, yv)
    grads = ga.grad(loss, shared)
    step = ga.function(
        [xv, yv], loss, updates=[(p, p - lr * g) for p, g in zip(shared, grads)],
        outputs_on_device=True,
    )  # fmt: skip
    dx, dy = device.upload(x), device.upload(y)
    first = check(step(dx, dy), want, "float32")
    rows = {"graphad": (timed(lambda: step(dx, dy), device.synchronize, reps, min_rep_s), first)}
    if torch is not None:
        ps = [torch.from_numpy(p.copy()).cuda().requires_grad_() for p in params]
        xt, yt = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()

        def run():
            value = mlp.mlp_loss("torch", ps, xt, yt)
            gs = torch.autograd.grad(value, ps)
            with torch.no_grad():
                for p, g in zip(ps, gs):
                    p.sub_(g, alpha=mlp.LR)
            return value

        first = check(run().detach().cpu().numpy(), want, "float32")
        rows["torch"] = (timed(run, torch.cuda.synchronize, reps, min_rep_s), first)
    return rows, None


def w4(ga, device, torch, n, reps, min_rep_s):
    z = np.random.default_rng(4).standard_normal((n, n)).astype("float32")
    want = workloads.lse_numpy(z)
    zv = ga.matrix("z", dtype="float32")
    f = ga.function([zv], workloads.lse_rows("graphad", zv), outputs_on_device=True)
    dz = device.upload(z)
    rows = {"graphad": (timed(lambda: f(dz), device.synchronize, reps, min_rep_s),
                        check(f(dz), want, "float32"))}  # fmt: skip
    if torch is not None:
        zt = torch.from_numpy(z).cuda()
        run = lambda: torch.logsumexp(zt, dim=1)  # noqa: E731
        rows["torch"] = (
            timed(run, torch.cuda.synchronize, reps, min_rep_s),
            check(run().cpu().numpy(), want, "float32"),
        )
    return rows, z.nbytes + n * 4


def main(argv=None, device=None) -> int:
    """Run the GPU benchmark on ``device`` (the process's GPU by default)."""
    args = parse_args(argv)
    import graphad as ga
    from graphad.backend.cuda.runtime import current_device, use_device

    ga.config.device = "cuda"
    try:
        device = device or current_device()
    except ga.MissingToolError as exc:
        print(f"bench/run.py --device cuda: {exc}")
        return 2
    torch = torch_cuda()
    reps, min_rep_s = (1, 0.0) if args.smoke else (args.reps, 0.02)
    n1, n4, ncopy = (10_000, 64, 100_000) if args.smoke else (10**8, 4096, 10**8)
    with use_device(device):
        bandwidth = copy_bandwidth(device, ncopy, reps, min_rep_s)
        results = {
            "W1": w1(ga, device, torch, n1, reps, min_rep_s),
            "W3": w3(ga, device, torch, reps, min_rep_s, args.smoke),
            "W4": w4(ga, device, torch, n4, reps, min_rep_s),
        }
    print(f"device: {device.name}; PyTorch: {torch.__version__ if torch else 'not on a GPU'}")
    print(f"device-to-device copy: {bandwidth / 1e9:.1f} GB/s (read + write)")
    print(f"{'workload':9s} {'framework':9s} {'median':>10s} {'min':>10s}  {'ratio':>7s}  check")
    failed, report = False, {}
    for name, (rows, nbytes) in results.items():
        report[name] = {}
        for fw, ((med, low), (verdict, err)) in rows.items():
            failed |= verdict != "ok"
            ratio = ""
            if nbytes and fw == "graphad" and name == "W1":
                ratio = f"{nbytes / med / bandwidth:.2f}c"  # of the copy bandwidth
            elif fw == "graphad" and "torch" in rows:
                ratio = f"{med / rows['torch'][0][0]:.2f}x"
            print(
                f"{name:9s} {fw:9s} {med * 1e3:8.3f}ms {low * 1e3:8.3f}ms  {ratio:>7s}  "
                f"{verdict} ({err:.1e})"
            )
            report[name][fw] = {"median_s": med, "min_s": low, "check": verdict, "error": err}
        if nbytes:
            report[name]["bytes"] = nbytes
    print("targets: W1 >= 0.70c (of the copy bandwidth); W3 step <= 1.0x and W4 <= 0.8x torch")
    out = args.out or (
        None
        if args.smoke
        else os.path.join(
            os.path.dirname(os.path.abspath(__file__)),
            "results",
            f"{datetime.date.today().isoformat()}-{platform.node()}-cuda.json",
        )
    )
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as fh:
            json.dump(
                {"device": device.name, "copy_bytes_per_s": bandwidth, **report}, fh, indent=1
            )
        print(f"wrote {out}")
    print("all checks passed" if not failed else "SOME CHECKS FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
