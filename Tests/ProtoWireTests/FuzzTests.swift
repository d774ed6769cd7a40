import EntitlementAPI
import ProtoWire
import Testing

@Suite("Decoder fuzzing (fixed seed)")
struct FuzzTests {
    static let iterations = 20_000

    /// Decodes `input`; a success must encode to `encodedSize()` bytes and decode again to an equal value.
    static func check<M: ProtoMessage>(
        _ type: M.Type,
        _ input: [UInt8],
        normalized: (M) -> M = { $0 },
        stats: inout [String: Int]
    ) {
        do throws(ProtoDecodingError) {
            let message = try M(serializedBytes: input)
            stats["ok", default: 0] += 1
            let bytes = message.serializedBytes()
            #expect(bytes.count == message.encodedSize())
            do throws(ProtoDecodingError) {
                let again = try M(serializedBytes: bytes)
                #expect(normalized(again) == normalized(message), "round trip changed the message; input \(input)")
            } catch {
                Issue.record("re-encoded bytes do not decode (\(error)); input \(input)")
            }
        } catch {
            // The typed throw is the point: any other failure would have trapped or not compiled.
            stats["\(error)".prefix(while: { $0 != "(" && $0 != " " }).description, default: 0] += 1
        }
    }

    static func mutate(_ input: [UInt8], corpus: [[UInt8]], rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty:  // bit flips
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let i = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                }
            case 1 where !bytes.isEmpty:  // truncation
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 2:  // splice: a prefix of this input, a suffix of another
                let other = corpus.randomElement(using: &rng)!
                let cut = Int.random(in: 0...bytes.count, using: &rng)
                let from = Int.random(in: 0...other.count, using: &rng)
                bytes = Array(bytes[0..<cut]) + Array(other[from...])
            case 3:  // insert random bytes
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: rng.bytes(maxLength: 6), at: at)
            case 4 where !bytes.isEmpty:  // interesting byte values
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] = [0x00, 0x7F, 0x80, 0xFF, 0x0E, 0x0F, 0x0B, 0x0C].randomElement(using: &rng)!
            case 5 where !bytes.isEmpty:  // duplicate a chunk
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let end = Int.random(in: start...min(bytes.count, start + 16), using: &rng)
                bytes.insert(contentsOf: bytes[start..<end], at: Int.random(in: 0...bytes.count, using: &rng))
            default:
                break
            }
        }
        return bytes
    }

    @Test("20,000 random and mutated inputs either decode and round-trip or throw a ProtoDecodingError")
    func fuzzDecoders() {
        var rng = SplitMix64(seed: 0x5EED_F0CC)
        var corpus: [[UInt8]] = []
        for _ in 0..<32 {
            corpus.append(rng.accessPackageRequest().serializedBytes())
            corpus.append(rng.scalars(maxRepeated: 3, maxMapEntries: 2).serializedBytes())
        }
        corpus.append(Samples.request(1).serializedBytes())
        corpus.append(Samples.allFieldsScalars.serializedBytes())

        var stats: [String: Int] = [:]
        for iteration in 0..<Self.iterations {
            let input: [UInt8] =
                iteration % 5 == 0
                ? rng.bytes(maxLength: 48)
                : Self.mutate(corpus.randomElement(using: &rng)!, corpus: corpus, rng: &rng)
            Self.check(AccessPackageRequest.self, input, stats: &stats)
            Self.check(Scalars.self, input, normalized: { $0.withoutNaN }, stats: &stats)
        }
        #expect(stats.values.reduce(0, +) == 2 * Self.iterations)
        // The mutations reach both outcomes, and more than one kind of error.
        #expect(stats["ok", default: 0] > 1_000)
        #expect(stats.keys.count >= 5, "outcomes: \(stats)")
    }

    @Test("regression inputs decode without trapping")
    func regressions() {
        // Inputs that once exercised edge paths: empty packed runs, zero-length groups, max field numbers.
        let inputs: [[UInt8]] = [
            lengthDelimited(21, []),
            lengthDelimited(29, []),
            [0x7B, 0x7C],
            tag(FieldTag.maxFieldNumber, .lengthDelimited) + [0x00],
            lengthDelimited(43, []),  // a map entry with neither key nor value
            lengthDelimited(42, lengthDelimited(2, [])),  // a map value with the wrong wire type
            [0x8A, 0x80, 0x80, 0x80, 0x00, 0x00],  // an over-long tag varint for field 1
        ]
        var stats: [String: Int] = [:]
        for input in inputs {
            Self.check(AccessPackageRequest.self, input, stats: &stats)
            Self.check(Scalars.self, input, normalized: { $0.withoutNaN }, stats: &stats)
        }
        #expect(stats.values.reduce(0, +) == 2 * inputs.count)
    }
}

@Suite("Randomised round trips (fixed seed)")
struct RoundTripTests {
    @Test("random Scalars messages encode to encodedSize() bytes and decode to the same value")
    func scalars() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<400 {
            let m = rng.scalars()
            let bytes = m.serializedBytes()
            #expect(bytes.count == m.encodedSize())
            let decoded = try Scalars(serializedBytes: bytes)
            #expect(decoded.withoutNaN == m.withoutNaN)
        }
    }

    @Test("random contract messages round-trip, byte for byte")
    func contract() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let r = rng.accessPackageRequest()
            let bytes = r.serializedBytes()
            let decoded = try AccessPackageRequest(serializedBytes: bytes)
            #expect(decoded == r)
            #expect(decoded.serializedBytes() == bytes)

            var response = ListRequestsResponse()
            response.requests = rng.array(maxCount: 4) { $0.accessPackageRequest() }
            response.nextPageToken = rng.string()
            #expect(try ListRequestsResponse(serializedBytes: response.serializedBytes()) == response)

            var list = ListRequestsRequest()
            list.states = rng.array(maxCount: 8) { RequestState(rawValue: $0.int()) }
            list.pageSize = rng.int()
            #expect(try ListRequestsRequest(serializedBytes: list.serializedBytes()) == list)
        }
    }

    @Test("concatenated encodings merge: repeated fields append, singular fields take the last value")
    func concatenationMerges() throws {
        var rng = SplitMix64(seed: 99)
        for _ in 0..<100 {
            let a = rng.accessPackageRequest()
            let b = rng.accessPackageRequest()
            let merged = try AccessPackageRequest(serializedBytes: a.serializedBytes() + b.serializedBytes())
            #expect(merged.resources == a.resources + b.resources)
            #expect(merged.id == (b.id.isEmpty ? a.id : b.id))
            #expect(merged.state == (b.state.rawValue == 0 ? a.state : b.state))
        }
    }
}
