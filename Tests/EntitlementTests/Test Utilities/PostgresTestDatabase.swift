import Entitlement
import EntitlementPostgres
import Foundation
import Logging
import PostgresNIO

/// A database of its own for one test, on the server `ENTITLEMENT_TEST_POSTGRES` names (a
/// superuser URL), created before the test and dropped after it.
enum PostgresTestDatabase {
    static var serverURL: PostgresStoreURL? {
        ProcessInfo.processInfo.environment["ENTITLEMENT_TEST_POSTGRES"].flatMap { try? PostgresStoreURL($0) }
    }

    static func with<T>(_ body: (PostgresStoreURL) async throws -> T) async throws -> T {
        guard let server = serverURL else { throw TestDatabaseError("ENTITLEMENT_TEST_POSTGRES is not set") }
        let name = "entitlement_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await admin(server, "CREATE DATABASE \(name)")
        var url = server
        url.database = name
        do {
            let result = try await body(url)
            try await admin(server, "DROP DATABASE \(name) WITH (FORCE)")
            return result
        } catch {
            try? await admin(server, "DROP DATABASE \(name) WITH (FORCE)")
            throw error
        }
    }

    private static func admin(_ url: PostgresStoreURL, _ sql: String) async throws {
        try await withConnection(url) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }
    }

    static let logger = Logger(label: "test-admin")

    /// A connection of the test's own to `url`'s database (as an operator's `psql` session).
    @discardableResult
    static func withConnection<T>(_ url: PostgresStoreURL, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
            tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The first column of the first row `query` gives, as an integer.
    static func count(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Int64 {
        try await connection.query(query, logger: logger).decode(Int64.self).first { _ in true } ?? -1
    }
}

struct TestDatabaseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
