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

from ..tensor.scalar_ops import c_type
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

    def body(self, kernel: Kernel, index: str, strided: bool) -> list:
        """C statements computing one element ``index`` of every output."""
        n_in = len(kernel.inputs)
        lines = []
        for i, inp in enumerate(kernel.inputs):
            ct = c_type(inp.dtype)
            src = (
                self.element(f"p{i}", index, f"s{i}", f"const {ct}")
                if strided
                else (f"(({ct} const *)p{i})[{index}]")
            )
            lines.append(f"const {ct} v{i} = {src};")
        for k, step in enumerate(kernel.steps):
            ref = n_in + k
            in_dtypes = [kernel.value_dtype(a) for a in step.args]
            operand = step.op.operand_dtypes(in_dtypes, step.dtype)
            args = [
                c_literal(a.value, d) if isinstance(a, Literal) else convert(f"v{a}", dt, d)
                for a, dt, d in zip(step.args, in_dtypes, operand)
            ]
            expr = step.op.c_code(args, operand[-1] if operand else step.dtype)
            if expr is None:
                raise ValueError(f"{step.op} has no C code for {operand}")
            value = f"({expr} != 0)" if step.dtype == "bool" else f"({c_type(step.dtype)})({expr})"
            lines.append(f"const {c_type(step.dtype)} v{ref} = {value};")
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
        n_in, n_out = len(kernel.inputs), len(kernel.outputs)
        n = n_in + n_out
        dtypes = [i.dtype for i in kernel.inputs] + [kernel.value_dtype(r) for r in kernel.outputs]
        sizes = [np.dtype(d).itemsize for d in dtypes]
        contiguous = " && ".join(f"s{i} == {sizes[i]}" for i in range(n))
        decls = "\n".join(
            f"        char *p{i} = data[{i}]; const npy_intp s{i} = strides[{i}];" for i in range(n)
        )
        fast = _indent(self.body(kernel, "i", strided=False), 16)
        slow = _indent(self.body(kernel, "i", strided=True), 16)
        convert_in = "\n".join(
            f"    op[{i}] = (PyArrayObject *)PyArray_FROM_OTF(args[{i}], {TYPENUM[d]}, "
            f"NPY_ARRAY_ALIGNED);\n    if (op[{i}] == NULL) goto fail;"
            for i, d in enumerate(dtypes[:n_in])
        )
        out_descr = "\n".join(
            f"    descr[{n_in + j}] = PyArray_DescrFromType({TYPENUM[d]});"
            for j, d in enumerate(dtypes[n_in:])
        )
        return f"""
/* {kernel.describe()} */
static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    PyArrayObject *op[{n}] = {{NULL}};
    PyArray_Descr *descr[{n}] = {{NULL}};
    npy_uint32 flags[{n}];
    NpyIter *it = NULL;
    PyObject *result = NULL;
    int i_op;
    (void)self;
    if (nargs != {n_in}) {{
        PyErr_Format(PyExc_TypeError, "{name} takes {n_in} arrays, got %zd", nargs);
        return NULL;
    }}
{convert_in}
    for (i_op = 0; i_op < {n_in}; i_op++)
        flags[i_op] = NPY_ITER_READONLY | NPY_ITER_NBO | NPY_ITER_ALIGNED;
    for (i_op = {n_in}; i_op < {n}; i_op++)
        flags[i_op] = NPY_ITER_WRITEONLY | NPY_ITER_ALLOCATE | NPY_ITER_NO_SUBTYPE;
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
            const npy_intp count = *size_ptr;
            npy_intp i;
{decls}
            if ({contiguous}) {{
                for (i = 0; i < count; i++) {{
{fast}
                }}
            }} else {{
                for (i = 0; i < count; i++) {{
{slow}
                }}
            }}
        }} while (next(it));
        NPY_END_THREADS;
    }}
    result = (PyObject *)NpyIter_GetOperandArray(it)[{n_in}];
    Py_INCREF(result);
fail:
    if (it != NULL) NpyIter_Deallocate(it);
    for (i_op = 0; i_op < {n}; i_op++) {{
        Py_XDECREF(op[i_op]);
        Py_XDECREF(descr[i_op]);
    }}
    return result;
}}
"""


def _indent(lines, n):
    pad = " " * n
    return "\n".join(pad + line for line in lines)
