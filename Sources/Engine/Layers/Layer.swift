// Layer: the forward/backward contract every unit of a model keeps.
// forward(x) returns a tensor the layer owns (valid until its next forward) and caches what
// backward needs. backward(dy) *accumulates* (+=) into its parameters' gradients and returns the
// input gradient (a tensor the layer owns), or nil when `inputGradient` is false: that is where
// a method cuts the gradient. No autograd tape: the chain is the model's list of units.

public enum Mode: Sendable { case train, eval }

/// Errors a user can cause: each names the argument, the value and what is allowed.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidArgument(name: String, value: String, allowed: String)
    case shapeMismatch(layer: String, expected: String, got: String)

    public var description: String {
        switch self {
        case let .invalidArgument(name, value, allowed):
            // a list of names ("bp, fa, predsim") gets a suggestion for a near miss
            let names = allowed.components(separatedBy: ", ").filter { !$0.isEmpty && !$0.contains(" ") }
            let hint = names.count >= 2 && Double(value) == nil ? Suggestion.phrase(value, in: names) : ""
            return "invalid \(name) '\(value)': allowed \(allowed)\(hint)"
        case let .shapeMismatch(layer, expected, got):
            return "shape mismatch in \(layer): expected \(expected), got \(got)"
        }
    }
}

/// A trainable tensor and its gradient.
public final class Parameter {
    public enum Kind: String, Sendable { case weight, bias, norm, embedding }
    public var name: String
    public let kind: Kind
    public let value: Tensor
    public let grad: Tensor
    public init(_ name: String, _ kind: Kind, shape: [Int]) {
        self.name = name; self.kind = kind
        value = Tensor(shape); grad = Tensor(shape)
    }
    public var count: Int { value.count }
}

public protocol Layer: AnyObject {
    /// Parameters of this layer and its children, in a fixed order.
    var parameters: [Parameter] { get }
    /// Children, for walks over the whole model (feedback alignment, describe).
    var children: [Layer] { get }
    /// Non-trainable state that a checkpoint must keep (BatchNorm running statistics).
    var buffers: [Tensor] { get }
    /// Output shape for an input shape (batch first); throws on a mismatch.
    func outputShape(_ input: [Int]) throws -> [Int]
    func forward(_ x: Tensor, mode: Mode) -> Tensor
    func backward(_ dy: Tensor, inputGradient: Bool) -> Tensor?
    /// Forward multiply-accumulates for this input shape (all samples).
    func macs(_ input: [Int]) -> Int
}

public extension Layer {
    var children: [Layer] { [] }
    var parameters: [Parameter] { children.flatMap { $0.parameters } }
    var buffers: [Tensor] { children.flatMap { $0.buffers } }
    func macs(_ input: [Int]) -> Int { 0 }

    /// This layer and all its descendants, depth first.
    func walk(_ body: (Layer) -> Void) {
        body(self)
        for c in children { c.walk(body) }
    }
}

/// Checks a shape's rank and trailing dimensions; `nil` entries match anything.
func expectShape(_ layer: String, _ input: [Int], _ pattern: [Int?]) throws {
    let ok = input.count == pattern.count && zip(input, pattern).allSatisfy { $1 == nil || $0 == $1! }
    if !ok {
        let exp = "[" + pattern.map { $0.map(String.init) ?? "*" }.joined(separator: ", ") + "]"
        throw EngineError.shapeMismatch(layer: layer, expected: exp, got: describe(input))
    }
}
