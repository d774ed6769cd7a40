// swift-tools-version:6.2
import PackageDescription

// One libFuzzer executable per fuzz target; each is a one-line call into the root package's
// FuzzTargets library, which FuzzReplayTests also runs. Build and run them with `scripts/fuzz`.
let fuzzers = ["FuzzProtoDecode", "FuzzDeframer", "FuzzPageToken", "FuzzAuthorization", "FuzzImportJSON"]

// A path dependency's identity is its directory's name, which is the clone's, not fixed.
let rootPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last!)

let package = Package(
    name: "FuzzTesting",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: fuzzers.map { name in
        .executableTarget(
            name: name,
            dependencies: [.product(name: "FuzzTargets", package: rootPackage)],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    }
)
