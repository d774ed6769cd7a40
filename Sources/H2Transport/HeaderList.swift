import CNGHTTP2

/// Header fields to submit, packed into one byte buffer so building the `nghttp2_nv` array costs one
/// allocation. nghttp2 copies names and values on submit.
struct HeaderList {
    private var bytes: [UInt8] = []
    private var fields: [(nameStart: Int, nameCount: Int, valueStart: Int, valueCount: Int)] = []

    init() {
        bytes.reserveCapacity(256)
    }

    mutating func add(_ name: String, _ value: String) {
        let nameStart = bytes.count
        bytes.append(contentsOf: name.utf8)
        let valueStart = bytes.count
        bytes.append(contentsOf: value.utf8)
        fields.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
    }

    var isEmpty: Bool { fields.isEmpty }

    func withNV<R>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> R) -> R {
        var copy = bytes
        return copy.withUnsafeMutableBufferPointer { raw in
            let base = raw.baseAddress ?? UnsafeMutablePointer<UInt8>.allocate(capacity: 0)
            let nva = fields.map { f in
                nghttp2_nv(
                    name: base + f.nameStart, value: base + f.valueStart,
                    namelen: f.nameCount, valuelen: f.valueCount,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }
}
