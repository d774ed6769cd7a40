import Entitlement
import EntitlementAPI
public import RPCCore

/// Authenticates every call but health checks, authorizes ListRequests and Reprocess against
/// `PermissionPolicy`, and passes the verified `Caller` on in the context (`CallerKey`).
///
/// Decision order: a directory role granting the action tenant-wide allows the call (the handler
/// then answers NOT_FOUND for an unknown package); with no role granting it anywhere, the call is
/// denied before the message is read; a caller whose granting roles are only catalog-scoped is
/// allowed only for packages of those catalogs. Unknown and out-of-scope packages get the same
/// PERMISSION_DENIED answer, so a catalog-scoped caller cannot probe which packages exist.
/// Every Reprocess call stopped here goes to the `DeniedReprocessAuditor` and the log.
public struct AuthorizationInterceptor: ServerInterceptor {
    /// The service whose calls need no token.
    public static let healthService = HealthMethods.check.service
    // Both tables below are short lists, not hashed: a call's method descriptor is the registered
    // one, so each comparison is usually of two identical strings, answered without reading them.

    /// Services anyone may call: health checks and server reflection (it describes the API, and
    /// holds no data).
    public static let openServices: [String] = [
        healthService,
        ServerReflectionMethods.serverReflectionInfo.service,
        V1AlphaServerReflectionMethods.serverReflectionInfo.service,
    ]

    private static let actions: [(MethodDescriptor, Action)] = [
        (AccessPackageRequestsMethods.listRequests, .listRequests),
        (AccessPackageRequestsMethods.reprocess, .reprocess),
        // Watching a package's requests shows what listing them does.
        (AccessPackageRequestsMethods.watchRequests, .listRequests),
    ]

    private static func action(for method: MethodDescriptor) -> Action? {
        actions.first { $0.0 == method }?.1
    }

    private let verifier: TokenVerifier
    private let directory: any RoleDirectory
    private let auditor: any DeniedReprocessAuditor

    public init(verifier: TokenVerifier, directory: any RoleDirectory, auditor: any DeniedReprocessAuditor) {
        self.verifier = verifier
        self.directory = directory
        self.auditor = auditor
    }

    /// Open services are handed on untouched, so they may be answered without a task.
    public func intercepts(_ method: MethodDescriptor) -> Bool {
        !Self.openServices.contains(method.service)
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: ServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (ServerRequest<Input>, ServerContext) async throws -> Output
    ) async throws -> Output {
        if Self.openServices.contains(context.method.service) {
            return try await next(request, context)
        }
        // The checks run in a call of their own: an async function's frame lives as long as the
        // function, and this one's lasts the whole call, so it holds only what `next` needs.
        let caller = try await admit(request, context: context)
        var context = context
        context[CallerKey.self] = caller
        return try await next(request, context)
    }

    /// The call's one `authorization` header (nil if none). Refuses several: which one counts
    /// would be a guess, and a proxy may have checked another. Not inlined: the error it builds
    /// would otherwise widen `admit`'s async frame, which every call allocates.
    @inline(never)
    private static func onlyAuthorization(of context: ServerContext) throws(RPCError) -> String? {
        guard !context.authorizationRepeated else {
            throw RPCError(
                code: .unauthenticated, message: "the call carries more than one authorization header; send exactly one")
        }
        return context.authorization
    }

    /// The verified caller, if the token is good and its roles allow the call; otherwise the
    /// refusal is logged (and audited for Reprocess) and thrown.
    @inline(never)
    private func admit<Input: Sendable>(_ request: ServerRequest<Input>, context: ServerContext) async throws(RPCError) -> Caller {
        let action = Self.action(for: context.method)
        let verified: VerifiedToken
        do throws(RPCError) {
            verified = try await verifier.verify(authorization: try Self.onlyAuthorization(of: context))
        } catch {
            await reject(Refusal(error), caller: nil, action: action, request: request, context: context)
            throw error
        }
        let caller = verified.caller
        context.annotations?.callerId = caller.objectId

        if let action {
            do throws(Refusal) {
                if !verified.tenantWideActions.contains(action) {
                    // Roles first: a caller without any is denied (and throttled) whatever it sent.
                    try await authorize(caller, for: action, of: context.method, request: request)
                }
                if action == .reprocess {
                    // A body that does not decode never reaches the handler, which audits the
                    // rest; refuse (and audit) it here.
                    do throws(RPCError) { _ = try request.message } catch { throw Refusal(error) }
                }
            } catch {
                await reject(error, caller: caller, action: action, request: request, context: context)
                throw error.errorForCaller
            }
        }
        return caller
    }

    /// A caller with no directory role granting `action` tenant-wide: its catalog roles decide,
    /// for packages of those catalogs only. Refusals name `method` (WatchRequests takes the
    /// roles of ListRequests, and its caller should read the method it called).
    private func authorize<Input: Sendable>(
        _ caller: Caller,
        for action: Action,
        of method: MethodDescriptor,
        request: ServerRequest<Input>
    ) async throws(Refusal) {
        let called = method.method
        // The package id, if the message decodes, so roles and the package's catalog come from
        // the directory in one lookup; a body that does not decode is judged on roles alone first.
        let scoped = (try? request.message) as? any AccessPackageScoped
        let (held, catalog) = await directory.catalogRoles(
            principalId: caller.objectId, andCatalogOf: scoped?.accessPackageId ?? "")
        let grantingCatalogs = Set(held.filter { PermissionPolicy.catalogRoles($0.value, grant: action) }.keys)
        guard !grantingCatalogs.isEmpty else {
            throw Refusal(
                .permissionDenied,
                "\(called) needs \(Self.requiredRoles(for: action)); the caller holds none of them"
            )
        }
        guard let scoped else {
            do throws(RPCError) {
                _ = try request.message
                throw RPCError(code: .internalError, message: "\(called) has no access package to authorize")
            } catch {
                throw Refusal(error)
            }
        }
        let packageId = scoped.accessPackageId
        guard !packageId.isEmpty else {
            throw Refusal(.invalidArgument, "access_package_id is required")
        }
        guard let catalog, grantingCatalogs.contains(catalog) else {
            throw Refusal(
                .permissionDenied,
                "\(called) on access package '\(Self.clipped(packageId))' needs \(Self.requiredRoles(for: action)); "
                    + "the caller holds such a catalog role only in catalog(s) "
                    + grantingCatalogs.sorted().map { "'\($0)'" }.joined(separator: ", "),
                detail: catalog.map { "the package is in catalog '\($0)'" } ?? "no such access package"
            )
        }
    }

    private func reject<Input: Sendable>(
        _ refusal: Refusal,
        caller: Caller?,
        action: Action?,
        request: ServerRequest<Input>,
        context: ServerContext
    ) async {
        // The server log's line is the call's access line (its status, message and the detail as
        // its cause); a Reprocess's also its audit line, aggregated with the audit rows, so a
        // flood of refused calls adds no line of its own per call.
        guard action == .reprocess else { return }
        let reason = refusal.detail.map { "\(refusal.error.message) (\($0))" } ?? refusal.error.message
        let message = (try? request.message) as? ReprocessRequest
        // Past the role checks (which deny with PERMISSION_DENIED), a refusal is for what the
        // call asked: a row of its own, like the handler's invalid calls.
        if let caller, ![.unauthenticated, .permissionDenied].contains(refusal.error.code) {
            await auditor.recordRejectedReprocess(
                callerId: caller.objectId, accessPackageId: message?.accessPackageId ?? "",
                requestIds: message?.requestIds ?? [], reason: "\(refusal.error.code): \(reason)")
            return
        }
        await auditor.recordDeniedReprocess(
            callerId: caller?.objectId,
            accessPackageId: message?.accessPackageId ?? "",
            requestIds: message?.requestIds ?? [],
            reason: "\(refusal.error.code): \(reason)",
            peer: context.peer
        )
    }

    /// "one of the directory roles … (tenant-wide) or one of the catalog roles … in the package's catalog".
    private static func requiredRoles(for action: Action) -> String {
        let directoryRoles = PermissionPolicy.directoryRoles(granting: action).map(\.name).joined(separator: ", ")
        let catalogRoles = PermissionPolicy.catalogRoles(granting: action).map(PermissionPolicy.name).joined(separator: ", ")
        return "one of the directory roles \(directoryRoles) (tenant-wide) "
            + "or one of the catalog roles \(catalogRoles) in the access package's catalog"
    }

    /// Caller-supplied text shortened and escaped for messages and logs.
    private static func clipped(_ text: String) -> String {
        CallerText.clean(text, maxBytes: 128)
    }
}

/// Why a call is stopped: the error the caller gets, and detail only the server log and audit see.
private struct Refusal: Error {
    let error: RPCError
    let detail: String?

    init(_ code: RPCError.Code, _ message: String, detail: String? = nil) {
        self.error = RPCError(code: code, message: message)
        self.detail = detail
    }

    init(_ error: RPCError) {
        self.error = error
        self.detail = nil
    }

    /// What the caller is sent; the detail rides along as the cause, which only the server's
    /// log shows (the access line's `cause`).
    var errorForCaller: RPCError {
        var error = error
        if let detail { error.cause = Detail(description: detail) }
        return error
    }

    struct Detail: Error, CustomStringConvertible {
        let description: String
    }
}
