public import EntitlementAPI
public import ProtoWire

// The server's answers to ListRequests and Reprocess: wire-identical to the generated
// `ListRequestsResponse` and `ReprocessResponse`, but each request is written from the encoding
// the store keeps (a copy of bytes) instead of being copied out of the store and encoded field by
// field on every call. Decoding one (tests, a client of these types) keeps the requests encoded too.

/// `ListRequestsResponse` written from stored encodings.
public struct ListRequestsReply: ProtoMessage {
    /// Field 1, `requests`.
    public var requests: [EncodedMessage<AccessPackageRequest>] = []
    /// Field 2, `next_page_token`.
    public var nextPageToken: String = ""
    public var unknownFields = UnknownFields()

    public init() {}

    /// The generated message with the same fields.
    public var decoded: ListRequestsResponse {
        var response = ListRequestsResponse()
        response.requests = requests.map(\.message)
        response.nextPageToken = nextPageToken
        return response
    }

    public func encodedSize() -> Int {
        var size = unknownFields.count
        for request in requests { size += ProtoSize.encoded(request, field: 1) }
        if !nextPageToken.isEmpty { size += ProtoSize.string(nextPageToken, field: 2) }
        return size
    }

    /// No sub-message is encoded here (requests are kept bytes), so there is nothing to record.
    public func encodedSize(cache: inout ProtoSizeCache) -> Int {
        encodedSize()
    }

    public func encode(to writer: inout ProtoWriter) {
        for request in requests { writer.writeEncoded(request, field: 1) }
        if !nextPageToken.isEmpty { writer.writeString(nextPageToken, field: 2) }
        writer.writeUnknownFields(unknownFields)
    }

    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        // Another wire type is an unknown field, as in the generated messages.
        case 1 where tag.wireType == .lengthDelimited: requests.append(try reader.readEncoded(tag, as: AccessPackageRequest.self))
        case 2 where tag.wireType == .lengthDelimited: nextPageToken = try reader.readString(tag)
        default: try reader.skipField(tag, into: &unknownFields)
        }
    }
}

/// `ReprocessResponse` written from the store's verdicts (each request from its stored encoding).
public struct ReprocessReply: ProtoMessage {
    /// Field 1, `results`.
    public var results: [ReprocessVerdict] = []
    public var unknownFields = UnknownFields()

    public init() {}

    public init(results: [ReprocessVerdict]) {
        self.results = results
    }

    /// The generated message with the same fields.
    public var decoded: ReprocessResponse {
        var response = ReprocessResponse()
        response.results = results.map(\.result)
        return response
    }

    public func encodedSize() -> Int {
        var cache = ProtoSizeCache.disabled
        return encodedSize(cache: &cache)
    }

    public func encodedSize(cache: inout ProtoSizeCache) -> Int {
        var size = unknownFields.count
        for result in results { size += ProtoSize.message(result, field: 1, cache: &cache) }
        return size
    }

    public func encode(to writer: inout ProtoWriter) {
        for result in results { writer.writeMessage(result, field: 1) }
        writer.writeUnknownFields(unknownFields)
    }

    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1 where tag.wireType == .lengthDelimited: results.append(try reader.readMessage(tag, as: ReprocessVerdict.self))
        default: try reader.skipField(tag, into: &unknownFields)
        }
    }
}

/// A verdict is a `ReprocessResult` on the wire: the same fields, its request written from (and
/// read into) its encoding.
extension ReprocessVerdict: ProtoMessage {
    public init() {
        self.init(requestId: "", outcome: .unspecified, detail: "", encodedRequest: nil)
    }

    public func encodedSize() -> Int {
        var size = unknownFields.count
        if !requestId.isEmpty { size += ProtoSize.string(requestId, field: 1) }
        if outcome != .unspecified { size += ProtoSize.enumValue(outcome.rawValue, field: 2) }
        if !detail.isEmpty { size += ProtoSize.string(detail, field: 3) }
        if let encodedRequest { size += ProtoSize.encoded(encodedRequest, field: 4) }
        return size
    }

    /// No sub-message is encoded here (the request is kept bytes), so there is nothing to record.
    public func encodedSize(cache: inout ProtoSizeCache) -> Int {
        encodedSize()
    }

    public func encode(to writer: inout ProtoWriter) {
        if !requestId.isEmpty { writer.writeString(requestId, field: 1) }
        if outcome != .unspecified { writer.writeEnum(outcome.rawValue, field: 2) }
        if !detail.isEmpty { writer.writeString(detail, field: 3) }
        if let encodedRequest { writer.writeEncoded(encodedRequest, field: 4) }
        writer.writeUnknownFields(unknownFields)
    }

    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1 where tag.wireType == .lengthDelimited: requestId = try reader.readString(tag)
        case 2 where tag.wireType == .varint: outcome = ReprocessOutcome(rawValue: try reader.readEnum(tag))
        case 3 where tag.wireType == .lengthDelimited: detail = try reader.readString(tag)
        case 4 where tag.wireType == .lengthDelimited: encodedRequest = try reader.readEncoded(tag, as: AccessPackageRequest.self)
        default: try reader.skipField(tag, into: &unknownFields)
        }
    }
}
