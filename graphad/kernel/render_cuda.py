"""The CUDA renderer: the same kernel IR as the C renderer, as CUDA ``__global__`` code.

Only what differs from C is here: qualifiers, how an element is addressed, the loops
and the launch shape. The scalar code of every step is the C renderer's
(``step_lines``), so an op's one C expression serves both backends and float32 math
stays float32 (``expf``, not ``exp``).

- An elementwise kernel takes one struct by value: the operands' pointers, their byte
  strides over the kernel's static rank (0 along broadcast axes) and the iteration
  shape. A grid-stride loop turns each flat index into per-operand offsets.
- A reduction runs one block per result element (a row of a row reduction): each
  thread accumulates a strided share of the reduced elements, then the block combines
  the threads' accumulators in a fixed order (the same result every run): in shared
  memory down to one warp, then by warp shuffles; thread 0 runs the epilogue and
  stores. A reduction over every axis has a two-stage form as well: ``<name>_stage1``
  reduces one chunk per block into a scratch array, ``<name>_stage2`` combines the
  chunks in one block.

The argument structs and launches are ``backend/cuda/launch.py``'s. The output is
compile-checked with ``nvcc --ptx`` and run as host C++ (one thread per block) in the
tests; it has not run on a GPU yet.
"""

from __future__ import annotations

from ..tensor.scalar_base import c_type
from .render_c import CRenderer, _indent, convert
from .render_reduce import _REDUCE, _accumulator

PRELUDE = '#include "graphad_cuda.h"\n'
_SHUFFLED = (
    "npy_float32",
    "npy_float64",
    "int",
    "npy_int32",
    "npy_int64",
    "npy_uint32",
    "npy_uint64",
)


class CudaRenderer(CRenderer):
    """Renders kernels as CUDA functions (``extern "C" __global__``)."""

    def function(self, name, kernel) -> str:
        if kernel.reduce is not None:
            return self._reduction(name, kernel)
        return self._elementwise(name, kernel)

    # --- elementwise ---------------------------------------------------------------------

    def _elementwise(self, name, kernel) -> str:
        n_in, n_out = len(kernel.inputs), len(kernel.outputs)
        n = n_in + n_out
        nd = max(max((len(i.ones) for i in kernel.inputs), default=0), 1)
        offsets = [f"long long o{j} = 0;" for j in range(n)]
        walk = [f"o{j} += k * a.st[{j}][d];" for j in range(n)]
        loads = [
            f"const {c_type(inp.dtype)} v{i} = *(const {c_type(inp.dtype)} *)(a.p[{i}] + o{i});"
            for i, inp in enumerate(kernel.inputs)
        ]
        stores = [
            f"*({c_type(kernel.value_dtype(ref))} *)(a.p[{n_in + j}] + o{n_in + j}) = v{ref};"
            for j, ref in enumerate(kernel.outputs)
        ]
        body = loads + self.step_lines(kernel, kernel.steps, n_in) + stores
        return f"""
/* {kernel.describe()} */
struct {name}_args {{
    char *p[{n}];
    long long st[{n}][{nd}];  /* bytes; 0 along broadcast axes */
    long long shape[{nd}];
    long long size;
}};

extern "C" __global__ void {name}(const struct {name}_args a)
{{
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.size; i += step) {{
        long long rest = i;
{_indent(offsets, 8)}
        for (int d = {nd - 1}; d >= 0; d--) {{
            const long long k = rest % a.shape[d];
            rest /= a.shape[d];
{_indent(walk, 12)}
        }}
{_indent(body, 8)}
    }}
}}
"""

    # --- reductions ----------------------------------------------------------------------

    def _reduction(self, name, kernel) -> str:
        red = kernel.reduce
        nd, n_in = red.ndim, len(kernel.inputs)
        kept = [d for d in range(nd) if d not in red.axes]
        first = sorted(kernel.prologue_inputs())
        late = sorted(kernel.epilogue_inputs())
        exports = kernel.full_outputs
        ND, NI, NX = max(nd, 1), max(n_in, 1), max(len(exports), 1)
        acc_type, init = _accumulator(red)
        value = kernel.value_dtype(kernel.outputs[0])
        update = _REDUCE[red.kind][1]
        v = convert(f"v{kernel.outputs[0]}", value, red.dtype)
        result = kernel.result_ref
        out_type = c_type(kernel.value_dtype(result))

        def walk(axes, index, targets):
            """C decomposing ``index`` over ``axes`` and adding to each offset."""
            lines = [f"long long rest = {index};"]
            for d in reversed(axes):
                lines.append(f"{{ const long long k = rest % a.shape[{d}]; rest /= a.shape[{d}];")
                lines += [f"  {var} += k * {stride}[{d}];" for var, stride in targets]
                lines.append("}")
            return lines

        outer_targets = [(f"q{i}", f"a.st[{i}]") for i in first]
        outer_targets += [(f"e{i}", f"a.est[{i}]") for i in late]
        outer_targets += [("oo", "a.ost")] + [(f"y{j}", f"a.xst[{j}]") for j in range(len(exports))]
        inner_targets = [(f"p{i}", f"a.st[{i}]") for i in first]
        inner_targets += [(f"z{j}", f"a.xst[{j}]") for j in range(len(exports))]
        bases = [f"long long q{i} = 0;" for i in first] + [f"long long e{i} = 0;" for i in late]
        bases += ["long long oo = 0;"] + [f"long long y{j} = 0;" for j in range(len(exports))]
        element = [f"long long p{i} = q{i};" for i in first]
        element += [f"long long z{j} = y{j};" for j in range(len(exports))]
        element += walk(list(red.axes), "r", inner_targets)
        element += [
            f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
            f"*(const {c_type(kernel.inputs[i].dtype)} *)(a.p[{i}] + p{i});"
            for i in first
        ]
        element += self.step_lines(kernel, kernel.steps, n_in)
        element.append(update.format(v=v))
        element += [
            f"*({c_type(kernel.value_dtype(ref))} *)(a.xp[{j}] + z{j}) = v{ref};"
            for j, ref in enumerate(exports)
        ]
        tail = [f"const {c_type(red.dtype)} v{kernel.reduced_ref} = ({c_type(red.dtype)})acc;"]
        tail += [
            f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
            f"*(const {c_type(kernel.inputs[i].dtype)} *)(a.p[{i}] + e{i});"
            for i in late
        ]
        tail += self.step_lines(kernel, kernel.epilogue, kernel.reduced_ref + 1)
        tail.append(f"*({out_type} *)(a.out + oo) = v{result};")
        combine = update.format(v="other")
        # warp shuffles move 4- and 8-byte values; narrower accumulators use shared memory
        shuffle = acc_type in _SHUFFLED
        shfl = "__shfl_down_sync(0xffffffffu, acc, s)" if shuffle else "acc"
        struct = f"""
/* {kernel.describe()} */
struct {name}_args {{
    char *p[{NI}], *out, *xp[{NX}];
    long long st[{NI}][{ND}], est[{NI}][{ND}], ost[{ND}], xst[{NX}][{ND}];  /* bytes */
    long long shape[{ND}];
    long long outer, inner;  /* result elements; reduced elements per result */
    {acc_type} *scratch;      /* two-stage form: one accumulator per block */
    long long chunk;          /* two-stage form: reduced elements per block */
}};

/* the block's accumulators combined in shared memory, in a fixed order */
__device__ static {acc_type} {name}_combine({acc_type} acc, {acc_type} *part)
{{
    const int warp = {int(shuffle)} && blockDim.x >= 64 ? 32 : 0;  /* the last 32 by shuffles */
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > warp / 2; s >>= 1) {{
        if (threadIdx.x < s) {{
            const {acc_type} other = part[threadIdx.x + s];
            acc = part[threadIdx.x];
            {combine}
            part[threadIdx.x] = acc;
        }}
        __syncthreads();
    }}
    if (warp && threadIdx.x < 32) {{
        acc = part[threadIdx.x];
        for (int s = 16; s > 0; s >>= 1) {{
            const {acc_type} other = {shfl};
            {combine}
        }}
        if (threadIdx.x == 0)
            part[0] = acc;
    }}
    __syncthreads();
    acc = part[0];
    __syncthreads();
    return acc;
}}
"""
        one_block = f"""
/* one block per result element */
extern "C" __global__ void {name}(const struct {name}_args a)
{{
    __shared__ {acc_type} part[GD_CUDA_BLOCK];
    for (long long o = blockIdx.x; o < a.outer; o += gridDim.x) {{
{_indent(bases, 8)}
        {{
{_indent(walk(kept, "o", outer_targets), 12)}
        }}
        {acc_type} acc = {init};
        for (long long r = threadIdx.x; r < a.inner; r += blockDim.x) {{
{_indent(element, 12)}
        }}
        acc = {name}_combine(acc, part);
        if (threadIdx.x == 0) {{
{_indent(tail, 12)}
        }}
    }}
}}
"""
        if kept:
            return struct + one_block
        return (
            struct
            + one_block
            + f"""
/* a reduction of every element, stage 1: block b reduces elements
   [b * chunk, (b + 1) * chunk) into scratch[b] */
extern "C" __global__ void {name}_stage1(const struct {name}_args a)
{{
    __shared__ {acc_type} part[GD_CUDA_BLOCK];
{_indent(bases, 4)}
    const long long begin = blockIdx.x * a.chunk;
    const long long end = begin + a.chunk < a.inner ? begin + a.chunk : a.inner;
    {acc_type} acc = {init};
    for (long long r = begin + threadIdx.x; r < end; r += blockDim.x) {{
{_indent(element, 8)}
    }}
    acc = {name}_combine(acc, part);
    if (threadIdx.x == 0)
        a.scratch[blockIdx.x] = acc;
}}

/* stage 2, one block: the chunks' accumulators combined in order, then the epilogue */
extern "C" __global__ void {name}_stage2(const struct {name}_args a, const long long blocks)
{{
    __shared__ {acc_type} part[GD_CUDA_BLOCK];
{_indent(bases, 4)}
    {acc_type} acc = {init};
    for (long long b = threadIdx.x; b < blocks; b += blockDim.x) {{
        const {acc_type} other = a.scratch[b];
        {combine}
    }}
    acc = {name}_combine(acc, part);
    if (threadIdx.x == 0) {{
{_indent(tail, 8)}
    }}
}}
"""
        )


def module_source(kernels) -> str:
    """The CUDA source of one module: one kernel (or kernel family) per entry of
    ``kernels``, a list of (name, Kernel)."""
    renderer = CudaRenderer()
    return PRELUDE + "".join(renderer.function(name, k) for name, k in kernels)
