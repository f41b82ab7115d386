// AVX-512 code paths of the kernels, compiled apart from the Swift package (which targets AVX2 + FMA) and
// called only when `recurrent_avx512_usable()` says this CPU and OS run them. On other architectures the
// functions exist but report "not usable" and must not be called.
#ifndef RECURRENT_AVX512_H
#define RECURRENT_AVX512_H

#include <stdbool.h>

/// Whether the CPU has AVX-512F and the operating system saves its registers (CPUID and XCR0).
bool recurrent_avx512_usable(void);

/// Whether CPUID names the vendor GenuineIntel (false on other architectures).
bool recurrent_cpu_is_intel(void);

/// One GEMM micro-tile: C[0..<rows, 0..<16·panels] = beta·C + Σ_k A[r, k] · B[k, ·], with A[r, k] at
/// a[r·rs + k·ks] and B given as one or two packed 16-wide panels (for each k, 16 consecutive values), the
/// second starting at `b1`. `rows` is 1 to 6, `panels` 1 or 2. With beta = 0, C is only written, never read.
/// The tile also fetches depth/4 cache lines from `pf` on into L2, and as many from `pf2` on: the next B the
/// caller will read (a prefetch never faults, so they may run past an allocation), or B itself when there is none.
void recurrent_avx512_gemm_tile(int rows, int panels, long depth, const float *a, long rs, long ks,
                                const float *b0, const float *b1, float *c, long ldc, float beta, const float *pf,
                                const float *pf2);

/// Runs twelve independent chains of 16-lane FMAs `iterations` times (12 · 16 · 2 flops each) and returns a
/// value that depends on every one, so the loop cannot be dropped. For measuring the core's peak.
float recurrent_avx512_fma_loop(long iterations);

/// The LSTM's forward gate pass over one row (LSTMGates.forward in Swift, the same arithmetic bit for bit):
/// gate blocks i, f, g, o of `hidden` values each; `bias`, `savedCell` and `state` may be NULL.
void recurrent_avx512_lstm_forward(float *gates, const float *bias, float *cell, float *savedCell, float *output,
                                   float *state, long hidden);

/// `recurrent_avx512_lstm_forward` over `rows` rows, row r's buffers `r` strides after the first (`bias` shared).
void recurrent_avx512_lstm_forward_rows(long rows, float *gates, long gatesStride, const float *bias, float *cell, long cellStride,
                                        float *savedCell, long savedCellStride, float *output, long outputStride, float *state,
                                        long stateStride, long hidden);

/// The tanh RNN's forward step over `rows` rows: h = tanh(p + bias) written to the gate row p, the output and
/// the state (row r of each `r` strides after the first). The same bits as the AVX2 form.
void recurrent_avx512_rnn_tanh_forward_rows(long rows, float *gates, long gatesStride, const float *bias, float *output,
                                            long outputStride, float *state, long stateStride, long hidden);

/// The LSTM's backward gate pass over one row (LSTMGates.backward).
void recurrent_avx512_lstm_backward(const float *gates, const float *cell, const float *previousCell,
                                    const float *hiddenGradient, float *cellGradient, float *gateGradient, long hidden);

/// The GRU's forward gate pass over one row (GRUGates.forward).
void recurrent_avx512_gru_forward(float *gates, const float *projection, const float *candidateBias,
                                  float *candidate, float *state, float *output, long hidden);

/// The GRU's backward gate pass over one row (GRUGates.backward).
void recurrent_avx512_gru_backward(const float *gates, const float *previousHidden, const float *candidate,
                                   const float *hiddenGradient, float *gateGradient, float *projectionGradient,
                                   float *previousHiddenGradient, long hidden);

/// σ and tanh of `count` floats (FastMath's forms); `target` may be `source`.
void recurrent_avx512_sigmoid(long count, const float *source, float *target);
void recurrent_avx512_tanh(long count, const float *source, float *target);

#endif
