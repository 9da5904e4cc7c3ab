import Foundation

/// What a finished child process left: its exit status and everything it printed.
public struct ProcessResult: Sendable {
    /// The exit status (or 128 + signal number when it was killed).
    public let status: Int32
    /// Standard output.
    public let stdout: String
    /// Standard error.
    public let stderr: String
}

/// Runs `executable` with `arguments` to completion, feeding `input` on standard input.
public func runProcess(_ executable: String, _ arguments: [String], input: [UInt8] = [], environment: [String: String]? = nil, currentDirectory: URL? = nil) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let currentDirectory { process.currentDirectoryURL = currentDirectory }
    let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
    process.standardInput = stdinPipe
    process.standardOutput = stdoutPipe
    process.standardError = stderrPipe
    try process.run()
    // Read both pipes while the child runs so that a full pipe cannot block it.
    let group = DispatchGroup()
    nonisolated(unsafe) var out = Data(), err = Data()
    DispatchQueue.global().async(group: group) { out = stdoutPipe.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { err = stderrPipe.fileHandleForReading.readDataToEndOfFile() }
    stdinPipe.fileHandleForWriting.write(Data(input))
    try stdinPipe.fileHandleForWriting.close()
    process.waitUntilExit()
    group.wait()
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return ProcessResult(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}

/// The `openssl` command line, the independent peer for keys and signatures.
public func openssl(_ arguments: String..., input: [UInt8] = []) throws -> ProcessResult {
    try openssl(arguments: arguments, input: input)
}

/// The `openssl` command line with an argument array.
public func openssl(arguments: [String], input: [UInt8] = []) throws -> ProcessResult {
    try runProcess("/usr/bin/env", ["openssl"] + arguments, input: input)
}

/// A new empty directory under the system's temporary folder, for one test.
public func makeTemporaryDirectory(_ name: String = "backstop-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The package's root folder, found from this source file's path.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The Wycheproof vectors: `$BACKSTOP_WYCHEPROOF`, else `../shared/wycheproof` beside
/// the package; nil when neither is there.
public var wycheproofDirectory: URL? {
    let given = ProcessInfo.processInfo.environment["BACKSTOP_WYCHEPROOF"].map { URL(fileURLWithPath: $0) }
    let url = given ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared/wycheproof")
    return FileManager.default.fileExists(atPath: url.path) ? url : nil
}

/// True where missing test data is a failure, not a skip: `.ci/run` sets
/// `BACKSTOP_REQUIRE_TEST_DATA=1`.
public var testDataRequired: Bool { ProcessInfo.processInfo.environment["BACKSTOP_REQUIRE_TEST_DATA"] == "1" }

/// The folder holding the package's built executables (`.build/debug` or `.build/release`).
public var productsDirectory: URL {
    // Test bundles on Linux are executables that sit beside the package's other products.
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}

/// a - b for equal-length big-endian unsigned integers with a >= b: makes the high-S twin
/// n - s of a signature in tests.
public func bigEndianSubtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: a.count)
    var borrow = 0
    for index in stride(from: a.count - 1, through: 0, by: -1) {
        let difference = Int(a[index]) - Int(b[index]) - borrow
        borrow = difference < 0 ? 1 : 0
        result[index] = UInt8((difference + 256) % 256)
    }
    return result
}

/// Checks a JSON value (as `JSONSerialization` reads it) against the subset of JSON Schema
/// that `Docs/schemas` uses: `type` (one or a list), `properties`, `required`,
/// `additionalProperties` (false or a schema), `propertyNames.pattern`, `items`. Returns
/// what does not match, each with its path; empty when it matches.
public func schemaErrors(_ value: Any, _ schema: [String: Any], path: String = "$") -> [String] {
    func typeName(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let number = value as? NSNumber {
            if String(cString: number.objCType) == "c" { return "boolean" }
            return number.doubleValue == number.doubleValue.rounded() ? "integer" : "number"
        }
        if value is String { return "string" }
        if value is [Any] { return "array" }
        if value is [String: Any] { return "object" }
        return "unknown"
    }
    var errors: [String] = []
    let actual = typeName(value)
    if let type = schema["type"] {
        let allowed = (type as? [String]) ?? [type as? String ?? ""]
        guard allowed.contains(actual) || (actual == "integer" && allowed.contains("number")) else {
            return ["\(path): \(actual), expected \(allowed.joined(separator: " or "))"]
        }
    }
    if let object = value as? [String: Any] {
        let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
        for key in schema["required"] as? [String] ?? [] where object[key] == nil { errors.append("\(path): lacks \(key)") }
        if let pattern = (schema["propertyNames"] as? [String: Any])?["pattern"] as? String {
            for key in object.keys where key.range(of: pattern, options: .regularExpression) == nil { errors.append("\(path): key \(key) does not match \(pattern)") }
        }
        for (key, member) in object {
            if let sub = properties[key] {
                errors += schemaErrors(member, sub, path: "\(path).\(key)")
            } else if let extra = schema["additionalProperties"] {
                if let sub = extra as? [String: Any] {
                    errors += schemaErrors(member, sub, path: "\(path).\(key)")
                } else if (extra as? Bool) == false {
                    errors.append("\(path): unexpected \(key)")
                }
            }
        }
    }
    if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
        for (index, item) in array.enumerated() { errors += schemaErrors(item, items, path: "\(path)[\(index)]") }
    }
    return errors
}

/// A small seeded generator (SplitMix64), so that a failing random test can be replayed
/// from its seed.
public struct SplitMix64: RandomNumberGenerator {
    /// The state; the seed to begin with.
    public var state: UInt64
    /// A generator seeded with `state`.
    public init(state: UInt64) { self.state = state }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A throwaway PostgreSQL server for the tests of one process (`Tests/postgres/server.sh`),
/// started the first time a test asks for it and stopped when the process exits.
public final class PostgresServer: Sendable {
    /// Its loopback port.
    public let port: Int
    /// Its folder (data, socket, log).
    public let folder: URL

    private init(port: Int, folder: URL) {
        self.port = port
        self.folder = folder
    }

    /// Whether PostgreSQL is installed here.
    public static var installed: Bool {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.contains { FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/pg_ctl") }
    }

    /// CI sets BACKSTOP_REQUIRE_POSTGRES=1: there, a server that cannot start fails the tests
    /// instead of skipping them.
    public static var required: Bool { ProcessInfo.processInfo.environment["BACKSTOP_REQUIRE_POSTGRES"] == "1" }

    /// Whether the PostgreSQL tests run: installed, or required (and then failing).
    public static var testable: Bool { installed || required }

    private static let started: Result<PostgresServer, Error> = {
        let script = packageRoot.appendingPathComponent("Tests/postgres/server.sh").path
        var lastError = ""
        for _ in 0..<5 {
            let port = Int.random(in: 20_000..<60_000)
            let folder = URL(fileURLWithPath: "/tmp/backstop-pg-\(UUID().uuidString.prefix(8))")
            guard let result = try? runProcess("/bin/bash", [script, "start", folder.path, "\(port)"]) else { continue }
            if result.status == 0 {
                let server = PostgresServer(port: port, folder: folder)
                atexit { PostgresServer.stopStarted() }
                return .success(server)
            }
            lastError = result.stderr
            _ = try? runProcess("/bin/bash", [script, "stop", folder.path])
            try? FileManager.default.removeItem(at: folder)
        }
        return .failure(PostgresUnavailable(reason: "PostgreSQL did not start: \(lastError)"))
    }()

    private static func stopStarted() {
        guard case .success(let server) = started else { return }
        _ = try? runProcess("/bin/bash", [packageRoot.appendingPathComponent("Tests/postgres/server.sh").path, "stop", server.folder.path])
        try? FileManager.default.removeItem(at: server.folder)
    }

    /// The server, started if needed.
    ///
    /// - Throws: when PostgreSQL is missing or does not start.
    public static func shared() throws -> PostgresServer {
        guard installed else { throw PostgresUnavailable(reason: "PostgreSQL is not installed (apt-get install postgresql)") }
        return try started.get()
    }

    /// A new empty database on the server; returns its URL (user backstop, no password).
    public func makeDatabase() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let result = try runProcess("/usr/bin/env", ["psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "backstop", "-d", "postgres", "-qc", "CREATE DATABASE \(name)"])
        guard result.status == 0 else { throw PostgresUnavailable(reason: "CREATE DATABASE failed: \(result.stderr)") }
        return url(database: name)
    }

    /// `postgres://backstop@127.0.0.1:PORT/DATABASE`.
    public func url(database: String) -> String { "postgres://backstop@127.0.0.1:\(port)/\(database)" }

    /// Runs `sql` in `database` with psql; returns its output (unaligned, tuples only).
    public func psql(_ database: String, _ sql: String) throws -> ProcessResult {
        try runProcess("/usr/bin/env", ["psql", "-h", "127.0.0.1", "-p", "\(port)", "-U", "backstop", "-d", database, "-Atqc", sql])
    }
}

/// Why the PostgreSQL server is not there.
public struct PostgresUnavailable: Error, CustomStringConvertible {
    /// What failed.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}
