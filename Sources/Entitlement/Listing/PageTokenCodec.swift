import Crypto
public import EntitlementAPI
public import RPCCore

/// Signs and checks ListRequests page tokens. A token carries the last listed key plus a binding
/// to the access package and state filter, HMAC-SHA256-signed with a key kept in the data dir.
public struct PageTokenCodec: Sendable {
    private static let version: UInt8 = 1
    private static let bindingSize = 16
    private static let macSize = 32
    private static let fixedSize = 1 + bindingSize + 8 + 4

    private let key: SymmetricKey
    /// An HMAC already keyed: each token copies it (the digest state is copy-on-write) instead of
    /// setting the key up again per call.
    private let keyed: HMAC<SHA256>

    /// A codec with the given 32-byte key.
    public init(key: [UInt8]) {
        precondition(key.count == 32, "a page-token key is 32 bytes")
        self.key = SymmetricKey(data: key)
        self.keyed = HMAC<SHA256>(key: self.key)
    }

    /// An opaque token that resumes the listing after `cursor`, for this package and states.
    public func encode(after cursor: ListingKey, accessPackageId: String, states: [RequestState]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.fixedSize + cursor.id.utf8.count + Self.macSize)
        bytes.append(Self.version)
        bytes += Self.binding(accessPackageId: accessPackageId, states: states)
        Self.appendBigEndian(UInt64(bitPattern: cursor.createdSeconds), width: 8, to: &bytes)
        Self.appendBigEndian(UInt64(UInt32(bitPattern: cursor.createdNanos)), width: 4, to: &bytes)
        bytes += cursor.id.utf8
        // Raw buffers in and out: swift-crypto's generic `DataProtocol` paths cost more than the
        // hashing itself on a page of one.
        var mac = keyed
        bytes.withUnsafeBytes { mac.update(data: $0) }
        mac.finalize().withUnsafeBytes { bytes.append(contentsOf: $0) }
        return Base64.encodeURL(bytes)
    }

    /// The cursor a token carries, if it is genuine and was issued for this package and states.
    public func decode(_ token: String, accessPackageId: String, states: [RequestState]) throws(PageTokenError)
        -> ListingKey
    {
        guard token.utf8.count <= 4_096, let bytes = Base64.decode(token),
            bytes.count >= Self.fixedSize + Self.macSize, bytes[0] == Self.version,
            Base64.encodeURL(bytes) == token  // one spelling per token: no padding, no stray bits
        else { throw .malformed }
        let body = bytes[..<(bytes.count - Self.macSize)]
        let mac = bytes[(bytes.count - Self.macSize)...]
        guard HMAC<SHA256>.isValidAuthenticationCode(Array(mac), authenticating: Array(body), using: key) else {
            throw .tampered
        }
        guard Array(body[1..<(1 + Self.bindingSize)]) == Self.binding(accessPackageId: accessPackageId, states: states)
        else { throw .mismatched }
        var offset = 1 + Self.bindingSize
        let seconds = Int64(bitPattern: Self.readBigEndian(body, at: &offset, width: 8))
        let nanos = Int32(bitPattern: UInt32(truncatingIfNeeded: Self.readBigEndian(body, at: &offset, width: 4)))
        guard let id = String(validating: body[offset...], as: UTF8.self) else { throw .malformed }
        return ListingKey(createdSeconds: seconds, createdNanos: nanos, id: id)
    }

    // The package id and the sorted, de-duplicated states, hashed; stored so reuse is told apart
    // from tampering.
    private static func binding(accessPackageId: String, states: [RequestState]) -> [UInt8] {
        var input = Array(accessPackageId.utf8)
        input.append(0)
        var previous: Int32?
        for raw in states.map(\.rawValue).sorted() where raw != previous {
            appendBigEndian(UInt64(UInt32(bitPattern: raw)), width: 4, to: &input)
            previous = raw
        }
        var hash = SHA256()
        input.withUnsafeBytes { hash.update(bufferPointer: $0) }
        return hash.finalize().withUnsafeBytes { Array($0.prefix(bindingSize)) }
    }

    private static func appendBigEndian(_ value: UInt64, width: Int, to bytes: inout [UInt8]) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    private static func readBigEndian(_ bytes: ArraySlice<UInt8>, at offset: inout Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for byte in bytes[offset..<(offset + width)] { value = value << 8 | UInt64(byte) }
        offset += width
        return value
    }
}

/// Why a page token was refused; all map to INVALID_ARGUMENT.
public enum PageTokenError: Error, Sendable, Hashable, RPCErrorConvertible {
    /// Not something this service issued (bad base64, wrong length or version).
    case malformed
    /// The signature does not match: the token was altered.
    case tampered
    /// A genuine token, but issued for another `access_package_id` or `states`.
    case mismatched

    public var rpcError: RPCError {
        switch self {
        case .malformed:
            RPCError(code: .invalidArgument, message: "page_token is malformed: it is not a token this service issued")
        case .tampered:
            RPCError(code: .invalidArgument, message: "page_token was tampered with: its signature does not match")
        case .mismatched:
            RPCError(
                code: .invalidArgument,
                message: "page_token was issued for a different access_package_id or states; "
                    + "repeat the first call's access_package_id and states, or start without a page_token"
            )
        }
    }
}
