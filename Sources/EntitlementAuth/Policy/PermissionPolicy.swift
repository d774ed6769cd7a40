public import EntitlementAPI

/// What a caller asks to do; one per authorized RPC.
public enum Action: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case listRequests = "ListRequests"
    case reprocess = "Reprocess"

    public var description: String { rawValue }
}

/// Who may do what (CONTRACT §3), in one place. Directory roles (`wids`) grant tenant-wide;
/// catalog roles grant for the access packages of their catalog only.
public enum PermissionPolicy {
    public static let directoryRoles: KeyValuePairs<DirectoryRole, Set<Action>> = [
        .globalAdministrator: [.listRequests, .reprocess],
        .identityGovernanceAdministrator: [.listRequests, .reprocess],
        .userAdministrator: [.listRequests, .reprocess],
        .globalReader: [.listRequests],
    ]

    public static let catalogRoles: KeyValuePairs<CatalogRole, Set<Action>> = [
        .owner: [.listRequests, .reprocess],
        .accessPackageManager: [.listRequests, .reprocess],
        .accessPackageAssignmentManager: [.listRequests, .reprocess],
        .reader: [.listRequests],
    ]

    /// The first directory role among `templateIds` that grants `action` tenant-wide.
    public static func directoryRole(granting action: Action, among templateIds: Set<String>) -> DirectoryRole? {
        directoryRoles.first { templateIds.contains($0.key.templateId) && $0.value.contains(action) }?.key
    }

    /// Whether any of `roles` grants `action` (within the catalog the roles are held in).
    public static func catalogRoles(_ roles: Set<CatalogRole>, grant action: Action) -> Bool {
        catalogRoles.contains { roles.contains($0.key) && $0.value.contains(action) }
    }

    /// Directory roles that grant `action`, in table order.
    public static func directoryRoles(granting action: Action) -> [DirectoryRole] {
        directoryRoles.filter { $0.value.contains(action) }.map { $0.key }
    }

    /// Catalog roles that grant `action`, in table order.
    public static func catalogRoles(granting action: Action) -> [CatalogRole] {
        catalogRoles.filter { $0.value.contains(action) }.map { $0.key }
    }

    /// The proto enum value name without its `CATALOG_ROLE_` prefix, as operators see it (`OWNER`).
    public static func name(of role: CatalogRole) -> String {
        let name = role.protoName
        return name.hasPrefix("CATALOG_ROLE_") ? String(name.dropFirst("CATALOG_ROLE_".count)) : name
    }
}
