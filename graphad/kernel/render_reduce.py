"""The C renderer of reduction kernels (a Kernel with ``reduce``).

One C function per kernel: it broadcasts the prologue's inputs to a static-rank
iteration space, allocates the reduced result (and the exported prologue values),
and runs ``<name>_rows`` over the result's elements, each of which reduces its slice
with explicit nested loops (kept axes outside, reduced axes inside) and then runs the
epilogue. Large reductions split their rows across graphad's thread pool; each row is
still reduced by one thread in one order, so results do not depend on the threads.
"""

from __future__ import annotations

import numpy as np

from ..tensor.scalar_base import c_type
from .ir import c_literal
from .render_c import TYPENUM, _indent, convert

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


def reduce_function(renderer, name, kernel):
    """The C function ``name`` (and its row function) for reduction ``kernel``."""
    red = kernel.reduce
    nd, n_in = red.ndim, len(kernel.inputs)
    kept = [a for a in range(nd) if a not in red.axes]
    out_nd = nd if red.keepdims else len(kept)
    acc_type, init = _accumulator(red)
    value = kernel.value_dtype(kernel.outputs[0])
    _, update = _REDUCE[red.kind]
    first, late = sorted(kernel.prologue_inputs()), sorted(kernel.epilogue_inputs())
    exports = kernel.full_outputs
    ND, NI, NX = max(nd, 1), max(n_in, 1), max(len(exports), 1)
    body = [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
        f"*(const {c_type(kernel.inputs[i].dtype)} *)p{i};"
        for i in first
    ] + renderer.step_lines(kernel, kernel.steps, n_in)
    v = convert(f"v{kernel.outputs[0]}", value, red.dtype)
    result = kernel.result_ref
    tail = [f"const {c_type(red.dtype)} v{kernel.reduced_ref} = ({c_type(red.dtype)})acc;"]
    tail += [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = *(const {c_type(kernel.inputs[i].dtype)} *)"
        f"(base[{i}]" + "".join(f" + o{a} * est[{i}][{a}]" for a in kept) + ");"
        for i in late
    ]
    tail += renderer.step_lines(kernel, kernel.epilogue, kernel.reduced_ref + 1)
    loops_in, close_in = _loops("r", red.axes, 12)
    offsets_in = "\n".join(
        f"{' ' * 12}char *p{i} = q{i}" + "".join(f" + r{a} * st[{i}][{a}]" for a in red.axes) + ";"
        for i in first
    )
    offsets_out = [
        f"char *q{i} = base[{i}]" + "".join(f" + o{a} * st[{i}][{a}]" for a in kept) + ";"
        for i in first
    ] + [
        f"char *x{j} = xb[{j}]" + "".join(f" + o{a} * xst[{j}][{a}]" for a in kept) + ";"
        for j in range(len(exports))
    ]
    stores = _export_stores(kernel, lambda j: f"x{j}", red.axes)
    in_types = ", ".join(TYPENUM[i.dtype] for i in kernel.inputs) or "0"
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
    contiguous = _contiguous_inner(kernel, first, update.format(v=v), renderer, v)
    columns = by_columns = ""
    if nd == 2 and red.axes == (0,):
        by_columns = (
            f"if (shape[0] > 1 && shape[1] > 1) gd_run({name}_cols, &c, outer, grain); else"
        )
        stores = _export_stores(kernel, lambda j: f"xb[{j}] + o1 * xst[{j}][1]", (0,))
        columns = _columns(name, first, body, update.format(v=v), acc_type, init, tail, stores)
        columns += f"""    *({out_type} *)(outp + o1 * ost[1]) = v{result};
        }}
    }}
}}
"""
    return f"""
/* {kernel.describe()} */
typedef struct {{
    npy_intp shape[{ND}], st[{NI}][{ND}], est[{NI}][{ND}], ost[{ND}], xst[{NX}][{ND}];
    char *base[{NI}], *outp, *xb[{NX}];
}} {name}_ctx;

/* result elements [begin, end), in C order over the kept axes */
static void {name}_rows(void *vc, npy_intp begin, npy_intp end)
{{
    const {name}_ctx *c = (const {name}_ctx *)vc;
    const npy_intp *shape = c->shape, *ost = c->ost;
    const npy_intp (*st)[{ND}] = c->st, (*est)[{ND}] = c->est, (*xst)[{ND}] = c->xst;
    char *const *base = c->base, *const *xb = c->xb;
    char *outp = c->outp;
    npy_intp t, rest = begin;
{_indent([f"npy_intp o{a};" for a in kept], 4)}
{_indent([f"o{a} = rest % shape[{a}]; rest /= shape[{a}];" for a in reversed(kept)], 4)}
    (void)rest; (void)st; (void)est; (void)xst; (void)base; (void)xb;
    for (t = begin; t < end; t++) {{
{_indent(offsets_out, 8)}
        {acc_type} acc = {init};
{contiguous}
{loops_in}
{offsets_in}
{_indent(body, 12)}
            {update.format(v=v)}
{_indent(stores, 12)}
{close_in}
{"        }" if contiguous else ""}
        {{
{_indent(tail, 12)}
            *({out_type} *)(outp{out_offset}) = v{result};
        }}
{_indent(_odometer(kept), 8)}
    }}
}}
{columns}
static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    PyArrayObject *op[{NI}] = {{NULL}};
    PyArrayObject *out = NULL;
    PyArrayObject *xo[{NX}] = {{NULL}};
    {name}_ctx c;
    npy_intp *shape = c.shape, *ost = c.ost;
    npy_intp (*st)[{ND}] = c.st, (*est)[{ND}] = c.est, (*xst)[{ND}] = c.xst;
    char **base = c.base;
    static const int in_prologue[{NI}] = {{{in_prologue}}};
    static const int types[{NI}] = {{{in_types}}};
    npy_intp odims[{max(out_nd, 1)}];
    static const int reduced[{ND}] = {{{axes_c}}};
    npy_intp inner = 1, outer = 1;
    int i, d, k;
    (void)self;
    (void)est;
    if (gd_take_inputs("{name}", args, nargs, {n_in}, types, op) < 0)
        goto fail;
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
    out = (PyArrayObject *)PyArray_EMPTY({out_nd}, odims, {out_typenum}, 0);
    if (out == NULL) goto fail;
    for (d = 0, k = 0; d < {nd}; d++) {{
        ost[d] = 0;
        if (!reduced[d] || {int(red.keepdims)}) {{
            if (!reduced[d]) ost[d] = PyArray_STRIDE(out, k);
            k++;
        }}
    }}
    c.outp = PyArray_BYTES(out);
    for (i = 0; i < {len(exports)}; i++)
        c.xb[i] = PyArray_BYTES(xo[i]);
    if (outer > 0) {{  /* rows of at least GD_GRAIN elements each per thread */
        NPY_BEGIN_THREADS_DEF;
        NPY_BEGIN_THREADS;
        const npy_intp grain = inner > GD_GRAIN ? 1 : GD_GRAIN / (inner + 1) + 1;
        {by_columns}
        gd_run({name}_rows, &c, outer, grain);
        NPY_END_THREADS;
    }}
    for (i = 0; i < {n_in}; i++)
        Py_XDECREF(op[i]);
{_return_outputs(len(exports))}
fail:
    for (i = 0; i < {n_in}; i++)
        Py_XDECREF(op[i]);
    Py_XDECREF(out);
    for (i = 0; i < {NX}; i++)
        Py_XDECREF(xo[i]);
    return NULL;
}}
"""


def _export_stores(kernel, pointer, axes):
    """C storing each exported prologue value: ``pointer(j)`` is export j's element at
    the current result element, ``r<axis>`` the position along the reduced ``axes``."""
    return [
        f"*({c_type(kernel.value_dtype(r))} *)({pointer(j)}"
        + "".join(f" + r{a} * xst[{j}][{a}]" for a in axes)
        + f") = v{r};"
        for j, r in enumerate(kernel.full_outputs)
    ]


# columns a thread accumulates at once when a matrix is reduced over its rows
_COLUMN_BLOCK = 256


def _columns(name, first, body, update, acc_type, init, tail, stores):
    """``<name>_cols``: a reduction over axis 0 of a matrix, for the result's columns
    [begin, end), reading the matrix row by row (NumPy's order in memory) into one
    accumulator per column instead of walking each column down. Each column still
    adds its rows in order, so results are the bits ``<name>_rows`` gives. The caller
    appends the store of the result and the closing braces."""
    pointers = "\n".join(
        f"{' ' * 16}char *p{i} = base[{i}] + r0 * st[{i}][0] + o1 * st[{i}][1];" for i in first
    )
    return f"""
/* result columns [begin, end) of a reduction over axis 0, a block of columns at a time */
static void {name}_cols(void *vc, npy_intp begin, npy_intp end)
{{
    const {name}_ctx *c = (const {name}_ctx *)vc;
    const npy_intp *shape = c->shape, *ost = c->ost;
    const npy_intp (*st)[2] = c->st, (*est)[2] = c->est, (*xst)[2] = c->xst;
    char *const *base = c->base, *const *xb = c->xb;
    char *outp = c->outp;
    {acc_type} accs[{_COLUMN_BLOCK}];
    npy_intp j0, o1, r0;
    (void)st; (void)est; (void)xst; (void)base; (void)xb;
    for (j0 = begin; j0 < end; j0 += {_COLUMN_BLOCK}) {{
        const npy_intp j1 = end - j0 < {_COLUMN_BLOCK} ? end : j0 + {_COLUMN_BLOCK};
        for (o1 = j0; o1 < j1; o1++)
            accs[o1 - j0] = {init};
        for (r0 = 0; r0 < shape[0]; r0++) {{
            #pragma omp simd
            for (o1 = j0; o1 < j1; o1++) {{
                {acc_type} acc = accs[o1 - j0];
{pointers}
{_indent(body, 16)}
                {update}
{_indent(stores, 16)}
                accs[o1 - j0] = acc;
            }}
        }}
        for (o1 = j0; o1 < j1; o1++) {{
            const {acc_type} acc = accs[o1 - j0];
{_indent(tail, 12)}
            """


def _odometer(kept):
    """C advancing the kept-axis indices ``o<axis>`` to the next result element."""
    if not kept:
        return []
    *outer, last = kept
    inner = f"if (++o{last} == shape[{last}]) {{ o{last} = 0;"
    code = _odometer(outer)
    if not code:
        return [inner + " }"]
    return [inner, *("    " + line for line in code), "}"]


def _one_axis(kernel, first):
    return len(kernel.reduce.axes) == 1 and bool(first)


def _contiguous_inner(kernel, first, update, renderer, v):
    """The inner loop specialized for one reduced axis along which every input is
    contiguous (a row sum of a C-ordered matrix): plain indexing the compiler can
    vectorize. Opens an ``else`` that the generic loops fill."""
    if not _one_axis(kernel, first):
        return ""
    (a,) = kernel.reduce.axes
    nd = kernel.reduce.ndim
    # inputs the graph knows to be broadcast along the axis (a max shift) have stride 0
    # there (the broadcasting above sets it): loaded once per row
    hoisted = [i for i in first if kernel.inputs[i].invariant_along(a, nd)]
    moving = [i for i in first if i not in hoisted]
    cond = " && ".join(
        [f"st[{i}][{a}] == (npy_intp)sizeof({c_type(kernel.inputs[i].dtype)})" for i in moving]
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
        for i in moving
    ]
    once = [
        f"const {c_type(kernel.inputs[i].dtype)} v{i} = "
        f"*(const {c_type(kernel.inputs[i].dtype)} *)q{i};"
        for i in hoisted
    ]
    pragma, before, simd_update, after = _simd_reduction(kernel.reduce, v)
    body = loads + renderer.step_lines(kernel, kernel.steps, len(kernel.inputs))
    body += [simd_update or update, *stores]
    return (
        f"    if ({cond or 1}) {{\n"
        f"{_indent(once + before, 8)}\n"
        f"{pragma}"
        f"        for (npy_intp r{a} = 0; r{a} < shape[{a}]; r{a}++) {{\n"
        f"{_indent(body, 12)}\n"
        "        }\n"
        f"{_indent(after, 8)}\n"
        "    } else {"
    )


def _simd_reduction(red, v):
    """(pragma, lines before the loop, update, lines after) of a SIMD reduction loop:
    lanes accumulate separately and are combined at the end (the same result every
    run). A float max/min ignores NaN in the lanes (a vector max) and records whether
    one was seen, so the result is still NaN then. Other kinds: no pragma, and the
    caller's scalar update."""
    kind = np.dtype(red.dtype).kind
    if red.kind in ("sum", "prod"):
        op = "+" if red.kind == "sum" else "*"
        return f"        #pragma omp simd reduction({op}:acc)\n", [], "", []
    if red.kind not in ("max", "min") or kind not in "iuf":
        return "", [], "", []
    if kind == "f" and red.initial is not None and np.isnan(red.initial):
        return "", [], "", []
    cmp = ">" if red.kind == "max" else "<"
    update = f"acc = {v} {cmp} acc ? {v} : acc;"
    if kind != "f":
        return f"        #pragma omp simd reduction({red.kind}:acc)\n", [], update, []
    return (
        f"        #pragma omp simd reduction({red.kind}:acc) reduction(|:nan_seen)\n",
        ["int nan_seen = 0;"],
        update + f" nan_seen |= ({v} != {v});",
        ["if (nan_seen) acc = NAN;"],
    )


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
