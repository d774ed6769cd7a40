/// Immutable heap storage for a message field whose type contains itself (directly or through
/// other messages), which a Swift struct cannot hold inline. Compared and hashed by value.
public final class ProtoBox<Value: Sendable & Hashable>: Sendable, Hashable {
    public let value: Value

    @inlinable
    public init(_ value: Value) {
        self.value = value
    }

    @inlinable
    public static func == (lhs: ProtoBox, rhs: ProtoBox) -> Bool {
        lhs === rhs || lhs.value == rhs.value
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        value.hash(into: &hasher)
    }
}
