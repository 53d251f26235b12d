"""Issue 6's CPU benchmark: graphad against NumPy, JAX, PyTorch and PyTensor.

    python bench/run.py [--only W1,W4] [--peers numpy,jax] [--threads N] [--reps 7]
                        [--inductor] [--smoke] [--out PATH]
    python bench/run.py --device cuda [--reps 7] [--smoke] [--out PATH]

``--device cuda`` runs issue 10's GPU benchmark instead (gpu.py).

Every workload (workloads.py, mlp.py, first_call.py) runs through graphad and, in the same
process, through NumPy and whichever of JAX (jax.jit), PyTorch (eager; ``--inductor`` adds
torch.compile) and PyTensor are installed. After one warm-up call each, the frameworks
take turns rep by rep, so a slow spell of the machine hits them all alike; a rep calls
the function often enough to last about 20 ms. Each framework's first result is checked
against NumPy's (FAIL in the table and a non-zero exit status when it differs).

Per case and framework the table shows the median and minimum of the reps, the ratio of
the median to the fastest peer's (peers: every framework but graphad), the fraction of
the machine's limit reached (the case's least bytes moved / triad bandwidth, or its GEMM
flops / GEMM peak; machine.py measures both on the spot), the check, and on graphad's row
issue 6's target. Every framework gets the same thread count. Results go to
``bench/results/<date>-<host>.json``.
"""

import argparse
import datetime
import gc
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import machine  # imports only the standard library: it sets the threads before NumPy loads

if __name__ == "__main__":
    # BLAS libraries, OpenMP runtimes and XLA read their thread counts once, when they load
    machine.apply_threads(machine.threads_from_argv(sys.argv[1:]))

import first_call  # noqa: E402
import mlp  # noqa: E402
import workloads  # noqa: E402
from workloads import TOLERANCE, check  # noqa: E402

WORKLOADS = {
    "W1": workloads.w1,
    "W2": workloads.w2,
    "W3": mlp.w3,
    "W4": workloads.w4,
    "W5": workloads.w5,
    "W6": workloads.w6,
    "W7": first_call.w7,
}
ALL = (*WORKLOADS, "W8")
PEERS = ("numpy", "jax", "torch", "pytensor")  # the default; "inductor" when asked for
UNITS = {"s": 1.0, "ms": 1e3, "us": 1e6}
ENV = (*machine.thread_env(1), *machine.QUIET_POOLS)  # the settings the JSON records


def inner_calls(fn, min_rep_s: float) -> int:
    """How many calls of ``fn`` make one rep last about ``min_rep_s`` (at least one)."""
    n = 1
    while True:
        seconds = _seconds(fn, n)
        if seconds >= min_rep_s / 10 or n >= 1 << 20:
            return max(1, math.ceil(n * min_rep_s / seconds)) if seconds > 0 else n
        n *= 10


def _seconds(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def time_case(case: workloads.Case, reps: int, min_rep_s: float) -> dict:
    """Build each framework's callable, warm it up and check it, then time the reps
    round-robin over the frameworks. Returns a record per framework."""
    records, ready = {}, {}
    for fw, build in case.runs.items():
        rec = records[fw] = {"times_s": [], "check": "-", "error": 0.0}
        try:
            start = time.perf_counter()
            fn = build()
            rec["build_s"] = time.perf_counter() - start
            if not case.self_timed:  # a self-timed case is checked on its first rep
                rec["check"], rec["error"] = check(fn(), case.reference, case.dtype)
                rec["inner_calls"] = inner_calls(fn, min_rep_s)
            ready[fw] = fn
        except Exception as exc:  # one framework failing must not stop the others
            rec.update(check="ERROR", message=f"{type(exc).__name__}: {exc}")
    for rep in range(min(reps, case.max_reps or reps)):
        for fw, fn in list(ready.items()):
            rec = records[fw]
            try:
                if case.self_timed:
                    result, seconds = fn()
                    if rep == 0:
                        rec["check"], rec["error"] = check(result, case.reference, case.dtype)
                else:
                    seconds = _seconds(fn, rec["inner_calls"]) / rec["inner_calls"]
            except Exception as exc:
                rec.update(check="ERROR", message=f"{type(exc).__name__}: {exc}")
                del ready[fw]
                continue
            rec["times_s"].append(seconds)
    ready.clear()
    gc.collect()  # free this case's functions and buffers before the next case builds
    for rec in records.values():
        if rec["times_s"]:
            rec["median_s"], rec["min_s"] = statistics.median(rec["times_s"]), min(rec["times_s"])
    return records


def summarize(case: workloads.Case, records: dict, limits: dict) -> None:
    """Add to each record its ratio to the fastest peer and its fraction of the limit, and
    to graphad's the target's verdict."""
    peers = [r["median_s"] for fw, r in records.items() if fw != "graphad" and "median_s" in r]
    peak = limits["sgemm_flops_per_s" if case.dtype == "float32" else "dgemm_flops_per_s"]
    for rec in records.values():
        if "median_s" not in rec:
            continue
        rec["ratio"] = rec["median_s"] / min(peers) if peers else None
        if case.bytes:
            rec["fraction"] = case.bytes / rec["median_s"] / limits["triad_bytes_per_s"]
        elif case.flops:
            rec["fraction"] = case.flops / rec["median_s"] / peak
    graphad = records.get("graphad", {})
    if case.target and "median_s" in graphad:
        graphad["target"] = verdict(case, records)


def verdict(case: workloads.Case, records: dict) -> str:
    """The target's text with "pass", "MISS" or "n/a" (no peer to compare with)."""
    target, mine = case.target, records["graphad"]["median_s"]
    if target.versus == ():
        value = mine * UNITS[case.unit]
        return f"{target.text(case.unit)}: {'pass' if value <= target.limit else 'MISS'}"
    names = [fw for fw in records if fw != "graphad"] if target.versus is None else target.versus
    medians = [records[fw]["median_s"] for fw in names if "median_s" in records.get(fw, {})]
    if not medians:
        return f"{target.text(case.unit)}: n/a"
    ratio = mine / min(medians)
    return f"{target.text(case.unit)}: {'pass' if ratio <= target.limit else 'MISS'} ({ratio:.2f}x)"


def _time(seconds, unit: str) -> str:
    return "-" if seconds is None else f"{seconds * UNITS[unit]:10.3f} {unit}"


def print_workload(name: str, cases: list, results: dict) -> None:
    print(f"\n{name}  {workloads.TITLES[name]}")
    if name in workloads.NOTES:
        print(f"    {workloads.NOTES[name]}")
    header = f"{'case':18}{'framework':10}{'median':>14}{'min':>14}{'ratio':>8}"
    print(f"{header}{'limit':>8}  {'check':6} target")
    model = None
    for case in cases:
        if case.model and case.model != model:
            limit = "triad bandwidth" if case.bytes else "GEMM peak"
            print(f"{'':18}model: {case.model} -> {limit}")
        model = case.model
        for k, (fw, rec) in enumerate(results[name][case.name]["frameworks"].items()):
            ratio, fraction = rec.get("ratio"), rec.get("fraction")
            median, least = (_time(rec.get(key), case.unit) for key in ("median_s", "min_s"))
            row = (
                f"{case.name if k == 0 else '':18}{fw:10}{median:>14}{least:>14}"
                f"{'-' if ratio is None else f'{ratio:.2f}x':>8}"
                f"{'-' if fraction is None else f'{fraction:.0%}':>8}  {rec['check']:6}"
            )
            note = rec.get("target") or rec.get("message", "").split("\n")[0][:120]
            if rec["check"] == "FAIL":
                note = f"max error {rec['error']:.1e} (tolerance {TOLERANCE[case.dtype]:g}) {note}"
            print(f"{row} {note}".rstrip())


def grad_cost(results: dict) -> dict:
    """W8: per row of workloads.GRAD_COST and framework, time(loss + grads) / time(loss)."""
    rows = {}
    for row, wl, loss_case, both_case, theory, target in workloads.GRAD_COST:
        cases = results.get(wl, {})
        loss, both = (cases.get(c, {}).get("frameworks", {}) for c in (loss_case, both_case))
        ratios = {}
        for fw, rec in loss.items():
            if "median_s" in rec and "median_s" in both.get(fw, {}):
                ratios[fw] = both[fw]["median_s"] / rec["median_s"]
        rows[row] = {"ratios": ratios, "theory": theory, "target": target}
    return rows


def print_grad_cost(rows: dict) -> None:
    print(f"\nW8  {workloads.TITLES['W8']}")
    print(f"{'case':18}{'framework':10}{'ratio':>8}{'theory':>8}  target")
    for row, spec in rows.items():
        for k, (fw, ratio) in enumerate(spec["ratios"].items()):
            mark = "pass" if ratio <= spec["target"] else "MISS"
            target = f"<= {spec['target']:g}: {mark}" if fw == "graphad" else ""
            line = f"{row if k == 0 else '':18}{fw:10}{ratio:7.2f}x{spec['theory']:8.2f}  {target}"
            print(line.rstrip())


def versions(frameworks) -> dict:
    """The version of every framework measured, graphad's with its git commit."""
    import graphad

    found = {"python": platform.python_version(), "graphad": graphad.__version__}
    wanted = {
        "numpy": True,
        "jax": "jax" in frameworks,
        "jaxlib": "jax" in frameworks,
        "torch": "torch" in frameworks or "inductor" in frameworks,
        "pytensor": "pytensor" in frameworks,
    }
    found.update({dist: importlib.metadata.version(dist) for dist, want in wanted.items() if want})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = ["git", "-C", root, "describe", "--always", "--dirty"]
    commit = subprocess.run(git, capture_output=True, text=True).stdout.strip()
    if commit:
        found["graphad"] += f" (git {commit})"
    return found


def frameworks_to_run(peers: list[str], inductor: bool) -> tuple[list[str], list[str]]:
    """graphad plus the selected peers that are installed; and the missing ones."""
    if inductor and "inductor" not in peers:
        peers = [*peers, "inductor"]
    module = {"numpy": "numpy", "jax": "jax", "torch": "torch", "inductor": "torch"}
    have = [p for p in peers if importlib.util.find_spec(module.get(p, p)) is not None]
    return ["graphad", *have], [p for p in peers if p not in have]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ALL), help="workloads, e.g. W1,W4")
    parser.add_argument("--peers", default=",".join(PEERS), help="e.g. numpy,jax,inductor")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--inductor", action="store_true", help="also torch.compile")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 rep, no JSON")
    parser.add_argument("--out", help="where to write the JSON results")
    args = parser.parse_args(argv)
    args.only, args.peers = args.only.split(","), args.peers.split(",")
    known = (*ALL, *PEERS, "inductor")
    for name in set(args.only) - set(ALL) | set(args.peers) - set(PEERS) - {"inductor"}:
        parser.error(f"unknown workload or peer {name!r}; known: {', '.join(known)}")
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    device, rest = split_device(argv)
    if device == "cuda":
        import gpu

        return gpu.main(rest)
    if device != "cpu":
        print(f"bench/run.py: --device must be cpu or cuda, not {device!r}")
        return 2
    args = parse_args(rest)
    frameworks, missing = frameworks_to_run(args.peers, args.inductor)
    if "torch" in frameworks or "inductor" in frameworks:
        import torch

        torch.set_num_threads(args.threads)
    threads_option = workloads.set_graphad_threads(args.threads)
    reps, min_rep_s = (1, 0.0) if args.smoke else (args.reps, 0.02)
    limits = machine.measure(args.threads, quick=args.smoke)
    print(machine.describe(limits))
    found = versions(frameworks)
    print("versions: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    print(f"frameworks: {', '.join(frameworks)}; not installed: {', '.join(missing) or '-'}")
    print(f"threads: {args.threads} (ga.config.threads {'set' if threads_option else 'missing'})")
    print("env: " + " ".join(f"{k}={os.environ.get(k)}" for k in ENV))
    print(f"median and min of {reps} reps; ratio: median / fastest peer's median; limit: the")
    print("fraction of the machine's limit (model bytes / triad, or GEMM flops / GEMM peak)")
    only = set(args.only) | ({"W3", "W4"} if "W8" in args.only else set())
    setup = workloads.Setup(tuple(frameworks), smoke=args.smoke)
    results, failed = {}, False
    for name, build in WORKLOADS.items():
        if name not in only:
            continue
        cases = build(setup)
        results[name] = {}
        for case in cases:
            records = time_case(case, reps, min_rep_s)
            summarize(case, records, limits)
            failed |= any(r["check"] in ("FAIL", "ERROR") for r in records.values())
            results[name][case.name] = {
                "model": case.model,
                "bytes": case.bytes,
                "flops": case.flops,
                "unit": case.unit,
                "target": case.target and case.target.text(case.unit),
                "frameworks": records,
            }
        print_workload(name, cases, results)
    if "W8" in args.only:
        results["W8"] = grad_cost(results)
        print_grad_cost(results["W8"])
    report = {
        "date": datetime.date.today().isoformat(),
        "host": platform.node(),
        "machine": limits,
        "versions": found,
        "threads": args.threads,
        "graphad_threads_option": threads_option,
        "env": {k: os.environ.get(k) for k in ENV},
        "reps": reps,
        "argv": sys.argv[1:],
        "workloads": results,
    }
    out = args.out or (None if args.smoke else default_path(report))
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as fh:
            json.dump(report, fh, indent=1, default=str)
        print(f"\nwrote {out}")
    print("\nall checks passed" if not failed else "\nSOME CHECKS FAILED")
    return 1 if failed else 0


def split_device(argv):
    """(the --device value, "cpu" by default; the other arguments).

    >>> split_device(["--device", "cuda", "--smoke"]), split_device(["--device=cpu"])
    (('cuda', ['--smoke']), ('cpu', []))
    """
    device, rest, it = "cpu", [], iter(argv)
    for arg in it:
        if arg == "--device":
            device = next(it, "")
        elif arg.startswith("--device="):
            device = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return device, rest


def default_path(report: dict) -> str:
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    return os.path.join(folder, f"{report['date']}-{report['host']}.json")


if __name__ == "__main__":
    sys.exit(main())
