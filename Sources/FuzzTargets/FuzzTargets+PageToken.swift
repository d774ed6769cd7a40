import Entitlement
import EntitlementAPI

extension FuzzTargets {
    /// The page-token key, package and states the fuzz target's codec uses (the seed tokens in
    /// `FuzzTesting/Corpus/FuzzPageToken/` are issued for them: see `FuzzTesting/make-corpus`).
    static let pageTokenKey: [UInt8] = Array(0..<32)
    static let pageTokenPackage = "ap-fuzz"
    static let pageTokenStates: [RequestState] = [.deliveryFailed, .partiallyDelivered]
    private static let pageTokenCodec = PageTokenCodec(key: pageTokenKey)

    /// Decodes the bytes (as UTF-8, repaired) as a page token; one that decodes must re-encode to
    /// the same text. Then issues a token for a cursor made of the bytes, which must decode back to
    /// that cursor for its own package and states and be refused for others. True when the bytes
    /// decoded as a token.
    @discardableResult
    public static func pageToken(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let codec = pageTokenCodec
        let token = String(decoding: bytes, as: UTF8.self)
        var accepted = false
        do throws(PageTokenError) {
            let cursor = try codec.decode(token, accessPackageId: pageTokenPackage, states: pageTokenStates)
            let reissued = codec.encode(after: cursor, accessPackageId: pageTokenPackage, states: pageTokenStates)
            precondition(reissued == token, "a decoded page token re-encodes differently")
            accepted = true
        } catch {}

        var seconds: UInt64 = 0
        var nanos: UInt32 = 0
        for byte in bytes.prefix(8) { seconds = seconds << 8 | UInt64(byte) }
        for byte in bytes.dropFirst(8).prefix(4) { nanos = nanos << 8 | UInt32(byte) }
        let cursor = ListingKey(
            createdSeconds: Int64(bitPattern: seconds),
            createdNanos: Int32(bitPattern: nanos),
            id: String(decoding: bytes.dropFirst(12), as: UTF8.self)
        )
        let issued = codec.encode(after: cursor, accessPackageId: pageTokenPackage, states: pageTokenStates)
        if issued.utf8.count <= 4_096 {  // the codec refuses longer tokens outright
            let decoded = try? codec.decode(issued, accessPackageId: pageTokenPackage, states: pageTokenStates)
            precondition(decoded == cursor, "an issued page token does not decode to its cursor")
            let elsewhere = try? codec.decode(issued, accessPackageId: pageTokenPackage + "x", states: pageTokenStates)
            precondition(elsewhere == nil, "a page token was accepted for another access package")
        }
        return accepted
    }
}
