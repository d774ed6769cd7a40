public import Foundation
public import EntitlementPostgres

/// Everything the server needs to start, as given on the command line (CONTRACT §4).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 50051
    public var dataDirectory: String
    /// The shared PostgreSQL store (`--store`); nil: the embedded store in `dataDirectory`.
    public var store: PostgresStoreURL?
    public var importPath: String?
    public var jwksPath: String
    /// The identity provider's JWKS URL (`--jwks-url`): keys from there instead of `jwksPath`.
    public var jwksURL: URL?
    /// How often keys from `jwksURL` are fetched again.
    public var jwksRefreshInterval: Duration = .seconds(600)
    public var issuer: String
    public var audience: String
    public var tenantId: String
    public var reprocessWindowDays = 7
    public var shutdownGraceSeconds = 10
    /// Probability (0...1) that the built-in provisioner fails a grant, for demos.
    public var simulateFailureRate = 0.0
    public var simulateFailureSeed: UInt64 = 0x5EED
    /// How long each grant of the built-in provisioner takes, as a real target system would.
    public var provisioningLatency: Duration = .milliseconds(500)
    /// How long a call may take to send its request body after its headers.
    public var requestBodyTimeout: Duration = .seconds(30)
    /// Worker threads for connections; defaults to the machine's cores.
    public var eventLoopThreads: Int?
    /// Prometheus `/metrics` on this port (same host); nil: no metrics endpoint.
    public var metricsPort: Int?
    /// Open connections past this many are closed at accept.
    public var maxConnections = 10_000
    /// Calls handled at once; past it calls are shed with RESOURCE_EXHAUSTED.
    public var maxConcurrentCalls = 256
    /// With calls open, a keepalive PING after this much silence from the peer; nil: never.
    public var keepaliveInterval: Duration? = .seconds(60)
    /// A peer silent this long after a keepalive PING is dead (connection closed, calls cancelled).
    public var keepaliveTimeout: Duration = .seconds(20)
    /// Connections older than this get a graceful GOAWAY; nil: no limit.
    public var maxConnectionAge: Duration?
    /// How long calls of a connection past its maximum age may still finish.
    public var maxConnectionAgeGrace: Duration = .seconds(30)

    public init(dataDirectory: String, jwksPath: String, issuer: String, audience: String, tenantId: String) {
        self.dataDirectory = dataDirectory
        self.jwksPath = jwksPath
        self.issuer = issuer
        self.audience = audience
        self.tenantId = tenantId
    }
}
