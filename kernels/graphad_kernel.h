/* graphad_kernel.h: the part of every elementwise kernel function that is the same
 * for all of them, compiled once per module instead of once per kernel.
 *
 * A generated kernel is a loop body `loop(ctx, begin, end)` over one inner loop of
 * NumPy's iterator (ctx: a gd_loop, the operands' data pointers and strides) and a
 * two-line function that calls gd_elementwise with its operand types. gd_elementwise
 * converts the inputs, lets NpyIter broadcast them (any strides, stride 0 along
 * broadcast axes, zero-size arrays) and allocate the outputs, and runs the loop over
 * each inner loop without the GIL, split across graphad's threads when large.
 *
 * Host only: it uses Python's and NumPy's C APIs.
 */
#ifndef GRAPHAD_KERNEL_H
#define GRAPHAD_KERNEL_H

#include <Python.h>
#ifndef NPY_NO_DEPRECATED_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#endif
#include <numpy/arrayobject.h>

#include "graphad_pool.h"

/* operands of one kernel (fusion stops at 64 steps of at most 3 inputs each) */
#define GD_MAX_OPERANDS 512

typedef struct {
    char *p[GD_MAX_OPERANDS];
    npy_intp s[GD_MAX_OPERANDS];
} gd_loop;

/* Many short inner loops (a broadcast operand keeps the iterator from coalescing the
 * dimensions: a matrix times a column): their data pointers are collected first, then
 * whole inner loops are split across threads. */
#define GD_MAX_SPLIT_LOOPS 65536

typedef struct {
    char **ptrs;      /* n pointers per inner loop */
    npy_intp *sizes;  /* each inner loop's length */
    npy_intp strides[GD_MAX_OPERANDS];
    int n;
    gd_task loop;
} gd_outer;

static void gd_outer_loops(void *vc, npy_intp begin, npy_intp end)
{
    const gd_outer *job = (const gd_outer *)vc;
    npy_intp k;
    int i;
    for (k = begin; k < end; k++) {
        gd_loop c;
        for (i = 0; i < job->n; i++) {
            c.p[i] = job->ptrs[k * job->n + i];
            c.s[i] = job->strides[i];
        }
        job->loop(&c, 0, job->sizes[k]);
    }
}

/* Runs `loop` over the whole iteration of `it` (whose inner loop is shorter than it);
 * returns 0, or -1 (nothing run yet) when the inner loops are too many to collect. */
static int gd_split_outer(NpyIter *it, int n, gd_task loop, npy_intp total, npy_intp inner)
{
    NpyIter_IterNextFunc *next = NpyIter_GetIterNext(it, NULL);
    char **data = NpyIter_GetDataPtrArray(it);
    npy_intp *strides = NpyIter_GetInnerStrideArray(it);
    npy_intp *size_ptr = NpyIter_GetInnerLoopSizePtr(it);
    npy_intp loops = (total + inner - 1) / inner + 1, k = 0;
    gd_outer job;
    int i;
    if (next == NULL || loops > GD_MAX_SPLIT_LOOPS)
        return -1;
    job.ptrs = (char **)PyMem_RawMalloc(sizeof(char *) * (size_t)(loops * n));
    job.sizes = (npy_intp *)PyMem_RawMalloc(sizeof(npy_intp) * (size_t)loops);
    if (job.ptrs == NULL || job.sizes == NULL) {
        PyMem_RawFree(job.ptrs);
        PyMem_RawFree(job.sizes);
        return -1;
    }
    for (i = 0; i < n; i++)
        job.strides[i] = strides[i];  /* the same for every inner loop (no buffering) */
    job.n = n;
    job.loop = loop;
    do {
        if (k == loops) {  /* more loops than the sizes said: run the rest here */
            gd_outer_loops(&job, 0, k);
            k = 0;
        }
        for (i = 0; i < n; i++)
            job.ptrs[k * n + i] = data[i];
        job.sizes[k++] = *size_ptr;
    } while (next(it));
    gd_run(gd_outer_loops, &job, k, GD_GRAIN / inner + 1);
    PyMem_RawFree(job.ptrs);
    PyMem_RawFree(job.sizes);
    return 0;
}

/* Shared by every kernel function: checks the argument count (n_in arrays) and views input i as an aligned array of types[i] in
 * op[i]. Returns -1 with an exception set on error; the caller releases op[]. */
static int gd_take_inputs(const char *name, PyObject *const *args, Py_ssize_t nargs,
                          int n_in, const int *types, PyArrayObject **op)
{
    int i;
    if (nargs != n_in) {
        PyErr_Format(PyExc_TypeError, "%s takes %d arrays, got %zd", name, n_in, nargs);
        return -1;
    }
    for (i = 0; i < n_in; i++) {
        op[i] = (PyArrayObject *)PyArray_FROM_OTF(args[i], types[i], NPY_ARRAY_ALIGNED);
        if (op[i] == NULL)
            return -1;
    }
    return 0;
}

/* A kernel's return value from its n_out output arrays: the array, or a tuple of them
 * (new references; NULL with an exception set if the tuple cannot be made). */
static PyObject *gd_result(PyArrayObject **outs, int n_out)
{
    PyObject *result;
    int i;
    if (n_out == 1) {
        Py_INCREF(outs[0]);
        return (PyObject *)outs[0];
    }
    result = PyTuple_New(n_out);
    for (i = 0; result != NULL && i < n_out; i++) {
        Py_INCREF(outs[i]);
        PyTuple_SET_ITEM(result, i, (PyObject *)outs[i]);
    }
    return result;
}

/* Whether the n (n >= 1) arrays all have one shape and are C-contiguous in native
 * byte order: then the kernel runs over them as flat arrays, without an iterator. */
static int gd_same_contiguous(PyArrayObject **op, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        if (!PyArray_IS_C_CONTIGUOUS(op[i]) || !PyArray_ISNBO(PyArray_DESCR(op[i])->byteorder))
            return 0;
        if (i > 0 && (PyArray_NDIM(op[i]) != PyArray_NDIM(op[0])
                      || !PyArray_CompareLists(PyArray_DIMS(op[i]), PyArray_DIMS(op[0]),
                                               PyArray_NDIM(op[0]))))
            return 0;
    }
    return n > 0;
}

/* The kernel over flat C-contiguous inputs of one shape (gd_same_contiguous): the
 * outputs are new C-ordered arrays of that shape, as NpyIter would make them, and the
 * loop runs once over all elements with unit strides (its SIMD branch), split across
 * threads as the iterator's single inner loop would be. */
static PyObject *gd_elementwise_flat(PyArrayObject **op, int n_in, int n_out,
                                     const int *types, gd_task loop)
{
    PyArrayObject *outs[GD_MAX_OPERANDS] = {NULL};
    const int nd = PyArray_NDIM(op[0]);
    npy_intp *dims = PyArray_DIMS(op[0]);
    const npy_intp size = PyArray_SIZE(op[0]);
    PyObject *result = NULL;
    gd_loop c;
    int i;
    for (i = 0; i < n_out; i++) {
        outs[i] = (PyArrayObject *)PyArray_SimpleNew(nd, dims, types[n_in + i]);
        if (outs[i] == NULL)
            goto done;
    }
    for (i = 0; i < n_in + n_out; i++) {
        PyArrayObject *a = i < n_in ? op[i] : outs[i - n_in];
        c.p[i] = PyArray_BYTES(a);
        c.s[i] = PyArray_ITEMSIZE(a);
    }
    if (size > 0) {
        NPY_BEGIN_THREADS_DEF;
        NPY_BEGIN_THREADS;
        gd_run(loop, &c, size, GD_GRAIN);
        NPY_END_THREADS;
    }
    result = gd_result(outs, n_out);
done:
    for (i = 0; i < n_out; i++)
        Py_XDECREF(outs[i]);
    return result;
}

/* Inputs args[0 .. n_in); types: the n_in + n_out NumPy type numbers. Returns the output array, or a
 * tuple of the n_out outputs; NULL with an exception set on error. */
static PyObject *gd_elementwise(const char *name, PyObject *const *args, Py_ssize_t nargs,
                                int n_in, int n_out, const int *types, gd_task loop)
{
    PyArrayObject *op[GD_MAX_OPERANDS] = {NULL};
    PyArray_Descr *descr[GD_MAX_OPERANDS] = {NULL};
    npy_uint32 flags[GD_MAX_OPERANDS];
    NpyIter *it = NULL;
    PyObject *result = NULL;
    const int n = n_in + n_out;
    int i;
    if (n > GD_MAX_OPERANDS) {
        PyErr_Format(PyExc_ValueError, "%s: %d operands, more than %d", name, n,
                     GD_MAX_OPERANDS);
        return NULL;
    }
    if (gd_take_inputs(name, args, nargs, n_in, types, op) < 0)
        goto fail;
    if (gd_same_contiguous(op, n_in)) {
        result = gd_elementwise_flat(op, n_in, n_out, types, loop);
        goto fail;  /* (the common exit: it releases the inputs) */
    }
    for (i = 0; i < n_in; i++)
        flags[i] = NPY_ITER_READONLY | NPY_ITER_NBO | NPY_ITER_ALIGNED;
    for (i = n_in; i < n; i++) {
        flags[i] = NPY_ITER_WRITEONLY | NPY_ITER_ALLOCATE | NPY_ITER_NO_SUBTYPE;
        descr[i] = PyArray_DescrFromType(types[i]);
    }
    it = NpyIter_MultiNew(n, op, NPY_ITER_EXTERNAL_LOOP | NPY_ITER_ZEROSIZE_OK,
                          NPY_KEEPORDER, NPY_NO_CASTING, flags, descr);
    if (it == NULL)
        goto fail;
    if (NpyIter_GetIterSize(it) >= 2 * GD_GRAIN
        && *NpyIter_GetInnerLoopSizePtr(it) < NpyIter_GetIterSize(it)
        && *NpyIter_GetInnerLoopSizePtr(it) > 0) {
        int done;
        NPY_BEGIN_THREADS_DEF;
        NPY_BEGIN_THREADS;
        done = gd_split_outer(it, n, loop, NpyIter_GetIterSize(it),
                              *NpyIter_GetInnerLoopSizePtr(it));
        NPY_END_THREADS;
        if (done == 0)
            goto finished;
    }
    if (NpyIter_GetIterSize(it) > 0) {
        NpyIter_IterNextFunc *next = NpyIter_GetIterNext(it, NULL);
        char **data = NpyIter_GetDataPtrArray(it);
        npy_intp *strides = NpyIter_GetInnerStrideArray(it);
        npy_intp *size_ptr = NpyIter_GetInnerLoopSizePtr(it);
        NPY_BEGIN_THREADS_DEF;
        if (next == NULL)
            goto fail;
        NPY_BEGIN_THREADS;
        do {
            gd_loop c;
            for (i = 0; i < n; i++) {
                c.p[i] = data[i];
                c.s[i] = strides[i];
            }
            gd_run(loop, &c, *size_ptr, GD_GRAIN);
        } while (next(it));
        NPY_END_THREADS;
    }
finished:
    result = gd_result(NpyIter_GetOperandArray(it) + n_in, n_out);
fail:
    if (it != NULL)
        NpyIter_Deallocate(it);
    for (i = 0; i < n; i++) {
        Py_XDECREF(op[i]);
        Py_XDECREF(descr[i]);
    }
    return result;
}

/* ---- reductions ------------------------------------------------------------------
 * A reduction kernel (render_reduce.py) is a loop `rows(ctx, begin, end)` over result
 * elements and a short function that calls gd_reduce with a gd_reduce_spec and views
 * of its context's arrays. gd_reduce broadcasts the prologue's inputs to the kernel's
 * static rank, checks the epilogue's inputs against the result's shape, allocates the
 * result and the exported prologue values, runs `rows` over the result without the
 * GIL (split across threads in rows of at least GD_GRAIN elements) and returns the
 * result, or a tuple of it and the exports. */
typedef struct {
    const char *name;
    int nd, n_in, n_x, keepdims, out_type;
    const char *empty;      /* "maximum"/"minimum": a zero-size reduction is an error */
    const int *types;       /* [n_in] */
    const int *prologue;    /* [n_in]: read at the iteration shape */
    const int *epilogue;    /* [n_in]: read at the result's shape */
    const int *reduced;     /* [nd] */
    const int *x_types;     /* [n_x] */
} gd_reduce_spec;

typedef struct {  /* the kernel's context `ctx` and its arrays: st, est are [n_in][nd],
                     xst [n_x][nd] */
    void *ctx;
    npy_intp *shape, *st, *est, *ost, *xst;
    char **base, **outp, **xb;
} gd_reduce_view;

/* The iteration space must be one NumPy could hold as an array of the kernel's widest
 * type, as the reference (which materializes it) requires: its element count must not
 * overflow, nor its size in bytes. Without this check a reduction over two broadcast
 * views of 2**31 elements each would loop 2**62 times. */
static int gd_check_extent(const gd_reduce_spec *s, const npy_intp *shape)
{
    npy_intp total = 1, width = 1;
    int d, i;
    for (d = 0; d < s->nd; d++)
        if (shape[d] == 0)
            return 0;
    for (d = 0; d < s->nd; d++) {
        if (total > NPY_MAX_INTP / shape[d]) {
            PyErr_SetString(PyExc_ValueError, "broadcast dimensions too large.");
            return -1;
        }
        total *= shape[d];
    }
    for (i = 0; i <= s->n_in; i++) {
        PyArray_Descr *descr = PyArray_DescrFromType(i < s->n_in ? s->types[i] : s->out_type);
        if (descr == NULL)
            return -1;
        if (PyDataType_ELSIZE(descr) > width)
            width = PyDataType_ELSIZE(descr);
        Py_DECREF(descr);
    }
    if (total > NPY_MAX_INTP / width) {
        PyErr_SetString(PyExc_ValueError, "array is too big; `arr.size * arr.dtype.itemsize` "
                        "is larger than the maximum possible size.");
        return -1;
    }
    return 0;
}

static int gd_reduce_shapes(const gd_reduce_spec *s, PyArrayObject **op, gd_reduce_view v)
{
    const int nd = s->nd;
    int i, d;
    for (d = 0; d < nd; d++)
        v.shape[d] = 1;
    for (i = 0; i < s->n_in; i++) {  /* broadcast: right-aligned, size 1 stretches */
        const int off = nd - PyArray_NDIM(op[i]);
        if (!s->prologue[i])
            continue;
        if (off < 0) {
            PyErr_Format(PyExc_ValueError, "%s: an input has too many dimensions", s->name);
            return -1;
        }
        for (d = 0; d < PyArray_NDIM(op[i]); d++) {
            const npy_intp n = PyArray_DIM(op[i], d);
            if (n == 1)
                continue;
            if (v.shape[off + d] == 1)
                v.shape[off + d] = n;
            else if (v.shape[off + d] != n) {
                PyErr_Format(PyExc_ValueError, "operands could not be broadcast together: "
                             "dimension %d is %zd in one input and %zd in another",
                             off + d, v.shape[off + d], n);
                return -1;
            }
        }
    }
    if (gd_check_extent(s, v.shape) < 0)
        return -1;
    for (i = 0; i < s->n_in; i++) {
        const int off = nd - PyArray_NDIM(op[i]);
        v.base[i] = PyArray_BYTES(op[i]);
        if (!s->prologue[i])
            continue;
        for (d = 0; d < nd; d++)
            v.st[i * nd + d] = (d < off || PyArray_DIM(op[i], d - off) == 1)
                                   ? 0 : PyArray_STRIDE(op[i], d - off);
    }
    return 0;
}

/* est of the epilogue's inputs: strides over the result's axes (right-aligned, size 1
 * broadcast); any other size is a broadcast error */
static int gd_reduce_epilogue(const gd_reduce_spec *s, PyArrayObject **op, gd_reduce_view v,
                              const npy_intp *odims, int out_nd)
{
    const int nd = s->nd;
    int i, d, k;
    for (i = 0; i < s->n_in; i++) {
        const int off = out_nd - PyArray_NDIM(op[i]);
        if (!s->epilogue[i])
            continue;
        if (off < 0) {
            PyErr_SetString(PyExc_ValueError, "an epilogue input has too many dimensions");
            return -1;
        }
        for (d = 0, k = 0; d < nd; d++) {
            npy_intp n;
            if (s->reduced[d] && !s->keepdims)
                continue;
            n = k < off ? 1 : PyArray_DIM(op[i], k - off);
            if (n == 1)
                v.est[i * nd + d] = 0;
            else if (n == odims[k])
                v.est[i * nd + d] = PyArray_STRIDE(op[i], k - off);
            else {
                PyErr_SetString(PyExc_ValueError, "operands could not be broadcast together "
                                "(a reduction's epilogue)");
                return -1;
            }
            k++;
        }
    }
    return 0;
}

static PyObject *gd_reduce(const gd_reduce_spec *s, PyObject *const *args, Py_ssize_t nargs,
                           gd_reduce_view v, gd_task rows)
{
    PyArrayObject *op[GD_MAX_OPERANDS] = {NULL}, *outs[GD_MAX_OPERANDS] = {NULL};
    PyObject *result = NULL;
    npy_intp odims[NPY_MAXDIMS], inner = 1, outer = 1;
    const int nd = s->nd;
    int i, d, k = 0;
    if (s->n_in > GD_MAX_OPERANDS || s->n_x + 1 > GD_MAX_OPERANDS || nd > NPY_MAXDIMS) {
        PyErr_Format(PyExc_ValueError, "%s: too many operands or dimensions", s->name);
        return NULL;
    }
    if (gd_take_inputs(s->name, args, nargs, s->n_in, s->types, op) < 0 ||
        gd_reduce_shapes(s, op, v) < 0)
        goto done;
    for (d = 0; d < nd; d++) {
        if (s->reduced[d])
            inner *= v.shape[d];
        else
            outer *= v.shape[d];
        if (!s->reduced[d] || s->keepdims)
            odims[k++] = s->reduced[d] ? 1 : v.shape[d];
    }
    if (s->empty != NULL && inner == 0 && outer > 0) {
        PyErr_Format(PyExc_ValueError, "zero-size array to reduction operation %s which has "
                     "no identity", s->empty);
        goto done;
    }
    if (gd_reduce_epilogue(s, op, v, odims, k) < 0)
        goto done;
    for (i = 0; i < s->n_x; i++) {  /* exported prologue values, at the iteration shape */
        outs[1 + i] = (PyArrayObject *)PyArray_EMPTY(nd, v.shape, s->x_types[i], 0);
        if (outs[1 + i] == NULL)
            goto done;
        v.xb[i] = PyArray_BYTES(outs[1 + i]);
        for (d = 0; d < nd; d++)
            v.xst[i * nd + d] = v.shape[d] == 1 ? 0 : PyArray_STRIDE(outs[1 + i], d);
    }
    outs[0] = (PyArrayObject *)PyArray_EMPTY(k, odims, s->out_type, 0);
    if (outs[0] == NULL)
        goto done;
    for (d = 0, k = 0; d < nd; d++) {
        v.ost[d] = 0;
        if (!s->reduced[d] || s->keepdims) {
            if (!s->reduced[d])
                v.ost[d] = PyArray_STRIDE(outs[0], k);
            k++;
        }
    }
    *v.outp = PyArray_BYTES(outs[0]);
    if (outer > 0) {
        const npy_intp grain = inner > GD_GRAIN ? 1 : GD_GRAIN / (inner + 1) + 1;
        NPY_BEGIN_THREADS_DEF;
        NPY_BEGIN_THREADS;
        gd_run(rows, v.ctx, outer, grain);
        NPY_END_THREADS;
    }
    result = gd_result(outs, 1 + s->n_x);
done:
    for (i = 0; i < s->n_in; i++)
        Py_XDECREF(op[i]);
    for (i = 0; i < 1 + s->n_x; i++)
        Py_XDECREF(outs[i]);
    return result;
}

#endif
