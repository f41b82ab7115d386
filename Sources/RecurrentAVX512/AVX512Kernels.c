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

// One k of a tile: load one or two B vectors, broadcast `rows` A values, issue rows · panels FMAs.
__attribute__((target("avx512f"), always_inline)) static inline void tile_step(
    const int rows, const int panels, const long k, const float *a, const long rs, const long ks,
    const float *b0, const float *b1, __m512 acc[6][2]) {
    const __m512 x0 = _mm512_loadu_ps(b0 + 16 * k);
    const __m512 x1 = panels == 2 ? _mm512_loadu_ps(b1 + 16 * k) : x0;
    for (int r = 0; r < rows; ++r) {
        const __m512 value = _mm512_set1_ps(a[r * rs + k * ks]);
        acc[r][0] = _mm512_fmadd_ps(value, x0, acc[r][0]);
        if (panels == 2) acc[r][1] = _mm512_fmadd_ps(value, x1, acc[r][1]);
    }
}

// The body, specialised below for each (rows, panels, A layout) by constant arguments: the row and panel loops
// unroll away and the accumulators live in registers (6 × 2 of the 32 ZMM registers). `pf` is never NULL (the
// caller passes B itself when it has nothing to fetch).
__attribute__((target("avx512f"), always_inline)) static inline void tile_body(
    const int rows, const int panels, long depth, const float *a, const long rs, const long ks,
    const float *b0, const float *b1, float *c, long ldc, float beta, const float *pf, const float *pf2) {
    __m512 acc[6][2];
    // The tiles of a row panel go left to right: fetch the next tile's C lines now, so that its loads (beta ≠ 0)
    // or its stores (beta = 0, which read each line first) find them in cache instead of waiting on memory
    // with the accumulators' FMA chains stalled behind them.
    for (int r = 0; r < rows; ++r) {
        _mm_prefetch((const char *)(c + r * ldc + 16 * panels), _MM_HINT_T0);
        if (panels == 2) _mm_prefetch((const char *)(c + r * ldc + 48), _MM_HINT_T0);
    }
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
    // Four k per round, each round starting with one line of `pf`, and of `pf2` when that is another stream (a
    // test for them inside a plain k loop made clang spill; the second fetch, issued always, cost products whose
    // tiles had none to make).
    long k = 0;
    if (pf2 == pf) {
        for (; k + 4 <= depth; k += 4) {
            _mm_prefetch((const char *)(pf + 4 * k), _MM_HINT_T1);
            for (int u = 0; u < 4; ++u) tile_step(rows, panels, k + u, a, rs, ks, b0, b1, acc);
        }
    } else {
        for (; k + 4 <= depth; k += 4) {
            _mm_prefetch((const char *)(pf + 4 * k), _MM_HINT_T1);
            _mm_prefetch((const char *)(pf2 + 4 * k), _MM_HINT_T1);
            for (int u = 0; u < 4; ++u) tile_step(rows, panels, k + u, a, rs, ks, b0, b1, acc);
        }
    }
    for (; k < depth; ++k) tile_step(rows, panels, k, a, rs, ks, b0, b1, acc);
    for (int r = 0; r < rows; ++r) {
        for (int p = 0; p < panels; ++p) _mm512_storeu_ps(c + r * ldc + 16 * p, acc[r][p]);
    }
}

// A packed A panel keeps the six rows of each k side by side (rs = 1, ks = 6, also for four-row panels);
// A read in place is row-major (rs = lda, ks = 1) or stored transposed (rs = 1, ks = lda).
#define RECURRENT_TILE(name, rows, panels)                                                                    \
    __attribute__((target("avx512f"), noinline)) static void name##_packed(                                 \
        long depth, const float *a, const float *b0, const float *b1, float *c, long ldc, float beta,        \
        const float *pf, const float *pf2) {                                                                 \
        tile_body(rows, panels, depth, a, 1, 6, b0, b1, c, ldc, beta, pf, pf2);                            \
    }                                                                                                        \
    __attribute__((target("avx512f"), noinline)) static void name##_strided(                                \
        long depth, const float *a, long rs, long ks, const float *b0, const float *b1, float *c, long ldc, \
        float beta, const float *pf, const float *pf2) {                                                     \
        tile_body(rows, panels, depth, a, rs, ks, b0, b1, c, ldc, beta, pf, pf2);                          \
    }

// Both widths (two B panels, one) for a panel of `rows` rows: six and four for whole panels, the others for the
// partial panel at the end of a block.
#define RECURRENT_TILES(rows) RECURRENT_TILE(tile_##rows##x32, rows, 2) RECURRENT_TILE(tile_##rows##x16, rows, 1)
RECURRENT_TILES(6)
RECURRENT_TILES(5)
RECURRENT_TILES(4)
RECURRENT_TILES(3)
RECURRENT_TILES(2)
RECURRENT_TILES(1)

void recurrent_avx512_gemm_tile(int rows, int panels, long depth, const float *a, long rs, long ks,
                                const float *b0, const float *b1, float *c, long ldc, float beta, const float *pf,
                                const float *pf2) {
    // A packed panel, (1, 6), with its strides known to the compiler; A read in place, row-major (lda, 1) or
    // stored transposed (1, lda), with them passed.
    const bool packed = rs == 1 && ks == 6;
#define RECURRENT_DISPATCH(name)                                                                              \
    if (packed) name##_packed(depth, a, b0, b1, c, ldc, beta, pf, pf2);                                      \
    else name##_strided(depth, a, rs, ks, b0, b1, c, ldc, beta, pf, pf2);
    if (rows == 6 && panels == 2) {   // nearly every tile: tested first, apart from the rarer shapes' table
        RECURRENT_DISPATCH(tile_6x32)
        return;
    }
    switch (rows * 2 + panels - 1) {
    case 12: RECURRENT_DISPATCH(tile_6x16) break;
    case 11: RECURRENT_DISPATCH(tile_5x32) break;
    case 10: RECURRENT_DISPATCH(tile_5x16) break;
    case 9: RECURRENT_DISPATCH(tile_4x32) break;
    case 8: RECURRENT_DISPATCH(tile_4x16) break;
    case 7: RECURRENT_DISPATCH(tile_3x32) break;
    case 6: RECURRENT_DISPATCH(tile_3x16) break;
    case 5: RECURRENT_DISPATCH(tile_2x32) break;
    case 4: RECURRENT_DISPATCH(tile_2x16) break;
    case 3: RECURRENT_DISPATCH(tile_1x32) break;
    default: RECURRENT_DISPATCH(tile_1x16) break;
    }
#undef RECURRENT_DISPATCH
}

bool recurrent_cpu_is_intel(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    return ebx == 0x756e6547u && edx == 0x49656e69u && ecx == 0x6c65746eu;   // "Genu" "ineI" "ntel"
}

__attribute__((target("avx512f"))) float recurrent_avx512_fma_loop(long iterations) {
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    __m512 chain[12];
    for (int i = 0; i < 12; ++i) chain[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iterations; ++n) {
        // Without this barrier clang sees twelve chains that differ only in their start and keeps two of them
        // (adding the other starts at the end): the loop then ran 2 FMAs per iteration where 12 were counted,
        // and reported 1.5 times the real peak (330-392 GFLOP/s on a Zen 5 core whose two FMA pipes give ~230).
        // An opaque x makes every chain's FMA real.
        __m512 opaque = x;
        __asm__ volatile("" : "+v"(opaque));
        for (int i = 0; i < 12; ++i) chain[i] = _mm512_fmadd_ps(opaque, y, chain[i]);
    }
    __m512 total = chain[0];
    for (int i = 1; i < 12; ++i) total = _mm512_add_ps(total, chain[i]);
    return _mm512_reduce_add_ps(total);
}


// ---- Gate passes ----
// The same arithmetic as FastMath's sixteen-lane Swift forms (FastMath.swift, GatePasses.swift), operation for
// operation: FMA where they ask for one by name, a separate multiply and add everywhere else (intrinsics are
// never contracted), so each lane's result is bit for bit the AVX2 pass's. One ZMM register holds the sixteen
// lanes that Swift spreads over two YMM registers, and the 32 registers keep the polynomial constants resident.
// A row's last partial group runs with masked loads (zeros in the idle lanes) and masked stores.

#define RA512 __attribute__((target("avx512f"), always_inline)) static inline

RA512 __m512 splat(float value) { return _mm512_set1_ps(value); }

RA512 __m512 exp_lanes(__m512 x) {
    const __m512 low = splat(-88.0f), high = splat(88.0f);
    // NaN and x < −88 → −88 (not x ≥ −88), then x > 88 → 88.
    __m512 clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_NGE_UQ), x, low);
    clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, high, _CMP_GT_OQ), clamped, high);
    const __m512 shifted = _mm512_add_ps(_mm512_add_ps(clamped, _mm512_mul_ps(clamped, splat(0.44269504f))), splat(12582912.0f));
    const __m512 n = _mm512_sub_ps(shifted, splat(12582912.0f));
    __m512 r = _mm512_fmadd_ps(n, splat(-0.693359375f), clamped);
    r = _mm512_fmadd_ps(n, splat(2.1219444e-4f), r);
    __m512 p = splat(1.98756915e-4f);
    p = _mm512_fmadd_ps(p, r, splat(1.39819995e-3f));
    p = _mm512_fmadd_ps(p, r, splat(8.3334519e-3f));
    p = _mm512_fmadd_ps(p, r, splat(4.16657959e-2f));
    p = _mm512_fmadd_ps(p, r, splat(1.66666655e-1f));
    p = _mm512_fmadd_ps(p, r, splat(5.0000001e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), splat(1.0f));
    const __m512i integer = _mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000));
    const __m512i exponent = _mm512_slli_epi32(_mm512_add_epi32(integer, _mm512_set1_epi32(127)), 23);
    const __m512 result = _mm512_mul_ps(y, _mm512_castsi512_ps(exponent));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, low, _CMP_LT_OQ), result, _mm512_setzero_ps());
}

RA512 __m512 sigmoid_lanes(__m512 x) {
    const __m512 negated = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
    const __m512 value = _mm512_div_ps(splat(1.0f), _mm512_add_ps(splat(1.0f), exp_lanes(negated)));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, splat(-88.0f), _CMP_LT_OQ), value, _mm512_setzero_ps());
}

RA512 __m512 tanh_lanes(__m512 x) {
    const __m512 limit = splat(9.0f), negativeLimit = splat(-9.0f);
    __m512 clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, limit, _CMP_GT_OQ), x, limit);
    clamped = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, negativeLimit, _CMP_LT_OQ), clamped, negativeLimit);
    const __m512 s = _mm512_mul_ps(clamped, clamped);
    __m512 p = splat(1.841850630e-11f);
    p = _mm512_fmadd_ps(p, s, splat(-1.285408935e-8f));
    p = _mm512_fmadd_ps(p, s, splat(9.295388736e-6f));
    p = _mm512_fmadd_ps(p, s, splat(2.924130298e-3f));
    p = _mm512_fmadd_ps(p, s, splat(1.292249858e-1f));
    p = _mm512_fmadd_ps(p, s, splat(1.0f));
    __m512 q = splat(2.285468945e-4f);
    q = _mm512_fmadd_ps(q, s, splat(2.377735078e-2f));
    q = _mm512_fmadd_ps(q, s, splat(4.625579715e-1f));
    q = _mm512_fmadd_ps(q, s, splat(1.0f));
    __m512 ratio = _mm512_div_ps(_mm512_mul_ps(clamped, p), q);
    ratio = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ratio, splat(1.0f), _CMP_GT_OQ), ratio, splat(1.0f));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ratio, splat(-1.0f), _CMP_LT_OQ), ratio, splat(-1.0f));
}

RA512 __m512 load_lanes(const float *source, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, source); }
RA512 void store_lanes(float *target, __m512 value, __mmask16 mask) { _mm512_mask_storeu_ps(target, mask, value); }
RA512 __mmask16 lanes_from(long offset, long count) {
    const long left = count - offset;
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

// Lanes j ..< j+16 (mask m) of `n` rows' gate pass, n = 1, or 2 with the rows' operations interleaved stage by
// stage: at H = 16 a row is one vector per gate, and one row at a time the core waited on each row's chain of
// divisions (exp, 1/(1+e), tanh's ratio, then tanh of the new cell) with little else to do. Each lane gets the same
// operations either way, so the same bits. LSTM a inference (T 64, B 32, H 16) on the Xeon: 0.188 → 0.181 ms.
// Group r's buffers start r strides after the first (rows, or the next sixteen lanes of one row); `bias`,
// `savedCell` and `state` may be NULL.
RA512 void lstm_forward_lanes(
    const int n, float *gates, long gatesStride, const float *bias, long biasStride, float *cell, long cellStride, float *savedCell,
    long savedCellStride, float *output, long outputStride, float *state, long stateStride, long hidden, long j, __mmask16 m) {
    __m512 i[2], f[2], g[2], o[2], updated[2];
    for (int r = 0; r < n; ++r) {
        float *p = gates + r * gatesStride + j;
        __m512 pi = load_lanes(p, m), pf = load_lanes(p + hidden, m), pg = load_lanes(p + 2 * hidden, m), po = load_lanes(p + 3 * hidden, m);
        if (bias) {
            const float *b = bias + r * biasStride + j;
            pi = _mm512_add_ps(pi, load_lanes(b, m));
            pf = _mm512_add_ps(pf, load_lanes(b + hidden, m));
            pg = _mm512_add_ps(pg, load_lanes(b + 2 * hidden, m));
            po = _mm512_add_ps(po, load_lanes(b + 3 * hidden, m));
        }
        i[r] = sigmoid_lanes(pi); f[r] = sigmoid_lanes(pf); g[r] = tanh_lanes(pg); o[r] = sigmoid_lanes(po);
    }
    for (int r = 0; r < n; ++r) {
        float *p = gates + r * gatesStride + j, *c = cell + r * cellStride + j;
        store_lanes(p, i[r], m); store_lanes(p + hidden, f[r], m); store_lanes(p + 2 * hidden, g[r], m); store_lanes(p + 3 * hidden, o[r], m);
        updated[r] = _mm512_add_ps(_mm512_mul_ps(f[r], load_lanes(c, m)), _mm512_mul_ps(i[r], g[r]));
        store_lanes(c, updated[r], m);
        if (savedCell) store_lanes(savedCell + r * savedCellStride + j, updated[r], m);
    }
    for (int r = 0; r < n; ++r) {
        const __m512 h = _mm512_mul_ps(o[r], tanh_lanes(updated[r]));
        store_lanes(output + r * outputStride + j, h, m);
        if (state) store_lanes(state + r * stateStride + j, h, m);
    }
}

// One row, two groups of sixteen lanes at a time, interleaved as two rows are at H = 16: one group at a time,
// each group's chain of divisions ran with too little beside it to hide its latency.
RA512 void lstm_forward_row(
    float *gates, const float *bias, float *cell, float *savedCell, float *output, float *state, long hidden) {
    long j = 0;
    for (; j + 32 <= hidden; j += 32) {
        lstm_forward_lanes(2, gates, 16, bias, 16, cell, 16, savedCell, 16, output, 16, state, 16, hidden, j, (__mmask16)0xFFFF);
    }
    for (; j < hidden; j += 16) {
        lstm_forward_lanes(1, gates, 0, bias, 0, cell, 0, savedCell, 0, output, 0, state, 0, hidden, j, lanes_from(j, hidden));
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_lstm_forward(
    float *gates, const float *bias, float *cell, float *savedCell, float *output, float *state, long hidden) {
    lstm_forward_row(gates, bias, cell, savedCell, output, state, hidden);
}

// Row r's buffers start r strides after the first; one call for a whole step saves a call per row, a third of
// the gate pass at H = 16.
__attribute__((target("avx512f"))) void recurrent_avx512_lstm_forward_rows(
    long rows, float *gates, long gatesStride, const float *bias, float *cell, long cellStride, float *savedCell,
    long savedCellStride, float *output, long outputStride, float *state, long stateStride, long hidden) {
    long r = 0;
    if (hidden == 16) {   // one vector per gate: rows in pairs (see `lstm_forward_lanes`)
        for (; r + 2 <= rows; r += 2) {
            lstm_forward_lanes(2, gates + r * gatesStride, gatesStride, bias, 0, cell + r * cellStride, cellStride,
                               savedCell ? savedCell + r * savedCellStride : 0, savedCellStride, output + r * outputStride, outputStride,
                               state ? state + r * stateStride : 0, stateStride, hidden, 0, (__mmask16)0xFFFF);
        }
    }
    for (; r < rows; ++r) {
        lstm_forward_row(gates + r * gatesStride, bias, cell + r * cellStride, savedCell ? savedCell + r * savedCellStride : 0,
                         output + r * outputStride, state ? state + r * stateStride : 0, hidden);
    }
}

// The tanh RNN's step: h = tanh(p + b) into the gate row (kept for backward, or scratch), the output and the
// state, in one pass over each row instead of a bias pass, a tanh pass and two copies.
__attribute__((target("avx512f"))) void recurrent_avx512_rnn_tanh_forward_rows(
    long rows, float *gates, long gatesStride, const float *bias, float *output, long outputStride, float *state,
    long stateStride, long hidden) {
    for (long r = 0; r < rows; ++r) {
        float *p = gates + r * gatesStride, *out = output + r * outputStride, *h = state + r * stateStride;
        for (long j = 0; j < hidden; j += 16) {
            const __mmask16 m = lanes_from(j, hidden);
            const __m512 value = tanh_lanes(_mm512_add_ps(load_lanes(p + j, m), load_lanes(bias + j, m)));
            store_lanes(p + j, value, m);
            store_lanes(out + j, value, m);
            store_lanes(h + j, value, m);
        }
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_lstm_backward(
    const float *gates, const float *cell, const float *previousCell, const float *hiddenGradient,
    float *cellGradient, float *gateGradient, long hidden) {
    const __m512 one = splat(1.0f);
    for (long j = 0; j < hidden; j += 16) {
        const __mmask16 m = lanes_from(j, hidden);
        const float *saved = gates + j;
        const __m512 i = load_lanes(saved, m), f = load_lanes(saved + hidden, m), g = load_lanes(saved + 2 * hidden, m), o = load_lanes(saved + 3 * hidden, m);
        const __m512 tanhCell = tanh_lanes(load_lanes(cell + j, m)), gradient = load_lanes(hiddenGradient + j, m);
        const __m512 total = _mm512_add_ps(load_lanes(cellGradient + j, m),
            _mm512_mul_ps(_mm512_mul_ps(gradient, o), _mm512_sub_ps(one, _mm512_mul_ps(tanhCell, tanhCell))));
        float *dp = gateGradient + j;
        store_lanes(dp, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(total, g), i), _mm512_sub_ps(one, i)), m);
        store_lanes(dp + hidden, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(total, load_lanes(previousCell + j, m)), f), _mm512_sub_ps(one, f)), m);
        store_lanes(dp + 2 * hidden, _mm512_mul_ps(_mm512_mul_ps(total, i), _mm512_sub_ps(one, _mm512_mul_ps(g, g))), m);
        store_lanes(dp + 3 * hidden, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(gradient, tanhCell), o), _mm512_sub_ps(one, o)), m);
        store_lanes(cellGradient + j, _mm512_mul_ps(total, f), m);
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_gru_forward(
    float *gates, const float *projection, const float *candidateBias, float *candidate, float *state, float *output, long hidden) {
    const __m512 one = splat(1.0f);
    for (long j = 0; j < hidden; j += 16) {
        const __mmask16 m = lanes_from(j, hidden);
        float *p = gates + j;
        const float *q = projection + j;
        const __m512 r = sigmoid_lanes(_mm512_add_ps(load_lanes(p, m), load_lanes(q, m)));
        const __m512 z = sigmoid_lanes(_mm512_add_ps(load_lanes(p + hidden, m), load_lanes(q + hidden, m)));
        const __m512 hn = _mm512_add_ps(load_lanes(q + 2 * hidden, m), load_lanes(candidateBias + j, m));
        const __m512 n = tanh_lanes(_mm512_add_ps(load_lanes(p + 2 * hidden, m), _mm512_mul_ps(r, hn)));
        store_lanes(p, r, m); store_lanes(p + hidden, z, m); store_lanes(p + 2 * hidden, n, m);
        store_lanes(candidate + j, hn, m);
        const __m512 updated = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(one, z), n), _mm512_mul_ps(z, load_lanes(state + j, m)));
        store_lanes(state + j, updated, m);
        store_lanes(output + j, updated, m);
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_gru_backward(
    const float *gates, const float *previousHidden, const float *candidate, const float *hiddenGradient,
    float *gateGradient, float *projectionGradient, float *previousHiddenGradient, long hidden) {
    const __m512 one = splat(1.0f);
    for (long j = 0; j < hidden; j += 16) {
        const __mmask16 m = lanes_from(j, hidden);
        const float *saved = gates + j;
        const __m512 r = load_lanes(saved, m), z = load_lanes(saved + hidden, m), n = load_lanes(saved + 2 * hidden, m);
        const __m512 gradient = load_lanes(hiddenGradient + j, m);
        const __m512 dn = _mm512_mul_ps(_mm512_mul_ps(gradient, _mm512_sub_ps(one, z)), _mm512_sub_ps(one, _mm512_mul_ps(n, n)));
        const __m512 dz = _mm512_mul_ps(_mm512_mul_ps(gradient, _mm512_sub_ps(load_lanes(previousHidden + j, m), n)),
                                        _mm512_mul_ps(z, _mm512_sub_ps(one, z)));
        const __m512 dr = _mm512_mul_ps(_mm512_mul_ps(dn, load_lanes(candidate + j, m)), _mm512_mul_ps(r, _mm512_sub_ps(one, r)));
        float *dp = gateGradient + j, *dq = projectionGradient + j;
        store_lanes(dp, dr, m); store_lanes(dp + hidden, dz, m); store_lanes(dp + 2 * hidden, dn, m);
        store_lanes(dq, dr, m); store_lanes(dq + hidden, dz, m); store_lanes(dq + 2 * hidden, _mm512_mul_ps(dn, r), m);
        store_lanes(previousHiddenGradient + j, _mm512_mul_ps(gradient, z), m);
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_sigmoid(long count, const float *source, float *target) {
    for (long j = 0; j < count; j += 16) {
        const __mmask16 m = lanes_from(j, count);
        store_lanes(target + j, sigmoid_lanes(load_lanes(source + j, m)), m);
    }
}

__attribute__((target("avx512f"))) void recurrent_avx512_tanh(long count, const float *source, float *target) {
    for (long j = 0; j < count; j += 16) {
        const __mmask16 m = lanes_from(j, count);
        store_lanes(target + j, tanh_lanes(load_lanes(source + j, m)), m);
    }
}

#else

bool recurrent_avx512_usable(void) { return false; }

bool recurrent_cpu_is_intel(void) { return false; }

void recurrent_avx512_gemm_tile(int rows, int panels, long depth, const float *a, long rs, long ks,
                                const float *b0, const float *b1, float *c, long ldc, float beta, const float *pf,
                                const float *pf2) {
    (void)rows; (void)panels; (void)depth; (void)a; (void)rs; (void)ks; (void)b0; (void)b1; (void)c; (void)ldc;
    (void)beta; (void)pf; (void)pf2;
    __builtin_trap();   // unreachable: callers ask recurrent_avx512_usable first
}

float recurrent_avx512_fma_loop(long iterations) {
    (void)iterations;
    return 0;
}

// Unreachable: callers ask recurrent_avx512_usable first.
void recurrent_avx512_lstm_forward_rows(long rows, float *gates, long gatesStride, const float *bias, float *cell, long cellStride,
                                        float *savedCell, long savedCellStride, float *output, long outputStride, float *state,
                                        long stateStride, long hidden) {
    (void)rows; (void)gates; (void)gatesStride; (void)bias; (void)cell; (void)cellStride; (void)savedCell; (void)savedCellStride;
    (void)output; (void)outputStride; (void)state; (void)stateStride; (void)hidden;
    __builtin_trap();
}
void recurrent_avx512_lstm_forward(float *gates, const float *bias, float *cell, float *savedCell, float *output, float *state, long hidden) {
    (void)gates; (void)bias; (void)cell; (void)savedCell; (void)output; (void)state; (void)hidden;
    __builtin_trap();
}
void recurrent_avx512_rnn_tanh_forward_rows(long rows, float *gates, long gatesStride, const float *bias, float *output,
                                            long outputStride, float *state, long stateStride, long hidden) {
    (void)rows; (void)gates; (void)gatesStride; (void)bias; (void)output; (void)outputStride; (void)state; (void)stateStride;
    (void)hidden;
    __builtin_trap();
}

void recurrent_avx512_lstm_backward(const float *gates, const float *cell, const float *previousCell, const float *hiddenGradient,
                                    float *cellGradient, float *gateGradient, long hidden) {
    (void)gates; (void)cell; (void)previousCell; (void)hiddenGradient; (void)cellGradient; (void)gateGradient; (void)hidden;
    __builtin_trap();
}
void recurrent_avx512_gru_forward(float *gates, const float *projection, const float *candidateBias, float *candidate, float *state,
                                  float *output, long hidden) {
    (void)gates; (void)projection; (void)candidateBias; (void)candidate; (void)state; (void)output; (void)hidden;
    __builtin_trap();
}
void recurrent_avx512_gru_backward(const float *gates, const float *previousHidden, const float *candidate, const float *hiddenGradient,
                                   float *gateGradient, float *projectionGradient, float *previousHiddenGradient, long hidden) {
    (void)gates; (void)previousHidden; (void)candidate; (void)hiddenGradient; (void)gateGradient; (void)projectionGradient;
    (void)previousHiddenGradient; (void)hidden;
    __builtin_trap();
}
void recurrent_avx512_sigmoid(long count, const float *source, float *target) {
    (void)count; (void)source; (void)target;
    __builtin_trap();
}
void recurrent_avx512_tanh(long count, const float *source, float *target) {
    (void)count; (void)source; (void)target;
    __builtin_trap();
}

#endif
