import CNGHTTP2

/// Header fields to submit, packed into one byte buffer. nghttp2 copies names and values on
/// submit, so a list can be built once and submitted many times (see `ResponseHeaders`).
struct HeaderList: Sendable {
    private var bytes: [UInt8] = []
    private var fields: [Field] = []

    private struct Field: Sendable {
        var nameStart: Int
        var nameCount: Int
        var valueStart: Int
        var valueCount: Int
    }

    init() {}

    /// A list with room for `capacity` fields of `bytes` bytes in all, so building it does not
    /// grow its buffers field by field.
    init(capacity: Int, bytes: Int) {
        fields.reserveCapacity(capacity)
        self.bytes.reserveCapacity(bytes)
    }

    mutating func add(_ name: String, _ value: String) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: value.utf8)
        fields.append(Field(nameStart: nameStart, nameCount: valueStart - nameStart, valueStart: valueStart, valueCount: bytes.count - valueStart))
    }

    var isEmpty: Bool { fields.isEmpty }

    func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        bytes.withUnsafeBufferPointer { raw in
            // nghttp2_nv wants mutable pointers but only reads (it copies on submit).
            let base = UnsafeMutablePointer(mutating: raw.baseAddress ?? UnsafePointer(bitPattern: 1)!)
            return withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: fields.count) { nva in
                for (i, f) in fields.enumerated() {
                    nva.initializeElement(
                        at: i,
                        to: nghttp2_nv(
                            name: base + f.nameStart, value: base + f.valueStart, namelen: f.nameCount,
                            valuelen: f.valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                }
                return body(UnsafePointer(nva.baseAddress!), fields.count)
            }
        }
    }
}
