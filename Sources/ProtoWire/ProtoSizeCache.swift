/// Nested message sizes recorded by the size pass of `serializedBytes()`, in the order the write pass
/// needs them, so `writeMessage` does not compute each sub-message's size once per nesting level.
public struct ProtoSizeCache {
    @usableFromInline var sizes: [Int] = []
    @usableFromInline let isEnabled: Bool
    /// False once a message without its own `encodedSize(cache:)` took part; the cache is then unused.
    @usableFromInline var isValid = true

    @inlinable
    init(enabled: Bool) {
        isEnabled = enabled
    }

    /// A cache that records nothing (for `encodedSize()`).
    @inlinable
    public static var disabled: ProtoSizeCache { ProtoSizeCache(enabled: false) }

    /// A cache that records sizes.
    @inlinable
    public static func recording() -> ProtoSizeCache { ProtoSizeCache(enabled: true) }

    /// Holds a place for a sub-message's size before its own sub-messages are recorded.
    @inlinable
    mutating func reserveSlot() -> Int {
        guard isEnabled else { return -1 }
        if sizes.capacity == 0 { sizes.reserveCapacity(32) }
        sizes.append(0)
        return sizes.count - 1
    }

    @inlinable
    mutating func fill(_ slot: Int, with size: Int) {
        if slot >= 0 { sizes[slot] = size }
    }

    /// Marks the cache unusable (a message did not record its sub-messages).
    @inlinable
    public mutating func invalidate() {
        isValid = false
    }
}

extension ProtoSize {
    /// Size of a sub-message field, recording the sub-message's size (and its own sub-messages') in `cache`.
    @inlinable
    public static func message(_ value: some ProtoMessage, field: Int, cache: inout ProtoSizeCache) -> Int {
        let slot = cache.reserveSlot()
        let size = value.encodedSize(cache: &cache)
        cache.fill(slot, with: size)
        return lengthDelimited(payload: size, field: field)
    }
}
