"""Products on the GPU through cuBLAS: MatMul (batched, 1-d operands as np.matmul
takes them) and Gemm, as ``<t>gemmStridedBatched`` calls.

cuBLAS is column-major and graphad's arrays are row-major, so ``C = A @ B`` is asked
as ``C^T = B^T A^T``: a row-major matrix is its transpose's column-major storage
(operation N) and a column-major (transposed) view is read with operation T. An
operand with any other layout, or whose batch axes do not fold into one stride, is
copied contiguously on the device first. cuBLAS is loaded with ctypes from the CUDA
toolkit or the ``nvidia-cublas`` wheel (``GRAPHAD_CUBLAS`` names the library).

>>> import graphad as ga
>>> x = ga.matrix("x", dtype="float32")
>>> function("matmul", (x @ x).owner) is not None
True
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import sys

import numpy as np

from ...errors import MissingToolError, ShapeError
from .runtime import DeviceArray

OP_N, OP_T = 0, 1  # cublasOperation_t
_INT_MAX = 2**31 - 1


def function(driver: str, node):
    """(``fn(device, inputs) -> [output]``, the positions of the inputs it reads on
    the device) computing ``node`` (a MatMul for driver "matmul", a Gemm for "gemm");
    None unless every operand is float32, or every operand float64. (Gemm's alpha and
    beta are read on the host.)"""
    dtypes = {v.dtype for v in (*node.inputs, *node.outputs)}
    if len(dtypes) != 1 or dtypes.pop() not in ("float32", "float64"):
        return None
    if driver == "matmul":
        return (lambda device, inputs: [matmul(device, *inputs)]), (0, 1)
    return (lambda device, inputs: [gemm(device, *inputs)]), (0, 2, 3)


def matmul(device, a, b):
    """``np.matmul(a, b)`` of two device arrays (or host arrays, uploaded)."""
    a, b = device.to_device(a), device.to_device(b)
    return _product(device, a, b, None, 1.0, 0.0)


def gemm(device, c, alpha, a, b, beta):
    """``beta * c + alpha * (a @ b)`` for matrices ``a``, ``b`` and a ``c`` that
    broadcasts to the product's shape."""
    a, b = device.to_device(a), device.to_device(b)
    return _product(device, a, b, c, _scalar(alpha), _scalar(beta))


def _scalar(value) -> float:
    return float(np.asarray(value))  # a device scalar is downloaded: 8 bytes


def _matrix(x, right):
    """rows, cols and their byte strides of operand ``x`` (a 1-d one is a row on the
    left of the product and a column on the right)."""
    if x.ndim == 1:
        n, s = x.shape[0], x.strides[0]
        return (n, 1, s, 0) if right else (1, n, 0, s)
    return x.shape[-2], x.shape[-1], x.strides[-2], x.strides[-1]


def layout(rows, cols, rs, cs, item):
    """(cuBLAS operation, leading dimension) reading a ``rows`` x ``cols`` matrix of
    byte strides ``rs``, ``cs`` as the transpose cuBLAS needs; None if cuBLAS cannot
    read it in place.

    >>> layout(3, 4, 16, 4, 4), layout(3, 4, 4, 12, 4), layout(3, 4, 32, 8, 4)
    ((0, 4), (1, 3), None)
    """
    if (cols <= 1 or cs == item) and (rows <= 1 or (rs % item == 0 and rs // item >= max(cols, 1))):
        return OP_N, max(cols, 1) if rows <= 1 else rs // item
    if (rows <= 1 or rs == item) and (cols <= 1 or (cs % item == 0 and cs // item >= max(rows, 1))):
        return OP_T, max(rows, 1) if cols <= 1 else cs // item
    return None


def _batch_strides(x, batch):
    """Byte strides of ``x`` along the product's ``batch`` axes (0 where broadcast)."""
    own = x.shape[:-2] if x.ndim > 2 else ()
    st = x.strides[:-2] if x.ndim > 2 else ()
    off = len(batch) - len(own)
    return [0 if d < off or own[d - off] == 1 else st[d - off] for d in range(len(batch))]


def _product(device, a, b, c, alpha, beta):
    (m, k, _, _), (k2, n, _, _) = _matrix(a, False), _matrix(b, True)
    if k != k2:
        raise ShapeError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: {k} (the first's last "
            f"axis) != {k2} (the second's {'second-to-last' if b.ndim > 1 else 'only'} axis)"
        )
    try:
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    except ValueError:
        raise ShapeError(
            f"matmul: batch axes of {a.shape} and {b.shape} do not broadcast"
        ) from None
    full = batch + (m, n)
    if c is None:
        out = device.empty(full, a.dtype)
    else:
        if np.ndim(c) > 2 or np.broadcast_shapes(np.shape(c), full) != full:
            raise ShapeError(f"gemm: C of shape {np.shape(c)} does not broadcast to {full}")
        c = device.to_device(c, a.dtype)
        out = device.copy(c, full)  # beta * C is the GEMM's starting value
    if out.size:
        ops = [_operand(device, x, batch, right) for x, right in ((b, True), (a, False))]
        (tb, ldb, sb, b), (ta, lda, sa, a) = ops
        for v in (m, n, k, lda, ldb):
            if v > _INT_MAX:
                raise ShapeError(f"matmul: {a.shape} @ {b.shape} is too large for cuBLAS")
        item = a.itemsize
        inner = batch[-1] if batch else 1
        for index in itertools.product(*(range(s) for s in batch[:-1])):
            a_off = sum(i * s for i, s in zip(index, sa))
            b_off = sum(i * s for i, s in zip(index, sb))
            c_off = sum(i * s for i, s in zip(index, out.strides))
            device.gemm(
                a.dtype.name,
                tb,
                ta,
                n,
                m,
                k,
                alpha,
                b.ptr + b_off,
                ldb,
                (sb[-1] if batch else 0) // item,
                a.ptr + a_off,
                lda,
                (sa[-1] if batch else 0) // item,
                beta if c is not None else 0.0,
                out.ptr + c_off,
                max(n, 1),
                m * n,
                inner,
            )
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    return out.view(shape, DeviceArray.contiguous_strides(shape, out.dtype))


def _operand(device, x, batch, right):
    """(operation, leading dimension, batch byte strides, array) of one operand,
    copied contiguously first when cuBLAS cannot read it where it is."""
    found, strides = _readable(x, batch, right)
    if found is None:
        x = device.copy(x)  # row-major, batch axes folded: always readable
        found, strides = _readable(x, batch, right)
    op, ld = found
    return op, ld, strides, x


def _readable(x, batch, right):
    """(layout(...) of ``x``'s matrix, or None; its batch byte strides)."""
    rows, cols, rs, cs = _matrix(x, right)
    strides = _batch_strides(x, batch)
    found = layout(rows, cols, rs, cs, x.itemsize)
    if any(s % x.itemsize for s in strides):
        found = None
    return found, strides


class Cublas:
    """cuBLAS's GEMMs through ctypes, on the current context's default stream."""

    def __init__(self):
        self.lib = _load()
        self.handle = ctypes.c_void_p()
        status = self.lib.cublasCreate_v2(ctypes.byref(self.handle))
        if status != 0:
            raise MissingToolError(f"cuBLAS could not start (cublasCreate: status {status})")
        for name, ctype in (("S", ctypes.c_float), ("D", ctypes.c_double)):
            fn = getattr(self.lib, f"cublas{name}gemmStridedBatched")
            ptr, i, ll = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong
            fn.argtypes = [ptr, i, i, i, i, i, ctypes.POINTER(ctype), ptr, i, ll, ptr, i, ll]
            fn.argtypes += [ctypes.POINTER(ctype), ptr, i, ll, i]
            fn.restype = ctypes.c_int
        self.ctypes = {"float32": ctypes.c_float, "float64": ctypes.c_double}

    def gemm(self, dtype, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch):
        ctype = self.ctypes[dtype]
        fn = self.lib.cublasSgemmStridedBatched if dtype == "float32" else None
        fn = fn or self.lib.cublasDgemmStridedBatched
        status = fn(
            self.handle, ta, tb, m, n, k, ctypes.byref(ctype(alpha)), a, lda, sa, b, ldb, sb,
            ctypes.byref(ctype(beta)), c, ldc, sc, batch,
        )  # fmt: skip
        if status != 0:
            raise RuntimeError(f"cuBLAS {dtype} GEMM failed with status {status}")


def candidates() -> list:
    """Where cuBLAS may be, in the order tried."""
    found = [os.environ["GRAPHAD_CUBLAS"]] if os.environ.get("GRAPHAD_CUBLAS") else []
    for root in sys.path:  # the nvidia-cublas wheels (as PyTorch installs them)
        found += sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib", "libcublas.so*")))
        found += sorted(glob.glob(os.path.join(root, "nvidia", "lib", "libcublas.so*")))
    from .module import nvcc_path

    try:
        toolkit = os.path.dirname(os.path.dirname(os.path.realpath(nvcc_path())))
    except MissingToolError:
        toolkit = "/usr/local/cuda"
    for sub in ("lib64", "lib", os.path.join("targets", "x86_64-linux", "lib")):
        found += sorted(glob.glob(os.path.join(toolkit, sub, "libcublas.so*")))
    found += [f"libcublas.so.{v}" for v in (13, 12, 11)] + ["libcublas.so"]
    return list(dict.fromkeys(found))


def _load():
    tried = []
    for path in candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path}: {exc}")
    raise MissingToolError(
        "device=cuda needs cuBLAS for products: install the CUDA toolkit's cuBLAS or "
        "pip install nvidia-cublas, or set GRAPHAD_CUBLAS to libcublas.so's path; tried "
        + "; ".join(tried[-4:])
    )
