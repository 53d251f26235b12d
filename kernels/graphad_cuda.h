/* graphad_cuda.h: what every generated CUDA module includes (kernel/render_cuda.py).
 *
 * The scalar code of a kernel is the C renderer's (graphad's scalar ops carry one C
 * expression that nvcc compiles too); this header gives it the NumPy type names it
 * uses and the shared scalar helpers (integer division, random numbers).
 */
#ifndef GRAPHAD_CUDA_H
#define GRAPHAD_CUDA_H

#include <math.h>
#include <stdint.h>

#include "graphad_runtime.h"
#include "graphad_philox.h"

typedef unsigned char npy_bool;
typedef int8_t npy_int8;
typedef int16_t npy_int16;
typedef int32_t npy_int32;
typedef int64_t npy_int64;
typedef uint8_t npy_uint8;
typedef uint16_t npy_uint16;
typedef uint32_t npy_uint32;
typedef uint64_t npy_uint64;
typedef float npy_float32;
typedef double npy_float64;

#ifdef __CUDACC__
/* a kernel family shares its offset bookkeeping; not every member reads all of it */
#pragma nv_diag_suppress 177
#pragma nv_diag_suppress 550
#endif

/* threads per block of the reduction kernels (a power of two) */
#define GD_CUDA_BLOCK 256

/* The runtime's strided copy (backend/cuda/runtime.py): the elements of an array of
 * any layout, or of a broadcast view (stride 0), written contiguously. It makes
 * operands cuBLAS can read, fills a GEMM's output with its broadcast C, and packs a
 * view before it is downloaded. */
#define GD_COPY_ND 32
struct gd_copy_args {
    const char *src;
    char *dst;
    long long st[GD_COPY_ND]; /* the source's byte strides */
    long long shape[GD_COPY_ND];
    long long size;
    long long nd;
};
struct gd_bytes16 {
    unsigned long long lo, hi;
};
#if defined(__CUDACC__) || defined(__cplusplus) /* (the packaging test reads it as C) */
#define GD_COPY(bytes, type)                                                            \
    extern "C" __global__ void gd_copy##bytes(const struct gd_copy_args a)              \
    {                                                                                   \
        for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < a.size; \
             i += (long long)gridDim.x * blockDim.x) {                                  \
            long long rest = i, off = 0;                                                \
            for (long long d = a.nd - 1; d >= 0; d--) {                                 \
                off += (rest % a.shape[d]) * a.st[d];                                   \
                rest /= a.shape[d];                                                     \
            }                                                                           \
            ((type *)a.dst)[i] = *(const type *)(a.src + off);                          \
        }                                                                               \
    }
GD_COPY(1, unsigned char)
GD_COPY(2, unsigned short)
GD_COPY(4, unsigned int)
GD_COPY(8, unsigned long long)
GD_COPY(16, struct gd_bytes16)
#endif

#endif /* GRAPHAD_CUDA_H */
