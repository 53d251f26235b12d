/* graphad_philox.h: counter-based random numbers, shared by the C and CUDA kernels.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2,
 * 3", SC 2011) maps a 128-bit counter and a 64-bit key to 128 random bits. graphad's
 * draws are pure functions of (seed, call counter, draw id, element index):
 *
 *     key = (seed low 32 bits, seed high 32 bits)
 *     ctr = (block, draw id, call counter low 32 bits, call counter high 32 bits)
 *
 * where element i of a draw reads block i / 4 (float32 uniforms: one word each), i / 2
 * (float64 uniforms: two words each; normals: a pair from one block by Box-Muller).
 * graphad/tensor/random.py computes the same numbers with NumPy, bit for bit.
 *
 * Only integer arithmetic, exact conversions and (for normals) log, sqrt, cos and sin
 * in double precision: no state, no tables, the same code on the host and a GPU.
 */
#ifndef GRAPHAD_PHILOX_H
#define GRAPHAD_PHILOX_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define GD_HD __host__ __device__ inline
#else
#define GD_HD static inline
#endif

#define GD_PHILOX_M0 0xD2511F53u
#define GD_PHILOX_M1 0xCD9E8D57u
#define GD_PHILOX_W0 0x9E3779B9u
#define GD_PHILOX_W1 0xBB67AE85u

typedef struct {
    uint32_t v[4];
} gd_philox_block;

/* Normals call libm's scalar log, sin and cos (on the host through functions the
 * compiler keeps out of vector loops, which would call a vector math library whose
 * last bits differ): they match NumPy's float64 results to an ulp. */
#ifdef __CUDACC__
#define gd_philox_log log
#define gd_philox_sin sin
#define gd_philox_cos cos
#else
__attribute__((noinline)) static double gd_philox_log(double x) { return log(x); }
__attribute__((noinline)) static double gd_philox_sin(double x) { return sin(x); }
__attribute__((noinline)) static double gd_philox_cos(double x) { return cos(x); }
#endif

/* Philox4x32 with 10 rounds of counter c under key (k0, k1) */
GD_HD gd_philox_block gd_philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
                                        uint32_t k0, uint32_t k1)
{
    gd_philox_block out;
    int r;
    for (r = 0; r < 10; r++) {
        const uint64_t p0 = (uint64_t)GD_PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)GD_PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += GD_PHILOX_W0;
        k1 += GD_PHILOX_W1;
    }
    out.v[0] = c0;
    out.v[1] = c1;
    out.v[2] = c2;
    out.v[3] = c3;
    return out;
}

/* the block `block` of draw `draw` at (seed, counter) */
GD_HD gd_philox_block gd_philox_at(int64_t seed, int64_t counter, uint32_t draw, uint64_t block)
{
    return gd_philox4x32_10((uint32_t)block, draw, (uint32_t)(uint64_t)counter,
                            (uint32_t)((uint64_t)counter >> 32), (uint32_t)(uint64_t)seed,
                            (uint32_t)((uint64_t)seed >> 32));
}

/* a float64 in [0, 1) from two words: 53 random bits, exact */
GD_HD double gd_philox_u53(uint32_t a, uint32_t b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}

/* element i of a uniform [0, 1) draw */
GD_HD float gd_philox_uniform_f32(int64_t seed, int64_t counter, uint32_t draw, int64_t i)
{
    const gd_philox_block b = gd_philox_at(seed, counter, draw, (uint64_t)i >> 2);
    return (float)(b.v[i & 3] >> 8) * (1.0f / 16777216.0f);
}

GD_HD double gd_philox_uniform_f64(int64_t seed, int64_t counter, uint32_t draw, int64_t i)
{
    const gd_philox_block b = gd_philox_at(seed, counter, draw, (uint64_t)i >> 1);
    const int k = (int)(i & 1) * 2;
    return gd_philox_u53(b.v[k], b.v[k + 1]);
}

/* element i of a standard normal draw (Box-Muller on one block: elements 2j, 2j + 1
 * are the cosine and sine of one pair), in double precision */
GD_HD double gd_philox_normal(int64_t seed, int64_t counter, uint32_t draw, int64_t i)
{
    const gd_philox_block b = gd_philox_at(seed, counter, draw, (uint64_t)i >> 1);
    const double u1 = 1.0 - gd_philox_u53(b.v[0], b.v[1]); /* (0, 1]: log is finite */
    const double u2 = gd_philox_u53(b.v[2], b.v[3]);
    const double r = sqrt(-2.0 * gd_philox_log(u1));
    const double t = 6.283185307179586 * u2;
    return r * ((i & 1) ? gd_philox_sin(t) : gd_philox_cos(t));
}

/* element i of a binomial(n, p) draw: how many of n float64 uniforms (draw elements
 * i * n ... i * n + n - 1) are below p */
GD_HD int64_t gd_philox_binomial(int64_t seed, int64_t counter, uint32_t draw, int64_t i,
                                 int64_t n, double p)
{
    int64_t j, count = 0;
    for (j = 0; j < n; j++)
        count += gd_philox_uniform_f64(seed, counter, draw, i * n + j) < p;
    return count;
}

#endif
