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

    /// Sends a request to `url` and waits for the answer: at most `timeout` seconds without
    /// a byte, `deadline` seconds in all, and `maximumBytes` of body (a larger answer is
    /// cut off and refused, never held whole).
    package static func send(_ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil, timeout: Double = 60, deadline: Double = 600) throws -> Answer {
        guard let target = URL(string: url), let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https", target.host != nil else {
            throw CLIError.badInput("\(SafeText.quoted(url)) is not an http:// or https:// URL")
        }
        var request = URLRequest(url: target, timeoutInterval: timeout)
        request.httpMethod = method
        if let body { request.httpBody = Data(body) }
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = deadline
        let collector = Collector(limit: maximumBytes)
        let session = URLSession(configuration: configuration, delegate: collector, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        collector.done.wait()
        if collector.tooLarge { throw CLIError(message: "\(SafeText.escape(url)): the answer is larger than \(maximumBytes) bytes", exitCode: 4) }
        if let error = collector.error { throw CLIError(message: "\(SafeText.escape(url)): \(error.localizedDescription)", exitCode: 4) }
        return Answer(status: collector.status, body: Array(collector.data))
    }

    /// Gathers an answer, cancelling it as soon as it passes the size limit.
    private final class Collector: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        let limit: Int
        let done = DispatchSemaphore(value: 0)
        var data = Data()
        var status = 0
        var error: Error?
        var tooLarge = false

        init(limit: Int) { self.limit = limit }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
            status = (response as? HTTPURLResponse)?.statusCode ?? 0
            if response.expectedContentLength > Int64(limit) {
                tooLarge = true
                completionHandler(.cancel)
            } else {
                completionHandler(.allow)
            }
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            self.data.append(data)
            if self.data.count > limit {
                tooLarge = true
                dataTask.cancel()
            }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if !tooLarge { self.error = error }
            done.signal()
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
    /// returns the service's analysis. The queue id is the payload's SHA-256, computed
    /// here; an answer about another id is refused.
    static func propose(_ server: String, payload: [UInt8]) throws -> JSONValue {
        let id = Hex.encode(try SHA256.hash(payload))
        let answer = try send("POST", base(server) + "/v1/proposals", body: payload, contentType: "application/json")
        guard answer.status == 200 || answer.status == 201, let json = answer.json else {
            throw refusal(answer, "the service refused the proposal")
        }
        guard json["queueId"]?.stringValue == id else {
            throw CLIError(message: "the service answered about another proposal than this file's (SHA-256 \(id)): not trusted", exitCode: 4)
        }
        return json
    }

    /// The error the command line reports for a refused request: exit 1 for the service's
    /// refusals (409, 422), 2 for a request it could not use, 3 when busy, 4 otherwise.
    static func refusal(_ answer: Answer, _ what: String) -> CLIError {
        let message = "\(what) (HTTP \(answer.status)): \(SafeText.escape(answer.errorMessage ?? String(decoding: answer.body.prefix(300), as: UTF8.self)))"
        switch answer.status {
        case 409, 422: return .refused(message)
        case 400, 404, 413: return .badInput(message)
        case 429, 503: return CLIError(message: message, exitCode: 3)
        default: return CLIError(message: message, exitCode: 4)
        }
    }

    /// The lines `backstop check` prints, from the service's analysis.
    /// Every string in them comes from the service and is escaped (`SafeText.escape`):
    /// a hostile service cannot write control sequences to the signer's terminal.
    static func analysisLines(_ json: JSONValue) -> [String] {
        func text(_ value: JSONValue?) -> String { SafeText.escape(value?.stringValue ?? "?") }
        let proposal = json["proposal"]
        var lines = ["the service reports: proposal \(text(proposal?["id"])): \(text(proposal?["kind"])), expires \(text(proposal?["expires"]))"]
        for problem in json["problems"]?.arrayValue ?? [] {
            lines.append("  PROBLEM (\(text(problem["code"]))): \(text(problem["message"]))")
        }
        if let petition = json["petition"] {
            lines.append("petitioners: \(petition["distinct"]?.integerValue ?? 0) distinct of the \(petition["threshold"]?.integerValue ?? 0) needed")
        }
        for group in json["groups"]?.arrayValue ?? [] {
            let signed = group["signed"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let missing = group["missing"]?.arrayValue?.compactMap(\.stringValue) ?? []
            let threshold = group["threshold"]?.integerValue ?? 0
            lines.append("signed by \(signed.count) of the \(threshold) needed (\(text(group["role"]))): \(signed.isEmpty ? "nobody" : SafeText.escape(signed.joined(separator: ", ")))")
            if let needed = group["stillNeeded"]?.integerValue, needed > 0 {
                lines.append("still needed: \(needed) more, from: \(SafeText.escape(missing.joined(separator: ", ")))")
            }
        }
        if let appended = json["appended"], appended != .null {
            lines.append("appended entry \(appended["seq"]?.integerValue ?? -1): \(text(appended["summary"]))")
        } else if let recorded = json["alreadyRecorded"]?.integerValue {
            lines.append("already recorded as entry \(recorded): nothing to submit")
        } else if let refusal = json["refusal"], refusal != .null {
            lines.append("would be accepted now: no. \(text(refusal["message"])) [rule \(text(refusal["rule"]))]")
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
