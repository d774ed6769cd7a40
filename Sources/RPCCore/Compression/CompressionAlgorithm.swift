/// Message compression a gRPC peer may use (`grpc-encoding`).
public enum CompressionAlgorithm: String, Sendable, Hashable, CaseIterable {
    case identity
    case gzip
    case deflate

    /// The `grpc-accept-encoding` value this implementation advertises.
    public static let acceptEncodingHeader = "identity,gzip,deflate"

    /// Picks the response encoding from a caller's `grpc-accept-encoding` list: gzip, then deflate,
    /// never one the caller did not list.
    public static func preferred(fromAcceptEncoding header: String?) -> CompressionAlgorithm {
        guard let header else { return .identity }
        var listed = Set<String>()
        for part in header.split(separator: ",") {
            listed.insert(part.trimmingSpaces().lowercased())
        }
        if listed.contains("gzip") { return .gzip }
        if listed.contains("deflate") { return .deflate }
        return .identity
    }

    /// The preferred of two picks: a header repeated is one comma-joined list (RFC 9110 §5.3).
    public static func preferred(_ a: CompressionAlgorithm, _ b: CompressionAlgorithm) -> CompressionAlgorithm {
        if a == .gzip || b == .gzip { return .gzip }
        if a == .deflate || b == .deflate { return .deflate }
        return .identity
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional white space).
    public func trimmingSpaces() -> Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return s
    }
}
