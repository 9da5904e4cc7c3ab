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
        .executable(name: "backstop", targets: ["backstop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Arbitrary-size unsigned integers for amounts in minor units (wei needs more than 64 bits).
        .package(url: "https://github.com/attaswift/BigInt", from: "6.0.0"),
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
        .executableTarget(
            name: "backstop",
            dependencies: [
                "BackstopCrypto", "BackstopLedger", "BackstopFund", "CBackstopShims",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
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
    ]
)
