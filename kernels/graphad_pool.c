/* graphad_pool.c: the worker threads that graphad's generated kernels share.
 *
 * A CPython extension module ("graphad_pool", compiled on first use and cached like
 * every generated module) holding one pool of worker threads per process. Generated
 * modules get `parallel_for` through the capsule `graphad_pool._parallel` (see
 * graphad_pool.h) and call it with a loop body `fn(ctx, begin, end)`: [0, n) is cut
 * into at most `threads` equal parts, the calling thread runs the first, workers the
 * others, and the call returns when all are done. The cut depends only on n and the
 * thread count, so results are the same on every run.
 *
 * Why not OpenMP: GNU libgomp's threads do not survive fork(), and a child process
 * that enters a parallel region after its parent did hangs for ever (Python's
 * multiprocessing forks by default on Linux). This pool forgets its workers in a
 * fork child (pthread_atfork) and starts new ones when next needed.
 *
 * One parallel loop runs at a time: a call made while another runs (from another
 * Python thread, or from inside a loop body) runs its whole range serially.
 *
 * It also runs compiled functions' schedules (graphad_runner.h: argument checks, the
 * steps, outputs and updates, in C), and, where CBLAS is installed, holds the matrix
 * products (graphad/backend/c/blas.py puts their C before this file's).
 *
 * The module also holds the array memory allocator that compiled functions use while
 * they run (NumPy's PyDataMem_Handler, set for the call only): blocks of 64 KiB and
 * more that graphad's arrays free are kept (the latest 256 MiB of them) and handed out
 * again for the same size, so a function called in a loop does not map fresh pages from the OS (and
 * take a page fault per 4 KiB) for every large output. The arrays handed out are still
 * new arrays; only their memory is recycled.
 */
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <Python.h>
#include <numpy/arrayobject.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define GRAPHAD_POOL_MODULE
#include "graphad_pool.h"

#define MAX_THREADS 256

static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER;  /* held by the running loop */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  /* guards what follows */
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static int threads = 1;    /* the configured count, the caller included */
static int started = 0;    /* worker threads running (threads - 1 once started) */
static unsigned long generation = 0;  /* bumped once per parallel loop */
static int pending = 0;    /* workers that have not finished this generation */
static gd_task task_fn;
static void *task_ctx;
static Py_ssize_t task_n, task_grain;
static int task_parts;
static unsigned long long split_loops = 0;  /* loops run on several threads */

/* Where part k of [0, n) starts. With a grain of at least ALIGN iterations the
 * starts are multiples of ALIGN, so each element lands in the same SIMD lane
 * position (vector body or scalar remainder) as in a one-thread run: elementwise
 * results are the same bits on any thread count. */
#define ALIGN 64
static Py_ssize_t part_start(Py_ssize_t n, int parts, int k, Py_ssize_t grain)
{
    Py_ssize_t start = (Py_ssize_t)((double)n * k / parts);  /* exact for n < 2**53 */
    if (k == parts)
        return n;
    return grain >= ALIGN ? start / ALIGN * ALIGN : start;
}

struct start {
    int id;             /* 1 .. threads - 1; the caller is part 0 */
    unsigned long seen; /* the generation when it was created: it joins later ones */
};

static void *worker(void *arg)
{
    const int id = ((struct start *)arg)->id;
    unsigned long seen = ((struct start *)arg)->seen;
    free(arg);
    pthread_mutex_lock(&lock);
    for (;;) {
        while (generation == seen)
            pthread_cond_wait(&wake, &lock);
        seen = generation;
        if (id < task_parts) {
            gd_task fn = task_fn;
            void *ctx = task_ctx;
            const Py_ssize_t n = task_n, grain = task_grain;
            const int parts = task_parts;
            pthread_mutex_unlock(&lock);
            fn(ctx, part_start(n, parts, id, grain), part_start(n, parts, id + 1, grain));
            pthread_mutex_lock(&lock);
        }
        if (--pending == 0)
            pthread_cond_signal(&done);
    }
    return NULL;
}

/* Start the missing workers; called with `lock` held. Fewer may start (out of
 * resources): the loop then uses those that did. */
static void start_workers(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    while (started < threads - 1) {
        pthread_t t;
        struct start *arg = malloc(sizeof *arg);
        if (arg == NULL)
            break;
        arg->id = started + 1;
        arg->seen = generation;
        if (pthread_create(&t, &attr, worker, arg) != 0) {
            free(arg);
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
}

static void parallel_for(gd_task fn, void *ctx, Py_ssize_t n, Py_ssize_t grain)
{
    int parts = threads;
    if (grain < 1)
        grain = 1;
    if (n / grain < parts)
        parts = (int)(n / grain);
    if (parts <= 1 || pthread_mutex_trylock(&busy) != 0) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&lock);
    start_workers();
    if (parts > started + 1)
        parts = started + 1;
    task_fn = fn;
    task_ctx = ctx;
    task_n = n;
    task_grain = grain;
    task_parts = parts;
    split_loops++;
    pending = started;
    generation++;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    fn(ctx, 0, part_start(n, parts, 1, grain));
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&done, &lock);
    pthread_mutex_unlock(&lock);
    pthread_mutex_unlock(&busy);
}

/* --- the recycling allocator -------------------------------------------------- */
#define CACHE_MIN ((size_t)1 << 16)     /* smaller blocks come from malloc as usual */
#define CACHE_LIMIT ((size_t)256 << 20) /* bytes kept at most */
#define CACHE_SLOTS 64
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cache_ptr[CACHE_SLOTS];
static size_t cache_size[CACHE_SLOTS];
static int cache_count = 0;
static size_t cache_bytes = 0;
static unsigned long long cache_hits = 0;

static void *cache_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size >= CACHE_MIN) {
        int k;
        pthread_mutex_lock(&cache_lock);
        for (k = cache_count - 1; k >= 0; k--) {  /* the most recently freed first */
            if (cache_size[k] == size) {
                void *p = cache_ptr[k];
                cache_count--;  /* the others keep their order */
                memmove(cache_ptr + k, cache_ptr + k + 1, sizeof(void *) * (size_t)(cache_count - k));
                memmove(cache_size + k, cache_size + k + 1, sizeof(size_t) * (size_t)(cache_count - k));
                cache_bytes -= size;
                cache_hits++;
                pthread_mutex_unlock(&cache_lock);
                return p;
            }
        }
        pthread_mutex_unlock(&cache_lock);
    }
    return malloc(size ? size : 1);
}

static void *cache_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    return calloc(n ? n : 1, size ? size : 1);
}

static void *cache_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return realloc(ptr, size ? size : 1);
}

/* Keeps a freed block for reuse, making room by freeing the blocks that have waited
 * longest: those of a shape no longer computed (another function, other sizes) must
 * not hold the budget that the running function's blocks need. */
static void cache_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (ptr != NULL && size >= CACHE_MIN && size <= CACHE_LIMIT) {
        void *evicted[CACHE_SLOTS];
        int n_evicted = 0, k;
        pthread_mutex_lock(&cache_lock);
        while (cache_count > 0
               && (cache_count == CACHE_SLOTS || cache_bytes + size > CACHE_LIMIT)) {
            evicted[n_evicted++] = cache_ptr[0];  /* the oldest: slots are in freeing order */
            cache_bytes -= cache_size[0];
            cache_count--;
            memmove(cache_ptr, cache_ptr + 1, sizeof(void *) * (size_t)cache_count);
            memmove(cache_size, cache_size + 1, sizeof(size_t) * (size_t)cache_count);
        }
        cache_ptr[cache_count] = ptr;
        cache_size[cache_count] = size;
        cache_count++;
        cache_bytes += size;
        pthread_mutex_unlock(&cache_lock);
        for (k = 0; k < n_evicted; k++)
            free(evicted[k]);
        return;
    }
    free(ptr);
}

static PyDataMem_Handler cache_handler = {
    "graphad_cache",
    1,
    {NULL, cache_malloc, cache_calloc, cache_realloc, cache_free},
};
static PyObject *cache_capsule = NULL;

/* use_allocator(): make the recycling allocator NumPy's for this context; returns
 * the handler it replaces, for restore_allocator(old) at the end of the call. */
static PyObject *use_allocator(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyDataMem_SetHandler(cache_capsule);
}

static PyObject *restore_allocator(PyObject *self, PyObject *old)
{
    PyObject *mine;
    (void)self;
    mine = PyDataMem_SetHandler(old);
    if (mine == NULL)
        return NULL;
    Py_DECREF(mine);
    Py_RETURN_NONE;
}

static PyObject *allocator_stats(PyObject *self, PyObject *unused)
{
    PyObject *stats;
    (void)self;
    (void)unused;
    pthread_mutex_lock(&cache_lock);
    stats = Py_BuildValue("{s:K,s:n,s:i}", "hits", cache_hits, "cached_bytes",
                          (Py_ssize_t)cache_bytes, "cached_blocks", cache_count);
    pthread_mutex_unlock(&cache_lock);
    return stats;
}

#include "graphad_runner.h"

/* In a fork child only the forking thread exists: forget the workers (new ones
 * start on the next parallel loop) and reset the locks. */
static void after_fork_child(void)
{
    pthread_mutex_init(&busy, NULL);
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    pthread_mutex_init(&cache_lock, NULL);
    started = 0;
    pending = 0;
}

static PyObject *set_threads(PyObject *self, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    (void)self;
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 1 || n > MAX_THREADS) {
        PyErr_Format(PyExc_ValueError, "threads must be between 1 and %d, got %ld",
                     MAX_THREADS, n);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    threads = (int)n;  /* extra workers from a larger count stay idle */
    pthread_mutex_unlock(&lock);
    Py_RETURN_NONE;
}

static PyObject *get_threads(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(threads);
}

static PyObject *get_split_loops(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(split_loops);
}

static PyMethodDef methods[] = {
    {"set_threads", set_threads, METH_O, "Use n threads (the caller included) per loop."},
    {"get_threads", get_threads, METH_NOARGS, "The thread count loops use."},
    {"split_loops", get_split_loops, METH_NOARGS, "How many loops ran on several threads."},
    {"use_allocator", use_allocator, METH_NOARGS, "Recycle large array memory; returns the old handler."},
    {"restore_allocator", restore_allocator, METH_O, "Put back the handler use_allocator replaced."},
    {"allocator_stats", allocator_stats, METH_NOARGS, "Hits and bytes of the recycling allocator."},
#ifdef GD_EXTRA_METHODS /* BLAS's products, when blas.py put its C before this file's */
    GD_EXTRA_METHODS
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "graphad_pool", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_graphad_pool(void)
{
    PyObject *m;
    PyObject *capsule;
    import_array();
    cache_capsule = PyCapsule_New(&cache_handler, "mem_handler", NULL);
    if (cache_capsule == NULL)
        return NULL;
    m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    capsule = PyCapsule_New((void *)parallel_for, "graphad_pool._parallel", NULL);
    if (capsule == NULL || PyModule_AddObject(m, "_parallel", capsule) < 0) {
        Py_XDECREF(capsule);
        Py_DECREF(m);
        return NULL;
    }
    gd_runner_memory = cache_capsule;
    if (PyType_Ready(&RunnerType) < 0)
        goto fail;
    Py_INCREF(&RunnerType);
    if (PyModule_AddObject(m, "Runner", (PyObject *)&RunnerType) < 0) {
        Py_DECREF(&RunnerType);
        goto fail;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
