import ProtoWire

/// Reads one JSON object as a proto3 JSON message: fields by lowerCamelCase or snake_case name,
/// null as absent, unknown fields refused; every error names the field's path.
struct JSONObjectReader {
    let path: String
    private let fields: [String: JSONValue]

    /// - Parameter known: the message's field names in lowerCamelCase.
    init(_ value: JSONValue, path: String, known: [String]) throws(ImportError) {
        guard case .object(let fields) = value else {
            throw ImportError(path: path, message: "expected an object, found \(value.typeName)")
        }
        var byName: [String: JSONValue] = [:]
        let accepted = Dictionary(
            uniqueKeysWithValues: known.flatMap { [($0, $0), (Self.snakeCase($0), $0)] }.uniqued())
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let name = accepted[key] else {
                throw ImportError(path: Self.join(path, key), message: "unknown field")
            }
            if case .null = value { continue }
            guard byName[name] == nil else {
                throw ImportError(
                    path: Self.join(path, key), message: "given twice (as \(name) and \(Self.snakeCase(name)))")
            }
            byName[name] = value
        }
        self.path = path
        self.fields = byName
    }

    func fieldPath(_ name: String) -> String { Self.join(path, name) }

    func value(_ name: String) -> JSONValue? { fields[name] }

    func string(_ name: String) throws(ImportError) -> String? {
        guard let value = fields[name] else { return nil }
        guard case .string(let text) = value else {
            throw ImportError(path: fieldPath(name), message: "expected a string, found \(value.typeName)")
        }
        return text
    }

    /// An id: a string that must be present and non-empty (its length is `FixturePlan`'s check).
    func requiredID(_ name: String) throws(ImportError) -> String {
        guard let text = try string(name) else { throw ImportError(path: fieldPath(name), message: "missing") }
        guard !text.isEmpty else { throw ImportError(path: fieldPath(name), message: "must not be empty") }
        return text
    }

    /// An int32 from a JSON number or a decimal string, as proto3 JSON allows; never negative here.
    static let maxCount: Int32 = 1_000_000_000

    func count(_ name: String) throws(ImportError) -> Int32 {
        guard let value = fields[name] else { return 0 }
        let number: Int64?
        switch value {
        case .integer(let n): number = n
        case .double(let d): number = d.rounded() == d && abs(d) < 1e15 ? Int64(d) : nil
        case .string(let s): number = Int64(s)
        default:
            throw ImportError(path: fieldPath(name), message: "expected a number, found \(value.typeName)")
        }
        guard let number, let result = Int32(exactly: number) else {
            throw ImportError(path: fieldPath(name), message: "not a 32-bit integer")
        }
        guard result >= 0 else { throw ImportError(path: fieldPath(name), message: "must not be negative") }
        // Counts go up with every Reprocess and delivery attempt, and watchers tell a new version
        // from an old one by them (`RequestProgress`): one imported near Int32.max would stop.
        guard result <= Self.maxCount else {
            throw ImportError(path: fieldPath(name), message: "must be at most \(Self.maxCount)")
        }
        return result
    }

    func timestamp(_ name: String) throws(ImportError) -> Timestamp? {
        guard let text = try string(name) else { return nil }
        guard let timestamp = RFC3339.parse(text) else {
            throw ImportError(path: fieldPath(name), message: "not an RFC 3339 timestamp: \"\(text)\"")
        }
        // In range once its offset is applied: "0001-01-01T00:00:00+01:00" is year 0 in UTC.
        guard timestamp.isValid else {
            throw ImportError(
                path: fieldPath(name),
                message: "\"\(text)\" is outside 0001-01-01T00:00:00Z...9999-12-31T23:59:59Z, the range a Timestamp can hold")
        }
        return timestamp
    }

    /// An enum by value name or number; unknown values are refused.
    func enumValue<E>(
        _ name: String,
        known: [E],
        rawValue: (E) -> Int32,
        protoName: (E) -> String
    ) throws(ImportError) -> E? {
        guard let value = fields[name] else { return nil }
        switch value {
        case .string(let text):
            if let match = known.first(where: { protoName($0) == text }) { return match }
            throw ImportError(path: fieldPath(name), message: "unknown value \"\(text)\"")
        case .integer(let number):
            if let match = known.first(where: { Int64(rawValue($0)) == number }) { return match }
            throw ImportError(path: fieldPath(name), message: "unknown value \(number)")
        default:
            throw ImportError(path: fieldPath(name), message: "expected an enum value name, found \(value.typeName)")
        }
    }

    /// The elements of an array field (empty when absent).
    func array(_ name: String) throws(ImportError) -> [JSONValue] {
        guard let value = fields[name] else { return [] }
        guard case .array(let elements) = value else {
            throw ImportError(path: fieldPath(name), message: "expected an array, found \(value.typeName)")
        }
        return elements
    }

    static func snakeCase(_ camel: String) -> String {
        var out = ""
        for character in camel {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        return out
    }

    private static func join(_ path: String, _ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
}

extension Array where Element == (String, String) {
    /// Drops pairs whose key was seen before (a one-word name is its own snake_case form).
    fileprivate func uniqued() -> [(String, String)] {
        var seen: Set<String> = []
        return filter { seen.insert($0.0).inserted }
    }
}
