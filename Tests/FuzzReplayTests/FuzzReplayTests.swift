import Foundation
import FuzzTargets
import Testing

/// Replays the committed fuzz corpus and every saved crasher through the fuzz targets. A crasher
/// that still crashes takes the test process down with it, which fails the run.
@Suite("Fuzz corpus and crasher replay")
struct FuzzReplayTests {
    /// `FuzzTesting/` at the repository root, found from this file: Tests/FuzzReplayTests/<file>.
    static let fuzzTesting = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzTesting")

    /// The regular, non-hidden files of `FuzzTesting/<kind>/<target>/`, sorted; none if it is missing.
    static func inputs(_ kind: String, _ target: FuzzTarget) throws -> [URL] {
        let directory = fuzzTesting.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
        guard FileManager.default.fileExists(atPath: directory.path) else { return [] }
        return try FileManager.default
            .contentsOfDirectory(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .filter { try $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("the seed corpus replays without a trap, and its valid-* seeds are accepted", arguments: FuzzTarget.allCases)
    func corpus(target: FuzzTarget) async throws {
        let files = try Self.inputs("Corpus", target)
        try #require(!files.isEmpty, "FuzzTesting/Corpus/\(target.rawValue)/ has no seed inputs")
        #expect(
            files.contains { $0.lastPathComponent.hasPrefix("valid-") },
            "FuzzTesting/Corpus/\(target.rawValue)/ has no valid-* seed"
        )
        for file in files {
            let accepted = await target.run([UInt8](try Data(contentsOf: file)))
            if file.lastPathComponent.hasPrefix("valid-") {
                #expect(accepted, "\(target.rawValue) refused its seed \(file.lastPathComponent)")
            }
        }
    }

    @Test("saved crashers replay without a trap", arguments: FuzzTarget.allCases)
    func crashers(target: FuzzTarget) async throws {
        for file in try Self.inputs("Crashers", target) {
            await target.run([UInt8](try Data(contentsOf: file)))
        }
    }

    @Test("every corpus and crasher directory is named after a fuzz target")
    func directoriesMatchTargets() throws {
        let names = Set(FuzzTarget.allCases.map(\.rawValue))
        for kind in ["Corpus", "Crashers"] {
            let directory = Self.fuzzTesting.appendingPathComponent(kind)
            let entries = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            for entry in entries where !entry.hasPrefix(".") {
                #expect(names.contains(entry), "FuzzTesting/\(kind)/\(entry) is not a fuzz target's directory")
            }
        }
    }
}
