import ProtoWire

/// Which file declares which symbol, from serialized `FileDescriptorProto`s (the ones the
/// generator embeds). Only names are read: file, package, dependencies, and the full names of
/// messages (nested too), their fields and oneofs, enums and their values, services and methods:
/// every name protobuf scopes, as other servers' reflection resolves (`grpcurl describe
/// entitlement.v1.Subject.display_name`). Enum values are scoped beside their enum, as in C++.
struct DescriptorIndex: Sendable {
    struct File: Sendable {
        let name: String
        let bytes: [UInt8]
        let dependencies: [String]
    }

    private(set) var files: [String: File] = [:]
    private(set) var fileOfSymbol: [String: String] = [:]
    /// The full names of message types (nested too): the symbols extensions could extend.
    private(set) var messageTypes: Set<String> = []

    /// - Throws: a description of the first file that does not decode.
    init(fileDescriptorProtos: [[UInt8]]) throws {
        for bytes in fileDescriptorProtos {
            var name = ""
            var package = ""
            var dependencies: [String] = []
            var symbols: [String] = []
            var messages: [String] = []
            try bytes.withUnsafeBytes { raw in
                var reader = ProtoReader(raw)
                var scratch = UnknownFields()
                while let tag = try reader.nextTag() {
                    switch tag.fieldNumber {
                    case 1: name = try reader.readString(tag)
                    case 2: package = try reader.readString(tag)
                    case 3: dependencies.append(try reader.readString(tag))
                    case 4: symbols += try Self.messageSymbols(try reader.readBytes(tag), scope: nil, messages: &messages)
                    case 5: symbols += try reader.withSubReader(tag) { sub throws(ProtoDecodingError) in try Self.enumSymbols(&sub, scope: nil) }
                    case 6: symbols += try reader.withSubReader(tag) { sub throws(ProtoDecodingError) in try Self.serviceSymbols(&sub) }
                    default: try reader.skipField(tag, into: &scratch)
                    }
                    scratch = UnknownFields()
                }
            }
            let prefix = package.isEmpty ? "" : package + "."
            files[name] = File(name: name, bytes: bytes, dependencies: dependencies)
            for symbol in symbols { fileOfSymbol[prefix + symbol] = name }
            for message in messages { messageTypes.insert(prefix + message) }
        }
    }

    /// `file` and every file it depends on, transitively, each once (the file first).
    func withDependencies(_ file: String) -> [File] {
        var out: [File] = []
        var seen: Set<String> = []
        var pending = [file]
        while let next = pending.first {
            pending.removeFirst()
            guard seen.insert(next).inserted, let found = files[next] else { continue }
            out.append(found)
            pending += found.dependencies
        }
        return out
    }

    /// Field 1 (`name`) of a descriptor message.
    private static func name(_ reader: inout ProtoReader) throws(ProtoDecodingError) -> String? {
        var name: String?
        var scratch = UnknownFields()
        while let tag = try reader.nextTag() {
            if tag.fieldNumber == 1 { name = try reader.readString(tag) } else { try reader.skipField(tag, into: &scratch) }
            scratch = UnknownFields()
        }
        return name
    }

    /// A `DescriptorProto`'s name and those of its fields (2), nested messages (3), enums (4) and
    /// oneofs (8).
    private static func messageSymbols(_ reader: inout ProtoReader, scope: String?, messages: inout [String]) throws -> [String] {
        var name = ""
        var members: [String] = []
        var nested: [[UInt8]] = []
        var enums: [[UInt8]] = []
        var scratch = UnknownFields()
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: name = try reader.readString(tag)
            case 2, 8: if let m = try reader.withSubReader(tag, { sub throws(ProtoDecodingError) in try Self.name(&sub) }) { members.append(m) }
            case 3: nested.append(try reader.readBytes(tag))
            case 4: enums.append(try reader.readBytes(tag))
            default: try reader.skipField(tag, into: &scratch)
            }
            scratch = UnknownFields()
        }
        let full = scope.map { $0 + "." + name } ?? name
        messages.append(full)
        var symbols = [full] + members.map { full + "." + $0 }
        for bytes in enums {
            symbols += try bytes.withUnsafeBytes { raw in
                var sub = ProtoReader(raw)
                return try enumSymbols(&sub, scope: full)
            }
        }
        for bytes in nested { symbols += try messageSymbols(bytes, scope: full, messages: &messages) }
        return symbols
    }

    /// An `EnumDescriptorProto`'s full name and its values' (2), which share the enum's scope.
    private static func enumSymbols(_ reader: inout ProtoReader, scope: String?) throws(ProtoDecodingError) -> [String] {
        var name = ""
        var values: [String] = []
        var scratch = UnknownFields()
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: name = try reader.readString(tag)
            case 2: if let v = try reader.withSubReader(tag, { sub throws(ProtoDecodingError) in try Self.name(&sub) }) { values.append(v) }
            default: try reader.skipField(tag, into: &scratch)
            }
            scratch = UnknownFields()
        }
        let prefix = scope.map { $0 + "." } ?? ""
        return [prefix + name] + values.map { prefix + $0 }
    }

    private static func messageSymbols(_ bytes: [UInt8], scope: String?, messages: inout [String]) throws -> [String] {
        try bytes.withUnsafeBytes { raw in
            var reader = ProtoReader(raw)
            return try messageSymbols(&reader, scope: scope, messages: &messages)
        }
    }

    /// A `ServiceDescriptorProto`'s name and its methods' (2) full names.
    private static func serviceSymbols(_ reader: inout ProtoReader) throws(ProtoDecodingError) -> [String] {
        var name = ""
        var methods: [String] = []
        var scratch = UnknownFields()
        while let tag = try reader.nextTag() {
            switch tag.fieldNumber {
            case 1: name = try reader.readString(tag)
            case 2: if let m = try reader.withSubReader(tag, { sub throws(ProtoDecodingError) in try Self.name(&sub) }) { methods.append(m) }
            default: try reader.skipField(tag, into: &scratch)
            }
            scratch = UnknownFields()
        }
        return [name] + methods.map { name + "." + $0 }
    }
}
