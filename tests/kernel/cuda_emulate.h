/* Host emulation of the CUDA kernels of kernel/render_cuda.py, for tests without a GPU
 * (tests/backend/cuda_device.py compiles modules with it):
 * the generated source compiles as C++ with one thread per block, so each kernel's
 * loops, offsets, prologue, epilogue and exports run on the CPU and are checked
 * against NumPy. (What needs real threads, the shared-memory combine across them, is
 * only compiled, by nvcc: with one thread, the shuffles below are never reached.) */
#include <math.h>
struct gd_dim3 { unsigned x, y, z; };
static gd_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0};
static const gd_dim3 blockDim = {1, 1, 1};
static gd_dim3 gridDim = {1, 1, 1};
extern "C" void gd_emulate_block(unsigned block, unsigned grid)
{
    blockIdx.x = block;
    gridDim.x = grid;
}
#define __global__
#define __device__
#define __shared__ static
static inline void __syncthreads(void) {}
#define __shfl_down_sync(mask, value, delta) (value)
