/// Nested message sizes recorded by the size pass of `serializedBytes()`, in the order the write pass
/// needs them, so `writeMessage` does not compute each sub-message's size once per nesting level.
///
/// The sizes live in raw memory rather than an `Array`: growing an array releases its old buffer,
/// and a call that may release makes the optimizer copy (retain and release every field of) each
/// message the size pass visits. Growth is out of line and declared release-free instead.
///
/// Noncopyable: the cache owns that memory, so a copy would be a second owner and a double free.
/// It frees the memory itself when it goes out of scope.
public struct ProtoSizeCache: ~Copyable {
    // No default values: their initializers would be calls the optimizer cannot see through.
    @usableFromInline var storage: UnsafeMutablePointer<Int>?
    @usableFromInline var count: Int
    @usableFromInline var capacity: Int
    @usableFromInline let isEnabled: Bool
    /// False once a message without its own `encodedSize(cache:)` took part; the cache is then unused.
    @usableFromInline var isValid: Bool

    @inlinable
    init(enabled: Bool) {
        storage = nil
        count = 0
        capacity = 0
        isEnabled = enabled
        isValid = true
    }

    /// A cache that records nothing (for `encodedSize()`).
    @inlinable
    public static var disabled: ProtoSizeCache { ProtoSizeCache(enabled: false) }

    /// A cache that records sizes.
    @inlinable
    package static func recording() -> ProtoSizeCache { ProtoSizeCache(enabled: true) }

    deinit {
        storage?.deallocate()
    }

    /// The recorded sizes, valid while the cache lives; empty when the cache is off.
    @inlinable
    var sizes: UnsafeBufferPointer<Int> {
        isValid ? UnsafeBufferPointer(start: storage, count: count) : UnsafeBufferPointer(start: nil, count: 0)
    }

    /// Holds a place for a sub-message's size before its own sub-messages are recorded.
    @inlinable
    mutating func reserveSlot() -> Int {
        guard isEnabled else { return -1 }
        if count == capacity { grow() }
        count += 1
        return count - 1
    }

    @usableFromInline @inline(never) @_effects(releasenone)
    mutating func grow() {
        let newCapacity = max(64, capacity * 2)
        let newStorage = UnsafeMutablePointer<Int>.allocate(capacity: newCapacity)
        if let storage {
            newStorage.moveInitialize(from: storage, count: count)
            storage.deallocate()
        }
        storage = newStorage
        capacity = newCapacity
    }

    @inlinable
    mutating func fill(_ slot: Int, with size: Int) {
        guard slot >= 0 else { return }
        // A conformance that swapped its `inout` cache between reserve and fill must trap, not
        // write through a stale slot.
        precondition(slot < count, "ProtoSizeCache slot out of range")
        storage.unsafelyUnwrapped[slot] = size
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
