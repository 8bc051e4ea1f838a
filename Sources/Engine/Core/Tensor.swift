// Tensor: float32 storage that the engine controls.
// Contract: contiguous row-major; NCHW for images, [N, T, D] for sequences, [N, F] for features.
// Memory is 64-byte aligned and owned by the tensor, or borrowed from another tensor
// (a view: same memory, other shape, no copy). Layers keep their output and gradient
// tensors across steps and `resize` them, which reallocates only when the element count grows,
// so a training step allocates nothing once shapes are settled.
// Hot loops read `data` once into a local pointer; nothing indexes a class-held array in a loop.

public final class Tensor {
    public private(set) var shape: [Int]
    public private(set) var count: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int
    private var owner: Tensor?   // non-nil for a view

    /// A zero-filled tensor of the given shape.
    public init(_ shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape must be non-negative: \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.capacity = max(count, 1)
        self.data = Tensor.allocate(capacity)
        self.data.initialize(repeating: 0, count: capacity)
    }

    /// A tensor holding a copy of `values`.
    public convenience init(_ shape: [Int], _ values: [Float]) {
        self.init(shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// An empty view; bind it with `view(of:shape:)`.
    public init(viewPlaceholder: ()) {
        self.shape = [0]; self.count = 0; self.capacity = 0
        self.data = UnsafeMutablePointer<Float>(bitPattern: 64)!
        self.owner = nil
        self.isView = true
    }

    private var isView = false

    deinit { if !isView { data.deallocate() } }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * MemoryLayout<Float>.stride, alignment: 64)
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    /// Gives the tensor a new shape. Memory is kept when it is large enough; contents are
    /// unspecified after a reallocation (callers that accumulate must `zero()` first).
    public func resize(_ newShape: [Int]) {
        precondition(!isView, "cannot resize a view")
        let n = newShape.reduce(1, *)
        if n > capacity {
            data.deallocate()
            capacity = n
            data = Tensor.allocate(n)
            data.initialize(repeating: 0, count: n)
        }
        shape = newShape
        count = n
    }

    /// Makes this tensor a view of `base` with another shape of the same element count.
    public func view(of base: Tensor, shape newShape: [Int]) {
        precondition(isView, "view(of:) needs a tensor made with init(viewPlaceholder:)")
        let n = newShape.reduce(1, *)
        precondition(n == base.count, "view: \(newShape) does not match \(base.shape)")
        owner = base; data = base.data; shape = newShape; count = n; capacity = n
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ v: Float) { data.update(repeating: v, count: count) }
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy: \(other.shape) into \(shape)")
        data.update(from: other.data, count: count)
    }
    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
    public var dims: Int { shape.count }
}

/// A shape as a user sees it in errors: "[128, 3, 32, 32]".
public func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
