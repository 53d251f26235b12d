/* A stand-in for libcublas.so with cuBLAS's own prototypes for the functions graphad
 * calls (cublasCreate_v2, cublas[SD]gemmStridedBatched), computing on host memory with
 * plain loops. tests/backend/test_cuda_drivers.py loads it in place of cuBLAS, so
 * graphad's ctypes declarations and its column-major mapping are checked against the
 * C signatures without a GPU. Invalid arguments get CUBLAS_STATUS_INVALID_VALUE (7),
 * as cuBLAS answers them. */
#include <stdlib.h>

typedef struct fake_handle *cublasHandle_t;
typedef int cublasStatus_t;
typedef int cublasOperation_t; /* CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 */

struct fake_handle {
    int calls;
};

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    *handle = calloc(1, sizeof(struct fake_handle));
    return *handle ? 0 : 3; /* CUBLAS_STATUS_ALLOC_FAILED */
}

int fake_cublas_calls(cublasHandle_t handle) { return handle->calls; }

#define FAKE_GEMM(name, T)                                                                \
    cublasStatus_t name(cublasHandle_t handle, cublasOperation_t transa,                  \
                        cublasOperation_t transb, int m, int n, int k, const T *alpha,    \
                        const T *A, int lda, long long strideA, const T *B, int ldb,      \
                        long long strideB, const T *beta, T *C, int ldc,                  \
                        long long strideC, int batchCount)                                \
    {                                                                                     \
        if (m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < (transa ? k : m) ||         \
            lda < 1 || ldb < (transb ? n : k) || ldb < 1 || ldc < m || ldc < 1)           \
            return 7;                                                                     \
        handle->calls++;                                                                  \
        for (int b = 0; b < batchCount; b++) {                                            \
            const T *a = A + b * strideA, *bb = B + b * strideB;                          \
            T *c = C + b * strideC;                                                       \
            for (int j = 0; j < n; j++)                                                   \
                for (int i = 0; i < m; i++) {                                             \
                    T acc = 0;                                                            \
                    for (int p = 0; p < k; p++) {                                         \
                        T x = transa ? a[p + (long long)i * lda] : a[i + (long long)p * lda]; \
                        T y = transb ? bb[j + (long long)p * ldb] : bb[p + (long long)j * ldb]; \
                        acc += x * y;                                                     \
                    }                                                                     \
                    T *out = c + i + (long long)j * ldc;                                  \
                    *out = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * *out;       \
                }                                                                         \
        }                                                                                 \
        return 0;                                                                         \
    }

FAKE_GEMM(cublasSgemmStridedBatched, float)
FAKE_GEMM(cublasDgemmStridedBatched, double)
