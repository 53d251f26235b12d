"""CUDA modules: the kernels of a function rendered as one CUDA source
(``kernel/render_cuda.py``), compiled by ``nvcc --ptx`` once and kept in the compile
cache (``backend/cache.py``) by the hash of the source, graphad's headers, nvcc's
version and the target architecture. A runtime loads the PTX (PyCUDA's
``module_from_buffer``); building it needs no GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from ...errors import KernelError, MissingToolError
from ...kernel.render_cuda import module_source
from ..c.compiler import run_compiler
from ..c.module import headers_digest

# the virtual architecture the PTX is for: every GPU since Turing runs it (JIT-compiled;
# CUDA 13 dropped the older ones)
ARCH = "compute_75"


def nvcc_path() -> str:
    """The CUDA compiler; MissingToolError saying how to install it."""
    found = shutil.which("nvcc") or (
        "/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None
    )
    if found is None:
        raise MissingToolError(
            "the CUDA backend needs nvcc, the CUDA toolkit's compiler: install the toolkit "
            "(https://developer.nvidia.com/cuda-downloads, or conda install cuda-nvcc) and "
            "put nvcc on PATH"
        )
    return found


def _nvcc_identity(nvcc) -> str:
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else nvcc


def ptx_module(kernels, timings=None):
    """The path of the cached PTX of ``kernels`` (a list of (name, Kernel), as
    ``distinct_kernels`` gives them; the runtime's copy kernels are always in it).
    ``timings`` gets "codegen" and "compiler" seconds (the compiler's 0 on a cache
    hit)."""
    from .. import kernels_dir
    from ..cache import cache_key, default_cache

    timings = {} if timings is None else timings
    start = time.perf_counter()
    source = module_source(list(kernels))
    timings["codegen"] = time.perf_counter() - start
    nvcc = nvcc_path()
    key = cache_key(
        source, nvcc=_nvcc_identity(nvcc), arch=ARCH, headers=headers_digest(cuda=True), kind="ptx"
    )
    timings.setdefault("compiler", 0.0)

    def build(out_path):
        # in the cache's folder for this build (source and nvcc's temporary files):
        # removed however the build ends, or by the next build if this one is killed
        begin = time.perf_counter()
        scratch = os.path.dirname(out_path)
        src = os.path.join(scratch, "kernels.cu")
        with open(src, "w") as fh:
            fh.write(source)
        cmd = [nvcc, "--ptx", f"-arch={ARCH}", f"-I{kernels_dir()}", src, "-o", out_path]
        returncode, stderr = run_compiler(cmd, scratch)
        if returncode != 0:
            raise KernelError(
                "nvcc failed on graphad's generated CUDA (please report this bug):\n"
                f"{stderr[-4000:]}"
            )
        timings["compiler"] += time.perf_counter() - begin

    return default_cache().get(key, build, name="kernels", suffix=".ptx")
