// swift-tools-version:6.2
// Codec benchmark: encodes and decodes a ListRequestsResponse (50 requests, 3 resources each).
// Run ./run.sh to compare with protobuf's C++ runtime on the same bytes.
import PackageDescription

let package = Package(
    name: "CodecBenchmark",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "entitlement-grpc", path: "../..")],
    targets: [
        .executableTarget(
            name: "CodecBenchmark",
            dependencies: [
                .product(name: "ProtoWire", package: "entitlement-grpc"),
                .product(name: "EntitlementAPI", package: "entitlement-grpc"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        )
    ]
)
