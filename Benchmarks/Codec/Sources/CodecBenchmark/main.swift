#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EntitlementAPI
import ProtoWire

/// Counts from the LD_PRELOAD malloc counter (cpp/count_alloc.c), if it is loaded.
typealias AllocationCounter = @convention(c) () -> UInt64
let allocationCounter: AllocationCounter? = dlsym(nil, "bench_alloc_count").map {
    unsafeBitCast($0, to: AllocationCounter.self)
}

func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Best-of-`rounds` nanoseconds per call, and allocations per call.
func measure(rounds: Int = 7, iterations: Int, _ body: () -> Int) -> (ns: Double, allocs: Double?) {
    var sink = 0
    for _ in 0..<max(1, iterations / 10) { sink &+= body() }  // warm up
    var best = Double.infinity
    var allocs: Double?
    for _ in 0..<rounds {
        let allocsBefore = allocationCounter?()
        let start = nanoseconds()
        for _ in 0..<iterations { sink &+= body() }
        let elapsed = Double(nanoseconds() - start) / Double(iterations)
        if let allocsBefore, let after = allocationCounter?() {
            allocs = Double(after - allocsBefore) / Double(iterations)
        }
        best = min(best, elapsed)
    }
    if sink == 42 { print("") }  // keeps the work observable
    return (best, allocs)
}

@inline(never)
func encode(_ message: ListRequestsResponse) -> Int {
    message.serializedBytes().count
}

@inline(never)
func decode(_ bytes: [UInt8]) -> Int {
    do {
        return try ListRequestsResponse(serializedBytes: bytes).requests.count
    } catch {
        fatalError("benchmark input does not decode: \(error)")
    }
}

var arguments = CommandLine.arguments.dropFirst()
var inputPath: String?
var iterations = 2_000
var only: String?
while let argument = arguments.popFirst() {
    switch argument {
    case "--write-input": inputPath = arguments.popFirst()
    case "--iterations": iterations = Int(arguments.popFirst() ?? "") ?? iterations
    case "--only": only = arguments.popFirst()  // "encode" or "decode", for profiling
    default:
        print("usage: CodecBenchmark [--write-input PATH] [--iterations N] [--only encode|decode]")
        exit(2)
    }
}

let message = benchmarkMessage()
let bytes = message.serializedBytes()
precondition(decode(bytes) == 50 && (try? ListRequestsResponse(serializedBytes: bytes)) == message, "round trip failed")
if let inputPath {
    guard let file = fopen(inputPath, "wb") else { fatalError("cannot write \(inputPath)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

let encodeResult = only == "decode" ? (ns: 0, allocs: nil) : measure(iterations: iterations) { encode(message) }
let decodeResult = only == "encode" ? (ns: 0, allocs: nil) : measure(iterations: iterations) { decode(bytes) }
func allocsText(_ value: Double?) -> String {
    guard let value else { return "n/a" }
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
print("message_bytes \(bytes.count)")
print("encode_ns \(Int(encodeResult.ns.rounded()))")
print("encode_allocs \(allocsText(encodeResult.allocs))")
print("decode_ns \(Int(decodeResult.ns.rounded()))")
print("decode_allocs \(allocsText(decodeResult.allocs))")
