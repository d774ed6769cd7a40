import EntitlementAPI
import RPCCore

/// The stores look ids up by their bytes but keep them in Swift dictionaries, which treat the
/// same text in two Unicode spellings ("é" precomposed, or "e" + U+0301) as one key (see
/// `ExactKeys`). Two spellings of one id of a kind would then share an entry, one silently
/// standing for the other, so an import that brings one in beside the other is refused.
public enum FixtureIdKind: Sendable {
    case catalog, accessPackage, principal, request

    var name: String {
        switch self {
        case .catalog: "catalog id"
        case .accessPackage: "access package id"
        case .principal: "principal id"
        case .request: "request id"
        }
    }
}

extension FixturePlan {
    /// - Parameter stored: the store's spelling of an id of that kind when it holds the same
    ///   text spelled otherwise, nil when it holds it as given or not at all.
    static func checkSpellings(
        of fixture: Fixture, stored: (FixtureIdKind, String) -> String?
    ) throws(ImportError) {
        var spellings = Spellings()
        for (i, catalog) in fixture.catalogs.enumerated() {
            try spellings.check(stored, catalog.id, .catalog, at: "catalogs[\(i)].id")
        }
        for (i, package) in fixture.accessPackages.enumerated() {
            try spellings.check(stored, package.id, .accessPackage, at: "accessPackages[\(i)].id")
            try spellings.check(stored, package.catalogId, .catalog, at: "accessPackages[\(i)].catalogId")
        }
        for (i, assignment) in fixture.roleAssignments.enumerated() {
            try spellings.check(stored, assignment.principalId, .principal, at: "roleAssignments[\(i)].principalId")
            try spellings.check(stored, assignment.catalogId, .catalog, at: "roleAssignments[\(i)].catalogId")
        }
        for (i, request) in fixture.requests.enumerated() {
            try spellings.check(stored, request.id, .request, at: "requests[\(i)].id")
            try spellings.check(stored, request.accessPackageId, .accessPackage, at: "requests[\(i)].accessPackageId")
        }
    }

    /// The first spelling seen of each id, per kind.
    private struct Spellings {
        var seen: [FixtureIdKind: [String: String]] = [:]

        mutating func check(
            _ stored: (FixtureIdKind, String) -> String?, _ id: String, _ kind: FixtureIdKind, at path: String
        ) throws(ImportError) {
            if let other = stored(kind, id) ?? seen[kind]?.respelling(of: id) {
                throw ImportError(
                    path: path,
                    message: "\(kind.name) \"\(CallerText.codePoints(id))\" is \"\(CallerText.codePoints(other))\" spelled with other "
                        + "Unicode code points; ids are compared byte for byte, so spell it as it is stored, or use "
                        + "ids that differ in more than their Unicode normalization")
            }
            if seen[kind]?[exactly: id] == nil { seen[kind, default: [:]][id] = id }
        }
    }
}
