"""The C renderer: a Kernel becomes one C function of a CPython extension module.

The function takes the kernel's input arrays (METH_FASTCALL) and hands them, with its
loop body, to ``gd_elementwise`` (kernels/graphad_kernel.h, compiled once per module),
which lets NumPy's iterator broadcast them (stride 0 along broadcast axes, any strides,
zero-size arrays) and allocate the outputs, and runs the loop without the GIL.
The inner loop has a contiguous specialization (indexing that the compiler can
vectorize) and a generic strided one. Operands are converted to the dtype each op
computes in, so float32 math stays float32. A CUDA renderer would subclass this and
override only how an element is addressed and the function's qualifiers.
"""

from __future__ import annotations

import numpy as np

from ..tensor.scalar_base import c_type
from .ir import Kernel, Literal, c_literal

TYPENUM = {
    "bool": "NPY_BOOL",
    "int8": "NPY_INT8",
    "int16": "NPY_INT16",
    "int32": "NPY_INT32",
    "int64": "NPY_INT64",
    "uint8": "NPY_UINT8",
    "uint16": "NPY_UINT16",
    "uint32": "NPY_UINT32",
    "uint64": "NPY_UINT64",
    "float32": "NPY_FLOAT32",
    "float64": "NPY_FLOAT64",
}


def convert(expr: str, from_dtype: str, to_dtype: str) -> str:
    """``expr`` (of ``from_dtype``) as a value of ``to_dtype``; a bool is 0 or 1."""
    if from_dtype == to_dtype:
        return expr
    if to_dtype == "bool":
        return f"({expr} != 0)"
    if np.dtype(from_dtype).kind == "f" and np.dtype(to_dtype).kind in "iu":
        return float_to_int(expr, from_dtype, to_dtype)
    return f"(({c_type(to_dtype)}){expr})"


def float_to_int(x: str, from_dtype: str, to_dtype: str) -> str:
    """C for graphad's float → int cast, defined for every value (``x`` is a name: it
    appears more than once). A C cast of NaN, ±Inf or an out-of-range value is
    undefined behaviour; graphad's rule is NumPy's on x86-64, whose SSE conversions
    give INT_MIN ("integer indefinite") for such values: int64 and int32 convert
    directly, int8/int16/uint8/uint16 through int32 and uint32 through int64 (keeping
    the low bits), and uint64 subtracts 2**63 from a value at or above it and sets the
    top bit again (docs/ops.md, "Casts"; ``tensor.scalar_base.float_to_int`` is the
    same rule in NumPy).

    >>> float_to_int("v0", "float64", "int32")
    '((v0) >= -2147483648.0 && (v0) < 2147483648.0 ? (npy_int32)(v0) : (-2147483647 - 1))'
    """
    bits = 64 if np.dtype(to_dtype).itemsize == 8 or to_dtype == "uint32" else 32
    half = f"{float(2 ** (bits - 1)):.1f}" + ("f" if from_dtype == "float32" else "")
    least = "(-9223372036854775807LL - 1)" if bits == 64 else "(-2147483647 - 1)"

    def indefinite(v):  # NaN fails both comparisons
        return f"(({v}) >= -{half} && ({v}) < {half} ? (npy_int{bits})({v}) : {least})"

    if to_dtype == "uint64":
        high = f"((npy_uint64){indefinite(f'({x}) - {half}')} ^ 0x8000000000000000ull)"
        return f"(({x}) >= {half} ? {high} : (npy_uint64){indefinite(x)})"
    if to_dtype == f"int{bits}":
        return indefinite(x)
    return f"(({c_type(to_dtype)}){indefinite(x)})"


class CRenderer:
    """Renders kernels as C functions; subclasses override the hooks below."""

    def element(self, ptr: str, index: str, stride: str, ctype: str) -> str:
        return f"*({ctype} *)({ptr} + {index} * {stride})"

    def step_lines(self, kernel: Kernel, steps, first: int) -> list:
        """``const T v<ref> = <expr>;`` for each step, the first one value ``first``."""
        lines = []
        for k, step in enumerate(steps):
            in_dtypes = [kernel.value_dtype(a) for a in step.args]
            operand = step.op.operand_dtypes(in_dtypes, step.dtype)
            args = [
                c_literal(a.value, d) if isinstance(a, Literal) else convert(f"v{a}", dt, d)
                for a, dt, d in zip(step.args, in_dtypes, operand)
            ]
            loop = operand[-1] if operand else step.dtype
            expr = step.op.c_code(args, loop)
            if expr is None:
                raise ValueError(f"{step.op} has no C code for {operand}")
            ct = c_type(step.dtype)
            if np.dtype(loop).kind == "f" and np.dtype(step.dtype).kind in "iu":
                # a float computed, an int wanted (a cast): a name first, then the
                # conversion that is defined for every value
                lines.append(f"const {c_type(loop)} f{first + k} = {expr};")
                value = float_to_int(f"f{first + k}", loop, step.dtype)
            else:
                value = f"({expr} != 0)" if step.dtype == "bool" else f"({ct})({expr})"
            lines.append(f"const {ct} v{first + k} = {value};")
        return lines

    def body(self, kernel: Kernel, index: str, strided: bool, hoisted=()) -> list:
        """C statements computing one element ``index`` of every output (the inputs in
        ``hoisted`` are loaded before the loop)."""
        n_in = len(kernel.inputs)
        lines = []
        for i, inp in enumerate(kernel.inputs):
            if i in hoisted:
                continue
            ct = c_type(inp.dtype)
            src = (
                self.element(f"p{i}", index, f"s{i}", f"const {ct}")
                if strided
                else (f"(({ct} const *)p{i})[{index}]")
            )
            lines.append(f"const {ct} v{i} = {src};")
        lines += self.step_lines(kernel, kernel.steps, n_in)
        for j, ref in enumerate(kernel.outputs):
            q = n_in + j
            ct = c_type(kernel.value_dtype(ref))
            dst = (
                self.element(f"p{q}", index, f"s{q}", ct)
                if strided
                else (f"(({ct} *)p{q})[{index}]")
            )
            lines.append(f"{dst} = v{ref};")
        return lines

    def function(self, name: str, kernel: Kernel) -> str:
        """The whole C function ``name`` for ``kernel``."""
        if kernel.reduce is not None:
            from .render_reduce import reduce_function

            return reduce_function(self, name, kernel)
        n_in, n_out = len(kernel.inputs), len(kernel.outputs)
        n = n_in + n_out
        dtypes = [i.dtype for i in kernel.inputs] + [kernel.value_dtype(r) for r in kernel.outputs]
        sizes = [np.dtype(d).itemsize for d in dtypes]
        # inputs the graph knows to be broadcast along the last axis (a bias column, a
        # scalar) have stride 0 in the inner loop there: loaded once per loop
        ndim = max((len(i.ones) for i in kernel.inputs), default=0)
        hoisted = [i for i, inp in enumerate(kernel.inputs) if inp.invariant_along(ndim - 1, ndim)]
        contiguous = " && ".join(
            f"s{i} == 0" if i in hoisted else f"s{i} == {sizes[i]}" for i in range(n)
        )
        loads = [
            f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
            f"*(const {c_type(kernel.inputs[i].dtype)} *)p{i};"
            for i in hoisted
        ]
        decls = "\n".join(
            f"    char *p{i} = c->p[{i}]; const npy_intp s{i} = c->s[{i}];" for i in range(n)
        )
        fast = _indent(self.body(kernel, "i", strided=False, hoisted=hoisted), 12)
        slow = _indent(self.body(kernel, "i", strided=True), 12)
        types = ", ".join(TYPENUM[d] for d in dtypes)
        return f"""
/* {kernel.describe()} */
/* elements [begin, end) of one inner loop of the iterator */
static void {name}_loop(void *vc, npy_intp begin, npy_intp end)
{{
    const gd_loop *c = (const gd_loop *)vc;
    npy_intp i;
{decls}
    if ({contiguous}) {{
{_indent(loads, 8)}
        #pragma omp simd
        for (i = begin; i < end; i++) {{
{fast}
        }}
    }} else {{
        for (i = begin; i < end; i++) {{
{slow}
        }}
    }}
}}

static const int {name}_types[{n}] = {{{types}}};

static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    (void)self;
    return gd_elementwise("{name}", args, nargs, {n_in}, {n_out}, {name}_types, {name}_loop);
}}
"""


def _indent(lines, n):
    pad = " " * n
    return "\n".join(pad + line for line in lines)
