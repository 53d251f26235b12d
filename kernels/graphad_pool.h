/* graphad_pool.h: what a generated C module needs to run loops on graphad's pool.
 *
 * `gd_run(fn, ctx, n, grain)` runs fn(ctx, begin, end) over [0, n): in parallel
 * parts of at least `grain` iterations when the pool module (graphad_pool.c) is
 * loaded and n is large enough, else in one call on this thread. A module calls
 * `gd_bind_pool()` once in its init function.
 */
#ifndef GRAPHAD_POOL_H
#define GRAPHAD_POOL_H

#include <Python.h>

typedef void (*gd_task)(void *ctx, Py_ssize_t begin, Py_ssize_t end);
typedef void (*gd_parallel_fn)(gd_task fn, void *ctx, Py_ssize_t n, Py_ssize_t grain);

/* Iterations below which splitting a loop costs more than it gains: waking a sleeping
 * worker costs tens of microseconds (about 90 on a 2-core VM, measured), a cheap
 * elementwise iteration a nanosecond or less. */
#define GD_GRAIN 262144

#ifndef GRAPHAD_POOL_MODULE
static gd_parallel_fn gd_parallel = NULL;

static inline void gd_bind_pool(void)
{
    gd_parallel = (gd_parallel_fn)PyCapsule_Import("graphad_pool._parallel", 0);
    if (gd_parallel == NULL)
        PyErr_Clear();  /* no pool: every loop runs on the calling thread */
}

static inline void gd_run(gd_task fn, void *ctx, Py_ssize_t n, Py_ssize_t grain)
{
    if (gd_parallel != NULL && n >= 2 * grain)
        gd_parallel(fn, ctx, n, grain);
    else
        fn(ctx, 0, n);
}
#endif

#endif
