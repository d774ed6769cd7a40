import ArgumentParser
import H2Transport
import RPCCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Connection and per-call options shared by every subcommand.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Server address, as grpcurl and ghz take it (h2c, prior knowledge).", valueName: "host:port"))
    var target: String?

    @Option(help: "Server host (h2c, prior knowledge); --target sets host and port at once.")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Server port.")
    var port = 50051

    @Option(help: ArgumentHelp("Bearer token for `authorization` (default: $\(tokenVariable)).", valueName: "token"))
    var token: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Deadline of each call in seconds, sent as grpc-timeout (a watch runs until --for instead).", valueName: "seconds"))
    var timeout: Double = 30

    @Option(help: "Request compression: identity, gzip or deflate.")
    var compression: CompressionOption = .identity

    @Flag(
        name: .customLong("no-accept-compression"),
        help: "Do not send grpc-accept-encoding, so responses come uncompressed (as h2load gets them).")
    var noAcceptCompression = false

    static let tokenVariable = "ENTITLEMENT_TOKEN"

    func validate() throws {
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
        if let target { _ = try Self.parseTarget(target) }
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw ValidationError("--timeout must be more than 0 and at most 86400 seconds")
        }
    }

    /// `address` as `--target` takes it: an IPv6 host in brackets.
    var addressText: String {
        let (host, port) = address
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `--target`'s host and port, else `--host` and `--port`.
    var address: (host: String, port: Int) {
        target.flatMap { try? Self.parseTarget($0) } ?? (host, port)
    }

    /// "host:port", "[::1]:port" or ":port" (localhost).
    static func parseTarget(_ text: String) throws(ValidationError) -> (host: String, port: Int) {
        if let scheme = text.range(of: "://") {
            // The authority only: a URL's path, query or fragment is no part of a target.
            var authority = text[scheme.upperBound...].prefix { !"/?#".contains($0) }
            if authority.isEmpty { authority = "host" }
            // A port: digits after the last colon outside an IPv6 literal's brackets.
            let hostEnd = authority.lastIndex(of: "]").map { authority.index(after: $0) } ?? authority.startIndex
            let colon = authority[hostEnd...].lastIndex(of: ":")
            let port = colon.map { authority[authority.index(after: $0)...] } ?? ""
            let host = colon.map { authority[..<$0] } ?? authority
            let suggestion = (host.isEmpty ? "127.0.0.1" : host) + ":" + (!port.isEmpty && port.allSatisfy({ $0.isASCII && $0.isNumber }) ? port : "<port>")
            throw ValidationError(
                "--target is host:port without a scheme (h2c is implied): \"\(suggestion)\", not \"\(text)\"")
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65_535).contains(port)
        else { throw ValidationError("--target must be host:port with a port of 1 to 65535, got \"\(text)\"") }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// The token from `--token`, else from the environment; a leading `Bearer ` and surrounding
    /// whitespace are dropped (a token read from a file or a Kubernetes secret ends in a newline,
    /// which no header may carry: the server would reset the stream).
    var resolvedToken: String? {
        var value = token
        if value == nil, let raw = getenv(Self.tokenVariable) { value = String(cString: raw) }
        guard var value else { return nil }
        value = Self.trimmed(value)
        if value.lowercased().hasPrefix("bearer ") { value = Self.trimmed(String(value.dropFirst("bearer ".count))) }
        return value.isEmpty ? nil : value
    }

    private static func trimmed(_ text: String) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// Options for one call; `authorized` adds the bearer token (health checks need none).
    func callOptions(authorized: Bool) -> CallOptions {
        var metadata = Metadata()
        if authorized, let token = resolvedToken { metadata.addString("Bearer \(token)", forKey: "authorization") }
        return CallOptions(
            timeout: .nanoseconds(Int64((timeout * 1_000_000_000).rounded())),
            metadata: metadata,
            compression: compression.algorithm,
            acceptsCompressedResponses: !noAcceptCompression
        )
    }

    /// Runs `body` with one client connection, closes it, and turns a failed call into
    /// `error: <CODE>: <message>` on stderr and exit status 1.
    func withClient<T>(authorized: Bool, _ body: (GRPCClient) async throws -> T) async throws -> T {
        let client = GRPCClient(host: address.host, port: address.port)
        let result: Result<T, any Error>
        do {
            result = .success(try await body(client))
        } catch {
            result = .failure(error)
        }
        await client.close()
        switch result {
        case .success(let value):
            return value
        case .failure(let error as RPCError):
            reportFailure(error, authorized: authorized)
            throw ExitCode.failure
        case .failure(let error):
            throw error
        }
    }

    /// Prints a failed call the way every subcommand does.
    func reportFailure(_ error: RPCError, authorized: Bool) {
        var line = "error: \(error.code): \(error.message)"
        if authorized, error.code == .unauthenticated, resolvedToken == nil {
            line += " (no token: pass --token or set \(Self.tokenVariable))"
        }
        writeStandardError(line)
    }
}

/// `--output table|json` (and `--json`, its alias) for every subcommand that prints responses.
struct OutputOptions: ParsableArguments {
    @Option(help: "table (text for people) or json (proto3 JSON mapping, one object per line).")
    var output: OutputFormat = .table

    @Flag(help: "Same as --output json.")
    var json = false

    var isJSON: Bool { json || output == .json }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table
    case json
}

/// `--compression` values.
enum CompressionOption: String, ExpressibleByArgument, CaseIterable, Sendable {
    case identity
    case gzip
    case deflate

    var algorithm: CompressionAlgorithm {
        switch self {
        case .identity: .identity
        case .gzip: .gzip
        case .deflate: .deflate
        }
    }
}

/// Writes one line to stderr (unbuffered, so it never interleaves badly with stdout).
func writeStandardError(_ line: String) {
    var text = line
    text.append("\n")
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}
