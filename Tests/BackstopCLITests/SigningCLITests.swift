import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Glibc
import Testing

/// A fund made with the library from the published demo keys, for the command line to work
/// on: members exchange-a and wallet-b; 100 BTC and 10,000 USDC contributed, confirmed by a
/// receipt and attested as reserves; claims c1 (50
/// BTC) and c2 (500 BTC); for c1, release r0 cancelled, r2 (1 BTC) settled, r1 (10 BTC)
/// pending until 2026-03-03T00:00:00Z.
struct DemoFund {
    static let keys = packageRoot.appendingPathComponent("Keys/demo").path
    static let start = Timestamp("2026-03-01T00:00:00Z")!
    let directory: URL
    let ledger: String
    let delegates: [PrivateKey]
    let exchange: PrivateKey
    /// The time the commands run at (`--now`): an hour after the fixture's last entry.
    let now = "2026-03-02T01:00:00Z"

    static func key(_ name: String) -> String { "\(keys)/\(name).key.pem" }
    static func pub(_ name: String) -> String { "\(keys)/\(name).pub.pem" }
    static func privateKey(_ name: String) throws -> PrivateKey { try PrivateKey(pemRepresentation: try String(contentsOfFile: key(name), encoding: .utf8)) }

    init() throws {
        directory = try makeTemporaryDirectory("backstop-signing")
        ledger = directory.appendingPathComponent("fund").path
        delegates = try (1...7).map { try Self.privateKey("delegate-\($0)") }
        exchange = try Self.privateKey("exchange-a")
        let platforms = ["Binance", "Coinbase", "Kraken", "OKX", "Bitstamp", "Gemini", "Bitfinex"]
        let policy = ContributionPolicy(asset: "USDC", ratePerMillion: 100, floor: Amount(1_000_000_000), cap: Amount(100_000_000_000),
                                        periodSeconds: 30 * 86_400, graceSeconds: 7 * 86_400)
        let genesis = Payloads.genesis(expires: Self.start.adding(seconds: 3_600)!, name: "CLI fund", assets: [("BTC", 8), ("USDC", 6)],
                                       delegates: zip(delegates, platforms).map { Delegate(key: $0.publicKey, platform: $1) }, policy: policy)
        // Created, filled and closed again: the commands under test take the ledger's lock.
        try Fund.create(at: URL(fileURLWithPath: ledger), genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: Self.start).close()
        try act(AdmitPayload(member: "exchange-a", platform: "Exchange A", key: exchange.publicKey, size: Amount(500_000_000_000_000)))
        try act(AdmitPayload(member: "wallet-b", platform: "Wallet B", key: try Self.privateKey("wallet-b").publicKey, size: .zero))
        try member(ContributionPayload(member: "exchange-a", asset: "BTC", amount: Amount(10_000_000_000), period: 0, reference: "tx-btc"))
        try member(ContributionPayload(member: "exchange-a", asset: "USDC", amount: Amount(10_000_000_000), period: 0, reference: "tx-usdc"), id: "pay-1")
        try act(ReceiptPayload(confirmations: state.declarations.values.sorted { $0.seq < $1.seq }.map {
            ReceiptPayload.Confirmation(member: $0.member, contribution: $0.id, asset: $0.asset, received: $0.amount)
        }, reference: "statement 2026-03"))
        try act(ReservesPayload(asOf: Self.start, holdings: [.init(asset: "BTC", amount: Amount(10_000_000_000), wallets: ["bc1qfund"]),
                                                             .init(asset: "USDC", amount: Amount(10_000_000_000), wallets: ["0xfund"])]))
        for (id, loss) in [("c1", 5_000_000_000), ("c2", 50_000_000_000)] as [(String, UInt)] {
            try member(ClaimPayload(member: "exchange-a", platform: "Exchange A", description: "hot wallet", incidentTime: Self.start,
                                    accounts: 10, losses: ["BTC": Amount(minorUnits: String(loss))!], evidence: []), id: id)
        }
        try act(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(100_000_000), payee: "victims", destination: "bc1qold")]), id: "r0")
        try act(CancelPayload(release: "r0", reason: "wrong address"))
        try act(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(100_000_000), payee: "victims", destination: "bc1qfirst")]), id: "r2")
        try checkpoint(at: Self.start)
        let later = Self.start.adding(seconds: 86_400)!
        try checkpoint(at: later)
        try act(SettlePayload(release: "r2", reference: "btc-tx"), time: later)
        try act(ReleasePayload(claim: "c1", payouts: [Payout(asset: "BTC", amount: Amount(1_000_000_000), payee: "victims", destination: "bc1qvictims")]), id: "r1", time: later)
    }

    /// The ledger's state, replayed from the file.
    var state: FundState { (try? Fund.verify(file: URL(fileURLWithPath: ledger).appendingPathComponent("ledger.jsonl")).0)! }

    func act(_ body: some PayloadBody, id: String = Payloads.newId(), time: Timestamp = start) throws {
        let fund = try Fund.open(at: URL(fileURLWithPath: ledger), lockWaitSeconds: 30)
        defer { fund.close() }
        let payload = Payloads.make(body, for: fund.state, id: id, expires: time.adding(seconds: 3_600)!)
        try fund.submit(type(of: body).kind, payload: payload, signatures: try Payloads.sign(payload, with: Array(delegates.prefix(4))), time: time)
    }

    /// Delegates 1 to 4, the fund's witnesses, cosign the checkpoint of the ledger at `time`; it is recorded then.
    func checkpoint(at time: Timestamp) throws {
        let fund = try Fund.open(at: URL(fileURLWithPath: ledger), lockWaitSeconds: 30)
        defer { fund.close() }
        var note = SignedNote(text: fund.checkpoint().text)
        for key in delegates.prefix(4) {
            note = note.adding(try key.cosignature(name: Cosigner.delegateName(key.publicKey), text: note.text, time: time.secondsSinceEpoch))
        }
        try fund.submitCheckpoint(note, time: time)
    }

    func member(_ body: some PayloadBody, id: String = Payloads.newId()) throws {
        let fund = try Fund.open(at: URL(fileURLWithPath: ledger), lockWaitSeconds: 30)
        defer { fund.close() }
        let payload = Payloads.make(body, for: fund.state, id: id, expires: Self.start.adding(seconds: 3_600)!)
        try fund.submit(type(of: body).kind, payload: payload, signatures: try Payloads.sign(payload, with: [exchange]), time: Self.start)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    var ledgerBytes: Data { (try? Data(contentsOf: URL(fileURLWithPath: ledger).appendingPathComponent("ledger.jsonl"))) ?? Data() }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// The system clock as `--now` takes it.
func nowText() -> String { Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!.description }

/// Runs `backstop` and returns what it did.
func run(_ arguments: [String], input: [UInt8] = []) throws -> ProcessResult {
    try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments, input: input)
}

@Suite("The backstop command line: what a signer sees, checks before signing, the queue", .serialized)
struct SigningCLITests {
    @Test("offline approve: amounts in units, durations in words, whom you sign as; a key that may not sign is refused without --yes")
    func offlineApprove() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--now", f.now, "--claim", "c1", "--pay", "BTC=12.5@bc1qnew", "--payee", "Exchange A claimants", "--out", f.path("r.json")]).status == 0)
        let approve = try run(["approve", "--key", DemoFund.key("delegate-3"), "--proposal", f.path("r.json"), "--out", f.path("r.d3.sig"), "--now", f.now])
        #expect(approve.status == 0, "\(approve.stderr)")
        for line in ["payout 1:      12.5 BTC", "    payee:       Exchange A claimants", "    destination: bc1qnew", "you sign as:   delegate-3 (Kraken) of delegate set v1"] {
            #expect(approve.stdout.contains(line), "\(line) in \(approve.stdout)")
        }
        #expect(!approve.stdout.contains("minor units"))

        #expect(try run(["propose", "policy", "--ledger", f.ledger, "--now", f.now, "--grace", "3d", "--release-delay", "1h", "--out", f.path("p.json")]).status == 0)
        let policy = try run(["approve", "--key", DemoFund.key("delegate-1"), "--proposal", f.path("p.json"), "--out", f.path("p.d1.sig"), "--now", f.now])
        #expect(policy.stdout.contains("grace:         7 days -> 3 days") && policy.stdout.contains("release delay: 24 hours -> 1 hour"), "\(policy.stdout)")
        #expect(policy.stdout.contains("dues:          0.01% of declared size per 30 days, floor 1,000 USDC, cap 100,000 USDC, grace 3 days"))

        // A member's key is not a delegate's: refused without --yes, nothing written; signed with it.
        let member = try run(["approve", "--key", DemoFund.key("exchange-a"), "--proposal", f.path("r.json"), "--out", f.path("r.member.sig"), "--now", f.now])
        #expect(member.status == 1 && member.stderr.contains("not signed: 1 warning(s) above"), "\(member.stderr)")
        #expect(member.stdout.contains("WARNING: your key") && member.stdout.contains("is not one that may sign this payload"))
        #expect(!FileManager.default.fileExists(atPath: f.path("r.member.sig")))
        #expect(try run(["approve", "--key", DemoFund.key("exchange-a"), "--proposal", f.path("r.json"), "--out", f.path("r.member.sig"), "--now", f.now, "--yes"]).status == 0)
    }

    @Test("on a terminal approve asks Sign? [y/N]: n signs nothing, y signs")
    func terminalPrompt() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["propose", "cancel", "--ledger", f.ledger, "--now", f.now, "--release", "r1", "--reason", "address changed", "--out", f.path("c.json")]).status == 0)
        let backstop = productsDirectory.appendingPathComponent("backstop").path
        func prompt(_ answer: String, _ out: String) throws -> ProcessResult {
            let command = "\(backstop) approve --key \(DemoFund.key("delegate-2")) --proposal \(f.path("c.json")) --out \(f.path(out)) --now \(f.now)"
            return try runProcess("/usr/bin/script", ["-qec", command, "/dev/null"], input: Array("\(answer)\n".utf8))
        }
        let no = try prompt("n", "no.sig")
        #expect(no.stdout.contains("Sign? [y/N]") && no.stdout.contains("not signed") && no.status == 1, "\(no.stdout)")
        #expect(!FileManager.default.fileExists(atPath: f.path("no.sig")))
        let yes = try prompt("y", "yes.sig")
        #expect(yes.status == 0 && FileManager.default.fileExists(atPath: f.path("yes.sig")), "\(yes.stdout)")
    }

    @Test("propose policy --dues-floor changes only the floor, and names the policy it replaces")
    func policyChangesOnlyWhatIsGiven() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let result = try run(["propose", "policy", "--ledger", f.ledger, "--now", f.now, "--dues-floor", "2000", "--out", f.path("p.json")])
        #expect(result.status == 0 && result.stdout.contains("floor:         1,000 USDC -> 2,000 USDC") && result.stdout.contains("cap:           100,000 USDC (unchanged)"))
        let payload = try JSONParser.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("p.json")))))
        let old = f.state.policy
        let expected = ContributionPolicy(asset: old.asset, ratePerMillion: old.ratePerMillion, floor: Amount(2_000_000_000), cap: old.cap, periodSeconds: old.periodSeconds, graceSeconds: old.graceSeconds)
        #expect(payload["policy"] == expected.json && payload["releaseDelaySeconds"] == .integer(f.state.releaseDelaySeconds))
        #expect(payload["previous"]?["policy"] == old.json)
        let help = try run(["propose", "policy", "--help"])
        #expect(!help.stdout.contains("--dues-asset") && !help.stdout.contains("--period "))

        // The witnesses change only when named: to two Ed25519 witnesses, shown with what they replace.
        let keys = packageRoot.appendingPathComponent("Keys/demo").path
        let witnesses = (1...2).flatMap { ["--witness", "w\($0).example=\(keys)/witness-\($0).pub.pem"] }
        let named = try run(["propose", "policy", "--ledger", f.ledger, "--now", f.now, "--out", f.path("w.json")] + witnesses)
        #expect(named.status == 0 && named.stdout.contains("witnesses:     2 of 2: w1.example (ed25519), w2.example (ed25519) (was: the delegates cosign, 4 of 7 needed)"), "\(named.stdout)")
        let changed = try JSONParser.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("w.json")))))
        #expect(changed["policy"] == old.json && changed["witnesses"]?["quorum"] == .integer(2))
        #expect(payload["witnesses"] == nil)
        for (extra, message) in [(["--witness-quorum", "3"], "--witness-quorum 3: must be 1 to the 2 witnesses given"),
                                 (["--delegates-witness"], "--delegates-witness excludes --witness")] {
            let bad = try run(["propose", "policy", "--ledger", f.ledger, "--now", f.now, "--out", f.path("bad.json")] + witnesses + extra)
            #expect(bad.status == 2 && bad.stderr.contains(message) && !FileManager.default.fileExists(atPath: f.path("bad.json")), "\(bad.stderr)")
        }
    }


    @Test("every dry-run refusal happens before any signature exists, and writes nothing")
    func dryRunRefusals() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let base = ["--ledger", f.ledger, "--now", f.now, "--out", f.path("x.json")]
        let cases: [([String], Int32, String, String)] = [
            (["propose", "release", "--claim", "nope", "--pay", "BTC=1@a"], 2, "unknownClaim", "unknown claim \"nope\""),
            (["propose", "settle", "--release", "nope", "--reference", "tx"], 2, "unknownRelease", "unknown release \"nope\""),
            (["propose", "release", "--claim", "c2", "--pay", "BTC=95@a"], 1, "overBalance", "release of 95 BTC is more than the 89 BTC available"),
            (["propose", "release", "--claim", "c1", "--pay", "BTC=40@a"], 1, "overClaim", "would bring claim c1 to 51 BTC, above its stated loss of 50 BTC"),
            (["propose", "settle", "--release", "r0", "--reference", "tx"], 1, "releaseNotPending", "release r0 is cancelled"),
            (["propose", "cancel", "--release", "r2", "--reason", "late"], 1, "releaseNotPending", "release r2 is settled"),
            (["propose", "reject", "--claim", "c1", "--reason", "no"], 1, "claimNotOpen", "has pending release r1"),
            (["propose", "release", "--claim", "c1", "--pay", "BTC=1@a", "--payee", "victims\u{202E}"], 2, "forbiddenCharacter", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ]
        for (arguments, code, rule, message) in cases {
            let result = try run(arguments + base)
            #expect(result.status == code, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("before anyone signs") && result.stderr.contains(message) && result.stderr.contains("[rule \(rule)]"), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: f.path("x.json")), "\(arguments) wrote a payload")
        }
        // A settlement drafted before the delay ends: written, with when it becomes payable;
        // one that would expire first is refused.
        let early = try run(["propose", "settle", "--release", "r1", "--reference", "tx", "--expires", "1h"] + base)
        #expect(early.status == 1 && early.stderr.contains("becomes payable at 2026-03-03T00:00:00Z, after this payload would expire"), "\(early.stderr)")
        let note = try run(["propose", "settle", "--release", "r1", "--reference", "tx"] + base)
        #expect(note.status == 0 && note.stdout.contains("NOTE: release r1 becomes payable at 2026-03-03T00:00:00Z"), "\(note.stdout)")
        let release = try run(["propose", "release", "--claim", "c1", "--pay", "BTC=1@a", "--ledger", f.ledger, "--now", f.now, "--out", f.path("r.json")])
        #expect(release.stdout.contains("NOTE: if recorded now, payable from 2026-03-03T01:00:00Z (24 hours after approval)"))
    }

    @Test("genesis draft runs every check init runs, before anyone signs")
    func genesisDraftChecks() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("g.json").path
        let seven = (1...7).flatMap { ["--delegate", "p\($0)=\(DemoFund.pub("delegate-\($0)"))"] }
        let base = ["genesis", "draft", "--name", "F", "--asset", "BTC:8", "--asset", "USDC:6", "--out", out]
        let cases: [([String], String, String)] = [
            (base + seven + ["--threshold", "3"], "invalidParameter", "threshold 3 of 7 is not a majority"),
            (base + seven + ["--threshold", "8"], "malformedPayload", "\"threshold\" must be an integer in 1...7"),
            (base + seven + ["--delegate", "p8=\(DemoFund.pub("delegate-1"))"], "duplicateKey", "delegate 8 repeats the key"),
            (base + seven + ["--asset", "BTC:8"], "invalidParameter", "asset BTC is listed twice"),
            (["genesis", "draft", "--name", "F\nnote: audited", "--asset", "USDC:6", "--out", out] + seven, "forbiddenCharacter", "U+000A LINE FEED"),
            (base + seven + ["--dues-floor", "200000"], "invalidParameter", "floor 200,000 USDC is above cap 100,000 USDC"),
        ]
        for (arguments, rule, message) in cases {
            let result = try run(arguments)
            #expect(result.status != 0 && result.stderr.contains(message) && result.stderr.contains("[rule \(rule)]"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let good = try run(base + seven)
        #expect(good.status == 0 && good.stdout.contains("threshold:     4 of the 7 delegates"), "\(good.stderr)")
    }

    @Test("approve --ledger refuses without --yes: expired, already recorded, another fund, a replaced delegate set, not a delegate")
    func approveWarnings() throws {
        let f = try DemoFund()
        let g = try DemoFund()
        defer { f.remove(); g.remove() }
        func approve(_ payload: String, key: String = DemoFund.key("delegate-1"), now: String? = nil, _ out: String) throws -> ProcessResult {
            try run(["approve", "--key", key, "--proposal", payload, "--out", f.path(out), "--ledger", f.ledger, "--now", now ?? f.now])
        }
        #expect(try run(["propose", "cancel", "--ledger", f.ledger, "--now", f.now, "--release", "r1", "--reason", "x", "--out", f.path("old.json")]).status == 0)
        let expired = try approve(f.path("old.json"), now: "2026-03-09T00:00:00Z", "1.sig")
        #expect(expired.status == 1 && expired.stdout.contains("WARNING: the payload expired at 2026-03-05T01:00:00Z"), "\(expired.stdout)")
        // Proposals that are submitted are drafted now: entries are stamped with the real clock.
        #expect(try run(["propose", "cancel", "--ledger", f.ledger, "--release", "r1", "--reason", "x", "--out", f.path("c.json")]).status == 0)
        let other = try run(["propose", "cancel", "--ledger", g.ledger, "--now", g.now, "--release", "r1", "--reason", "x", "--out", f.path("other.json")])
        #expect(other.status == 0)
        let foreign = try approve(f.path("other.json"), "2.sig")
        #expect(foreign.status == 1 && foreign.stdout.contains("WARNING: the payload is for fund \(Hex.encode(g.state.fundId)), not this ledger's fund"), "\(foreign.stdout)")
        let stranger = try approve(f.path("c.json"), key: DemoFund.key("wallet-b"), now: nowText(), "3.sig")
        #expect(stranger.status == 1 && stranger.stdout.contains("is not one that may sign this payload"), "\(stranger.stdout)")
        // Recorded, then approved again; then the set is replaced and a payload drafted before it is stale.
        let signatures = try (1...4).map { number throws -> String in
            #expect(try run(["approve", "--key", DemoFund.key("delegate-\(number)"), "--proposal", f.path("c.json"), "--out", f.path("c\(number).sig")]).status == 0)
            return f.path("c\(number).sig")
        }
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--claim", "c2", "--pay", "BTC=1@a", "--out", f.path("stale.json")]).status == 0)
        #expect(try run(["submit", "--ledger", f.ledger, "--proposal", f.path("c.json"), "--signature"] + signatures).status == 0)
        let again = try approve(f.path("c.json"), now: nowText(), "4.sig")
        #expect(again.status == 1 && again.stdout.contains("WARNING: already recorded as entry"), "\(again.stdout)")
        #expect(try run(["key", "generate", "--out", f.path("newcomer")]).status == 0)
        #expect(try run(["propose", "rotate", "--ledger", f.ledger, "--replace", "delegate-7=\(f.path("newcomer.pub.pem"))", "--out", f.path("rot.json")]).status == 0)
        let rotation = try (1...4).map { number throws -> String in
            #expect(try run(["approve", "--key", DemoFund.key("delegate-\(number)"), "--proposal", f.path("rot.json"), "--out", f.path("rot\(number).sig")]).status == 0)
            return f.path("rot\(number).sig")
        }
        #expect(try run(["submit", "--ledger", f.ledger, "--proposal", f.path("rot.json"), "--signature"] + rotation).status == 0)
        let stale = try approve(f.path("stale.json"), now: nowText(), "5.sig")
        #expect(stale.status == 1 && stale.stdout.contains("WARNING: the payload is for delegate set v1, but the ledger's current set is v2"), "\(stale.stdout)")
        for name in ["1.sig", "2.sig", "3.sig", "4.sig", "5.sig"] { #expect(!FileManager.default.fileExists(atPath: f.path(name))) }
    }

    @Test("check names each file: valid, high S, duplicate, other payload, stranger, former delegate; other fund and stale set for the proposal")
    func checkQueue() throws {
        let f = try DemoFund()
        let g = try DemoFund()
        defer { f.remove(); g.remove() }
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--now", f.now, "--claim", "c2", "--pay", "BTC=2@bc1q", "--out", f.path("r.json")]).status == 0)
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--now", f.now, "--claim", "c2", "--pay", "BTC=3@bc1q", "--out", f.path("other.json")]).status == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("r.json"))))
        func write(_ name: String, _ der: [UInt8]) throws { try Data(der).write(to: URL(fileURLWithPath: f.path(name))) }
        try write("a-valid.sig", try f.delegates[0].signature(for: bytes).derRepresentation)
        let low = try f.delegates[1].signature(for: bytes)
        let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        try write("b-highs.sig", ECDSASignature(r: low.r, s: bigEndianSubtract(order, low.s), curve: .p256)!.derRepresentation)
        try write("c-duplicate.sig", try f.delegates[0].signature(for: bytes).derRepresentation)
        try write("d-other.sig", try f.delegates[2].signature(for: try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("other.json"))))).derRepresentation)
        let stranger = try PrivateKey(generatingOn: .p256)
        try write("e-stranger.sig", try stranger.signature(for: bytes).derRepresentation)
        try stranger.publicKey.pemRepresentation.write(toFile: f.path("e-stranger.pub.pem"), atomically: true, encoding: .utf8)
        try write("f-member.sig", try f.exchange.signature(for: bytes).derRepresentation)
        let result = try run(["check", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--json", "--now", f.now] + ["a-valid", "b-highs", "c-duplicate", "d-other", "e-stranger", "f-member"].map { f.path("\($0).sig") })
        #expect(result.status == 1, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let files = try #require(report["files"] as? [[String: Any]])
        #expect(files.map { $0["code"] as? String } == ["valid", "valid", "duplicate", "otherPayload", "stranger", "notAllowed"], "\(files)")
        #expect(files[1]["highS"] as? Bool == true && files[0]["highS"] as? Bool == false)
        #expect(files[0]["signer"] as? String == "delegate-1 (Binance)" && files[5]["signer"] as? String == "member exchange-a")
        let groups = try #require(report["groups"] as? [[String: Any]])
        #expect((groups.first?["signed"] as? [String])?.count == 2 && (groups.first?["missing"] as? [String])?.count == 5)
        #expect(report["wouldBeAccepted"] as? Bool == false && (report["refusal"] as? [String: Any])?["rule"] as? String == "threshold")
        let text = try run(["check", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--now", f.now, f.path("a-valid.sig"), f.path("b-highs.sig")])
        #expect(text.stdout.contains("signed by 2 of the 4 needed (delegates of set v1): delegate-1 (Binance), delegate-2 (Coinbase)"), "\(text.stdout)")
        #expect(text.stdout.contains("not signed yet: delegate-3 (Kraken), delegate-4 (OKX)") && text.stdout.contains("would be accepted now: no."))

        // The same proposal against another fund's ledger; a former delegate after a rotation.
        let foreign = try run(["check", "--ledger", g.ledger, "--proposal", f.path("r.json"), "--json", "--now", f.now, f.path("a-valid.sig")])
        #expect(foreign.stdout.contains(#""code":"otherFund""#) && foreign.stdout.contains(#""rule":"wrongFund""#), "\(foreign.stdout)")
        let newcomer = try PrivateKey(generatingOn: .p256)
        try f.act(RotatePayload(delegates: Array(f.state.delegates.prefix(6)) + [Delegate(key: newcomer.publicKey, platform: "Newcomer")], threshold: 4, petitionThreshold: 100),
                  time: Timestamp(f.now)!)
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--now", f.now, "--claim", "c2", "--pay", "BTC=2@bc1q", "--out", f.path("v2.json")]).status == 0)
        try write("g-former.sig", try f.delegates[6].signature(for: try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("v2.json"))))).derRepresentation)
        let former = try run(["check", "--ledger", f.ledger, "--proposal", f.path("v2.json"), "--json", "--now", f.now, f.path("g-former.sig")])
        #expect(former.stdout.contains(#""code":"staleSet""#) && former.stdout.contains("delegate-7 (Bitfinex) of set v1"), "\(former.stdout)")
        let staleProposal = try run(["check", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--json", "--now", f.now, f.path("a-valid.sig")])
        #expect(staleProposal.stdout.contains(#""code":"staleSet","message":"the proposal is for delegate set v1"#), "\(staleProposal.stdout)")
        // Enough valid signatures: accepted now, exit 0.
        let four = try (0..<3).map { index throws -> String in
            try write("ok\(index).sig", try f.delegates[index].signature(for: try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("v2.json"))))).derRepresentation)
            return f.path("ok\(index).sig")
        }
        try write("ok3.sig", try newcomer.signature(for: try [UInt8](Data(contentsOf: URL(fileURLWithPath: f.path("v2.json"))))).derRepresentation)
        let ready = try run(["check", "--ledger", f.ledger, "--proposal", f.path("v2.json"), "--now", f.now] + four + [f.path("ok3.sig")])
        #expect(ready.status == 0 && ready.stdout.contains("would be accepted now: yes"), "\(ready.stdout)")
    }

    @Test("submit takes several files after one --signature and folders; a refusal names each bad file; a re-submission appends nothing")
    func submitFilesAndRetries() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["propose", "release", "--ledger", f.ledger, "--claim", "c2", "--pay", "BTC=2@bc1q", "--id", "r9", "--out", f.path("r.json")]).status == 0)
        try FileManager.default.createDirectory(atPath: f.path("sigs"), withIntermediateDirectories: true)
        for number in 1...3 {
            #expect(try run(["approve", "--key", DemoFund.key("delegate-\(number)"), "--proposal", f.path("r.json"), "--out", f.path("sigs/d\(number).sig")]).status == 0)
        }
        try Data([0x30, 0x01]).write(to: URL(fileURLWithPath: f.path("junk.sig")))
        let before = f.ledgerBytes
        let short = try run(["submit", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--signature", f.path("sigs"), f.path("junk.sig"), f.path("sigs/d1.sig")])
        #expect(short.status == 1 && short.stderr.contains("found 3 valid"), "\(short.stderr)")
        #expect(short.stderr.contains("\(f.path("junk.sig")): not a DER ECDSA signature") && short.stderr.contains("\(f.path("sigs/d1.sig")): duplicate: delegate-1 (Binance) already signed"))
        #expect(f.ledgerBytes == before)
        #expect(try run(["approve", "--key", DemoFund.key("delegate-6"), "--proposal", f.path("r.json"), "--out", f.path("d6.sig")]).status == 0)
        let ok = try run(["submit", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--signature", f.path("sigs"), f.path("d6.sig"), "--json"])
        #expect(ok.status == 0 && ok.stdout.contains(#""ok":true"#), "\(ok.stderr)")
        let appended = f.ledgerBytes
        let again = try run(["submit", "--ledger", f.ledger, "--proposal", f.path("r.json"), "--signature", f.path("sigs"), f.path("d6.sig")])
        #expect(again.status == 0 && again.stdout.contains("already recorded as entry"), "\(again.stdout) \(again.stderr)")
        #expect(f.ledgerBytes == appended)

        // A contribution retried with the same id and content (another expiry) is already
        // recorded; the same id with another amount is refused, naming the entry.
        let contribute = ["contribute", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--asset", "USDC", "--reference", "tx-usdc", "--period", "0", "--id", "pay-1"]
        let retry = try run(contribute + ["--amount", "10000", "--json"])
        #expect(retry.status == 0 && retry.stdout.contains(#""alreadyRecorded":true"#), "\(retry.stdout) \(retry.stderr)")
        let conflict = try run(contribute + ["--amount", "10001"])
        #expect(conflict.status == 1 && conflict.stderr.contains("payload id \"pay-1\" was already used by entry 4"), "\(conflict.stderr)")
        #expect(f.ledgerBytes == appended)
    }

    @Test("a busy lock exits 3, and --wait waits for it")
    func busyLock() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let lock = open(URL(fileURLWithPath: f.ledger).appendingPathComponent("ledger.lock").path, O_RDWR)
        #expect(lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) == 0)
        let contribute = ["contribute", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--asset", "USDC", "--amount", "1"]
        let busy = try run(contribute + ["--json"])
        #expect(busy.status == 3 && busy.stderr.contains("ledger is locked by pid") && busy.stdout.contains(#""code":"locked""#), "\(busy.stderr)")
        // A waiting writer: release the lock once it has opened the lock file (and found it held).
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("backstop")
        process.arguments = contribute + ["--wait", "60"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let lockPath = URL(fileURLWithPath: f.ledger).appendingPathComponent("ledger.lock").resolvingSymlinksInPath().path
        var seen = false
        for _ in 0..<10_000 where !seen && process.isRunning {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process.processIdentifier)/fd")) ?? []
            seen = fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process.processIdentifier)/fd/\($0)")) == lockPath }
            if !seen { sched_yield() }
        }
        #expect(seen, "the writer never opened the lock file")
        close(lock)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }
}

@Suite("The backstop command line: output auditors and scripts can rely on", .serialized)
struct AuditorCLITests {
    @Test("verify prints intact only when it exits 0; --json errors are one object with code, rule, seq and message")
    func verifyOutput() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let wrong = try run(["verify", "--ledger", f.ledger, "--fund-id", String(repeating: "0", count: 64)])
        #expect(wrong.status == 1 && !wrong.stdout.contains("intact") && wrong.stderr.contains("NOT intact"), "\(wrong.stdout)")
        let json = try run(["verify", "--ledger", f.ledger, "--fund-id", String(repeating: "0", count: 64), "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let error = try #require(object["error"] as? [String: Any])
        #expect(object["ok"] as? Bool == false && error["code"] as? String == "corrupt" && error["seq"] as? Int == 0 && (error["message"] as? String)?.contains("fund id is") == true)
        let right = try run(["verify", "--ledger", f.ledger, "--fund-id", Hex.encode(f.state.fundId)])
        #expect(right.status == 0 && right.stdout.hasPrefix("intact: 16 entries"), "\(right.stdout)")
        // Every verb's --json failure has the same shape.
        let refused = try run(["contribute", "--ledger", f.ledger, "--member", "wallet-b", "--key", DemoFund.key("exchange-a"), "--asset", "USDC", "--amount", "1", "--json"])
        let failure = try #require(try JSONSerialization.jsonObject(with: Data(refused.stdout.utf8)) as? [String: Any])
        let detail = try #require(failure["error"] as? [String: Any])
        #expect(refused.status == 1 && failure["ok"] as? Bool == false && detail["code"] as? String == "refused" && detail["rule"] as? String == "unauthorizedSigner" && detail["seq"] as? Int == 16)
    }

    @Test("log verifies what it lists and says what each entry did; a forged entry stops it; --no-verify says so")
    func log() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let log = try run(["log", "--ledger", f.ledger])
        #expect(log.status == 0, "\(log.stderr)")
        for line in ["exchange-a declared 100 BTC for period 0, ref tx-btc; signed by member exchange-a", "receipt confirms 2 contribution(s): 100 BTC, 10,000 USDC received, ref statement 2026-03",
                     "release r1 for claim c1: 10 BTC -> bc1qvictims; payable from 2026-03-03T00:00:00Z; signed by delegate-1, -2, -3, -4",
                     "release r2 settled (1 BTC paid), ref btc-tx", "claim c1 filed by member exchange-a: Exchange A, 10 accounts, loss 50 BTC"] {
            #expect(log.stdout.contains(line), "\(line) in \(log.stdout)")
        }
        // A release with signatures copied from another entry, appended without the rules.
        let file = URL(fileURLWithPath: f.ledger).appendingPathComponent("ledger.jsonl")
        var lastRelease: Entry? = nil
        var head: [UInt8] = []
        let result = try LedgerScan.scan(file: file, verifySignatures: false) { entry, hash in
            if entry.kind == "release" { lastRelease = entry }
            head = hash
        }
        var body = lastRelease!.body.objectValue!
        body["id"] = "forged"
        body["payouts"] = [["asset": "BTC", "amount": "3900000000", "payee": "victims", "destination": "bc1qattacker"]]
        let forged = try Entry(seq: result.entryCount, prev: head, time: Timestamp(f.now)!, kind: "release", body: .object(body), signatures: lastRelease!.signatures)
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(forged.line + [0x0A]))
        try handle.close()
        let refused = try run(["log", "--ledger", f.ledger, "--kind", "release"])
        #expect(refused.status == 1 && refused.stderr.contains("entry \(result.entryCount): signature by key") && !refused.stdout.contains("bc1qattacker"), "\(refused.stderr)")
        let unverified = try run(["log", "--ledger", f.ledger, "--no-verify"])
        #expect(unverified.stdout.hasPrefix("NOT VERIFIED: signatures were not checked"), "\(unverified.stdout)")
    }

    @Test("status shows the policy, the dues period with its dates, what each member paid and owes, and pending destinations")
    func status() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let text = try run(["status", "--ledger", f.ledger, "--now", f.now])
        for line in ["Policy: dues 0.01% of declared size per 30 days, floor 1,000 USDC, cap 100,000 USDC, grace 7 days; release delay 24 hours",
                     "Dues period 0: 2026-03-01 00:00:00 UTC to 2026-03-31 00:00:00 UTC; its dues are late after 2026-04-07 00:00:00 UTC",
                     "exchange-a (Exchange A): active; period 0: paid 10,000 USDC of 50,000 USDC, due by 2026-04-07 00:00:00 UTC",
                     "wallet-b (Wallet B): active; period 0: paid 0 USDC of 1,000 USDC",
                     "r1 for claim c1: 10 BTC; not yet in a recorded checkpoint, so its delay has not started", "pays 10 BTC to victims at bc1qvictims",
                     "Last recorded checkpoint: 13 entries; the fund's witnessed time is 2026-03-02 00:00:00 UTC"] {
            #expect(text.stdout.contains(line), "\(line) in \(text.stdout)")
        }
        let json = try run(["status", "--ledger", f.ledger, "--now", f.now, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["currentPeriod"] as? [String: Any])?["deadline"] as? String == "2026-04-07T00:00:00Z")
        #expect((object["policy"] as? [String: Any])?["cap"] as? String == "100000")
        let pending = try #require(object["pendingReleases"] as? [[String: Any]])
        #expect(((pending.first?["payouts"] as? [[String: Any]])?.first?["destination"] as? String) == "bc1qvictims")
    }

    @Test("small things: --version, did you mean, a path to ledger.jsonl, one --loss per asset, key public, --amount -5, completions")
    func smallThings() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["--version"]).stdout.hasPrefix("backstop 0."))
        let verb = try run(["verfy", "--ledger", f.ledger])
        #expect(verb.status == 2 && verb.stderr.contains("unknown verb \"verfy\" (did you mean verify?)"))
        let sub = try run(["propose", "relase"])
        #expect(sub.status == 2 && sub.stderr.contains("(did you mean release?)"))
        let asset = try run(["propose", "release", "--ledger", f.ledger, "--now", f.now, "--claim", "c2", "--pay", "BTX=1@a", "--out", f.path("x.json")])
        #expect(asset.status == 2 && asset.stderr.contains("--pay BTX: unknown asset \"BTX\" (did you mean BTC?)"), "\(asset.stderr)")
        let contributeAsset = try run(["contribute", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--asset", "USDT", "--amount", "1.5"])
        #expect(contributeAsset.stderr.contains("--asset: unknown asset \"USDT\" (did you mean USDC?)"), "\(contributeAsset.stderr)")
        let member = try run(["contribute", "--ledger", f.ledger, "--member", "exchange-b", "--key", DemoFund.key("exchange-a"), "--asset", "USDC", "--amount", "1"])
        #expect(member.status == 2 && member.stderr.contains("unknown member \"exchange-b\" (did you mean exchange-a?)"))
        let negative = try run(["contribute", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--asset", "USDC", "--amount", "-5"])
        #expect(negative.status == 2 && negative.stderr.contains("--amount \"-5\": amounts cannot be negative"), "\(negative.stderr)")
        let file = try run(["status", "--ledger", f.ledger + "/ledger.jsonl", "--now", f.now])
        #expect(file.status == 0 && file.stdout.hasPrefix("CLI fund"))
        let other = try run(["status", "--ledger", DemoFund.pub("delegate-1")])
        #expect(other.status == 2 && other.stderr.contains("is a file; give the ledger folder"))
        let twice = try run(["claim", "file", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--platform", "A",
                             "--description", "d", "--incident-time", "2026-03-01T00:00:00Z", "--accounts", "1", "--loss", "BTC=1", "--loss", "BTC=2"])
        #expect(twice.status == 2 && twice.stderr.contains("--loss BTC is given twice"))
        let derived = try run(["key", "public", "--key", DemoFund.key("delegate-3"), "--out", f.path("d3.pub.pem")])
        let written = try String(contentsOfFile: f.path("d3.pub.pem"), encoding: .utf8)
        let published = try String(contentsOfFile: DemoFund.pub("delegate-3"), encoding: .utf8)
        #expect(derived.status == 0 && written == published)
        #expect(try openssl("pkey", "-in", DemoFund.key("delegate-3"), "-pubout").stdout == written)
        let completion = try run(["--generate-completion-script", "bash"])
        #expect(completion.status == 0 && completion.stdout.contains("_backstop"))
        #expect(try run(["--help"]).stdout.contains("3 the ledger is locked by another writer"))
    }

    @Test("hostile file names are shown escaped; absurd decimals are refused, not a crash; a ledger that is not intact exits 1")
    func hostileInput() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["petition", "draft", "--ledger", f.ledger, "--now", f.now, "--platform", "B", "--description", "d", "--incident-time", "2026-02-01T00:00:00Z",
                         "--accounts", "1", "--loss", "USDC=5", "--out", f.path("p.json")]).status == 0)
        try FileManager.default.createDirectory(atPath: f.path("sigs"), withIntermediateDirectories: true)
        let evil = f.path("sigs/evil\u{1B}[2K\rALL GOOD\u{1B}[8m")
        try Data(try f.exchange.signature(for: Array("x".utf8)).derRepresentation).write(to: URL(fileURLWithPath: evil + ".sig"))
        try "garbage".write(toFile: evil + ".pub.pem", atomically: true, encoding: .utf8)
        let check = try run(["check", "--ledger", f.ledger, "--proposal", f.path("p.json"), "--now", f.now, f.path("sigs")])
        #expect(check.status == 1 && !check.stdout.contains("\u{1B}") && !check.stdout.contains("\r") && check.stdout.contains("[unreadableKey]"), "\(check.stdout)")
        let json = try run(["check", "--ledger", f.ledger, "--proposal", f.path("p.json"), "--now", f.now, "--json", f.path("sigs")])
        #expect(json.stdout.contains(#""error":{"code":"refused","message":"a petition needs 100"#), "\(json.stdout)")

        let decimals = try run(["genesis", "draft", "--name", "x", "--asset", "USDC:9223372036854775807", "--delegate", "A=\(DemoFund.pub("delegate-1"))", "--threshold", "1", "--out", f.path("g.json")])
        #expect(decimals.status == 2 && decimals.stderr.contains("0 to 36 decimals"), "\(decimals.stderr)")

        // An entry the rules never saw, appended to the file: every reader says the ledger is not intact.
        let file = URL(fileURLWithPath: f.ledger).appendingPathComponent("ledger.jsonl")
        var last: Entry? = nil
        var head: [UInt8] = []
        let scan = try LedgerScan.scan(file: file, verifySignatures: false) { entry, hash in last = entry; head = hash }
        let payload = Payloads.make(RejectPayload(claim: "c2", reason: "r"), for: f.state, expires: Timestamp("2030-01-01T00:00:00Z")!)
        let forged = try Entry(seq: scan.entryCount, prev: head, time: last!.time, kind: "reject", body: payload, signatures: try Payloads.sign(payload, with: [f.exchange]))
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(forged.line + [0x0A]))
        try handle.close()
        for verb in [["status", "--now", f.now], ["log"], ["propose", "cancel", "--release", "r1", "--reason", "x", "--out", f.path("c.json")]] {
            let result = try run(verb + ["--ledger", f.ledger])
            #expect(result.status == 1 && result.stderr.contains("is NOT intact: entry 16") && result.stderr.contains("[rule unauthorizedSigner]"), "\(verb): \(result.stderr)")
        }
    }

    @Test("petition sign shows the petition in units and whom the key signs as")
    func petitionScreen() throws {
        let f = try DemoFund()
        defer { f.remove() }
        #expect(try run(["petition", "draft", "--ledger", f.ledger, "--now", f.now, "--platform", "Broker C", "--description", "drained", "--incident-time", "2026-02-01T00:00:00Z",
                         "--accounts", "120", "--loss", "USDC=52000", "--out", f.path("p.json")]).status == 0)
        #expect(try run(["key", "generate", "--out", f.path("me")]).status == 0)
        let signed = try run(["petition", "sign", "--key", f.path("me.key.pem"), "--petition", f.path("p.json"), "--out", f.path("me.sig"), "--now", f.now])
        #expect(signed.status == 0 && signed.stdout.contains("loss:          52,000 USDC") && signed.stdout.contains("you sign as:   a petitioner"), "\(signed.stdout)")
    }
}
