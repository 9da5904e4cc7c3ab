import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Batched appends: one write and one fsync, all or nothing")
struct BatchTests {
    func contribution(_ f: Fixture, member: String, key: PrivateKey, amount: String, id: String = Payloads.newId()) throws -> Fund.BatchItem {
        let payload = Payloads.make(ContributionPayload(member: member, asset: "USDC", amount: Amount(minorUnits: amount)!, period: 0, reference: "tx-\(id)"),
                                    for: f.state, id: id, expires: f.expiry)
        return Fund.BatchItem(kind: .contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]))
    }

    @Test("a batch of 300 is appended in order and verifies; a batch with one bad action appends nothing and leaves the state as it was")
    func allOrNothing() throws {
        let f = try Fixture()
        let key = try f.admit("m")
        let items = try (0..<300).map { try contribution(f, member: "m", key: key, amount: "\($0 + 1)") }
        let entries = try f.fund.submit(batch: items, time: f.now)
        #expect(entries.map(\.seq) == Array(2..<302) && f.state.entryCount == 302)
        #expect(f.state.balances["USDC"]!.contributed == Amount(300 * 301 / 2))
        let (replayed, _) = try Fund.verify(file: f.fund.file!)
        #expect(replayed == f.state)

        let before = try Data(contentsOf: f.fund.file!), state = f.state
        // A replayed id in the middle (rules), a bad signature at the end (crypto), an action
        // for a member that does not exist: each refuses the whole batch.
        var replay = try (0..<5).map { _ in try contribution(f, member: "m", key: key, amount: "1") }
        replay[3] = try contribution(f, member: "m", key: key, amount: "1", id: replay[1].payload["id"]!.stringValue!)
        let replayed3 = #expect(throws: FundError.self) { try f.fund.submit(batch: replay, time: f.now) }
        #expect(replayed3?.rule == .replayedId && replayed3?.seq == 305)
        var forged = try (0..<5).map { _ in try contribution(f, member: "m", key: key, amount: "1") }
        let other = try PrivateKey(generatingOn: .p256)
        forged[4] = Fund.BatchItem(kind: .contribution, payload: forged[4].payload,
                                   signatures: [EntrySignature(publicKey: key.publicKey, signature: try other.signature(for: Canonical.encode(forged[4].payload)))])
        let bad = #expect(throws: FundError.self) { try f.fund.submit(batch: forged, time: f.now) }
        #expect(bad?.rule == .unauthorizedSigner && bad?.seq == 306)
        let stranger = [try contribution(f, member: "m", key: key, amount: "1"), try contribution(f, member: "nobody", key: key, amount: "1")]
        #expect(throws: FundError.self) { try f.fund.submit(batch: stranger, time: f.now) }
        #expect(try Data(contentsOf: f.fund.file!) == before && f.state == state)
        // And the fund goes on.
        try f.fund.submit(batch: [try contribution(f, member: "m", key: key, amount: "7")], time: f.now)
        #expect(f.state.entryCount == 303)
    }

    @Test("an entry's line built around its body's bytes is its canonical encoding")
    func lineIsCanonical() throws {
        let keys = try (0..<3).map { index in try PrivateKey(generatingOn: index == 2 ? .secp256k1 : .p256) }
        let bodies: [JSONValue] = [
            ["a": 1], ["domain": "x", "text": "é \u{1F600} \"quoted\" \\ \n\t\u{1}", "n": -5, "list": [true, false, .null, ["z": "y"]]], [:],
            ["\u{FF61}": 1, "\u{1F600}": 2, "B": 3, "a": 4],
        ]
        for (index, body) in bodies.enumerated() {
            let signatures = try keys.prefix(index).map { key in EntrySignature(publicKey: key.publicKey, signature: try key.signature(for: Canonical.encode(body))) }
            let entry = try Entry(seq: Int64(index * 1_000), prev: [UInt8](repeating: UInt8(index), count: 32), time: Timestamp("2026-05-01T12:34:56Z")!,
                                  kind: "kind-\(index)", body: body, signatures: signatures)
            #expect(entry.line == Canonical.encode(entry.json))
            #expect(entry.firstInvalidSignature() == nil)
            let decoded = try Entry.decode(line: entry.line, expectedSeq: entry.seq)
            #expect(decoded.firstInvalidSignature() == nil && decoded.line == entry.line)
        }
    }
}
