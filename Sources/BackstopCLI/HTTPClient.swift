import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The command line's side of `backstop serve`: blocking requests with a timeout, answers
/// read as the service's JSON.
package enum HTTPClient {
    /// An answer: the status and the body.
    package struct Answer {
        package let status: Int
        package let body: [UInt8]

        /// The body as JSON, or nil.
        package var json: JSONValue? { try? JSONParser.parse(body) }

        /// The service's error message, when it sent one.
        package var errorMessage: String? { json?["error"]?["message"]?.stringValue }
    }

    /// The largest answer read (a page of entries, a status).
    static let maximumBytes = 256 << 20

    /// Sends a request to `url` and waits for the answer (up to `timeout` seconds).
    package static func send(_ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil, timeout: Double = 60) throws -> Answer {
        guard let target = URL(string: url), let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https", target.host != nil else {
            throw CLIError.badInput("\(SafeText.quoted(url)) is not an http:// or https:// URL")
        }
        var request = URLRequest(url: target, timeoutInterval: timeout)
        request.httpMethod = method
        if let body { request.httpBody = Data(body) }
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        final class Box: @unchecked Sendable { var result: Result<Answer, Error>? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(error)
            } else {
                box.result = .success(Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: Array(data ?? Data())))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        switch box.result! {
        case .success(let answer):
            guard answer.body.count <= maximumBytes else { throw CLIError(message: "\(url): the answer is larger than \(maximumBytes) bytes", exitCode: 4) }
            return answer
        case .failure(let error):
            throw CLIError(message: "\(SafeText.escape(url)): \(error.localizedDescription)", exitCode: 4)
        }
    }

    /// `base` without a trailing slash.
    package static func base(_ url: String) -> String {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Whether `text` names a service rather than a folder or a database.
    package static func isServiceURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
    }

    /// Queues `payload` at the service (again, harmlessly, if it is queued already) and
    /// returns its queue id and the service's analysis.
    static func propose(_ server: String, payload: [UInt8]) throws -> (String, JSONValue) {
        let answer = try send("POST", base(server) + "/v1/proposals", body: payload, contentType: "application/json")
        guard answer.status == 200 || answer.status == 201, let json = answer.json, let id = json["queueId"]?.stringValue else {
            throw refusal(answer, "the service refused the proposal")
        }
        return (id, json)
    }

    /// The error the command line reports for a refused request: exit 1 for the service's
    /// refusals (409, 422), 2 for a request it could not use, 3 when busy, 4 otherwise.
    static func refusal(_ answer: Answer, _ what: String) -> CLIError {
        let message = "\(what) (HTTP \(answer.status)): \(SafeText.sanitize(answer.errorMessage ?? String(decoding: answer.body.prefix(300), as: UTF8.self)))"
        switch answer.status {
        case 409, 422: return .refused(message)
        case 400, 404, 413: return .badInput(message)
        case 429, 503: return CLIError(message: message, exitCode: 3)
        default: return CLIError(message: message, exitCode: 4)
        }
    }

    /// The lines `backstop check` prints, from the service's analysis.
    static func analysisLines(_ json: JSONValue) -> [String] {
        let proposal = json["proposal"]
        var lines = ["proposal \(proposal?["id"]?.stringValue ?? "?"): \(proposal?["kind"]?.stringValue ?? "?"), expires \(proposal?["expires"]?.stringValue ?? "?") (as the service sees it)"]
        for problem in json["problems"]?.arrayValue ?? [] {
            lines.append("  PROBLEM (\(problem["code"]?.stringValue ?? "")): \(SafeText.sanitize(problem["message"]?.stringValue ?? ""))")
        }
        if let petition = json["petition"] {
            lines.append("petitioners: \(petition["distinct"]?.integerValue ?? 0) distinct of the \(petition["threshold"]?.integerValue ?? 0) needed")
        }
        for group in json["groups"]?.arrayValue ?? [] {
            let signed = group["signed"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let missing = group["missing"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let threshold = group["threshold"]?.integerValue ?? 0
            lines.append("signed by \(signed.count) of the \(threshold) needed (\(SafeText.sanitize(group["role"]?.stringValue ?? ""))): \(signed.isEmpty ? "nobody" : SafeText.sanitize(signed.joined(separator: ", ")))")
            if let needed = group["stillNeeded"]?.integerValue, needed > 0 {
                lines.append("still needed: \(needed) more, from: \(SafeText.sanitize(missing.joined(separator: ", ")))")
            }
        }
        if let appended = json["appended"], appended != .null {
            lines.append("appended entry \(appended["seq"]?.integerValue ?? -1): \(SafeText.sanitize(appended["summary"]?.stringValue ?? ""))")
        } else if let recorded = json["alreadyRecorded"]?.integerValue {
            lines.append("already recorded as entry \(recorded): nothing to submit")
        } else if let refusal = json["refusal"], refusal != .null {
            lines.append("would be accepted now: no. \(SafeText.sanitize(refusal["message"]?.stringValue ?? "")) [rule \(refusal["rule"]?.stringValue ?? "")]")
        } else {
            lines.append("would be accepted now: yes")
        }
        return lines
    }
}

/// A ledger served by `backstop serve`, read over HTTP (`GET /v1/status`, `GET
/// /v1/entries`): the source of `backstop mirror --from URL`, which verifies every entry
/// itself, so the service is trusted for nothing.
final class HTTPLedger: LedgerStorage {
    let location: String
    private let base: String

    init(url: String) {
        base = HTTPClient.base(url)
        location = base
    }

    func storedHead() throws -> StoredHead {
        let answer = try HTTPClient.send("GET", base + "/v1/status")
        guard answer.status == 200, let json = answer.json, let count = json["entries"]?.integerValue, count >= 0,
              let head = json["head"]?.stringValue.flatMap(Hex.decode) else {
            throw HTTPClient.refusal(answer, "\(base)/v1/status is not a Backstop service's status")
        }
        return StoredHead(count: count, hash: count == 0 ? nil : head)
    }

    func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        let answer = try HTTPClient.send("GET", base + "/v1/entries?from=\(seq)&limit=\(count)")
        guard answer.status == 200 else { throw HTTPClient.refusal(answer, "\(base)/v1/entries") }
        var lines = answer.body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        guard lines.last == [] else { throw LedgerError(.corrupt, seq: seq + Int64(lines.count - 1), "\(base)/v1/entries: the last line has no newline (the answer was cut short)") }
        lines.removeLast()
        return Array(lines.prefix(count))
    }

    func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws {
        throw CLIError.badInput("\(base) is read over HTTP; a service's ledger is written through its API")
    }

    func close() {}
}
