"""The host C compiler: which one, with which flags, and how it is run.

One compiler run builds one extension module. Flags: ``-O2`` (``-O3`` gained nothing
measurable on the fused loops and costs compile time), ``-march=native`` (AVX2/AVX-512
where the CPU has them; the CPU is part of every cache key), ``-fopenmp-simd`` (the
``#pragma omp simd`` loops and vector-math declarations, without the OpenMP runtime),
``-ffp-contract=off`` (no fused multiply-add: results stay those of NumPy's separate
multiply and add), ``-fwrapv`` (signed integer overflow wraps as in NumPy instead of
being undefined), ``-fno-math-errno`` (lets sqrt and friends vectorize; errno is never
read) — and never ``-ffast-math``, which would break NaN and Inf.

Vector math: glibc's libmvec has SIMD versions of exp, log, tanh, ... with the same
semantics for NaN, Inf and signed zeros and at most 4 ulp of error (glibc's own
tests). ``vector_math()`` declares those this machine's libmvec has, so that
``#pragma omp simd`` loops call them; bench/ulp.py measures their accuracy.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import shutil
import signal
import subprocess
import sysconfig
from subprocess import PIPE, Popen

import numpy as np

from ...errors import KernelError, MissingToolError

FLAGS = (
    "-O2",
    "-march=native",
    "-fopenmp-simd",
    "-ffp-contract=off",
    "-fPIC",
    "-shared",
    "-std=c99",
    "-fwrapv",
    "-fno-math-errno",
    "-w",
)

# libm functions with SIMD versions in glibc's libmvec (2.35 and later have them all),
# by number of arguments; each is declared only if this machine's libmvec has it.
VECTOR_FUNCTIONS = {
    1: (
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
        "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
        "erf", "erfc",
    ),
    2: ("pow", "atan2"),
}  # fmt: skip
# x86-64 vector ABI: ISA letter and lanes (float64, float32) of each variant GCC may call
_VARIANTS = (("b", 2, 4), ("c", 4, 8), ("d", 4, 8), ("e", 8, 16))


def compile_flags() -> tuple:
    """FLAGS, ``-mprefer-vector-width=512`` on a CPU with AVX-512, and the user's
    ``config.cflags`` (e.g. ``-fsanitize=address`` in CI)."""
    from ...config import config

    return FLAGS + _wide_vectors() + tuple(config.cflags.split())


@functools.lru_cache(maxsize=1)
def _wide_vectors() -> tuple:
    """GCC tunes AMD Zen (and generic x86) for 256-bit vectors even where the CPU has
    AVX-512; with 512-bit ones libmvec's exp/tanh/log1p loops run 20-40 % faster here
    (an AMD EPYC with AVX-512: W1 float32 10.2 -> 8.6 ms, exp 7.9 -> 5.6 ms)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ()
    return ("-mprefer-vector-width=512",) if " avx512f " in f" {cpu_identity()} " else ()


@functools.lru_cache(maxsize=1)
def cpu_identity() -> str:
    """What ``-march=native`` compiles for: the CPU's model and feature flags (part of
    every cache key, so a cache shared by different machines never mixes code)."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh if ln.startswith(("model name", "flags", "Features"))]
        return " | ".join(sorted(set(ln.strip() for ln in lines)))
    except OSError:
        return platform.machine() + " " + platform.processor()


@functools.lru_cache(maxsize=1)
def vector_math() -> tuple:
    """``(declarations, link_args)``: C declaring every libm function that this
    machine's libmvec vectorizes in all x86-64 ISA variants (``#pragma omp declare
    simd``), and ``-lmvec``; ``("", [])`` elsewhere."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return "", []
    try:
        lib = ctypes.CDLL("libmvec.so.1")
    except OSError:
        return "", []
    lines = []
    for nargs, names in VECTOR_FUNCTIONS.items():
        params = "v" * nargs
        for name in names:
            for suffix, ctype, lanes in (("", "double", 1), ("f", "float", 2)):
                symbols = [f"_ZGV{v[0]}N{v[lanes]}{params}_{name}{suffix}" for v in _VARIANTS]
                if all(hasattr(lib, sym) for sym in symbols):
                    args = ", ".join([ctype] * nargs)
                    lines.append("#pragma omp declare simd notinbranch")
                    lines.append(f"extern {ctype} {name}{suffix}({args});")
    if not lines:
        return "", []
    return "\n".join(lines) + "\n", ["-lmvec"]


# read at import: sysconfig's first read is not thread-safe, and two threads compile
_PYTHON_INCLUDE = sysconfig.get_paths()["include"]


def compiler_path() -> str:
    """The configured C compiler as an absolute path; MissingToolError if absent."""
    from ...config import config

    cc = config.cc
    found = shutil.which(cc)
    if found is None:
        raise MissingToolError(
            f"the C compiler {cc!r} was not found; install gcc or clang (e.g. `apt-get "
            "install gcc`) or point graphad at one with GRAPHAD_FLAGS=cc=/path/to/cc"
        )
    return found


@functools.lru_cache(maxsize=8)
def compiler_identity(path: str) -> str:
    """The compiler's version text: part of every cache key."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.strip().splitlines()[0] if out.stdout else path
    except (OSError, subprocess.SubprocessError):
        return path


def include_dirs() -> list:
    from ...backend import kernels_dir

    return [_PYTHON_INCLUDE, np.get_include(), kernels_dir()]


def run_compiler(cmd, scratch=None) -> tuple[int, str]:
    """Run the compiler command ``cmd``; (exit status, stderr). ``scratch`` becomes its
    TMPDIR. It runs in a process group of its own: spared the terminal's ^C, and killed
    as a whole (cc and the cc1, as, ld it started) if this call is interrupted or fails."""
    env = None if scratch is None else {**os.environ, "TMPDIR": scratch}
    proc = Popen(cmd, stdout=PIPE, stderr=PIPE, text=True, env=env, start_new_session=True)
    try:
        _, stderr = proc.communicate()
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc.returncode, stderr


def compile_shared(
    source_path: str, out_path: str, extra_includes=(), link_args=(), opt=None, scratch=None
) -> None:
    """Compile one C file into a shared library; KernelError with the compiler's
    message on failure (a bug in graphad's generated code, never the user's).

    ``extra_includes`` are searched after graphad's own include folders; ``link_args``
    (libraries, rpaths) follow the source, where the linker needs them; ``opt`` (e.g.
    ``"-O1"``) follows the flags; ``scratch`` is a folder for the compiler's temporary
    files (its TMPDIR), so that they go wherever the caller cleans up. The compiler runs
    in a process group of its own, killed if this call is interrupted (KeyboardInterrupt)."""
    cc = compiler_path()
    includes = (f"-I{d}" for d in [*include_dirs(), *extra_includes])
    vector_links = vector_math()[1]
    flags = compile_flags() + ((opt,) if opt else ())  # a later -O wins
    cmd = [cc, *flags, *includes, source_path, *link_args, *vector_links]
    cmd += ["-o", out_path, "-lm"]
    returncode, stderr = run_compiler(cmd, scratch)
    if returncode != 0:
        raise KernelError(
            f"the C compiler failed on graphad's generated {os.path.basename(source_path)} "
            f"(please report this bug):\n{stderr[-4000:]}"
        )
