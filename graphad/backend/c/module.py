"""One extension module per compiled function: every fused kernel of its graph in one
C file, compiled once (cached on disk by content), loaded, and turned into thunks.

One module is the same for every function and is built once per cache, at the same
time as the first function's: the runtime (kernels/graphad_pool.c: threads, allocator,
the C runner, and BLAS's products from blas.py). Nodes with neither (indexing,
...) run their NumPy ``perform`` inside the same schedule; the profile names the
backend of every node.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import struct
import sysconfig
import time

import numpy as np

from ...compile.vm import c_error
from ...kernel.render_c import CRenderer
from ..numpy import make_thunk as numpy_thunk

MODULE = "gdmod"

_PRELUDE = """\
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include <math.h>
#include "graphad_runtime.h"
#include "graphad_pool.h"
#include "graphad_kernel.h"
#include "graphad_philox.h"
"""

# read at import (sysconfig's first read is not thread-safe; two threads build modules)
_EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
_loaded: dict = {}  # cache key -> module: one load per process
_pool_failed: list = []  # the error, once building the thread pool failed


def kernel_nodes(fgraph):
    """The fused kernels of ``fgraph`` in schedule order: the nodes the module holds."""
    return [n for n in fgraph.toposort() if getattr(n.op, "kernel", None) is not None]


def kernel_names(nodes) -> dict:
    """{node: its function's name in the module}: ``k0``, ``k1``... one per distinct
    kernel, so nodes computing the same kernel (the K unrolled steps of an optimizer)
    share one compiled function."""
    index: dict = {}
    return {node: f"k{index.setdefault(node.op.kernel, len(index))}" for node in nodes}


def distinct_kernels(names) -> dict:
    """{name: Kernel} of a ``kernel_names`` mapping: each name once, in order."""
    table: dict = {}
    for node, name in names.items():
        table.setdefault(name, node.op.kernel)
    return table


def module_source(nodes, renderer=None) -> str:
    """The C source of the module holding one function per distinct kernel of ``nodes``
    (named as ``kernel_names`` says). Each function takes a node's input arrays and
    returns its output array (or a tuple of them)."""
    from .compiler import vector_math

    renderer = renderer or CRenderer()
    parts = [_PRELUDE, vector_math()[0]]
    kernels = distinct_kernels(kernel_names(nodes))
    for name, kernel in kernels.items():
        parts.append(renderer.function(name, kernel))
    table = "\n".join(
        f'    {{"{name}", (PyCFunction)(void (*)(void)){name}, METH_FASTCALL, NULL}},'
        for name in kernels
    )
    parts.append(
        f"""
static PyMethodDef methods[] = {{
{table}
    {{NULL, NULL, 0, NULL}}
}};

static struct PyModuleDef moduledef = {{PyModuleDef_HEAD_INIT, "{MODULE}", NULL, -1, methods}};

PyMODINIT_FUNC PyInit_{MODULE}(void)
{{
    import_array();
    gd_bind_pool();
    return PyModule_Create(&moduledef);
}}
"""
    )
    return "\n".join(parts)


@functools.cache
def headers_digest(cuda=False) -> str:
    """The sha256 of graphad's C headers (kernels/*.h; graphad_cuda.h only for ``cuda``
    modules): generated sources include them, so a module built against other headers
    is another cache entry."""
    from .. import kernels_dir

    digest = hashlib.sha256()
    for name in sorted(os.listdir(kernels_dir())):
        if name.endswith(".h") and (cuda or name != "graphad_cuda.h"):
            digest.update(name.encode() + b"\0")
            with open(os.path.join(kernels_dir(), name), "rb") as fh:
                digest.update(fh.read())
    return digest.hexdigest()


def build_module(
    source: str,
    include_dirs=(),
    link_args=(),
    name=MODULE,
    before_load=None,
    opt=None,
    timings=None,
):
    """The loaded extension module ``name`` for ``source`` (which defines
    ``PyInit_<name>``), compiled unless the cache has it. ``include_dirs`` and
    ``link_args`` are passed to the compiler and are part of the cache key (the
    library a module links is not in its source). ``before_load()`` runs between
    compiling and loading. ``opt`` (e.g. ``"-O1"``) replaces the optimization level:
    the runtime modules are glue around loops that live elsewhere, and compile in half
    the time at -O1. ``timings`` (a dict) gets the seconds spent in the compiler
    ("compiler", 0 on a cache hit) and loading the module ("load")."""
    from ..cache import cache_key, default_cache
    from .compiler import (
        compile_flags,
        compile_shared,
        compiler_identity,
        compiler_path,
        cpu_identity,
    )

    cc = compiler_path()
    key = cache_key(
        source,
        compiler=compiler_identity(cc),
        flags=" ".join(compile_flags() + ((opt,) if opt else ())),
        cpu=cpu_identity(),
        include_dirs=list(include_dirs),
        link_args=list(link_args),
        headers=headers_digest(),
    )

    timings = {} if timings is None else timings
    timings.setdefault("compiler", 0.0)

    def build(out_path):
        # the source, and the compiler's own temporary files, go in the cache's folder for
        # this build: removed however the build ends, or by the next one if this is killed
        start = time.perf_counter()
        scratch = os.path.dirname(out_path)
        src = os.path.join(scratch, f"{name}.c")
        with open(src, "w") as fh:
            fh.write(source)
        compile_shared(src, out_path, include_dirs, link_args, opt, scratch=scratch)
        timings["compiler"] += time.perf_counter() - start

    cache = default_cache()
    if before_load is not None and key not in _loaded:
        cache.get(key, build, name=name, suffix=_EXT_SUFFIX)  # beside the runtime's build
        before_load()
    start, compiling = time.perf_counter(), timings["compiler"]
    module = _loaded.get(key)
    if module is None:  # (a missing or damaged entry is built here: that is compiler time)
        module = cache.load(key, build, _extension_loader(name), name=name, suffix=_EXT_SUFFIX)
        _loaded[key] = module
    spent = time.perf_counter() - start - (timings["compiler"] - compiling)
    timings["load"] = timings.get("load", 0.0) + spent
    return module


def _extension_loader(name):
    """``load(path, data)`` for CompileCache.load: the extension module ``name`` at
    ``path``, whose content is ``data`` (checked against its checksum just before)."""

    def load(path, data):
        problem = shared_library_problem(data)
        if problem is not None:  # loading it could crash the process (SIGBUS)
            raise ImportError(f"{path} is not a whole shared library: {problem}", path=path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def shared_library_problem(data: bytes) -> str | None:
    """Why the ELF shared library ``data`` is cut short, or None if all the parts its
    headers point at are inside it (the dynamic loader maps them without checking; a
    page past the end of the file is a SIGBUS). Other formats are left to the loader.

    >>> shared_library_problem(b"\x7fELF" + bytes(12))
    'the ELF header is cut short (16 bytes)'
    """
    if data[:4] != b"\x7fELF":
        return None
    wide, order = data[4:5] == b"\x02", "<" if data[5:6] == b"\x01" else ">"
    if len(data) < (64 if wide else 52):
        return f"the ELF header is cut short ({len(data)} bytes)"
    # e_phoff, e_shoff, then e_phentsize, e_phnum, e_shentsize, e_shnum (ELF64 or ELF32)
    phoff, shoff = struct.unpack_from(order + ("QQ" if wide else "II"), data, 32 if wide else 28)
    phsize, phnum, shsize, shnum = struct.unpack_from(order + "HHHH", data, 54 if wide else 42)
    need = max(phoff + phsize * phnum, shoff + shsize * shnum)
    # each program header: p_offset and p_filesz, the file bytes of a segment
    layout, offset, filesz = (order + "IIQQQQ", 2, 5) if wide else (order + "IIIII", 1, 4)
    if phnum and phsize < struct.calcsize(layout):
        return f"its program headers are {phsize} bytes long"
    if len(data) >= need:
        for i in range(phnum):
            fields = struct.unpack_from(layout, data, phoff + i * phsize)
            need = max(need, fields[offset] + fields[filesz])
    if len(data) < need:
        return f"it has {len(data)} bytes, its headers describe {need}"
    return None


def load_pool():
    """The thread pool module (kernels/graphad_pool.c), built once and registered as
    ``graphad_pool`` so that modules loaded after it find it; None, with a warning, if
    it cannot be built (compiled loops then run on one thread)."""
    import sys
    import warnings

    from ...backend import kernels_dir
    from ...config import config
    from ...errors import KernelError
    from . import blas

    pool = sys.modules.get("graphad_pool")
    if pool is None and not _pool_failed:
        with open(os.path.join(kernels_dir(), "graphad_pool.c")) as fh:
            source = blas.runtime_source() + fh.read()
        try:
            pool = build_module(
                source,
                blas.include_dirs(),
                ["-pthread", *blas.link_args()],
                name="graphad_pool",
                opt="-O1",
            )
        except KernelError as exc:
            _pool_failed.append(exc)  # warned once per process
            warnings.warn(f"graphad runs compiled loops on one thread: {exc}", stacklevel=2)
            return None
        sys.modules["graphad_pool"] = pool
        pool.set_threads(config.threads)
    return pool


def kernel_fits(node):
    """``fits(shapes)``: whether kernel ``node``'s compiled code is right for input
    arrays of ``shapes``. A kernel writes each full-shape output over its whole
    iteration space (the broadcast of its prologue's inputs) and a reduction's result
    at the reduced shape. That is right unless a dimension the graph leaves unknown is
    1 in all the inputs one output reads, or larger in an epilogue input than in the
    reduced shape; then the NumPy reference must run the call. None when it is always
    right (one output, and no reduction with an epilogue input)."""
    kernel = node.op.kernel
    red = kernel.reduce
    first, late = sorted(kernel.prologue_inputs()), sorted(kernel.epilogue_inputs())
    if len(node.outputs) == 1 and not (red is not None and late):
        return None
    deps = [sorted(kernel.input_deps(r)) for r in kernel.full_outputs]

    def fits(shapes):
        full = np.broadcast_shapes(*(shapes[i] for i in first))
        if red is not None:
            reduced = red.out_shape(full)
            if np.broadcast_shapes(reduced, *(shapes[i] for i in late)) != reduced:
                return False
            full = (1,) * (red.ndim - len(full)) + full
        return all(np.broadcast_shapes(*(shapes[i] for i in d)) == full for d in deps)

    return fits


def _checked_thunk(node, fn):
    """A thunk of kernel ``node``'s compiled function ``fn`` that runs the NumPy
    reference for the calls ``kernel_fits`` refuses."""
    fits = kernel_fits(node) or (lambda shapes: True)
    several = len(node.outputs) > 1
    reference = numpy_thunk(node)

    def thunk(inputs):
        try:
            if not fits([getattr(a, "shape", ()) for a in inputs]):
                return reference(inputs)
            result = fn(*inputs)
        except ValueError as exc:
            raise c_error(exc) from None
        return list(result) if several else [result]

    thunk.kind = "c"
    return thunk


def thunk_maker(fgraph, timings=None):
    """A ``make_thunk(node)`` for the VM: compiled kernels where the module has them,
    BLAS's functions for the products, the NumPy reference elsewhere. ``timings`` (a
    dict) gets the seconds of "codegen", "compiler" and "load", and of waiting for the
    runtime module ("runtime", built in parallel the first time in a process)."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    nodes = kernel_nodes(fgraph)
    functions = {}
    # the runtime (the C runner, threads, BLAS's products) compiles beside this module
    with ThreadPoolExecutor(1) as side:
        pool = None if "graphad_pool" in sys.modules else side.submit(load_pool)
        timings = {} if timings is None else timings

        def wait():  # for the runtime module, which must load first
            start = time.perf_counter()
            pool.result()
            timings["runtime"] = timings.get("runtime", 0.0) + time.perf_counter() - start

        if nodes:
            start = time.perf_counter()
            source = module_source(nodes)
            timings["codegen"] = time.perf_counter() - start
            module = build_module(source, before_load=pool and wait, timings=timings)
            functions = {node: getattr(module, name) for node, name in kernel_names(nodes).items()}
        if pool is not None:
            wait()
    for node in fgraph.apply_nodes:
        fn = node.op.c_callable(node) if hasattr(node.op, "c_callable") else None
        if fn is not None:
            functions[node] = fn

    def make_thunk(node):
        fn = functions.get(node)
        if fn is None:
            return numpy_thunk(node)

        if getattr(node.op, "kernel", None) is not None and kernel_fits(node) is not None:
            return _checked_thunk(node, fn)

        def thunk(inputs):
            try:
                return [fn(*inputs)]
            except ValueError as exc:  # NumPy's iterator refused to broadcast
                raise c_error(exc) from None

        thunk.kind = "c"
        thunk.c_function = fn  # what the C runner calls directly
        return thunk

    return make_thunk
