"""The benchmark suite, bench/: it runs end to end on tiny sizes, prints every workload
with a ratio column, and reports a wrong result as FAIL with a non-zero exit status.
Timings decide nothing here (they belong to the benchmark's output, never to a test).
"""

import doctest
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import graphad as ga

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
WORKLOAD_NAMES = [f"W{i}" for i in range(1, 9)]
SIBLINGS = ("machine", "workloads", "mlp", "first_call")  # the modules run.py imports


@pytest.fixture(scope="module")
def run():
    """bench/run.py imported as a module (it puts bench/ on sys.path for its siblings);
    afterwards sys.path and sys.modules are as they were."""
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("bench_run", os.path.join(BENCH, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in (*SIBLINGS, "gpu"):  # gpu.py: imported for --device cuda
            del sys.modules[name]


def test_smoke_run_prints_every_workload_with_a_ratio():
    cmd = [sys.executable, os.path.join(BENCH, "run.py"), "--smoke", "--peers", "numpy"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    sections = re.split(r"^(W\d)  ", proc.stdout, flags=re.MULTILINE)
    tables = dict(zip(sections[1::2], sections[2::2]))
    assert sorted(tables) == WORKLOAD_NAMES, proc.stdout
    for name, table in tables.items():
        header = next(line for line in table.splitlines() if line.startswith("case "))
        assert "ratio" in header, (name, table)
        if name != "W7":  # W7's peers are the frameworks that compile (JAX, PyTensor)
            # graphad's rows carry a ratio against NumPy, the only peer here
            assert re.search(r"graphad .*\d\.\d\dx", table), (name, table)
    assert "FAIL" not in proc.stdout and "ERROR" not in proc.stdout


def test_check_reports_a_wrong_result_as_fail(run):
    ones = np.ones(3, "float32")
    assert run.check(ones, ones, "float32") == ("ok", 0.0)
    assert run.check(ones * (1 + 1e-6), ones, "float32")[0] == "ok"
    assert run.check(ones * 1.01, ones, "float32")[0] == "FAIL"
    assert run.check(np.full(3, np.nan), np.ones(3), "float64")[0] == "FAIL"
    assert run.check(np.ones(4), np.ones(3), "float64")[0] == "FAIL"  # shape
    assert run.check(np.ones(3), ones, "float32")[0] == "FAIL"  # float64 for a float32 case
    assert run.check([1.0], [1.0, 2.0], "float64")[0] == "FAIL"  # an output missing
    assert run.check(None, None, "float64")[0] == "-"  # nothing to check


def wrong_case(workloads, setup):
    """A W6 case in which graphad returns a wrong sum."""
    runs = {"graphad": lambda: lambda: np.float64(4.0), "numpy": lambda: lambda: np.float64(3.75)}
    return [workloads.Case("W6", "wrong sum", runs, 3.75, "float64", unit="us")]


def test_a_wrong_result_is_printed_as_fail_and_fails_the_run(run, monkeypatch, capsys):
    monkeypatch.setitem(run.WORKLOADS, "W6", lambda setup: wrong_case(run.workloads, setup))
    threads = getattr(ga.config, "threads", None)  # main() sets it, where graphad has it
    try:
        status = run.main(["--smoke", "--only", "W6", "--peers", "numpy"])
    finally:
        if threads is not None:
            ga.config.threads = threads
    out = capsys.readouterr().out
    assert status == 1
    assert re.search(r"^wrong sum +graphad .* FAIL", out, flags=re.MULTILINE), out
    assert re.search(r"^ +numpy .* ok", out, flags=re.MULTILINE), out


def test_a_framework_that_raises_is_an_error_not_a_crash(run):
    def broken():
        raise RuntimeError("cannot build")

    runs = {"graphad": broken, "numpy": lambda: lambda: np.zeros(3)}
    case = run.workloads.Case("W1", "x", runs, None, "float64")
    records = run.time_case(case, reps=2, min_rep_s=0.0)
    assert (
        records["graphad"]["check"] == "ERROR" and "cannot build" in records["graphad"]["message"]
    )
    assert len(records["numpy"]["times_s"]) == 2


@pytest.mark.parametrize("name", ["run", *SIBLINGS])
def test_docstring_examples(run, name):
    module = run if name == "run" else sys.modules[name]
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


def test_gpu_bench_runs_on_the_emulated_device(run, tmp_path, capsys):
    """``--device cuda``'s workloads, checks and table, on the host emulation of a GPU
    (tests/backend/cuda_device.py); on a GPU, ``python bench/run.py --device cuda``."""
    import gpu

    from tests.backend.cuda_device import EmulatedDevice

    old = ga.config.device
    try:
        status = gpu.main(["--smoke"], device=EmulatedDevice(tmp_path))
    finally:
        ga.config.device = old
    out = capsys.readouterr().out
    assert status == 0, out
    for name in ("W1", "W3", "W4"):
        assert re.search(rf"^{name} +graphad +[0-9.]+ms", out, re.M), out
    assert re.search(r"W1 +graphad .* \d\.\d\dc ", out) and "copy:" in out, out


def test_device_cuda_without_a_gpu_says_why(tmp_path):
    cmd = [sys.executable, os.path.join(BENCH, "run.py"), "--device", "cuda", "--smoke"]
    env = dict(os.environ, GRAPHAD_NO_GPU="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "GRAPHAD_NO_GPU" in proc.stdout, proc.stdout + proc.stderr
