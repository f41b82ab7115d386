"""Fits the rational approximation tanh(x) ≈ x·P(x²)/Q(x²) that FastMath.tanh evaluates in Float32.

Beyond CLAMP Float32's tanh is 1. On 0 < x ≤ CLAMP the coefficients come from Lawson's iteratively reweighted
least squares, with the rational fit linearised (Sanathanan–Koerner: divide each residual x·P − t·Q by the
previous t·Q, so the weighted residual is the relative error), in the scaled variable u = x²/CLAMP² so the
normal equations stay well conditioned. The coefficients are then rounded to Float32, and the Float32
evaluation (Horner in x², one division) is measured against float64 tanh at every Float32 in [1e-4, CLAMP].
P(0) = Q(0) = 1, so tiny x come back exactly. Degrees 5/3 (the default) are what FastMath uses: 4/3 measured
8.5e-7 in Float32, and 6/3 or 4/4 gain nothing over 5/3 once Float32 rounding dominates (3.6–4.1e-7).
Run: python3 Scripts/math/fit_tanh.py [P_DEGREE Q_DEGREE]   (numpy only)
"""
import sys
import numpy as np

CLAMP = 9.0
P_DEGREE, Q_DEGREE = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (5, 3)


def fit(x, iterations=400):
    t = np.tanh(x)
    u = (x / CLAMP) ** 2
    # p0 = q0 = 1, so tiny x come back unchanged: the free numerator terms start at x³.
    powers_p = np.stack([x * u**k for k in range(1, P_DEGREE + 1)], axis=1)
    powers_q = np.stack([u**k for k in range(1, Q_DEGREE + 1)], axis=1)
    weights = np.full(len(x), 1.0 / len(x))
    q_previous = np.ones(len(x))
    for _ in range(iterations):
        # residual r = x·P − t·(1 + Σ q_k u^k), in units of t·Q_previous (≈ relative error)
        scale = 1.0 / (t * q_previous)
        design = np.hstack([powers_p, -t[:, None] * powers_q]) * scale[:, None]
        target = (t - x) * scale
        root = np.sqrt(weights)
        solution, *_ = np.linalg.lstsq(design * root[:, None], target * root, rcond=None)
        p, q = np.concatenate([[1.0], solution[:P_DEGREE]]), np.concatenate([[1.0], solution[P_DEGREE:]])
        q_previous = np.polyval(q[::-1], u)
        error = np.abs(x * np.polyval(p[::-1], u) / q_previous - t) / t
        weights = weights * error
        weights /= weights.sum()
    # back to coefficients of x² (u = x²/CLAMP²)
    p_x = p / CLAMP ** (2 * np.arange(P_DEGREE + 1))
    q_x = q / CLAMP ** (2 * np.arange(Q_DEGREE + 1))
    return error.max(), p_x, q_x


def evaluate32(x, p, q):
    x = x.astype(np.float32)
    s = x * x
    numerator = np.full_like(x, p[-1])
    for c in p[-2::-1]:
        numerator = numerator * s + c
    denominator = np.full_like(x, q[-1])
    for c in q[-2::-1]:
        denominator = denominator * s + c
    return (x * numerator) / denominator


def main():
    k = np.arange(4000)
    samples = CLAMP * (1 - np.cos(np.pi * (k + 0.5) / 4000)) / 2
    samples = samples[samples > 1e-3]
    bound, p, q = fit(samples)
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    every = np.arange(np.float32(1e-4).view(np.int32), np.float32(CLAMP).view(np.int32) + 1, dtype=np.int32).view(np.float32)
    got = evaluate32(every, p32, q32).astype(np.float64)
    want = np.tanh(every.astype(np.float64))
    relative = np.abs(got - want) / want
    ulp = np.abs(got - want) / np.spacing(want.astype(np.float32)).astype(np.float64)
    print(f"degrees {P_DEGREE}/{Q_DEGREE}: fitted max relative error (float64) {bound:.3e}")
    print(f"Float32 evaluation, every float in [1e-4, {CLAMP}]: max relative {relative.max():.3e} at {every[relative.argmax()]}, max ulp {ulp.max():.2f}")
    # Rounding leaves the ratio a few ulp past 1 near the clamp and not quite monotone ulp by ulp: FastMath.tanh
    # clamps its result to ±1.
    print(f"largest value {got.max():.9f}, monotone to the ulp: {bool(np.all(np.diff(got) >= 0))}")
    print("numerator (x, x³, …):", ", ".join(f"{c:.9e}" for c in p32))
    print("denominator (1, x², …):", ", ".join(f"{c:.9e}" for c in q32))


if __name__ == "__main__":
    main()
