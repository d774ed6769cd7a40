import RPCCore

/// The zlib streams of one connection, one per algorithm, made on first use and reused for every
/// message after (setting up a stream costs hundreds of KiB and microseconds; resetting is cheap).
/// Lives on the connection's event loop.
struct ConnectionCompressors {
    private var deflaters: [Deflater] = []
    private var inflaters: [Inflater] = []

    mutating func deflater(for algorithm: CompressionAlgorithm) throws(CompressionError) -> Deflater {
        if let existing = deflaters.first(where: { $0.format == algorithm }) { return existing }
        let made = try Deflater(format: algorithm)
        deflaters.append(made)
        return made
    }

    mutating func inflater(for algorithm: CompressionAlgorithm) throws(CompressionError) -> Inflater {
        if let existing = inflaters.first(where: { $0.format == algorithm }) { return existing }
        let made = try Inflater(format: algorithm)
        inflaters.append(made)
        return made
    }
}
