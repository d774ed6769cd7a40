import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Request header names the server acts on, recognised from the raw HPACK bytes so that the
/// common headers never become `String`s.
enum RequestHeader {
    case method, path, contentType, encoding, acceptEncoding, timeout, authorization
    /// Transport headers with no meaning to a call (`te`, `:scheme`, `user-agent`, …).
    case ignored
    /// Anything else: call metadata.
    case custom

    private static let known: [(StaticString, RequestHeader)] = [
        (":method", .method), (":path", .path), ("content-type", .contentType), ("grpc-encoding", .encoding),
        ("grpc-accept-encoding", .acceptEncoding), ("grpc-timeout", .timeout), ("authorization", .authorization),
        (":scheme", .ignored), (":authority", .ignored), ("te", .ignored), ("user-agent", .ignored),
        ("content-length", .ignored), ("grpc-message-type", .ignored),
    ]

    init(name: UnsafeRawBufferPointer) {
        for (candidate, header) in Self.known where Self.equal(name, candidate) {
            self = header
            return
        }
        self = .custom
    }

    static func equal(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && (bytes.count == 0 || memcmp(bytes.baseAddress!, text.utf8Start, bytes.count) == 0)
    }
}

/// The request's content-type, judged from its bytes: the two spellings gRPC clients send are
/// recognised without building a string; anything else takes the slow, exact path.
enum ContentTypeCheck {
    case missing
    case grpc
    case other(String)

    init(value: UnsafeRawBufferPointer) {
        if RequestHeader.equal(value, "application/grpc") || RequestHeader.equal(value, "application/grpc+proto") {
            self = .grpc
            return
        }
        let text = String(decoding: value, as: UTF8.self)
        // Parameters (`; charset=…`) and case do not change the media type.
        let base = text.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingSpaces().lowercased()
        } ?? ""
        self = base == "application/grpc" || base == "application/grpc+proto" ? .grpc : .other(text)
    }
}

/// The last value a connection's peer sent for one header, and what the connection made of it.
/// Clients repeat the same `:path`, `authorization` and `grpc-accept-encoding` on every call of a
/// connection; a repeat then costs one byte comparison instead of an allocation, a copy, UTF-8
/// validation (a bearer token is ~0.5 KB) and whatever parsing follows.
struct RepeatedHeaderValue<Meaning> {
    /// Longer values are converted every time rather than kept.
    static var maxKeptBytes: Int { 8 * 1024 }

    private var last: (text: String, meaning: Meaning)?

    /// `interpret` runs only when the value differs from the last one.
    mutating func meaning(of value: UnsafeRawBufferPointer, _ interpret: (String) -> Meaning) -> Meaning {
        if let last, Self.equal(last.text, value) { return last.meaning }
        let text = String(decoding: value, as: UTF8.self)
        let meaning = interpret(text)
        last = value.count <= Self.maxKeptBytes ? (text, meaning) : nil
        return meaning
    }

    /// Compares the string's UTF-8 with the bytes. A value that was not valid UTF-8 was repaired
    /// on the way in and never matches, so it is converted (and repaired) again: no false hits.
    private static func equal(_ text: String, _ value: UnsafeRawBufferPointer) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { utf8 in
            utf8.count == value.count && (value.count == 0 || memcmp(utf8.baseAddress!, value.baseAddress!, value.count) == 0)
        } ?? false
    }
}

extension RepeatedHeaderValue where Meaning == String {
    /// The value as text.
    mutating func string(for value: UnsafeRawBufferPointer) -> String { meaning(of: value) { $0 } }
}
