import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The `backstop` executable (which hands `serve` to `backstop-server` beside it).
let backstopPath = productsDirectory.appendingPathComponent("backstop").path
let demoKeys = packageRoot.appendingPathComponent("Keys/demo")

/// Runs `backstop` with `arguments`.
@discardableResult
func backstop(_ arguments: [String]) throws -> ProcessResult {
    try runProcess(backstopPath, arguments)
}

/// The demo's ledger and work files, made once for the whole test process (12 s in a debug build).
enum Demo {
    private static let made: Result<URL, Error> = Result(catching: { () throws -> URL in
        let folder = try makeTemporaryDirectory("backstop-service-demo")
        let result = try runProcess(backstopPath, ["demo", "--ledger", folder.appendingPathComponent("demo").path, "--keys", demoKeys.path])
        guard result.status == 0 else { throw DemoFailed(output: result.stderr) }
        return folder
    })

    struct DemoFailed: Error { let output: String }

    /// The demo's ledger file.
    static func ledger() throws -> URL { try made.get().appendingPathComponent("demo/ledger.jsonl") }
    /// A file the demo wrote to its work folder.
    static func work(_ name: String) throws -> URL { try made.get().appendingPathComponent("demo-work/\(name)") }

    /// A new ledger folder holding the demo's first `count` entries, and the time of the last.
    static func prefix(_ count: Int) throws -> (URL, String) {
        let lines = try String(contentsOf: ledger(), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let folder = try makeTemporaryDirectory("backstop-service-ledger")
        try (lines.prefix(count).joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("ledger.jsonl"), atomically: true, encoding: .utf8)
        let last = try JSONParser.parse(Array(lines[count - 1].utf8))
        return (folder, last["time"]?.stringValue ?? "")
    }

    /// The seq of the demo's first entry of `kind`.
    static func firstEntry(_ kind: String) throws -> Int {
        let lines = try String(contentsOf: ledger(), encoding: .utf8).split(separator: "\n")
        return lines.firstIndex { (try? JSONParser.parse(Array($0.utf8)))?["kind"]?.stringValue == kind } ?? -1
    }
}

/// `backstop serve` in a child process on a free loopback port.
final class Service: @unchecked Sendable {
    let process = Process()
    private(set) var url = ""
    private let lock = NSLock()
    private var errors = Data()

    /// Starts `backstop serve --listen 127.0.0.1:0` with `arguments`, and waits until it listens.
    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: backstopPath)
        process.arguments = ["serve", "--listen", "127.0.0.1:0"] + arguments
        let output = Pipe(), errorPipe = Pipe()
        process.standardOutput = output
        process.standardError = errorPipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The logs are read all along, so that a full pipe never blocks the service.
        errorPipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.errors.append(data)
            self.lock.unlock()
        }
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var printed = ""
        DispatchQueue.global().async {
            while true {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                printed += String(decoding: data, as: UTF8.self)
                if printed.contains("\n") { break }
            }
            ready.signal()
        }
        guard ready.wait(timeout: .now() + 120) == .success, let range = printed.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
            process.terminate()
            process.waitUntilExit()
            throw ServiceFailed(message: "the service did not start: \(printed) \(stderr)")
        }
        url = String(printed[range])
    }

    struct ServiceFailed: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// What the service logged so far.
    var stderr: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errors, as: UTF8.self)
    }

    /// Stops it as an operator does (SIGTERM) and returns its exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    /// An answer: status, body, headers.
    struct Answer {
        let status: Int
        let body: [UInt8]
        let headers: [String: String]
        var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends a request to `path` and returns the answer.
    func request(_ method: String, _ path: String, body: [UInt8]? = nil, type: String? = nil) async throws -> Answer {
        var request = URLRequest(url: URL(string: url + path)!, timeoutInterval: 60)
        request.httpMethod = method
        if let body { request.httpBody = Data(body) }
        if let type { request.setValue(type, forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http.allHeaderFields { headers[String(describing: key).lowercased()] = String(describing: value) }
        return Answer(status: http.statusCode, body: Array(data), headers: headers)
    }

    func get(_ path: String) async throws -> Answer { try await request("GET", path) }

    func post(_ path: String, _ body: [UInt8], type: String = "application/octet-stream") async throws -> Answer {
        try await request("POST", path, body: body, type: type)
    }
}

/// SHA-256 of a file's bytes in hex: a payload's queue id, or a ledger's fingerprint.
func sha256(_ url: URL) throws -> String { Hex.encode(try SHA256.hash(Array(try Data(contentsOf: url)))) }

func bytes(_ url: URL) throws -> [UInt8] { Array(try Data(contentsOf: url)) }

/// Headless Chromium and the page driver, when installed; required where
/// `BACKSTOP_REQUIRE_TEST_DATA=1` (CI).
enum Browser {
    static let script = packageRoot.appendingPathComponent("Tests/browser/browser.py").path
    static var installed: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static var testable: Bool { installed || testDataRequired }

    /// Runs the driver and returns the JSON it printed.
    static func run(_ arguments: [String]) throws -> JSONValue {
        let result = try runProcess("/usr/bin/env", ["python3", script] + arguments)
        guard result.status == 0 else { throw Service.ServiceFailed(message: "browser.py \(arguments.first ?? ""): \(result.stderr)") }
        return try JSONParser.parse(Array(result.stdout.utf8))
    }

    /// Where screenshots go: `$BACKSTOP_SCREENSHOTS`, else `.build/screenshots`.
    static var screenshots: URL {
        let folder = ProcessInfo.processInfo.environment["BACKSTOP_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent(".build/screenshots")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }
}
