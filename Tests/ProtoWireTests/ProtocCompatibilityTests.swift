import EntitlementAPI
import ProtoWire
import Testing

/// One message, encoded by the project and described as text format for protoc.
struct CompatibilityCase: Sendable, CustomTestStringConvertible {
    let name: String
    let type: String
    let schema: ProtoSchema
    let bytes: [UInt8]
    let text: String
    /// Decodes protoc's bytes with the project's codec and encodes them again.
    let reencode: @Sendable ([UInt8]) throws -> [UInt8]

    init<M: ProtoMessage & TextFormatRepresentable>(_ name: String, _ type: String, _ schema: ProtoSchema, _ message: M) {
        self.name = name
        self.type = type
        self.schema = schema
        self.bytes = message.serializedBytes()
        self.text = message.textFormat
        self.reencode = { bytes in try M(serializedBytes: bytes).serializedBytes() }
    }

    var testDescription: String { name }
}

@Suite("Compatibility with protoc")
struct ProtocCompatibilityTests {
    static let contractCases: [CompatibilityCase] = {
        var cases: [CompatibilityCase] = []
        func add<M: ProtoMessage & TextFormatRepresentable>(_ name: String, _ type: String, _ m: M) {
            cases.append(CompatibilityCase(name, "entitlement.v1." + type, .contract, m))
        }
        add("Subject, every field", "Subject", Samples.subject(7))
        var resource = Samples.resource(1)
        resource.attempts = Int32.max
        add("ResourceDelivery, every field", "ResourceDelivery", resource)
        resource.attempts = -1
        resource.state = .unrecognized(99)
        add("ResourceDelivery, -1 attempts, unrecognized state", "ResourceDelivery", resource)
        add("AccessPackageRequest, every field", "AccessPackageRequest", Samples.request(3))

        var edges = Samples.request(4)
        edges.createdAt = Timestamp(seconds: Int64.min, nanos: Int32.min)
        edges.completedAt = Timestamp(seconds: Int64.max, nanos: Int32.max)
        edges.lastReprocessedAt = Timestamp()
        edges.reprocessCount = Int32.min
        edges.requestor = Subject()
        add("AccessPackageRequest, extreme and empty timestamps", "AccessPackageRequest", edges)

        var big = Samples.request(5)
        big.id = Samples.fourKiB
        big.catalogId = Samples.nonASCII
        big.resources = (0..<1000).map { Samples.resource($0) }
        add("AccessPackageRequest, 4 KiB string, 1,000 resources", "AccessPackageRequest", big)

        var list = ListRequestsRequest()
        list.accessPackageId = "ap-1"
        list.states = RequestState.allKnownCases + [.unrecognized(42), .unrecognized(-1), .unrecognized(Int32.max)]
        list.pageSize = -1
        list.pageToken = Samples.nonASCII
        add("ListRequestsRequest, every state, unrecognized and negative states", "ListRequestsRequest", list)
        list.states = (0..<1000).map { RequestState(rawValue: Int32($0 % 12)) }
        list.pageSize = Int32.max
        add("ListRequestsRequest, 1,000 states", "ListRequestsRequest", list)

        add("ListRequestsResponse, 50 requests", "ListRequestsResponse", Samples.listResponse(count: 50))
        add("ListRequestsResponse, empty", "ListRequestsResponse", ListRequestsResponse())

        var reprocess = ReprocessRequest()
        reprocess.accessPackageId = Samples.nonASCII
        reprocess.requestIds = (0..<1000).map { $0 % 100 == 0 ? "" : "req-\($0)" }
        add("ReprocessRequest, 1,000 ids with empty ones", "ReprocessRequest", reprocess)

        var result = ReprocessResult()
        result.requestId = "req-1"
        result.outcome = .alreadyInProgress
        result.detail = "request is being delivered"
        result.request = Samples.request(1)
        add("ReprocessResult, every field", "ReprocessResult", result)

        var response = ReprocessResponse()
        response.results = (ReprocessOutcome.allKnownCases + [.unrecognized(77)]).enumerated().map { index, outcome in
            var r = ReprocessResult()
            r.requestId = "req-\(index)"
            r.outcome = outcome
            if outcome == .accepted { r.request = Samples.request(index) }
            return r
        }
        add("ReprocessResponse, every outcome", "ReprocessResponse", response)

        var health = HealthCheckRequest()
        health.service = "entitlement.v1.AccessPackageRequests"
        cases.append(CompatibilityCase("HealthCheckRequest", "grpc.health.v1.HealthCheckRequest", .health, health))
        for status in HealthCheckResponse.ServingStatus.allKnownCases {
            var h = HealthCheckResponse()
            h.status = status
            cases.append(
                CompatibilityCase("HealthCheckResponse \(status.protoName)", "grpc.health.v1.HealthCheckResponse", .health, h)
            )
        }
        return cases
    }()

    static let scalarCases: [CompatibilityCase] = {
        var cases: [CompatibilityCase] = []
        func add(_ name: String, _ m: Scalars) {
            cases.append(CompatibilityCase(name, "wiretest.Scalars", .scalars, m))
        }
        add("Scalars, all defaults", Scalars())
        var all = Samples.allFieldsScalars
        add("Scalars, every field (oneof: message)", all)
        all.choice = .choiceName("")
        add("Scalars, every field (oneof: empty string)", all)
        all.choice = .choiceNumber(0)
        all.optionalInt32 = -1
        add("Scalars, every field (oneof: zero number)", all)

        add(
            "Scalars, -1 everywhere",
            Samples.scalars(int64: -1, uint64: UInt64.max, float: -1, double: -1, string: "-1", bytes: [0xFF])
        )
        var minimum = Samples.scalars(
            int64: Int64.min, uint64: 1, float: -.greatestFiniteMagnitude, double: -.greatestFiniteMagnitude,
            string: "\u{0}", bytes: [0]
        )
        minimum.int32Value = Int32.min
        minimum.sint32Value = Int32.min
        minimum.sfixed32Value = Int32.min
        minimum.repeatedInt32 = [Int32.min]
        minimum.repeatedSint32 = [Int32.min]
        minimum.repeatedSfixed32 = [Int32.min]
        minimum.enumValue = .unrecognized(Int32.min)
        add("Scalars, minimum values", minimum)
        var maximum = Samples.scalars(
            int64: Int64.max, uint64: UInt64.max, float: .greatestFiniteMagnitude, double: .greatestFiniteMagnitude,
            string: "\u{10FFFF}", bytes: [0xFF]
        )
        maximum.int32Value = Int32.max
        maximum.uint32Value = UInt32.max
        maximum.sint32Value = Int32.max
        maximum.sfixed32Value = Int32.max
        maximum.fixed32Value = UInt32.max
        maximum.enumValue = .unrecognized(Int32.max)
        maximum.maxFieldNumber = Int32.max
        add("Scalars, maximum values", maximum)
        add(
            "Scalars, NaN and +inf",
            Samples.scalars(int64: 1, uint64: 1, float: .nan, double: .infinity, string: "", bytes: [])
        )
        var specials = Samples.scalars(int64: 1, uint64: 1, float: -.infinity, double: .nan, string: "", bytes: [])
        specials.repeatedFloat = [.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, .leastNormalMagnitude]
        specials.repeatedDouble = [.nan, .infinity, -.infinity, -0.0, 0, .leastNonzeroMagnitude, .pi]
        add("Scalars, -inf, NaN, -0.0 and subnormals", specials)
        var strings = Scalars()
        strings.stringValue = Samples.fourKiB
        strings.bytesValue = (0..<4096).map { UInt8(truncatingIfNeeded: $0) }
        strings.repeatedString = ["", Samples.fourKiB, Samples.nonASCII, ""]
        strings.repeatedBytes = [[], (0...255).map { UInt8($0) }]
        strings.stringToInt = ["": 0]
        strings.intToNested = [0: Nested()]
        add("Scalars, empty, 4 KiB and non-ASCII strings, default map entries", strings)
        add("Scalars, 1,000-element repeated fields", Samples.thousandElementScalars)

        var rng = SplitMix64(seed: 0xC0FFEE)
        for index in 0..<12 {
            add("Scalars, random #\(index)", rng.scalars(maxRepeated: 6, maxMapEntries: 1))
        }

        var keywords = Keywords()
        keywords.default = "default"
        keywords.class = 3
        keywords.kind = .class
        keywords.in = ["in", ""]
        cases.append(CompatibilityCase("Keywords as names", "wiretest.Keywords", .scalars, keywords))
        var recursive = Recursive()
        for depth in 1...5 {
            var parent = Recursive()
            parent.depth = Int32(depth)
            parent.child = recursive
            recursive = parent
        }
        cases.append(CompatibilityCase("Recursive, five levels", "wiretest.Recursive", .scalars, recursive))
        return cases
    }()

    @Test("the project's bytes equal protoc --encode, and protoc --decode reads them back", arguments: contractCases + scalarCases)
    func matchesProtoc(_ c: CompatibilityCase) async throws {
        try #require(Protoc.executable != nil, Comment(rawValue: Protoc.missingMessage))
        let expected = try await Protoc.encode(c.type, schema: c.schema, text: c.text)
        #expect(c.bytes.count == expected.count)
        #expect(c.bytes == expected, "bytes differ from protoc --encode")
        let decodedText = try await Protoc.decode(c.type, schema: c.schema, bytes: c.bytes)
        let reencoded = try await Protoc.encode(c.type, schema: c.schema, text: decodedText)
        #expect(reencoded == c.bytes, "protoc --decode of the project's bytes does not describe the same message")
        #expect(try c.reencode(expected) == expected, "decoding protoc's bytes and encoding them again changes them")
    }

    @Test("maps with many entries: protoc's bytes decode to the same dictionaries")
    func multiEntryMaps() async throws {
        try #require(Protoc.executable != nil, Comment(rawValue: Protoc.missingMessage))
        var m = Scalars()
        for i in 0..<50 {
            m.stringToInt["key \(i) ☃"] = Int32(i) - 25
            var n = Nested()
            n.value = Int32(i)
            n.name = "n\(i)"
            m.intToNested[Int32(i) * 1_000_003 - 20_000_000] = n
        }
        let expected = try await Protoc.encode("wiretest.Scalars", schema: .scalars, text: m.textFormat)
        #expect(try Scalars(serializedBytes: expected) == m)
        #expect(m.serializedBytes().count == expected.count)
        let text = try await Protoc.decode("wiretest.Scalars", schema: .scalars, bytes: m.serializedBytes())
        let again = try await Protoc.encode("wiretest.Scalars", schema: .scalars, text: text)
        #expect(try Scalars(serializedBytes: again) == m)
    }

    @Test("unpacked encodings of packed fields (as proto2 writers send them) decode the same")
    func unpackedInput() async throws {
        var m = Scalars()
        m.repeatedInt32 = [1, -1, 300]
        m.repeatedFixed64 = [1, UInt64.max]
        m.repeatedEnum = [.red, .unrecognized(9)]
        m.repeatedDouble = [1.5, -2]
        m.unpackedInt32 = [7, 8]
        var unpacked: [UInt8] = []
        for v in m.repeatedInt32 { unpacked += tag(21, .varint) + varint(UInt64(bitPattern: Int64(v))) }
        for v in m.repeatedEnum { unpacked += tag(28, .varint) + varint(UInt64(bitPattern: Int64(v.rawValue))) }
        for v in m.repeatedFixed64 { unpacked += tag(30, .fixed64) + written(capacity: 8) { $0.writeFixed64(v) } }
        for v in m.repeatedDouble { unpacked += tag(34, .fixed64) + written(capacity: 8) { $0.writeFixed64(v.bitPattern) } }
        unpacked += lengthDelimited(48, [7, 8])  // the unpacked field sent packed
        #expect(try Scalars(serializedBytes: unpacked) == m)
        // And an unpacked field is written one element per tag, as protoc does.
        if Protoc.executable != nil {
            let protocBytes = try await Protoc.encode("wiretest.Scalars", schema: .scalars, text: m.textFormat)
            #expect(protocBytes == m.serializedBytes())
        }
    }
}
