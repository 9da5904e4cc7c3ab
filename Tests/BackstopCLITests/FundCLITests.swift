import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The whole demo flow through the built executable, then checks on its ledger.
@Suite("The backstop command line: the fund", .serialized)
struct FundCLITests {
    static let keys = packageRoot.appendingPathComponent("Keys/demo").path

    /// Runs the demo into a new folder and returns the ledger path.
    func demoLedger() throws -> (URL, String) {
        let directory = try makeTemporaryDirectory("backstop-demo")
        let ledger = directory.appendingPathComponent("ledger").path
        let demo = try backstop("demo", "--ledger", ledger, "--keys", Self.keys)
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("refused: release needs 4 distinct delegate approvals for delegate set v1, found 3 valid"))
        #expect(demo.stdout.contains("is in arrears"))
        #expect(demo.stdout.contains("claim filed by a petition of 100 distinct petitioners"))
        #expect(demo.stdout.contains("openssl dgst -sha256 -sign"))
        #expect(demo.stdout.contains("intact: 35 entries"))
        // Money that is really there: receipts, reserves, a capped restitution list, one
        // user's own proof, the assessment schedule and the jurisdiction register.
        #expect(demo.stdout.contains("$ backstop propose receipt") && demo.stdout.contains("confirms 1:"))
        #expect(demo.stdout.contains("$ backstop propose reserves") && demo.stdout.contains("holds:         2,500 ETH held"))
        #expect(demo.stdout.contains("restitution list: 483 accounts, 1449 amounts, 120 BTC, 1,500 ETH, 66,200 USDC"))
        #expect(demo.stdout.contains("ETH:         1,500 ETH in total, at most 5.434782608695652425 ETH to one account; the cap is 100 ETH"))
        #expect(demo.stdout.contains("account acct-0042 is owed 5.434782608695652173 ETH, 0.4347826 BTC, 239.855072 USDC in the restitution list of release release-1"))
        #expect(demo.stdout.contains("release release-1 is settled: paid to restitution-pool-exchange-a"))
        #expect(demo.stdout.contains("assessments: next a second founding assessment, by another assessor, due 2021-11-01 00:00:00 UTC OVERDUE"))
        #expect(demo.stdout.contains("Not members although registered in SG, where membership is mandatory: Lion Exchange"))
        // The screens a signer reads (units, roles, a diff), the queue, and no hidden option
        // in any command the demo prints.
        let printed = demo.stdout.split(separator: "\n").filter { $0.hasPrefix("$ backstop") }
        #expect(printed.count > 20 && printed.allSatisfy { !$0.contains("--now") })
        #expect(demo.stdout.contains("cap:           100,000 USDC -> 150,000 USDC"))
        #expect(demo.stdout.contains("you sign as:   delegate-1 (Binance) of delegate set v1"))
        #expect(demo.stdout.contains("payout 1:      1,500 ETH") && demo.stdout.contains("loss:          52,000 USDC"))
        #expect(demo.stdout.contains("$ backstop check") && demo.stdout.contains("not signed yet: delegate-4 (OKX)"))
        // Witnessed time: a settlement 23 hours after the release is refused, 24 hours accepted.
        #expect(demo.stdout.contains("becomes payable when a checkpoint cosigned at or after 2022-01-21T02:00:00Z"))
        #expect(demo.stdout.contains("release release-1 settled") && demo.stdout.contains("holds: entry 30 (release"))
        return (directory, ledger)
    }

    @Test("the demo builds the case, verifies, and status --json reports it")
    func demoAndStatus() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let verify = try backstop("verify", "--ledger", ledger, "--json")
        #expect(verify.status == 0 && verify.stdout.contains(#""ok":true"#) && verify.stdout.contains(#""entries":35"#) && verify.stdout.contains(#""lastAttested":"2022-01-20T00:00:00Z""#))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("third-work"), withIntermediateDirectories: true)
        let existingWork = try backstop("demo", "--ledger", directory.appendingPathComponent("third").path, "--keys", Self.keys)
        #expect(existingWork.status == 2 && existingWork.stderr.contains("third-work already exists"))
        let fundId = try #require(verify.stdout.split(separator: "\"").drop { $0 != "fundId" }.dropFirst(2).first.map(String.init))
        #expect(try backstop("verify", "--ledger", ledger, "--fund-id", fundId).status == 0)
        let otherFund = try backstop("verify", "--ledger", ledger, "--fund-id", String(repeating: "0", count: 64))
        #expect(otherFund.status == 1 && otherFund.stderr.contains("fund id is \(fundId)"))
        let status = try backstop("status", "--ledger", ledger, "--json", "--now", "2022-01-21T02:00:00Z")
        #expect(status.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        for key in ["fundId", "entries", "head", "balances", "members", "claims", "pendingReleases", "delegates"] {
            #expect(object[key] != nil, "status --json lacks \(key)")
        }
        let balances = try #require(object["balances"] as? [String: [String: String]])
        #expect(balances["ETH"] == ["contributed": "2500", "reserved": "0", "paid": "1500", "available": "1000"])
        let claims = try #require(object["claims"] as? [[String: Any]])
        let breach = try #require(claims.first { $0["id"] as? String == "breach-2022-01" })
        #expect((breach["claimed"] as? [String: String])?["ETH"] == "4836.26")
        #expect((breach["remaining"] as? [String: String])?["BTC"] == "323.93")
        let members = try #require(object["members"] as? [[String: Any]])
        #expect(members.first { $0["id"] as? String == "broker-c" }?["status"] as? String == "arrears")
        let log = try backstop("log", "--ledger", ledger, "--kind", "release", "--json")
        #expect(log.status == 0 && log.stdout.split(separator: "\n").count == 1 && log.stdout.contains(#""kind":"release""#))
    }

    @Test("every --json output matches its schema in Docs/schemas")
    func jsonSchemas() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let work = ledger + "-work"
        func expectSchema(_ name: String, _ output: String, _ what: String) throws {
            let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Docs/schemas/\(name).schema.json"))) as? [String: Any])
            let lines = output.split(separator: "\n")
            #expect(!lines.isEmpty, "\(what) printed nothing")
            for line in lines {
                let value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
                let errors = schemaErrors(value, schema)
                #expect(errors.isEmpty, "\(what) does not match Docs/schemas/\(name).schema.json: \(errors.prefix(5))")
            }
        }
        // The checker can fail: a field the schema does not know, a wrong type, a missing one.
        let verifySchema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Docs/schemas/verify.schema.json"))) as? [String: Any])
        #expect(schemaErrors(["ok": true, "surprise": 1], verifySchema).contains { $0.contains("unexpected surprise") })
        #expect(schemaErrors(["ok": "yes"], verifySchema).contains { $0.contains("expected boolean") })
        #expect(schemaErrors([String: Any](), verifySchema).contains { $0.contains("lacks ok") })
        try expectSchema("verify", try backstop("verify", "--ledger", ledger, "--json").stdout, "verify")
        try expectSchema("verify", try backstop("verify", "--ledger", ledger, "--json", "--checkpoint", work + "/checkpoint-24h.txt").stdout, "verify --checkpoint")
        try expectSchema("status", try backstop("status", "--ledger", ledger, "--json").stdout, "status")
        try expectSchema("log", try backstop("log", "--ledger", ledger, "--json").stdout, "log")
        try expectSchema("check", try backstop("check", "--ledger", ledger, "--proposal", work + "/release-1.json", work + "/release-1.delegate-1.sig", "--json").stdout, "check")
        try expectSchema("error", try backstop("verify", "--ledger", directory.appendingPathComponent("none").path, "--json").stdout, "an error")
        try expectSchema("error", try backstop("contribute", "--ledger", ledger, "--member", "wallet-b", "--key", Self.keys + "/exchange-a.key.pem", "--asset", "USDC", "--amount", "1", "--json").stdout, "a refusal")
        let contribute = ["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", Self.keys + "/wallet-b.key.pem", "--asset", "USDC", "--amount", "1", "--id", "schema-1", "--json"]
        try expectSchema("appended", try backstop(contribute).stdout, "contribute")
        try expectSchema("recorded", try backstop(contribute).stdout, "contribute again")
        try expectSchema("restitution", try backstop("restitution", "check", "--proof", work + "/restitution/proofs/proof-000007.json", "--ledger", ledger, "--json").stdout, "restitution check")
        try expectSchema("key", try backstop("key", "generate", "--out", directory.appendingPathComponent("k").path, "--json").stdout, "key generate")
        // Failures and edge cases have the same shapes: a corrupt ledger, an unsigned new
        // proposal, a proposal for another fund, a fund from before receipts.
        let copy = directory.appendingPathComponent("corrupt")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        var lines = try String(contentsOfFile: ledger + "/ledger.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
        lines[3] = lines[3].replacingOccurrences(of: "\"seq\":3", with: "\"seq\":9")
        try (lines.joined(separator: "\n") + "\n").write(to: copy.appendingPathComponent("ledger.jsonl"), atomically: true, encoding: .utf8)
        let corrupt = try backstop("verify", "--ledger", copy.path, "--json")
        #expect(corrupt.status == 1)
        try expectSchema("verify", corrupt.stdout, "verify of a corrupt ledger")
        #expect(try backstop("propose", "reserves", "--ledger", ledger, "--hold", "ETH=1@w", "--out", directory.appendingPathComponent("new.json").path).status == 0)
        try expectSchema("check", try backstop("check", "--ledger", ledger, "--proposal", directory.appendingPathComponent("new.json").path, "--json").stdout, "check of an unsigned proposal")
        let old = directory.appendingPathComponent("old")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("Tests/Fixtures/ledger-before-issue-9/ledger.jsonl"), to: old.appendingPathComponent("ledger.jsonl"))
        #expect(try backstop("propose", "reserves", "--ledger", old.path, "--hold", "ETH=1@w", "--out", directory.appendingPathComponent("other.json").path).status == 0)
        let other = try backstop("check", "--ledger", ledger, "--proposal", directory.appendingPathComponent("other.json").path, "--json")
        #expect(other.status == 1 && other.stdout.contains("wrongFund"))
        try expectSchema("check", other.stdout, "check of another fund's proposal")
        try expectSchema("status", try backstop("status", "--ledger", old.path, "--json").stdout, "status of a fund from before receipts")
        try expectSchema("verify", try backstop("verify", "--ledger", old.path, "--json").stdout, "verify of a fund from before receipts")
    }

    @Test("verify finds a single-byte change in any entry, at that entry")
    func tamperDetection() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = URL(fileURLWithPath: ledger).appendingPathComponent("ledger.jsonl")
        let original = try [UInt8](Data(contentsOf: file))
        let lines = original.split(separator: 0x0A)
        var generator = SystemRandomNumberGenerator()
        var offset = 0
        var checked = 0
        for (seq, line) in lines.enumerated().dropLast() {
            for _ in 0..<3 {
                var bytes = original
                bytes[offset + Int.random(in: 0..<line.count, using: &generator)] ^= 0x01
                try Data(bytes).write(to: file)
                let result = try backstop("verify", "--ledger", ledger, "--json")
                #expect(result.status == 1 && result.stdout.contains(#""seq":\#(seq)"#), "entry \(seq): \(result.stdout)")
                checked += 1
            }
            offset += line.count + 1
        }
        print("verify CLI: \(checked) single-byte changes over \(lines.count - 1) entries, each reported at its entry")
    }

    @Test("bad input is one clear line on stderr with exit 2; a refusal by the rules exits 1; the ledger is unchanged")
    func refusals() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = URL(fileURLWithPath: ledger).appendingPathComponent("ledger.jsonl")
        let before = try Data(contentsOf: file)
        let key = "\(Self.keys)/wallet-b.key.pem"
        let base = ["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", key]
        let cases: [([String], Int32, String)] = [
            (base + ["--asset", "USDC", "--amount", "12.3456789"], 2, "7 decimals, but the asset has 6"),
            (base + ["--asset", "USDC", "--amount=-5"], 2, "negative"),
            (base + ["--asset", "USDC", "--amount", "0"], 2, "more than zero"),
            (base + ["--asset", "DOGE", "--amount", "1"], 2, "unknown asset \"DOGE\""),
            (["contribute", "--ledger", ledger, "--member", "nobody", "--key", key, "--asset", "USDC", "--amount", "1"], 2, "unknown member \"nobody\""),
            (["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", "\(Self.keys)/wallet-b.pub.pem", "--asset", "USDC", "--amount", "1"], 2, "PUBLIC KEY"),
            (["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", "/nonexistent.pem", "--asset", "USDC", "--amount", "1"], 2, "does not exist"),
            (["contribute", "--ledger", ledger, "--member", "wallet-b", "--key", "\(Self.keys)/exchange-a.key.pem", "--asset", "USDC", "--amount", "1"], 1, "it is not member wallet-b's key"),
            (base + ["--asset", "USDC", "--amount", "1", "--id", "wallet-b-dues-0"], 1, "already used"),
            (["contribute", "--ledger", ledger, "--member", "wallet-b"], 2, "Missing expected argument"),
            (["status", "--ledger", directory.appendingPathComponent("none").path], 2, "no ledger"),
        ]
        for (arguments, code, message) in cases {
            let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments)
            #expect(result.status == code, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): more than one line: \(result.stderr)")
        }
        #expect(try Data(contentsOf: file) == before)
    }

    @Test("propose, approve with backstop and openssl, submit: refused at 3, appended at 4, settle waits for witnessed time")
    func proposeApproveSubmit() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let backstopPath = productsDirectory.appendingPathComponent("backstop").path
        // The petition's id is derived from its content.
        let status = try backstop("status", "--ledger", ledger, "--json")
        let claims = try #require((try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["claims"] as? [[String: Any]])
        let petition = try #require(claims.first { ($0["filedBy"] as? String)?.hasPrefix("petition") == true }?["id"] as? String)
        #expect(petition.hasPrefix("petition-") && petition.count == 41)
        let propose = try backstop("propose", "release", "--ledger", ledger, "--claim", petition, "--pay", "USDC=20000@0xbroker-users", "--id", "r2", "--out", path("r2.json"))
        #expect(propose.status == 0, "\(propose.stderr)")
        let inspect = try backstop("inspect", path("r2.json"), "--ledger", ledger)
        #expect(inspect.stdout.contains("payout 1:      20,000 USDC") && inspect.stdout.contains("destination: 0xbroker-users") && inspect.stdout.contains("canonical"))
        var signatures: [String] = []
        for number in 1...2 {
            let approve = try backstop("approve", "--key", "\(Self.keys)/delegate-\(number).key.pem", "--proposal", path("r2.json"), "--out", path("d\(number).sig"))
            #expect(approve.status == 0 && approve.stdout.contains("purpose:       release (backstop/v1/release)"), "\(approve.stderr)")
            #expect(approve.stdout.contains("payout 1:      20,000 USDC") && approve.stdout.contains("you sign as:   delegate-\(number) ("))
            signatures.append(path("d\(number).sig"))
        }
        #expect(try openssl("dgst", "-sha256", "-sign", "\(Self.keys)/delegate-7.key.pem", "-out", path("d7.sig"), path("r2.json")).status == 0)
        signatures.append(path("d7.sig"))
        let short = try runProcess(backstopPath, ["submit", "--ledger", ledger, "--proposal", path("r2.json")] + signatures.flatMap { ["--signature", $0] } + ["--signature", path("d1.sig")])
        #expect(short.status == 1)
        #expect(short.stderr.contains("found 3 valid; signed: delegate-1 (Binance), delegate-2 (Coinbase), delegate-7 (Bitfinex)"), "\(short.stderr)")
        #expect(short.stderr.contains("set aside: \(path("d1.sig")): duplicate: delegate-1 (Binance) already signed"), "\(short.stderr)")
        #expect(short.stderr.contains("not signed: delegate-3 (Kraken)"))
        #expect(try openssl("dgst", "-sha256", "-sign", "\(Self.keys)/delegate-6.key.pem", "-out", path("d6.sig"), path("r2.json")).status == 0)
        let ok = try runProcess(backstopPath, ["submit", "--ledger", ledger, "--proposal", path("r2.json")] + (signatures + [path("d6.sig")]).flatMap { ["--signature", $0] })
        #expect(ok.status == 0 && ok.stdout.contains("its 24 hours delay runs from the first cosigned checkpoint that includes it"), "\(ok.stderr)")

        #expect(try backstop("propose", "settle", "--ledger", ledger, "--release", "r2", "--reference", "tx", "--out", path("s.json")).status == 0)
        for number in 1...4 {
            #expect(try backstop("approve", "--key", "\(Self.keys)/delegate-\(number).key.pem", "--proposal", path("s.json"), "--out", path("s\(number).sig")).status == 0)
        }
        let settleArguments = (1...4).flatMap { ["--signature", path("s\($0).sig")] }
        let unseen = try runProcess(backstopPath, ["submit", "--ledger", ledger, "--proposal", path("s.json")] + settleArguments)
        #expect(unseen.status == 1 && unseen.stderr.contains("release r2 is in no recorded checkpoint yet"), "\(unseen.stderr)")
        // The witnesses see it now; the delay runs from now, in witnessed time.
        #expect(try backstop("checkpoint", "--ledger", ledger, "--out", path("cp.txt")).status == 0)
        for witness in 1...2 {
            #expect(try backstop("cosign", "--ledger", ledger, "--key", "\(Self.keys)/witness-\(witness).key.pem", "--state", path("w\(witness).json"), "--checkpoint", path("cp.txt")).status == 0)
        }
        #expect(try backstop("submit", "--ledger", ledger, "--checkpoint", path("cp.txt")).status == 0)
        let early = try runProcess(backstopPath, ["submit", "--ledger", ledger, "--proposal", path("s.json")] + settleArguments)
        #expect(early.status == 1 && early.stderr.contains("becomes payable when a checkpoint cosigned at or after"), "\(early.stderr)")
        #expect(try backstop("verify", "--ledger", ledger).status == 0)
    }

    @Test("witnesses refuse a rollback and a fork with the evidence; a mirror refuses a fork; a held checkpoint catches a dropped last entry")
    func witnessing() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let witness = ["--key", "\(Self.keys)/witness-3.key.pem", "--state", path("w3.json")]
        #expect(try backstop("checkpoint", "--ledger", ledger, "--out", path("cp.txt")).status == 0)
        #expect(try run(["cosign", "--ledger", ledger, "--checkpoint", path("cp.txt")] + witness).status == 0)
        #expect(try backstop("mirror", "--from", ledger, "--to", path("mirror")).status == 0)
        let lines = try String(contentsOfFile: ledger + "/ledger.jsonl", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        // A copy that lost its last entry: the witness refuses to go back; verify against the held checkpoint fails.
        func copy(_ name: String, lines: [Substring]) throws -> String {
            let folder = path(name)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try (lines.joined(separator: "\n") + "\n").write(toFile: folder + "/ledger.jsonl", atomically: true, encoding: .utf8)
            return folder
        }
        let rolledBack = try copy("rolled-back", lines: Array(lines.dropLast()))
        #expect(try backstop("checkpoint", "--ledger", rolledBack, "--out", path("small.txt")).status == 0)
        let rollback = try run(["cosign", "--ledger", rolledBack, "--checkpoint", path("small.txt")] + witness)
        #expect(rollback.status == 1 && rollback.stderr.contains("rollback: it covers \(lines.count - 1) entries, fewer than the \(lines.count)"), "\(rollback.stderr)")
        #expect(rollback.stdout.contains("cosigned before:\nbackstop/") && rollback.stdout.contains("offered:\nbackstop/"))
        let held = try backstop("verify", "--ledger", rolledBack, "--checkpoint", path("cp.txt"))
        #expect(held.status == 1 && held.stderr.contains("were removed (a rollback)") && !held.stdout.contains("intact"), "\(held.stderr)")
        // A fork: the last entry replaced by another history (two other entries).
        let forked = try copy("forked", lines: Array(lines.dropLast()))
        for amount in ["1", "2"] {
            #expect(try backstop("contribute", "--ledger", forked, "--member", "wallet-b", "--key", "\(Self.keys)/wallet-b.key.pem", "--asset", "USDC", "--amount", amount).status == 0)
        }
        #expect(try backstop("checkpoint", "--ledger", forked, "--out", path("fork.txt")).status == 0)
        let fork = try run(["cosign", "--ledger", forked, "--checkpoint", path("fork.txt")] + witness)
        #expect(fork.status == 1 && fork.stderr.contains("fork: this ledger's first \(lines.count) entries are not the ones this witness cosigned"), "\(fork.stderr)")
        #expect(fork.stdout.contains("consistency proof \(lines.count) -> \(lines.count + 1) (does not verify):"), "\(fork.stdout)")
        let mirrorBefore = try Data(contentsOf: URL(fileURLWithPath: path("mirror/ledger.jsonl")))
        let refusedMirror = try backstop("mirror", "--from", forked, "--to", path("mirror"))
        #expect(refusedMirror.status == 1 && refusedMirror.stderr.contains("they fork at entry \(lines.count - 1); the mirror is unchanged"), "\(refusedMirror.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("mirror/ledger.jsonl"))) == mirrorBefore)
        let forkedHeld = try backstop("verify", "--ledger", forked, "--checkpoint", path("cp.txt"))
        #expect(forkedHeld.status == 1 && forkedHeld.stderr.contains("(a fork)"), "\(forkedHeld.stderr)")
        // A proof against the checkpoint holds; a changed proof line does not; too few cosignatures do not.
        #expect(try backstop("prove", "inclusion", "--ledger", ledger, "--seq", "3", "--checkpoint", path("cp.txt"), "--out", path("p.tlog-proof")).status == 0)
        let fundId = Hex.encode(try Fund.verify(file: URL(fileURLWithPath: ledger + "/ledger.jsonl")).0.fundId)
        let witnessKeys = (1...3).flatMap { ["--witness", "witness-\($0).demo=\(Self.keys)/witness-\($0).pub.pem"] } + ["--fund-id", fundId]
        // The fund id is required (witnesses cosign other logs too), and must be this fund's.
        #expect(try run(["check-proof", "--proof", path("p.tlog-proof"), "--quorum", "1"] + witnessKeys.dropLast(2)).status == 2)
        let otherFund = try run(["check-proof", "--proof", path("p.tlog-proof"), "--quorum", "1"] + witnessKeys.dropLast() + [String(repeating: "a", count: 64)])
        #expect(otherFund.status == 1 && otherFund.stderr.contains("not fund aaaa"), "\(otherFund.stderr)")
        // An index line that is not a canonical decimal is refused.
        let proofText = try String(contentsOfFile: path("p.tlog-proof"), encoding: .utf8)
        try proofText.replacingOccurrences(of: "\nindex 3\n", with: "\nindex +3\n").write(toFile: path("plus.tlog-proof"), atomically: true, encoding: .utf8)
        #expect(try run(["check-proof", "--proof", path("plus.tlog-proof"), "--quorum", "1"] + witnessKeys).stderr.contains("without sign or leading zeros"))
        #expect(try run(["check-proof", "--proof", path("p.tlog-proof"), "--quorum", "1"] + witnessKeys).stdout.contains("holds: entry 3 (admit"))
        #expect(try run(["check-proof", "--proof", path("p.tlog-proof"), "--quorum", "2"] + witnessKeys).stderr.contains("cosigned by 1 of the witnesses given, fewer than --quorum 2"))
        var proofLines = try String(contentsOfFile: path("p.tlog-proof"), encoding: .utf8).components(separatedBy: "\n")
        let hashLine = proofLines.firstIndex { $0.hasPrefix("index ") }! + 1
        proofLines[hashLine] = Base64.encode([UInt8](repeating: 9, count: 32))
        try proofLines.joined(separator: "\n").write(toFile: path("forged.tlog-proof"), atomically: true, encoding: .utf8)
        let forged = try run(["check-proof", "--proof", path("forged.tlog-proof"), "--quorum", "1"] + witnessKeys)
        #expect(forged.status == 1 && forged.stderr.contains("the proof does not hold"), "\(forged.stderr)")
        // The auditor's Python script of Docs/AUDIT.md, run as printed there, agrees on both.
        let audit = try String(contentsOf: packageRoot.appendingPathComponent("Docs/AUDIT.md"), encoding: .utf8)
        let afterHeading = try #require(audit.range(of: "## 5. The same in a few lines of Python")).upperBound
        let start = try #require(audit.range(of: "```python\n", range: afterHeading..<audit.endIndex)).upperBound
        let end = try #require(audit.range(of: "```", range: start..<audit.endIndex)).lowerBound
        try String(audit[start..<end]).write(toFile: path("audit.py"), atomically: true, encoding: .utf8)
        let python = try runProcess("/usr/bin/env", ["python3", path("audit.py"), path("p.tlog-proof")])
        #expect(python.status == 0 && python.stdout.contains("holds: entry 3 in backstop/"), "\(python.stdout)\(python.stderr)")
        let pythonForged = try runProcess("/usr/bin/env", ["python3", path("audit.py"), path("forged.tlog-proof")])
        #expect(pythonForged.status == 1 && pythonForged.stdout.contains("DOES NOT HOLD"), "\(pythonForged.stdout)\(pythonForged.stderr)")

        // A damaged tiles cache: the proof is made from the ledger itself, with a warning.
        let tileFolder = ledger + "/tlog/tile/0/000.p"
        let partial = try #require(try FileManager.default.contentsOfDirectory(atPath: tileFolder).first)
        try Data(repeating: 7, count: 32 * Int(partial)!).write(to: URL(fileURLWithPath: tileFolder + "/" + partial))
        let repaired = try backstop("prove", "inclusion", "--ledger", ledger, "--seq", "3", "--checkpoint", path("cp.txt"), "--out", path("p2.tlog-proof"))
        #expect(repaired.status == 0 && repaired.stderr.contains("Merkle tiles in") && repaired.stderr.contains("are damaged"), "\(repaired.stderr)")
        #expect(try String(contentsOfFile: path("p2.tlog-proof"), encoding: .utf8) == proofText)

        // The original still extends the checkpoint, and the witness cosigns its next one.
        #expect(try backstop("verify", "--ledger", ledger, "--checkpoint", path("cp.txt")).stdout.contains("extends the checkpoint of \(lines.count) entries"))
    }

    @Test("submit --batch appends a file of signed payloads with one fsync, or nothing, naming the line that is wrong")
    func batchFile() throws {
        let (directory, ledger) = try demoLedger()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = URL(fileURLWithPath: ledger + "/ledger.jsonl")
        let state = try Fund.verify(file: file).0
        let key = try PrivateKey(pemRepresentation: String(contentsOfFile: "\(Self.keys)/exchange-a.key.pem", encoding: .utf8))
        let time = Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!
        func line(_ reference: String, id: String = Payloads.newId(), signer: PrivateKey? = nil) throws -> String {
            let payload = Payloads.make(ContributionPayload(member: "exchange-a", asset: "USDC", amount: Amount(1_000_000), period: state.period(of: time),
                                                            reference: reference), for: state, id: id, expires: time.adding(seconds: 3_600)!)
            let signature = try (signer ?? key).signature(for: Canonical.encode(payload))
            let object: JSONValue = ["payload": payload, "signatures": [["key": .string(Hex.encode(key.publicKey.derRepresentation)), "sig": .string(Hex.encode(signature.derRepresentation))]]]
            return String(decoding: Canonical.encode(object), as: UTF8.self)
        }
        func submit(_ lines: [String]) throws -> ProcessResult {
            let path = directory.appendingPathComponent("batch-\(UUID().uuidString).jsonl").path
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return try backstop("submit", "--ledger", ledger, "--batch", path)
        }
        let before = try Data(contentsOf: file)
        let stranger = try PrivateKey(generatingOn: .p256)
        let forged = try submit([try line("a"), try line("b", signer: stranger), try line("c")])
        #expect(forged.status == 1 && forged.stderr.contains("line 2 of") && forged.stderr.contains("does not verify") && forged.stderr.contains("nothing was appended"), "\(forged.stderr)")
        let garbled = try submit([try line("a"), "{\"payload\": 1}"])
        #expect(garbled.status == 2 && garbled.stderr.contains("line 2 of"), "\(garbled.stderr)")
        let replayed = try submit([try line("a", id: "same-id"), try line("b"), try line("c", id: "same-id")])
        #expect(replayed.status == 1 && replayed.stderr.contains("line 3 of") && replayed.stderr.contains("[rule replayedId]"), "\(replayed.stderr)")
        #expect(try Data(contentsOf: file) == before)
        let good = try submit([try line("a"), try line("b"), try line("c")])
        #expect(good.status == 0 && good.stdout.contains("appended 3 entries, 35 to 37, with one write and one fsync"), "\(good.stdout)\(good.stderr)")
        #expect(try backstop("verify", "--ledger", ledger).stdout.contains("intact: 38 entries"))
    }

    @Test("demo --contributions grows the demo ledger in batches and verifies it; bench prints well-formed figures on a tiny ledger")
    func growAndBench() throws {
        let directory = try makeTemporaryDirectory("backstop-grow")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = directory.appendingPathComponent("ledger").path
        let grown = try backstop("demo", "--ledger", ledger, "--keys", Self.keys, "--contributions", "2500")
        #expect(grown.status == 0 && grown.stdout.contains("appended 2500 contributions; the ledger holds 2535 entries"), "\(grown.stderr)")
        #expect(grown.stdout.contains("intact: 2535 entries"))
        #expect(try backstop("verify", "--ledger", ledger).status == 0)
        #expect(try backstop("demo", "--ledger", directory.appendingPathComponent("x").path, "--contributions", "-1").status == 2)

        let bench = try backstop("bench", "--entries", "120", "--seconds", "0.05", "--appends", "5", "--json")
        #expect(bench.status == 0, "\(bench.stderr)")
        let figures = try #require(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Any])
        for key in ["rawVerify1", "rawVerifyAll", "entries", "signatures", "verifySignaturesPerSecond", "verifyRatioToRaw", "verify1RatioToRaw",
                    "speedUp", "verifyPeakKiB", "singleAppendsPerSecond", "batchedAppendsPerSecond", "openMs", "openAndAppendCommandMs", "inclusionProofMakeMs"] {
            #expect(figures[key] != nil, "bench --json lacks \(key)")
        }
        #expect((figures["entries"] as? Int ?? 0) >= 120 && (figures["signatures"] as? Int ?? 0) > 1_000)
        #expect((figures["verifyPeakKiB"] as? Int ?? 0) > 1_000)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Docs/schemas/bench.schema.json"))) as? [String: Any])
        #expect(schemaErrors(figures, schema).isEmpty, "\(schemaErrors(figures, schema))")
        #expect(try backstop("bench", "--entries", "5").stderr.contains("--entries 5: at least 100"))
    }

    @Test("every verb has --help with an example")
    func help() throws {
        for verb in [["genesis", "draft"], ["init"], ["propose", "release"], ["approve"], ["submit"], ["contribute"], ["claim", "file"],
                     ["petition", "draft"], ["petition", "sign"], ["petition", "submit"], ["status"], ["log"], ["verify"], ["inspect"], ["demo"],
                     ["key", "generate"], ["signature", "verify"], ["checkpoint"], ["cosign"], ["prove", "inclusion"],
                     ["prove", "consistency"], ["check-proof"], ["mirror"], ["bench"]] {
            let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, verb + ["--help"])
            #expect(result.status == 0 && result.stdout.contains("Example: backstop"), "\(verb)")
        }
    }
}
