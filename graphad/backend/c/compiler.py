"""The host C compiler: which one, with which flags, and how it is run.

One compiler run builds one extension module. Flags: ``-O2`` (``-O3`` gained nothing
measurable on the fused loops and costs compile time), ``-fwrapv`` (signed integer
overflow wraps as in NumPy instead of being undefined), ``-fno-math-errno`` (lets
sqrt and friends vectorize; errno is never read) — and never ``-ffast-math``, which
would break NaN and Inf.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sysconfig

import numpy as np

from ...errors import KernelError, MissingToolError

FLAGS = ("-O2", "-fPIC", "-shared", "-std=c99", "-fwrapv", "-fno-math-errno", "-w")


def compile_flags() -> tuple:
    """FLAGS plus the user's ``config.cflags`` (e.g. ``-fsanitize=address`` in CI)."""
    from ...config import config

    return FLAGS + tuple(config.cflags.split())


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

    return [sysconfig.get_paths()["include"], np.get_include(), kernels_dir()]


def compile_shared(source_path: str, out_path: str, extra_includes=(), link_args=()) -> None:
    """Compile one C file into a shared library; KernelError with the compiler's
    message on failure (a bug in graphad's generated code, never the user's).

    ``extra_includes`` are searched after graphad's own include folders; ``link_args``
    (libraries, rpaths) follow the source, where the linker needs them."""
    cc = compiler_path()
    includes = (f"-I{d}" for d in [*include_dirs(), *extra_includes])
    cmd = [cc, *compile_flags(), *includes, source_path, *link_args, "-o", out_path, "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KernelError(
            f"the C compiler failed on graphad's generated {os.path.basename(source_path)} "
            f"(please report this bug):\n{proc.stderr[-4000:]}"
        )
