import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// Load on a running `backstop serve`, on loopback, bounded in count and time: writer
// clients each post contributions (the payload, then the member's signature, which appends
// it) while reader clients fetch the status, the queue, the dashboard and recent entries.
// Prints the figures and, on standard output's last line, one JSON object with every
// acknowledged entry (seq and contribution id), so a test can check the ledger holds
// exactly those.
//
//   backstop-http-load --server http://127.0.0.1:PORT --ledger COPY --keys Keys/demo
//                      [--writers 4] [--per-writer 50] [--readers 4] [--seconds 120]
//
// COPY is the served ledger (or a copy of it), read once for the fund's state.

struct Options {
    var server = ""
    var ledger = ""
    var keys = "Keys/demo"
    var writers = 4
    var perWriter = 50
    var readers = 4
    var seconds = 120.0
}

func parse() -> Options {
    var options = Options()
    var arguments = Array(CommandLine.arguments.dropFirst())
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("backstop-http-load: \(message)\n".utf8))
        exit(2)
    }
    func number(_ value: String, _ name: String, _ range: ClosedRange<Int>) -> Int {
        guard let number = Int(value), range.contains(number) else { fail("\(name): \(range.lowerBound) to \(range.upperBound)") }
        return number
    }
    while !arguments.isEmpty {
        let name = arguments.removeFirst()
        guard let value = arguments.first else { fail("\(name) needs a value") }
        arguments.removeFirst()
        switch name {
        case "--server": options.server = value
        case "--ledger": options.ledger = value
        case "--keys": options.keys = value
        case "--writers": options.writers = number(value, name, 1...64)
        case "--per-writer": options.perWriter = number(value, name, 1...100_000)
        case "--readers": options.readers = number(value, name, 0...64)
        case "--seconds": options.seconds = Double(number(value, name, 1...3_600))
        default: fail("unknown option \(name)")
        }
    }
    guard options.server.hasPrefix("http://127.") || options.server.hasPrefix("http://localhost") else { fail("--server must be a loopback http:// URL") }
    guard !options.ledger.isEmpty else { fail("--ledger is required") }
    return options
}

/// One request's outcome.
struct Sample {
    let kind: String
    let status: Int
    let milliseconds: Double
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var samples: [Sample] = []
    private(set) var acknowledged: [(seq: Int64, id: String)] = []
    private(set) var failures: [String] = []

    func add(_ sample: Sample) { lock.lock(); samples.append(sample); lock.unlock() }
    func acknowledge(_ seq: Int64, _ id: String) { lock.lock(); acknowledged.append((seq, id)); lock.unlock() }
    func fail(_ message: String) { lock.lock(); if failures.count < 20 { failures.append(message) }; lock.unlock() }
}

/// A blocking request on a session of its own (one connection per client).
func send(_ session: URLSession, _ method: String, _ url: String, body: [UInt8]? = nil, type: String? = nil) -> (Int, [UInt8], Double) {
    var request = URLRequest(url: URL(string: url)!, timeoutInterval: 60)
    request.httpMethod = method
    if let body { request.httpBody = Data(body) }
    if let type { request.setValue(type, forHTTPHeaderField: "Content-Type") }
    final class Box: @unchecked Sendable { var status = 0; var data: [UInt8] = [] }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    let start = DispatchTime.now().uptimeNanoseconds
    session.dataTask(with: request) { data, response, _ in
        box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
        box.data = Array(data ?? Data())
        done.signal()
    }.resume()
    done.wait()
    return (box.status, box.data, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
}

func main() {
    let options = parse()
    let state: FundState
    do {
        state = try Fund.verify(file: URL(fileURLWithPath: options.ledger).appendingPathComponent(LedgerStore.ledgerFileName)).0
    } catch {
        FileHandle.standardError.write(Data("backstop-http-load: cannot read the ledger: \(error)\n".utf8))
        exit(2)
    }
    let members = state.members.keys.sorted()
    var loaded: [String: PrivateKey] = [:]
    for member in members {
        guard let pem = try? String(contentsOfFile: "\(options.keys)/\(member).key.pem", encoding: .utf8), let key = try? PrivateKey(pemRepresentation: pem) else {
            FileHandle.standardError.write(Data("backstop-http-load: no key for member \(member) in \(options.keys)\n".utf8))
            exit(2)
        }
        loaded[member] = key
    }
    let keys = loaded
    let now = Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
    let asset = state.policy.asset
    let decimals = state.assets[asset] ?? 0
    let results = Results()
    let deadline = Date().addingTimeInterval(options.seconds)
    let base = options.server.hasSuffix("/") ? String(options.server.dropLast()) : options.server
    let run = UUID().uuidString.prefix(8).lowercased()
    let writersDone = DispatchGroup()
    let everyone = DispatchGroup()
    final class Flag: @unchecked Sendable { var value = false }
    let writersFinished = Flag()

    let started = Date()
    for writer in 0..<options.writers {
        writersDone.enter()
        everyone.enter()
        Thread.detachNewThread {
            defer { writersDone.leave(); everyone.leave() }
            let session = URLSession(configuration: .ephemeral)
            for index in 0..<options.perWriter where Date() < deadline {
                let member = members[(writer + index) % members.count]
                let id = "load-\(run)-\(writer)-\(index)"
                guard let amount = try? Amount(decimal: "\(1 + index % 7)", decimals: decimals), let key = keys[member] else {
                    results.fail("contribution \(id): no amount or key for \(member)")
                    continue
                }
                let body = ContributionPayload(member: member, asset: asset, amount: amount, period: state.period(of: now), reference: id)
                let payload = Canonical.encode(Payloads.make(body, for: state, id: id, expires: now.adding(seconds: 3_600)!))
                let (queued, queueBody, queueTime) = send(session, "POST", base + "/v1/proposals", body: payload, type: "application/json")
                results.add(Sample(kind: "POST proposal", status: queued, milliseconds: queueTime))
                guard queued == 201, let queueId = (try? JSONParser.parse(queueBody))?["queueId"]?.stringValue else {
                    results.fail("proposal \(id): HTTP \(queued) \(String(decoding: queueBody.prefix(200), as: UTF8.self))")
                    continue
                }
                guard let signature = try? key.signature(for: payload).derRepresentation else {
                    results.fail("contribution \(id): signing failed")
                    continue
                }
                let (signed, signBody, signTime) = send(session, "POST", base + "/v1/proposals/\(queueId)/signatures", body: signature, type: "application/octet-stream")
                results.add(Sample(kind: "POST signature", status: signed, milliseconds: signTime))
                if signed == 201, let seq = (try? JSONParser.parse(signBody))?["appended"]?["seq"]?.integerValue {
                    results.acknowledge(seq, id)
                } else {
                    results.fail("signature \(id): HTTP \(signed) \(String(decoding: signBody.prefix(200), as: UTF8.self))")
                }
            }
        }
    }
    let paths = ["/v1/status", "/v1/queue", "/", "/v1/entries?from=\(max(state.entryCount - 10, 0))"]
    for reader in 0..<options.readers {
        everyone.enter()
        Thread.detachNewThread {
            defer { everyone.leave() }
            let session = URLSession(configuration: .ephemeral)
            var index = reader
            while !writersFinished.value && Date() < deadline {
                let path = paths[index % paths.count]
                let (status, _, time) = send(session, "GET", base + path)
                results.add(Sample(kind: "GET " + (path.split(separator: "?").first.map(String.init) ?? path), status: status, milliseconds: time))
                if status != 200 { results.fail("GET \(path): HTTP \(status)") }
                index += 1
            }
        }
    }
    writersDone.wait()
    writersFinished.value = true
    everyone.wait()
    let elapsed = Date().timeIntervalSince(started)

    func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }
    let samples = results.samples
    print("load: \(options.writers) writers x \(options.perWriter) contributions, \(options.readers) readers, \(String(format: "%.1f", elapsed)) s")
    print("requests: \(samples.count), \(String(format: "%.0f", Double(samples.count) / elapsed))/s; errors: \(samples.filter { !(200...299).contains($0.status) }.count)")
    for kind in Set(samples.map(\.kind)).sorted() {
        let times = samples.filter { $0.kind == kind }.map(\.milliseconds)
        print("  \(kind.padding(toLength: 18, withPad: " ", startingAt: 0)) \(String(times.count).leftPad(6)) requests  p50 \(String(format: "%7.2f", percentile(times, 0.5))) ms  p99 \(String(format: "%7.2f", percentile(times, 0.99))) ms")
    }
    print("appended: \(results.acknowledged.count) contributions acknowledged, \(String(format: "%.0f", Double(results.acknowledged.count) / elapsed))/s")
    for failure in results.failures { print("  failure: \(failure)") }
    let report: JSONValue = ["acknowledged": .array(results.acknowledged.sorted { $0.seq < $1.seq }.map { ["seq": .integer($0.seq), "id": .string($0.id)] }),
                             "requests": .integer(Int64(samples.count)), "errors": .integer(Int64(samples.filter { !(200...299).contains($0.status) }.count))]
    print(String(decoding: Canonical.encode(report), as: UTF8.self))
}

main()

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
