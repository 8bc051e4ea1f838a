// AttributeEncoder: an Encodable value as flat, typed HDF5 attributes ("model.width" → 0.25 as a float,
// "epochs" → 2 as an integer, "model.causal" → true as a bool, "optimizer.milestones" → [100, 150] as an
// integer array). It walks the same Codable keys the canonical JSON uses, so the attributes and the JSON
// never disagree; the Swift type of each field, not its JSON spelling, decides the stored type
// (a Double of 1.0 stays a float). Arrays of anything but numbers are stored as text.

import Foundation
import Store

enum AttributeEncoder {
    static func flatten<T: Encodable>(_ value: T) throws -> [(String, AttributeValue)] {
        let sink = Sink()
        try value.encode(to: LeafEncoder(sink: sink, path: []))
        return sink.leaves.sorted { $0.0 < $1.0 }
    }

    final class Sink { var leaves: [(String, AttributeValue)] = [] }

    /// One scalar leaf as a typed value, or nil for what is not a number, bool or string.
    static func leaf(_ v: Any) -> AttributeValue? {
        switch v {
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let i as Int32: return .int(Int64(i))
        case let i as Int64: return .int(i)
        case let u as UInt64: return u <= UInt64(Int64.max) ? .int(Int64(u)) : .text(String(u))
        case let u as UInt32: return .int(Int64(u))
        case let d as Double: return .double(d)
        case let f as Float: return .double(Double(f))
        case let s as String: return .text(s)
        default: return nil
        }
    }

    struct LeafEncoder: Encoder {
        let sink: Sink
        let path: [String]
        var codingPath: [CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        func container<Key: CodingKey>(keyedBy: Key.Type) -> KeyedEncodingContainer<Key> {
            KeyedEncodingContainer(Keyed<Key>(sink: sink, path: path))
        }
        func unkeyedContainer() -> UnkeyedEncodingContainer { ArrayLeaf(sink: sink, path: path) }
        func singleValueContainer() -> SingleValueEncodingContainer { Single(sink: sink, path: path) }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let sink: Sink
        let path: [String]
        var codingPath: [CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            let p = path + [key.stringValue]
            if let l = AttributeEncoder.leaf(value) { sink.leaves.append((p.joined(separator: "."), l)) }
            else { try value.encode(to: LeafEncoder(sink: sink, path: p)) }
        }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            KeyedEncodingContainer(Keyed<N>(sink: sink, path: path + [key.stringValue]))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer { ArrayLeaf(sink: sink, path: path + [key.stringValue]) }
        mutating func superEncoder() -> Encoder { LeafEncoder(sink: sink, path: path) }
        mutating func superEncoder(forKey key: Key) -> Encoder { LeafEncoder(sink: sink, path: path + [key.stringValue]) }
    }

    struct Single: SingleValueEncodingContainer {
        let sink: Sink
        let path: [String]
        var codingPath: [CodingKey] { [] }
        mutating func encodeNil() throws {}
        mutating func encode<T: Encodable>(_ value: T) throws {
            if let l = AttributeEncoder.leaf(value) { sink.leaves.append((path.joined(separator: "."), l)) }
            else { try value.encode(to: LeafEncoder(sink: sink, path: path)) }
        }
    }

    /// An array: integers → an integer array, numbers → a float array, anything else → its JSON text.
    final class ArrayLeaf: UnkeyedEncodingContainer {
        let sink: Sink
        let path: [String]
        var items: [AttributeValue?] = []
        var codingPath: [CodingKey] { [] }
        var count: Int { items.count }
        init(sink: Sink, path: [String]) { self.sink = sink; self.path = path; publish() }
        /// Rewrites this array's one leaf after every element (containers have no "end" call).
        func publish() {
            let key = path.joined(separator: ".")
            sink.leaves.removeAll { $0.0 == key }
            var value: AttributeValue
            if items.allSatisfy({ if case .int = $0 { return true } else { return false } }) {
                value = .ints(items.map { if case .int(let i) = $0 { return i } else { return 0 } })
            } else if items.allSatisfy({ switch $0 { case .int, .double: return true; default: return false } }) {
                value = .doubles(items.map { switch $0 { case .int(let i): return Double(i); case .double(let d): return d; default: return 0 } })
            } else {
                value = .text("[" + items.map { $0?.description ?? "?" }.joined(separator: ", ") + "]")
            }
            sink.leaves.append((key, value))
        }
        func encodeNil() throws { items.append(nil); publish() }
        func encode<T: Encodable>(_ value: T) throws { items.append(AttributeEncoder.leaf(value)); publish() }
        func nestedContainer<N: CodingKey>(keyedBy: N.Type) -> KeyedEncodingContainer<N> {
            items.append(nil); publish()
            return KeyedEncodingContainer(Keyed<N>(sink: Sink(), path: []))
        }
        func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { items.append(nil); publish(); return ArrayLeaf(sink: Sink(), path: []) }
        func superEncoder() -> Encoder { LeafEncoder(sink: Sink(), path: []) }
    }
}
