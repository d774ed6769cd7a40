/// A generator failure reported to protoc as `CodeGeneratorResponse.error`.
struct GeneratorError: Error {
    let message: String
}

/// What a field's element is in Swift.
enum ValueType {
    case scalar(FieldDescriptor.Kind)
    case enumeration(swiftName: String, zeroCase: String)
    case message(swiftName: String)

    var swiftType: String {
        switch self {
        case .scalar(let kind): Scalars.swiftType(kind)
        case .enumeration(let name, _): name
        case .message(let name): name
        }
    }

    /// Proto3 default value as a Swift expression (messages have none: they are Optionals).
    var defaultValue: String {
        switch self {
        case .scalar(let kind): Scalars.defaultValue(kind)
        case .enumeration(_, let zeroCase): ".\(zeroCase)"
        case .message(let name): "\(name)()"
        }
    }
}

/// Every proto type the request mentions, by fully qualified name (`.entitlement.v1.Subject`).
struct TypeRegistry {
    enum Entry {
        case message(swiftName: String, descriptor: MessageDescriptor)
        case enumeration(swiftName: String, descriptor: EnumDescriptor)
        case timestamp
    }

    private(set) var entries: [String: Entry] = [:]

    init(files: [FileDescriptor]) {
        entries[".google.protobuf.Timestamp"] = .timestamp
        for file in files where !file.name.hasPrefix("google/protobuf/") {
            let prefix = file.package.isEmpty ? "" : "." + file.package
            for message in file.messages {
                register(message, protoPrefix: prefix, swiftPrefix: "", topLevelPrefix: file.swiftPrefix)
            }
            for e in file.enums {
                entries[prefix + "." + e.name] = .enumeration(swiftName: file.swiftPrefix + e.name, descriptor: e)
            }
        }
    }

    private mutating func register(
        _ message: MessageDescriptor, protoPrefix: String, swiftPrefix: String, topLevelPrefix: String = ""
    ) {
        let protoName = protoPrefix + "." + message.name
        let swiftName = swiftPrefix.isEmpty ? topLevelPrefix + message.name : swiftPrefix + "." + message.name
        entries[protoName] = .message(swiftName: swiftName, descriptor: message)
        for nested in message.nestedMessages {
            register(nested, protoPrefix: protoName, swiftPrefix: swiftName)
        }
        for e in message.enums {
            entries[protoName + "." + e.name] = .enumeration(swiftName: swiftName + "." + e.name, descriptor: e)
        }
    }

    func entry(_ typeName: String) throws(GeneratorError) -> Entry {
        guard let entry = entries[typeName] else {
            throw GeneratorError(message: "type \(typeName) is not supported (only google.protobuf.Timestamp among the well-known types)")
        }
        return entry
    }

    /// The Swift value type of a non-map field.
    func valueType(of field: FieldDescriptor) throws(GeneratorError) -> ValueType {
        switch field.kind {
        case .group:
            throw GeneratorError(message: "field \(field.name): groups are not supported")
        case .message:
            switch try entry(field.typeName) {
            case .message(let swiftName, _): return .message(swiftName: swiftName)
            case .timestamp: return .message(swiftName: "Timestamp")
            case .enumeration: throw GeneratorError(message: "field \(field.name): \(field.typeName) is not a message")
            }
        case .enum:
            guard case .enumeration(let swiftName, let descriptor) = try entry(field.typeName) else {
                throw GeneratorError(message: "field \(field.name): \(field.typeName) is not an enum")
            }
            guard let zero = descriptor.values.first(where: { $0.number == 0 }) else {
                throw GeneratorError(message: "enum \(descriptor.name) has no zero value")
            }
            return .enumeration(
                swiftName: swiftName,
                zeroCase: Naming.escaped(Naming.enumCaseName(value: zero.name, enumName: descriptor.name))
            )
        default:
            return .scalar(field.kind)
        }
    }

    /// The map entry message of a `map<K, V>` field, if it is one.
    func mapEntry(of field: FieldDescriptor) -> MessageDescriptor? {
        guard field.label == .repeated, field.kind == .message,
            case .message(_, let descriptor)? = entries[field.typeName], descriptor.isMapEntry
        else { return nil }
        return descriptor
    }

    /// True when a struct of `from`'s type would contain `to`'s type inline through singular
    /// message fields, so a singular field of type `to` inside `from` needs a box.
    func reaches(from start: String, to target: String) -> Bool {
        var seen: Set<String> = []
        var stack = [start]
        while let name = stack.popLast() {
            if name == target { return true }
            guard seen.insert(name).inserted, case .message(_, let descriptor)? = entries[name] else { continue }
            for field in descriptor.fields where field.label != .repeated && field.kind == .message {
                stack.append(field.typeName)
            }
        }
        return false
    }
}

/// Per-scalar-type spellings used by the emitters.
enum Scalars {
    static func swiftType(_ kind: FieldDescriptor.Kind) -> String {
        switch kind {
        case .double: "Double"
        case .float: "Float"
        case .int64, .sfixed64, .sint64: "Int64"
        case .uint64, .fixed64: "UInt64"
        case .int32, .sfixed32, .sint32: "Int32"
        case .uint32, .fixed32: "UInt32"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "[UInt8]"
        case .group, .message, .enum: "Never"
        }
    }

    static func defaultValue(_ kind: FieldDescriptor.Kind) -> String {
        switch kind {
        case .bool: "false"
        case .string: "\"\""
        case .bytes: "[]"
        default: "0"
        }
    }

    /// The `ProtoReader`/`ProtoWriter`/`ProtoSize` method stem: `Int32`, `SFixed64`, …
    static func stem(_ kind: FieldDescriptor.Kind) -> String {
        switch kind {
        case .double: "Double"
        case .float: "Float"
        case .int64: "Int64"
        case .uint64: "UInt64"
        case .int32: "Int32"
        case .fixed64: "Fixed64"
        case .fixed32: "Fixed32"
        case .bool: "Bool"
        case .string: "String"
        case .bytes: "Bytes"
        case .uint32: "UInt32"
        case .sfixed32: "SFixed32"
        case .sfixed64: "SFixed64"
        case .sint32: "SInt32"
        case .sint64: "SInt64"
        case .group, .message, .enum: "Never"
        }
    }

    enum PackedEncoding {
        case varint
        case fixed32
        case fixed64
    }

    static func packedEncoding(_ value: ValueType) -> PackedEncoding? {
        switch value {
        case .enumeration: return .varint
        case .message: return nil
        case .scalar(let kind):
            switch kind {
            case .double, .fixed64, .sfixed64: return .fixed64
            case .float, .fixed32, .sfixed32: return .fixed32
            case .int64, .uint64, .int32, .uint32, .bool, .sint32, .sint64: return .varint
            case .string, .bytes, .group, .message, .enum: return nil
            }
        }
    }
}

/// Swift expressions for one field value `v` of type `value` in field `field`.
struct FieldCode {
    let value: ValueType
    let field: Int

    /// Whole-field size (tag + value) of `v`, and whether the expression mentions `v`.
    /// With `cached`, sub-message sizes are recorded in a `cache` variable (the size pass).
    func size(_ v: String, cached: Bool = false) -> (expression: String, usesValue: Bool) {
        switch value {
        case .enumeration: return ("ProtoSize.enumValue(\(v).rawValue, field: \(field))", true)
        case .message:
            let cache = cached ? ", cache: &cache" : ""
            return ("ProtoSize.message(\(v), field: \(field)\(cache))", true)
        case .scalar(let kind):
            switch kind {
            case .double, .fixed64, .sfixed64: return ("ProtoSize.fixed64(field: \(field))", false)
            case .float, .fixed32, .sfixed32: return ("ProtoSize.fixed32(field: \(field))", false)
            case .bool: return ("ProtoSize.bool(field: \(field))", false)
            case .int32: return ("ProtoSize.int32(\(v), field: \(field))", true)
            case .int64: return ("ProtoSize.int64(\(v), field: \(field))", true)
            case .uint32: return ("ProtoSize.uint32(\(v), field: \(field))", true)
            case .uint64: return ("ProtoSize.uint64(\(v), field: \(field))", true)
            case .sint32: return ("ProtoSize.sint32(\(v), field: \(field))", true)
            case .sint64: return ("ProtoSize.sint64(\(v), field: \(field))", true)
            case .string: return ("ProtoSize.string(\(v), field: \(field))", true)
            case .bytes: return ("ProtoSize.bytes(\(v), field: \(field))", true)
            case .group, .message, .enum: return ("0", false)
            }
        }
    }

    /// Statement writing the whole field.
    func write(_ v: String, writer: String = "writer") -> String {
        switch value {
        case .enumeration: "\(writer).writeEnum(\(v).rawValue, field: \(field))"
        case .message: "\(writer).writeMessage(\(v), field: \(field))"
        case .scalar(let kind): "\(writer).write\(Scalars.stem(kind))(\(v), field: \(field))"
        }
    }

    /// Expression reading a non-message value for the tag `tag`.
    func read(reader: String = "reader", tag: String = "tag") -> String {
        switch value {
        case .enumeration(let name, _): "\(name)(rawValue: try \(reader).readEnum(\(tag)))"
        case .message(let name): "try \(reader).readMessage(\(tag), as: \(name).self)"
        case .scalar(let kind): "try \(reader).read\(Scalars.stem(kind))(\(tag))"
        }
    }

    /// Condition under which an implicit-presence field is written.
    func isNonDefault(_ v: String) -> String {
        switch value {
        case .enumeration: return "\(v).rawValue != 0"
        case .message: return "true"
        case .scalar(let kind):
            switch kind {
            case .double, .float: return "\(v).bitPattern != 0"
            case .bool: return v
            case .string, .bytes: return "!\(v).isEmpty"
            default: return "\(v) != 0"
            }
        }
    }

    /// Size of one element inside a packed varint run.
    func packedVarintSize(_ v: String) -> String {
        switch value {
        case .enumeration: return "Varint.size(of: \(v).rawValue)"
        case .scalar(let kind):
            switch kind {
            case .bool: return "1"
            case .uint32: return "Varint.size(of: UInt64(\(v)))"
            case .sint32: return "Varint.size(of: UInt64(ZigZag.encoded(\(v))))"
            case .sint64: return "Varint.size(of: ZigZag.encoded(\(v)))"
            default: return "Varint.size(of: \(v))"
            }
        case .message: return "0"
        }
    }

    /// Statement writing one element of a packed run (no tag).
    func packedWrite(_ v: String, writer: String) -> String {
        switch value {
        case .enumeration: return "\(writer).writeVarint(UInt64(bitPattern: Int64(\(v).rawValue)))"
        case .scalar(let kind):
            switch kind {
            case .bool: return "\(writer).writeVarint(\(v) ? 1 : 0)"
            case .int32: return "\(writer).writeVarint(UInt64(bitPattern: Int64(\(v))))"
            case .int64: return "\(writer).writeVarint(UInt64(bitPattern: \(v)))"
            case .uint32: return "\(writer).writeVarint(UInt64(\(v)))"
            case .uint64: return "\(writer).writeVarint(\(v))"
            case .sint32: return "\(writer).writeVarint(UInt64(ZigZag.encoded(\(v))))"
            case .sint64: return "\(writer).writeVarint(ZigZag.encoded(\(v)))"
            case .fixed32: return "\(writer).writeFixed32(\(v))"
            case .fixed64: return "\(writer).writeFixed64(\(v))"
            case .sfixed32: return "\(writer).writeFixed32(UInt32(bitPattern: \(v)))"
            case .sfixed64: return "\(writer).writeFixed64(UInt64(bitPattern: \(v)))"
            case .float: return "\(writer).writeFixed32(\(v).bitPattern)"
            case .double: return "\(writer).writeFixed64(\(v).bitPattern)"
            default: return ""
            }
        case .message: return ""
        }
    }

    /// Converts `$0` (the raw UInt64/UInt32/UInt64 a repeated reader hands over) to the element type.
    func packedDecode() -> String {
        switch value {
        case .enumeration(let name, _): return "\(name)(rawValue: Int32(truncatingIfNeeded: $0))"
        case .scalar(let kind):
            switch kind {
            case .bool: return "$0 != 0"
            case .int32: return "Int32(truncatingIfNeeded: $0)"
            case .int64: return "Int64(bitPattern: $0)"
            case .uint32: return "UInt32(truncatingIfNeeded: $0)"
            case .uint64, .fixed32, .fixed64: return "$0"
            case .sint32: return "ZigZag.decoded(UInt32(truncatingIfNeeded: $0))"
            case .sint64: return "ZigZag.decoded($0)"
            case .sfixed32: return "Int32(bitPattern: $0)"
            case .sfixed64: return "Int64(bitPattern: $0)"
            case .float: return "Float(bitPattern: $0)"
            case .double: return "Double(bitPattern: $0)"
            default: return "$0"
            }
        case .message: return "$0"
        }
    }
}
