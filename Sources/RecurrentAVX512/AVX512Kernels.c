// Swift compiles a whole module for one instruction set and has no per-function target attribute, so the
// 512-bit forms of the GEMM micro-kernel live in this small C module: each function below is compiled for
// AVX-512F alone, and the dispatcher is plain code that any x86-64 CPU can run up to the point where the
// Swift side, having asked `recurrent_avx512_usable`, lets it call in.
#include "RecurrentAVX512.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

bool recurrent_avx512_usable(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return false;   // OSXSAVE
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || !(ebx & (1u << 16))) return false;   // AVX512F
    // The OS must save the SSE, AVX, opmask and both halves of the ZMM state (XCR0 bits 1, 2, 5, 6, 7);
    // a hypervisor may hide AVX-512 that way even when CPUID reports it.
    unsigned low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    const unsigned needed = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    return (low & needed) == needed;
}

// The body, specialised below for each (rows, panels, A layout) by constant arguments: the row and panel loops
// unroll away and the accumulators live in registers (6 × 2 of the 32 ZMM registers). Each k step loads one
// or two B vectors, broadcasts `rows` A values and issues rows · panels FMAs.
__attribute__((target("avx512f"), always_inline)) static inline void tile_body(
    const int rows, const int panels, long depth, const float *a, const long rs, const long ks,
    const float *b0, const float *b1, float *c, long ldc, float beta) {
    __m512 acc[6][2];
    for (int r = 0; r < rows; ++r) {
        for (int p = 0; p < panels; ++p) {
            if (beta == 0) {
                acc[r][p] = _mm512_setzero_ps();
            } else {
                __m512 old = _mm512_loadu_ps(c + r * ldc + 16 * p);
                acc[r][p] = beta == 1 ? old : _mm512_mul_ps(old, _mm512_set1_ps(beta));
            }
        }
    }
#pragma clang loop unroll_count(4)
    for (long k = 0; k < depth; ++k) {
        const __m512 x0 = _mm512_loadu_ps(b0 + 16 * k);
        const __m512 x1 = panels == 2 ? _mm512_loadu_ps(b1 + 16 * k) : x0;
        for (int r = 0; r < rows; ++r) {
            const __m512 value = _mm512_set1_ps(a[r * rs + k * ks]);
            acc[r][0] = _mm512_fmadd_ps(value, x0, acc[r][0]);
            if (panels == 2) acc[r][1] = _mm512_fmadd_ps(value, x1, acc[r][1]);
        }
    }
    for (int r = 0; r < rows; ++r) {
        for (int p = 0; p < panels; ++p) _mm512_storeu_ps(c + r * ldc + 16 * p, acc[r][p]);
    }
}

// A packed A panel keeps the six rows of each k side by side (rs = 1, ks = 6, also for four-row panels);
// A read in place is row-major (rs = lda, ks = 1).
#define RECURRENT_TILE(name, rows, panels)                                                                    \
    __attribute__((target("avx512f"), noinline)) static void name##_packed(                                 \
        long depth, const float *a, const float *b0, const float *b1, float *c, long ldc, float beta) {    \
        tile_body(rows, panels, depth, a, 1, 6, b0, b1, c, ldc, beta);                                     \
    }                                                                                                        \
    __attribute__((target("avx512f"), noinline)) static void name##_in_place(                               \
        long depth, const float *a, long lda, const float *b0, const float *b1, float *c, long ldc,        \
        float beta) {                                                                                        \
        tile_body(rows, panels, depth, a, lda, 1, b0, b1, c, ldc, beta);                                   \
    }

RECURRENT_TILE(tile_6x32, 6, 2)
RECURRENT_TILE(tile_6x16, 6, 1)
RECURRENT_TILE(tile_4x32, 4, 2)
RECURRENT_TILE(tile_4x16, 4, 1)

void recurrent_avx512_gemm_tile(int rows, int panels, long depth, const float *a, long rs, long ks,
                                const float *b0, const float *b1, float *c, long ldc, float beta) {
    const bool packed = ks != 1;
    if (rows == 6 && panels == 2) {
        if (packed) tile_6x32_packed(depth, a, b0, b1, c, ldc, beta);
        else tile_6x32_in_place(depth, a, rs, b0, b1, c, ldc, beta);
    } else if (rows == 6) {
        if (packed) tile_6x16_packed(depth, a, b0, b1, c, ldc, beta);
        else tile_6x16_in_place(depth, a, rs, b0, b1, c, ldc, beta);
    } else if (panels == 2) {
        if (packed) tile_4x32_packed(depth, a, b0, b1, c, ldc, beta);
        else tile_4x32_in_place(depth, a, rs, b0, b1, c, ldc, beta);
    } else {
        if (packed) tile_4x16_packed(depth, a, b0, b1, c, ldc, beta);
        else tile_4x16_in_place(depth, a, rs, b0, b1, c, ldc, beta);
    }
}

__attribute__((target("avx512f"))) float recurrent_avx512_fma_loop(long iterations) {
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    __m512 chain[12];
    for (int i = 0; i < 12; ++i) chain[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; ++n) {
        for (int i = 0; i < 12; ++i) chain[i] = _mm512_fmadd_ps(x, y, chain[i]);
    }
    __m512 total = chain[0];
    for (int i = 1; i < 12; ++i) total = _mm512_add_ps(total, chain[i]);
    return _mm512_reduce_add_ps(total);
}

#else

bool recurrent_avx512_usable(void) { return false; }

void recurrent_avx512_gemm_tile(int rows, int panels, long depth, const float *a, long rs, long ks,
                                const float *b0, const float *b1, float *c, long ldc, float beta) {
    (void)rows; (void)panels; (void)depth; (void)a; (void)rs; (void)ks; (void)b0; (void)b1; (void)c; (void)ldc;
    (void)beta;
    __builtin_trap();   // unreachable: callers ask recurrent_avx512_usable first
}

float recurrent_avx512_fma_loop(long iterations) {
    (void)iterations;
    return 0;
}

#endif
