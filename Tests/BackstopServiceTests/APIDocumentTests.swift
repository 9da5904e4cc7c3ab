import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// `Docs/openapi.json`, read with Foundation.
func openAPI() throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Docs/openapi.json"))) as! [String: Any]
}

/// `schema` with every `$ref` replaced by what it names and `allOf` merged, for `schemaErrors`.
func resolved(_ schema: Any, _ document: [String: Any]) -> Any {
    if let array = schema as? [Any] { return array.map { resolved($0, document) } }
    guard var object = schema as? [String: Any] else { return schema }
    if let reference = object["$ref"] as? String {
        var target: Any = document
        for part in reference.dropFirst(2).split(separator: "/") { target = (target as? [String: Any])?[String(part)] ?? [:] }
        return resolved(target, document)
    }
    if let parts = object["allOf"] as? [Any] {
        object["allOf"] = nil
        for part in parts.map({ resolved($0, document) as? [String: Any] ?? [:] }) {
            object["properties"] = (object["properties"] as? [String: Any] ?? [:]).merging(part["properties"] as? [String: Any] ?? [:]) { $1 }
            object["required"] = (object["required"] as? [String] ?? []) + (part["required"] as? [String] ?? [])
            if object["type"] == nil { object["type"] = part["type"] }
        }
    }
    if object["nullable"] as? Bool == true, let type = object["type"] as? String { object["type"] = [type, "null"] }
    return object.mapValues { resolved($0, document) }
}

@Suite("The service's OpenAPI document is what the service does")
struct APIDocumentTests {
    /// Every route the router adds is documented, and every documented route exists.
    @Test func documentedRoutesAreTheRouterRoutes() throws {
        let source = try String(contentsOf: packageRoot.appendingPathComponent("Sources/BackstopService/Routes.swift"), encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: #"router\.(get|post)\("([^"]+)"\)"#)
        var routes = Set<String>()
        for match in pattern.matches(in: source, range: NSRange(source.startIndex..., in: source)) {
            let method = String(source[Range(match.range(at: 1), in: source)!]).uppercased()
            let path = String(source[Range(match.range(at: 2), in: source)!]).replacingOccurrences(of: ":id", with: "{id}")
            routes.insert("\(method) \(path)")
        }
        let paths = try openAPI()["paths"] as! [String: [String: Any]]
        let documented = Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
        #expect(routes.count >= 16)
        #expect(routes == documented, "undocumented: \(routes.subtracting(documented)); not served: \(documented.subtracting(routes))")
    }

    /// Live answers have a documented status, content type and, for JSON, the documented shape.
    @Test func answersMatchTheDocument() async throws {
        let document = try openAPI()
        let paths = document["paths"] as! [String: [String: Any]]
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let service = try Service(["--ledger", ledger.path, "--now", time])
        let release = try bytes(try Demo.work("release-1.json"))
        let id = try sha256(try Demo.work("release-1.json"))
        let unknown = String(repeating: "0", count: 64)
        var checked = 0

        func check(_ method: String, _ template: String, _ path: String, body: [UInt8]? = nil, type: String? = nil) async throws -> Service.Answer {
            let answer = try await service.request(method, path, body: body, type: type)
            let operation = try #require(paths[template]?[method.lowercased()] as? [String: Any], "\(method) \(template) is not documented")
            let responses = operation["responses"] as! [String: Any]
            let response = resolved(try #require(responses[String(answer.status)], "\(method) \(path): status \(answer.status) is not documented"), document) as! [String: Any]
            let content = response["content"] as? [String: Any] ?? [:]
            let type = (answer.headers["content-type"] ?? "").split(separator: ";").first.map(String.init) ?? ""
            #expect(content[type] != nil, "\(method) \(path): \(type) is not documented for \(answer.status)")
            if type == "application/json", let schema = (content[type] as? [String: Any])?["schema"] {
                let value = try JSONSerialization.jsonObject(with: Data(answer.body), options: [.fragmentsAllowed])
                let errors = schemaErrors(value, resolved(schema, document) as! [String: Any])
                #expect(errors.isEmpty, "\(method) \(path): \(errors)")
            }
            checked += 1
            return answer
        }

        _ = try await check("GET", "/", "/")
        _ = try await check("GET", "/static/petition.js", "/static/petition.js")
        _ = try await check("GET", "/static/dashboard.js", "/static/dashboard.js")
        _ = try await check("GET", "/v1/status", "/v1/status")
        _ = try await check("GET", "/v1/entries", "/v1/entries?from=3&limit=2")
        _ = try await check("GET", "/v1/entries", "/v1/entries?from=x")
        _ = try await check("GET", "/v1/checkpoint", "/v1/checkpoint")
        _ = try await check("POST", "/v1/checkpoint/cosignatures", "/v1/checkpoint/cosignatures", body: Array("x".utf8), type: "text/plain")
        _ = try await check("GET", "/v1/proofs/inclusion", "/v1/proofs/inclusion?seq=2")
        _ = try await check("GET", "/v1/proofs/consistency", "/v1/proofs/consistency?from=2")
        _ = try await check("GET", "/v1/proofs/consistency", "/v1/proofs/consistency?from=99")
        #expect(try await check("POST", "/v1/proposals", "/v1/proposals", body: release, type: "application/json").status == 201)
        _ = try await check("POST", "/v1/proposals", "/v1/proposals", body: release, type: "application/json")
        _ = try await check("POST", "/v1/proposals", "/v1/proposals", body: Array("{}".utf8), type: "application/json")
        _ = try await check("GET", "/v1/queue", "/v1/queue")
        _ = try await check("GET", "/v1/proposals/{id}", "/v1/proposals/\(id)")
        _ = try await check("GET", "/v1/proposals/{id}", "/v1/proposals/\(unknown)")
        _ = try await check("GET", "/v1/proposals/{id}/payload", "/v1/proposals/\(id)/payload")
        _ = try await check("GET", "/petitions/{id}", "/petitions/\(id)")
        _ = try await check("POST", "/v1/proposals/{id}/submit", "/v1/proposals/\(id)/submit")
        _ = try await check("POST", "/v1/proposals/{id}/signatures", "/v1/proposals/\(id)/signatures", body: [1, 2, 3])
        for delegate in 1...3 {
            _ = try await check("POST", "/v1/proposals/{id}/signatures", "/v1/proposals/\(id)/signatures", body: try bytes(try Demo.work("release-1.delegate-\(delegate).sig")))
        }
        _ = try await check("POST", "/v1/proposals/{id}/signatures", "/v1/proposals/\(id)/signatures", body: try bytes(try Demo.work("release-1.delegate-3.sig")))
        let last = try await check("POST", "/v1/proposals/{id}/signatures", "/v1/proposals/\(id)/signatures", body: try bytes(try Demo.work("release-1.delegate-5.sig")))
        #expect(last.json["appended"]?["seq"] != nil)
        #expect(checked == 26)
        #expect(service.stop() == 0)
    }

    /// schemathesis (from PyPI) generates requests from the document: no answer is a
    /// server error or off the document, and the ledger and the queue are unchanged by every one.
    @Test(.enabled(if: Self.schemathesisTestable)) func fuzzedFromTheDocument() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let service = try Service(["--ledger", ledger.path, "--now", time, "--rate-limit", "0"])
        let release = try Demo.work("release-1.json")
        let id = try sha256(release)
        #expect(try await service.post("/v1/proposals", try bytes(release), type: "application/json").status == 201)
        let file = ledger.appendingPathComponent("ledger.jsonl")
        let before = try sha256(file)
        // The document with the queued proposal's id as the example for {id}.
        var document = try openAPI()
        var paths = document["paths"] as! [String: [String: Any]]
        for (path, operations) in paths where path.contains("{id}") {
            paths[path] = operations.mapValues { operation in
                guard var operation = operation as? [String: Any], var parameters = operation["parameters"] as? [[String: Any]] else { return operation }
                parameters = parameters.map { parameter in var parameter = parameter; parameter["example"] = id; return parameter }
                operation["parameters"] = parameters
                return operation
            }
        }
        document["paths"] = paths
        let folder = try makeTemporaryDirectory()
        let spec = folder.appendingPathComponent("openapi.json")
        try JSONSerialization.data(withJSONObject: document).write(to: spec)
        let examples = ProcessInfo.processInfo.environment["BACKSTOP_FUZZ_EXAMPLES"] ?? "40"
        let run = try runProcess("/usr/bin/env", ["python3", "-m", "schemathesis.cli", "run", spec.path, "--url", service.url, "--checks", "all",
                                                  "--exclude-checks", "positive_data_acceptance,unsupported_method", "--max-examples", examples,
                                                  "--seed", "20261129", "--generation-deterministic", "--no-color"],
                                 environment: ProcessInfo.processInfo.environment.merging(["SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"]) { $1 },
                                 currentDirectory: folder)  // Its cache goes there, not into the package.
        let summary = run.stdout.split(separator: "\n").first { $0.contains(" generated, ") }.map(String.init) ?? ""
        print("schemathesis: \(summary.trimmingCharacters(in: .whitespaces))")
        #expect(run.status == 0, "\(run.stdout.suffix(3000)) \(run.stderr.suffix(1000))")
        #expect(summary.contains("passed") && !summary.contains("failed"), "\(summary)")
        #expect(try sha256(file) == before)
        let signatures = try FileManager.default.contentsOfDirectory(atPath: ledger.path + "-queue/" + id).filter { $0.hasSuffix(".sig") }
        #expect(signatures.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: ledger.path + "-queue").filter { !$0.hasPrefix(".") } == [id])
        #expect(!service.stderr.contains("\"status\":\"500\""))
        #expect(service.stop() == 0)
    }

    static var schemathesisTestable: Bool {
        testDataRequired || (try? runProcess("/usr/bin/env", ["python3", "-m", "schemathesis.cli", "--version"]).status == 0) == true
    }
}
