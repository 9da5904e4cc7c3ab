import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// Every verb as its own process, the way people run them, from genesis to settlement.
@Test("end to end through separate backstop processes, with openssl signing one approval")
func endToEnd() throws {
    let directory = try makeTemporaryDirectory("backstop-e2e")
    defer { try? FileManager.default.removeItem(at: directory) }
    let keys = packageRoot.appendingPathComponent("Keys/demo").path
    let ledger = directory.appendingPathComponent("fund").path
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    var clock = Timestamp("2026-03-01T00:00:00Z")!
    @discardableResult
    func run(_ arguments: [String], expect code: Int32 = 0) throws -> ProcessResult {
        let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments)
        #expect(result.status == code, "backstop \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }
    func signed(_ payload: String, by delegates: [Int]) throws -> [String] {
        try delegates.flatMap { number -> [String] in
            let signature = path("\(URL(fileURLWithPath: payload).lastPathComponent).d\(number).sig")
            try run(["approve", "--key", "\(keys)/delegate-\(number).key.pem", "--proposal", payload, "--out", signature, "--now", clock.description])
            return ["--signature", signature]
        }
    }
    func delegates(_ kind: [String], _ name: String, by numbers: [Int] = [1, 2, 3, 4]) throws {
        try run(["propose"] + kind + ["--ledger", ledger, "--now", clock.description, "--out", path(name)])
        try run(["submit", "--ledger", ledger, "--now", clock.description, "--proposal", path(name)] + (try signed(path(name), by: numbers)))
    }

    let delegateOptions = (1...7).flatMap { ["--delegate", "platform-\($0)=\(keys)/delegate-\($0).pub.pem"] }
    try run(["genesis", "draft", "--name", "E2E fund", "--asset", "BTC:8", "--asset", "USDC:6", "--petition-threshold", "3",
             "--now", clock.description, "--out", path("genesis.json")] + delegateOptions)
    let three = try signed(path("genesis.json"), by: [1, 2, 3])
    let refused = try run(["init", "--ledger", ledger, "--now", clock.description, "--genesis", path("genesis.json")] + three, expect: 1)
    #expect(refused.stderr.contains("genesis needs 4 distinct delegate approvals, found 3"))
    #expect(!FileManager.default.fileExists(atPath: ledger))
    try run(["init", "--ledger", ledger, "--now", clock.description, "--genesis", path("genesis.json")] + three + (try signed(path("genesis.json"), by: [4])))

    try delegates(["admit", "--member", "m1", "--platform", "Member One", "--key", "\(keys)/exchange-a.pub.pem", "--size", "1000000"], "admit.json")
    try delegates(["member-status", "--member", "m1", "--status", "active", "--reason", "assessment received"], "status.json")
    try delegates(["policy", "--dues-floor", "500", "--dues-cap", "5000", "--release-delay", "1h"], "policy.json")
    let contributed = try run(["contribute", "--ledger", ledger, "--now", clock.description, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--asset", "BTC", "--amount", "3.5", "--id", "c1", "--json"])
    let appended = try #require(try JSONSerialization.jsonObject(with: Data(contributed.stdout.utf8)) as? [String: Any])
    #expect(appended["seq"] as? Int == 4 && appended["id"] as? String == "c1" && (appended["hash"] as? String)?.count == 64)
    try run(["contribute", "--ledger", ledger, "--now", clock.description, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--asset", "USDC", "--amount", "500"])
    try run(["claim", "file", "--ledger", ledger, "--now", clock.description, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--id", "claim-1",
             "--platform", "Member One", "--description", "hot wallet", "--incident-time", "2026-02-27T00:00:00Z", "--accounts", "10", "--loss", "BTC=2"])

    // A petition of three (the threshold this fund chose), one duplicate signer.
    try run(["petition", "draft", "--ledger", ledger, "--now", clock.description, "--id", "petition-1", "--platform", "Other",
             "--description", "users lost funds", "--incident-time", "2026-02-27T00:00:00Z", "--accounts", "3", "--loss", "USDC=100", "--out", path("petition.json")])
    try FileManager.default.createDirectory(atPath: path("sigs"), withIntermediateDirectories: true)
    for user in 1...2 {
        try run(["key", "generate", "--out", path("user-\(user)")])
        try run(["petition", "sign", "--key", path("user-\(user).key.pem"), "--petition", path("petition.json"), "--out", path("sigs/user-\(user).sig"), "--now", clock.description])
    }
    try run(["petition", "sign", "--key", path("user-1.key.pem"), "--petition", path("petition.json"), "--out", path("sigs/again.sig"), "--now", clock.description])
    let short = try run(["petition", "submit", "--ledger", ledger, "--now", clock.description, "--petition", path("petition.json"), "--signatures", path("sigs")], expect: 1)
    #expect(short.stderr.contains("found 2 valid distinct (1 duplicate)"))
    try run(["key", "generate", "--curve", "secp256k1", "--out", path("user-3")])
    try run(["petition", "sign", "--key", path("user-3.key.pem"), "--petition", path("petition.json"), "--out", path("sigs/user-3.sig"), "--now", clock.description])
    let petitioned = try run(["petition", "submit", "--ledger", ledger, "--now", clock.description, "--petition", path("petition.json"), "--signatures", path("sigs"), "--json"])
    #expect(petitioned.stdout.contains(#""petitioners":3"#))
    try delegates(["reject", "--claim", "petition-1", "--reason", "not a member's breach"], "reject.json")

    // A release, one approval by the openssl binary; cancelled; a second one settled after the delay.
    try run(["propose", "release", "--ledger", ledger, "--now", clock.description, "--id", "r1", "--claim", "claim-1", "--pay", "BTC=1.25@bc1qvictim", "--out", path("r1.json")])
    #expect(try openssl("dgst", "-sha256", "-sign", "\(keys)/delegate-7.key.pem", "-out", path("r1.d7.sig"), path("r1.json")).status == 0)
    try run(["submit", "--ledger", ledger, "--now", clock.description, "--proposal", path("r1.json"), "--signature", path("r1.d7.sig")] + (try signed(path("r1.json"), by: [1, 2, 3])))
    try delegates(["cancel", "--release", "r1", "--reason", "destination changed"], "cancel.json")
    try delegates(["release", "--claim", "claim-1", "--pay", "BTC=2@bc1qnew", "--id", "r2"], "r2.json")
    clock = clock.adding(seconds: 3_600)!
    try delegates(["settle", "--release", "r2", "--reference", "btc-tx"], "settle.json")
    // Over the claim's loss: refused when drafted, before anyone signs, and nothing is written.
    let over = try run(["propose", "release", "--ledger", ledger, "--now", clock.description, "--claim", "claim-1", "--pay", "BTC=0.00000001@x", "--out", path("over.json")], expect: 1)
    #expect(over.stderr.contains("before anyone signs: release of 0.00000001 BTC would bring claim claim-1 to 2.00000001 BTC, above its stated loss of 2 BTC"))
    #expect(over.stderr.contains("[rule overClaim]") && !FileManager.default.fileExists(atPath: path("over.json")))

    // A member key rotation needs the member's current key as well as four delegates.
    try run(["key", "generate", "--out", path("m1-new")])
    try run(["propose", "member-key", "--ledger", ledger, "--now", clock.description, "--member", "m1", "--key", path("m1-new.pub.pem"), "--out", path("mk.json")])
    try run(["approve", "--key", "\(keys)/exchange-a.key.pem", "--proposal", path("mk.json"), "--out", path("mk.member.sig"), "--now", clock.description])
    try run(["submit", "--ledger", ledger, "--now", clock.description, "--proposal", path("mk.json"), "--signature", path("mk.member.sig")] + (try signed(path("mk.json"), by: [1, 2, 3, 4])))
    // Delegate rotation: the new set drops delegate 7 for a newcomer; both sets' thresholds sign.
    try run(["key", "generate", "--out", path("newcomer")])
    let newSet = (1...6).flatMap { ["--delegate", "platform-\($0)=\(keys)/delegate-\($0).pub.pem"] } + ["--delegate", "newcomer=\(path("newcomer.pub.pem"))"]
    try delegates(["rotate", "--threshold", "4"] + newSet, "rotate.json")

    let verify = try run(["verify", "--ledger", ledger, "--json"])
    #expect(verify.stdout.contains(#""ok":true"#))
    let status = try run(["status", "--ledger", ledger, "--json", "--now", clock.description])
    #expect(status.stdout.contains(#""available":"1.5""#) && status.stdout.contains(#""paid":"2""#))
    #expect(status.stdout.contains(#""set":2"#))
    let log = try run(["log", "--ledger", ledger])
    #expect(log.stdout.split(separator: "\n").count == 15)
}
