import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("The backstop command line: receipts, reserves and restitution lists", .serialized)
struct MoneyCLITests {
    @Test("contribute says it is only declared; propose receipt drafts from the declarations, a partial amount shown against the declared one")
    func receipts() throws {
        let f = try DemoFund()
        defer { f.remove() }
        // On the system clock: contribute appends at the current time.
        let declared = try run(["contribute", "--ledger", f.ledger, "--member", "exchange-a", "--key", DemoFund.key("exchange-a"), "--asset", "USDC",
                                "--amount", "40000", "--id", "dues-1", "--reference", "wire-77"])
        #expect(declared.status == 0 && declared.stdout.contains("declared: it counts once the delegates' receipt confirms what arrived"), "\(declared.stdout)\(declared.stderr)")
        var status = try run(["status", "--ledger", f.ledger])
        #expect(status.stdout.contains("USDC: declared 50,000 USDC, confirmed 10,000 USDC, unconfirmed 40,000 USDC (40,000 USDC awaiting a receipt, 0 USDC lapsed)"), "\(status.stdout)")

        let draft = try run(["propose", "receipt", "--ledger", f.ledger, "--contribution", "exchange-a:dues-1=39500.5", "--reference", "statement 03-02",
                             "--out", f.path("receipt.json")])
        #expect(draft.status == 0 && draft.stdout.contains("exchange-a contribution dues-1: received 39,500.5 USDC of 40,000 USDC declared"), "\(draft.stdout)\(draft.stderr)")
        let unknown = try run(["propose", "receipt", "--ledger", f.ledger, "--contribution", "wallet-b:dues-1", "--reference", "x", "--out", f.path("r2.json")])
        #expect(unknown.status == 2 && unknown.stderr.contains("member \"wallet-b\" has no contribution \"dues-1\" awaiting a receipt"), "\(unknown.stderr)")
        for bad in [["--contribution", "="], ["--contribution", ""], ["--contribution", "exchange-a:dues-1="], ["--contribution", ":dues-1"], []] {
            let result = try run(["propose", "receipt", "--ledger", f.ledger, "--reference", "x", "--out", f.path("bad.json")] + bad)
            #expect(result.status == 2 && !FileManager.default.fileExists(atPath: f.path("bad.json")), "\(bad): \(result.stderr)")
        }
        let over = try run(["propose", "receipt", "--ledger", f.ledger, "--contribution", "exchange-a:dues-1=40000.01", "--reference", "x", "--out", f.path("r3.json")])
        #expect(over.status == 1 && over.stderr.contains("[rule overReceipt]") && !FileManager.default.fileExists(atPath: f.path("r3.json")), "\(over.stderr)")

        let (payload, _) = try readPayloadFile(f.path("receipt.json"))
        try f.submit(payload, time: Timestamp(nowText())!)   // now: after the contribute above
        status = try run(["status", "--ledger", f.ledger, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let members = try #require(object["members"] as? [[String: Any]])
        let money = try #require((members.first { $0["id"] as? String == "exchange-a" }?["money"] as? [String: [String: String]])?["USDC"])
        #expect(money == ["declared": "50000", "confirmed": "49500.5", "unconfirmed": "0", "pending": "0", "lapsed": "0"])
        #expect(object["rulesVersion"] as? Int == 2)
    }

    @Test("reserves bound a release at drafting; a restitution list is built under the cap, named by a release, and each user checks their proof")
    func reservesAndRestitution() throws {
        let f = try DemoFund()
        defer { f.remove() }
        let later = Timestamp(f.now)!
        // 100 BTC attested; 1 paid and 10 reserved since: 89 may still be released.
        let verify = try run(["verify", "--ledger", f.ledger, "--json"])
        #expect(verify.stdout.contains(#""BTC":{"attested":"100","attestedLessPaid":"99","books":"99","paidSince":"1","releasable":"89","reserved":"10","shortfall":"0"}"#), "\(verify.stdout)")
        #expect(try run(["propose", "reserves", "--ledger", f.ledger, "--out", f.path("x.json")]).status == 2)
        try f.act(ReservesPayload(asOf: later, holdings: [.init(asset: "BTC", amount: Amount(3_000_000_000), wallets: ["bc1qfund"])]), time: later)   // 30 BTC now
        let beyond = try run(["propose", "release", "--ledger", f.ledger, "--claim", "c1", "--pay", "BTC=21@bc1qpool", "--out", f.path("beyond.json"), "--now", f.now])
        #expect(beyond.status == 1 && beyond.stderr.contains("[rule overReserves]") && beyond.stderr.contains("the last attestation"), "\(beyond.stderr)")

        // A cap of 2 BTC per account.
        var safeguards = f.state.safeguards
        safeguards.accountCaps = ["BTC": Amount(200_000_000)]
        let state = f.state
        try f.act(PolicyPayload(policy: state.policy, releaseDelaySeconds: state.releaseDelaySeconds, previous: nil, safeguards: safeguards), time: later)
        try "account,asset,amount\nalice,BTC,2.5\nbob,BTC,1\n".write(toFile: f.path("over.csv"), atomically: true, encoding: .utf8)
        let capped = try run(["restitution", "build", "--ledger", f.ledger, "--accounts", f.path("over.csv"), "--destination", "bc1qpool", "--out", f.path("over")])
        #expect(capped.status == 1 && capped.stderr.contains("above the fund's cap of 2 BTC per account") && !FileManager.default.fileExists(atPath: f.path("over")), "\(capped.stderr)")
        try "account,asset,amount\nbob,BTC,1\n".write(toFile: f.path("bad.csv"), atomically: true, encoding: .utf8)
        try "account;asset;amount\n".write(toFile: f.path("nohead.csv"), atomically: true, encoding: .utf8)
        #expect(try run(["restitution", "build", "--ledger", f.ledger, "--accounts", f.path("nohead.csv"), "--destination", "p", "--out", f.path("n")]).status == 2)
        try "account,asset,amount\nalice,BTC,2\nbob,BTC,1\ncarol,BTC,0.5\n".write(toFile: f.path("owed.csv"), atomically: true, encoding: .utf8)
        let built = try run(["restitution", "build", "--ledger", f.ledger, "--accounts", f.path("owed.csv"), "--destination", "bc1qpool", "--out", f.path("list")])
        #expect(built.status == 0 && built.stdout.contains("restitution list: 3 accounts, 3 amounts, 3.5 BTC"), "\(built.stderr)")
        #expect(try String(contentsOfFile: f.path("list/accounts.csv"), encoding: .utf8) == "account,proof\nalice,proofs/proof-000001.json\nbob,proofs/proof-000002.json\ncarol,proofs/proof-000003.json\n")
        #expect(!(try String(contentsOfFile: f.path("list/leaves.csv"), encoding: .utf8)).contains("alice"))

        let mismatch = try run(["propose", "release", "--ledger", f.ledger, "--claim", "c1", "--pay", "BTC=3@bc1qpool", "--restitution", f.path("list/summary.json"),
                                "--out", f.path("mismatch.json"), "--now", f.now])
        #expect(mismatch.status == 1 && mismatch.stderr.contains("[rule restitutionMismatch]"), "\(mismatch.stderr)")
        let drafted = try run(["propose", "release", "--ledger", f.ledger, "--claim", "c1", "--id", "r-list", "--pay", "BTC=3.5@bc1qpool", "--restitution", f.path("list/summary.json"),
                               "--out", f.path("release.json"), "--now", f.now])
        #expect(drafted.status == 0 && drafted.stdout.contains("restitution:   list of 3 accounts (3 amounts)") && drafted.stdout.contains("at most 2 BTC to one account; the cap is 2 BTC"), "\(drafted.stdout)\(drafted.stderr)")
        let (payload, _) = try readPayloadFile(f.path("release.json"))
        try f.submit(payload, time: later)

        // Alice checks her proof: in the list of a release that is not settled yet (exit 1).
        let pending = try run(["restitution", "check", "--proof", f.path("list/proofs/proof-000001.json"), "--ledger", f.ledger])
        #expect(pending.status == 1 && pending.stdout.contains("account alice is owed 2 BTC in the restitution list of release r-list") && pending.stdout.contains("is pending, not settled"), "\(pending.stdout)\(pending.stderr)")
        try f.checkpoint(at: later)
        try f.checkpoint(at: later.adding(seconds: 86_400)!)
        try f.act(SettlePayload(release: "r-list", reference: "btc-payout"), time: later.adding(seconds: 86_400)!)
        let paid = try run(["restitution", "check", "--proof", f.path("list/proofs/proof-000001.json"), "--ledger", f.ledger, "--json"])
        #expect(paid.status == 0 && paid.stdout.contains(#""status":"settled""#) && paid.stdout.contains(#""amount":"2""#), "\(paid.stdout)\(paid.stderr)")

        // A tampered proof (Alice claims 2.5) does not hold; a damaged file is unusable input.
        var text = try String(contentsOfFile: f.path("list/proofs/proof-000001.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: #""amount":"200000000""#, with: #""amount":"250000000""#)
        try text.write(toFile: f.path("tampered.json"), atomically: true, encoding: .utf8)
        let tampered = try run(["restitution", "check", "--proof", f.path("tampered.json"), "--ledger", f.ledger])
        #expect(tampered.status == 1 && tampered.stderr.contains("the proof does NOT hold"), "\(tampered.stderr)")
        try "{\"format\":\"backstop/restitution-proof/v1\"}".write(toFile: f.path("damaged.json"), atomically: true, encoding: .utf8)
        #expect(try run(["restitution", "check", "--proof", f.path("damaged.json"), "--ledger", f.ledger]).status == 2)
    }
}

/// A payload file as the command line wrote it.
func readPayloadFile(_ path: String) throws -> (Payload, [UInt8]) {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    return (try Payload(bytes: bytes), bytes)
}

extension DemoFund {
    /// Signs `payload` with delegates 1 to 4 and records it at `time`.
    func submit(_ payload: Payload, time: Timestamp) throws {
        let fund = try Fund.open(at: URL(fileURLWithPath: ledger), lockWaitSeconds: 30)
        defer { fund.close() }
        try fund.submit(payload.kind, payload: payload.json, signatures: try Payloads.sign(payload.json, with: Array(delegates.prefix(4))), time: time)
    }
}
