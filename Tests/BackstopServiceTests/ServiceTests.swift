import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("The service: the demo's release through the signing queue, refusals, restarts, witnesses")
struct ServiceTests {
    /// The demo's release, signed through the service by four delegates (the fourth with
    /// plain openssl): the third answer says one signature is missing, the fourth appends,
    /// and the dashboard shows the pending release with its countdown.
    @Test func demoReleaseThroughTheService() async throws {
        let releaseSeq = try Demo.firstEntry("release")
        let (ledger, time) = try Demo.prefix(releaseSeq)
        let service = try Service(["--ledger", ledger.path, "--now", time])
        let release = try Demo.work("release-1.json")
        let id = try sha256(release)

        let queued = try await service.post("/v1/proposals", try bytes(release), type: "application/json")
        #expect(queued.status == 201)
        #expect(queued.json["queueId"]?.stringValue == id)
        #expect(queued.json["wouldBeAccepted"] == .bool(false))
        #expect(queued.json["refusal"]?["rule"]?.stringValue == "threshold")
        // Queued again: the same proposal, not a second one.
        #expect(try await service.post("/v1/proposals", try bytes(release), type: "application/json").status == 200)

        let before = try sha256(ledger.appendingPathComponent("ledger.jsonl"))
        // Refused signatures: over another payload, by a member, not DER. Nothing changes.
        let other = try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("genesis.delegate-4.sig")))
        #expect(other.status == 422)
        #expect(other.json["error"]?["code"]?.stringValue == "otherPayload")
        let memberSignature = try PrivateKey(pemRepresentation: String(contentsOf: demoKeys.appendingPathComponent("exchange-a.key.pem"), encoding: .utf8))
            .signature(for: try bytes(release)).derRepresentation
        let member = try await service.post("/v1/proposals/\(id)/signatures", memberSignature)
        #expect(member.status == 422)
        #expect(member.json["error"]?["code"]?.stringValue == "notAllowed")
        let garbage = try await service.post("/v1/proposals/\(id)/signatures", Array("not a signature".utf8))
        #expect(garbage.status == 422)
        #expect(garbage.json["error"]?["code"]?.stringValue == "malformed")
        #expect(try sha256(ledger.appendingPathComponent("ledger.jsonl")) == before)

        var answers: [Service.Answer] = []
        for delegate in [1, 2, 3] {
            answers.append(try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("release-1.delegate-\(delegate).sig"))))
        }
        #expect(answers.map(\.status) == [201, 201, 201])
        #expect(answers[0].json["signature"]?["signer"]?.stringValue == "delegate-1 (Binance)")
        let third = answers[2].json
        let group = third["groups"]?.arrayValue?.first
        #expect(group?["stillNeeded"] == .integer(1))
        #expect(group?["signed"]?.arrayValue?.count == 3)
        #expect(group?["missing"]?.arrayValue?.contains(.string("delegate-4 (OKX)")) == true)
        #expect(third["appended"] == .null)
        #expect(try sha256(ledger.appendingPathComponent("ledger.jsonl")) == before)

        // The same signature again changes nothing and says so.
        let again = try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("release-1.delegate-2.sig")))
        #expect(again.status == 200)
        #expect(again.json["signature"]?["code"]?.stringValue == "duplicate")

        // The fourth, made with plain openssl (often high S), appends the entry.
        let folder = try makeTemporaryDirectory()
        let opensslSignature = folder.appendingPathComponent("d5.sig")
        let signed = try openssl("dgst", "-sha256", "-sign", demoKeys.appendingPathComponent("delegate-5.key.pem").path, "-out", opensslSignature.path, release.path)
        #expect(signed.status == 0)
        let fourth = try await service.post("/v1/proposals/\(id)/signatures", try bytes(opensslSignature))
        #expect(fourth.status == 201)
        #expect(fourth.json["appended"]?["seq"] == .integer(Int64(releaseSeq)))
        #expect(fourth.json["appended"]?["kind"]?.stringValue == "release")
        #expect(fourth.json["alreadyRecorded"] == .integer(Int64(releaseSeq)))
        #expect(try await service.get("/v1/queue").json == .array([]))

        // The dashboard shows the pending release, its destinations and its countdown.
        let page = try await service.get("/").text
        #expect(page.contains("data-release=\"release-1\""))
        #expect(page.contains("restitution-pool-exchange-a"))
        // 24 hours from the append, less the time this test took to ask (minutes on a slow machine).
        #expect(page.range(of: #"Payable from 2022-01-21T02:0[0-9]:[0-9]{2}Z at the earliest \(in (23 h [0-9]+|24 h 0) min\)"#, options: .regularExpression) != nil)
        if Browser.testable {
            let seen = try Browser.run(["dashboard", service.url + "/", Browser.screenshots.path])
            let countdown = seen["desktop"]?["releases"]?.arrayValue?.first?["countdown"]?.stringValue ?? ""
            #expect(countdown.hasPrefix("Payable from "))
            #expect(countdown.contains("(in 2"))
        }

        #expect(service.stop() == 0)
        let verified = try backstop(["verify", "--ledger", ledger.path])
        #expect(verified.status == 0, "\(verified.stderr)")
        let lines = try String(contentsOf: ledger.appendingPathComponent("ledger.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == releaseSeq + 1)
        #expect(try JSONParser.parse(Array(lines.last!.utf8))["kind"]?.stringValue == "release")
    }

    /// Every refused request is answered with a clear JSON error and leaves the ledger and
    /// the queue as they were.
    @Test func refusalsChangeNothing() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let service = try Service(["--ledger", ledger.path, "--now", time, "--max-body", "4096"])
        let file = ledger.appendingPathComponent("ledger.jsonl")
        let before = try sha256(file)
        let queue = URL(fileURLWithPath: ledger.path + "-queue")
        let unknown = String(repeating: "ab", count: 32)
        let cases: [(String, String, [UInt8]?, String?, Int, String)] = [
            ("POST", "/v1/proposals", Array("{\"kind\":".utf8), "application/json", 400, "badInput"),
            ("POST", "/v1/proposals", try bytes(try Demo.work("genesis.json")), "application/json", 400, "badInput"),
            ("POST", "/v1/proposals", [UInt8](repeating: 0x20, count: 5000), "application/json", 413, "tooLarge"),
            ("POST", "/v1/proposals/\(unknown)/signatures", [0x30, 0x00], "application/octet-stream", 404, "notFound"),
            ("POST", "/v1/proposals/\(unknown)/submit", nil, nil, 404, "notFound"),
            ("GET", "/v1/proposals/\(unknown)", nil, nil, 404, "notFound"),
            ("GET", "/petitions/\(unknown)", nil, nil, 404, "notFound"),
            ("GET", "/v1/entries?from=abc", nil, nil, 400, "badInput"),
            ("GET", "/v1/entries?from=-1", nil, nil, 400, "badInput"),
            ("GET", "/v1/proofs/inclusion?seq=999", nil, nil, 400, "badInput"),
            ("GET", "/v1/proofs/consistency?from=0", nil, nil, 400, "badInput"),
            ("POST", "/v1/checkpoint/cosignatures", Array("not a note".utf8), "text/plain", 400, "badInput"),
            ("POST", "/v1/checkpoint/cosignatures", Array("backstop/00\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".utf8), "text/plain", 409, "stale"),
            ("GET", "/no/such/page", nil, nil, 404, "notFound"),
        ]
        for (method, path, body, type, status, code) in cases {
            let answer = try await service.request(method, path, body: body, type: type)
            #expect(answer.status == status, "\(method) \(path): \(answer.text)")
            #expect(answer.json["ok"] == .bool(false), "\(method) \(path)")
            #expect(answer.json["error"]?["code"]?.stringValue == code, "\(method) \(path): \(answer.text)")
            #expect(answer.headers["content-type"] == "application/json")
        }
        // Signatures as JSON: unknown fields, a key that is not a key, hex that is not hex.
        let id = try sha256(try Demo.work("release-1.json"))
        #expect(try await service.post("/v1/proposals", try bytes(try Demo.work("release-1.json")), type: "application/json").status == 201)
        for body in [#"{"signature":"3000","extra":1}"#, #"{"signature":"3000","publicKey":"00"}"#, #"{"signature":"zz"}"#, "[1]"] {
            let answer = try await service.post("/v1/proposals/\(id)/signatures", Array(body.utf8), type: "application/json")
            #expect(answer.status == 400, "\(body): \(answer.text)")
        }
        // A payload already on the ledger is not queued: the answer names its entry.
        let recorded = try await service.post("/v1/proposals", try bytes(try Demo.work("admit-exchange-a.json")), type: "application/json")
        #expect(recorded.status == 200)
        #expect(recorded.json["alreadyRecorded"] == .integer(1))
        #expect(try sha256(file) == before)
        let queued = try FileManager.default.contentsOfDirectory(atPath: queue.path).filter { !$0.hasPrefix(".") }
        #expect(queued == [id])
        #expect(try FileManager.default.contentsOfDirectory(atPath: queue.appendingPathComponent(id).path) == ["payload.json"])
        #expect(service.stop() == 0)
    }

    /// Signatures acknowledged by the service survive a restart, in files the CLI reads.
    @Test func queueSurvivesRestart() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let release = try Demo.work("release-1.json")
        let id = try sha256(release)
        var service = try Service(["--ledger", ledger.path, "--now", time])
        _ = try await service.post("/v1/proposals", try bytes(release), type: "application/json")
        for delegate in [1, 2] {
            #expect(try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("release-1.delegate-\(delegate).sig"))).status == 201)
        }
        #expect(service.stop() == 0)
        service = try Service(["--ledger", ledger.path, "--now", time])
        let after = try await service.get("/v1/proposals/\(id)").json
        #expect(after["groups"]?.arrayValue?.first?["signed"]?.arrayValue?.count == 2)
        // Named as when posted, not by their path on the service's disk.
        #expect(after["files"]?.arrayValue?.compactMap { $0["file"]?.stringValue } == ["00001.sig", "00002.sig"])
        #expect(service.stop() == 0)
        let queueFolder = ledger.path + "-queue/" + id
        let check = try backstop(["check", "--ledger", ledger.path, "--proposal", queueFolder + "/payload.json", queueFolder, "--now", time])
        #expect(check.status == 1)
        #expect(check.stdout.contains("signed by 2 of the 4 needed"), "\(check.stdout)")
    }

    /// `backstop approve --server` and `backstop check --server` as a delegate uses them.
    @Test func approveAndCheckThroughTheServer() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let service = try Service(["--ledger", ledger.path, "--now", time])
        let release = try Demo.work("release-1.json").path
        let folder = try makeTemporaryDirectory()

        let notHeld = try backstop(["check", "--server", service.url, "--proposal", release])
        #expect(notHeld.status == 1)
        #expect(notHeld.stderr.contains("does not hold this proposal"))

        var outputs: [ProcessResult] = []
        for delegate in [1, 2, 3, 4] {
            outputs.append(try backstop(["approve", "--key", demoKeys.appendingPathComponent("delegate-\(delegate).key.pem").path, "--proposal", release,
                                         "--out", folder.appendingPathComponent("d\(delegate).sig").path, "--server", service.url, "--yes", "--now", time]))
            if delegate == 1 {
                let check = try backstop(["check", "--server", service.url, "--proposal", release])
                #expect(check.status == 1)
                #expect(check.stdout.contains("signed by 1 of the 4 needed"), "\(check.stdout)")
                #expect(check.stdout.contains("still needed: 3 more"))
            }
        }
        #expect(outputs.map(\.status) == [0, 0, 0, 0], "\(outputs.map(\.stderr))")
        #expect(outputs[0].stdout.contains("You are signing:"))
        #expect(outputs[2].stdout.contains("still needed: 1 more"), "\(outputs[2].stdout)")
        #expect(outputs[3].stdout.contains("appended entry \(try Demo.firstEntry("release"))"), "\(outputs[3].stdout)")
        let done = try backstop(["check", "--server", service.url, "--proposal", release, "--json"])
        #expect(done.status == 0)
        #expect(try JSONParser.parse(Array(done.stdout.utf8))["alreadyRecorded"]?.integerValue == Int64(try Demo.firstEntry("release")))
        #expect(service.stop() == 0)
    }

    /// Anyone can copy the ledger from the service and check it alone; the service's
    /// status, entries and proofs are the ledger's.
    @Test func mirrorStatusEntriesProofs() async throws {
        let lines = try String(contentsOf: try Demo.ledger(), encoding: .utf8).split(separator: "\n").count
        let (ledger, _) = try Demo.prefix(lines)
        let service = try Service(["--ledger", ledger.path])
        let copy = try makeTemporaryDirectory().appendingPathComponent("copy")
        let mirrored = try backstop(["mirror", "--from", service.url + "/", "--to", copy.path])
        #expect(mirrored.status == 0, "\(mirrored.stderr)")
        #expect(try bytes(copy.appendingPathComponent("ledger.jsonl")) == bytes(ledger.appendingPathComponent("ledger.jsonl")))

        let all = try bytes(ledger.appendingPathComponent("ledger.jsonl")).split(separator: UInt8(ascii: "\n")).map(Array.init)
        let page = try await service.get("/v1/entries?from=5&limit=3")
        #expect(page.headers["content-type"] == "application/jsonl")
        #expect(page.body == all[5...7].flatMap { $0 + [UInt8(ascii: "\n")] })
        #expect(try await service.get("/v1/entries?from=\(lines)").body.isEmpty)

        let status = try await service.get("/v1/status").json
        let asOf = status["asOf"]?.stringValue ?? ""
        let cli = try backstop(["status", "--ledger", copy.path, "--json", "--now", asOf])
        #expect(try JSONParser.parse(Array(cli.stdout.utf8)) == status)

        let proof = try await service.get("/v1/proofs/inclusion?seq=7").json
        let leaf = try Entry.hash(line: all[7])
        let path = (proof["proof"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(Base64.decode) }
        let root = Base64.decode(proof["root"]?.stringValue ?? "") ?? []
        #expect(Merkle.verifyInclusion(leaf: leaf, index: 7, size: Int64(lines), proof: path, root: root))
        #expect(proof["line"]?.stringValue == Base64.encode(all[7]))
        let consistency = try await service.get("/v1/proofs/consistency?from=10").json
        #expect(Merkle.verifyConsistency(old: 10, new: Int64(lines), oldRoot: Base64.decode(consistency["fromRoot"]?.stringValue ?? "") ?? [],
                                         newRoot: root, proof: (consistency["proof"]?.arrayValue ?? []).compactMap { $0.stringValue.flatMap(Base64.decode) }))
        #expect(service.stop() == 0)
    }

    /// Witnesses cosign the service's checkpoint over HTTP from their own copies; at the
    /// quorum the checkpoint is recorded.
    @Test func witnessesCosignOverHTTP() async throws {
        let lines = try String(contentsOf: try Demo.ledger(), encoding: .utf8).split(separator: "\n").count
        let (ledger, _) = try Demo.prefix(lines)
        let service = try Service(["--ledger", ledger.path])
        let folder = try makeTemporaryDirectory()
        let note = folder.appendingPathComponent("checkpoint.txt")
        let drafted = try await service.get("/v1/checkpoint")
        #expect(drafted.text.hasSuffix("\n\(lines)\n" + drafted.text.split(separator: "\n").last! + "\n"))
        try Data(drafted.body).write(to: note)
        #expect(try backstop(["mirror", "--from", service.url, "--to", folder.appendingPathComponent("copy").path]).status == 0)

        var answers: [Service.Answer] = []
        for witness in [1, 2] {
            let cosigned = try backstop(["cosign", "--ledger", folder.appendingPathComponent("copy").path, "--key", demoKeys.appendingPathComponent("witness-\(witness).key.pem").path,
                                         "--state", folder.appendingPathComponent("state-\(witness).json").path, "--checkpoint", note.path])
            #expect(cosigned.status == 0, "\(cosigned.stderr)")
            answers.append(try await service.post("/v1/checkpoint/cosignatures", try bytes(note), type: "text/plain"))
            if witness == 1 {
                #expect(try await service.post("/v1/checkpoint/cosignatures", try bytes(note), type: "text/plain").status == 200)
                #expect(try await service.get("/v1/checkpoint").text.contains("witness-1.demo"))
            }
        }
        #expect(answers.map(\.status) == [201, 201])
        #expect(answers[0].json["appended"] == .null)
        #expect(answers[1].json["cosignedBy"] == .array(["witness-1.demo", "witness-2.demo"]))
        #expect(answers[1].json["appended"]?["kind"]?.stringValue == "checkpoint")
        let status = try await service.get("/v1/status").json
        #expect(status["checkpoint"]?["size"] == .integer(Int64(lines)))
        // The old checkpoint is no longer the ledger's.
        #expect(try await service.post("/v1/checkpoint/cosignatures", try bytes(note), type: "text/plain").status == 409)
        #expect(service.stop() == 0)
        #expect(try backstop(["verify", "--ledger", ledger.path]).status == 0)
    }

    /// The service is the ledger's writer while it runs, and lets go when stopped.
    @Test func writerLockAndGracefulShutdown() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("release"))
        let first = try Service(["--ledger", ledger.path, "--now", time])
        let second = try runProcess(backstopPath, ["serve", "--ledger", ledger.path, "--listen", "127.0.0.1:0"])
        #expect(second.status == 3)
        #expect(second.stderr.contains("locked"), "\(second.stderr)")
        #expect(first.stop() == 0)
        #expect(first.stderr.contains("\"message\":\"stopped\""))
        let third = try Service(["--ledger", ledger.path, "--now", time])
        #expect(try await third.get("/v1/status").status == 200)
        #expect(third.stderr.contains("\"path\":\"/v1/status\""))
        #expect(third.stop() == 0)
        // Bad options: one line, exit 2.
        for arguments in [["--listen", "nowhere"], ["--rate-limit", "-1"], ["--now", "yesterday"]] {
            let refused = try runProcess(backstopPath, ["serve", "--ledger", ledger.path] + arguments)
            #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        }
    }

    /// With `--submit explicit` enough signatures make the entry acceptable, and only
    /// `POST .../submit` appends it.
    @Test func explicitSubmit() async throws {
        let releaseSeq = try Demo.firstEntry("release")
        let (ledger, time) = try Demo.prefix(releaseSeq)
        let service = try Service(["--ledger", ledger.path, "--now", time, "--submit", "explicit"])
        let release = try Demo.work("release-1.json")
        let id = try sha256(release)
        #expect(try await service.post("/v1/proposals", try bytes(release), type: "application/json").status == 201)
        let early = try await service.request("POST", "/v1/proposals/\(id)/submit")
        #expect(early.status == 409)
        #expect(early.json["error"]?["rule"]?.stringValue == "threshold")
        var last: Service.Answer? = nil
        for delegate in [1, 2, 3, 5] {
            last = try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("release-1.delegate-\(delegate).sig")))
        }
        #expect(last?.json["appended"] == .null)
        #expect(last?.json["wouldBeAccepted"] == .bool(true))
        let lines = { try String(contentsOf: ledger.appendingPathComponent("ledger.jsonl"), encoding: .utf8).split(separator: "\n").count }
        #expect(try lines() == releaseSeq)
        let submitted = try await service.request("POST", "/v1/proposals/\(id)/submit")
        #expect(submitted.status == 201)
        #expect(submitted.json["seq"] == .integer(Int64(releaseSeq)))
        #expect(try lines() == releaseSeq + 1)
        let again = try await service.request("POST", "/v1/proposals/\(id)/submit")
        #expect(again.status == 409)
        #expect(again.json["error"]?["code"]?.stringValue == "alreadyRecorded")
        #expect(service.stop() == 0)
    }

    /// A database ledger is served the same way; its queue needs a folder of its own.
    @Test(.enabled(if: PostgresServer.testable, "PostgreSQL is not installed")) func servesADatabaseLedger() async throws {
        let releaseSeq = try Demo.firstEntry("release")
        let (ledger, time) = try Demo.prefix(releaseSeq)
        let database = try PostgresServer.shared().makeDatabase()
        #expect(try backstop(["import", "--from", ledger.path, "--ledger", database]).status == 0)
        let noQueue = try runProcess(backstopPath, ["serve", "--ledger", database, "--listen", "127.0.0.1:0"])
        #expect(noQueue.status == 2)
        #expect(noQueue.stderr.contains("--queue"))

        let queue = try makeTemporaryDirectory().appendingPathComponent("queue")
        let service = try Service(["--ledger", database, "--queue", queue.path, "--now", time])
        let release = try Demo.work("release-1.json")
        let id = try sha256(release)
        #expect(try await service.post("/v1/proposals", try bytes(release), type: "application/json").status == 201)
        var last: Service.Answer? = nil
        for delegate in [1, 2, 3, 5] {
            last = try await service.post("/v1/proposals/\(id)/signatures", try bytes(try Demo.work("release-1.delegate-\(delegate).sig")))
        }
        #expect(last?.json["appended"]?["seq"] == .integer(Int64(releaseSeq)))
        #expect(service.stop() == 0)
        let exported = try makeTemporaryDirectory().appendingPathComponent("export")
        #expect(try backstop(["export", "--ledger", database, "--to", exported.path]).status == 0)
        #expect(try backstop(["verify", "--ledger", exported.path]).status == 0)
        let lines = try String(contentsOf: exported.appendingPathComponent("ledger.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == releaseSeq + 1)
    }

    /// Each client address gets its requests a second, in bursts of four; then 429.
    @Test func rateLimits() async throws {
        let (ledger, time) = try Demo.prefix(10)
        let service = try Service(["--ledger", ledger.path, "--now", time, "--rate-limit", "1"])
        // 24 requests at once: at most the burst of 4, and what a second refills while they
        // are answered, get through (however slow the machine is).
        let started = ContinuousClock.now
        let answers = try await withThrowingTaskGroup(of: Service.Answer.self) { group in
            for _ in 0..<24 { group.addTask { try await service.get("/v1/status") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let seconds = (ContinuousClock.now - started).components.seconds
        let passed = answers.filter { $0.status == 200 }.count
        #expect(passed >= 4)
        #expect(passed <= 4 + Int(seconds) + 1, "\(passed) passed in \(seconds) s")
        #expect(answers.allSatisfy { $0.status == 200 || $0.status == 429 })
        #expect(answers.first { $0.status == 429 }?.headers["retry-after"] == "1")
        #expect(answers.first { $0.status == 429 }?.json["error"]?["code"]?.stringValue == "rateLimited")
        #expect(service.stop() == 0)
    }
}

@Suite("The service under load, on loopback")
struct LoadTests {
    /// Writers post contributions and their signatures while readers fetch pages; every
    /// acknowledged entry is on the ledger, nothing else was added, and the ledger verifies.
    @Test func acknowledgedEntriesAreExactlyTheLedgersNewOnes() async throws {
        let lines = try String(contentsOf: try Demo.ledger(), encoding: .utf8).split(separator: "\n").count
        let (ledger, _) = try Demo.prefix(lines)
        let service = try Service(["--ledger", ledger.path, "--rate-limit", "0"])
        let load = try runProcess(productsDirectory.appendingPathComponent("backstop-http-load").path,
                                  ["--server", service.url, "--ledger", ledger.path, "--keys", demoKeys.path,
                                   "--writers", "4", "--per-writer", "15", "--readers", "2", "--seconds", "300"])
        #expect(load.status == 0, "\(load.stderr)")
        print(load.stdout.split(separator: "\n").dropLast().joined(separator: "\n"))
        let report = try JSONParser.parse(Array(load.stdout.split(separator: "\n").last.map { Array($0.utf8) } ?? []))
        #expect(report["errors"] == .integer(0))
        let acknowledged = report["acknowledged"]?.arrayValue ?? []
        #expect(acknowledged.count == 60)
        #expect(service.stop() == 0)

        #expect(try backstop(["verify", "--ledger", ledger.path]).status == 0)
        let after = try String(contentsOf: ledger.appendingPathComponent("ledger.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(after.count == lines + acknowledged.count)
        var onLedger: [JSONValue] = []
        for (offset, line) in after.dropFirst(lines).enumerated() {
            let entry = try JSONParser.parse(Array(line.utf8))
            onLedger.append(["id": entry["body"]?["id"] ?? .null, "seq": .integer(Int64(lines + offset))])
        }
        #expect(onLedger == acknowledged)
    }
}

@Suite("The service against hostile clients and faulty witnesses")
struct HostileClientTests {
    /// Draft a petition on `ledger` at `time` (the CLI's own verb).
    func petition(_ ledger: URL, _ time: String, description: String, expires: String, into folder: URL) throws -> URL {
        let out = folder.appendingPathComponent("petition-\(UUID().uuidString).json")
        let drafted = try backstop(["petition", "draft", "--ledger", ledger.path, "--platform", "Broker C", "--description", description,
                                    "--incident-time", "2022-01-17T00:00:00Z", "--accounts", "1", "--loss", "USDC=1",
                                    "--expires", expires, "--out", out.path, "--now", time])
        guard drafted.status == 0 else { throw Service.ServiceFailed(message: drafted.stderr) }
        return out
    }

    /// No one fills the queue for good: a proposal may not wait more than 30 days, and one
    /// address may have only 20 unsigned proposals waiting.
    @Test func queueBounds() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("claim") + 1)
        let folder = try makeTemporaryDirectory()
        let service = try Service(["--ledger", ledger.path, "--now", time, "--rate-limit", "0"])
        let far = try petition(ledger, time, description: "far away", expires: "60d", into: folder)
        let refused = try await service.post("/v1/proposals", try bytes(far), type: "application/json")
        #expect(refused.status == 409)
        #expect(refused.json["error"]?["rule"]?.stringValue == "expires")
        var statuses: [Int] = []
        for index in 0..<21 {
            let file = try petition(ledger, time, description: "flood \(index)", expires: "14d", into: folder)
            statuses.append(try await service.post("/v1/proposals", try bytes(file), type: "application/json").status)
        }
        #expect(statuses.prefix(20).allSatisfy { $0 == 201 })
        #expect(statuses.last == 429)
        #expect(try await service.get("/v1/queue").json.arrayValue?.count == 20)
        #expect(service.stop() == 0)
    }

    /// A petition that expired while queued takes no more signatures, and its page says
    /// why instead of offering to sign.
    @Test func expiredPetitionTakesNoSignature() async throws {
        let (ledger, time) = try Demo.prefix(try Demo.firstEntry("claim") + 1)
        let folder = try makeTemporaryDirectory()
        // Expiring 30 minutes after the service's clock starts: ample for a slow machine.
        let file = try petition(ledger, time, description: "short lived", expires: "30m", into: folder)
        let id = try sha256(file)
        var service = try Service(["--ledger", ledger.path, "--now", time])
        #expect(try await service.post("/v1/proposals", try bytes(file), type: "application/json").status == 201)
        #expect(try await service.get("/petitions/\(id)").text.contains("/static/petition.js"))
        #expect(service.stop() == 0)
        let later = Timestamp(time)!.adding(seconds: 3_600)!.description
        service = try Service(["--ledger", ledger.path, "--now", later])
        let key = try PrivateKey(generatingOn: .p256)
        let body = "{\"signature\":\"\(Hex.encode(try key.signature(for: try bytes(file)).derRepresentation))\",\"publicKey\":\"\(Hex.encode(key.publicKey.derRepresentation))\"}"
        let signed = try await service.post("/v1/proposals/\(id)/signatures", Array(body.utf8), type: "application/json")
        #expect(signed.status == 409)
        #expect(signed.json["error"]?["rule"]?.stringValue == "expired")
        let page = try await service.get("/petitions/\(id)").text
        #expect(page.contains("WARNING: the proposal expired"))
        #expect(!page.contains("<script"))
        #expect(!page.contains("id=\"sign\""))
        #expect(service.stop() == 0)
        #expect(try !FileManager.default.contentsOfDirectory(atPath: ledger.path + "-queue/" + id).contains { $0.hasSuffix(".sig") })
    }

    /// A witness line the rules refuse (its time before the witness's last one) does not
    /// block an honest quorum, and cosignatures of a checkpoint survive an append.
    @Test func witnessesCannotBeBlocked() async throws {
        let lines = try String(contentsOf: try Demo.ledger(), encoding: .utf8).split(separator: "\n").count
        let (ledger, _) = try Demo.prefix(lines)
        let service = try Service(["--ledger", ledger.path])
        let folder = try makeTemporaryDirectory()
        let note = folder.appendingPathComponent("checkpoint.txt")
        let text = try await service.get("/v1/checkpoint").text
        try Data(text.utf8).write(to: note)
        let copy = folder.appendingPathComponent("copy").path
        #expect(try backstop(["mirror", "--from", service.url, "--to", copy]).status == 0)

        // Witness 1's key signs a line dated 2001, before its cosignatures of 2022.
        let witness1 = try Ed25519PrivateKey(pemRepresentation: String(contentsOf: demoKeys.appendingPathComponent("witness-1.key.pem"), encoding: .utf8))
        let parsed = try SignedNote(parsing: text)
        let backwards = SignedNote(text: parsed.text, signatures: [try witness1.cosignature(name: "witness-1.demo", text: parsed.text, time: 1_000_000_000)])
        let first = try await service.post("/v1/checkpoint/cosignatures", Array(backwards.rendered.utf8), type: "text/plain")
        #expect(first.status == 201)

        // Meanwhile the ledger grows: a reserve attestation through the queue.
        let reserves = folder.appendingPathComponent("reserves.json").path
        #expect(try backstop(["propose", "reserves", "--ledger", copy, "--hold", "ETH=1000@0xfund", "--hold", "BTC=80@bc1qfund",
                              "--hold", "USDC=141800@0xusdc", "--out", reserves]).status == 0)
        let id = try sha256(URL(fileURLWithPath: reserves))
        #expect(try await service.post("/v1/proposals", try bytes(URL(fileURLWithPath: reserves)), type: "application/json").status == 201)
        for delegate in 1...4 {
            let signature = folder.appendingPathComponent("r\(delegate).sig")
            _ = try backstop(["approve", "--key", demoKeys.appendingPathComponent("delegate-\(delegate).key.pem").path, "--proposal", reserves, "--out", signature.path, "--yes"])
            _ = try await service.post("/v1/proposals/\(id)/signatures", try bytes(signature))
        }
        #expect(try await service.get("/v1/status").json["entries"] == .integer(Int64(lines + 1)))

        // Witnesses 2 and 3 cosign the earlier checkpoint honestly, from the copy it is of.
        var answers: [Service.Answer] = []
        for witness in [2, 3] {
            let mine = folder.appendingPathComponent("checkpoint-\(witness).txt")
            try Data(text.utf8).write(to: mine)
            let cosigned = try backstop(["cosign", "--ledger", copy, "--key", demoKeys.appendingPathComponent("witness-\(witness).key.pem").path,
                                         "--state", folder.appendingPathComponent("state-\(witness).json").path, "--checkpoint", mine.path])
            #expect(cosigned.status == 0, "\(cosigned.stderr)")
            answers.append(try await service.post("/v1/checkpoint/cosignatures", try bytes(mine), type: "text/plain"))
        }
        #expect(answers.map(\.status) == [201, 201], "\(answers.map(\.text))")
        #expect(answers[0].json["appended"] == .null)
        #expect(answers[0].json["notRecordedBecause"]?["rule"] != nil, "\(answers[0].text)")
        #expect(answers[1].json["appended"]?["kind"]?.stringValue == "checkpoint", "\(answers[1].text)")
        #expect(try await service.get("/v1/status").json["checkpoint"]?["size"] == .integer(Int64(lines)))
        #expect(service.stop() == 0)
        #expect(try backstop(["verify", "--ledger", ledger.path]).status == 0)
    }
}
