// Reverse-mode automatic differentiation, define-by-run.
//
// Every differentiable op that sees an input needing a gradient records a node: its inputs' nodes and one
// closure mapping the gradient of its result to the gradients of its inputs (the op's backward, written beside
// its forward). Nodes are numbered in the order they are made, so the recorded nodes read in that order are the
// tape; `backward` replays the part of it that the loss depends on, newest first, summing gradients where a
// tensor was used more than once. Leaves (tensors made with `requiringGradient()`) keep what they receive in
// `grad`, adding to it on each call until `zeroGradient()`.

import RecurrentKernels

import Synchronization

final class AutodiffNode: @unchecked Sendable {
    /// Position on the tape: larger than every input's.
    let tapeIndex: Int
    /// The op's name, for error messages.
    let op: String
    let shape: Shape
    let dtype: DType
    let inputs: [AutodiffNode?]
    /// nil for a leaf. Given the gradient of this node's value, returns one gradient per input (nil when that
    /// input needs none).
    let backward: ((Tensor) -> [Tensor?])?
    /// A leaf's accumulated gradient.
    var grad: Tensor?

    private static let counter = Atomic<Int>(0)

    init(op: String, shape: Shape, dtype: DType, inputs: [AutodiffNode?], backward: ((Tensor) -> [Tensor?])?) {
        tapeIndex = Self.counter.add(1, ordering: .relaxed).newValue
        self.op = op
        self.shape = shape
        self.dtype = dtype
        self.inputs = inputs
        self.backward = backward
    }

    var isLeaf: Bool { backward == nil }
}

/// Whether ops record themselves for differentiation in the current task (off inside `noGrad`).
enum GradientRecording {
    @TaskLocal static var isEnabled = true
}

/// Runs `body` without recording anything for differentiation: for inference, and for updates to parameters.
public func noGrad<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientRecording.$isEnabled.withValue(false) { try body() }
}

/// Whether gradients are being recorded right now.
public var isRecordingGradients: Bool { GradientRecording.isEnabled }

extension Tensor {
    /// Whether gradients flow to this tensor (it is a leaf that asked for them, or depends on one).
    public var requiresGradient: Bool { node != nil }

    /// This value as a leaf whose gradient `backward` will accumulate in `grad`.
    public func requiringGradient() -> Tensor {
        var leaf = self
        leaf.node = AutodiffNode(op: "leaf", shape: shape, dtype: dtype, inputs: [], backward: nil)
        return leaf
    }

    /// This value cut off from the graph: no gradient flows through it.
    public func detached() -> Tensor {
        var copy = self
        copy.node = nil
        return copy
    }

    /// The gradient accumulated in this leaf by `backward`, or nil when none has arrived (or it is not a leaf).
    public var grad: Tensor? { node?.isLeaf == true ? node?.grad : nil }

    /// Replaces this leaf's accumulated gradient (gradient clipping).
    public func replaceGradient(_ gradient: Tensor) {
        require(gradient.shape == shape, "replaceGradient: gradient has shape \(gradient.shape), tensor has \(shape)")
        if let node, node.isLeaf { node.grad = gradient.detached() }
    }

    /// Forgets this leaf's accumulated gradient.
    public func zeroGradient() {
        if let node, node.isLeaf { node.grad = nil }
    }

    /// Replaces the value of a leaf in place, keeping its identity (and so its place in every graph made
    /// later): how optimizers update parameters.
    public mutating func assign(_ value: Tensor) {
        require(value.shape == shape, "assign: new value has shape \(value.shape), tensor has \(shape)")
        storage = value.storage.converted(to: dtype)
    }

    /// Whether `record` will keep an op with these inputs: recording is on and some input needs a gradient. An op
    /// asks first when it can skip saving what only its backward reads.
    static func willRecord(_ inputs: [Tensor]) -> Bool {
        GradientRecording.isEnabled && inputs.contains(where: { $0.node != nil })
    }

    /// Records `result` as computed by `op` from `inputs`, when `willRecord(inputs)`.
    /// `backward` receives the gradient of the result and returns one gradient per input, each of that input's
    /// shape (nil for inputs that need none or get zero).
    static func record(
        _ op: String, result: Tensor, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]
    ) -> Tensor {
        guard willRecord(inputs) else { return result }
        var output = result
        output.node = AutodiffNode(
            op: op, shape: result.shape, dtype: result.dtype, inputs: inputs.map(\.node), backward: backward)
        return output
    }

    /// Computes the gradient of this scalar with respect to every leaf it depends on and adds it to the leaves'
    /// `grad`. A non-scalar result needs `seed`, the gradient of some scalar with respect to it.
    public func backward(seed: Tensor? = nil) {
        let gradients = propagate(seed: seed, op: "backward")
        for (node, gradient) in gradients.values where node.isLeaf {
            node.grad = node.grad.map { $0 + gradient } ?? gradient
        }
    }

    /// The gradients of this scalar (or of `sum(self * seed)`) with respect to `inputs`, which may be leaves or
    /// intermediate results; zeros for inputs it does not depend on. Leaves' `grad` is left untouched.
    public func gradients(withRespectTo inputs: [Tensor], seed: Tensor? = nil) -> [Tensor] {
        for (position, input) in inputs.enumerated() {
            require(input.node != nil, "gradients: input \(position) of shape \(input.shape) does not require a gradient; call requiringGradient() on it before computing")
        }
        let gradients = propagate(seed: seed, op: "gradients")
        return inputs.map { input in
            gradients[ObjectIdentifier(input.node!)]?.gradient ?? Tensor.zeros(input.shape, dtype: input.dtype)
        }
    }

    private func propagate(seed: Tensor?, op: String) -> [ObjectIdentifier: (node: AutodiffNode, gradient: Tensor)] {
        guard let root = node else {
            fatalError("\(op): this tensor of shape \(shape) does not depend on any tensor that requires a gradient")
        }
        let rootGradient: Tensor
        if let seed {
            require(seed.shape == shape, "\(op): seed has shape \(seed.shape) but the tensor has shape \(shape)")
            rootGradient = seed.converted(to: dtype).detached()
        } else {
            require(shape.elementCount == 1, "\(op): called on a non-scalar tensor of shape \(shape) (made by \(root.op)); reduce it to a scalar (e.g. sum()) or pass a seed")
            rootGradient = Tensor.ones(shape, dtype: dtype)
        }

        // The part of the tape the root depends on.
        var reachable: [AutodiffNode] = []
        var seen: Set<ObjectIdentifier> = []
        var pending = [root]
        while let node = pending.popLast() {
            guard seen.insert(ObjectIdentifier(node)).inserted else { continue }
            reachable.append(node)
            pending.append(contentsOf: node.inputs.compactMap { $0 })
        }
        reachable.sort { $0.tapeIndex > $1.tapeIndex }

        var gradients: [ObjectIdentifier: (node: AutodiffNode, gradient: Tensor)] = [ObjectIdentifier(root): (root, rootGradient)]
        noGrad {
            for node in reachable {
                guard let backward = node.backward, let gradient = gradients[ObjectIdentifier(node)]?.gradient else { continue }
                let inputGradients = backward(gradient)
                require(inputGradients.count == node.inputs.count, "internal: \(node.op) backward returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
                for (input, inputGradient) in zip(node.inputs, inputGradients) {
                    guard let input, let inputGradient else { continue }
                    require(inputGradient.shape == input.shape, "\(node.op) backward: gradient of shape \(inputGradient.shape) for an input of shape \(input.shape)")
                    let key = ObjectIdentifier(input)
                    if let existing = gradients[key] {
                        gradients[key] = (input, existing.gradient + inputGradient.converted(to: input.dtype))
                    } else {
                        gradients[key] = (input, inputGradient.converted(to: input.dtype))
                    }
                }
            }
        }
        return gradients
    }
}
