import Entitlement
import EntitlementAPI
import EntitlementAuth
import RPCCore
import Testing

/// The eight roles of CONTRACT §3. Catalog roles are held in `cat-a` (package `ap-a`); `ap-b` in
/// `cat-b` is out of their scope.
enum Role: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case globalAdministrator, identityGovernanceAdministrator, userAdministrator, globalReader
    case owner, reader, accessPackageManager, accessPackageAssignmentManager

    var testDescription: String { rawValue }
    var principalId: String { "oid-\(rawValue)" }

    var directoryRole: DirectoryRole? {
        switch self {
        case .globalAdministrator: .globalAdministrator
        case .identityGovernanceAdministrator: .identityGovernanceAdministrator
        case .userAdministrator: .userAdministrator
        case .globalReader: .globalReader
        default: nil
        }
    }

    var catalogRole: CatalogRole? {
        switch self {
        case .owner: .owner
        case .reader: .reader
        case .accessPackageManager: .accessPackageManager
        case .accessPackageAssignmentManager: .accessPackageAssignmentManager
        default: nil
        }
    }

    static var directory: FakeRoleDirectory {
        var directory = FakeRoleDirectory()
        for role in allCases {
            if let catalogRole = role.catalogRole { directory.assignments[role.principalId] = ["cat-a": [catalogRole]] }
        }
        return directory
    }

    func authorization() async throws -> String {
        var claims = TestClaims()
        claims.oid = principalId
        claims.wids = directoryRole.map { [$0.templateId] }
        return "Bearer \(try await Mint.rs256(claims))"
    }
}

enum Scope: String, Sendable { case inScope = "ap-a", outOfScope = "ap-b" }

@Suite("AuthorizationInterceptor")
struct AuthorizationInterceptorTests {
    // role                              action         package      expected
    static let matrix: [(Role, Action, Scope, RPCError.Code)] = [
        (.globalAdministrator,             .listRequests, .inScope,    .ok),
        (.globalAdministrator,             .listRequests, .outOfScope, .ok),
        (.globalAdministrator,             .reprocess,    .inScope,    .ok),
        (.globalAdministrator,             .reprocess,    .outOfScope, .ok),
        (.identityGovernanceAdministrator, .listRequests, .inScope,    .ok),
        (.identityGovernanceAdministrator, .listRequests, .outOfScope, .ok),
        (.identityGovernanceAdministrator, .reprocess,    .inScope,    .ok),
        (.identityGovernanceAdministrator, .reprocess,    .outOfScope, .ok),
        (.userAdministrator,               .listRequests, .inScope,    .ok),
        (.userAdministrator,               .listRequests, .outOfScope, .ok),
        (.userAdministrator,               .reprocess,    .inScope,    .ok),
        (.userAdministrator,               .reprocess,    .outOfScope, .ok),
        (.globalReader,                    .listRequests, .inScope,    .ok),
        (.globalReader,                    .listRequests, .outOfScope, .ok),
        (.globalReader,                    .reprocess,    .inScope,    .permissionDenied),
        (.globalReader,                    .reprocess,    .outOfScope, .permissionDenied),
        (.owner,                           .listRequests, .inScope,    .ok),
        (.owner,                           .listRequests, .outOfScope, .permissionDenied),
        (.owner,                           .reprocess,    .inScope,    .ok),
        (.owner,                           .reprocess,    .outOfScope, .permissionDenied),
        (.accessPackageManager,            .listRequests, .inScope,    .ok),
        (.accessPackageManager,            .listRequests, .outOfScope, .permissionDenied),
        (.accessPackageManager,            .reprocess,    .inScope,    .ok),
        (.accessPackageManager,            .reprocess,    .outOfScope, .permissionDenied),
        (.accessPackageAssignmentManager,  .listRequests, .inScope,    .ok),
        (.accessPackageAssignmentManager,  .listRequests, .outOfScope, .permissionDenied),
        (.accessPackageAssignmentManager,  .reprocess,    .inScope,    .ok),
        (.accessPackageAssignmentManager,  .reprocess,    .outOfScope, .permissionDenied),
        (.reader,                          .listRequests, .inScope,    .ok),
        (.reader,                          .listRequests, .outOfScope, .permissionDenied),
        (.reader,                          .reprocess,    .inScope,    .permissionDenied),
        (.reader,                          .reprocess,    .outOfScope, .permissionDenied),
    ]

    @Test("the permission matrix of CONTRACT §3", arguments: matrix)
    func matrixRow(role: Role, action: Action, scope: Scope, expected: RPCError.Code) async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let authorization = try await role.authorization()

        let code = await status { try await harness.call(action, scope.rawValue, authorization: authorization) }

        #expect(code == expected)
        if expected == .ok {
            let method = action == .listRequests ? AccessPackageRequestsMethods.listRequests : AccessPackageRequestsMethods.reprocess
            let caller = Caller(objectId: role.principalId, directoryRoleIds: Set(role.directoryRole.map { [$0.templateId] } ?? []))
            #expect(harness.handledCalls == [.init(method: method, caller: caller)])
        } else {
            #expect(harness.handledCalls.isEmpty)
        }
        #expect(harness.auditor.entries.count == (action == .reprocess && expected != .ok ? 1 : 0))
    }

    @Test("every row of the matrix is covered once")
    func matrixIsComplete() {
        let rows = Set(Self.matrix.map { "\($0.0)/\($0.1)/\($0.2)" })
        #expect(rows.count == Role.allCases.count * Action.allCases.count * 2)
        #expect(rows.count == Self.matrix.count)
    }

    @Test("an unknown package is NOT_FOUND (from the handler) for tenant-wide roles, PERMISSION_DENIED for catalog-scoped ones")
    func unknownPackage() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        for role in [Role.globalAdministrator, .owner] {
            let authorization = try await role.authorization()
            let list = await status { try await harness.list("ap-missing", authorization: authorization) }
            let reprocess = await status { try await harness.reprocess("ap-missing", authorization: authorization) }
            let expected: RPCError.Code = role == .owner ? .permissionDenied : .notFound
            #expect(list == expected, "\(role)")
            #expect(reprocess == expected, "\(role)")
        }
    }

    @Test("unknown and out-of-scope packages get the same answer, so existence is not revealed")
    func sameAnswerForUnknownAndOutOfScope() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let authorization = try await Role.owner.authorization()
        var messages: [String] = []
        for package in ["ap-b", "ap-missing"] {
            let error = await #expect(throws: RPCError.self) { try await harness.list(package, authorization: authorization) }
            messages.append(error?.message.replacingOccurrences(of: package, with: "<id>") ?? "")
        }
        #expect(messages[0] == messages[1])
        #expect(messages[0].contains("OWNER"))
        #expect(messages[0].contains("'cat-a'"))
        #expect(!messages[0].contains("cat-b"))
    }

    @Test("what only the server's log may say (the package's real catalog, or that there is none) rides on the refusal as its cause")
    func refusalDetailIsTheCause() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let authorization = try await Role.owner.authorization()
        let outOfScope = await #expect(throws: RPCError.self) { try await harness.list("ap-b", authorization: authorization) }
        #expect(outOfScope.map { "\($0.cause.map(String.init(describing:)) ?? "")" } == "the package is in catalog 'cat-b'")
        let missing = await #expect(throws: RPCError.self) { try await harness.list("ap-missing", authorization: authorization) }
        #expect(missing.map { "\($0.cause.map(String.init(describing:)) ?? "")" } == "no such access package")
        #expect(outOfScope?.message.contains("cat-b") == false)
    }

    @Test("a catalog-scoped caller with an empty access_package_id gets INVALID_ARGUMENT")
    func emptyPackageId() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let code = await status { try await harness.reprocess("", authorization: try await Role.owner.authorization()) }
        #expect(code == .invalidArgument)
        #expect(harness.handledCalls.isEmpty)
        #expect(harness.auditor.entries.map(\.decision) == ["rejected"], "invalid, not a denial of permission")
    }

    @Test("a caller with no role at all is denied, naming the roles that would allow it")
    func noRole() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        var claims = TestClaims()
        claims.oid = "oid-nobody"
        let authorization = "Bearer \(try await Mint.rs256(claims))"
        let error = await #expect(throws: RPCError.self) { try await harness.reprocess("ap-a", authorization: authorization) }
        #expect(error?.code == .permissionDenied)
        #expect(error?.message.contains("Identity Governance Administrator") == true)
        #expect(error?.message.contains("ACCESS_PACKAGE_ASSIGNMENT_MANAGER") == true)
        #expect(error?.message.contains("READER") == false)
    }

    @Test("every bad token is UNAUTHENTICATED and the handler is not called", arguments: BadToken.allCases)
    func badTokensNeverReachTheHandler(_ bad: BadToken) async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let authorization = try await bad.authorization()

        let list = await status { try await harness.list("ap-a", authorization: authorization) }
        let reprocess = await status { try await harness.reprocess("ap-a", ids: ["req-1", "req-2"], authorization: authorization) }

        #expect(list == .unauthenticated)
        #expect(reprocess == .unauthenticated)
        #expect(harness.handledCalls.isEmpty)
        let audited = try #require(harness.auditor.entries.first)
        #expect(harness.auditor.entries.count == 1)
        #expect(audited.callerId == nil)
        #expect(audited.accessPackageId == "ap-a")
        #expect(audited.requestIds == ["req-1", "req-2"])
        #expect(audited.reason.hasPrefix("UNAUTHENTICATED"))
    }

    @Test("a denied Reprocess reaches the auditor with the caller, package, ids and reason")
    func deniedReprocessIsAudited() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let code = await status {
            try await harness.reprocess("ap-b", ids: ["req-7", "req-8"], authorization: try await Role.owner.authorization())
        }
        #expect(code == .permissionDenied)
        let entry = try #require(harness.auditor.entries.first)
        #expect(entry.callerId == Role.owner.principalId)
        #expect(entry.accessPackageId == "ap-b")
        #expect(entry.requestIds == ["req-7", "req-8"])
        #expect(entry.reason.hasPrefix("PERMISSION_DENIED"))
        // The audit (operator-facing) says where the package really is.
        #expect(entry.reason.contains("cat-b"))
    }

    @Test("health checks need no token")
    func healthNeedsNoToken() async throws {
        let harness = try await InterceptorHarness()
        let code = await status {
            try await harness.call(HealthMethods.check, HealthCheckRequest().serializedBytes(), authorization: nil)
        }
        #expect(code == .ok)
        #expect(harness.handledCalls == [.init(method: HealthMethods.check, caller: nil)])
        // Open services are not intercepted at all (the transport may answer them immediately);
        // everything else is, including methods it does not know.
        #expect(!harness.interceptor.intercepts(HealthMethods.check))
        #expect(!harness.interceptor.intercepts(ServerReflectionMethods.serverReflectionInfo))
        #expect(harness.interceptor.intercepts(AccessPackageRequestsMethods.listRequests))
        #expect(harness.interceptor.intercepts(AccessPackageRequestsMethods.reprocess))
        #expect(harness.interceptor.intercepts(InterceptorHarness.unknownMethod))
    }

    @Test("an unmapped method is authenticated, then passed on with the caller")
    func unmappedMethod() async throws {
        let harness = try await InterceptorHarness()
        let bytes = ListRequestsRequest().serializedBytes()
        let refused = await status { try await harness.call(InterceptorHarness.unknownMethod, bytes, authorization: nil) }
        #expect(refused == .unauthenticated)

        let authorization = "Bearer \(try await Mint.rs256())"
        let allowed = await status { try await harness.call(InterceptorHarness.unknownMethod, bytes, authorization: authorization) }
        #expect(allowed == .ok)
        #expect(harness.handledCalls.map(\.caller?.objectId) == ["oid-1"])
    }

    @Test("a caller with no role granting Reprocess sending an undecodable one is denied, not rejected")
    func undecodableFromNoRole() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let code = await status {
            try await harness.call(AccessPackageRequestsMethods.reprocess, [0x0A, 0xFF], authorization: try await Role.globalReader.authorization())
        }
        #expect(code == .permissionDenied)
        #expect(harness.auditor.entries.map(\.decision) == ["denied"])
    }

    @Test("a catalog-scoped caller's undecodable message is INVALID_ARGUMENT, not a crash")
    func undecodableMessage() async throws {
        let harness = try await InterceptorHarness(directory: Role.directory)
        let code = await status {
            try await harness.call(AccessPackageRequestsMethods.reprocess, [0x0A, 0xFF], authorization: try await Role.owner.authorization())
        }
        #expect(code == .invalidArgument)
        #expect(harness.handledCalls.isEmpty)
        #expect(harness.auditor.entries.map(\.decision) == ["rejected"])
        #expect(harness.auditor.entries.first?.callerId != nil)
    }
}
