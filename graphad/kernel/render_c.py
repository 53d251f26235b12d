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
            return self.reduce_function(name, kernel)
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
            const npy_intp count = *size_ptr;
            npy_intp i;
{decls}
            if ({contiguous}) {{
                #pragma omp simd
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


_REDUCE = {
    # kind: (initial value of the accumulator or None for the type's extreme, update)
    "sum": ("0", "acc += {v};"),
    "prod": ("1", "acc *= {v};"),
    "all": ("1", "acc = acc && ({v} != 0);"),
    "any": ("0", "acc = acc || ({v} != 0);"),
    "max": (None, "if (!(acc >= {v}) && acc == acc) acc = {v};"),
    "min": (None, "if (!(acc <= {v}) && acc == acc) acc = {v};"),
}

_EXTREME = {
    ("max", "f"): "(-INFINITY)",
    ("min", "f"): "INFINITY",
    ("max", "b"): "0",
    ("min", "b"): "1",
}


def _accumulator(red):
    """(C type, initial value) of a reduction's accumulator. float32 sums and products
    accumulate in double: as accurate as NumPy's pairwise sum, and deterministic."""
    out = red.dtype
    kind = np.dtype(out).kind
    if red.kind in ("all", "any"):
        ctype = "int"
    elif red.kind in ("sum", "prod") and out == "float32":
        ctype = "npy_float64"
    else:
        ctype = c_type(out)
    init, _ = _REDUCE[red.kind]
    if red.initial is not None:
        init = c_literal(red.initial, out)
    elif init is None:
        init = _EXTREME.get((red.kind, kind))
        if init is None:  # integers: the type's own extreme
            info = np.iinfo(out)
            init = c_literal(info.min if red.kind == "max" else info.max, out)
    return ctype, init


def _reduce_function(self, name, kernel):
    """A reduction kernel: the prologue's value reduced over ``axes`` of a static-rank
    iteration space, with explicit nested loops (kept axes outside, reduced inside)."""
    red = kernel.reduce
    nd, n_in = red.ndim, len(kernel.inputs)
    kept = [a for a in range(nd) if a not in red.axes]
    out_nd = nd if red.keepdims else len(kept)
    acc_type, init = _accumulator(red)
    value = kernel.value_dtype(kernel.outputs[0])
    _, update = _REDUCE[red.kind]
    first, late = sorted(kernel.prologue_inputs()), sorted(kernel.epilogue_inputs())
    exports = kernel.full_outputs
    n_x = max(len(exports), 1)
    body = [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
        f"*(const {c_type(kernel.inputs[i].dtype)} *)p{i};"
        for i in first
    ] + self.step_lines(kernel, kernel.steps, n_in)
    v = convert(f"v{kernel.outputs[0]}", value, red.dtype)
    result = kernel.result_ref
    tail = [f"const {c_type(red.dtype)} v{kernel.reduced_ref} = ({c_type(red.dtype)})acc;"]
    tail += [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = *(const {c_type(kernel.inputs[i].dtype)} *)"
        f"(base[{i}]" + "".join(f" + o{a} * est[{i}][{a}]" for a in kept) + ");"
        for i in late
    ]
    tail += self.step_lines(kernel, kernel.epilogue, kernel.reduced_ref + 1)
    loops_in, close_in = _loops("r", red.axes, 8)
    loops_out, close_out = _loops("o", kept, 4)
    offsets_in = "\n".join(
        f"{' ' * 8}char *p{i} = q{i}" + "".join(f" + r{a} * st[{i}][{a}]" for a in red.axes) + ";"
        for i in first
    )
    offsets_out = "\n".join(
        [
            f"{' ' * 4}char *q{i} = base[{i}]"
            + "".join(f" + o{a} * st[{i}][{a}]" for a in kept)
            + ";"
            for i in first
        ]
        + [
            f"{' ' * 4}char *x{j} = PyArray_BYTES(xo[{j}])"
            + "".join(f" + o{a} * xst[{j}][{a}]" for a in kept)
            + ";"
            for j in range(len(exports))
        ]
    )
    stores = [
        f"*({c_type(kernel.value_dtype(r))} *)(x{j}"
        + "".join(f" + r{a} * xst[{j}][{a}]" for a in red.axes)
        + f") = v{r};"
        for j, r in enumerate(exports)
    ]
    in_prologue = ", ".join("1" if i in first else "0" for i in range(n_in)) or "0"
    out_type = c_type(kernel.value_dtype(result))
    out_typenum = TYPENUM[kernel.value_dtype(result)]
    out_offset = "".join(f" + o{a} * ost[{a}]" for a in kept)
    empty_check = ""
    if red.kind in ("max", "min") and red.initial is None:
        empty_check = f"""
    if (inner == 0 && outer > 0) {{
        PyErr_SetString(PyExc_ValueError, "zero-size array to reduction operation "
                        "{"maximum" if red.kind == "max" else "minimum"} which has no identity");
        goto fail;
    }}"""
    axes_c = ", ".join("1" if a in red.axes else "0" for a in range(nd)) or "0"
    return f"""
/* {kernel.describe()} */
static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    PyArrayObject *op[{max(n_in, 1)}] = {{NULL}};
    PyArrayObject *out = NULL;
    PyArrayObject *xo[{n_x}] = {{NULL}};
    npy_intp xst[{n_x}][{max(nd, 1)}];
    npy_intp shape[{max(nd, 1)}], st[{max(n_in, 1)}][{max(nd, 1)}], ost[{max(nd, 1)}];
    npy_intp est[{max(n_in, 1)}][{max(nd, 1)}];
    static const int in_prologue[{max(n_in, 1)}] = {{{in_prologue}}};
    npy_intp odims[{max(out_nd, 1)}];
    char *base[{max(n_in, 1)}];
    static const int reduced[{max(nd, 1)}] = {{{axes_c}}};
    npy_intp inner = 1, outer = 1;
    int i, d, k;
    (void)self;
{_take_inputs(name, kernel)}
    for (d = 0; d < {nd}; d++)
        shape[d] = 1;
    for (i = 0; i < {n_in}; i++) {{  /* broadcast: right-aligned, size 1 stretches */
        int off = {nd} - PyArray_NDIM(op[i]);
        if (!in_prologue[i]) continue;
        if (off < 0) {{
            PyErr_SetString(PyExc_ValueError, "{name}: an input has too many dimensions");
            goto fail;
        }}
        for (d = 0; d < PyArray_NDIM(op[i]); d++) {{
            npy_intp n = PyArray_DIM(op[i], d);
            if (n != 1) {{
                if (shape[off + d] == 1)
                    shape[off + d] = n;
                else if (shape[off + d] != n) {{
                    PyErr_Format(PyExc_ValueError, "operands could not be broadcast together: "
                                 "dimension %d is %zd in one input and %zd in another",
                                 off + d, shape[off + d], n);
                    goto fail;
                }}
            }}
        }}
    }}
    for (i = 0; i < {n_in}; i++) {{
        int off = {nd} - PyArray_NDIM(op[i]);
        base[i] = PyArray_BYTES(op[i]);
        if (!in_prologue[i]) continue;
        for (d = 0; d < {nd}; d++)
            st[i][d] = (d < off || PyArray_DIM(op[i], d - off) == 1)
                           ? 0 : PyArray_STRIDE(op[i], d - off);
    }}
    for (d = 0, k = 0; d < {nd}; d++) {{
        if (reduced[d]) inner *= shape[d]; else outer *= shape[d];
        if (!reduced[d] || {int(red.keepdims)})
            odims[k++] = reduced[d] ? 1 : shape[d];
    }}
{empty_check}
{_epilogue_strides(late, nd, kept, red.keepdims)}
{_allocate_exports(kernel)}
    if (nargs == {n_in + 1} && PyArray_Check(args[{n_in}])
        && PyArray_NDIM((PyArrayObject *)args[{n_in}]) == {out_nd}
        && PyArray_TYPE((PyArrayObject *)args[{n_in}]) == {out_typenum}
        && PyArray_ISCARRAY((PyArrayObject *)args[{n_in}])
        && PyArray_CompareLists(PyArray_DIMS((PyArrayObject *)args[{n_in}]), odims, {out_nd})) {{
        out = (PyArrayObject *)args[{n_in}];  /* reuse the previous call's buffer */
        Py_INCREF(out);
    }} else {{
        out = (PyArrayObject *)PyArray_EMPTY({out_nd}, odims, {out_typenum}, 0);
    }}
    if (out == NULL) goto fail;
    for (d = 0, k = 0; d < {nd}; d++) {{
        ost[d] = 0;
        if (!reduced[d] || {int(red.keepdims)}) {{
            if (!reduced[d]) ost[d] = PyArray_STRIDE(out, k);
            k++;
        }}
    }}
    {{
    char *outp = PyArray_BYTES(out);
    NPY_BEGIN_THREADS_DEF;
    NPY_BEGIN_THREADS;
{loops_out}
{offsets_out}
    {acc_type} acc = {init};
{_contiguous_inner(kernel, first, update.format(v=v), self)}
{loops_in}
{offsets_in}
{_indent(body, 8)}
        {update.format(v=v)}
{_indent(stores, 8)}
{close_in}
{"    }" if _one_axis(kernel, first) else ""}
{_indent(tail, 4)}
    *({out_type} *)(outp{out_offset}) = v{result};
{close_out}
    NPY_END_THREADS;
    }}
    for (i = 0; i < {n_in}; i++)
        Py_XDECREF(op[i]);
{_return_outputs(len(exports))}
fail:
    for (i = 0; i < {n_in}; i++)
        Py_XDECREF(op[i]);
    Py_XDECREF(out);
    for (i = 0; i < {n_x}; i++)
        Py_XDECREF(xo[i]);
    return NULL;
}}
"""


CRenderer.reduce_function = _reduce_function


def _one_axis(kernel, first):
    return len(kernel.reduce.axes) == 1 and bool(first)


def _contiguous_inner(kernel, first, update, renderer):
    """The inner loop specialized for one reduced axis along which every input is
    contiguous (a row sum of a C-ordered matrix): plain indexing the compiler can
    vectorize. Opens an ``else`` that the generic loops fill."""
    if not _one_axis(kernel, first):
        return ""
    (a,) = kernel.reduce.axes
    cond = " && ".join(
        [f"st[{i}][{a}] == (npy_intp)sizeof({c_type(kernel.inputs[i].dtype)})" for i in first]
        + [
            f"xst[{j}][{a}] == (npy_intp)sizeof({c_type(kernel.value_dtype(r))})"
            for j, r in enumerate(kernel.full_outputs)
        ]
    )
    stores = [
        f"(({c_type(kernel.value_dtype(r))} *)x{j})[r{a}] = v{r};"
        for j, r in enumerate(kernel.full_outputs)
    ]
    loads = [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
        f"((const {c_type(kernel.inputs[i].dtype)} *)q{i})[r{a}];"
        for i in first
    ]
    body = loads + renderer.step_lines(kernel, kernel.steps, len(kernel.inputs)) + [update]
    body += stores
    return (
        f"    if ({cond}) {{\n"
        f"{_simd_pragma(kernel.reduce)}"
        f"        for (npy_intp r{a} = 0; r{a} < shape[{a}]; r{a}++) {{\n"
        f"{_indent(body, 12)}\n"
        "        }\n"
        "    } else {"
    )


def _simd_pragma(red):
    """``#pragma omp simd`` with the reduction clause of sums and products (SIMD lanes
    then accumulate separately and are combined at the end: the same result every
    run); max/min keep NaN-propagating scalar updates."""
    ops = {"sum": "+", "prod": "*"}
    if red.kind not in ops:
        return ""
    return f"        #pragma omp simd reduction({ops[red.kind]}:acc)\n"


def _allocate_exports(kernel):
    """C allocating the arrays a reduction kernel writes its exported prologue values
    to, at the iteration shape, with ``xst[j][axis]`` their strides (0 where size 1)."""
    lines = []
    nd = kernel.reduce.ndim
    for j, r in enumerate(kernel.full_outputs):
        typenum = TYPENUM[kernel.value_dtype(r)]
        lines += [
            f"    xo[{j}] = (PyArrayObject *)PyArray_EMPTY({nd}, shape, {typenum}, 0);",
            f"    if (xo[{j}] == NULL) goto fail;",
            f"    for (d = 0; d < {nd}; d++)",
            f"        xst[{j}][d] = shape[d] == 1 ? 0 : PyArray_STRIDE(xo[{j}], d);",
        ]
    return "\n".join(lines)


def _return_outputs(n_exports):
    """C returning the reduced array, or a tuple of it and the exported arrays."""
    if not n_exports:
        return "    return (PyObject *)out;"
    items = ", ".join(["(PyObject *)out"] + [f"(PyObject *)xo[{j}]" for j in range(n_exports)])
    return (
        f"    {{\n        PyObject *result = PyTuple_Pack({n_exports + 1}, {items});\n"
        "        Py_DECREF(out);\n"
        f"        for (i = 0; i < {n_exports}; i++)\n"
        "            Py_DECREF(xo[i]);\n"
        "        return result;\n    }"
    )


def _epilogue_strides(late, nd, kept, keepdims):
    """C filling est[i][axis] for the epilogue's inputs: strides over the output's
    axes (right-aligned, size 1 broadcast); another size is a broadcast error."""
    if not late:
        return ""
    out_axes = list(range(nd)) if keepdims else kept
    lines = []
    for i in late:
        lines.append(f"    {{ int off = {len(out_axes)} - PyArray_NDIM(op[{i}]);")
        lines.append(
            "      if (off < 0) { PyErr_SetString(PyExc_ValueError, "
            '"an epilogue input has too many dimensions"); goto fail; }'
        )
        for k, a in enumerate(out_axes):
            lines.append(
                f"      if ({k} < off || PyArray_DIM(op[{i}], {k} - off) == 1) est[{i}][{a}] = 0;"
            )
            lines.append(
                f"      else if (PyArray_DIM(op[{i}], {k} - off) == odims[{k}]) "
                f"est[{i}][{a}] = PyArray_STRIDE(op[{i}], {k} - off);"
            )
            lines.append(
                '      else { PyErr_SetString(PyExc_ValueError, "operands could not be '
                "broadcast together (a reduction's epilogue)\"); goto fail; }"
            )
        lines.append("    }")
    return "\n".join(lines)


def _loops(var, axes, indent):
    opens, closes = [], []
    for a in axes:
        pad = " " * (indent - 4)
        opens.append(f"{pad}for (npy_intp {var}{a} = 0; {var}{a} < shape[{a}]; {var}{a}++) {{")
        closes.append(f"{pad}}}")
    if not axes:
        return "    {", "    }"
    return "\n".join(opens), "\n".join(reversed(closes))


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
