import Foundation
import PostgresNIO

/// `--store postgres://USER[:PASSWORD]@HOST:PORT/DB[?sslmode=disable|prefer|require]`, parsed.
/// User, password and database are percent-decoded; TLS is `prefer` unless `sslmode` says else.
public struct PostgresStoreURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    public enum SSLMode: String, Sendable { case disable, prefer, require }

    /// - Throws: `PostgresStoreURLError` saying what is wrong with the text and what is expected.
    public init(_ text: String) throws(PostgresStoreURLError) {
        let named = ["postgres://", "postgresql://"].contains { text.lowercased().hasPrefix($0) }
        guard let components = URLComponents(string: text) else {
            guard named else { throw PostgresStoreURLError("must start with postgres://") }
            throw PostgresStoreURLError(
                "is not a valid URL: postgres://USER[:PASSWORD]@HOST[:PORT]/DB, PORT in digits, "
                    + "and any of :/@?#% in the user or password percent-encoded")
        }
        guard let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme.lowercased())
        else { throw PostgresStoreURLError("must start with postgres://") }
        guard let host = components.host, !host.isEmpty else { throw PostgresStoreURLError("names no host") }
        guard let user = components.user, !user.isEmpty else { throw PostgresStoreURLError("names no user") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw PostgresStoreURLError("names no database (…/DB)") }
        self.host = host
        self.port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw PostgresStoreURLError("port \(port) is out of range") }
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.sslMode = .prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else { throw PostgresStoreURLError("has an unknown parameter \"\(item.name)\"") }
            guard let mode = item.value.flatMap(SSLMode.init(rawValue:)) else {
                throw PostgresStoreURLError("sslmode must be disable, prefer or require")
            }
            sslMode = mode
        }
    }

    /// The URL without its password, for logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)" }

    /// How long a connection attempt may take, for the pool and single connections alike.
    static let connectTimeoutSeconds: Int64 = 3

    /// The pool's configuration (`maxConnections` at most).
    func clientConfiguration(maxConnections: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.maximumConnections = maxConnections
        configuration.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
        return configuration
    }

    /// A single connection's configuration (the LISTEN connection, the start-up login check),
    /// the same server, credentials and TLS as the pool's.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: try connectionTLS)
        configuration.options.connectTimeout = .seconds(Self.connectTimeoutSeconds)
        return configuration
    }

    private var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    private var connectionTLS: PostgresConnection.Configuration.TLS {
        get throws {
            switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        }
    }
}

/// A `--store` value that is not a usable PostgreSQL URL.
public struct PostgresStoreURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ problem: String) {
        description = "--store \(problem); expected postgres://USER[:PASSWORD]@HOST:PORT/DB"
    }
}
