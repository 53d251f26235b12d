"""The CUDA backend's thunks: how each node of a compiled function runs on a device.

- Fused kernels run as CUDA kernels of the function's module (``launch.plan``).
- Ops that name a GPU path (``op.cuda_callable(node)``: the products, on cuBLAS) run
  it.
- Ops whose outputs are views of an input and that do not read its elements
  (``op.view_map``, ``op.reads_values`` False: transposes, broadcasts, basic slices,
  reshapes without a copy) make the same view of the device array: no copy, no
  transfer. The op's ``perform`` runs on a host stand-in with the input's layout, so
  no op is taught about devices.
- Everything else runs its NumPy ``perform`` on the host: device inputs are
  downloaded, and outputs stay on the host until a device step reads them (it
  uploads them). An op that reads only its inputs' shapes (``op.reads_values`` is
  False: ``x.shape``) gets stand-ins instead of downloads.

Each thunk counts the bytes it moved between host and device (``thunk.moved``:
uploaded, downloaded); the profile lists them.
"""

from __future__ import annotations

import numpy as np

from ...compile.vm import c_error
from ..c.module import distinct_kernels, kernel_fits, kernel_names, kernel_nodes
from ..numpy import make_thunk as numpy_thunk
from .launch import plan
from .runtime import DeviceArray


def thunk_maker(fgraph, timings, device):
    """A ``make_thunk(node)`` for the VM running ``fgraph`` on ``device``; ``timings``
    gets the module's "codegen" and "compiler" seconds."""
    names = kernel_names(kernel_nodes(fgraph))
    module = device.module(list(distinct_kernels(names).items()), timings)

    def make_thunk(node):
        host = _host(device, node)
        name = names.get(node)
        if name is not None:
            return _counted(device, _kernel(device, module, name, node, host), "CUDA kernel")
        fn = node.op.cuda_callable(node) if hasattr(node.op, "cuda_callable") else None
        if fn is not None:
            return _counted(device, lambda inputs: fn(device, inputs), "cuBLAS")
        if node.op.view_map and not node.op.reads_values:
            return _counted(device, _view(node, host), "view")
        return _counted(device, host, "host")

    make_thunk.device = device
    return make_thunk


def _counted(device, run, runs_as):
    moved = [0, 0]

    def thunk(inputs):
        up, down = device.uploaded, device.downloaded
        try:
            return run(inputs)
        except ValueError as exc:
            raise c_error(exc) from None
        finally:
            moved[0] += device.uploaded - up
            moved[1] += device.downloaded - down

    thunk.kind = "cuda"
    thunk.runs_as = runs_as
    thunk.moved = moved
    thunk.synchronize = device.synchronize
    return thunk


def _kernel(device, module, name, node, host):
    kernel = node.op.kernel
    fits = kernel_fits(node)
    dtypes = [v.dtype for v in node.inputs]

    def run(inputs):
        if fits is not None and not fits([np.shape(a) for a in inputs]):
            return host(inputs)
        arrays = [device.to_device(a, d) for a, d in zip(inputs, dtypes)]
        steps = plan(name, kernel, arrays, device.empty, _address)
        for step in steps.launches:
            device.launch(
                module.function(step.function), step.grid, step.block, steps.args, step.extra
            )
        return steps.outputs

    return run


def _address(array):
    return array.ptr


def _host(device, node):
    """``perform`` on the host: device inputs downloaded (or, for an op that reads only
    shapes, replaced by stand-ins of their shape)."""
    reference = numpy_thunk(node)
    shapes_only = not node.op.reads_values and not node.op.view_map

    def run(inputs):
        if shapes_only:
            inputs = [_shape_of(a) if isinstance(a, DeviceArray) else a for a in inputs]
        else:
            inputs = [a.get() if isinstance(a, DeviceArray) else a for a in inputs]
        return reference(inputs)

    return run


def _shape_of(array):
    return np.broadcast_to(np.zeros((), array.dtype), array.shape)


def _view(node, host):
    """Views made on the device: ``perform`` runs on a host array with the input's
    layout over scratch memory, and each view it returns of that array becomes the same
    view of the device array. A ``perform`` that copies instead runs on the host."""
    reference = numpy_thunk(node)
    view_map = node.op.view_map

    def run(inputs):
        viewed = {i for i in view_map.values() if isinstance(inputs[i], DeviceArray)}
        if not viewed:
            return host(inputs)
        stand = {}
        args = list(inputs)
        for i in viewed:
            stand[i], args[i] = _stand_in(inputs[i])
        args = [a.get() if isinstance(a, DeviceArray) else a for a in args]
        results = reference(args)
        out = []
        for k, r in enumerate(results):
            i = view_map.get(k)
            if i not in viewed:
                out.append(r)
                continue
            origin, base = stand[i]
            r = np.asarray(r)
            start = r.__array_interface__["data"][0]
            if r.size and not np.may_share_memory(r, base):
                return host(inputs)  # perform copied: it must read the values
            out.append(inputs[i].view(r.shape, r.strides, start - origin))
        return out

    return run


def _stand_in(array):
    """(address of element 0, host array): ``array``'s shape, dtype and strides over
    fresh host memory of its extent (never read: the op only makes views of it)."""
    low = sum(min(0, (n - 1) * s) for n, s in zip(array.shape, array.strides) if n)
    high = sum(max(0, (n - 1) * s) for n, s in zip(array.shape, array.strides) if n)
    base = np.empty(high - low + array.itemsize, np.uint8)
    host = np.ndarray(array.shape, array.dtype, buffer=base, offset=-low, strides=array.strides)
    return (host.__array_interface__["data"][0], base), host
