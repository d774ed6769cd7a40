import EntitlementAPI
import EntitlementAuth
import Testing

@Suite("PermissionPolicy")
struct PermissionPolicyTests {
    @Test(
        "directory roles are matched by their template ids",
        arguments: [
            ("62e90394-69f5-4237-9190-012177145e10", Action.reprocess, "Global Administrator"),
            ("45d8d3c5-c802-45c6-b32a-1d70b5e1e86e", .reprocess, "Identity Governance Administrator"),
            ("fe930be7-5e62-47db-91af-98c3a49a38b1", .reprocess, "User Administrator"),
            ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", .listRequests, "Global Reader"),
        ]
    )
    func directoryRoleTemplateIds(templateId: String, action: Action, name: String) {
        #expect(PermissionPolicy.directoryRole(granting: action, among: [templateId])?.name == name)
    }

    @Test("unknown role ids and unspecified catalog roles grant nothing")
    func unknownGrantsNothing() {
        for action in Action.allCases {
            #expect(PermissionPolicy.directoryRole(granting: action, among: ["not-a-role"]) == nil)
            #expect(!PermissionPolicy.catalogRoles([.unspecified, .unrecognized(9)], grant: action))
        }
    }

    @Test("catalog role names are shown without the proto prefix")
    func catalogRoleNames() {
        #expect(PermissionPolicy.catalogRoles(granting: .reprocess).map(PermissionPolicy.name)
            == ["OWNER", "ACCESS_PACKAGE_MANAGER", "ACCESS_PACKAGE_ASSIGNMENT_MANAGER"])
    }
}
