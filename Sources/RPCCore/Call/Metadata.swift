/// gRPC metadata: ordered, case-insensitive keys (stored lowercase), several values per key.
/// Keys ending in `-bin` carry bytes (base64 on the wire); all others carry ASCII text.
public struct Metadata: Sendable, Hashable, Sequence {
    public enum Value: Sendable, Hashable {
        case string(String)
        case binary([UInt8])
    }

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: Value
    }

    private var entries: [Entry] = []

    public init() {}

    /// Text metadata from key/value pairs, in order.
    public init(_ pairs: [(String, String)]) {
        for (k, v) in pairs { addString(v, forKey: k) }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public mutating func addString(_ value: String, forKey key: String) {
        entries.append(Entry(key: Self.normalized(key), value: .string(value)))
    }

    public mutating func addBinary(_ value: [UInt8], forKey key: String) {
        entries.append(Entry(key: Self.normalized(key), value: .binary(value)))
    }

    public mutating func add(_ value: Value, forKey key: String) {
        entries.append(Entry(key: Self.normalized(key), value: value))
    }

    public mutating func removeAll(forKey key: String) {
        let k = Self.normalized(key)
        entries.removeAll { $0.key == k }
    }

    /// The first text value for `key`.
    public subscript(key: String) -> String? {
        // Most calls carry no custom metadata: skip normalizing the key then.
        if entries.isEmpty { return nil }
        let k = Self.normalized(key)
        for e in entries where e.key == k {
            if case .string(let s) = e.value { return s }
        }
        return nil
    }

    /// The first binary value for a `-bin` key.
    public func binary(forKey key: String) -> [UInt8]? {
        let k = Self.normalized(key)
        for e in entries where e.key == k {
            if case .binary(let b) = e.value { return b }
        }
        return nil
    }

    /// Every text value for `key`, in order, joined with ", " (how HTTP combines repeated
    /// fields); nil when there is none.
    public func joinedStrings(forKey key: String) -> String? {
        if entries.isEmpty { return nil }
        let k = Self.normalized(key)
        var values: [String] = []
        for e in entries where e.key == k {
            if case .string(let s) = e.value { values.append(s) }
        }
        // Joined once: appending field by field copied the whole string each time, quadratic in
        // the hundreds of fields a 16 KiB header list can hold.
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    public func values(forKey key: String) -> [Value] {
        let k = Self.normalized(key)
        return entries.filter { $0.key == k }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[Entry]> { entries.makeIterator() }

    /// Keys are kept in lower case (HTTP/2 field names are). Most keys arrive that way, and the
    /// check is cheaper than `lowercased()`, which builds a new string each time.
    private static func normalized(_ key: String) -> String {
        key.utf8.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") || $0 >= 0x80 } ? key.lowercased() : key
    }

    /// Headers a transport owns; never copied into or out of user metadata.
    public static func isReserved(_ key: String) -> Bool {
        key.hasPrefix(":") || key.hasPrefix("grpc-") || key == "content-type" || key == "te"
            || key == "user-agent" || key == "content-length" || key == "connection"
            || key == "transfer-encoding" || key == "host"
    }
}
