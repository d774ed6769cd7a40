/// The stream ids a client opened lately, to tell a HEADERS on an id it skipped from one on an id
/// it used. Opening a stream closes every idle one below it (RFC 9113 §5.1.1), so HEADERS on a
/// skipped id is a connection error (PROTOCOL_ERROR); nghttp2 ignores it silently because it
/// cannot tell it from trailers on a stream it reset, which a client may still send. Ids more
/// than 64 streams back are not known and left to nghttp2.
struct PeerStreamIDs {
    private(set) var highest: Int32 = 0
    /// Bit i: stream `highest - 2 (i + 1)` was opened.
    private var opened: UInt64 = 0

    /// Records a HEADERS frame on `id`; false if `id` is one the client skipped.
    mutating func headersBegin(on id: Int32) -> Bool {
        // Even and zero ids are nghttp2's to refuse.
        guard id > 0, id & 1 == 1 else { return true }
        if id > highest {
            let shift = Int((id - highest) / 2)
            // Smart shifts: past 63 the window empties, and `highest` 0 was no stream.
            opened = highest == 0 ? 0 : (opened << shift) | ((1 as UInt64) << (shift - 1))
            highest = id
            return true
        }
        let back = Int((highest - id) / 2)
        guard back > 0, back <= 64 else { return true }
        return opened & ((1 as UInt64) << (back - 1)) != 0
    }
}
