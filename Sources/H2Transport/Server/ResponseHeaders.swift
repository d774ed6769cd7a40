import RPCCore

/// The header blocks of a successful response, built once: a call that adds no metadata of its
/// own submits these as they are.
enum ResponseHeaders {
    /// `:status 200`, content-type, `grpc-accept-encoding`, and `grpc-encoding` when compressed.
    static func success(compression: CompressionAlgorithm) -> HeaderList {
        switch compression {
        case .identity: identity
        case .gzip: gzip
        case .deflate: deflate
        }
    }

    /// `grpc-status: 0`.
    static let okTrailers: HeaderList = {
        var trailers = HeaderList()
        trailers.add("grpc-status", "0")
        return trailers
    }()

    private static let identity = make(.identity)
    private static let gzip = make(.gzip)
    private static let deflate = make(.deflate)

    private static func make(_ compression: CompressionAlgorithm) -> HeaderList {
        var headers = HeaderList()
        headers.add(":status", "200")
        headers.add("content-type", "application/grpc")
        if compression != .identity { headers.add("grpc-encoding", compression.rawValue) }
        headers.add("grpc-accept-encoding", CompressionAlgorithm.acceptEncodingHeader)
        return headers
    }
}
