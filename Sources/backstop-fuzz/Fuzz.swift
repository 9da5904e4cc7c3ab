import BackstopFuzz
import Foundation

#if FUZZING
/// libFuzzer's entry point: runs the target named by `BACKSTOP_FUZZ_TARGET`.
/// Built with `.ci/fuzz` (`-sanitize=fuzzer,address -parse-as-library -DFUZZING`).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    target(bytes)
    return 0
}

/// libFuzzer's driver, which parses its options and calls the callback for each input.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's `main` to this symbol; hand over to libFuzzer's driver.
@_cdecl("backstop_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return runDriver(&count, &vector) { data, size in fuzzOneInput(data, size) }
}

private let target: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["BACKSTOP_FUZZ_TARGET"] ?? ""
    guard let run = FuzzTargets.named(name) else {
        fatalError("BACKSTOP_FUZZ_TARGET must be one of \(FuzzTargets.all.map(\.name).joined(separator: ", "))")
    }
    return run
}()
#else
/// Without libFuzzer: `backstop-fuzz TARGET FILE...` runs the files through a target (to
/// replay a crasher), and `backstop-fuzz --list` names the targets.
@main
struct Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, name != "--list", let run = FuzzTargets.named(name) else {
            print(FuzzTargets.all.map(\.name).joined(separator: "\n"))
            return
        }
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                exit(2)
            }
            run([UInt8](data))
        }
        print("\(arguments.count - 1) input(s) ran through \(name) without a crash")
    }
}
#endif
