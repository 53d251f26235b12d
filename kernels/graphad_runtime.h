/* graphad_runtime.h: scalar helpers shared by graphad's generated C and CUDA code.
 *
 * Integer floor division and modulo with NumPy's semantics, which C's `/` and `%`
 * do not have:
 *   - the quotient rounds toward minus infinity and the remainder takes the sign
 *     of the divisor (C truncates toward zero);
 *   - a zero divisor gives 0 for both (C: undefined behaviour, SIGFPE on x86);
 *   - MIN // -1 wraps to MIN and MIN % -1 is 0 (C: undefined, SIGFPE on x86).
 * So no value a user passes can make a kernel trap. int8/int16 operands go through
 * the int32 helpers and are cast back, which wraps exactly as NumPy does.
 *
 * Special functions libm lacks: digamma and trigamma (the derivatives of lgamma).
 *
 * Plain C99 (cc -std=c99) and CUDA (nvcc) both include this file.
 */
#ifndef GRAPHAD_RUNTIME_H
#define GRAPHAD_RUNTIME_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
/* C++ inline linkage: no "declared but never referenced" warning for unused ones */
#define GRAPHAD_FN __host__ __device__ __forceinline__
#else
#define GRAPHAD_FN static inline
#endif

/* Signed: round toward minus infinity; b == -1 negates in unsigned arithmetic, so
 * MIN wraps to MIN instead of trapping. */
#define GRAPHAD_INT_DIVMOD(T, U, BITS)                                                  \
    GRAPHAD_FN T graphad_floordiv_i##BITS(T a, T b)                                     \
    {                                                                                   \
        T q;                                                                            \
        if (b == 0)                                                                     \
            return 0;                                                                   \
        if (b == -1)                                                                    \
            return (T)((U)0 - (U)a);                                                    \
        q = a / b;                                                                      \
        if (a % b != 0 && ((a < 0) != (b < 0)))                                         \
            q -= 1;                                                                     \
        return q;                                                                       \
    }                                                                                   \
    GRAPHAD_FN T graphad_mod_i##BITS(T a, T b)                                          \
    {                                                                                   \
        T r;                                                                            \
        if (b == 0 || b == -1)                                                          \
            return 0;                                                                   \
        r = a % b;                                                                      \
        if (r != 0 && ((r < 0) != (b < 0)))                                             \
            r += b;                                                                     \
        return r;                                                                       \
    }

GRAPHAD_INT_DIVMOD(int32_t, uint32_t, 32)
GRAPHAD_INT_DIVMOD(int64_t, uint64_t, 64)

/* Unsigned: C already rounds as NumPy does; only a zero divisor needs care. */
#define GRAPHAD_UINT_DIVMOD(T, BITS)                                                    \
    GRAPHAD_FN T graphad_floordiv_u##BITS(T a, T b) { return b == 0 ? 0 : a / b; }      \
    GRAPHAD_FN T graphad_mod_u##BITS(T a, T b) { return b == 0 ? 0 : a % b; }

GRAPHAD_UINT_DIVMOD(uint32_t, 32)
GRAPHAD_UINT_DIVMOD(uint64_t, 64)

/* Float floor division and modulo as NumPy computes them (npy_divmod): the
 * remainder takes the sign of the divisor, the quotient is rounded from the exact
 * (a - mod) / b, and a zero divisor gives a / b (inf or nan) and fmod's nan. */
#define GRAPHAD_FLOAT_DIVMOD(T, BITS, FMOD, FLOOR, COPYSIGN)                          \
    GRAPHAD_FN T graphad_mod_f##BITS(T a, T b)                                          \
    {                                                                                   \
        T mod = FMOD(a, b);                                                             \
        if (!b)                                                                         \
            return mod;                                                                 \
        if (mod) {                                                                      \
            if ((b < 0) != (mod < 0))                                                   \
                mod += b;                                                               \
        } else {                                                                        \
            mod = COPYSIGN((T)0, b);                                                    \
        }                                                                               \
        return mod;                                                                     \
    }                                                                                   \
    GRAPHAD_FN T graphad_floordiv_f##BITS(T a, T b)                                     \
    {                                                                                   \
        T mod, div, floordiv;                                                           \
        if (!b)                                                                         \
            return a / b;                                                               \
        mod = FMOD(a, b);                                                               \
        div = (a - mod) / b;                                                            \
        if (mod && ((b < 0) != (mod < 0)))                                              \
            div -= (T)1;                                                                \
        if (div) {                                                                      \
            floordiv = FLOOR(div);                                                      \
            if (div - floordiv > (T)0.5)                                                \
                floordiv += (T)1;                                                       \
        } else {                                                                        \
            floordiv = COPYSIGN((T)0, a / b);                                           \
        }                                                                               \
        return floordiv;                                                                \
    }                                                                                   \
    /* np.clip: NaN in any argument gives NaN */                                        \
    GRAPHAD_FN T graphad_clip_f##BITS(T x, T lo, T hi)                                  \
    {                                                                                   \
        T y = (x != x || x >= lo) ? x : lo;                                             \
        if (lo != lo)                                                                   \
            y = lo;                                                                     \
        if (y != y || y <= hi)                                                          \
            return hi != hi ? hi : y;                                                   \
        return hi;                                                                      \
    }

GRAPHAD_FLOAT_DIVMOD(double, 64, fmod, floor, copysign)
GRAPHAD_FLOAT_DIVMOD(float, 32, fmodf, floorf, copysignf)

/* digamma psi(x) = lgamma'(x) and trigamma psi'(x), as Cephes and SciPy compute them:
 * below 0 the reflection formulas psi(x) = psi(1 - x) - pi cot(pi x) and
 * psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x) (x - rint(x), exact, keeps pi x small, as
 * cot and sin^2 have period 1); then the recurrences psi(x) = psi(x + 1) - 1 / x and
 * psi'(x) = psi'(x + 1) + 1 / x^2 up to x >= 10, where the asymptotic series in 1 / x^2
 * (Bernoulli numbers, to x^-14 and x^-17) are below double rounding. Poles at 0 and the
 * negative integers: psi gives -1 / x at +-0 (-inf at +0, +inf at -0) and NaN at the
 * others, psi' gives +inf at all. graphad/tensor/special.py is the NumPy reference,
 * step for step. float32 goes through double: rounding once keeps it within an ulp. */
#define GRAPHAD_PI 3.14159265358979323846

GRAPHAD_FN double graphad_digamma_f64(double x)
{
    double acc = 0, z;
    if (x <= 0 && x == floor(x))
        return x == 0 ? -1 / x : NAN;
    if (x < 0) {
        acc = -GRAPHAD_PI / tan(GRAPHAD_PI * (x - rint(x)));
        x = 1 - x;
    }
    while (x < 10) {
        acc -= 1 / x;
        x += 1;
    }
    z = 1 / (x * x);
    return acc + (log(x) - 0.5 / x -
                  z * (1.0 / 12 - z * (1.0 / 120 - z * (1.0 / 252 - z * (1.0 / 240 -
                  z * (1.0 / 132 - z * (691.0 / 32760 - z * (1.0 / 12))))))));
}

GRAPHAD_FN double graphad_trigamma_f64(double x)
{
    double acc = 0, sign = 1, reflected = 0, s, z;
    if (x <= 0 && x == floor(x))
        return INFINITY;
    if (x < 0) {
        s = sin(GRAPHAD_PI * (x - rint(x)));
        reflected = GRAPHAD_PI * GRAPHAD_PI / (s * s);
        sign = -1;
        x = 1 - x;
    }
    while (x < 10) {
        acc += 1 / (x * x);
        x += 1;
    }
    z = 1 / (x * x);
    acc += 1 / x + 0.5 * z +
           z / x * (1.0 / 6 - z * (1.0 / 30 - z * (1.0 / 42 - z * (1.0 / 30 - z * (5.0 / 66 -
           z * (691.0 / 2730 - z * (7.0 / 6 - z * (3617.0 / 510))))))));
    return reflected + sign * acc;
}

GRAPHAD_FN float graphad_digamma_f32(float x) { return (float)graphad_digamma_f64(x); }
GRAPHAD_FN float graphad_trigamma_f32(float x) { return (float)graphad_trigamma_f64(x); }

#endif /* GRAPHAD_RUNTIME_H */
