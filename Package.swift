// swift-tools-version:6.0
import PackageDescription

// OpenSSL 3 only: every C translation unit that includes an OpenSSL header sees
// OPENSSL_NO_DEPRECATED, so a deprecated call such as EC_KEY_new cannot compile.
let noDeprecatedOpenSSL: [CSetting] = [.define("OPENSSL_NO_DEPRECATED")]

let package = Package(
    name: "Backstop",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "BackstopCrypto", targets: ["BackstopCrypto"]),
        .library(name: "BackstopLedger", targets: ["BackstopLedger"]),
        .library(name: "BackstopFund", targets: ["BackstopFund"]),
        .library(name: "BackstopPostgres", targets: ["BackstopPostgres"]),
        .executable(name: "backstop", targets: ["backstop"]),
        .executable(name: "backstop-server", targets: ["backstop-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Arbitrary-size unsigned integers for amounts in minor units (wei needs more than 64 bits).
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.0"),
        // The PostgreSQL store, in its own target: the demo's build path never compiles it.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // The HTTP service (`backstop serve`), also off the demo's build path.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
    ],
    targets: [
        // The system libcrypto (Debian: libssl-dev). Only BackstopCrypto and the shim see it.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        // Small C functions for OpenSSL macros that Swift cannot import.
        .target(name: "CBackstopShims", dependencies: ["COpenSSL"], cSettings: noDeprecatedOpenSSL),
        .target(name: "BackstopCrypto", dependencies: ["COpenSSL", "CBackstopShims"]),
        .target(name: "BackstopLedger", dependencies: ["BackstopCrypto"]),
        .target(name: "BackstopFund", dependencies: ["BackstopCrypto", "BackstopLedger", .product(name: "BigInt", package: "BigInt")]),
        // The command line's verbs, shared by the two executables below.
        .target(
            name: "BackstopCLI",
            dependencies: [
                "BackstopCrypto", "BackstopLedger", "BackstopFund", "CBackstopShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `backstop`: folders only, quick to build. It hands a postgres:// ledger to
        // backstop-server, found beside it.
        .executableTarget(name: "backstop", dependencies: ["BackstopCLI"]),
        // The ledger in PostgreSQL (postgres-nio).
        .target(
            name: "BackstopPostgres",
            dependencies: [
                "BackstopCrypto", "BackstopLedger", "BackstopFund",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The signing-queue service and the public dashboard (Hummingbird 2).
        .target(
            name: "BackstopService",
            dependencies: [
                "BackstopCrypto", "BackstopLedger", "BackstopFund", "BackstopCLI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The same verbs with the PostgreSQL store, and `serve`.
        .executableTarget(name: "backstop-server", dependencies: ["BackstopCLI", "BackstopPostgres", "BackstopService"]),
        // Appends synthetic entries to any store from several processes: the conformance
        // tests, the replication script and the append figures drive it.
        .executableTarget(name: "backstop-load", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopPostgres"]),
        // Load on a running `backstop serve`: writers posting contributions and their
        // signatures while readers fetch pages; the service test and Docs/PERFORMANCE.md run it.
        .executableTarget(name: "backstop-http-load", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopFund"]),
        // The decoders that read untrusted bytes, as fuzz targets (libFuzzer via .ci/fuzz;
        // the tests replay every crasher found).
        .target(name: "BackstopFuzz", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopFund"]),
        .executableTarget(name: "backstop-fuzz", dependencies: ["BackstopFuzz"]),
        // Appends synthetic entries until killed; the crash test and the benchmarks drive it.
        .executableTarget(name: "backstop-torture", dependencies: ["BackstopLedger"]),
        // Helpers shared by the test targets: running processes, temporary folders.
        .target(name: "BackstopTestSupport", path: "Sources/BackstopTestSupport"),
        .testTarget(name: "BackstopCryptoTests", dependencies: ["BackstopCrypto", "BackstopTestSupport"]),
        .testTarget(name: "BackstopLedgerTests", dependencies: ["BackstopLedger", "BackstopTestSupport", "backstop-torture"]),
        .testTarget(name: "BackstopFundTests", dependencies: ["BackstopFund", "BackstopFuzz", "BackstopTestSupport"]),
        .testTarget(name: "BackstopCLITests", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopFund", "BackstopTestSupport", "backstop"]),
        // Every store passes the same conformance suite; PostgreSQL against a throwaway server.
        // The service over HTTP, and its pages in headless Chromium.
        .testTarget(name: "BackstopServiceTests", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopFund", "BackstopTestSupport", "backstop", "backstop-server", "backstop-http-load"]),
        .testTarget(name: "BackstopStorageTests", dependencies: ["BackstopCrypto", "BackstopLedger", "BackstopFund", "BackstopPostgres", "BackstopTestSupport", "backstop", "backstop-server", "backstop-load"]),
    ]
)
