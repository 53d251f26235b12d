"""The CUDA runtime: device arrays and the device that holds them.

``Device`` is what the CUDA backend needs of a GPU: memory (allocate, copy to and
from the host), modules of kernels, launches, and cuBLAS's GEMM. ``PyCudaDevice``
is that, through PyCUDA, on the process's current GPU. The tests run the whole
backend without a GPU on a host emulation of the same interface
(tests/backend/cuda_device.py); ``use_device`` installs one.

``DeviceArray`` is an array in device memory: shape, dtype, byte strides (views
share their allocation) and a data pointer. ``get()`` (or ``np.asarray``) downloads
it; compiled functions take one as an argument without a transfer, return them with
``outputs_on_device=True``, and keep shared variables' values in them.

>>> import numpy as np
>>> from graphad.backend.cuda.runtime import DeviceArray
>>> DeviceArray.contiguous_strides((2, 3), np.dtype("float32"))
(12, 4)
"""

from __future__ import annotations

import ctypes
import math
import os

import numpy as np

from ...errors import GraphadTypeError, MissingToolError

_COPY_ND = 32  # GD_COPY_ND in kernels/graphad_cuda.h


class _CopyArgs(ctypes.Structure):  # struct gd_copy_args
    _fields_ = [
        ("src", ctypes.c_void_p),
        ("dst", ctypes.c_void_p),
        ("st", ctypes.c_longlong * _COPY_ND),
        ("shape", ctypes.c_longlong * _COPY_ND),
        ("size", ctypes.c_longlong),
        ("nd", ctypes.c_longlong),
    ]


class DeviceArray:
    """An array in a device's memory: ``DeviceArray(device, shape, dtype)`` allocates
    a contiguous one; ``view`` makes others over the same memory. ``alloc`` keeps the
    memory alive; ``ptr`` is the address of element 0."""

    def __init__(self, device, shape, dtype):
        self.device = device
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.strides = self.contiguous_strides(self.shape, self.dtype)
        self.alloc = device.alloc(max(self.nbytes, 1))
        self.ptr = int(device.address(self.alloc))

    @staticmethod
    def contiguous_strides(shape, dtype):
        strides, step = [], np.dtype(dtype).itemsize
        for size in reversed(shape):
            strides.append(step)
            step *= max(size, 1)
        return tuple(reversed(strides))

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    @property
    def is_contiguous(self) -> bool:
        expect = self.contiguous_strides(self.shape, self.dtype)
        return all(n == 1 or s == e for n, s, e in zip(self.shape, self.strides, expect))

    def view(self, shape, strides, offset=0) -> DeviceArray:
        """A view of the same memory: ``offset`` bytes on, with ``shape`` and ``strides``."""
        out = DeviceArray.__new__(DeviceArray)  # (no checks: a step makes many views)
        out.device, out.dtype, out.alloc = self.device, self.dtype, self.alloc
        out.shape, out.strides, out.ptr = tuple(shape), tuple(strides), self.ptr + int(offset)
        return out

    def shares_memory(self, other) -> bool:
        return isinstance(other, DeviceArray) and other.alloc is self.alloc

    def get(self) -> np.ndarray:
        """A NumPy copy of the array (a download)."""
        return self.device.download(self)

    def copy(self) -> DeviceArray:
        """A contiguous copy on the device."""
        return self.device.copy(self)

    def __array__(self, dtype=None, copy=None):
        host = self.get()
        return host if dtype is None else host.astype(dtype, copy=False)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d DeviceArray")
        return self.shape[0]

    def __reduce__(self):  # pickles as its value: device memory belongs to a process
        return (np.asarray, (self.get(),))

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, on {self.device.name})"


class Device:
    """What the CUDA backend asks of a GPU. Subclasses give memory, copies, modules,
    launches and GEMM; this class builds arrays, transfers and the strided copy on
    them, and counts the bytes that cross between host and device."""

    name = "device"

    def __init__(self):
        self.uploaded = 0  # bytes copied host -> device, ever
        self.downloaded = 0  # bytes copied device -> host, ever
        self._runtime = None  # a loaded module: every one has the runtime's copies
        # deferred modules: kernels registered by ``module`` and built together later
        self.defer = False
        self._names = {}  # Kernel -> its name in the deferred modules
        self._pending = []  # (name, Kernel) not built yet
        self._built = {}  # name -> the loaded module holding it

    # --- what a subclass provides ---------------------------------------------------------
    def alloc(self, nbytes):
        """An allocation of ``nbytes`` (freed when it is garbage)."""
        raise NotImplementedError

    def address(self, alloc) -> int:
        return int(alloc)

    def htod(self, ptr, host: np.ndarray):
        """Copy the contiguous ``host`` array to device address ``ptr``."""
        raise NotImplementedError

    def dtoh(self, host: np.ndarray, ptr):
        """Copy from device address ``ptr`` into the contiguous ``host`` array."""
        raise NotImplementedError

    def dtod(self, dst, src, nbytes):
        """Copy ``nbytes`` from device address ``src`` to ``dst``."""
        raise NotImplementedError

    def load(self, kernels, timings=None):
        """A loaded module of ``kernels`` (a list of (name, Kernel)): an object whose
        ``function(name)`` is a launchable kernel (the runtime's copies included)."""
        raise NotImplementedError

    def launch(self, function, grid, block, args, extra=()):
        """Run ``function(args, *extra)`` on ``grid`` blocks of ``block`` threads."""
        raise NotImplementedError

    def gemm(self, dtype, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch):
        """cuBLAS's ``<t>gemmStridedBatched`` (column-major) on device addresses."""
        raise NotImplementedError

    def synchronize(self):
        """Wait for the work launched so far."""

    def check_gemm(self):
        """MissingToolError unless ``gemm`` can run (cuBLAS loads)."""

    # --- built on the above ---------------------------------------------------------------
    def empty(self, shape, dtype) -> DeviceArray:
        return DeviceArray(self, shape, dtype)

    def upload(self, value, dtype=None) -> DeviceArray:
        """``value`` (anything NumPy reads) in a new device array."""
        host = np.asarray(value, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d 1-d)
        out = self.empty(host.shape, host.dtype)
        if host.nbytes:
            self.htod(out.ptr, host)
            self.uploaded += host.nbytes
        return out

    def download(self, array: DeviceArray) -> np.ndarray:
        packed = array if array.is_contiguous else self.copy(array)
        host = np.empty(array.shape, array.dtype)
        if host.nbytes:
            self.dtoh(host, packed.ptr)
            self.downloaded += host.nbytes
        return host

    def copy(self, array: DeviceArray, shape=None) -> DeviceArray:
        """A contiguous copy of ``array``, broadcast to ``shape`` if given."""
        shape = array.shape if shape is None else tuple(shape)
        out = self.empty(shape, array.dtype)
        if shape == array.shape and array.is_contiguous:
            if out.nbytes:
                self.dtod(out.ptr, array.ptr, out.nbytes)
            return out
        off = len(shape) - array.ndim
        strides = [0] * off + [0 if n == 1 else s for n, s in zip(array.shape, array.strides)]
        self.strided_copy(array.ptr, strides, out, array.itemsize)
        return out

    def strided_copy(self, src, strides, out: DeviceArray, itemsize):
        """Fill the contiguous ``out`` from address ``src`` read with byte ``strides``."""
        if not out.size:
            return
        if out.ndim > _COPY_ND:
            raise GraphadTypeError(f"the CUDA backend copies arrays of at most {_COPY_ND} axes")
        from .launch import BLOCK, MAX_BLOCKS

        args = _CopyArgs(src=src, dst=out.ptr, size=out.size, nd=out.ndim)
        for d, (n, s) in enumerate(zip(out.shape, strides)):
            args.shape[d], args.st[d] = n, s
        grid = max(1, min(MAX_BLOCKS, -(-out.size // BLOCK)))
        self.launch(self.runtime().function(f"gd_copy{itemsize}"), grid, BLOCK, args)

    def module(self, kernels, timings=None):
        """The module of a function's ``kernels`` (a list of (name, Kernel)), loaded
        now; with ``defer`` set, registered and built with every kernel registered so
        far at its first launch (one compiler run for many functions: the tests'
        op-spec table)."""
        kernels = list(kernels)
        if not self.defer:
            self._runtime = self.load(kernels, timings)
            return self._runtime
        local = {}
        for name, kernel in kernels:
            if kernel not in self._names:
                self._names[kernel] = f"d{len(self._names)}"
                self._pending.append((self._names[kernel], kernel))
            local[name] = self._names[kernel]
        return _Deferred(self, local)

    def build_deferred(self):
        """Build the kernels registered while ``defer`` was set, in one module."""
        if self._pending:
            self._runtime = module = self.load(self._pending)
            for name, _ in self._pending:
                self._built[name] = module
            self._pending = []

    def runtime(self):
        """A loaded module, for the runtime's own kernels (the copies of
        graphad_cuda.h, which every module has)."""
        if self._runtime is None:
            self.build_deferred()
        if self._runtime is None:
            self._runtime = self.load([])
        return self._runtime

    def to_device(self, value, dtype=None) -> DeviceArray:
        """``value`` as a device array: itself if it is one of this device's (one of
        another device's goes through the host)."""
        if isinstance(value, DeviceArray):
            if value.device is self:
                return value
            value = value.get()
        value = np.asarray(value, dtype=dtype)
        broadcast = [n > 1 and s == 0 for n, s in zip(value.shape, value.strides)]
        if not any(broadcast) or not value.size:
            return self.upload(value)
        # a broadcast view: its distinct elements only, broadcast again on the device
        compact = self.upload(value[tuple(slice(0, 1) if b else slice(None) for b in broadcast)])
        strides = [0 if b else s for b, s in zip(broadcast, compact.strides)]
        return compact.view(value.shape, strides)


class PyCudaDevice(Device):
    """The process's current GPU through PyCUDA: its primary context, PyCUDA's memory
    pool, PTX modules from ``module.ptx_module`` and cuBLAS (``cublas.py``)."""

    def __init__(self, ordinal=0):
        super().__init__()
        try:
            import pycuda.driver as drv
            from pycuda.tools import DeviceMemoryPool
        except ImportError as exc:
            raise MissingToolError(
                f"device=cuda needs PyCUDA ({exc}): pip install 'graphad[cuda]' on a "
                "machine with an NVIDIA GPU and the CUDA toolkit"
            ) from None
        try:
            drv.init()
            if drv.Device.count() <= ordinal:
                raise MissingToolError("device=cuda: the CUDA driver sees no GPU")
            gpu = drv.Device(ordinal)
            self.context = gpu.retain_primary_context()
        except drv.Error as exc:
            raise MissingToolError(f"device=cuda: the CUDA driver failed: {exc}") from None
        self.context.push()
        import atexit

        atexit.register(self._close)
        self.drv = drv
        self.name = f"cuda:{ordinal} ({gpu.name()})"
        self.pool = DeviceMemoryPool()
        self._blas = None

    def _close(self):
        try:
            self.pool.stop_holding()
            self.context.pop()
        except Exception:  # the driver may already be shutting down
            pass

    def alloc(self, nbytes):
        return self.pool.allocate(nbytes)

    def htod(self, ptr, host):
        self.drv.memcpy_htod(ptr, host)

    def dtoh(self, host, ptr):
        self.drv.memcpy_dtoh(host, ptr)

    def dtod(self, dst, src, nbytes):
        self.drv.memcpy_dtod(dst, src, nbytes)

    def load(self, kernels, timings=None):
        from .module import ptx_module

        path = ptx_module(kernels, timings)
        with open(path, "rb") as fh:  # PTX is loaded as a NUL-terminated string
            return _PyCudaModule(self.drv.module_from_buffer(fh.read() + b"\0"))

    def launch(self, function, grid, block, args, extra=()):
        raw = np.frombuffer(bytes(args), dtype=np.dtype((np.void, ctypes.sizeof(args))))[0]
        extra = [np.int64(e.value) for e in extra]
        function(raw, *extra, block=(block, 1, 1), grid=(grid, 1))

    def check_gemm(self):
        if self._blas is None:
            from .cublas import Cublas

            self._blas = Cublas()

    def gemm(self, *args):
        self.check_gemm()
        self._blas.gemm(*args)

    def synchronize(self):
        self.drv.Context.synchronize()


class _Deferred:
    """A function's module while its kernels wait to be built with others."""

    def __init__(self, device, local):
        self.device, self.local = device, local

    def function(self, name):
        base, _, stage = name.partition("_stage")
        if base.startswith("gd_copy"):
            return self.device.runtime().function(name)
        built = self.local[base]
        if built not in self.device._built:
            self.device.build_deferred()
        return self.device._built[built].function(built + (f"_stage{stage}" if stage else ""))


class _PyCudaModule:
    def __init__(self, module):
        self.module = module
        self.functions = {}

    def function(self, name):
        fn = self.functions.get(name)
        if fn is None:
            fn = self.functions[name] = self.module.get_function(name)
        return fn


_current: list = []  # the device in use, once made
_failed: list = []  # why no device could be made


def current_device() -> Device:
    """The process's device: the one ``use_device`` installed, else a PyCudaDevice
    (made once). MissingToolError, saying why, when there is no PyCUDA or no GPU."""
    if _current:
        return _current[-1]
    if _failed:
        raise _failed[0]
    if os.environ.get("GRAPHAD_NO_GPU"):
        _failed.append(MissingToolError("device=cuda: GRAPHAD_NO_GPU is set"))
        raise _failed[0]
    try:
        device = PyCudaDevice()
    except MissingToolError as exc:
        _failed.append(exc)
        raise
    _current.append(device)
    return device


class use_device:
    """Run CUDA functions compiled inside ``with use_device(device):`` on ``device``
    (a Device; the tests' host emulation is one).

    >>> use_device("gpu")
    Traceback (most recent call last):
    ...
    graphad.errors.GraphadTypeError: use_device takes a runtime.Device, not 'gpu'
    """

    def __init__(self, device):
        if not isinstance(device, Device):
            raise GraphadTypeError(f"use_device takes a runtime.Device, not {device!r}")
        self.device = device

    def __enter__(self):
        _current.append(self.device)
        return self.device

    def __exit__(self, *exc):
        _current.remove(self.device)
