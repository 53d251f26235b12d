/* Host emulation of the CUDA kernels of kernel/render_cuda.py with real threads: a block
 * of blockDim.x std::threads, __syncthreads() a barrier of the block, and
 * __shfl_down_sync an exchange between the 32 lanes of a warp (behind a barrier of the
 * warp). It runs what cuda_emulate.h (one thread per block) cannot: the reductions'
 * combine of the threads' accumulators in shared memory and by shuffles.
 * tests/backend/cuda_device.py builds modules with it (EmulatedDevice(threads=...)).
 * A barrier that waits more than a few seconds (a __syncthreads() not every thread
 * reaches: a hang on a GPU) marks the launch failed instead of hanging the tests. */
#include <math.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

struct gd_dim3 {
    unsigned x, y, z;
};
static thread_local gd_dim3 threadIdx = {0, 0, 0};
static gd_dim3 blockIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static int gd_failed = 0;

class gd_barrier {
  public:
    explicit gd_barrier(unsigned n) : count_(n), waiting_(0), phase_(0) {}
    void wait(bool timed = true)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const unsigned long phase = phase_;
        if (++waiting_ == count_) {
            waiting_ = 0;
            phase_++;
            cv_.notify_all();
            return;
        }
        if (!timed)
            cv_.wait(lock, [&] { return phase_ != phase; });
        else if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return phase_ != phase; }))
            gd_failed = 1;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    unsigned count_, waiting_;
    unsigned long phase_;
};

static gd_barrier *gd_block_barrier;
static std::vector<gd_barrier *> gd_warp_barriers;

#define __global__
#define __device__
#define __shared__ static
static inline void __syncthreads(void) { gd_block_barrier->wait(); }

template <class T> static T __shfl_down_sync(unsigned mask, T value, int delta)
{
    static T exchange[1024];
    const unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    (void)mask;
    exchange[threadIdx.x] = value;
    gd_warp_barriers[warp]->wait();
    const T other = lane + delta < 32 ? exchange[threadIdx.x + delta] : value;
    gd_warp_barriers[warp]->wait();
    return other;
}

/* The block's threads: made at the first launch and kept (detached: they wait for the
 * next block until the process ends). Each block: all start, run the body, all end. */
static void (*gd_body)(void *);
static void *gd_context;
static gd_barrier *gd_start, *gd_end;
static unsigned gd_pool_size = 0;

static void gd_worker(unsigned t)
{
    threadIdx.x = t;
    for (;;) {
        gd_start->wait(false);
        gd_body(gd_context);
        gd_end->wait(false);
    }
}

/* run body(context) as each thread of `grid` blocks of `block` threads, a block at a time */
static int gd_grid(unsigned grid, unsigned block, void (*body)(void *), void *context)
{
    if (gd_pool_size == 0) {
        gd_start = new gd_barrier(block + 1);
        gd_end = new gd_barrier(block + 1);
        gd_block_barrier = new gd_barrier(block);
        for (unsigned w = 0; w < (block + 31) / 32; w++)
            gd_warp_barriers.push_back(new gd_barrier(block - 32 * w < 32 ? block - 32 * w : 32));
        for (unsigned t = 0; t < block; t++)
            std::thread(gd_worker, t).detach();
        gd_pool_size = block;
    }
    if (block != gd_pool_size)
        return 2;
    gd_failed = 0;
    gridDim.x = grid;
    blockDim.x = block;
    gd_body = body;
    gd_context = context;
    for (unsigned b = 0; b < grid && !gd_failed; b++) {
        blockIdx.x = b;
        gd_start->wait(false);
        gd_end->wait(false);
    }
    return gd_failed;
}

template <class A> struct gd_call {
    void (*fn)(A);
    void (*fn2)(A, long long);
    A args;
    long long extra;
    static void run(void *self)
    {
        gd_call *c = (gd_call *)self;
        if (c->fn)
            c->fn(c->args);
        else
            c->fn2(c->args, c->extra);
    }
};

template <class A> static int gd_run(void (*fn)(A), const void *args, long long, unsigned grid,
                                     unsigned block)
{
    gd_call<A> call = {fn, 0, *(const A *)args, 0};
    return gd_grid(grid, block, gd_call<A>::run, &call);
}

template <class A>
static int gd_run(void (*fn)(A, long long), const void *args, long long extra, unsigned grid,
                  unsigned block)
{
    gd_call<A> call = {0, fn, *(const A *)args, extra};
    return gd_grid(grid, block, gd_call<A>::run, &call);
}
