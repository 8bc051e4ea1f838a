// The pieces an MPI rank's block worker talks through: an outbox of non-blocking sends to one peer
// (at most `capacity` in flight: a sender waits only when the peer is that far behind), tensor links
// (activations forward, BLL targets backward) that put a shape header in front of the floats, and the
// state a rank owns (what its blocks' training changes), packed for rank 0. Zero-length messages close
// a link: after it, the receiving side reads nothing more from that peer on that tag this epoch.

import Engine
import Foundation
import MessagePassing
import Methods

/// Message tags between ranks.
enum Tag {
    static let labels = 1, activation = 2, target = 3, up = 4
}

/// Non-blocking sends to one peer on one tag, from buffers it owns until each send completes.
final class Outbox {
    let world: MPIWorld, peer: Int, tag: Int, capacity: Int
    private var inFlight: [(buffer: UnsafeMutableRawPointer, size: Int, request: MPIWorld.Request)] = []
    private var spare: [(buffer: UnsafeMutableRawPointer, size: Int)] = []

    init(world: MPIWorld, peer: Int, tag: Int, capacity: Int) {
        self.world = world; self.peer = peer; self.tag = tag; self.capacity = capacity
    }

    deinit {
        for f in inFlight { f.request.wait(); f.buffer.deallocate() }
        for s in spare { s.buffer.deallocate() }
    }

    /// Sends `count` bytes written by `fill`; waits (adding to `waited`) while `capacity` sends are in flight.
    func post(count: Int, waited: inout UInt64, fill: (UnsafeMutableRawPointer) -> Void) {
        reclaim()
        if inFlight.count >= capacity {
            let t0 = nanoseconds()
            inFlight[0].request.wait()
            waited += nanoseconds() - t0
            reclaim()
        }
        var slot: (buffer: UnsafeMutableRawPointer, size: Int)
        if let i = spare.firstIndex(where: { $0.size >= count }) { slot = spare.remove(at: i) }
        else { slot = (UnsafeMutableRawPointer.allocate(byteCount: max(count, 64), alignment: 16), max(count, 64)) }
        fill(slot.buffer)
        inFlight.append((slot.buffer, slot.size, world.sendLater(slot.buffer, count: count, to: peer, tag: tag)))
    }

    func post(bytes: [UInt8]) {
        var ignored: UInt64 = 0
        post(count: bytes.count, waited: &ignored) { p in bytes.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } } }
    }

    /// Frees the buffers of completed sends, oldest first.
    private func reclaim() {
        while let f = inFlight.first, f.request.test() { inFlight.removeFirst(); spare.append((f.buffer, f.size)) }
    }

    /// True once every send has completed (progresses MPI; never waits).
    var settled: Bool { reclaim(); return inFlight.isEmpty }
}

/// Tensors between two ranks. Outgoing: `send` packs [ndim, dims..., floats] into the outbox (depth + 1
/// in flight); `close` sends the zero-length marker. Incoming: `receive` waits for the next message and
/// unpacks it into a buffer of its own pool (nil after the marker); `close` asks `drained` to read and
/// drop whatever comes until the marker (a peer that is still sending must not be left blocked).
final class MPITensorLink: BlockLink {
    enum Direction { case outgoing, incoming }
    let world: MPIWorld, peer: Int, tag: Int, direction: Direction
    private let outbox: Outbox?
    private var pool: [Tensor] = []
    private var scratch: UnsafeMutableRawPointer? = nil
    private var scratchSize = 0
    private(set) var peerClosed = false
    private var closed = false

    init(world: MPIWorld, peer: Int, tag: Int, direction: Direction, depth: Int) {
        self.world = world; self.peer = peer; self.tag = tag; self.direction = direction
        outbox = direction == .outgoing ? Outbox(world: world, peer: peer, tag: tag, capacity: depth + 1) : nil
    }
    deinit { scratch?.deallocate() }

    func send(_ t: Tensor, waited: inout UInt64) -> Bool {
        guard let outbox, !closed else { return false }
        let shape = t.shape, header = 8 * (1 + shape.count), n = t.count
        outbox.post(count: header + 4 * n, waited: &waited) { p in
            let words = p.bindMemory(to: Int64.self, capacity: 1 + shape.count)
            words[0] = Int64(shape.count)
            for (i, d) in shape.enumerated() { words[1 + i] = Int64(d) }
            (p + header).copyMemory(from: t.data, byteCount: 4 * n)
        }
        return true
    }

    private func ensureScratch(_ n: Int) {
        guard n > scratchSize else { return }
        scratch?.deallocate()
        scratch = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 16)
        scratchSize = n
    }

    func receive(waited: inout UInt64) -> Tensor? {
        guard direction == .incoming, !peerClosed else { return nil }
        let t0 = nanoseconds()
        defer { waited += nanoseconds() - t0 }
        let n = world.probe(from: peer, tag: tag)
        ensureScratch(max(n, 8))
        world.receive(into: scratch, capacity: n, from: peer, tag: tag)
        if n == 0 { peerClosed = true; return nil }
        let words = scratch!.bindMemory(to: Int64.self, capacity: 1)
        let ndim = Int(words[0])
        let shape = (0..<ndim).map { Int(scratch!.load(fromByteOffset: 8 * (1 + $0), as: Int64.self)) }
        let t = pool.popLast() ?? Tensor([0])
        t.resize(shape)
        UnsafeMutableRawPointer(t.data).copyMemory(from: scratch! + 8 * (1 + ndim), byteCount: 4 * t.count)
        return t
    }

    func release(_ t: Tensor) { pool.append(t) }

    func close() {
        guard !closed else { return }
        closed = true
        if let outbox { outbox.post(bytes: []) }
    }

    /// True once this link has nothing left to do this epoch: an outgoing one when all its sends
    /// completed, an incoming one when the peer's marker arrived (dropping what comes before it).
    var drained: Bool {
        if let outbox { return outbox.settled }
        while !peerClosed, let m = world.poll(from: peer, tag: tag) {
            ensureScratch(max(m.bytes, 8))
            world.receive(into: scratch, capacity: m.bytes, from: peer, tag: tag)
            if m.bytes == 0 { peerClosed = true }
        }
        return peerClosed
    }
}

/// What a rank's blocks' training changes: their units' parameters and buffers (BatchNorm statistics),
/// their optimizers' parameters (heads, feedback maps), moments and step counts, and their dropout
/// streams. Packed in a fixed order both sides compute from the same rule and block range.
struct BlockState {
    let tensors: [Tensor]
    let optimizers: [Optimizer]
    let dropouts: [Dropout]

    init(rule: DetachedBlockRule, blocks: Range<Int>) {
        var seen = Set<ObjectIdentifier>()
        var ts: [Tensor] = []
        func add(_ t: Tensor) { if seen.insert(ObjectIdentifier(t)).inserted { ts.append(t) } }
        var opts: [Optimizer] = [], drops: [Dropout] = []
        for k in blocks {
            for u in rule.blocks[k].units {
                u.layer.parameters.forEach { add($0.value) }
                u.layer.buffers.forEach(add)
                u.layer.walk { if let d = $0 as? Dropout { drops.append(d) } }
            }
            for o in rule.optimizers(ofBlock: k) {
                o.parameters.forEach { add($0.value) }
                o.state.forEach(add)
                opts.append(o)
            }
            rule.headBuffers(ofBlock: k).forEach(add)
        }
        tensors = ts; optimizers = opts; dropouts = drops
    }

    func write(_ w: inout WireWriter) {
        w.int(tensors.count)
        for t in tensors { w.floats(t.data, count: t.count) }
        w.int(optimizers.count)
        for o in optimizers { w.int(o.steps) }
        w.int(dropouts.count)
        for d in dropouts { let s = d.rng.state; w.int(s.count); s.forEach { w.word($0) } }
    }

    func read(_ r: inout WireReader) throws {
        guard try r.int() == tensors.count else { throw WireError(what: "tensor count") }
        for t in tensors { try r.floats(into: t.data, count: t.count) }
        guard try r.int() == optimizers.count else { throw WireError(what: "optimizer count") }
        for o in optimizers { o.steps = try r.int() }
        guard try r.int() == dropouts.count else { throw WireError(what: "dropout count") }
        for d in dropouts {
            let n = try r.int()
            guard (0...64).contains(n) else { throw WireError(what: "random stream") }
            d.rng = RandomStream(state: try (0..<n).map { _ in try r.word() })
        }
    }
}
