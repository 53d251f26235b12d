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

#endif /* GRAPHAD_CUDA_H */
