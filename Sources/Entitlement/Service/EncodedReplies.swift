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

    public func encode(to writer: inout ProtoWriter) {
        for request in requests { writer.writeEncoded(request, field: 1) }
        if !nextPageToken.isEmpty { writer.writeString(nextPageToken, field: 2) }
        writer.writeUnknownFields(unknownFields)
    }

    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1: requests.append(try reader.readEncoded(tag, as: AccessPackageRequest.self))
        case 2: nextPageToken = try reader.readString(tag)
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
        var size = unknownFields.count
        for result in results { size += ProtoSize.lengthDelimited(payload: Self.size(of: result), field: 1) }
        return size
    }

    public func encode(to writer: inout ProtoWriter) {
        for result in results {
            writer.writeLengthDelimited(field: 1, payloadSize: Self.size(of: result)) { writer in
                // The fields of `ReprocessResult`, in its field order.
                if !result.requestId.isEmpty { writer.writeString(result.requestId, field: 1) }
                if result.outcome != .unspecified { writer.writeEnum(result.outcome.rawValue, field: 2) }
                if !result.detail.isEmpty { writer.writeString(result.detail, field: 3) }
                if let request = result.encodedRequest { writer.writeEncoded(request, field: 4) }
            }
        }
        writer.writeUnknownFields(unknownFields)
    }

    /// The size of one `ReprocessResult` message.
    private static func size(of result: ReprocessVerdict) -> Int {
        var size = 0
        if !result.requestId.isEmpty { size += ProtoSize.string(result.requestId, field: 1) }
        if result.outcome != .unspecified { size += ProtoSize.enumValue(result.outcome.rawValue, field: 2) }
        if !result.detail.isEmpty { size += ProtoSize.string(result.detail, field: 3) }
        if let request = result.encodedRequest { size += ProtoSize.encoded(request, field: 4) }
        return size
    }

    public mutating func decodeField(_ tag: FieldTag, from reader: inout ProtoReader) throws(ProtoDecodingError) {
        switch tag.fieldNumber {
        case 1:
            let result = try reader.readMessage(tag, as: ReprocessResult.self)
            results.append(
                ReprocessVerdict(
                    requestId: result.requestId, outcome: result.outcome, detail: result.detail,
                    encodedRequest: result.request.map(EncodedMessage.init)))
        default:
            try reader.skipField(tag, into: &unknownFields)
        }
    }
}
