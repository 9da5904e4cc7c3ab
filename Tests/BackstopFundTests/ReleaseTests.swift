import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Releases: thresholds, distinct delegates, two phases")
struct ReleaseTests {
    @Test("a release needs 4 distinct delegate approvals: 3 is refused, 4 and 7 are accepted", arguments: [3, 4, 7])
    func thresholds(approvals: Int) throws {
        let (f, _) = try Fixture.withClaim()
        let before = f.state
        let error = refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"]).objectValue!, signers: Array(0..<approvals)) }
        if approvals < 4 {
            #expect(error?.rule == .threshold)
            #expect(error?.reason.contains("needs 4 distinct delegate approvals for delegate set v1, found 3") == true)
            #expect(f.state == before)
        } else {
            #expect(error == nil)
            #expect(f.state.balances["BTC"]?.reserved == Amount(100_000_000))
            #expect(f.state.releases.values.first?.status == .pending)
        }
    }

    @Test("the same delegate twice counts once: same file, a second signature, the high-S twin")
    func sameDelegateTwice() throws {
        let (f, _) = try Fixture.withClaim()
        let payload = f.releasePayload(claim: "c1", ["BTC": "100000000"])
        let bytes = Canonical.encode(payload)
        let three = try (0..<3).map { try f.delegates[$0].signature(for: bytes).derRepresentation }
        let again = try f.delegates[1].signature(for: bytes)
        let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        let highS = try #require(ECDSASignature(r: again.r, s: bigEndianSubtract(order, again.s), curve: .p256))
        let before = try Data(contentsOf: f.directory.appendingPathComponent("ledger.jsonl"))
        for extra in [three[1], try f.delegates[1].signature(for: bytes).derRepresentation, highS.derRepresentation] {
            let error = refusal { try f.fund.submit(.release, payloadBytes: bytes, signatureFiles: three + [extra], time: f.now) }
            #expect(error?.rule == .threshold)
            #expect(error?.reason.contains("found 3 valid; signed: delegate-1 (platform-1), delegate-2 (platform-2), delegate-3 (platform-3)") == true, "\(error?.reason ?? "")")
            #expect(error?.reason.contains("set aside: signature 4: duplicate: delegate-2 (platform-2) already signed") == true, "\(error?.reason ?? "")")
        }
        #expect(try Data(contentsOf: f.directory.appendingPathComponent("ledger.jsonl")) == before)
        // With a fourth distinct delegate it goes through, duplicates set aside.
        let fourth = try f.delegates[3].signature(for: bytes).derRepresentation
        let entry = try f.fund.submit(.release, payloadBytes: bytes, signatureFiles: three + [three[0], fourth], time: f.now)
        #expect(entry.signatures.count == 4)
    }

    @Test("signatures by non-delegates or over another payload do not count, and are named")
    func strangers() throws {
        let (f, _) = try Fixture.withClaim()
        let payload = f.releasePayload(claim: "c1", ["BTC": "100000000"])
        let bytes = Canonical.encode(payload)
        let other = Canonical.encode(f.releasePayload(claim: "c1", ["BTC": "200000000"]))
        let stranger = try PrivateKey(generatingOn: .p256)
        let files = try (0..<3).map { try f.delegates[$0].signature(for: bytes).derRepresentation }
            + [try stranger.signature(for: bytes).derRepresentation, try f.delegates[3].signature(for: other).derRepresentation, [0x30, 0x00]]
        let error = refusal { try f.fund.submit(.release, payloadBytes: bytes, signatureFiles: files, time: f.now) }
        #expect(error?.rule == .threshold)
        #expect(error?.reason.contains("found 3 valid") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("signature 4: verifies for no delegate over this payload") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("signature 5: verifies for no delegate over this payload") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("signature 6: not a DER ECDSA signature") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("not signed: delegate-4 (platform-4)") == true)
        // A stored entry with a stranger's signature is refused by the rules themselves.
        let signed = try Payloads.sign(payload, with: Array(f.delegates.prefix(4)) + [stranger])
        let stored = refusal { try f.fund.submit(.release, payload: payload, signatures: signed, time: f.now) }
        #expect(stored?.rule == .unauthorizedSigner)
    }

    @Test("approvals for another fund, an older delegate set, or past their expiry are refused")
    func wrongContext() throws {
        let (f, _) = try Fixture.withClaim()
        let (g, _) = try Fixture.withClaim()
        // Another fund: g's payload carries g's fund id.
        let foreign = g.releasePayload(claim: "c1", ["BTC": "100000000"])
        let wrongFund = refusal { try f.fund.submit(.release, payload: foreign, signatures: try Payloads.sign(foreign, with: Array(f.delegates.prefix(4))), time: f.now) }
        #expect(wrongFund?.rule == .wrongFund)
        // Expired: the clock passes the payload's expiry.
        let payload = f.releasePayload(claim: "c1", ["BTC": "100000000"])
        let signatures = try Payloads.sign(payload, with: Array(f.delegates.prefix(4)))
        f.advance(seconds: 73 * 3_600)
        let expired = refusal { try f.fund.submit(.release, payload: payload, signatures: signatures, time: f.now) }
        #expect(expired?.rule == .expired)
        // An older delegate set: prepared for v1, submitted after a rotation to v2.
        let stale = f.releasePayload(claim: "c1", ["BTC": "100000000"])
        let staleSignatures = try Payloads.sign(stale, with: Array(f.delegates.prefix(4)))
        try f.delegateAction(.rotate, ["delegates": Payloads.json(f.state.delegates), "threshold": 5, "petitionThreshold": 100], signers: [0, 1, 2, 3, 4])
        #expect(f.state.delegateSet == 2 && f.state.threshold == 5)
        let old = refusal { try f.fund.submit(.release, payload: stale, signatures: staleSignatures, time: f.now) }
        #expect(old?.rule == .wrongDelegateSet)
        #expect(old?.reason.contains("delegate set v1, the current set is v2") == true)
    }

    @Test("a proposal id can be used once")
    func replayedId() throws {
        let (f, _) = try Fixture.withClaim()
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1")
        let error = refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "100000000"], id: "r1").objectValue!, id: "r1") }
        #expect(error?.rule == .replayedId)
        #expect(error?.reason.contains("already used by entry") == true)
    }

    @Test("a release may not exceed the claim's remaining loss nor the available balance")
    func limits() throws {
        let (f, _) = try Fixture.withClaim()
        // Loss is 10 BTC: 6 + 4 is allowed, one more satoshi is not.
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "600000000"]).objectValue!)
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "400000000"]).objectValue!)
        let over = refusal { try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "1"]).objectValue!) }
        #expect(over?.rule == .overClaim)
        // USDC: the loss is 1,000 but make the fund hold less than asked by reserving first.
        let g = try Fixture()
        let key = try g.admit("m")
        try g.contribute("m", key: key, asset: "ETH", amount: "1000000000000000000")   // 1 ETH held
        try g.memberClaim("m", key: key, losses: ["ETH": "5000000000000000000"], id: "c")
        let broke = refusal { try g.delegateAction(.release, g.releasePayload(claim: "c", ["ETH": "1000000000000000001"]).objectValue!) }
        #expect(broke?.rule == .overBalance)
        #expect(try g.delegateAction(.release, g.releasePayload(claim: "c", ["ETH": "1000000000000000000"]).objectValue!).seq > 0)
        #expect(g.state.balances["ETH"]?.available == .zero)
    }

    @Test("settlement waits for the delay; cancellation frees the reservation; nothing after settlement")
    func twoPhases() throws {
        let (f, _) = try Fixture.withClaim()
        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "300000000"], id: "r1").objectValue!, id: "r1")
        let unseen = refusal { try f.delegateAction(.settle, ["release": "r1", "reference": "btc-tx-1"]) }
        #expect(unseen?.rule == .tooEarly && unseen?.reason.contains("in no recorded checkpoint yet") == true)
        try f.checkpoint()   // the witnesses see the release
        f.advance(seconds: 86_399)
        try f.checkpoint()
        let early = refusal { try f.delegateAction(.settle, ["release": "r1", "reference": "btc-tx-1"]) }
        #expect(early?.rule == .tooEarly && early?.reason.contains("becomes payable when a checkpoint cosigned at or after 2026-01-02T00:00:00Z") == true, "\(early?.reason ?? "")")
        f.advance(seconds: 1)
        try f.checkpoint()
        try f.delegateAction(.settle, ["release": "r1", "reference": "btc-tx-1"])
        #expect(f.state.balances["BTC"]?.paid == Amount(300_000_000) && f.state.balances["BTC"]?.reserved == .zero)
        #expect(f.state.claims["c1"]?.paid["BTC"] == Amount(300_000_000))
        let late = refusal { try f.delegateAction(.cancel, ["release": "r1", "reason": "too late"]) }
        #expect(late?.rule == .releaseNotPending)

        try f.delegateAction(.release, f.releasePayload(claim: "c1", ["BTC": "700000000"], id: "r2").objectValue!, id: "r2")
        #expect(f.state.claims["c1"]?.remaining["BTC"] == .zero)
        try f.delegateAction(.cancel, ["release": "r2", "reason": "destination changed"])
        #expect(f.state.balances["BTC"]?.reserved == .zero && f.state.claims["c1"]?.remaining["BTC"] == Amount(700_000_000))
        let settleCancelled = refusal { try f.delegateAction(.settle, ["release": "r2", "reference": "x"]) }
        #expect(settleCancelled?.rule == .releaseNotPending)
    }

    @Test("an approval made by the openssl binary is accepted exactly like Backstop's")
    func opensslApproval() throws {
        let (f, _) = try Fixture.withClaim()
        let payload = f.releasePayload(claim: "c1", ["BTC": "100000000"])
        let bytes = Canonical.encode(payload)
        let keyFile = f.directory.appendingPathComponent("d4.key.pem").path
        let payloadFile = f.directory.appendingPathComponent("release.json").path
        let sigFile = f.directory.appendingPathComponent("d4.sig").path
        try f.delegates[3].pemRepresentation().write(toFile: keyFile, atomically: true, encoding: .utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: payloadFile))
        #expect(try openssl("dgst", "-sha256", "-sign", keyFile, "-out", sigFile, payloadFile).status == 0)
        let theirs = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sigFile)))
        let ours = try (0..<3).map { try f.delegates[$0].signature(for: bytes).derRepresentation }
        let entry = try f.fund.submit(.release, payloadBytes: bytes, signatureFiles: [theirs] + ours, time: f.now)
        #expect(entry.signatures.count == 4 && entry.signatures.allSatisfy { $0.signature.isLowS })
    }

    @Test("rotation needs the threshold of the old set and of the new set")
    func rotation() throws {
        let f = try Fixture()
        let newcomers = try (0..<3).map { _ in try PrivateKey(generatingOn: .p256) }
        // New set: old delegates 1-4 (0-based 0...3) plus three newcomers; threshold 4.
        var set = Array(f.state.delegates.prefix(4))
        set += newcomers.enumerated().map { Delegate(key: $0.element.publicKey, platform: "new-\($0.offset)") }
        let fields: [String: JSONValue] = ["delegates": Payloads.json(set), "threshold": 4, "petitionThreshold": 100]
        let payload = Payloads.make(.rotate, for: f.state, expires: f.expiry, fields: fields)
        // Only old delegates 5, 6, 7 (not in the new set) plus 1: 4 of the old, 1 of the new.
        let onlyOld = refusal { try f.fund.submit(.rotate, payload: payload, signatures: try Payloads.sign(payload, with: [f.delegates[0], f.delegates[4], f.delegates[5], f.delegates[6]]), time: f.now) }
        #expect(onlyOld?.rule == .threshold && onlyOld?.reason.contains("needs 4 distinct approvals of the new delegate set v2 as well, found 1") == true)
        // Only the new set's newcomers plus one shared delegate: 4 of the new, 1 of the old.
        let onlyNew = refusal { try f.fund.submit(.rotate, payload: payload, signatures: try Payloads.sign(payload, with: newcomers + [f.delegates[0]]), time: f.now) }
        #expect(onlyNew?.rule == .threshold && onlyNew?.reason.contains("needs 4 distinct delegate approvals for delegate set v1, found 1") == true)
        // Both: old 0...3 are in both sets, so four signatures satisfy both thresholds.
        try f.fund.submit(.rotate, payload: payload, signatures: try Payloads.sign(payload, with: Array(f.delegates.prefix(4))), time: f.now)
        #expect(f.state.delegateSet == 2 && f.state.delegates.count == 7)
        // A delegate who left no longer counts.
        let gone = refusal { try f.delegateAction(.admit, ["member": "x", "platform": "X", "key": .string(Hex.encode(try PrivateKey(generatingOn: .p256).publicKey.derRepresentation)), "size": "0"], signers: [0, 1, 2, 6]) }
        #expect(gone?.rule == .unauthorizedSigner)
    }
}
