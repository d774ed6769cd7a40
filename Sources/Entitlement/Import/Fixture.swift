public import EntitlementAPI
import Foundation
import RPCCore

/// The contents of an import file (CONTRACT §4), checked for shape, types, enum values,
/// timestamps, required ids and duplicates. References to access packages and catalogs are
/// checked against the store by `RequestStore.importFixture(_:)`.
public struct Fixture: Sendable {
    public var catalogs: [CatalogInfo]
    public var accessPackages: [AccessPackageInfo]
    public var roleAssignments: [RoleAssignment]
    /// Requests; each one's `catalogId` is taken from its access package on import.
    public var requests: [AccessPackageRequest]

    /// The longest id (of a catalog, package, principal, request or resource) an import accepts,
    /// in UTF-8 bytes. Entra's ids are 36-character GUIDs; the cap keeps what carries an id short:
    /// page tokens (a request id each, see `PageTokenCodec.maxTokenLength`), audit lines, messages.
    public static let maxIdBytes = 1_024

    public init(
        catalogs: [CatalogInfo] = [],
        accessPackages: [AccessPackageInfo] = [],
        roleAssignments: [RoleAssignment] = [],
        requests: [AccessPackageRequest] = []
    ) {
        self.catalogs = catalogs
        self.accessPackages = accessPackages
        self.roleAssignments = roleAssignments
        self.requests = requests
    }

    /// Reads and checks a JSON fixture file.
    public init(contentsOfFile path: String) throws(ImportError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ImportError(path: "", message: "cannot read \(path): it is a directory, not a JSON file")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ImportError(path: "", message: "cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let data: Data
        do {
            data = try FileHandle(fileDescriptor: descriptor, closeOnDealloc: true).readToEnd() ?? Data()
        } catch {
            throw ImportError(path: "", message: "cannot read \(path): \(error.localizedDescription)")
        }
        guard !data.isEmpty else { throw ImportError(path: "", message: "\(path) is empty; expected a JSON object") }
        self = try Self.parsing(data)
    }

    /// Parses and checks a JSON fixture.
    public init(json bytes: [UInt8]) throws(ImportError) {
        self = try Self.parsing(bytes)
    }

    private static func parsing(_ bytes: some ContiguousBytes) throws(ImportError) -> Fixture {
        // withUnsafeBytes cannot forward a typed throw, so carry the result out by hand.
        var result: Result<Fixture, ImportError>?
        bytes.withUnsafeBytes { raw in
            // A UTF-8 byte order mark, as Windows tools write (RFC 8259 §8.1 lets a parser skip it).
            let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
            let raw = raw.starts(with: bom) ? UnsafeRawBufferPointer(rebasing: raw.dropFirst(3)) : raw
            do throws(ImportError) {
                result = .success(try Fixture(parsing: raw))
            } catch {
                result = .failure(error)
            }
        }
        return try result!.get()
    }

    /// Requests are converted as the parser reaches them, so the document is never held as a
    /// whole tree (a file of 20,000 requests is ~15 MB of JSON but ~60 MB as a tree). Errors keep
    /// the order of a whole-document check: syntax first, then the sections in order.
    private init(parsing bytes: UnsafeRawBufferPointer) throws(ImportError) {
        self.init()
        var requests: [AccessPackageRequest] = []
        var requestError: ImportError?
        var seen: Set<ExactString> = []
        let document = try JSONParser.parseObject(bytes, streaming: "requests") { element, i in
            guard requestError == nil else { return }
            do throws(ImportError) {
                let request = try Self.request(element, path: "requests[\(i)]")
                try Self.checkUnique(request.id, in: &seen, at: "requests[\(i)].id")
                try Self.checkSize(request, at: "requests[\(i)]")
                requests.append(request)
            } catch {
                requestError = error
            }
        }
        let root = try JSONObjectReader(
            document, path: "", known: ["catalogs", "accessPackages", "roleAssignments", "requests"])
        seen = []
        for (i, element) in try root.array("catalogs").enumerated() {
            let object = try JSONObjectReader(element, path: "catalogs[\(i)]", known: ["id", "displayName"])
            let catalog = CatalogInfo(
                id: try object.requiredID("id"), displayName: try object.string("displayName") ?? "")
            try Self.checkUnique(catalog.id, in: &seen, at: object.fieldPath("id"))
            catalogs.append(catalog)
        }
        seen = []
        for (i, element) in try root.array("accessPackages").enumerated() {
            let object = try JSONObjectReader(
                element, path: "accessPackages[\(i)]", known: ["id", "catalogId", "displayName"])
            let package = AccessPackageInfo(
                id: try object.requiredID("id"), catalogId: try object.requiredID("catalogId"),
                displayName: try object.string("displayName") ?? "")
            try Self.checkUnique(package.id, in: &seen, at: object.fieldPath("id"))
            accessPackages.append(package)
        }
        // By bytes: two spellings of a principal are the spelling check's to name, not twins.
        struct RoleKey: Hashable {
            var principalId: ExactString
            var catalogId: ExactString
            var role: CatalogRole
        }
        var seenRoles: Set<RoleKey> = []
        for (i, element) in try root.array("roleAssignments").enumerated() {
            let object = try JSONObjectReader(
                element, path: "roleAssignments[\(i)]", known: ["principalId", "role", "catalogId"])
            let role = try object.enumValue(
                "role", known: CatalogRole.allKnownCases, rawValue: \.rawValue, protoName: \.protoName)
            guard let role, role != .unspecified else {
                throw ImportError(path: object.fieldPath("role"), message: role == nil ? "missing" : "must name a role")
            }
            let assignment = RoleAssignment(
                principalId: try object.requiredID("principalId"),
                catalogId: try object.requiredID("catalogId"),
                role: role)
            let key = RoleKey(
                principalId: ExactString(assignment.principalId), catalogId: ExactString(assignment.catalogId),
                role: assignment.role)
            guard seenRoles.insert(key).inserted else {
                throw ImportError(path: object.path, message: "the same role assignment appears twice")
            }
            roleAssignments.append(assignment)
        }
        // A streamed array reads as empty here; anything else under "requests" is refused here.
        _ = try root.array("requests")
        if let requestError { throw requestError }
        self.requests = requests
    }

    private static func request(_ value: JSONValue, path: String) throws(ImportError) -> AccessPackageRequest {
        let object = try JSONObjectReader(
            value, path: path,
            known: [
                "id", "accessPackageId", "catalogId", "requestor", "state", "createdAt", "completedAt", "resources",
                "reprocessCount", "lastReprocessedAt",
            ])
        var request = AccessPackageRequest()
        request.id = try object.requiredID("id")
        request.accessPackageId = try object.requiredID("accessPackageId")
        request.catalogId = try object.string("catalogId") ?? ""
        if let requestor = object.value("requestor") {
            let subject = try JSONObjectReader(
                requestor, path: object.fieldPath("requestor"), known: ["id", "displayName", "principalName"])
            var parsed = Subject()
            parsed.id = try subject.string("id") ?? ""
            parsed.displayName = try subject.string("displayName") ?? ""
            parsed.principalName = try subject.string("principalName") ?? ""
            request.requestor = parsed
        }
        let state = try object.enumValue(
            "state", known: RequestState.allKnownCases, rawValue: \.rawValue, protoName: \.protoName)
        guard let state, state != .unspecified else {
            throw ImportError(path: object.fieldPath("state"), message: state == nil ? "missing" : "must name a state")
        }
        request.state = state
        request.createdAt = try object.timestamp("createdAt")
        request.completedAt = try object.timestamp("completedAt")
        request.lastReprocessedAt = try object.timestamp("lastReprocessedAt")
        request.reprocessCount = try object.count("reprocessCount")
        var resourceIndex: [ExactString: Int] = [:]
        for (i, element) in try object.array("resources").enumerated() {
            let resource = try JSONObjectReader(
                element, path: object.fieldPath("resources") + "[\(i)]",
                known: [
                    "resourceId", "displayName", "resourceType", "state", "error", "attempts",
                ])
            var delivery = ResourceDelivery()
            delivery.resourceId = try resource.requiredID("resourceId")
            // Delivery attempts a request's resources one by one: the same resource twice would
            // be granted twice and read as two.
            if let earlier = resourceIndex.updateValue(i, forKey: ExactString(delivery.resourceId)) {
                throw ImportError(
                    path: resource.fieldPath("resourceId"),
                    message: "duplicate resourceId \"\(delivery.resourceId)\" (also resources[\(earlier)])")
            }
            delivery.displayName = try resource.string("displayName") ?? ""
            delivery.resourceType = try resource.string("resourceType") ?? ""
            delivery.state =
                try resource.enumValue(
                    "state", known: ResourceDeliveryState.allKnownCases, rawValue: \.rawValue, protoName: \.protoName)
                ?? .unspecified
            delivery.error = try resource.string("error") ?? ""
            delivery.attempts = try resource.count("attempts")
            request.resources.append(delivery)
        }
        return request
    }

    /// The largest request (encoded) an import takes: one that big still fits in a page of its
    /// own and in a Reprocess reply, both single gRPC messages of at most 4 MiB.
    public static let maxRequestBytes = GRPCFraming.maxMessageSize - 64 * 1_024

    private static func checkSize(_ request: AccessPackageRequest, at path: String) throws(ImportError) {
        let size = request.encodedSize()
        guard size > maxRequestBytes else { return }
        throw ImportError(
            path: path,
            message: "the request is \(size) bytes encoded, more than the \(maxRequestBytes) that fit in a reply "
                + "(gRPC messages are at most 4 MiB); shorten its resources' errors or names")
    }

    /// By bytes: another spelling of an earlier id is `FixturePlan.checkSpellings`'s to report,
    /// naming both.
    private static func checkUnique(_ id: String, in seen: inout Set<ExactString>, at path: String) throws(ImportError) {
        guard seen.insert(ExactString(id)).inserted else { throw ImportError(path: path, message: "duplicate id \"\(id)\"") }
    }
}
