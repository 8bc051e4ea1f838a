// Channels between block workers: a bounded FIFO queue (blocking push and pop, closable), and a
// channel of tensors between two workers that owns a fixed set of buffers, so a pipelined step
// allocates nothing once shapes are settled and a producer can run at most `depth` batches ahead.
// Closing either end wakes every waiter: pushes then fail, pops return what is queued, then nil.

import Dispatch
import Engine
import Foundation

final class BoundedQueue<Element> {
    private var items: [Element] = []
    private let capacity: Int
    private var closed = false
    private let condition = NSCondition()

    init(capacity: Int) {
        precondition(capacity >= 1, "BoundedQueue needs room for one item")
        self.capacity = capacity
        items.reserveCapacity(capacity)
    }

    /// Waits for room; false when the queue was closed (the consumer is gone).
    func push(_ item: Element) -> Bool {
        condition.lock(); defer { condition.unlock() }
        while items.count >= capacity && !closed { condition.wait() }
        if closed { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// Waits for an item; nil once the queue is closed and empty.
    func pop() -> Element? {
        condition.lock(); defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        if items.isEmpty { return nil }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }

    func close() {
        condition.lock(); closed = true; condition.broadcast(); condition.unlock()
    }
}

/// Nanoseconds since boot (monotonic).
@inline(__always) func nanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Tensors from one worker to the next (activations forward, BLL targets backward). The producer copies
/// into a free buffer (waiting while all `depth + 1` are in use: waiting for room downstream) and queues
/// it; the consumer takes it (waiting for input) and hands it back when its block no longer reads it.
final class TensorChannel {
    private let full: BoundedQueue<Tensor>
    private let free: BoundedQueue<Tensor>

    init(depth: Int) {
        full = BoundedQueue(capacity: depth + 1)
        free = BoundedQueue(capacity: depth + 1)
        for _ in 0..<(depth + 1) { _ = free.push(Tensor([0])) }
    }

    /// Copies `t` into a free buffer and queues it; adds the time spent waiting for a free buffer to
    /// `waited`. False when the channel is closed.
    func send(_ t: Tensor, waited: inout UInt64) -> Bool {
        let t0 = nanoseconds()
        guard let buffer = free.pop() else { return false }
        waited += nanoseconds() - t0
        buffer.resize(t.shape)
        buffer.copy(from: t)
        return full.push(buffer)
    }

    /// The next tensor, or nil once the producer has closed the channel and it is drained.
    func receive(waited: inout UInt64) -> Tensor? {
        let t0 = nanoseconds()
        defer { waited += nanoseconds() - t0 }
        return full.pop()
    }

    /// Hands a received buffer back once nothing reads it any more.
    func release(_ t: Tensor) { _ = free.push(t) }

    func close() { full.close(); free.close() }
}
