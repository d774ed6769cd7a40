import EntitlementAPI
public import ProtoWire

/// Deterministic demo content for `--demo`: three catalogs, six access packages, catalog role
/// assignments and a few hundred requests in every state, timed around `now` so some failed
/// deliveries are inside the reprocess window and some are too old.
public enum DemoData {
    /// A principal who owns the Sales catalog (may list and reprocess its packages).
    public static let salesOwnerObjectId = "00000000-0000-4000-8000-00000000a001"
    /// A principal with READER on the Engineering catalog (may list only).
    public static let engineeringReaderObjectId = "00000000-0000-4000-8000-00000000a002"
    /// A principal who is an access package assignment manager in Finance.
    public static let financeManagerObjectId = "00000000-0000-4000-8000-00000000a003"

    /// The demo content for a given "now"; the same ids and shape on every call.
    public static func fixture(now: Timestamp, requestsPerPackage: Int = 50, seed: UInt64 = 42) -> Fixture {
        var random = SplitMix64(seed: seed)
        let catalogs = [
            CatalogInfo(id: "cat-sales", displayName: "Sales"),
            CatalogInfo(id: "cat-engineering", displayName: "Engineering"),
            CatalogInfo(id: "cat-finance", displayName: "Finance"),
        ]
        let packages = [
            AccessPackageInfo(id: "ap-crm-users", catalogId: "cat-sales", displayName: "CRM users"),
            AccessPackageInfo(id: "ap-sales-analytics", catalogId: "cat-sales", displayName: "Sales analytics"),
            AccessPackageInfo(id: "ap-build-agents", catalogId: "cat-engineering", displayName: "Build agents"),
            AccessPackageInfo(
                id: "ap-prod-readonly", catalogId: "cat-engineering", displayName: "Production read-only"),
            AccessPackageInfo(id: "ap-ledger", catalogId: "cat-finance", displayName: "General ledger"),
            AccessPackageInfo(id: "ap-payroll", catalogId: "cat-finance", displayName: "Payroll"),
        ]
        let roles = [
            RoleAssignment(principalId: salesOwnerObjectId, catalogId: "cat-sales", role: .owner),
            RoleAssignment(principalId: engineeringReaderObjectId, catalogId: "cat-engineering", role: .reader),
            RoleAssignment(
                principalId: financeManagerObjectId, catalogId: "cat-finance", role: .accessPackageAssignmentManager),
        ]
        let resourceKinds = [("group", "Members"), ("application", "App role"), ("sharepoint", "Site visitors")]
        let states: [RequestState] = [
            .deliveryFailed, .partiallyDelivered, .delivered, .delivered, .deliveryFailed, .partiallyDelivered,
            .submitted, .pendingApproval, .denied, .canceled, .scheduled, .delivering,
        ]
        let day: Int64 = 86_400
        var requests: [AccessPackageRequest] = []
        for (p, package) in packages.enumerated() {
            for n in 0..<requestsPerPackage {
                var request = AccessPackageRequest()
                request.id = "req-\(p + 1)-\(String(n + 1).leftPadded(to: 4))"
                request.accessPackageId = package.id
                request.catalogId = package.catalogId
                let user = Int(random.next() % 400) + 1
                var requestor = Subject()
                requestor.id = "user-\(user)"
                requestor.displayName = "Demo User \(user)"
                requestor.principalName = "user\(user)@contoso.example"
                request.requestor = requestor
                // Every state appears in every package; the rest is drawn.
                request.state = n < states.count ? states[n] : states[Int(random.next() % UInt64(states.count))]
                // Created up to 20 days ago; about half of the completed ones inside the 7-day window.
                let age = Int64(random.next() % UInt64(20 * day))
                request.createdAt = Timestamp(
                    seconds: now.seconds - age, nanos: Int32(random.next() % 1_000) * 1_000_000)
                let resourceCount = Int(random.next() % 3) + 1
                for r in 0..<resourceCount {
                    let (type, name) = resourceKinds[r]
                    var resource = ResourceDelivery()
                    resource.resourceId = "\(type)-\(package.id)-\(r + 1)"
                    resource.displayName = "\(package.displayName) \(name)"
                    resource.resourceType = type
                    request.resources.append(resource)
                }
                finish(&request, random: &random)
                requests.append(request)
            }
        }
        return Fixture(catalogs: catalogs, accessPackages: packages, roleAssignments: roles, requests: requests)
    }

    /// Imports the demo content into `store` (insert-only, so a restart changes nothing).
    @discardableResult
    public static func populate(store: any RequestStoring, now: Timestamp) async throws -> ImportSummary {
        try await store.importFixture(fixture(now: now))
    }

    // Sets completion and resource states to match the request's state.
    private static func finish(_ request: inout AccessPackageRequest, random: inout SplitMix64) {
        let created = request.createdAt ?? Timestamp()
        let completed = Timestamp(seconds: created.seconds + 60 + Int64(random.next() % 3_600))
        let count = request.resources.count
        func set(_ index: Int, _ state: ResourceDeliveryState, error: String = "", attempts: Int32 = 1) {
            request.resources[index].state = state
            request.resources[index].error = error
            request.resources[index].attempts = attempts
        }
        switch request.state {
        case .delivered:
            request.completedAt = completed
            for i in 0..<count { set(i, .delivered) }
        case .partiallyDelivered:
            request.completedAt = completed
            for i in 0..<count { set(i, .delivered) }
            set(count - 1, .failed, error: "the target directory timed out", attempts: 3)
            if count == 1 { request.state = .deliveryFailed }
        case .deliveryFailed:
            request.completedAt = completed
            for i in 0..<count { set(i, .failed, error: "insufficient privileges to add the member", attempts: 3) }
        case .delivering:
            for i in 0..<count { set(i, .pending, attempts: 0) }
        case .denied, .canceled:
            request.completedAt = completed
            for i in 0..<count { set(i, .unspecified, attempts: 0) }
        default:
            for i in 0..<count { set(i, .unspecified, attempts: 0) }
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
