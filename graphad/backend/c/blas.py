"""BLAS for the C backend: where CBLAS comes from, and the C module of the matrix
products (MatMul, Gemm) that calls it.

CBLAS comes from the ``scipy-openblas32`` wheel, a dependency, so nobody has to find
a system BLAS. Its symbols carry a prefix (``scipy_cblas_dgemm``) and its ints are
32-bit. The module is linked against the wheel's shared library by absolute path, with
an rpath to the wheel's folder so the loader finds it later. If the wheel cannot be
imported, :func:`available` is False and the ops keep their NumPy ``perform``: no C
path, never an error.

The C (``_DRIVER``) goes into the runtime module (kernels/graphad_pool.c), built once
per cache (not once per compiled function: it is the same for all of them), as
``matmul_float32``, ``gemm_float64``, ... that the C runner calls directly.
The driver hands BLAS a C- or F-ordered 2-d operand as it is (a transposed view is
CblasTrans with its leading dimension), copies anything else to a C-ordered array
first, uses GEMV when one side is a vector, loops GEMM over broadcast batch axes, and
releases the GIL around BLAS.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

# scipy-openblas32's cblas.h declares its functions with this prefix (the wheel's
# pkg-config file says so too: -DBLAS_SYMBOL_PREFIX=scipy_)
_PREFIX = "scipy_cblas_"
_DTYPES = {"float32": "NPY_FLOAT32", "float64": "NPY_FLOAT64"}


@dataclass(frozen=True)
class _Blas:
    include_dir: str  # holds cblas.h
    library: str  # absolute path of the shared library
    identity: str  # what the cache key must change with


@functools.cache
def _find() -> _Blas | None:
    try:
        import scipy_openblas32 as wheel

        include = wheel.get_include_dir()
        folder = wheel.get_lib_dir()
        library = os.path.abspath(os.path.join(folder, wheel.get_library(fullname=True)))
        version = getattr(wheel, "__version__", "unknown")
    except Exception:  # not installed, or a broken install: NumPy runs the products
        return None
    if not (os.path.isfile(os.path.join(include, "cblas.h")) and os.path.isfile(library)):
        return None
    return _Blas(include, library, f"scipy-openblas32 {version} {library}")


def available() -> bool:
    """Whether CBLAS (the ``scipy-openblas32`` wheel) can be used.

    >>> available() in (True, False)
    True
    """
    return _find() is not None


def identity() -> str:
    """The BLAS build a module is linked with ("" without one): package version and
    library path. It is in the source of every module that uses BLAS (a comment
    among :func:`headers`), so the content-keyed compile cache changes with it.

    >>> identity().startswith("scipy-openblas32 ") or not available()
    True
    """
    blas = _find()
    return blas.identity if blas else ""


def include_dirs() -> list:
    """Folders to add with ``-I``: the one holding ``cblas.h``.

    >>> len(include_dirs()) == available()
    True
    """
    blas = _find()
    return [blas.include_dir] if blas else []


def link_args() -> list:
    """Linker arguments: the library by absolute path (no ``-l`` search that could
    find another BLAS) and an rpath to its folder, so the built module loads it
    without LD_LIBRARY_PATH. ``-Xlinker`` keeps a comma in the path intact.

    >>> "-rpath" in link_args() or not available()
    True
    """
    blas = _find()
    if blas is None:
        return []
    return [blas.library, "-Xlinker", "-rpath", "-Xlinker", os.path.dirname(blas.library)]


def runtime_source() -> str:
    """The C that the runtime module (kernels/graphad_pool.c) is built with, before its
    own, where BLAS is available: the BLAS identity in a comment (so the content-keyed
    cache changes with the library), the driver, and ``GD_EXTRA_METHODS``, the module
    table's entries for ``matmul_<dtype>`` and ``gemm_<dtype>``.

    >>> "GD_EXTRA_METHODS" in runtime_source() or not available()
    True
    """
    if not available():
        return ""
    functions, table = [], []
    for kind in ("matmul", "gemm"):
        for dtype, typenum in _DTYPES.items():
            name = f"{kind}_{dtype}"
            functions.append(
                f"static PyObject *{name}(PyObject *self, PyObject *const *args, "
                f"Py_ssize_t nargs)\n{{\n    (void)self;\n"
                f"    return graphad_{kind}(args, nargs, {typenum});\n}}\n"
            )
            table.append(f'{{"{name}", (PyCFunction)(void (*)(void)){name}, METH_FASTCALL, NULL}},')
    return f"""/* BLAS: {identity()} */
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include "cblas.h"
{_DRIVER}
{"".join(functions)}
#define GD_EXTRA_METHODS {" ".join(table)}
"""


def _float_dtype(*variables) -> str | None:
    """The dtype of ``variables`` if they share one and it is float32 or float64."""
    dtypes = {v.dtype for v in variables}
    (dtype,) = dtypes if len(dtypes) == 1 else (None,)
    return dtype if dtype in _DTYPES else None


def matmul_ok(node) -> bool:
    """Whether BLAS computes this MatMul node: float32 or float64, one dtype.

    >>> import graphad as ga
    >>> x, n = ga.matrix("x", dtype="float32"), ga.matrix("n", dtype="int64")
    >>> matmul_ok((x @ x).owner) == available(), matmul_ok((n @ n).owner)
    (True, False)
    """
    return available() and _float_dtype(*node.inputs, *node.outputs) is not None


def gemm_ok(node) -> bool:
    """Whether BLAS computes this Gemm node (its make_node already demands one float
    dtype, 2-d A and B; checked again so a future widening cannot slip through)."""
    c, _, a, b, _ = node.inputs
    return (
        available()
        and a.ndim == 2
        and b.ndim == 2
        and c.ndim <= 2
        and _float_dtype(*node.inputs, *node.outputs) is not None
    )


def function(driver: str, node):
    """The C function computing ``node`` with ``driver`` ("matmul" or "gemm") from the
    runtime module (built on first use), or None when it was built without BLAS; the
    node must be ``<driver>_ok``.

    >>> import graphad as ga
    >>> x = ga.matrix("x", dtype="float32")
    >>> function("matmul", (x @ x).owner).__name__ if available() else "matmul_float32"
    'matmul_float32'
    """
    from .module import load_pool

    runtime = load_pool()
    return getattr(runtime, f"{driver}_{node.outputs[0].dtype}", None)


_DRIVER = r"""
#include <limits.h>

#define GRAPHAD_CBLAS(name) PREFIX##name

/* One operand of a product as BLAS reads it. A 1-d operand is a row on the left of
   the product and a column on the right, as in np.matmul. */
typedef struct {
    PyArrayObject *arr;          /* owned: the input, or a C-ordered copy of it */
    npy_intp rows, cols;         /* its matrix axes (the last two) */
    npy_intp rs, cs;             /* their byte strides */
    npy_intp batch[NPY_MAXDIMS]; /* byte strides along the batch axes; 0 = broadcast */
    CBLAS_TRANSPOSE trans;       /* storage is the matrix row-major, or its transpose */
    int ld;                      /* leading dimension of that storage, in elements */
    int inc;                     /* element step when it is read as a vector */
} graphad_operand;

static void graphad_operand_shape(graphad_operand *op, int right, int nb)
{
    const int nd = PyArray_NDIM(op->arr), own = nd > 2 ? nd - 2 : 0;
    const npy_intp *shape = PyArray_DIMS(op->arr), *strides = PyArray_STRIDES(op->arr);
    int d;
    if (nd == 1) {
        op->rows = right ? shape[0] : 1;
        op->cols = right ? 1 : shape[0];
        op->rs = right ? strides[0] : 0;
        op->cs = right ? 0 : strides[0];
    } else {
        op->rows = shape[nd - 2];
        op->cols = shape[nd - 1];
        op->rs = strides[nd - 2];
        op->cs = strides[nd - 1];
    }
    for (d = 0; d < nb; d++) {
        const int src = d - (nb - own);
        op->batch[d] = (src < 0 || shape[src] == 1) ? 0 : strides[src];
    }
}

/* Whether a rows x cols matrix with byte strides rs, cs is row-major storage BLAS
   takes: unit steps along a row, rows ld >= cols elements apart. The stride of an
   axis of length 1 is never followed, so it may be anything. */
static int graphad_rowmajor(npy_intp rows, npy_intp cols, npy_intp rs, npy_intp cs,
                            npy_intp itemsize, int *ld)
{
    const npy_intp least = cols > 1 ? cols : 1;
    if (cols > 1 && cs != itemsize)
        return 0;
    if (rows <= 1) {
        *ld = (int)least;
        return 1;
    }
    if (rs % itemsize != 0 || rs / itemsize < least || rs / itemsize > INT_MAX)
        return 0;
    *ld = (int)(rs / itemsize);
    return 1;
}

/* Whether BLAS can read op without a copy: as a matrix (vector == 0) or as a vector
   along its rows (1) or its columns (2). Sets trans/ld or inc. Negative, zero and
   unaligned steps do not fit. */
static int graphad_fits(graphad_operand *op, int vector, npy_intp itemsize)
{
    if (vector) {
        const npy_intp n = vector == 1 ? op->rows : op->cols;
        const npy_intp s = vector == 1 ? op->rs : op->cs;
        if (n <= 1) {
            op->inc = 1;
            return 1;
        }
        if (s <= 0 || s % itemsize != 0 || s / itemsize > INT_MAX)
            return 0;
        op->inc = (int)(s / itemsize);
        return 1;
    }
    if (graphad_rowmajor(op->rows, op->cols, op->rs, op->cs, itemsize, &op->ld)) {
        op->trans = CblasNoTrans;
        return 1;
    }
    if (graphad_rowmajor(op->cols, op->rows, op->cs, op->rs, itemsize, &op->ld)) {
        op->trans = CblasTrans;
        return 1;
    }
    return 0;
}

static int graphad_fit_or_copy(graphad_operand *op, int vector, int right, int nb)
{
    const npy_intp itemsize = PyArray_ITEMSIZE(op->arr);
    PyArrayObject *copy;
    if (graphad_fits(op, vector, itemsize))
        return 0;
    copy = (PyArrayObject *)PyArray_NewCopy(op->arr, NPY_CORDER);
    if (copy == NULL)
        return -1;
    Py_DECREF(op->arr);
    op->arr = copy;
    graphad_operand_shape(op, right, nb);
    if (graphad_fits(op, vector, itemsize))
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "graphad BLAS: a C-ordered copy does not fit (a bug)");
    return -1;
}

static void graphad_gemv(int f32, CBLAS_TRANSPOSE t, int rows, int cols, double alpha,
                         const char *a, int lda, const char *x, int incx, double beta, char *y)
{
    if (f32)
        GRAPHAD_CBLAS(sgemv)(CblasRowMajor, t, rows, cols, (float)alpha, (const float *)a, lda,
                             (const float *)x, incx, (float)beta, (float *)y, 1);
    else
        GRAPHAD_CBLAS(dgemv)(CblasRowMajor, t, rows, cols, alpha, (const double *)a, lda,
                             (const double *)x, incx, beta, (double *)y, 1);
}

/* out (m x n, C-ordered) = alpha * A @ B + beta * out, for one pair of matrices */
static void graphad_product(int f32, int m, int n, int k, double alpha,
                            const graphad_operand *a, const char *pa,
                            const graphad_operand *b, const char *pb, double beta, char *out)
{
    if (n == 1) { /* out = A x: A's storage is A (m x k) or its transpose (k x m) */
        const int no = a->trans == CblasNoTrans;
        graphad_gemv(f32, a->trans, no ? m : k, no ? k : m, alpha, pa, a->ld, pb, b->inc,
                     beta, out);
    } else if (m == 1) { /* out = B^T x: B's storage is B (k x n) or its transpose */
        const int no = b->trans == CblasNoTrans;
        graphad_gemv(f32, no ? CblasTrans : CblasNoTrans, no ? k : n, no ? n : k, alpha, pb,
                     b->ld, pa, a->inc, beta, out);
    } else if (f32) {
        GRAPHAD_CBLAS(sgemm)(CblasRowMajor, a->trans, b->trans, m, n, k, (float)alpha,
                             (const float *)pa, a->ld, (const float *)pb, b->ld, (float)beta,
                             (float *)out, n);
    } else {
        GRAPHAD_CBLAS(dgemm)(CblasRowMajor, a->trans, b->trans, m, n, k, alpha,
                             (const double *)pa, a->ld, (const double *)pb, b->ld, beta,
                             (double *)out, n);
    }
}

/* Makes a and b fit BLAS (copying if they must) for an m x n x k product. */
static int graphad_prepare(graphad_operand *a, graphad_operand *b, npy_intp m, npy_intp n,
                           int nb)
{
    /* the vector of a GEMV: b's column when n == 1, else a's row when m == 1 */
    const int va = (m == 1 && n > 1) ? 2 : 0, vb = n == 1 ? 1 : 0;
    if (graphad_fit_or_copy(a, va, 0, nb) < 0 || graphad_fit_or_copy(b, vb, 1, nb) < 0)
        return -1;
    return 0;
}

/* ValueError: format with the shapes of x and y (a tuple y is a shape itself) */
static int graphad_shape_error(const char *format, PyObject *x, PyObject *y)
{
    PyObject *sx = PyObject_GetAttrString(x, "shape"), *sy = NULL;
    if (sx != NULL && PyTuple_Check(y)) {
        Py_INCREF(y);
        sy = y;
    } else if (sx != NULL) {
        sy = PyObject_GetAttrString(y, "shape");
    }
    if (sx && sy)
        PyErr_Format(PyExc_ValueError, format, sx, sy);
    Py_XDECREF(sx);
    Py_XDECREF(sy);
    return -1;
}

static int graphad_check_int(const char *what, npy_intp m, npy_intp n, npy_intp k)
{
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "%s: a matrix dimension (m=%zd, n=%zd, k=%zd) exceeds %d, the largest "
                     "BLAS's 32-bit int holds", what, (Py_ssize_t)m, (Py_ssize_t)n,
                     (Py_ssize_t)k, INT_MAX);
        return -1;
    }
    return 0;
}

/* Broadcasts the batch axes of a and b (all but their last two, aligned on the right)
   into shape[0..nb). */
static int graphad_batch_shape(PyArrayObject *a, PyArrayObject *b, int nb, npy_intp *shape)
{
    const int nda = PyArray_NDIM(a), ndb = PyArray_NDIM(b);
    int d;
    for (d = 0; d < nb; d++) {
        const int ia = d - (nb - (nda - 2)), ib = d - (nb - (ndb - 2));
        const npy_intp da = ia >= 0 ? PyArray_DIM(a, ia) : 1;
        const npy_intp db = ib >= 0 ? PyArray_DIM(b, ib) : 1;
        if (da != db && da != 1 && db != 1)
            return graphad_shape_error("matmul: the batch axes of shapes %R and %R do not "
                                       "broadcast", (PyObject *)a, (PyObject *)b);
        shape[d] = da == 1 ? db : da;
    }
    return 0;
}

/* One product per batch index into the C-ordered out, without the GIL. */
static void graphad_batched(int f32, int nb, const npy_intp *bshape, const graphad_operand *a,
                            const graphad_operand *b, int m, int n, int k, char *out)
{
    const npy_intp step = (npy_intp)m * n * (f32 ? 4 : 8);
    npy_intp idx[NPY_MAXDIMS], count = 1, t, oa = 0, ob = 0;
    int d;
    NPY_BEGIN_THREADS_DEF;
    for (d = 0; d < nb; d++) {
        count *= bshape[d];
        idx[d] = 0;
    }
    NPY_BEGIN_THREADS;
    for (t = 0; t < count; t++) {
        graphad_product(f32, m, n, k, 1.0, a, PyArray_BYTES(a->arr) + oa, b,
                        PyArray_BYTES(b->arr) + ob, 0.0, out + t * step);
        for (d = nb - 1; d >= 0; d--) { /* next batch index, last axis fastest */
            oa += a->batch[d];
            ob += b->batch[d];
            if (++idx[d] < bshape[d])
                break;
            oa -= a->batch[d] * bshape[d];
            ob -= b->batch[d] * bshape[d];
            idx[d] = 0;
        }
    }
    NPY_END_THREADS;
}

/* np.matmul(args[0], args[1]) as a fresh C-ordered array. */
static PyObject *graphad_matmul(PyObject *const *args, Py_ssize_t nargs, int typenum)
{
    graphad_operand a, b;
    PyArrayObject *out = NULL;
    npy_intp shape[NPY_MAXDIMS];
    int nda, ndb, nb, nd;
    a.arr = b.arr = NULL;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "matmul takes 2 arrays, got %zd", nargs);
        return NULL;
    }
    a.arr = (PyArrayObject *)PyArray_FROM_OTF(args[0], typenum, NPY_ARRAY_ALIGNED);
    b.arr = a.arr ? (PyArrayObject *)PyArray_FROM_OTF(args[1], typenum, NPY_ARRAY_ALIGNED)
                  : NULL;
    if (b.arr == NULL)
        goto fail;
    nda = PyArray_NDIM(a.arr);
    ndb = PyArray_NDIM(b.arr);
    if (nda == 0 || ndb == 0) {
        graphad_shape_error("matmul: shapes %R and %R: an operand is 0-d", args[0], args[1]);
        goto fail;
    }
    nb = (nda > ndb ? nda : ndb) - 2;
    nd = nb = nb < 0 ? 0 : nb;
    if (graphad_batch_shape(a.arr, b.arr, nb, shape) < 0)
        goto fail;
    graphad_operand_shape(&a, 0, nb);
    graphad_operand_shape(&b, 1, nb);
    if (a.cols != b.rows) {
        char format[200];
        PyOS_snprintf(format, sizeof format,
                      "matmul: shapes %%R and %%R do not match: %zd (the first's last axis) "
                      "!= %zd (the second's %s axis)", (Py_ssize_t)a.cols, (Py_ssize_t)b.rows,
                      ndb > 1 ? "second-to-last" : "only");
        graphad_shape_error(format, args[0], args[1]);
        goto fail;
    }
    if (graphad_check_int("matmul", a.rows, b.cols, a.cols) < 0)
        goto fail;
    if (nda > 1)
        shape[nd++] = a.rows;
    if (ndb > 1)
        shape[nd++] = b.cols;
    /* zeros: the answer when k == 0, and a defined y for GEMV with beta = 0 */
    out = (PyArrayObject *)PyArray_ZEROS(nd, shape, typenum, 0);
    if (out == NULL)
        goto fail;
    if (PyArray_SIZE(out) > 0 && a.cols > 0) {
        if (graphad_prepare(&a, &b, a.rows, b.cols, nb) < 0)
            goto fail;
        graphad_batched(typenum == NPY_FLOAT32, nb, shape, &a, &b, (int)a.rows, (int)b.cols,
                        (int)a.cols, PyArray_BYTES(out));
    }
    Py_DECREF(a.arr);
    Py_DECREF(b.arr);
    return (PyObject *)out;
fail:
    Py_XDECREF(a.arr);
    Py_XDECREF(b.arr);
    Py_XDECREF(out);
    return NULL;
}

/* out = beta * c + p, c and p broadcast to out's rows x cols by zero strides; p may be
   NULL (then out = beta * c). Computed in T, as NumPy would. */
#define GRAPHAD_COMBINE(T)                                                                   \
    static void graphad_combine_##T(char *out, npy_intp rows, npy_intp cols, T beta,          \
                                    const char *c, npy_intp crs, npy_intp ccs, const char *p,  \
                                    npy_intp prs, npy_intp pcs)                               \
    {                                                                                        \
        T *o = (T *)out;                                                                     \
        npy_intp i, j;                                                                       \
        for (i = 0; i < rows; i++)                                                           \
            for (j = 0; j < cols; j++, o++) {                                                \
                const T v = beta * *(const T *)(c + i * crs + j * ccs);                      \
                *o = p ? v + *(const T *)(p + i * prs + j * pcs) : v;                        \
            }                                                                                \
    }
GRAPHAD_COMBINE(float)
GRAPHAD_COMBINE(double)

/* The shape C and an m x n product broadcast to, and C's byte strides on it (0 where it
   broadcasts); -1 with a ValueError if they do not broadcast. */
static int graphad_gemm_shape(PyArrayObject *c, npy_intp m, npy_intp n, npy_intp *dims,
                              npy_intp *crs, npy_intp *ccs)
{
    const int ndc = PyArray_NDIM(c);
    const npy_intp cm = ndc == 2 ? PyArray_DIM(c, 0) : 1, cn = ndc ? PyArray_DIM(c, ndc - 1) : 1;
    if ((cm != m && cm != 1 && m != 1) || (cn != n && cn != 1 && n != 1)) {
        PyObject *product = Py_BuildValue("(nn)", (Py_ssize_t)m, (Py_ssize_t)n);
        if (product != NULL)
            graphad_shape_error("gemm: C of shape %R does not broadcast with A @ B of shape %R",
                                (PyObject *)c, product);
        Py_XDECREF(product);
        return -1;
    }
    dims[0] = cm == 1 ? m : cm;
    dims[1] = cn == 1 ? n : cn;
    *crs = cm > 1 ? PyArray_STRIDE(c, 0) : 0;
    *ccs = cn > 1 ? PyArray_STRIDE(c, ndc - 1) : 0;
    return 0;
}

/* out = beta * C + alpha * (A @ B), without the GIL, once a and b fit BLAS. BLAS gets
   beta = 1 on an out that already holds beta * C: its beta = 0 means "ignore C", where
   NumPy's 0 * NaN is NaN. When the product broadcasts it goes to prod (m x n, zeros). */
static void graphad_gemm_compute(PyArrayObject *out, PyArrayObject *c, npy_intp crs,
                                 npy_intp ccs, double alpha, const graphad_operand *a,
                                 const graphad_operand *b, double beta, PyArrayObject *prod)
{
    const int f32 = PyArray_TYPE(out) == NPY_FLOAT32;
    const int m = (int)a->rows, n = (int)b->cols, k = (int)a->cols;
    const npy_intp item = PyArray_ITEMSIZE(out), rows = PyArray_DIM(out, 0);
    const npy_intp cols = PyArray_DIM(out, 1);
    NPY_BEGIN_THREADS_DEF;
#define GRAPHAD_COMBINE_CALL(p, prs, pcs)                                                    \
    (f32 ? graphad_combine_float(PyArray_BYTES(out), rows, cols, (float)beta,                 \
                                 PyArray_BYTES(c), crs, ccs, p, prs, pcs)                    \
         : graphad_combine_double(PyArray_BYTES(out), rows, cols, beta, PyArray_BYTES(c),     \
                                  crs, ccs, p, prs, pcs))
    NPY_BEGIN_THREADS;
    if (prod == NULL) {
        GRAPHAD_COMBINE_CALL(NULL, 0, 0);
        if (k > 0)
            graphad_product(f32, m, n, k, alpha, a, PyArray_BYTES(a->arr), b,
                            PyArray_BYTES(b->arr), 1.0, PyArray_BYTES(out));
    } else {
        if (k > 0)
            graphad_product(f32, m, n, k, alpha, a, PyArray_BYTES(a->arr), b,
                            PyArray_BYTES(b->arr), 0.0, PyArray_BYTES(prod));
        GRAPHAD_COMBINE_CALL(PyArray_BYTES(prod), m > 1 ? n * item : 0, n > 1 ? item : 0);
    }
    NPY_END_THREADS;
#undef GRAPHAD_COMBINE_CALL
}

/* Gemm: beta * C + alpha * (A @ B) for args C, alpha, A, B, beta, as a fresh C-ordered
   array; C and the product broadcast against each other. */
static PyObject *graphad_gemm(PyObject *const *args, Py_ssize_t nargs, int typenum)
{
    graphad_operand a, b;
    PyArrayObject *c = NULL, *out = NULL, *prod = NULL;
    npy_intp crs, ccs, dims[2];
    double alpha, beta;
    a.arr = b.arr = NULL;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "gemm takes 5 arrays (C, alpha, A, B, beta), got %zd",
                     nargs);
        return NULL;
    }
    alpha = PyFloat_AsDouble(args[1]);
    beta = PyFloat_AsDouble(args[4]);
    if ((alpha == -1.0 || beta == -1.0) && PyErr_Occurred())
        return NULL;
    c = (PyArrayObject *)PyArray_FROM_OTF(args[0], typenum, NPY_ARRAY_ALIGNED);
    a.arr = c ? (PyArrayObject *)PyArray_FROM_OTF(args[2], typenum, NPY_ARRAY_ALIGNED) : NULL;
    b.arr = a.arr ? (PyArrayObject *)PyArray_FROM_OTF(args[3], typenum, NPY_ARRAY_ALIGNED)
                  : NULL;
    if (b.arr == NULL)
        goto fail;
    if (PyArray_NDIM(a.arr) != 2 || PyArray_NDIM(b.arr) != 2 || PyArray_NDIM(c) > 2) {
        graphad_shape_error("gemm: A and B must be 2-d, got shapes %R and %R", args[2], args[3]);
        goto fail;
    }
    graphad_operand_shape(&a, 0, 0);
    graphad_operand_shape(&b, 1, 0);
    if (a.cols != b.rows) {
        graphad_shape_error("gemm: A @ B with shapes %R and %R: A's columns and B's rows differ",
                            args[2], args[3]);
        goto fail;
    }
    if (graphad_check_int("gemm", a.rows, b.cols, a.cols) < 0 ||
        graphad_gemm_shape(c, a.rows, b.cols, dims, &crs, &ccs) < 0)
        goto fail;
    out = (PyArrayObject *)PyArray_EMPTY(2, dims, typenum, 0);
    if (out == NULL)
        goto fail;
    if (PyArray_SIZE(out) > 0) {
        if (dims[0] != a.rows || dims[1] != b.cols) { /* the product broadcasts */
            npy_intp pdims[2] = {a.rows, b.cols};
            prod = (PyArrayObject *)PyArray_ZEROS(2, pdims, typenum, 0);
            if (prod == NULL)
                goto fail;
        }
        if (a.cols > 0 && graphad_prepare(&a, &b, a.rows, b.cols, 0) < 0)
            goto fail;
        graphad_gemm_compute(out, c, crs, ccs, alpha, &a, &b, beta, prod);
    }
    Py_DECREF(c);
    Py_DECREF(a.arr);
    Py_DECREF(b.arr);
    Py_XDECREF(prod);
    return (PyObject *)out;
fail:
    Py_XDECREF(c);
    Py_XDECREF(a.arr);
    Py_XDECREF(b.arr);
    Py_XDECREF(prod);
    Py_XDECREF(out);
    return NULL;
}
""".replace("PREFIX", _PREFIX)
