// swift-tools-version: 6.2
import PackageDescription

// x86_64 needs an FMA-capable target: without it `addingProduct` on SIMD vectors lowers to a libm call per
// lane (under 1 GFLOP/s). x86-64-v3 (Haswell and later: AVX2 + FMA) covers every x86 server of the last decade.
// arm64 always has FMA, so it needs nothing. The tests build the same way: code they inline from the library
// (cross-module optimisation) may hold x86-64-v3 instructions.
var speedFlags: [SwiftSetting] = []
#if arch(x86_64)
speedFlags.append(.unsafeFlags(["-Xcc", "-march=x86-64-v3"]))
// Lets `recurrent info` report what the build compiled in rather than guess.
speedFlags.append(.define("RECURRENT_X86_FMA"))
#endif

let package = Package(
    name: "Recurrent",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Recurrent", targets: ["Recurrent"]),
        .executable(name: "recurrent", targets: ["RecurrentCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The AVX-512 micro-kernels, in C: Swift has no per-function target attribute, and the rest of the package
        // must still run on AVX2-only CPUs. Called only when the CPU has AVX-512 (checked at run time).
        .target(name: "RecurrentAVX512"),
        // Raw Float32/Float64 buffer math: GEMM (naive, blocked SIMD, system BLAS), threads. Knows nothing of Tensor.
        .target(name: "RecurrentKernels", dependencies: ["RecurrentAVX512"], swiftSettings: speedFlags),
        // Tensor, shapes, seeded randomness, reverse-mode autodiff, differentiable ops, gradient checking.
        .target(name: "RecurrentTensor", dependencies: ["RecurrentKernels"], swiftSettings: speedFlags),
        // Layers and the parameter walk: recurrent cells and sequence layers, dense/embedding/convolution/attention,
        // losses, parameter counts and summaries.
        .target(name: "RecurrentNN", dependencies: ["RecurrentTensor"], swiftSettings: speedFlags),
        // Optimizers, clipping, learning-rate schedules, batching, and the fit loop with its observers.
        .target(name: "RecurrentTraining", dependencies: ["RecurrentNN"], swiftSettings: speedFlags),
        // Files: safetensors (PyTorch interop), checkpoints, TensorBoard event files, numeric CSV.
        .target(name: "RecurrentIO", dependencies: ["RecurrentNN", "RecurrentTraining"]),
        // The lecture's tasks end to end: data files and generated data, tokens and vocabularies, BLEU, models,
        // training in a run folder, evaluation and use; SVG plots.
        .target(name: "RecurrentTasks", dependencies: ["RecurrentNN", "RecurrentTraining", "RecurrentIO"], swiftSettings: speedFlags),
        // The umbrella: `import Recurrent` brings every layer of the library.
        .target(name: "Recurrent", dependencies: ["RecurrentKernels", "RecurrentTensor", "RecurrentNN", "RecurrentTraining", "RecurrentIO", "RecurrentTasks"]),
        // The command-line commands as a library, so tests can parse and run them without a subprocess.
        .target(
            name: "RecurrentCLI",
            dependencies: ["Recurrent", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: speedFlags),
        .executableTarget(name: "RecurrentCommand", dependencies: ["RecurrentCLI"]),
        .testTarget(name: "RecurrentKernelsTests", dependencies: ["RecurrentKernels"], swiftSettings: speedFlags),
        .testTarget(name: "RecurrentTensorTests", dependencies: ["RecurrentTensor"], swiftSettings: speedFlags),
        .testTarget(name: "RecurrentNNTests", dependencies: ["RecurrentNN"], swiftSettings: speedFlags),
        .testTarget(name: "RecurrentIOTests", dependencies: ["RecurrentIO", "RecurrentTraining"], exclude: ["Fixtures"], swiftSettings: speedFlags),
        .testTarget(name: "RecurrentTasksTests", dependencies: ["RecurrentTasks"], swiftSettings: speedFlags),
        .testTarget(name: "RecurrentCLITests", dependencies: ["RecurrentCLI", "Recurrent"], swiftSettings: speedFlags),
    ]
)
