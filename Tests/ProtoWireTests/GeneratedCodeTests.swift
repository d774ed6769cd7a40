import Foundation
import Testing

@Suite("Generated code is up to date")
struct GeneratedCodeTests {
    /// The plugin built by `swift build --product protoc-gen-swiftwire` (or $PROTOC_GEN_SWIFTWIRE).
    static var plugin: String? {
        if let explicit = ProcessInfo.processInfo.environment["PROTOC_GEN_SWIFTWIRE"] { return explicit }
        let build = repositoryRoot.appendingPathComponent(".build")
        var candidates = ["debug", "release"].map { build.appendingPathComponent($0).appendingPathComponent("protoc-gen-swiftwire").path }
        if let triples = try? FileManager.default.contentsOfDirectory(atPath: build.path) {
            for triple in triples.sorted() where triple.contains("-") {
                for configuration in ["debug", "release"] {
                    candidates.append(build.appendingPathComponent("\(triple)/\(configuration)/protoc-gen-swiftwire").path)
                }
            }
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static let targets: [(directory: String, includes: [String], files: [String])] = [
        ("Sources/EntitlementAPI", ["proto", "/usr/include"], [
            "entitlement/v1/access_requests.proto", "grpc/health/v1/health.proto",
            "grpc/reflection/v1/reflection.proto", "grpc/reflection/v1alpha/reflection.proto",
        ]),
        ("Tests/ProtoWireTests/Generated", ["Tests/ProtoWireTests/Fixtures", "/usr/include"], ["scalars.proto", "unknown_fields.proto"]),
    ]

    @Test("regenerating with protoc and protoc-gen-swiftwire reproduces the committed files byte for byte")
    func regenerate() async throws {
        try #require(Protoc.executable != nil, Comment(rawValue: Protoc.missingMessage))
        let plugin = try #require(
            Self.plugin,
            "protoc-gen-swiftwire is not built; run `swift build --product protoc-gen-swiftwire` (or scripts/generate) first"
        )
        let fm = FileManager.default
        let temp = fm.temporaryDirectory.appendingPathComponent("swiftwire-check-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: temp) }

        for target in Self.targets {
            let out = temp.appendingPathComponent(target.directory)
            try fm.createDirectory(at: out, withIntermediateDirectories: true)
            _ = try await Protoc.run(
                target.includes.map { "-I\($0)" }
                    + ["--plugin=protoc-gen-swiftwire=\(plugin)", "--swiftwire_out=\(out.path)"] + target.files
            )
            let committedDirectory = repositoryRoot.appendingPathComponent(target.directory)
            let generated = try fm.contentsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".pb.swift") }.sorted()
            let committed = try fm.contentsOfDirectory(atPath: committedDirectory.path).filter { $0.hasSuffix(".pb.swift") }.sorted()
            #expect(generated == committed, "generated file names differ in \(target.directory); run scripts/generate")
            for name in generated {
                let fresh = try Data(contentsOf: out.appendingPathComponent(name))
                let old = try? Data(contentsOf: committedDirectory.appendingPathComponent(name))
                #expect(
                    fresh == old,
                    "\(target.directory)/\(name) is out of date (or the plugin at \(plugin) is stale); run scripts/generate"
                )
            }
        }
    }
}
