"""The CUDA backend's thunks: how each node of a compiled function runs on a device.

- Fused kernels run as CUDA kernels of the function's module (``launch.Planner``),
  except calls whose inputs are all small host arrays (the shape arithmetic of
  gradients, on values ``x.shape`` gave): those run on the host, where the next host
  step that reads them (a reshape, a broadcast) needs them anyway.
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
from .launch import Planner
from .runtime import DeviceArray

# a kernel call whose inputs are all on the host and at most this big runs there
TINY = 16


def thunk_maker(fgraph, timings, device):
    """A ``make_thunk(node)`` for the VM running ``fgraph`` on ``device``; ``timings``
    gets the module's "codegen" and "compiler" seconds."""
    products = [n for n in fgraph.apply_nodes if hasattr(n.op, "cuda_callable")]
    if any(n.op.cuda_callable(n) is not None for n in products):
        device.check_gemm()  # no cuBLAS: MissingToolError now, and the CPU compiles it
    names = kernel_names(kernel_nodes(fgraph))
    module = device.module(list(distinct_kernels(names).items()), timings)

    def make_thunk(node):
        host = _host(device, node)
        name = names.get(node)
        everything = range(len(node.inputs))
        if name is not None:
            run = _kernel(device, module, name, node, host)
            return _counted(device, run, "CUDA kernel", everything)
        found = node.op.cuda_callable(node) if hasattr(node.op, "cuda_callable") else None
        if found is not None:
            fn, reads = found
            return _counted(device, lambda inputs: fn(device, inputs), "cuBLAS", reads)
        if node.op.view_map and not node.op.reads_values:
            return _counted(device, _view(node, host), "view", node.op.view_map.values())
        return _counted(device, host, "host", ())

    make_thunk.device = device
    return make_thunk


def _counted(device, run, runs_as, reads):
    """``run`` as a VM thunk that counts its transfers; ``reads``: the positions of the
    inputs it reads on the device (the VM uploads those once)."""
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
    thunk.device_inputs = frozenset(reads)
    thunk.synchronize = device.synchronize
    return thunk


def _kernel(device, module, name, node, host):
    planner = Planner(name, node.op.kernel)
    fits = kernel_fits(node)
    dtypes = [v.dtype for v in node.inputs]

    def run(inputs):
        if fits is not None and not fits([np.shape(a) for a in inputs]):
            return host(inputs)
        if not any(isinstance(a, DeviceArray) or np.size(a) > TINY for a in inputs):
            return host(inputs)  # shape arithmetic: a launch and a download would cost more
        arrays = [device.to_device(a, d) for a, d in zip(inputs, dtypes)]
        steps = planner(arrays, device.empty, _address)
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
    view of the device array. A ``perform`` that computes instead runs on the host.
    The layouts found are kept per input layout and index values (a training loop
    meets the same few), so a repeated view costs no ``perform``."""
    reference = numpy_thunk(node)
    view_map = node.op.view_map
    data = sorted(set(view_map.values()))
    layouts = {}

    def run(inputs):
        viewed = [i for i in data if isinstance(inputs[i], DeviceArray)]
        if not viewed:
            return host(inputs)
        args = [
            a.get() if isinstance(a, DeviceArray) and i not in viewed else a
            for i, a in enumerate(inputs)
        ]
        key = _layout_key(args, viewed)
        found = layouts.get(key) if key is not None else None
        if found is None:
            found = _find_views(reference, view_map, args, viewed)
            if key is not None and len(layouts) < 256:
                layouts[key] = found
        if found is False:
            return host(inputs)  # perform computed a value: run it on the data
        return [inputs[i].view(shape, strides, offset) for i, shape, strides, offset in found]

    return run


def _layout_key(args, viewed):
    """What decides the views: the viewed arrays' layouts and the other (small, host)
    arguments' values; None when an argument is too big to be a key."""
    key = []
    for i, a in enumerate(args):
        if i in viewed:
            key.append((a.shape, a.strides, a.dtype.str))
        else:
            a = np.asarray(a)
            if a.size > TINY:
                return None
            key.append((a.shape, a.dtype.str, a.tobytes()))
    return tuple(key)


def _find_views(reference, view_map, args, viewed):
    """[(input, shape, strides, byte offset)] per output, each a view of the viewed
    input ``perform`` returned on a stand-in of it; False if an output is not a view."""
    stand = {}
    for i in viewed:
        stand[i], args[i] = _stand_in(args[i])
    found = []
    for k, r in enumerate(reference(args)):
        i = view_map.get(k)
        if i not in stand:
            return False
        origin, base = stand[i]
        r = np.asarray(r)
        if r.size and not np.may_share_memory(r, base):
            return False
        found.append((i, r.shape, r.strides, r.__array_interface__["data"][0] - origin))
    return found


def _stand_in(array):
    """(address of element 0, host array): ``array``'s shape, dtype and strides over
    fresh host memory of its extent (never read: the op only makes views of it)."""
    low = sum(min(0, (n - 1) * s) for n, s in zip(array.shape, array.strides) if n)
    high = sum(max(0, (n - 1) * s) for n, s in zip(array.shape, array.strides) if n)
    base = np.empty(high - low + array.itemsize, np.uint8)
    host = np.ndarray(array.shape, array.dtype, buffer=base, offset=-low, strides=array.strides)
    return (host.__array_interface__["data"][0], base), host
