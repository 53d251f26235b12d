"""W7: the time from graph construction to a first result, in a new Python process.

Each measurement starts a child process, ``python bench/first_call.py FRAMEWORK MODE``,
which imports the framework (timed: the import), then builds, compiles and runs W3's SGD
step once (timed: the first call), and prints its times and loss as one JSON line.
"Cold" gives the child empty compile caches: a fresh ``compiledir`` for graphad; for
PyTensor (whose default mode compiles through Numba) a fresh ``base_compiledir`` and
``NUMBA_CACHE_DIR``; for JAX its persistent compilation cache is off. "Warm" runs a child
again on filled caches: the cold run's for graphad and PyTensor; for JAX its persistent
compilation cache (``JAX_COMPILATION_CACHE_DIR``, caching every entry), filled by one
untimed run first. Interpreter start-up and the import are not in the first-call time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial

import mlp
import numpy as np
import workloads
from workloads import Case, Setup, Target

FRAMEWORKS = ("graphad", "jax", "pytensor")  # those with a compile step and a cache


class FirstCall:
    """W7 for one framework: each call starts a child process (`first_call_child`) and
    returns (loss, seconds the child measured). ``cold`` gets an empty compile cache;
    ``warm`` reuses the cache of the last cold run (JAX's: fills one first)."""

    CACHED = ("graphad", "pytensor")  # their cold runs fill the cache dir they are given

    def __init__(self, fw: str, smoke: bool):
        self.fw, self.smoke, self.warm_dir = fw, smoke, None
        self._root = tempfile.TemporaryDirectory(prefix=f"bench-w7-{fw}-")

    def _child(self, mode: str, cache_dir: str | None) -> dict:
        env = dict(os.environ)
        if self.fw == "graphad" and cache_dir:
            env["GRAPHAD_FLAGS"] = _flags(env.get("GRAPHAD_FLAGS"), f"compiledir={cache_dir}")
        elif self.fw == "pytensor" and cache_dir:  # its C and Numba caches, and Numba's own
            env["PYTENSOR_FLAGS"] = _flags(
                env.get("PYTENSOR_FLAGS"), f"base_compiledir={cache_dir}"
            )
            env["NUMBA_CACHE_DIR"] = os.path.join(cache_dir, "numba-functions")
        elif self.fw == "jax":  # cold: the persistent cache off; warm: on, caching everything
            env["JAX_ENABLE_COMPILATION_CACHE"] = "true" if cache_dir else "false"
            env["JAX_COMPILATION_CACHE_DIR"] = cache_dir or ""
            env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
            env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
        cmd = [sys.executable, os.path.abspath(__file__), self.fw, mode]
        proc = subprocess.run(
            cmd + ["--smoke"] * self.smoke, env=env, capture_output=True, text=True
        )
        if proc.returncode:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            # the table shows the first line, the JSON keeps the traceback
            raise RuntimeError(f"child failed: {last}\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def import_time(self):
        return None, self._child("import", None)["import_s"]

    def cold(self):
        cache_dir = tempfile.mkdtemp(dir=self._root.name)
        report = self._child("run", cache_dir if self.fw != "jax" else None)
        if self.fw in self.CACHED:
            self.warm_dir = cache_dir
        return np.float32(report["loss"]), report["first_s"]

    def warm(self):
        if self.warm_dir is None:
            self.warm_dir = tempfile.mkdtemp(dir=self._root.name)
            self._child("run", self.warm_dir)
        report = self._child("run", self.warm_dir)
        return np.float32(report["loss"]), report["first_s"]


def _flags(old: str | None, new: str) -> str:
    """``new`` appended to a comma-separated flags string (the later setting wins)."""
    return f"{old},{new}" if old else new


def first_call_child(fw: str, mode: str, smoke: bool) -> dict:
    """In a fresh process: import ``fw``, then build, compile and run W3's step once."""
    before_import = time.perf_counter()
    workloads.namespace(fw)
    import_s = time.perf_counter() - before_import
    if mode == "import":
        return {"import_s": import_s}
    if fw == "graphad":
        workloads.set_graphad_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    params, x, y = mlp.mlp_data(smoke)
    start = time.perf_counter()
    loss = mlp.mlp_runner(fw, "step", params, x, y)()[0]
    return {"import_s": import_s, "first_s": time.perf_counter() - start, "loss": float(loss)}


def w7(setup: Setup) -> list[Case]:
    """No work model: the figure is the time to a first result. The check compares the
    child's first loss with NumPy's."""
    children = {fw: FirstCall(fw, setup.smoke) for fw in setup.frameworks if fw in FRAMEWORKS}
    params, x, y = mlp.mlp_data(setup.smoke)
    loss = mlp.mlp_numpy(params, x, y, "step")[0]
    specs = [
        ("import", "import_time", None, None),
        ("cold", "cold", loss, Target(1.2, ("jax",))),
        ("warm", "warm", loss, Target(0.7, ("jax",))),
    ]
    cases = []
    for name, method, ref, target in specs:
        runs = {fw: partial(getattr, child, method) for fw, child in children.items()}
        case = Case("W7", name, runs, ref, "float32", target=target, unit="s", self_timed=True)
        case.max_reps = 3
        cases.append(case)
    return cases


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="one W7 child process (run.py starts it)")
    parser.add_argument("framework", choices=FRAMEWORKS)
    parser.add_argument("mode", choices=["import", "run"])
    parser.add_argument("--smoke", action="store_true", help="a tiny MLP")
    args = parser.parse_args(argv)
    print(json.dumps(first_call_child(args.framework, args.mode, args.smoke)))


if __name__ == "__main__":
    main()
