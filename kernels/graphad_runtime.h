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

#endif /* GRAPHAD_RUNTIME_H */
