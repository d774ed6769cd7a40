/// Fields this version of a message does not know, kept byte for byte so they survive a round trip.
public struct UnknownFields: Sendable, Hashable {
    public private(set) var bytes: [UInt8] = []

    @inlinable
    public init() {}

    // Inlinable so encoding code sees they have no side effects (an opaque call here makes the
    // optimizer copy each message it is encoding).
    @inlinable
    public var isEmpty: Bool { bytes.isEmpty }
    @inlinable
    public var count: Int { bytes.count }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }
}
