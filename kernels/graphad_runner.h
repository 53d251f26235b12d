/* graphad_runner.h: the call path of a compiled function, in C.
 *
 * Part of the runtime module (included once, by graphad_pool.c). A `Runner` holds a
 * function's schedule as C arrays: which slot each input, constant and shared value
 * goes to, and per step the callable, its input and output slots and the slots that
 * die after it. `runner.call(*args)` checks the arguments (exact dtype, rank, the
 * sizes the types fix), runs every step, hands out the outputs and writes the
 * updates; an argument it cannot take as is (a list, another dtype, a keyword) makes
 * it return NotImplemented before anything runs, and Python's full check
 * (TensorType.filter) binds them and calls `runner.bound(values)`.
 *
 * A step is a compiled kernel, called with its input arrays (vectorcall) and
 * returning its output (a tuple when it has several), or a Python thunk, called with
 * a list of its inputs and returning a sequence of outputs. When a step fails, the
 * runner calls `on_error(k, exc, inputs)`, which raises the error naming step k's node.
 *
 * Every call gets its own slots, so calls from several threads do not mix. Arrays are
 * allocated through the recycling allocator while the steps run.
 */
#ifndef GRAPHAD_RUNNER_H
#define GRAPHAD_RUNNER_H

#include <Python.h>
#ifndef NPY_NO_DEPRECATED_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#endif
#include <numpy/arrayobject.h>

/* the capsule of the allocator that calls use (graphad_pool.c sets it at import) */
static PyObject *gd_runner_memory = NULL;

typedef struct {
    PyObject *fn;
    int compiled;  /* 1: fn(*arrays) -> output or tuple; 0: fn(list) -> sequence */
    Py_ssize_t n_in, n_out, n_free;
    Py_ssize_t *in, *out, *free;  /* slots; these point into the runner's index arena */
} gd_step;

typedef struct {
    Py_ssize_t slot;
    int type_num;
    int ndim;
    npy_intp *shape;  /* -1 where the type leaves the size open */
} gd_input;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n_slots;
    Py_ssize_t n_in, n_shared, n_const, n_steps, n_out, n_upd;
    gd_input *inputs;
    Py_ssize_t *shared_slot;
    PyObject **shared_cell;  /* the shared variable's container: a one-item list */
    Py_ssize_t *const_slot;
    PyObject **const_value;
    gd_step *steps;
    Py_ssize_t *out_slot;
    Py_ssize_t *upd_slot;
    PyObject **upd_cell;
    int *upd_type;
    int single, allocate;
    PyObject *on_error;
    PyObject *spec;  /* the constructor's arguments, holding every object above */
    Py_ssize_t *arena;  /* every index array above, in one block */
    npy_intp *shapes;
} Runner;

static void runner_dealloc(Runner *self)
{
    PyMem_Free(self->inputs);
    PyMem_Free(self->shared_cell);
    PyMem_Free(self->const_value);
    PyMem_Free(self->steps);
    PyMem_Free(self->upd_cell);
    PyMem_Free(self->upd_type);
    PyMem_Free(self->arena);
    PyMem_Free(self->shapes);
    Py_XDECREF(self->on_error);
    Py_XDECREF(self->spec);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* --- construction ----------------------------------------------------------------- */

static Py_ssize_t *arena_next;  /* construction only (the GIL is held throughout) */
static Py_ssize_t arena_left;

static Py_ssize_t *take_slots(PyObject *seq, Py_ssize_t n_slots, Py_ssize_t *count)
{
    Py_ssize_t i, n;
    Py_ssize_t *slots;
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "Runner: slot lists must be tuples");
        return NULL;
    }
    n = PyTuple_GET_SIZE(seq);
    if (n > arena_left) {
        PyErr_SetString(PyExc_ValueError, "Runner: slot arena too small");
        return NULL;
    }
    slots = arena_next;
    for (i = 0; i < n; i++) {
        Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(seq, i));
        if (s == -1 && PyErr_Occurred())
            return NULL;
        if (s < 0 || s >= n_slots) {
            PyErr_Format(PyExc_ValueError, "Runner: slot %zd out of range", s);
            return NULL;
        }
        slots[i] = s;
    }
    arena_next += n;
    arena_left -= n;
    *count = n;
    return slots;
}

static Py_ssize_t one_slot(PyObject *obj, Py_ssize_t n_slots)
{
    Py_ssize_t s = PyLong_AsSsize_t(obj);
    if (s == -1 && PyErr_Occurred())
        return -1;
    if (s < 0 || s >= n_slots) {
        PyErr_Format(PyExc_ValueError, "Runner: slot %zd out of range", s);
        return -1;
    }
    return s;
}

static int is_cell(PyObject *cell)
{
    if (PyList_Check(cell) && PyList_GET_SIZE(cell) == 1)
        return 1;
    PyErr_SetString(PyExc_TypeError, "Runner: a shared container must be a one-item list");
    return 0;
}

static Py_ssize_t *arena_take(Py_ssize_t n)
{
    Py_ssize_t *slots = arena_next;
    arena_next += n;
    arena_left -= n;
    return slots;
}

/* Reads a tuple of (slot, object) or (slot, object, int) entries into slots[],
 * objects[] (borrowed: the runner keeps the tuple) and ints[]; `cells`: the objects
 * must be one-item lists. */
static int take_entries(PyObject *seq, Py_ssize_t width, int cells, Py_ssize_t n_slots,
                        Py_ssize_t *slots, PyObject **objects, int *ints, const char *what)
{
    Py_ssize_t i;
    for (i = 0; i < PyTuple_GET_SIZE(seq); i++) {
        PyObject *spec = PyTuple_GET_ITEM(seq, i);
        if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != width) {
            PyErr_Format(PyExc_TypeError, "Runner: %s is expected", what);
            return -1;
        }
        if ((cells && !is_cell(PyTuple_GET_ITEM(spec, 1)))
            || (slots[i] = one_slot(PyTuple_GET_ITEM(spec, 0), n_slots)) < 0)
            return -1;
        objects[i] = PyTuple_GET_ITEM(spec, 1);
        if (width == 3) {
            ints[i] = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
            if (PyErr_Occurred())
                return -1;
        }
    }
    return 0;
}

/* Runner(n_slots, inputs, shared, constants, steps, outputs, updates, single,
 *        allocate, on_error)
 *   inputs:    tuple of (slot, type_num, shape) with None for an open size
 *   shared:    tuple of (slot, container)
 *   constants: tuple of (slot, value)
 *   steps:     tuple of (fn, compiled, in_slots, out_slots, free_slots)
 *   outputs:   tuple of slots
 *   updates:   tuple of (slot, container, type_num) */
static int runner_init(Runner *self, PyObject *args, PyObject *kwds)
{
    PyObject *inputs, *shared, *consts, *steps, *outputs, *updates, *on_error;
    Py_ssize_t n_slots, i, total_dims = 0, dims_used = 0, count;
    int single, allocate;
    (void)kwds;
    if (self->spec != NULL) {
        PyErr_SetString(PyExc_TypeError, "Runner: already initialized");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "nO!O!O!O!O!O!ppO", &n_slots, &PyTuple_Type, &inputs,
                          &PyTuple_Type, &shared, &PyTuple_Type, &consts, &PyTuple_Type,
                          &steps, &PyTuple_Type, &outputs, &PyTuple_Type, &updates, &single,
                          &allocate, &on_error))
        return -1;
    self->spec = args;
    Py_INCREF(args);
    self->on_error = on_error;
    Py_INCREF(on_error);
    self->n_slots = n_slots;
    self->single = single;
    self->allocate = allocate;
    self->n_in = PyTuple_GET_SIZE(inputs);
    self->n_shared = PyTuple_GET_SIZE(shared);
    self->n_const = PyTuple_GET_SIZE(consts);
    self->n_steps = PyTuple_GET_SIZE(steps);
    self->n_out = PyTuple_GET_SIZE(outputs);
    self->n_upd = PyTuple_GET_SIZE(updates);
    if (single && self->n_out != 1) {
        PyErr_SetString(PyExc_ValueError, "Runner: single needs exactly one output");
        return -1;
    }
    for (i = 0; i < self->n_in; i++) {
        PyObject *spec = PyTuple_GET_ITEM(inputs, i);
        if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3
            || !PyTuple_Check(PyTuple_GET_ITEM(spec, 2))) {
            PyErr_SetString(PyExc_TypeError, "Runner: an input is (slot, type_num, shape)");
            return -1;
        }
        total_dims += PyTuple_GET_SIZE(PyTuple_GET_ITEM(spec, 2));
    }
    self->inputs = PyMem_Calloc((size_t)self->n_in + 1, sizeof(gd_input));
    self->shapes = PyMem_Calloc((size_t)total_dims + 1, sizeof(npy_intp));
    self->shared_cell = PyMem_Calloc((size_t)self->n_shared + 1, sizeof(PyObject *));
    self->const_value = PyMem_Calloc((size_t)self->n_const + 1, sizeof(PyObject *));
    self->steps = PyMem_Calloc((size_t)self->n_steps + 1, sizeof(gd_step));
    self->upd_cell = PyMem_Calloc((size_t)self->n_upd + 1, sizeof(PyObject *));
    self->upd_type = PyMem_Calloc((size_t)self->n_upd + 1, sizeof(int));
    /* the arena holds every slot index: outputs, shared, constants, updates, steps */
    count = self->n_out + self->n_shared + self->n_const + self->n_upd;
    for (i = 0; i < self->n_steps; i++) {
        PyObject *spec = PyTuple_GET_ITEM(steps, i);
        int k;
        if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 5) {
            PyErr_SetString(PyExc_TypeError, "Runner: a step is (fn, compiled, in, out, free)");
            return -1;
        }
        for (k = 2; k < 5; k++)
            if (PyTuple_Check(PyTuple_GET_ITEM(spec, k)))
                count += PyTuple_GET_SIZE(PyTuple_GET_ITEM(spec, k));
    }
    self->arena = PyMem_Calloc((size_t)count + 1, sizeof(Py_ssize_t));
    if (!self->inputs || !self->shapes || !self->shared_cell || !self->const_value
        || !self->steps || !self->upd_cell || !self->upd_type || !self->arena) {
        PyErr_NoMemory();
        return -1;
    }
    arena_next = self->arena;
    arena_left = count;
    for (i = 0; i < self->n_in; i++) {
        PyObject *spec = PyTuple_GET_ITEM(inputs, i);
        PyObject *shape = PyTuple_GET_ITEM(spec, 2);
        gd_input *in = &self->inputs[i];
        Py_ssize_t d;
        in->slot = one_slot(PyTuple_GET_ITEM(spec, 0), n_slots);
        in->type_num = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 1));
        if (in->slot < 0 || PyErr_Occurred())
            return -1;
        in->ndim = (int)PyTuple_GET_SIZE(shape);
        in->shape = self->shapes + dims_used;
        for (d = 0; d < in->ndim; d++) {
            PyObject *size = PyTuple_GET_ITEM(shape, d);
            in->shape[d] = size == Py_None ? -1 : PyLong_AsSsize_t(size);
            if (in->shape[d] == -1 && PyErr_Occurred())
                return -1;
        }
        dims_used += in->ndim;
    }
    self->shared_slot = arena_take(self->n_shared);
    self->const_slot = arena_take(self->n_const);
    self->upd_slot = arena_take(self->n_upd);
    if (take_entries(shared, 2, 1, n_slots, self->shared_slot, self->shared_cell, NULL,
                     "a shared value (slot, container)") < 0
        || take_entries(consts, 2, 0, n_slots, self->const_slot, self->const_value, NULL,
                        "a constant (slot, value)") < 0
        || take_entries(updates, 3, 1, n_slots, self->upd_slot, self->upd_cell,
                        self->upd_type, "an update (slot, container, type_num)") < 0)
        return -1;
    for (i = 0; i < self->n_steps; i++) {
        PyObject *spec = PyTuple_GET_ITEM(steps, i);
        gd_step *step = &self->steps[i];  /* spec: a 5-tuple, checked above */
        step->fn = PyTuple_GET_ITEM(spec, 0);
        step->compiled = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 1));
        if (step->compiled < 0)
            return -1;
        if (!(step->in = take_slots(PyTuple_GET_ITEM(spec, 2), n_slots, &step->n_in))
            || !(step->out = take_slots(PyTuple_GET_ITEM(spec, 3), n_slots, &step->n_out))
            || !(step->free = take_slots(PyTuple_GET_ITEM(spec, 4), n_slots, &step->n_free)))
            return -1;
        if (step->n_out < 1) {
            PyErr_SetString(PyExc_ValueError, "Runner: a step without outputs");
            return -1;
        }
    }
    if (!(self->out_slot = take_slots(outputs, n_slots, &count)))
        return -1;
    return 0;
}

/* --- arguments ---------------------------------------------------------------------- */

/* `value` as input `in` wants it (a new reference), or NULL without an exception when
 * only Python's full check can take it. */
static PyObject *accept(PyObject *value, const gd_input *in)
{
    if (PyArray_CheckExact(value)) {
        PyArrayObject *arr = (PyArrayObject *)value;
        int d;
        if (PyArray_TYPE(arr) != in->type_num || PyArray_NDIM(arr) != in->ndim
            || !PyArray_ISNBO(PyArray_DESCR(arr)->byteorder))
            return NULL;
        for (d = 0; d < in->ndim; d++)
            if (in->shape[d] >= 0 && in->shape[d] != PyArray_DIM(arr, d))
                return NULL;
        Py_INCREF(value);
        return value;
    }
    if (in->ndim != 0)
        return NULL;
    if (PyFloat_CheckExact(value) && in->type_num == NPY_FLOAT64) {
        PyObject *arr = PyArray_SimpleNew(0, NULL, NPY_FLOAT64);
        if (arr != NULL)
            *(double *)PyArray_DATA((PyArrayObject *)arr) = PyFloat_AS_DOUBLE(value);
        return arr;
    }
    if (PyLong_CheckExact(value) && (in->type_num == NPY_INT64 || in->type_num == NPY_FLOAT64)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        PyObject *arr;
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return NULL;
        }
        if (in->type_num == NPY_FLOAT64 && (v > (1LL << 53) || v < -(1LL << 53)))
            return NULL;  /* not exact in float64: Python's check decides */
        arr = PyArray_SimpleNew(0, NULL, in->type_num);
        if (arr != NULL) {
            if (in->type_num == NPY_INT64)
                *(npy_int64 *)PyArray_DATA((PyArrayObject *)arr) = (npy_int64)v;
            else
                *(double *)PyArray_DATA((PyArrayObject *)arr) = (double)v;
        }
        return arr;
    }
    if (PyArray_IsScalar(value, Generic)) {
        PyArray_Descr *descr = PyArray_DescrFromScalar(value);
        PyObject *arr = NULL;
        if (descr == NULL) {
            PyErr_Clear();
            return NULL;
        }
        if (descr->type_num == in->type_num && PyArray_ISNBO(descr->byteorder))
            arr = PyArray_FromScalar(value, NULL);
        Py_DECREF(descr);
        return arr;
    }
    return NULL;
}

/* --- results ------------------------------------------------------------------------ */

/* The byte range [lo, hi) an array's elements lie in; empty arrays have none. */
static int extent(PyArrayObject *arr, char **lo, char **hi)
{
    int d;
    char *low = PyArray_BYTES(arr), *high = PyArray_BYTES(arr) + PyArray_ITEMSIZE(arr);
    for (d = 0; d < PyArray_NDIM(arr); d++) {
        npy_intp n = PyArray_DIM(arr, d), s = PyArray_STRIDE(arr, d);
        if (n == 0)
            return 0;
        if (s > 0)
            high += s * (n - 1);
        else
            low += s * (n - 1);
    }
    *lo = low;
    *hi = high;
    return 1;
}

static int overlaps(PyObject *a, PyObject *b)
{
    char *alo, *ahi, *blo, *bhi;
    if (!PyArray_Check(a) || !PyArray_Check(b))
        return 0;
    if (!extent((PyArrayObject *)a, &alo, &ahi) || !extent((PyArrayObject *)b, &blo, &bhi))
        return 0;
    return alo < bhi && blo < ahi;
}

/* `value` as an array of `type_num` (any type when negative) that the caller may own:
 * copied when read-only or when it may share memory with one of held[0 .. n_held).
 * Steals `value`. */
static PyObject *private_array(PyObject *value, int type_num, PyObject **held, Py_ssize_t n_held)
{
    PyObject *arr;
    Py_ssize_t i;
    if (type_num >= 0)
        arr = PyArray_FROM_OT(value, type_num);
    else
        arr = PyArray_FROM_O(value);
    Py_DECREF(value);
    if (arr == NULL)
        return NULL;
    if (PyArray_ISWRITEABLE((PyArrayObject *)arr)) {
        for (i = 0; i < n_held; i++)
            if (overlaps(arr, held[i]))
                break;
        if (i == n_held)
            return arr;
    }
    value = PyArray_NewCopy((PyArrayObject *)arr, NPY_KEEPORDER);
    Py_DECREF(arr);
    return value;
}

/* --- running ------------------------------------------------------------------------ */

/* Step k failed: on_error(k, exc, inputs) raises what the user sees. */
static void step_failed(Runner *self, Py_ssize_t k, PyObject **st)
{
    PyObject *type, *exc, *tb, *inputs, *result;
    const gd_step *step = &self->steps[k];
    Py_ssize_t i;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (exc == NULL) {
        PyErr_Restore(type, exc, tb);
        return;
    }
    if (tb != NULL)
        PyException_SetTraceback(exc, tb);
    inputs = PyList_New(step->n_in);
    for (i = 0; inputs != NULL && i < step->n_in; i++) {
        PyObject *v = st[step->in[i]] ? st[step->in[i]] : Py_None;
        Py_INCREF(v);
        PyList_SET_ITEM(inputs, i, v);
    }
    result = inputs ? PyObject_CallFunction(self->on_error, "nOO", k, exc, inputs) : NULL;
    Py_XDECREF(inputs);
    if (result != NULL) {  /* the hook raised nothing: the original error stands */
        Py_DECREF(result);
        PyErr_Restore(type, exc, tb);
        return;
    }
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
}

static int run_step(Runner *self, Py_ssize_t k, PyObject **st)
{
    const gd_step *step = &self->steps[k];
    PyObject *small[16];
    PyObject **argv = small, *result;
    Py_ssize_t i;
    if (step->n_in > 16) {
        argv = PyMem_Malloc(sizeof(PyObject *) * (size_t)step->n_in);
        if (argv == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (i = 0; i < step->n_in; i++)
        argv[i] = st[step->in[i]] ? st[step->in[i]] : Py_None;
    if (step->compiled) {
        result = PyObject_Vectorcall(step->fn, argv, (size_t)step->n_in, NULL);
    } else {
        PyObject *list = PyList_New(step->n_in);
        result = NULL;
        if (list != NULL) {
            for (i = 0; i < step->n_in; i++) {
                Py_INCREF(argv[i]);
                PyList_SET_ITEM(list, i, argv[i]);
            }
            result = PyObject_CallOneArg(step->fn, list);
            Py_DECREF(list);
        }
    }
    if (argv != small)
        PyMem_Free(argv);
    if (result == NULL)
        return -1;
    if (step->compiled && step->n_out == 1) {
        Py_XSETREF(st[step->out[0]], result);
    } else {
        PyObject *seq = PySequence_Fast(result, "a step must return a sequence of outputs");
        Py_DECREF(result);
        if (seq == NULL)
            return -1;
        if (PySequence_Fast_GET_SIZE(seq) != step->n_out) {
            PyErr_Format(PyExc_ValueError, "a step returned %zd outputs instead of %zd",
                         PySequence_Fast_GET_SIZE(seq), step->n_out);
            Py_DECREF(seq);
            return -1;
        }
        for (i = 0; i < step->n_out; i++) {
            PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
            Py_INCREF(item);
            Py_XSETREF(st[step->out[i]], item);
        }
        Py_DECREF(seq);
    }
    for (i = 0; i < step->n_free; i++)
        Py_CLEAR(st[step->free[i]]);
    return 0;
}

/* Runs the schedule with the inputs in vals[] (new references, stolen). */
static PyObject *runner_run(Runner *self, PyObject **vals)
{
    PyObject *small[64];
    PyObject **st = small, **held = NULL, *old = NULL, *result = NULL;
    Py_ssize_t i, k, n_held = 0, first_out;
    const Py_ssize_t n = self->n_slots;
    if (n > 64 && (st = PyMem_Calloc((size_t)n, sizeof(PyObject *))) == NULL) {
        for (i = 0; i < self->n_in; i++)
            Py_DECREF(vals[i]);
        return PyErr_NoMemory();
    }
    if (st == small)
        memset(small, 0, sizeof small);
    held = PyMem_Malloc(sizeof(PyObject *)
                        * (size_t)(self->n_in + self->n_shared + self->n_const + self->n_out
                                   + self->n_upd + 1));
    for (i = 0; i < self->n_in; i++)
        Py_XSETREF(st[self->inputs[i].slot], vals[i]);
    if (held == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < self->n_const; i++) {
        Py_INCREF(self->const_value[i]);
        Py_XSETREF(st[self->const_slot[i]], self->const_value[i]);
    }
    for (i = 0; i < self->n_shared; i++) {
        PyObject *v = PyList_GET_ITEM(self->shared_cell[i], 0);
        Py_INCREF(v);
        Py_XSETREF(st[self->shared_slot[i]], v);
    }
    /* what the outputs must not share memory with: the arguments, constants, shared
     * values (owned references: the slots holding them die during the run) */
    for (i = 0; i < self->n_in; i++)
        held[n_held++] = st[self->inputs[i].slot];
    for (i = 0; i < self->n_const; i++)
        held[n_held++] = self->const_value[i];
    for (i = 0; i < self->n_shared; i++)
        held[n_held++] = PyList_GET_ITEM(self->shared_cell[i], 0);
    for (i = 0; i < n_held; i++)
        Py_INCREF(held[i]);
    first_out = n_held;
    if (self->allocate && gd_runner_memory != NULL
        && (old = PyDataMem_SetHandler(gd_runner_memory)) == NULL)
        goto done;
    for (k = 0; k < self->n_steps; k++) {
        if (run_step(self, k, st) < 0)
            break;
    }
    if (old != NULL) {
        PyObject *exc_type, *exc, *tb, *mine;
        PyErr_Fetch(&exc_type, &exc, &tb);
        mine = PyDataMem_SetHandler(old);
        Py_XDECREF(mine);
        Py_DECREF(old);
        PyErr_Restore(exc_type, exc, tb);
    }
    if (k < self->n_steps) {
        step_failed(self, k, st);
        goto done;
    }
    for (i = 0; i < self->n_out + self->n_upd; i++) {
        int upd = i >= self->n_out;
        Py_ssize_t slot = upd ? self->upd_slot[i - self->n_out] : self->out_slot[i];
        PyObject *v = st[slot];
        if (v == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "graphad: an output slot is empty");
            goto done;
        }
        Py_INCREF(v);
        v = private_array(v, upd ? self->upd_type[i - self->n_out] : -1, held, n_held);
        if (v == NULL)
            goto done;
        held[n_held++] = v;
    }
    if (self->single) {
        result = held[first_out];
        Py_INCREF(result);
    } else {
        result = PyList_New(self->n_out);
        if (result == NULL)
            goto done;
        for (i = 0; i < self->n_out; i++) {
            Py_INCREF(held[first_out + i]);
            PyList_SET_ITEM(result, i, held[first_out + i]);
        }
    }
    for (i = 0; i < self->n_upd; i++) {
        PyObject *v = held[first_out + self->n_out + i];
        Py_INCREF(v);
        if (PyList_SetItem(self->upd_cell[i], 0, v) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
done:
    for (i = 0; i < n_held; i++)
        Py_DECREF(held[i]);
    PyMem_Free(held);
    for (i = 0; i < n; i++)
        Py_XDECREF(st[i]);
    if (st != small)
        PyMem_Free(st);
    return result;
}

static PyObject *runner_call(Runner *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *small[16];
    PyObject **vals = small, *result;
    Py_ssize_t i, j;
    if (nargs != self->n_in)
        Py_RETURN_NOTIMPLEMENTED;
    if (nargs > 16 && (vals = PyMem_Malloc(sizeof(PyObject *) * (size_t)nargs)) == NULL)
        return PyErr_NoMemory();
    for (i = 0; i < nargs; i++) {
        vals[i] = accept(args[i], &self->inputs[i]);
        if (vals[i] == NULL) {
            for (j = 0; j < i; j++)
                Py_DECREF(vals[j]);
            if (vals != small)
                PyMem_Free(vals);
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NOTIMPLEMENTED;
        }
    }
    result = runner_run(self, vals);
    if (vals != small)
        PyMem_Free(vals);
    return result;
}

/* bound(values): run with a list of arguments Python's check already converted. */
static PyObject *runner_bound(Runner *self, PyObject *values)
{
    PyObject **vals, *result;
    Py_ssize_t i;
    if (!PyList_Check(values) || PyList_GET_SIZE(values) != self->n_in) {
        PyErr_Format(PyExc_TypeError, "Runner.bound takes a list of %zd arrays", self->n_in);
        return NULL;
    }
    vals = PyMem_Malloc(sizeof(PyObject *) * (size_t)(self->n_in + 1));
    if (vals == NULL)
        return PyErr_NoMemory();
    for (i = 0; i < self->n_in; i++) {
        vals[i] = PyList_GET_ITEM(values, i);
        Py_INCREF(vals[i]);
    }
    result = runner_run(self, vals);
    PyMem_Free(vals);
    return result;
}

static PyMethodDef runner_methods[] = {
    {"call", (PyCFunction)(void (*)(void))runner_call, METH_FASTCALL,
     "Run with these arguments, or return NotImplemented if one needs Python's check."},
    {"bound", (PyCFunction)(void (*)(void))runner_bound, METH_O, "Run with a list of checked arguments."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RunnerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "graphad_pool.Runner",
    .tp_basicsize = sizeof(Runner),
    .tp_dealloc = (destructor)(void (*)(void))runner_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled function's schedule, run in C (kernels/graphad_runner.h).",
    .tp_methods = runner_methods,
    .tp_init = (initproc)(void (*)(void))runner_init,
    .tp_new = PyType_GenericNew,
};

#endif
