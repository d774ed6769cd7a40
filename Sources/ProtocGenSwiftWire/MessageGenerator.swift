/// One field of a message as the emitters see it.
struct FieldModel {
    enum Shape {
        /// proto3 implicit presence: written when not the default.
        case implicit
        /// A message field or a proto3 `optional` scalar: an Optional.
        case optional
        /// A message field whose type contains this message: an Optional kept in a `ProtoBox`.
        case boxed
        case repeated(packed: Bool)
        case map(key: FieldCode, value: FieldCode)
        case oneof(index: Int)
    }

    let protoName: String
    /// lowerCamelCase, not escaped.
    let name: String
    let number: Int
    let code: FieldCode
    let shape: Shape
    let comment: String?

    var value: ValueType { code.value }
    var escapedName: String { Naming.escaped(name) }
    var caseName: String { Naming.escaped(name) }
}

struct OneofModel {
    let name: String
    let typeName: String
    let members: [FieldModel]
    let isIndirect: Bool
}

/// Emits one message struct (and its nested types).
struct MessageGenerator {
    let descriptor: MessageDescriptor
    let protoName: String
    let registry: TypeRegistry
    let comments: [[Int32]: String]
    let path: [Int32]

    var fields: [FieldModel] = []
    var oneofs: [OneofModel] = []

    /// The Swift name of the struct (the proto name, behind the file's `swift_prefix` at top level).
    let typeName: String

    init(
        descriptor: MessageDescriptor,
        protoName: String,
        registry: TypeRegistry,
        comments: [[Int32]: String],
        path: [Int32],
        typeName: String? = nil
    ) throws(GeneratorError) {
        self.typeName = typeName ?? descriptor.name
        self.descriptor = descriptor
        self.protoName = protoName
        self.registry = registry
        self.comments = comments
        self.path = path
        if descriptor.hasExtensions {
            throw GeneratorError(message: "message \(protoName): extensions are not supported")
        }

        var oneofMembers: [Int: [FieldModel]] = [:]
        for (index, field) in descriptor.fields.enumerated() {
            guard field.number > 0 else {
                throw GeneratorError(message: "field \(protoName).\(field.name) has an invalid number")
            }
            let number = Int(field.number)
            let comment = comments[path + [2, Int32(index)]]
            let name = Naming.lowerCamel(field.name)
            let shape: FieldModel.Shape
            let value: ValueType
            if let entry = registry.mapEntry(of: field) {
                guard let keyField = entry.fields.first(where: { $0.number == 1 }),
                    let valueField = entry.fields.first(where: { $0.number == 2 })
                else { throw GeneratorError(message: "map entry \(field.typeName) lacks key or value") }
                let keyCode = FieldCode(value: try registry.valueType(of: keyField), field: 1)
                let valueCode = FieldCode(value: try registry.valueType(of: valueField), field: 2)
                value = valueCode.value
                shape = .map(key: keyCode, value: valueCode)
            } else {
                value = try registry.valueType(of: field)
                if field.label == .required {
                    throw GeneratorError(message: "field \(protoName).\(field.name): required fields are not supported")
                } else if field.label == .repeated {
                    let packable = Scalars.packedEncoding(value) != nil
                    shape = .repeated(packed: packable && (field.packed ?? true))
                } else if let oneofIndex = field.oneofIndex, !field.proto3Optional {
                    shape = .oneof(index: Int(oneofIndex))
                } else if case .message = value {
                    shape = registry.reaches(from: field.typeName, to: protoName) ? .boxed : .optional
                } else if field.proto3Optional {
                    shape = .optional
                } else {
                    shape = .implicit
                }
            }
            let model = FieldModel(
                protoName: field.name,
                name: name,
                number: number,
                code: FieldCode(value: value, field: number),
                shape: shape,
                comment: comment
            )
            if case .oneof(let index) = shape { oneofMembers[index, default: []].append(model) }
            fields.append(model)
        }
        for (index, oneofName) in descriptor.oneofNames.enumerated() {
            guard let members = oneofMembers[index] else { continue }  // a proto3 `optional`'s synthetic oneof
            let isIndirect = descriptor.fields.contains { field in
                field.oneofIndex == Int32(index) && field.kind == .message
                    && registry.reaches(from: field.typeName, to: protoName)
            }
            oneofs.append(
                OneofModel(
                    name: Naming.lowerCamel(oneofName),
                    typeName: "OneOf_" + Naming.upperCamel(oneofName),
                    members: members,
                    isIndirect: isIndirect
                )
            )
        }
    }

    private var fieldsByNumber: [FieldModel] { fields.sorted { $0.number < $1.number } }

    func emit(into p: inout CodePrinter) throws(GeneratorError) {
        p.docComment(comments[path])
        var thrown: GeneratorError?
        p.block("public struct \(typeName): ProtoMessage") { p in
            emitProperties(into: &p)
            p.line("public var unknownFields = UnknownFields()")
            p.line("public static let protoMessageName = \"\(protoName.dropFirst())\"")
            p.line()
            p.line("public init() {}")
            for oneof in oneofs {
                p.line()
                emitOneofEnum(oneof, into: &p)
            }
            for (index, e) in descriptor.enums.enumerated() {
                p.line()
                EnumGenerator(descriptor: e, comments: comments, path: path + [4, Int32(index)]).emit(into: &p)
            }
            for (index, nested) in descriptor.nestedMessages.enumerated() where !nested.isMapEntry {
                p.line()
                do throws(GeneratorError) {
                    let generator = try MessageGenerator(
                        descriptor: nested,
                        protoName: protoName + "." + nested.name,
                        registry: registry,
                        comments: comments,
                        path: path + [3, Int32(index)]
                    )
                    try generator.emit(into: &p)
                } catch {
                    thrown = error
                }
            }
            p.line()
            emitEncodedSize(into: &p)
            p.line()
            emitEncode(into: &p)
            p.line()
            emitDecodeField(into: &p)
        }
        if let thrown { throw thrown }
    }

    private func emitProperties(into p: inout CodePrinter) {
        var emittedOneofs: Set<Int> = []
        for field in fields {
            let type = field.value.swiftType
            switch field.shape {
            case .implicit:
                p.docComment(field.comment)
                p.line("public var \(field.escapedName): \(type) = \(field.value.defaultValue)")
            case .optional:
                p.docComment(field.comment)
                p.line("public var \(field.escapedName): \(type)?")
            case .boxed:
                p.docComment(field.comment)
                p.block("public var \(field.escapedName): \(type)?") { p in
                    p.line("get { _\(field.name)?.value }")
                    p.line("set { _\(field.name) = newValue.map { ProtoBox($0) } }")
                }
                p.line("private var _\(field.name): ProtoBox<\(type)>?")
            case .repeated:
                p.docComment(field.comment)
                p.line("public var \(field.escapedName): [\(type)] = []")
            case .map(let key, let value):
                p.docComment(field.comment)
                p.line("public var \(field.escapedName): [\(key.value.swiftType): \(value.value.swiftType)] = [:]")
            case .oneof(let index):
                guard emittedOneofs.insert(index).inserted,
                    let oneof = oneofs.first(where: { $0.members.contains { $0.number == field.number } })
                else { continue }
                p.docComment(comments[path + [8, Int32(index)]])
                p.line("public var \(Naming.escaped(oneof.name)): \(oneof.typeName)?")
            }
        }
    }

    private func emitOneofEnum(_ oneof: OneofModel, into p: inout CodePrinter) {
        p.block("public \(oneof.isIndirect ? "indirect " : "")enum \(oneof.typeName): Sendable, Hashable") { p in
            for member in oneof.members {
                p.docComment(member.comment)
                p.line("case \(member.caseName)(\(member.value.swiftType))")
            }
        }
    }

    private func oneofProperty(of field: FieldModel) -> String {
        let oneof = oneofs.first { $0.members.contains { $0.number == field.number } }
        return "self." + Naming.escaped(oneof?.name ?? "")
    }

    private func emitEncodedSize(into p: inout CodePrinter) {
        let ordered = fieldsByNumber
        let hasSubMessages = fields.contains { if case .message = $0.value { true } else { false } }
        if hasSubMessages {
            p.block("public func encodedSize() -> Int") { p in
                p.line("var cache = ProtoSizeCache.disabled")
                p.line("return encodedSize(cache: &cache)")
            }
            p.line()
        }
        let signature = hasSubMessages ? "public func encodedSize(cache: inout ProtoSizeCache) -> Int" : "public func encodedSize() -> Int"
        p.block(signature) { p in
            if ordered.isEmpty {
                p.line("unknownFields.count")
                return
            }
            p.line("var size = unknownFields.count")
            for field in ordered {
                let property = "self." + field.escapedName
                let code = field.code
                switch field.shape {
                case .implicit:
                    p.line("if \(code.isNonDefault(property)) { size += \(code.size(property, cached: true).expression) }")
                case .optional, .boxed:
                    let (expression, uses) = code.size("v", cached: true)
                    p.line("if \(uses ? "let v" : "_") = \(property) { size += \(expression) }")
                case .oneof:
                    let (expression, uses) = code.size("v", cached: true)
                    p.line(
                        "if case .\(field.caseName)(\(uses ? "let v" : "_"))? = \(oneofProperty(of: field)) { size += \(expression) }"
                    )
                case .repeated(let packed):
                    if packed {
                        p.block("if !\(property).isEmpty") { p in
                            p.line("let payload = \(packedPayload(field, property))")
                            p.line("size += ProtoSize.lengthDelimited(payload: payload, field: \(field.number))")
                        }
                    } else if case .message = field.value {
                        // Through a buffer pointer each element is borrowed; `for v in` or `array[i]`
                        // would copy (retain and release) every field of every message.
                        p.closure("\(property).withUnsafeBufferPointer { messages in") { p in
                            p.line("for i in messages.indices { size += \(code.size("messages[i]", cached: true).expression) }")
                        }
                    } else {
                        let (expression, uses) = code.size("v", cached: true)
                        if uses {
                            p.line("for v in \(property) { size += \(expression) }")
                        } else {
                            p.line("size += \(property).count * \(expression)")
                        }
                    }
                case .map(let key, let value):
                    let (keySize, keyUses) = key.size("k")
                    let (valueSize, valueUses) = value.size("v", cached: true)
                    p.block("for (\(keyUses ? "k" : "_"), \(valueUses ? "v" : "_")) in \(property)") { p in
                        p.line("let entry = \(keySize) + \(valueSize)")
                        p.line("size += ProtoSize.lengthDelimited(payload: entry, field: \(field.number))")
                    }
                }
            }
            p.line("return size")
        }
        if !hasSubMessages {
            p.line()
            p.line("/// No sub-messages, so there is nothing to record.")
            p.block("public func encodedSize(cache: inout ProtoSizeCache) -> Int") { p in
                p.line("encodedSize()")
            }
        }
    }

    /// Expression for the payload size of a packed run held in `property`.
    private func packedPayload(_ field: FieldModel, _ property: String) -> String {
        switch Scalars.packedEncoding(field.value) {
        case .fixed32: return "\(property).count &* 4"
        case .fixed64: return "\(property).count &* 8"
        default:
            if case .scalar(.bool) = field.value { return "\(property).count" }
            return "\(property).reduce(0) { $0 &+ \(field.code.packedVarintSize("$1")) }"
        }
    }

    private func emitEncode(into p: inout CodePrinter) {
        p.block("public func encode(to writer: inout ProtoWriter)") { p in
            for field in fieldsByNumber {
                let property = "self." + field.escapedName
                let code = field.code
                switch field.shape {
                case .implicit:
                    p.line("if \(code.isNonDefault(property)) { \(code.write(property)) }")
                case .optional, .boxed:
                    p.line("if let v = \(property) { \(code.write("v")) }")
                case .oneof:
                    p.line("if case .\(field.caseName)(let v)? = \(oneofProperty(of: field)) { \(code.write("v")) }")
                case .repeated(let packed):
                    if packed {
                        p.block("if !\(property).isEmpty") { p in
                            p.line("let payload = \(packedPayload(field, property))")
                            p.closure("writer.writeLengthDelimited(field: \(field.number), payloadSize: payload) { w in") { p in
                                p.line("for v in \(property) { \(code.packedWrite("v", writer: "w")) }")
                            }
                        }
                    } else if case .message = field.value {
                        p.closure("\(property).withUnsafeBufferPointer { messages in") { p in
                            p.line("for i in messages.indices { \(code.write("messages[i]")) }")
                        }
                    } else {
                        p.line("for v in \(property) { \(code.write("v")) }")
                    }
                case .map(let key, let value):
                    p.block("for (k, v) in \(property)") { p in
                        p.line("let entry = \(key.size("k").expression) + \(value.size("v").expression)")
                        p.closure("writer.writeLengthDelimited(field: \(field.number), payloadSize: entry) { w in") { p in
                            p.line(key.write("k", writer: "w"))
                            p.line(value.write("v", writer: "w"))
                        }
                    }
                }
            }
            p.line("writer.writeUnknownFields(unknownFields)")
        }
    }

    /// The wire type a singular value of `value` is sent with.
    static func wireType(of value: ValueType) -> String {
        switch Scalars.packedEncoding(value) {
        case .varint: "varint"
        case .fixed32: "fixed32"
        case .fixed64: "fixed64"
        case nil: "lengthDelimited"
        }
    }

    /// The wire types `field` is read from: its own, and for a packable repeated field also the
    /// packed form (parsers take both, whichever the field declares).
    static func wireTypeCondition(_ field: FieldModel) -> String {
        let own = "tag.wireType == .\(wireType(of: field.value))"
        switch field.shape {
        case .repeated where Scalars.packedEncoding(field.value) != nil: return own + " || tag.wireType == .lengthDelimited"
        case .map: return "tag.wireType == .lengthDelimited"
        default: return own
        }
    }

    private func emitDecodeField(into p: inout CodePrinter) {
        p.block(
            "public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError)"
        ) { p in
            p.line("switch tag.fieldNumber {")
            for field in fieldsByNumber {
                let property = "self." + field.escapedName
                let code = field.code
                // A field sent with another wire type is an unknown field, as protoc's parsers
                // keep it (a schema that changed a field's type), not a malformed message.
                p.line("case \(field.number) where \(Self.wireTypeCondition(field)):")
                p.indent()
                switch field.shape {
                case .implicit:
                    p.line("\(property) = \(code.read())")
                case .optional, .boxed:
                    if case .message(let name) = field.value {
                        p.line("var v = \(property) ?? \(name)()")
                        p.line("try reader.readMessage(tag, into: &v)")
                        p.line("\(property) = v")
                    } else {
                        p.line("\(property) = \(code.read())")
                    }
                case .oneof:
                    let holder = oneofProperty(of: field)
                    if case .message(let name) = field.value {
                        p.line("var v = \(name)()")
                        p.line("if case .\(field.caseName)(let existing)? = \(holder) { v = existing }")
                        p.line("try reader.readMessage(tag, into: &v)")
                        p.line("\(holder) = .\(field.caseName)(v)")
                    } else {
                        p.line("\(holder) = .\(field.caseName)(\(code.read()))")
                    }
                case .repeated:
                    switch Scalars.packedEncoding(field.value) {
                    case .varint:
                        p.line("try reader.readRepeatedVarint(tag) { \(property).append(\(code.packedDecode())) }")
                    case .fixed32:
                        p.line("try reader.readRepeatedFixed32(tag) { \(property).append(\(code.packedDecode())) }")
                    case .fixed64:
                        p.line("try reader.readRepeatedFixed64(tag) { \(property).append(\(code.packedDecode())) }")
                    case nil:
                        // Messages, strings and bytes: one allocation for all elements instead of
                        // log2(n) growths, each moving every element so far (a Reprocess call's ten
                        // ids took five); the count comes from the input, so it is never more than it holds.
                        p.line("if \(property).isEmpty { \(property).reserveCapacity(reader.occurrences(of: tag)) }")
                        p.line("\(property).append(\(code.read()))")
                    }
                case .map(let key, let value):
                    p.closure("try reader.withSubReader(tag) { (entry: inout ProtoReader) throws(ProtoDecodingError) in") { p in
                        p.line("var key: \(key.value.swiftType) = \(key.value.defaultValue)")
                        p.line("var value: \(value.value.swiftType) = \(value.value.defaultValue)")
                        p.block("while let t = try entry.nextTag()") { p in
                            p.line("switch t.fieldNumber {")
                            p.line("case 1 where t.wireType == .\(Self.wireType(of: key.value)): key = \(key.read(reader: "entry", tag: "t"))")
                            if case .message = value.value {
                                p.line("case 2 where t.wireType == .lengthDelimited: try entry.readMessage(t, into: &value)")
                            } else {
                                p.line("case 2 where t.wireType == .\(Self.wireType(of: value.value)): value = \(value.read(reader: "entry", tag: "t"))")
                            }
                            p.line("default:")
                            p.line("    var ignored = UnknownFields()")
                            p.line("    try entry.skipField(t, into: &ignored)")
                            p.line("}")
                        }
                        p.line("\(property)[key] = value")
                    }
                }
                p.outdent()
            }
            p.line("default:")
            p.line("    try reader.skipField(tag, into: &unknownFields)")
            p.line("}")
        }
    }
}
