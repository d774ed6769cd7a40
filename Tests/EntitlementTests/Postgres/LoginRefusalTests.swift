@testable import EntitlementPostgres
import PostgresNIO
import Testing

/// Which answers to the start-up login end start-up at once, and which are waited out.
@Suite struct LoginRefusalTests {
    @Test(arguments: ["28P01", "28000", "3D000", "42501"])
    func credentialsDatabaseAndPermissionRefusalsAreFinal(sqlState: String) {
        #expect(PostgresRequestStore.loginRefusal(sqlState: sqlState))
    }

    /// A database restarting with its replicas (no start order in a cluster) says so for a while.
    @Test(arguments: ["57P03", "53300", "08006", "57P01"])
    func aServerNotReadyYetIsTriedAgain(sqlState: String) {
        #expect(!PostgresRequestStore.loginRefusal(sqlState: sqlState))
    }

    /// How the URL asks to connect, which no retry changes, ends start-up at once too.
    @Test func aURLThatCannotWorkIsFinal() {
        #expect(PostgresRequestStore.loginRefusal(code: .authMechanismRequiresPassword))
        #expect(PostgresRequestStore.loginRefusal(code: .sslUnsupported))
        #expect(!PostgresRequestStore.loginRefusal(code: .connectionError))
    }

    @Test func noAnswerAtAllIsTriedAgain() {
        #expect(!PostgresRequestStore.loginRefusal(sqlState: nil))
    }
}
