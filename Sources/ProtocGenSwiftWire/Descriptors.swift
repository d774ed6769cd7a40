import ProtoWire

/// A message of descriptor.proto / plugin.proto that the plugin only ever decodes.
protocol DecodableMessage {
    init()
    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError)
}

extension DecodableMessage {
    init(decoding bytes: [UInt8]) throws(ProtoDecodingError) {
        var result: Result<Self, ProtoDecodingError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            do throws(ProtoDecodingError) {
                var reader = ProtoReader(raw)
                var message = Self()
                try message.merge(from: &reader)
                result = .success(message)
            } catch {
                result = .failure(error)
            }
        }
        self = try result.get()
    }

    mutating func merge(from reader: inout ProtoReader) throws(ProtoDecodingError) {
        while let tag = try reader.nextTag() {
            try decodeField(tag, from: &reader)
        }
    }
}

extension ProtoReader {
    /// Decodes a length-delimited sub-message of a descriptor type.
    mutating func readDescriptor<M: DecodableMessage>(_ tag: FieldTag) throws(ProtoDecodingError) -> M {
        try withSubReader(tag) { (sub: inout ProtoReader) throws(ProtoDecodingError) -> M in
            var message = M()
            try message.merge(from: &sub)
            return message
        }
    }

    /// Skips a field the plugin does not need.
    mutating func skip(_ tag: FieldTag) throws(ProtoDecodingError) {
        var discarded = UnknownFields()
        try skipField(tag, into: &discarded)
    }

    /// Reads the raw payload of a length-delimited field.
    mutating func readRawBytes(_ tag: FieldTag) throws(ProtoDecodingError) -> [UInt8] {
        guard tag.wireType == .lengthDelimited else {
            throw .wrongWireType(field: tag.fieldNumber, got: tag.wireType)
        }
        return [UInt8](try readLengthDelimited())
    }
}

/// `google.protobuf.FileDescriptorProto` (the subset the generator reads).
struct FileDescriptor: DecodableMessage {
    var name = ""
    var package = ""
    var dependencies: [String] = []
    var messages: [MessageDescriptor] = []
    var enums: [EnumDescriptor] = []
    var services: [ServiceDescriptor] = []
    var hasExtensions = false
    var syntax = ""
    var sourceCodeInfo = SourceCodeInfo()
    /// `option swift_prefix`: put before the Swift names of the file's top-level types (two
    /// versions of one API, such as grpc.reflection v1 and v1alpha, can then share a module).
    var swiftPrefix = ""

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: package = try reader.readString(tag)
        case 3: dependencies.append(try reader.readString(tag))
        case 4: messages.append(try reader.readDescriptor(tag))
        case 5: enums.append(try reader.readDescriptor(tag))
        case 6: services.append(try reader.readDescriptor(tag))
        case 7:
            hasExtensions = true
            try reader.skip(tag)
        case 8:
            let options: FileOptions = try reader.readDescriptor(tag)
            swiftPrefix = options.swiftPrefix
        case 9: sourceCodeInfo = try reader.readDescriptor(tag)
        case 12: syntax = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.DescriptorProto`.
struct MessageDescriptor: DecodableMessage {
    var name = ""
    var fields: [FieldDescriptor] = []
    var nestedMessages: [MessageDescriptor] = []
    var enums: [EnumDescriptor] = []
    var oneofNames: [String] = []
    var isMapEntry = false
    var hasExtensions = false

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: fields.append(try reader.readDescriptor(tag))
        case 3: nestedMessages.append(try reader.readDescriptor(tag))
        case 4: enums.append(try reader.readDescriptor(tag))
        case 5, 6:
            hasExtensions = true
            try reader.skip(tag)
        case 7:
            let options: MessageOptions = try reader.readDescriptor(tag)
            isMapEntry = options.mapEntry
        case 8:
            let oneof: OneofDescriptor = try reader.readDescriptor(tag)
            oneofNames.append(oneof.name)
        default: try reader.skip(tag)
        }
    }
}

struct MessageOptions: DecodableMessage {
    var mapEntry = false

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 7: mapEntry = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }
}

struct OneofDescriptor: DecodableMessage {
    var name = ""

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.FieldDescriptorProto`.
struct FieldDescriptor: DecodableMessage {
    enum Label: Int32 {
        case optional = 1
        case required = 2
        case repeated = 3
    }

    enum Kind: Int32 {
        case double = 1
        case float = 2
        case int64 = 3
        case uint64 = 4
        case int32 = 5
        case fixed64 = 6
        case fixed32 = 7
        case bool = 8
        case string = 9
        case group = 10
        case message = 11
        case bytes = 12
        case uint32 = 13
        case `enum` = 14
        case sfixed32 = 15
        case sfixed64 = 16
        case sint32 = 17
        case sint64 = 18
    }

    var name = ""
    var number: Int32 = 0
    var label: Label = .optional
    var kind: Kind = .int32
    var rawKind: Int32 = 5
    var typeName = ""
    var oneofIndex: Int32?
    var proto3Optional = false
    var packed: Bool?

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 3: number = try reader.readInt32(tag)
        case 4: label = Label(rawValue: try reader.readEnum(tag)) ?? .optional
        case 5:
            rawKind = try reader.readEnum(tag)
            kind = Kind(rawValue: rawKind) ?? .group
        case 6: typeName = try reader.readString(tag)
        case 8:
            let options: FieldOptions = try reader.readDescriptor(tag)
            packed = options.packed
        case 9: oneofIndex = try reader.readInt32(tag)
        case 17: proto3Optional = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.FileOptions`: only what the generator uses.
struct FileOptions: DecodableMessage {
    var swiftPrefix = ""

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 39: swiftPrefix = try reader.readString(tag)
        default: try reader.skip(tag)
        }
    }
}

struct FieldOptions: DecodableMessage {
    var packed: Bool?

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 2: packed = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.EnumDescriptorProto`.
struct EnumDescriptor: DecodableMessage {
    var name = ""
    var values: [EnumValueDescriptor] = []

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: values.append(try reader.readDescriptor(tag))
        default: try reader.skip(tag)
        }
    }
}

struct EnumValueDescriptor: DecodableMessage {
    var name = ""
    var number: Int32 = 0

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: number = try reader.readInt32(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.ServiceDescriptorProto`.
struct ServiceDescriptor: DecodableMessage {
    var name = ""
    var methods: [MethodDescriptorProto] = []

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: methods.append(try reader.readDescriptor(tag))
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.MethodDescriptorProto`.
struct MethodDescriptorProto: DecodableMessage {
    var name = ""
    var inputType = ""
    var outputType = ""
    var clientStreaming = false
    var serverStreaming = false

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: name = try reader.readString(tag)
        case 2: inputType = try reader.readString(tag)
        case 3: outputType = try reader.readString(tag)
        case 5: clientStreaming = try reader.readBool(tag)
        case 6: serverStreaming = try reader.readBool(tag)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.SourceCodeInfo`: only the leading comments, keyed by location path.
struct SourceCodeInfo: DecodableMessage {
    var leadingComments: [[Int32]: String] = [:]

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1:
            let location: Location = try reader.readDescriptor(tag)
            if !location.leadingComments.isEmpty {
                leadingComments[location.path] = location.leadingComments
            }
        default: try reader.skip(tag)
        }
    }

    struct Location: DecodableMessage {
        var path: [Int32] = []
        var leadingComments = ""

        mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
            switch tag.fieldNumber {
            case 1: try reader.readRepeatedVarint(tag) { path.append(Int32(truncatingIfNeeded: $0)) }
            case 3: leadingComments = try reader.readString(tag)
            default: try reader.skip(tag)
            }
        }
    }
}

/// `google.protobuf.compiler.CodeGeneratorRequest`.
struct CodeGeneratorRequest: DecodableMessage {
    var filesToGenerate: [String] = []
    var parameter = ""
    var protoFiles: [FileDescriptor] = []
    /// Each `protoFiles` entry's bytes as protoc sent them, for embedding.
    var protoFileBytes: [[UInt8]] = []

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: filesToGenerate.append(try reader.readString(tag))
        case 2: parameter = try reader.readString(tag)
        case 15:
            let raw = try reader.readRawBytes(tag)
            protoFiles.append(try FileDescriptor(decoding: raw))
            protoFileBytes.append(raw)
        default: try reader.skip(tag)
        }
    }
}

/// `google.protobuf.compiler.CodeGeneratorResponse`.
struct CodeGeneratorResponse: ProtoMessage {
    struct File: ProtoMessage {
        var name = ""
        var content = ""
        var unknownFields = UnknownFields()

        func encodedSize() -> Int {
            ProtoSize.string(name, field: 1) + ProtoSize.string(content, field: 15)
        }

        func encode(to writer: inout ProtoWriter) {
            writer.writeString(name, field: 1)
            writer.writeString(content, field: 15)
        }

        mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
            try reader.skipField(tag, into: &unknownFields)
        }
    }

    /// `FEATURE_PROTO3_OPTIONAL`.
    static let featureProto3Optional: UInt64 = 1

    var error: String?
    var supportedFeatures: UInt64 = featureProto3Optional
    var files: [File] = []
    var unknownFields = UnknownFields()

    func encodedSize() -> Int {
        var size = 0
        if let error { size += ProtoSize.string(error, field: 1) }
        size += ProtoSize.uint64(supportedFeatures, field: 2)
        for file in files { size += ProtoSize.message(file, field: 15) }
        return size
    }

    func encode(to writer: inout ProtoWriter) {
        if let error { writer.writeString(error, field: 1) }
        writer.writeUInt64(supportedFeatures, field: 2)
        for file in files { writer.writeMessage(file, field: 15) }
    }

    mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        try reader.skipField(tag, into: &unknownFields)
    }
}
