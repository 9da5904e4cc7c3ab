import BackstopFuzz
import BackstopTestSupport
import Foundation
import Testing

/// Every input that ever crashed a fuzz target (`.ci/fuzz`) is kept in
/// `Tests/Fixtures/fuzz/TARGET/` and must now run through its target without trapping, as
/// must each target's seeds here: the empty input, and one of each extreme.
@Suite("Fuzz targets: every crasher found, replayed")
struct FuzzRegressionTests {
    static let extremes: [[UInt8]] = [
        [], [0], [0xFF], Array(repeating: 0x5B, count: 100), Array("{\"a\":".utf8), Array(repeating: 0x30, count: 5_000),
        Array("9999-12-31T23:59:59Z".utf8), Array("\u{FEFF}{}".utf8),
    ]

    @Test("every target takes the empty input and the extremes")
    func extremes() {
        for (_, run) in FuzzTargets.all {
            for input in Self.extremes { run(input) }
        }
    }

    @Test("every crasher in Tests/Fixtures/fuzz runs through its target")
    func crashers() throws {
        let folder = packageRoot.appendingPathComponent("Tests/Fixtures/fuzz")
        var replayed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [] where !name.hasPrefix(".") {
            let run = try #require(FuzzTargets.named(name), "Tests/Fixtures/fuzz/\(name) names no fuzz target")
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(name).path) where !file.hasPrefix(".") {
                run([UInt8](try Data(contentsOf: folder.appendingPathComponent(name).appendingPathComponent(file))))
                replayed += 1
            }
        }
        print("\(replayed) crasher(s) replayed")
    }
}
