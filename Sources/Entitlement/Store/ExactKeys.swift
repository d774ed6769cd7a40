import Foundation  // memcmp

/// Ids are opaque byte strings, as protobuf, SQLite and PostgreSQL see them, but Swift compares
/// strings by canonical equivalence: "é" precomposed equals "e" + U+0301, and U+212A KELVIN SIGN
/// equals "K". A caller must not reach another id's entry (its request, its package, its catalog
/// roles) by spelling that id with other code points, so lookups of what a caller sends go
/// through these.
extension Dictionary where Key == String {
    /// The value stored under exactly `key`'s bytes; nil when there is none, or only the same
    /// text in another spelling.
    package subscript(exactly key: String) -> Value? {
        guard let index = index(forKey: key), self[index].key.hasSameBytes(as: key) else { return nil }
        return self[index].value
    }

    /// The stored key that is the same text as `key` spelled with other code points (another
    /// Unicode normalization form); nil when `key` is stored as it is, or not at all.
    package func respelling(of key: String) -> String? {
        guard let index = index(forKey: key) else { return nil }
        let stored = self[index].key
        return stored.hasSameBytes(as: key) ? nil : stored
    }
}

/// A string that equals and hashes by its UTF-8 bytes (see above), for sets of caller ids.
package struct ExactString: Hashable, Sendable {
    package let string: String

    package init(_ string: String) { self.string = string }

    package static func == (lhs: ExactString, rhs: ExactString) -> Bool { lhs.string.hasSameBytes(as: rhs.string) }

    package func hash(into hasher: inout Hasher) {
        var string = string  // native strings are contiguous already: no copy
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension String {
    /// Whether both hold the same UTF-8 bytes (Swift's `==` also equates other spellings).
    /// `utf8.elementsEqual` walks the views a byte at a time through their generic iterators: it
    /// was 4% of a Reprocess call. Native and small strings are contiguous, so this is a length
    /// check and one `memcmp`; only bridged strings take the byte walk.
    package func hasSameBytes(as other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let contiguous = utf8.withContiguousStorageIfAvailable { mine in
            other.utf8.withContiguousStorageIfAvailable { theirs in
                mine.isEmpty || memcmp(mine.baseAddress!, theirs.baseAddress!, mine.count) == 0
            }
        }
        if let contiguous, let equal = contiguous { return equal }
        return utf8.elementsEqual(other.utf8)
    }
}
