// swift-tools-version:6.2
import PackageDescription

let products: [Product] = [
    .executable(name: "entitlement-server", targets: ["entitlement-server"]),
    .executable(name: "entitlement", targets: ["entitlement"]),
    .executable(name: "protoc-gen-swiftwire", targets: ["ProtocGenSwiftWire"]),
    .library(name: "EntitlementAPI", targets: ["EntitlementAPI"]),
    .library(name: "ProtoWire", targets: ["ProtoWire"]),
    .library(name: "H2Transport", targets: ["H2Transport"]),
    // The fuzz targets' one-input functions, for the FuzzTesting/ package's libFuzzer executables.
    .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
]

let dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
]

let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

let targets: [Target] = [
    // C libraries, one thin module each.
    .systemLibrary(
        name: "CNGHTTP2",
        pkgConfig: "libnghttp2",
        providers: [.apt(["libnghttp2-dev"])]
    ),
    .systemLibrary(
        name: "CZlib",
        pkgConfig: "zlib",
        providers: [.apt(["zlib1g-dev"])]
    ),
    .systemLibrary(
        name: "CSQLite",
        pkgConfig: "sqlite3",
        providers: [.apt(["libsqlite3-dev"])]
    ),

    // The protobuf wire runtime: no Foundation, no dependencies.
    .target(name: "ProtoWire", swiftSettings: settings),
    // protoc plugin that generates Swift messages, services and clients on ProtoWire.
    .executableTarget(name: "ProtocGenSwiftWire", dependencies: ["ProtoWire"], swiftSettings: settings),

    // Transport-free gRPC semantics: status, metadata, framing, compression, routing, interceptors.
    .target(name: "RPCCore", dependencies: ["ProtoWire", "CZlib"], swiftSettings: settings),
    // HTTP/2 on libnghttp2, driven by SwiftNIO: gRPC server and client.
    .target(
        name: "H2Transport",
        dependencies: ["RPCCore", "CNGHTTP2", "ServerLogging", .product(name: "Logging", package: "swift-log")] + nio,
        swiftSettings: settings
    ),

    // The server's log lines: swift-log's handler (text or JSON) over a buffered stderr, and the
    // direct path of per-call lines (access log, audit line) that skips the metadata dictionary.
    .target(
        name: "ServerLogging", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: settings
    ),

    // Code generated from proto/ (committed; `scripts/generate` rewrites it).
    .target(name: "EntitlementAPI", dependencies: ["ProtoWire", "RPCCore"], swiftSettings: settings),

    // Domain and durable store: requests, reprocess policy, pagination, delivery, audit, import.
    .target(
        name: "Entitlement",
        dependencies: [
            "EntitlementAPI", "RPCCore", "CSQLite", "ServerLogging",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            metrics,
        ],
        swiftSettings: settings
    ),
    // The shared store on PostgreSQL, for many replicas (`--store postgres://…`).
    .target(
        name: "EntitlementPostgres",
        dependencies: [
            "Entitlement", "EntitlementAPI", "RPCCore", "ProtoWire", "ServerLogging",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        swiftSettings: settings
    ),
    // Token verification and the role-authorization interceptor.
    .target(
        name: "EntitlementAuth",
        dependencies: [
            "RPCCore", "Entitlement", "EntitlementAPI",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            metrics,
        ] + nio,
        swiftSettings: settings
    ),
    // Server wiring: configuration, demo mode, lifecycle. A library so tests can run it in-process.
    .target(
        name: "EntitlementServerCore",
        dependencies: [
            "Entitlement", "EntitlementAuth", "EntitlementAPI", "EntitlementPostgres", "H2Transport", "RPCCore",
            "ServerLogging",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "JWTKit", package: "jwt-kit"),
            metrics,
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ] + nio,
        swiftSettings: settings
    ),
    .executableTarget(
        name: "entitlement-server",
        dependencies: [
            "EntitlementServerCore", "EntitlementAuth", "EntitlementPostgres", "ServerLogging",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: settings
    ),
    .executableTarget(
        name: "entitlement",
        dependencies: [
            "EntitlementAPI", "H2Transport", "RPCCore", "ProtoWire", "ServerLogging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ] + nio,
        swiftSettings: settings
    ),
    // In-process benchmark of the authorization interceptor (scripts/bench-auth).
    .executableTarget(
        name: "AuthOverheadBenchmark",
        dependencies: [
            "EntitlementServerCore", "Entitlement", "EntitlementAuth", "EntitlementAPI", "RPCCore",
            .product(name: "Logging", package: "swift-log"),
        ],
        path: "Benchmarks/AuthOverhead",
        swiftSettings: settings
    ),

    // One function per fuzz target, shared by FuzzTesting/ (libFuzzer) and FuzzReplayTests.
    .target(
        name: "FuzzTargets",
        dependencies: [
            "ProtoWire", "RPCCore", "EntitlementAPI", "Entitlement", "EntitlementAuth",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: settings
    ),

    .testTarget(
        name: "ProtoWireTests",
        dependencies: ["ProtoWire", "EntitlementAPI", "RPCCore"],
        exclude: ["Fixtures"],
        swiftSettings: settings
    ),
    .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzTargets"], swiftSettings: settings),
    .testTarget(name: "RPCCoreTests", dependencies: ["RPCCore", "ProtoWire"], swiftSettings: settings),
    .testTarget(
        name: "H2TransportTests",
        dependencies: ["H2Transport", "RPCCore", "EntitlementAPI"] + nio,
        swiftSettings: settings
    ),
    .testTarget(
        name: "EntitlementTests",
        dependencies: [
            "Entitlement", "EntitlementAPI", "EntitlementPostgres", "EntitlementServerCore", "H2Transport", "RPCCore",
            "ServerLogging",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        swiftSettings: settings
    ),
    .testTarget(
        name: "EntitlementAuthTests",
        dependencies: [
            "EntitlementAuth", "Entitlement", "EntitlementAPI", "EntitlementServerCore", "H2Transport", "RPCCore",
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "CryptoExtras", package: "swift-crypto"),
        ],
        swiftSettings: settings
    ),
]

var settings: [SwiftSetting] {
    [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("InternalImportsByDefault"),
        .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
    ]
}

let package = Package(
    name: "entitlement-grpc",
    platforms: [.macOS(.v15)],
    products: products,
    dependencies: dependencies,
    targets: targets
)
