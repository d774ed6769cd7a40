import Crypto
public import EntitlementAPI
public import RPCCore
import Synchronization

/// Signs and checks ListRequests page tokens. A token carries the last listed key plus a binding
/// to the access package and state filter, HMAC-SHA256-signed with a key kept in the data dir.
public struct PageTokenCodec: Sendable {
    private static let version: UInt8 = 1
    private static let bindingSize = 16
    private static let macSize = 32
    private static let fixedSize = 1 + bindingSize + 8 + 4
    /// The longest token `decode` reads (longer ones are refused undecoded): one for a request id
    /// of 3,011 bytes, base64 without padding. Imports take ids up to `Fixture.maxIdBytes` (a test
    /// checks their tokens fit), but ids this long were stored before that cap, and paging past
    /// them must keep working.
    public static let maxTokenLength = 4_096

    private let mac: TokenMAC
    private let bindings = BindingMemo()

    /// A codec with the given 32-byte key.
    public init(key: [UInt8]) {
        precondition(key.count == 32, "a page-token key is 32 bytes")
        mac = TokenMAC(key: key)
    }

    /// An opaque token that resumes the listing after `cursor`, for this package and states.
    public func encode(after cursor: ListingKey, accessPackageId: String, states: [RequestState]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.fixedSize + cursor.id.utf8.count + Self.macSize)
        bytes.append(Self.version)
        bytes += bindings.binding(accessPackageId: accessPackageId, states: states)
        Self.appendBigEndian(UInt64(bitPattern: cursor.createdSeconds), width: 8, to: &bytes)
        Self.appendBigEndian(UInt64(UInt32(bitPattern: cursor.createdNanos)), width: 4, to: &bytes)
        bytes += cursor.id.utf8
        let code = bytes.withUnsafeBytes { mac.code(for: $0) }
        code.withUnsafeBytes { bytes.append(contentsOf: $0) }
        return Base64.encodeURL(bytes)
    }

    /// The cursor a token carries, if it is genuine and was issued for this package and states.
    public func decode(_ token: String, accessPackageId: String, states: [RequestState]) throws(PageTokenError)
        -> ListingKey
    {
        guard token.utf8.count <= Self.maxTokenLength, let bytes = Base64.decode(token),
            bytes.count >= Self.fixedSize + Self.macSize, bytes[0] == Self.version,
            Base64.encodeURL(bytes) == token  // one spelling per token: no padding, no stray bits
        else { throw .malformed }
        let body = bytes[..<(bytes.count - Self.macSize)]
        let valid = bytes.withUnsafeBytes { raw in
            mac.isValid(
                UnsafeRawBufferPointer(rebasing: raw[(raw.count - Self.macSize)...]),
                for: UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - Self.macSize)]))
        }
        guard valid else { throw .tampered }
        let expected = bindings.binding(accessPackageId: accessPackageId, states: states)
        guard body[1..<(1 + Self.bindingSize)].elementsEqual(expected) else { throw .mismatched }
        var offset = 1 + Self.bindingSize
        let seconds = Int64(bitPattern: Self.readBigEndian(body, at: &offset, width: 8))
        let nanos = Int32(bitPattern: UInt32(truncatingIfNeeded: Self.readBigEndian(body, at: &offset, width: 4)))
        guard let id = String(validating: body[offset...], as: UTF8.self) else { throw .malformed }
        return ListingKey(createdSeconds: seconds, createdNanos: nanos, id: id)
    }

    /// The package id and the sorted, de-duplicated states, hashed (SHA-256 of their
    /// concatenation, first 16 bytes); stored so reuse is told apart from tampering.
    fileprivate static func binding(accessPackageId: String, states: [RequestState]) -> [UInt8] {
        var hash = SHA256()
        var packageId = accessPackageId
        packageId.withUTF8 { hash.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        var suffix: [UInt8] = [0]
        var previous: Int32?
        for raw in states.map(\.rawValue).sorted() where raw != previous {
            appendBigEndian(UInt64(UInt32(bitPattern: raw)), width: 4, to: &suffix)
            previous = raw
        }
        suffix.withUnsafeBytes { hash.update(bufferPointer: $0) }
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

/// The bindings of the (package, states) pairs listed lately: a page of one spent 2% of its call
/// hashing the same pair again (swift-crypto allocates a digest context per hash). Bounded: past
/// `capacity` pairs it starts over, and pairs larger than any real one (an id of a caller's
/// choosing can be megabytes) are hashed, not kept.
private final class BindingMemo: Sendable {
    static let capacity = 1_024
    static let maxKeptIdBytes = 256
    static let maxKeptStates = 16

    /// By bytes: a binding hashes the id's bytes, so another spelling of it must not share one.
    private struct Key: Hashable {
        var accessPackageId: ExactString
        var states: [RequestState]
    }

    private let entries = Mutex<[Key: [UInt8]]>([:])

    func binding(accessPackageId: String, states: [RequestState]) -> [UInt8] {
        guard accessPackageId.utf8.count <= Self.maxKeptIdBytes, states.count <= Self.maxKeptStates else {
            return PageTokenCodec.binding(accessPackageId: accessPackageId, states: states)
        }
        let key = Key(accessPackageId: ExactString(accessPackageId), states: states)
        if let known = entries.withLock({ $0[key] }) { return known }
        let binding = PageTokenCodec.binding(accessPackageId: accessPackageId, states: states)
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = binding
        }
        return binding
    }
}

/// HMAC-SHA256 (RFC 2104) with both keyed digest states made once: each token copies them and
/// hashes its bytes. swift-crypto's `HMAC<SHA256>` is generic over `DataProtocol` and not
/// specialized here; on a page of one its dispatch cost more than the hashing (a golden test checks
/// the codes match `HMAC<SHA256>`'s).
private struct TokenMAC: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    init(key: [UInt8]) {
        precondition(key.count <= 64, "an HMAC-SHA256 key longer than the block is hashed first; page-token keys are 32 bytes")
        let block = key + [UInt8](repeating: 0, count: 64 - key.count)
        var inner = SHA256()
        var outer = SHA256()
        block.map { $0 ^ 0x36 }.withUnsafeBytes { inner.update(bufferPointer: $0) }
        block.map { $0 ^ 0x5C }.withUnsafeBytes { outer.update(bufferPointer: $0) }
        self.inner = inner
        self.outer = outer
    }

    func code(for message: UnsafeRawBufferPointer) -> SHA256Digest {
        var inner = inner
        inner.update(bufferPointer: message)
        var outer = outer
        inner.finalize().withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize()
    }

    /// Whether `code` is the code of `message`, compared in constant time.
    func isValid(_ code: UnsafeRawBufferPointer, for message: UnsafeRawBufferPointer) -> Bool {
        guard code.count == SHA256.byteCount else { return false }
        return self.code(for: message).withUnsafeBytes { expected in
            var difference: UInt8 = 0
            for i in 0..<expected.count { difference |= expected[i] ^ code[i] }
            return difference == 0
        }
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
            RPCError(
                code: .invalidArgument,
                message: "page_token was tampered with, or issued by another server (another data dir or store): "
                    + "its signature does not match; list again from the first page")
        case .mismatched:
            RPCError(
                code: .invalidArgument,
                message: "page_token was issued for a different access_package_id or states; "
                    + "repeat the first call's access_package_id and states, or start without a page_token"
            )
        }
    }
}
