import RecurrentKernels
import Foundation
let args = CommandLine.arguments
let m = Int(args[1])!, n = Int(args[2])!, k = Int(args[3])!, reps = Int(args[4])!
let backend = args.count > 5 && args[5] == "blas" ? GEMMBackend.blas : .swift
let a = UnsafeMutablePointer<Float>.allocate(capacity: m*k); let b = UnsafeMutablePointer<Float>.allocate(capacity: k*n); let c = UnsafeMutablePointer<Float>.allocate(capacity: m*n)
for i in 0..<m*k { a[i] = Float(i % 7) - 3 }; for i in 0..<k*n { b[i] = Float(i % 5) - 2 }
let t0 = Date()
for _ in 0..<reps { GEMM.multiply(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n, backend: backend, threads: 1) }
print(2.0*Double(m*n*k)*Double(reps)/Date().timeIntervalSince(t0)/1e9)
