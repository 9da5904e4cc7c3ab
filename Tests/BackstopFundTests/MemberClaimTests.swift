import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Genesis, members, contributions, claims and petitions")
struct MemberClaimTests {
    @Test("genesis needs the threshold of its own delegates, distinct platforms and keys, a majority threshold")
    func genesisRules() throws {
        let keys = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
        let delegates = keys.enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") }
        let expires = Fixture.start.adding(seconds: 3_600)!
        func attempt(_ payload: JSONValue, _ signers: [PrivateKey]) -> FundError? {
            refusal {
                let directory = try makeTemporaryDirectory()
                defer { try? FileManager.default.removeItem(at: directory) }
                _ = try Fund.create(at: directory, genesis: payload, signatures: try Payloads.sign(payload, with: signers), time: Fixture.start)
            }
        }
        let good = Payloads.genesis(expires: expires, name: "F", assets: [("BTC", 8), ("USDC", 6)], delegates: delegates, policy: Fixture.policy)
        #expect(attempt(good, Array(keys.prefix(4))) == nil)
        #expect(attempt(good, Array(keys.prefix(3)))?.rule == .threshold)
        #expect(attempt(good, Array(keys.prefix(3)) + [try PrivateKey(generatingOn: .p256)])?.rule == .unauthorizedSigner)
        var samePlatform = delegates
        samePlatform[1] = Delegate(key: keys[1].publicKey, platform: "p0")
        #expect(attempt(Payloads.genesis(expires: expires, name: "F", assets: [("USDC", 6)], delegates: samePlatform, policy: Fixture.policy), Array(keys.prefix(4)))?.rule == .invalidParameter)
        var sameKey = delegates
        sameKey[1] = Delegate(key: keys[0].publicKey, platform: "p1")
        #expect(attempt(Payloads.genesis(expires: expires, name: "F", assets: [("USDC", 6)], delegates: sameKey, policy: Fixture.policy), Array(keys.prefix(4)))?.rule == .duplicateKey)
        let minority = Payloads.genesis(expires: expires, name: "F", assets: [("USDC", 6)], delegates: delegates, threshold: 3, policy: Fixture.policy)
        #expect(attempt(minority, Array(keys.prefix(4)))?.reason.contains("not a majority") == true)
        let badAsset = Payloads.genesis(expires: expires, name: "F", assets: [("BTC", 8)], delegates: delegates, policy: Fixture.policy)
        #expect(attempt(badAsset, Array(keys.prefix(4)))?.rule == .unknownAsset)
    }

    @Test("contributions: signed by the member, known asset, a repeated id never counts twice")
    func contributions() throws {
        let f = try Fixture()
        let key = try f.admit("small")
        try f.contribute("small", key: key, asset: "USDC", amount: "1000000000", id: "pay-1")
        let retry = refusal { try f.contribute("small", key: key, asset: "USDC", amount: "1000000000", id: "pay-1") }
        #expect(retry?.rule == .replayedId)
        #expect(f.state.balances["USDC"]?.contributed == Amount(1_000_000_000))
        let stranger = try PrivateKey(generatingOn: .p256)
        #expect(refusal { try f.contribute("small", key: stranger, asset: "USDC", amount: "1") }?.rule == .unauthorizedSigner)
        #expect(refusal { try f.contribute("nobody", key: key, asset: "USDC", amount: "1") }?.rule == .unknownMember)
        #expect(refusal { try f.contribute("small", key: key, asset: "DOGE", amount: "1") }?.rule == .unknownAsset)
        #expect(refusal { try f.contribute("small", key: key, asset: "USDC", amount: "1", period: 5) }?.rule == .invalidParameter)
    }

    @Test("amounts: too many decimals, negative, zero, beyond 10^40 are refused; exact otherwise")
    func amounts() throws {
        #expect(try Amount(decimal: "4836.26", decimals: 18).minorUnits.description == "4836260000000000000000")
        #expect(try Amount(decimal: "443.93", decimals: 8).decimalString(decimals: 8) == "443.93")
        #expect(try Amount(decimal: "0.00000001", decimals: 8) == Amount(1))
        #expect(try Amount(decimal: "66200", decimals: 6).decimalString(decimals: 6) == "66200")
        for (text, reason) in [("1.123456789", "9 decimals"), ("-5", "negative"), ("0", "more than zero"), ("0.000", "more than zero"),
                               ("1e3", "digits"), ("1,000", "digits"), (".5", "digits"), ("5.", "digits"), ("", "digits"),
                               ("10000000000000000000000000000000000000001", "10^40")] {
            let error = #expect(throws: FundError.self, "\(text)") { try Amount(decimal: text, decimals: 8) }
            #expect(error?.rule == .invalidAmount)
            #expect(error?.reason.contains(reason) == true, "\(text): \(error?.reason ?? "")")
        }
        #expect(try Amount(decimal: "100000000000000000000000000000000", decimals: 8) == Amount.maximum)
        // In payloads, minor units: no sign, no leading zero, no zero, at most 10^40.
        let f = try Fixture()
        let key = try f.admit("m")
        for bad in ["-5", "0", "007", "1.5", "1e3", "10000000000000000000000000000000000000001"] {
            #expect(refusal { try f.contribute("m", key: key, asset: "ETH", amount: bad) }?.rule == .invalidAmount, "\(bad)")
        }
        try f.contribute("m", key: key, asset: "ETH", amount: "10000000000000000000000000000000000000000")
        try f.contribute("m", key: key, asset: "ETH", amount: "10000000000000000000000000000000000000000")
        #expect(f.state.balances["ETH"]?.contributed.description == "20000000000000000000000000000000000000000")
    }

    @Test("dues follow size × rate with floor and cap; a member past the grace period is in arrears and cannot claim")
    func arrears() throws {
        // Floor 1,000 USDC, cap 100,000 USDC, rate 100 per million.
        #expect(Fixture.policy.dues(size: Amount(0)) == Amount(1_000_000_000))
        #expect(Fixture.policy.dues(size: Amount(50_000_000_000_000)) == Amount(5_000_000_000))        // 50M USDC size → 5,000
        #expect(Fixture.policy.dues(size: Amount(10_000_000_000_000_000)) == Amount(100_000_000_000))  // capped
        let f = try Fixture()
        let payer = try f.admit("payer")
        let late = try f.admit("late")
        try f.contribute("payer", key: payer, asset: "USDC", amount: "1000000000")
        // Still within period 0 plus grace: nobody in arrears.
        f.advance(seconds: 36 * 86_400)
        #expect(f.state.periodInArrears(member: "late", at: f.now) == nil)
        f.advance(seconds: 86_400)   // day 37: period 0 ended on day 30, grace 7 days
        #expect(f.state.periodInArrears(member: "late", at: f.now) == 0)
        #expect(f.state.periodInArrears(member: "payer", at: f.now) == nil)
        let refused = refusal { try f.memberClaim("late", key: late, losses: ["USDC": "1"]) }
        #expect(refused?.rule == .arrears && refused?.reason.contains("its users can still petition") == true)
        try f.memberClaim("payer", key: payer, losses: ["USDC": "1"])
        // Paying the overdue period clears it.
        try f.contribute("late", key: late, asset: "USDC", amount: "1000000000", period: 0)
        try f.memberClaim("late", key: late, losses: ["USDC": "1"])
    }

    @Test("a suspended member cannot claim; a rotated member key replaces the old one")
    func suspensionAndKeyRotation() throws {
        let f = try Fixture()
        let old = try f.admit("m")
        try f.delegateAction(.memberStatus, ["member": "m", "status": "suspended", "reason": "audit overdue"])
        #expect(refusal { try f.memberClaim("m", key: old, losses: ["BTC": "1"]) }?.rule == .memberNotActive)
        try f.delegateAction(.memberStatus, ["member": "m", "status": "active", "reason": "audit done"])
        let new = try PrivateKey(generatingOn: .secp256k1)
        let fields: [String: JSONValue] = ["member": "m", "key": .string(Hex.encode(new.publicKey.derRepresentation))]
        let payload = Payloads.make(.memberKey, for: f.state, expires: f.expiry, fields: fields)
        // Delegates alone are not enough: the member's current key must sign too.
        #expect(refusal { try f.fund.submit(.memberKey, payload: payload, signatures: try Payloads.sign(payload, with: Array(f.delegates.prefix(4))), time: f.now) }?.rule == .unauthorizedSigner)
        #expect(refusal { try f.fund.submit(.memberKey, payload: payload, signatures: try Payloads.sign(payload, with: [old] + Array(f.delegates.prefix(3))), time: f.now) }?.rule == .threshold)
        try f.fund.submit(.memberKey, payload: payload, signatures: try Payloads.sign(payload, with: [old] + Array(f.delegates.prefix(4))), time: f.now)
        #expect(refusal { try f.contribute("m", key: old, asset: "BTC", amount: "1") }?.rule == .unauthorizedSigner)
        try f.contribute("m", key: new, asset: "BTC", amount: "1")
    }

    @Test("petitions: 99 distinct keys are refused, 100 accepted; duplicates and bad signatures do not count")
    func petitions() throws {
        let f = try Fixture()
        let payload = Payloads.make(.claim, for: f.state, id: "petition-1", expires: f.expiry, fields: f.claimFields(losses: ["ETH": "4836260000000000000000"]))
        let bytes = Canonical.encode(payload)
        let users = try (0..<100).map { index in try PrivateKey(generatingOn: index % 5 == 0 ? .secp256k1 : .p256) }
        let pairs = try users.map { (key: $0.publicKey.derRepresentation, signature: try $0.signature(for: bytes).derRepresentation) }
        let before = f.state
        let ninetyNine = refusal { try f.fund.submitPetition(payloadBytes: bytes, pairs: Array(pairs.prefix(99)), time: f.now) }
        #expect(ninetyNine?.rule == .petitionThreshold)
        #expect(ninetyNine?.reason.contains("needs 100 valid signatures from distinct keys, found 99 valid distinct") == true)
        // 99 distinct + a duplicate + a forged signature + an unreadable key is still 99.
        let forged = (key: pairs[99].key, signature: pairs[0].signature)
        let padded = Array(pairs.prefix(99)) + [pairs[3], forged, (key: [0x30, 0x01, 0x00], signature: pairs[0].signature)]
        let stillShort = refusal { try f.fund.submitPetition(payloadBytes: bytes, pairs: padded, time: f.now) }
        #expect(stillShort?.reason.contains("found 99 valid distinct (1 duplicate, 1 invalid, 1 unreadable or unsupported key)") == true, "\(stillShort?.reason ?? "")")
        #expect(f.state == before)
        let entry = try f.fund.submitPetition(payloadBytes: bytes, pairs: pairs + [pairs[0]], time: f.now)
        #expect(entry.signatures.count == 100)
        #expect(f.state.claims["petition-1"]?.petitioners == 100 && f.state.claims["petition-1"]?.member == nil)
    }

    @Test("the delegates can reject a claim; no release for it afterwards")
    func rejectClaim() throws {
        let (f, _) = try Fixture.withClaim()
        #expect(refusal { try f.delegateAction(.reject, ["claim": "c1", "reason": "no"], signers: [0, 1, 2]) }?.rule == .threshold)
        try f.delegateAction(.reject, ["claim": "c1", "reason": "losses not shown"])
        #expect(f.state.claims["c1"]?.status == .rejected)
        #expect(refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "1"]).objectValue!) }?.rule == .claimNotOpen)
        #expect(refusal { try f.delegateAction(.reject, ["claim": "zz", "reason": "no"]) }?.rule == .unknownClaim)
    }

    @Test("time never goes backwards; unexpected payload fields are refused")
    func timeAndFields() throws {
        let f = try Fixture()
        let key = try f.admit("m")
        f.now = Fixture.start.adding(seconds: -1)!
        #expect(refusal { try f.contribute("m", key: key, asset: "BTC", amount: "1") }?.rule == .timeBackwards)
        f.now = Fixture.start
        let payload = Payloads.make(.contribution, for: f.state, expires: f.expiry, fields: [
            "member": "m", "asset": "BTC", "amount": "1", "period": 0, "reference": "r", "bonus": "1000",
        ])
        let error = refusal { try f.fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: f.now) }
        #expect(error?.rule == .malformedPayload && error?.reason.contains("bonus") == true)
    }

    @Test("a policy entry may change rate, floor, cap, grace and delay, but not the dues asset or period length")
    func policyChanges() throws {
        let f = try Fixture()
        func policy(asset: String = "USDC", period: Int64 = 30 * 86_400, floor: Int64 = 2_000_000_000) -> [String: JSONValue] {
            let changed = ContributionPolicy(asset: asset, ratePerMillion: 200, floor: Amount(minorUnits: String(floor))!, cap: Amount(200_000_000_000), periodSeconds: period, graceSeconds: 86_400)
            return ["policy": Payloads.json(changed), "releaseDelaySeconds": 172_800]
        }
        #expect(refusal { try f.delegateAction(.policy, policy(asset: "BTC")) }?.rule == .invalidParameter)
        #expect(refusal { try f.delegateAction(.policy, policy(period: 7 * 86_400)) }?.reason.contains("fixed at genesis") == true)
        #expect(refusal { try f.delegateAction(.policy, policy(), signers: [0, 1, 2]) }?.rule == .threshold)
        try f.delegateAction(.policy, policy())
        #expect(f.state.policy.floor == Amount(2_000_000_000) && f.state.releaseDelaySeconds == 172_800)
    }
}
