import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// Every verb as its own process, the way people run them, on the system clock: from
/// genesis to a settlement in witnessed time, proofs, a mirror and a held checkpoint.
@Test("end to end through separate backstop processes, with openssl signing one approval and the delegates as witnesses")
func endToEnd() throws {
    let directory = try makeTemporaryDirectory("backstop-e2e")
    defer { try? FileManager.default.removeItem(at: directory) }
    let keys = packageRoot.appendingPathComponent("Keys/demo").path
    let ledger = directory.appendingPathComponent("fund").path
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    @discardableResult
    func run(_ arguments: [String], expect code: Int32 = 0) throws -> ProcessResult {
        let result = try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments)
        #expect(result.status == code, "backstop \(arguments.joined(separator: " ")): \(result.stderr)")
        return result
    }
    func signed(_ payload: String, by delegates: [Int]) throws -> [String] {
        try delegates.flatMap { number -> [String] in
            let signature = path("\(URL(fileURLWithPath: payload).lastPathComponent).d\(number).sig")
            try run(["approve", "--key", "\(keys)/delegate-\(number).key.pem", "--proposal", payload, "--out", signature])
            return ["--signature", signature]
        }
    }
    func delegates(_ kind: [String], _ name: String, by numbers: [Int] = [1, 2, 3, 4]) throws {
        try run(["propose"] + kind + ["--ledger", ledger, "--out", path(name)])
        try run(["submit", "--ledger", ledger, "--proposal", path(name)] + (try signed(path(name), by: numbers)))
    }
    /// Drafts a checkpoint, delegates 1 to 4 (the witnesses) cosign it, and it is recorded.
    func checkpoint(_ name: String) throws {
        try run(["checkpoint", "--ledger", ledger, "--out", path(name)])
        for number in 1...4 {
            try run(["cosign", "--ledger", ledger, "--key", "\(keys)/delegate-\(number).key.pem", "--state", path("witness-\(number).json"), "--checkpoint", path(name)])
        }
        try run(["submit", "--ledger", ledger, "--checkpoint", path(name)])
    }

    let delegateOptions = (1...7).flatMap { ["--delegate", "platform-\($0)=\(keys)/delegate-\($0).pub.pem"] }
    try run(["genesis", "draft", "--name", "E2E fund", "--asset", "BTC:8", "--asset", "USDC:6", "--petition-threshold", "3", "--out", path("genesis.json")] + delegateOptions)
    let three = try signed(path("genesis.json"), by: [1, 2, 3])
    let refused = try run(["init", "--ledger", ledger, "--genesis", path("genesis.json")] + three, expect: 1)
    #expect(refused.stderr.contains("genesis needs 4 distinct delegate approvals, found 3"))
    #expect(!FileManager.default.fileExists(atPath: ledger))
    let created = try run(["init", "--ledger", ledger, "--genesis", path("genesis.json"), "--json"] + three + (try signed(path("genesis.json"), by: [4])))
    let initSchema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: packageRoot.appendingPathComponent("Docs/schemas/init.schema.json"))) as? [String: Any])
    #expect(schemaErrors(try JSONSerialization.jsonObject(with: Data(created.stdout.utf8)), initSchema).isEmpty, "\(created.stdout)")

    try delegates(["admit", "--member", "m1", "--platform", "Member One", "--key", "\(keys)/exchange-a.pub.pem", "--size", "1000000"], "admit.json")
    try delegates(["member-status", "--member", "m1", "--status", "active", "--reason", "assessment received"], "status.json")
    // No delay, so that witnessed time can pass within the test: two checkpoints suffice.
    try delegates(["policy", "--dues-floor", "500", "--dues-cap", "5000", "--release-delay", "0"], "policy.json")
    let contributed = try run(["contribute", "--ledger", ledger, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--asset", "BTC", "--amount", "3.5", "--id", "c1", "--json"])
    let appended = try #require(try JSONSerialization.jsonObject(with: Data(contributed.stdout.utf8)) as? [String: Any])
    #expect(appended["seq"] as? Int == 4 && appended["id"] as? String == "c1" && (appended["hash"] as? String)?.count == 64)
    try run(["contribute", "--ledger", ledger, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--asset", "USDC", "--amount", "500"])
    // Declared money counts once a receipt confirms it, and releases need attested reserves.
    try delegates(["receipt", "--all-as-declared", "--reference", "fund wallet statement"], "receipt.json")
    try delegates(["reserves", "--hold", "BTC=3.5@bc1qfund", "--hold", "USDC=500@0xfund"], "reserves.json")
    try run(["claim", "file", "--ledger", ledger, "--member", "m1", "--key", "\(keys)/exchange-a.key.pem", "--id", "claim-1",
             "--platform", "Member One", "--description", "hot wallet", "--incident-time", "2026-02-27T00:00:00Z", "--accounts", "10", "--loss", "BTC=2"])

    // A petition of three (the threshold this fund chose), one duplicate signer.
    #expect(try run(["petition", "draft", "--ledger", ledger, "--id", "petition-1", "--platform", "Other", "--description", "users lost funds",
                     "--incident-time", "2026-02-27T00:00:00Z", "--accounts", "3", "--loss", "USDC=100", "--out", path("chosen.json")], expect: 2)
        .stderr.contains("a petition's id is derived from its content"))
    try run(["petition", "draft", "--ledger", ledger, "--platform", "Other",
             "--description", "users lost funds", "--incident-time", "2026-02-27T00:00:00Z", "--accounts", "3", "--loss", "USDC=100", "--out", path("petition.json")])
    try FileManager.default.createDirectory(atPath: path("sigs"), withIntermediateDirectories: true)
    for user in 1...2 {
        try run(["key", "generate", "--out", path("user-\(user)")])
        try run(["petition", "sign", "--key", path("user-\(user).key.pem"), "--petition", path("petition.json"), "--out", path("sigs/user-\(user).sig")])
    }
    try run(["petition", "sign", "--key", path("user-1.key.pem"), "--petition", path("petition.json"), "--out", path("sigs/again.sig")])
    let short = try run(["petition", "submit", "--ledger", ledger, "--petition", path("petition.json"), "--signatures", path("sigs")], expect: 1)
    #expect(short.stderr.contains("found 2 valid distinct (1 duplicate)"))
    try run(["key", "generate", "--curve", "secp256k1", "--out", path("user-3")])
    try run(["petition", "sign", "--key", path("user-3.key.pem"), "--petition", path("petition.json"), "--out", path("sigs/user-3.sig")])
    let petitioned = try run(["petition", "submit", "--ledger", ledger, "--petition", path("petition.json"), "--signatures", path("sigs"), "--json"])
    #expect(petitioned.stdout.contains(#""petitioners":3"#))
    let petitionId = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("petition.json")))) as? [String: Any])["id"] as? String
    try delegates(["reject", "--claim", try #require(petitionId), "--reason", "not a member's breach"], "reject.json")

    // A release, one approval by the openssl binary; cancelled; a second one settled in witnessed time.
    try run(["propose", "release", "--ledger", ledger, "--id", "r1", "--claim", "claim-1", "--pay", "BTC=1.25@bc1qvictim", "--out", path("r1.json")])
    #expect(try openssl("dgst", "-sha256", "-sign", "\(keys)/delegate-7.key.pem", "-out", path("r1.d7.sig"), path("r1.json")).status == 0)
    try run(["submit", "--ledger", ledger, "--proposal", path("r1.json"), "--signature", path("r1.d7.sig")] + (try signed(path("r1.json"), by: [1, 2, 3])))
    try delegates(["cancel", "--release", "r1", "--reason", "destination changed"], "cancel.json")
    try delegates(["release", "--claim", "claim-1", "--pay", "BTC=2@bc1qnew", "--id", "r2"], "r2.json")
    try run(["propose", "settle", "--ledger", ledger, "--release", "r2", "--reference", "btc-tx", "--out", path("settle.json")])
    let settlement = try signed(path("settle.json"), by: [1, 2, 3, 4])
    let unseen = try run(["submit", "--ledger", ledger, "--proposal", path("settle.json")] + settlement, expect: 1)
    #expect(unseen.stderr.contains("release r2 is in no recorded checkpoint yet") && unseen.stderr.contains("[rule tooEarly]"))
    try checkpoint("checkpoint-1.txt")
    try checkpoint("checkpoint-2.txt")
    try run(["submit", "--ledger", ledger, "--proposal", path("settle.json")] + settlement)
    let over = try run(["propose", "release", "--ledger", ledger, "--claim", "claim-1", "--pay", "BTC=0.00000001@x", "--out", path("over.json")], expect: 1)
    #expect(over.stderr.contains("above its stated loss of 2 BTC") && over.stderr.contains("[rule overClaim]") && !FileManager.default.fileExists(atPath: path("over.json")))

    // A member key rotation needs the member's current key as well as four delegates.
    try run(["key", "generate", "--out", path("m1-new")])
    try run(["propose", "member-key", "--ledger", ledger, "--member", "m1", "--key", path("m1-new.pub.pem"), "--out", path("mk.json")])
    try run(["approve", "--key", "\(keys)/exchange-a.key.pem", "--proposal", path("mk.json"), "--out", path("mk.member.sig")])
    try run(["submit", "--ledger", ledger, "--proposal", path("mk.json"), "--signature", path("mk.member.sig")] + (try signed(path("mk.json"), by: [1, 2, 3, 4])))
    // Delegate rotation: one seat replaced; both sets' thresholds sign.
    try run(["key", "generate", "--out", path("newcomer")])
    try delegates(["rotate", "--replace", "delegate-7=newcomer=\(path("newcomer.pub.pem"))"], "rotate.json")

    let verify = try run(["verify", "--ledger", ledger, "--json", "--checkpoint", path("checkpoint-2.txt")])
    #expect(verify.stdout.contains(#""ok":true"#) && verify.stdout.contains(#""cosignatures":4"#), "\(verify.stdout)")
    let status = try run(["status", "--ledger", ledger, "--json"])
    #expect(status.stdout.contains(#""available":"1.5""#) && status.stdout.contains(#""paid":"2""#) && status.stdout.contains(#""set":2"#))

    // Proofs: the contribution is in checkpoint 2; checkpoint 2 extends checkpoint 1; both
    // checked without the ledger, with the witnesses' keys.
    try run(["prove", "inclusion", "--ledger", ledger, "--seq", "4", "--checkpoint", path("checkpoint-2.txt"), "--out", path("c1.tlog-proof")])
    let fundId = try #require(verify.stdout.split(separator: "\"").drop { $0 != "fundId" }.dropFirst(2).first.map(String.init))
    let witnesses = (1...4).flatMap { ["--witness", "\(keys)/delegate-\($0).pub.pem"] } + ["--fund-id", fundId]
    let included = try run(["check-proof", "--proof", path("c1.tlog-proof"), "--quorum", "4"] + witnesses)
    #expect(included.stdout.contains("holds: entry 4 (contribution"))
    try run(["prove", "consistency", "--ledger", ledger, "--from", path("checkpoint-1.txt"), "--to", path("checkpoint-2.txt"), "--out", path("1to2.json")])
    #expect(try run(["check-proof", "--proof", path("1to2.json"), "--quorum", "4"] + witnesses).stdout.contains("holds: the checkpoint of"))
    #expect(try run(["check-proof", "--proof", path("1to2.json"), "--quorum", "4", "--witness", "\(keys)/delegate-1.pub.pem", "--fund-id", fundId], expect: 2).stderr.contains("--quorum"))

    // A mirror follows the ledger incrementally.
    try run(["mirror", "--from", ledger, "--to", path("mirror")])
    try delegates(["member-status", "--member", "m1", "--status", "active", "--reason", "audit renewed"], "status2.json")
    #expect(try run(["mirror", "--from", ledger, "--to", path("mirror")]).stdout.contains("mirrored 1 new entry"))
    let log = try run(["log", "--ledger", path("mirror")])
    #expect(log.stdout.split(separator: "\n").count == 20 && log.stdout.contains("checkpoint of"), "\(log.stdout)")
}
