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
    in_epilogue = ", ".join("1" if i in late else "0" for i in range(n_in)) or "0"
    x_types = ", ".join(TYPENUM[kernel.value_dtype(r)] for r in exports) or "0"
    out_type = c_type(kernel.value_dtype(result))
    out_typenum = TYPENUM[kernel.value_dtype(result)]
    out_offset = "".join(f" + o{a} * ost[{a}]" for a in kept)
    empty = "NULL"
    if red.kind in ("max", "min") and red.initial is None:
        empty = '"maximum"' if red.kind == "max" else '"minimum"'
    axes_c = ", ".join("1" if a in red.axes else "0" for a in range(nd)) or "0"
    contiguous = _contiguous_inner(kernel, first, update.format(v=v), renderer, v)
    if nd == 2 and red.axes == (0,):  # one loop over the columns, for any strides
        stores = _export_stores(kernel, lambda j: f"xb[{j}] + o1 * xst[{j}][1]", (0,))
        columns = _columns(name, first, body, update.format(v=v), acc_type, init, tail, stores)
        runs = f"{name}_cols"
        rows = (
            columns
            + f"""    *({out_type} *)(outp + o1 * ost[1]) = v{result};
        }}
    }}
}}
"""
        )
    else:
        runs = f"{name}_rows"
        rows = f"""
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
"""
    return f"""
/* {kernel.describe()} */
typedef struct {{
    npy_intp shape[{ND}], st[{NI}][{ND}], est[{NI}][{ND}], ost[{ND}], xst[{NX}][{ND}];
    char *base[{NI}], *outp, *xb[{NX}];
}} {name}_ctx;
{rows}
static PyObject *{name}(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{{
    static const int types[{NI}] = {{{in_types}}}, prologue[{NI}] = {{{in_prologue}}};
    static const int epilogue[{NI}] = {{{in_epilogue}}}, reduced[{ND}] = {{{axes_c}}};
    static const int x_types[{NX}] = {{{x_types}}};
    static const gd_reduce_spec spec = {{
        "{name}", {nd}, {n_in}, {len(exports)}, {int(red.keepdims)}, {out_typenum}, {empty},
        types, prologue, epilogue, reduced, x_types}};
    {name}_ctx c;
    const gd_reduce_view v = {{
        &c, c.shape, &c.st[0][0], &c.est[0][0], c.ost, &c.xst[0][0], c.base, &c.outp, c.xb}};
    (void)self;
    return gd_reduce(&spec, args, nargs, v, {runs});
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


def _loops(var, axes, indent):
    opens, closes = [], []
    for a in axes:
        pad = " " * (indent - 4)
        opens.append(f"{pad}for (npy_intp {var}{a} = 0; {var}{a} < shape[{a}]; {var}{a}++) {{")
        closes.append(f"{pad}}}")
    if not axes:
        return "    {", "    }"
    return "\n".join(opens), "\n".join(reversed(closes))
