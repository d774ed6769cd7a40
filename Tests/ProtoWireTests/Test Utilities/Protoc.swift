import Foundation

/// The repository root, found from this file's path.
let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // Test Utilities
    .deletingLastPathComponent()  // ProtoWireTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()

/// A .proto file and the include paths protoc needs to load it.
struct ProtoSchema: Sendable {
    let includes: [String]
    let file: String

    static let contract = ProtoSchema(includes: ["proto", "/usr/include"], file: "entitlement/v1/access_requests.proto")
    static let health = ProtoSchema(includes: ["proto", "/usr/include"], file: "grpc/health/v1/health.proto")
    static let scalars = ProtoSchema(includes: ["Tests/ProtoWireTests/Fixtures", "/usr/include"], file: "scalars.proto")
    static let unknownFields = ProtoSchema(
        includes: ["Tests/ProtoWireTests/Fixtures", "/usr/include"],
        file: "unknown_fields.proto"
    )

    var arguments: [String] { includes.map { "-I\($0)" } + [file] }
}

struct ProtocFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs the system `protoc` (Debian's protobuf-compiler) from the repository root.
enum Protoc {
    /// protoc's path, or nil when it is not installed.
    static let executable: String? = {
        let candidates =
            (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin")
            .split(separator: ":").map { "\($0)/protoc" } + ["/usr/bin/protoc"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static let missingMessage =
        "protoc is not installed (apt-get install protobuf-compiler libprotobuf-dev); the codec's compatibility checks need it"

    /// Runs protoc with `arguments`, `input` on stdin; returns stdout, throws on a non-zero exit.
    /// The wait is on a thread of its own: a test blocking the concurrency pool (as wide as the
    /// cores) would stall every other test meanwhile, and their timing with it.
    static func run(_ arguments: [String], input: [UInt8] = []) async throws -> [UInt8] {
        guard let executable else { throw ProtocFailure(description: missingMessage) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("protowire-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdinURL = directory.appendingPathComponent("stdin")
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        try Data(input).write(to: stdinURL)
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = repositoryRoot
        let stdin = try FileHandle(forReadingFrom: stdinURL)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdin.close()
            try? stdout.close()
            try? stderr.close()
        }
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        await withCheckedContinuation { continuation in
            Thread {
                process.waitUntilExit()
                continuation.resume()
            }.start()
        }
        let output = try [UInt8](Data(contentsOf: stdoutURL))
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
            throw ProtocFailure(description: "protoc \(arguments.joined(separator: " ")) failed: \(message)")
        }
        return output
    }

    /// `protoc --encode=type`: text format in, binary out.
    static func encode(_ type: String, schema: ProtoSchema, text: String) async throws -> [UInt8] {
        try await run(["--encode=\(type)"] + schema.arguments, input: Array(text.utf8))
    }

    /// `protoc --decode=type`: binary in, text format out.
    static func decode(_ type: String, schema: ProtoSchema, bytes: [UInt8]) async throws -> String {
        String(decoding: try await run(["--decode=\(type)"] + schema.arguments, input: bytes), as: UTF8.self)
    }
}
