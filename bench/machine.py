"""The machine's limits, measured on the spot: memory bandwidth and BLAS GFLOP/s.

    python bench/machine.py [--threads N] [--quick]

Every benchmark figure reads as a fraction of one of these limits:

- triad bandwidth, STREAM style: ``a[i] = b[i] + s * c[i]`` over float64 arrays far larger
  than the caches, counted as 3 arrays x 8 bytes per element (the write-allocate read of
  ``a`` is not counted, as in STREAM), best of several runs. The loop is a tiny C function
  built here with the host ``cc -O2 -fopenmp`` and called through ctypes on N threads;
  without a compiler NumPy does it in two passes (``a = s * c; a += b``), counted honestly
  as the 5 array passes it makes, on one thread.
- SGEMM and DGEMM GFLOP/s of NumPy's matmul at n = 2048 (2 n^3 flops), best of several.

This module also owns the thread settings (`thread_env`, `apply_threads`), which must run
before NumPy or any peer is imported; it imports NumPy only inside the functions that
measure, so importing it first is safe.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

TRIAD_C = r"""
#include <omp.h>
void triad(double *a, const double *b, const double *c, double s, long n, int threads) {
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
}
"""


def thread_env(threads: int) -> dict[str, str]:
    """The environment that gives every BLAS, OpenMP runtime and XLA ``threads`` threads.

    >>> thread_env(2)["OMP_NUM_THREADS"]
    '2'
    """
    n = str(threads)
    # XLA has no thread-count flag on CPU; intra_op_parallelism_threads is accepted (and
    # ignored) by XLA's flag parser, so apply_threads also narrows the CPU affinity,
    # which XLA's thread pool does follow.
    eigen = "true" if threads > 1 else "false"
    xla = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={n}"
    env = {
        "OMP_NUM_THREADS": n,
        "OPENBLAS_NUM_THREADS": n,
        "MKL_NUM_THREADS": n,
        "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + xla).strip(),
    }
    return env


# Idle thread pools sleep instead of spinning. The frameworks take turns in one process,
# and a pool that spins after its call (OpenBLAS ~0.1 s by default, OpenMP's active wait)
# takes the cores from the next framework: on 2 cores that made some figures 5-10x
# worse. Set only where the environment does not set them already.
QUIET_POOLS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def apply_threads(threads: int) -> None:
    """Set `thread_env` and `QUIET_POOLS` in ``os.environ`` and keep the process on
    ``threads`` CPUs.

    Call it before NumPy, graphad or a peer is imported: BLAS libraries read their thread
    count once, when they load. Child processes inherit these settings.
    """
    os.environ.update(thread_env(threads))
    for name, value in QUIET_POOLS.items():
        os.environ.setdefault(name, value)
    if hasattr(os, "sched_getaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])


def threads_from_argv(argv: list[str]) -> int:
    """The value of ``--threads`` in ``argv`` (default: every CPU), read before NumPy loads.

    >>> threads_from_argv(["--reps", "3", "--threads", "2"])
    2
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    return parser.parse_known_args(argv)[0].threads


def _build_triad(workdir: str):
    """The C triad as a ctypes function, or None when no compiler builds it."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return None
    src, lib = os.path.join(workdir, "triad.c"), os.path.join(workdir, "triad.so")
    with open(src, "w") as fh:
        fh.write(TRIAD_C)
    cmd = [cc, "-O2", "-fopenmp", "-shared", "-fPIC", src, "-o", lib]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    fn = ctypes.CDLL(lib).triad
    ptr = ctypes.POINTER(ctypes.c_double)
    fn.argtypes = [ptr, ptr, ptr, ctypes.c_double, ctypes.c_long, ctypes.c_int]
    fn.restype = None
    return fn


def triad_bandwidth(threads: int, n: int = 20_000_000, runs: int = 10) -> dict:
    """Best triad bandwidth in bytes/s over ``runs`` runs on ``n``-element arrays.

    >>> r = triad_bandwidth(1, n=100_000, runs=2)
    >>> r["bytes_per_s"] > 0 and r["method"] in ("c-openmp", "numpy")
    True
    """
    import numpy as np

    a, b, c = np.zeros(n), np.full(n, 1.0), np.full(n, 2.0)
    s = 3.0
    with tempfile.TemporaryDirectory() as workdir:
        fn = _build_triad(workdir)
        if fn is not None:
            args = [x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)) for x in (a, b, c)]

            def once():
                fn(*args, s, n, threads)

            method, passes = "c-openmp", 3
        else:

            def once():
                np.multiply(c, s, out=a)
                np.add(a, b, out=a)

            method, passes = "numpy", 5
        once()  # first touch of the pages, library load
        best = min(_seconds(once) for _ in range(runs))
    assert a[0] == 1.0 + s * 2.0
    return {"bytes_per_s": passes * 8 * n / best, "method": method, "n": n, "threads": threads}


def gemm_flops(dtype: str, n: int = 2048, runs: int = 5) -> float:
    """Best flop/s of NumPy's ``a @ b`` for two n x n ``dtype`` matrices (2 n^3 flops).

    >>> gemm_flops("float64", n=64, runs=2) > 0
    True
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)  # warm up: BLAS thread pool, page faults
    best = min(_seconds(lambda: np.matmul(a, b, out=out)) for _ in range(runs))
    return 2.0 * n**3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(threads: int, quick: bool = False) -> dict:
    """All the limits, plus a description of the machine; ``quick`` uses tiny sizes.

    >>> sorted(measure(1, quick=True))[:3]
    ['cpu', 'cpu_count', 'dgemm_flops_per_s']
    """
    triad = triad_bandwidth(threads, n=1_000_000 if quick else 20_000_000, runs=3 if quick else 10)
    gemm_n = 256 if quick else 2048
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "threads": threads,
        "triad_bytes_per_s": triad["bytes_per_s"],
        "triad_method": triad["method"],
        "triad_n": triad["n"],
        "sgemm_flops_per_s": gemm_flops("float32", gemm_n),
        "dgemm_flops_per_s": gemm_flops("float64", gemm_n),
        "gemm_n": gemm_n,
    }


def describe(limits: dict) -> str:
    """One line for people: bandwidth in GB/s, GEMM in GFLOP/s.

    >>> describe({"cpu": "X", "threads": 2, "triad_bytes_per_s": 1e10, "triad_method": "c",
    ...           "sgemm_flops_per_s": 2e11, "dgemm_flops_per_s": 1e11, "gemm_n": 8})
    'X, 2 threads: triad 10.0 GB/s (c), SGEMM 200.0 GFLOP/s, DGEMM 100.0 GFLOP/s (n=8)'
    """
    return (
        f"{limits['cpu']}, {limits['threads']} threads: "
        f"triad {limits['triad_bytes_per_s'] / 1e9:.1f} GB/s ({limits['triad_method']}), "
        f"SGEMM {limits['sgemm_flops_per_s'] / 1e9:.1f} GFLOP/s, "
        f"DGEMM {limits['dgemm_flops_per_s'] / 1e9:.1f} GFLOP/s (n={limits['gemm_n']})"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = parser.parse_args(argv)
    print(describe(measure(args.threads, args.quick)))


if __name__ == "__main__":
    # before NumPy loads (measure imports it): --threads decides how many threads
    # OpenBLAS starts
    apply_threads(threads_from_argv(sys.argv[1:]))
    main()
