/// A Microsoft Entra directory role this service knows, identified by its role template id (the
/// values of the `wids` claim). Directory roles apply tenant-wide.
public struct DirectoryRole: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let templateId: String

    public init(name: String, templateId: String) {
        self.name = name
        self.templateId = templateId
    }

    public var description: String { name }

    public static let globalAdministrator = DirectoryRole(
        name: "Global Administrator", templateId: "62e90394-69f5-4237-9190-012177145e10")
    public static let identityGovernanceAdministrator = DirectoryRole(
        name: "Identity Governance Administrator", templateId: "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e")
    public static let userAdministrator = DirectoryRole(
        name: "User Administrator", templateId: "fe930be7-5e62-47db-91af-98c3a49a38b1")
    public static let globalReader = DirectoryRole(
        name: "Global Reader", templateId: "f2ef992c-3afb-46b9-b7cf-a126ee74c451")
}
