// Layers and the one parameter walk.
//
// A layer lists each of its parameters once, by name, in `visitParameters`. That single walk feeds everything
// that needs the parameters: counting them, zeroing gradients, optimizers, checkpoints (by PyTorch's names),
// and gradient checks (which convert a layer to Float64 through it). Containers visit their children with a
// prefix ("encoder.weight_ih_l0").

import RecurrentKernels
import RecurrentTensor

/// Anything with named parameters.
public protocol Layer: AnyObject {
    /// Calls `visit` once for every parameter, with its name; `visit` may replace the parameter.
    func visitParameters(_ visit: (_ name: String, _ parameter: inout Tensor) -> Void)
    /// Calls `visit` for each direct sub-layer (containers); the default visits none.
    func visitSublayers(_ visit: (Layer) -> Void)
}

/// A layer that maps one tensor to one tensor: what `Sequential` chains.
public protocol Module: Layer {
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// A layer that behaves differently while training (dropout; recurrent layers' dropout between layers).
public protocol TrainingModeDependent: Layer {
    var isTraining: Bool { get set }
}

/// A layer that draws random numbers while training (dropout masks). Before every training step the trainer
/// reseeds it from its own seed and the step's number, so the masks depend on the step alone: a run resumed
/// from a checkpoint draws the same ones as a run that never stopped.
public protocol StepSeeded: Layer {
    func reseed(forStep step: Int)
}

extension Module {
    /// The module's output in evaluation mode (dropout off) with nothing recorded for differentiation.
    public func predict(_ input: Tensor) -> Tensor {
        setTraining(false)
        return noGrad { self(input) }
    }
}

extension Layer {
    public func visitSublayers(_ visit: (Layer) -> Void) {}

    /// Switches this layer and every layer inside it to training (true) or evaluation (false).
    public func setTraining(_ training: Bool) {
        if let dependent = self as? TrainingModeDependent { dependent.isTraining = training }
        visitSublayers { $0.setTraining(training) }
    }

    /// Reseeds this layer and every layer inside it that draws random numbers (see `StepSeeded`).
    public func reseedRandomLayers(forStep step: Int) {
        if let seeded = self as? StepSeeded { seeded.reseed(forStep: step) }
        visitSublayers { $0.reseedRandomLayers(forStep: step) }
    }
}

/// A problem loading named parameters: which name, and what was wrong.
public enum ParameterLoadingError: Error, Equatable, CustomStringConvertible {
    case missing(String)
    case wrongShape(name: String, expected: Shape, found: Shape)
    case unexpected([String])

    public var description: String {
        switch self {
        case .missing(let name): "missing parameter '\(name)'"
        case .wrongShape(let name, let expected, let found): "parameter '\(name)' has shape \(found), expected \(expected)"
        case .unexpected(let names): "unexpected parameters: \(names.joined(separator: ", "))"
        }
    }
}

extension Layer {
    /// Every parameter with its name, in walk order.
    public var namedParameters: [(name: String, value: Tensor)] {
        var result: [(String, Tensor)] = []
        visitParameters { name, parameter in result.append((name, parameter)) }
        return result
    }

    /// The number of scalar parameters.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.value.elementCount } }

    /// Forgets every parameter's accumulated gradient.
    public func zeroGradients() {
        visitParameters { _, parameter in parameter.zeroGradient() }
    }

    /// Converts every parameter to `dtype` (Float64 for gradient checks), keeping it a gradient leaf.
    public func convertParameters(to dtype: DType) {
        visitParameters { _, parameter in
            if parameter.dtype != dtype { parameter = parameter.detached().converted(to: dtype).requiringGradient() }
        }
    }

    /// Replaces parameters by name. Every parameter must be present with its shape; with `strict`, no other
    /// names may be given. Nothing changes unless everything checks out.
    public func loadParameters(_ values: [String: Tensor], strict: Bool = true) throws(ParameterLoadingError) {
        var problem: ParameterLoadingError?
        var used: Set<String> = []
        visitParameters { name, parameter in
            guard problem == nil else { return }
            guard let value = values[name] else { problem = .missing(name); return }
            guard value.shape == parameter.shape else {
                problem = .wrongShape(name: name, expected: parameter.shape, found: value.shape)
                return
            }
            used.insert(name)
        }
        if let problem { throw problem }
        if strict {
            let extra = values.keys.filter { !used.contains($0) }.sorted()
            if !extra.isEmpty { throw .unexpected(extra) }
        }
        visitParameters { name, parameter in
            parameter = values[name]!.converted(to: parameter.dtype).detached().requiringGradient()
        }
    }
}
