"""The C renderer: a Kernel becomes one C function of a CPython extension module.

The function takes the kernel's input arrays (METH_FASTCALL), lets NumPy's iterator
broadcast them (stride 0 along broadcast axes, any strides, zero-size arrays) and
allocate the output, and runs the scalar DAG over each inner loop without the GIL.
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
    return f"(({c_type(to_dtype)}){expr})"


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
            expr = step.op.c_code(args, operand[-1] if operand else step.dtype)
            if expr is None:
                raise ValueError(f"{step.op} has no C code for {operand}")
            ct = c_type(step.dtype)
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
        out_descr = "\n".join(
            f"    descr[{n_in + j}] = PyArray_DescrFromType({TYPENUM[d]});"
            for j, d in enumerate(dtypes[n_in:])
        )
        return f"""
/* {kernel.describe()} */
typedef struct {{ char *p[{n}]; npy_intp s[{n}]; }} {name}_ctx;

/* elements [begin, end) of one inner loop of the iterator */
static void {name}_loop(void *vc, npy_intp begin, npy_intp end)
{{
    const {name}_ctx *c = (const {name}_ctx *)vc;
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

static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    PyArrayObject *op[{n}] = {{NULL}};
    PyArray_Descr *descr[{n}] = {{NULL}};
    npy_uint32 flags[{n}];
    NpyIter *it = NULL;
    PyObject *result = NULL;
    int i_op;
    (void)self;
{_take_inputs(name, kernel)}
    for (i_op = 0; i_op < {n_in}; i_op++)
        flags[i_op] = NPY_ITER_READONLY | NPY_ITER_NBO | NPY_ITER_ALIGNED;
    for (i_op = {n_in}; i_op < {n}; i_op++)
        flags[i_op] = NPY_ITER_WRITEONLY | NPY_ITER_ALLOCATE | NPY_ITER_NO_SUBTYPE;
    if (nargs == {n_in + 1}) {{  /* a buffer from the previous call, of the same shape */
        if (!PyArray_Check(args[{n_in}])) {{
            PyErr_SetString(PyExc_TypeError, "{name}: the output buffer is not an array");
            goto fail;
        }}
        op[{n_in}] = (PyArrayObject *)args[{n_in}];
        Py_INCREF(op[{n_in}]);
        flags[{n_in}] = NPY_ITER_WRITEONLY | NPY_ITER_NBO | NPY_ITER_ALIGNED;
    }}
{out_descr}
    it = NpyIter_MultiNew({n}, op, NPY_ITER_EXTERNAL_LOOP | NPY_ITER_ZEROSIZE_OK,
                          NPY_KEEPORDER, NPY_NO_CASTING, flags, descr);
    if (it == NULL) goto fail;
    if (NpyIter_GetIterSize(it) > 0) {{
        NpyIter_IterNextFunc *next = NpyIter_GetIterNext(it, NULL);
        char **data = NpyIter_GetDataPtrArray(it);
        npy_intp *strides = NpyIter_GetInnerStrideArray(it);
        npy_intp *size_ptr = NpyIter_GetInnerLoopSizePtr(it);
        NPY_BEGIN_THREADS_DEF;
        if (next == NULL) goto fail;
        NPY_BEGIN_THREADS;
        do {{
            {name}_ctx c;
            for (i_op = 0; i_op < {n}; i_op++) {{
                c.p[i_op] = data[i_op];
                c.s[i_op] = strides[i_op];
            }}
            gd_run({name}_loop, &c, *size_ptr, GD_GRAIN);
        }} while (next(it));
        NPY_END_THREADS;
    }}
{_collect_outputs(n_in, n_out)}
fail:
    if (it != NULL) NpyIter_Deallocate(it);
    for (i_op = 0; i_op < {n}; i_op++) {{
        Py_XDECREF(op[i_op]);
        Py_XDECREF(descr[i_op]);
    }}
    return result;
}}
"""


def _collect_outputs(n_in, n_out):
    """C setting ``result``: the output array, or a tuple of them."""
    if n_out == 1:
        return (
            f"    result = (PyObject *)NpyIter_GetOperandArray(it)[{n_in}];\n    Py_INCREF(result);"
        )
    items = ", ".join(f"NpyIter_GetOperandArray(it)[{n_in + j}]" for j in range(n_out))
    return f'    result = Py_BuildValue("({"O" * n_out})", {items});'


def _take_inputs(name, kernel):
    """C shared by every kernel function: check the argument count (the inputs, then
    optionally a reusable output buffer) and view each input as an aligned array of its
    dtype in ``op[i]``."""
    n_in = len(kernel.inputs)
    lines = [
        f"    if (nargs != {n_in} && nargs != {n_in + 1}) {{",
        f'        PyErr_Format(PyExc_TypeError, "{name} takes {n_in} arrays (and an output), '
        'got %zd",',
        "                     nargs);",
        "        return NULL;",
        "    }",
    ]
    for i, inp in enumerate(kernel.inputs):
        lines.append(
            f"    op[{i}] = (PyArrayObject *)PyArray_FROM_OTF(args[{i}], {TYPENUM[inp.dtype]}, "
            "NPY_ARRAY_ALIGNED);"
        )
        lines.append(f"    if (op[{i}] == NULL) goto fail;")
    return "\n".join(lines)


def _indent(lines, n):
    pad = " " * n
    return "\n".join(pad + line for line in lines)
