import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// Every limit of Docs/RULES.md section 9.1, at the limit (accepted) and one past it
/// (refused with the code the table names).
@Suite("Limits: each at its limit and one past it")
struct LimitTests {
    /// How a payload of `kind` with `fields` reads: nil when its form is accepted.
    func read(_ f: Fixture, _ kind: EntryKind, _ fields: [String: JSONValue]) -> FundError.Rule? {
        do {
            _ = try Payload(Payloads.make(kind, for: f.state, expires: f.expiry, fields: fields))
            return nil
        } catch {
            return error.rule
        }
    }

    func text(_ count: Int) -> JSONValue { .string(String(repeating: "x", count: count)) }

    @Test("strings, lists and numbers in payloads")
    func payloadFields() throws {
        let (f, _) = try Fixture.withClaim()
        let key = JSONValue.string(Hex.encode(try PrivateKey(generatingOn: .p256).publicKey.derRepresentation))
        func admit(member: JSONValue = "m", platform: JSONValue = "P") -> [String: JSONValue] { ["member": member, "platform": platform, "key": key, "size": "0"] }
        func payouts(_ count: Int, destination: String = "addr") -> [String: JSONValue] {
            ["claim": "c1", "payouts": .array((0..<count).map { _ in ["asset": "BTC", "amount": "1", "payee": "p", "destination": .string(destination)] })]
        }
        func claim(_ change: (inout [String: JSONValue]) -> Void) -> [String: JSONValue] {
            var fields = f.claimFields(losses: ["BTC": "1"], member: "big")
            change(&fields)
            return fields
        }
        let cases: [(String, EntryKind, [String: JSONValue], [String: JSONValue], FundError.Rule)] = [
            ("identifier, 64 characters", .admit, admit(member: text(64)), admit(member: text(65)), .malformedPayload),
            ("platform, 200 bytes", .admit, admit(platform: text(200)), admit(platform: text(201)), .malformedPayload),
            ("destination, 200 characters", .release, payouts(1, destination: String(repeating: "d", count: 200)), payouts(1, destination: String(repeating: "d", count: 201)), .malformedPayload),
            ("payouts in a release, 1,000", .release, payouts(1_000), payouts(1_001), .malformedPayload),
            ("claim description, 10,000 bytes", .claim, claim { $0["description"] = text(10_000) }, claim { $0["description"] = text(10_001) }, .malformedPayload),
            ("evidence hashes, 256", .claim, claim { $0["evidence"] = .array(Array(repeating: .string(String(repeating: "ab", count: 32)), count: 256)) },
             claim { $0["evidence"] = .array(Array(repeating: .string(String(repeating: "ab", count: 32)), count: 257)) }, .malformedPayload),
            ("accounts, 2^53 - 1", .claim, claim { $0["accounts"] = .integer(JSONValue.maximumInteger) }, claim { $0["accounts"] = .integer(JSONValue.maximumInteger + 1) }, .malformedPayload),
            ("amount, 10^40 minor units", .contribution,
             ["member": "big", "asset": "USDC", "amount": .string("1" + String(repeating: "0", count: 40)), "period": 0, "reference": "r"],
             ["member": "big", "asset": "USDC", "amount": .string("1" + String(repeating: "0", count: 39) + "1"), "period": 0, "reference": "r"], .invalidAmount),
            ("contribution reference, 256 bytes", .contribution,
             ["member": "big", "asset": "USDC", "amount": "1", "period": 0, "reference": text(256)],
             ["member": "big", "asset": "USDC", "amount": "1", "period": 0, "reference": text(257)], .malformedPayload),
            ("cancel reason, 2,000 bytes", .cancel, ["release": "r", "reason": text(2_000)], ["release": "r", "reason": text(2_001)], .malformedPayload),
            ("settle reference, 1,000 bytes", .settle, ["release": "r", "reference": text(1_000)], ["release": "r", "reference": text(1_001)], .malformedPayload),
            ("receipt confirmations, 1,000", .receipt,
             ["confirms": .array((0..<1_000).map { ["member": "big", "contribution": .string("c\($0)"), "asset": "USDC", "received": "1"] }), "reference": "r"],
             ["confirms": .array((0..<1_001).map { ["member": "big", "contribution": .string("c\($0)"), "asset": "USDC", "received": "1"] }), "reference": "r"], .malformedPayload),
            ("wallets of a holding, 256", .reserves,
             ["asOf": .string(f.now.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": .array((0..<256).map { .string("w\($0)") })]]],
             ["asOf": .string(f.now.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": .array((0..<257).map { .string("w\($0)") })]]], .malformedPayload),
            ("holdings, 32 assets", .reserves,
             ["asOf": .string(f.now.description), "holdings": .array((0..<32).map { ["asset": .string("A\($0)"), "amount": "1", "wallets": ["w"]] })],
             ["asOf": .string(f.now.description), "holdings": .array((0..<33).map { ["asset": .string("A\($0)"), "amount": "1", "wallets": ["w"]] })], .malformedPayload),
            ("identifier, not empty", .admit, admit(member: "m"), admit(member: ""), .malformedPayload),
            ("asset symbol, 12 characters", .reserves,
             ["asOf": .string(f.now.description), "holdings": [["asset": .string(String(repeating: "A", count: 12)), "amount": "1", "wallets": ["w"]]]],
             ["asOf": .string(f.now.description), "holdings": [["asset": .string(String(repeating: "A", count: 13)), "amount": "1", "wallets": ["w"]]]], .malformedPayload),
            ("wallet, 200 characters", .reserves,
             ["asOf": .string(f.now.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": [.string(String(repeating: "w", count: 200))]]]],
             ["asOf": .string(f.now.description), "holdings": [["asset": "BTC", "amount": "1", "wallets": [.string(String(repeating: "w", count: 201))]]]], .malformedPayload),
            ("payee, 200 bytes", .release,
             ["claim": "c1", "payouts": [["asset": "BTC", "amount": "1", "payee": text(200), "destination": "d"]]],
             ["claim": "c1", "payouts": [["asset": "BTC", "amount": "1", "payee": text(201), "destination": "d"]]], .malformedPayload),
            ("firm, 200 bytes", .assessor,
             ["assessor": "a", "firm": text(200), "key": key, "active": true], ["assessor": "a", "firm": text(201), "key": key, "active": true], .malformedPayload),
            ("receipt reference, 1,000 bytes", .receipt,
             ["confirms": [["member": "big", "contribution": "c", "asset": "USDC", "received": "1"]], "reference": text(1_000)],
             ["confirms": [["member": "big", "contribution": "c", "asset": "USDC", "received": "1"]], "reference": text(1_001)], .malformedPayload),
            ("reject reason, 2,000 bytes", .reject, ["claim": "c1", "reason": text(2_000)], ["claim": "c1", "reason": text(2_001)], .malformedPayload),
            ("member-status reason, 2,000 bytes", .memberStatus, ["member": "big", "status": "active", "reason": text(2_000)], ["member": "big", "status": "active", "reason": text(2_001)], .malformedPayload),
            ("accounts, at least 1", .claim, claim { $0["accounts"] = 1 }, claim { $0["accounts"] = 0 }, .malformedPayload),
            ("registry platforms, 10,000", .registry,
             ["jurisdiction": "SG", "asOf": .string(f.now.description), "platforms": .array((0..<10_000).map { .string("p\($0)") })],
             ["jurisdiction": "SG", "asOf": .string(f.now.description), "platforms": .array((0..<10_001).map { .string("p\($0)") })], .malformedPayload),
        ]
        for (what, kind, atLimit, pastLimit, code) in cases {
            #expect(read(f, kind, atLimit) == nil, "\(what): at the limit")
            #expect(read(f, kind, pastLimit) == code, "\(what): past the limit")
        }
    }

    @Test("safeguards: jurisdictions 64, receipt deadline one hour to one year; restitution lists 10^8 amounts")
    func safeguardsAndLists() throws {
        let (f, _) = try Fixture.withClaim()
        func policy(_ safeguards: JSONValue) -> [String: JSONValue] {
            ["policy": f.state.policy.json, "releaseDelaySeconds": .integer(f.state.releaseDelaySeconds), "safeguards": safeguards]
        }
        func safeguards(jurisdictions: Int = 0, seconds: Int64 = 86_400) -> JSONValue {
            ["receiptSeconds": .integer(seconds), "accountCaps": [:], "claimsNeedAssessments": false,
             "mandatoryJurisdictions": .array((0..<jurisdictions).map { .string("J\($0)") })]
        }
        #expect(read(f, .policy, policy(safeguards(jurisdictions: 64))) == nil)
        #expect(read(f, .policy, policy(safeguards(jurisdictions: 65))) == .malformedPayload)
        #expect(read(f, .policy, policy(safeguards(seconds: 3_600))) == nil && read(f, .policy, policy(safeguards(seconds: 3_599))) == .malformedPayload)
        #expect(read(f, .policy, policy(safeguards(seconds: 31_536_000))) == nil && read(f, .policy, policy(safeguards(seconds: 31_536_001))) == .malformedPayload)
        func release(leaves: Int64) -> [String: JSONValue] {
            ["claim": "c1", "payouts": [["asset": "BTC", "amount": "1", "payee": "p", "destination": "pool"]],
             "restitution": ["root": .string(String(repeating: "ab", count: 32)), "leaves": .integer(leaves), "accounts": 1, "destination": "pool",
                             "totals": ["BTC": "1"], "largest": ["BTC": "1"]]]
        }
        #expect(read(f, .release, release(leaves: 100_000_000)) == nil && read(f, .release, release(leaves: 100_000_001)) == .malformedPayload)
    }

    @Test("genesis: 32 assets of at most 36 decimals, 64 delegates, a petition threshold of at most 1,024")
    func genesis() throws {
        let keys = try (0..<65).map { _ in try PrivateKey(generatingOn: .p256) }
        let policy = ContributionPolicy(asset: "A0", ratePerMillion: 0, floor: .zero, cap: .zero, periodSeconds: 86_400, graceSeconds: 0)
        func genesis(assets: Int = 1, decimals: Int = 6, delegates: Int = 7, petition: Int = 100) -> FundError.Rule? {
            let json = Payloads.genesis(expires: Timestamp("2030-01-01T00:00:00Z")!, name: "G", assets: (0..<assets).map { ("A\($0)", decimals) },
                                        delegates: keys.prefix(delegates).enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") },
                                        threshold: delegates / 2 + 1, petitionThreshold: petition, policy: policy)
            do { _ = try Payload(json); return nil } catch { return error.rule }
        }
        #expect(genesis(assets: 32) == nil && genesis(assets: 33) == .malformedPayload)
        #expect(genesis(decimals: 36) == nil && genesis(decimals: 37) == .malformedPayload)
        #expect(genesis(delegates: 64) == nil && genesis(delegates: 65) == .malformedPayload)
        #expect(genesis(petition: 1_024) == nil && genesis(petition: 1_025) == .malformedPayload)
        #expect(genesis(petition: 1) == nil && genesis(petition: 0) == .malformedPayload)
        #expect(genesis(assets: 1) == nil && genesis(assets: 0) == .malformedPayload)
        let named = Payloads.genesis(expires: Timestamp("2030-01-01T00:00:00Z")!, name: String(repeating: "n", count: 201), assets: [("A0", 6)],
                                     delegates: keys.prefix(7).enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") }, policy: policy)
        #expect(throws: FundError.self) { try Payload(named) }   // a fund name of 201 bytes
    }

    @Test("entries: 1,024 signatures and a line of 1 MiB; JSON nested 32 deep")
    func entries() throws {
        let keys = try (0..<1_025).map { _ in try PrivateKey(generatingOn: .p256) }
        let body: JSONValue = ["domain": "backstop/v1/test"]
        let bytes = Canonical.encode(body)
        let signatures = try keys.map { EntrySignature(publicKey: $0.publicKey, signature: try $0.signature(for: bytes)) }
        _ = try Entry(seq: 0, prev: Entry.genesisPrev, time: Timestamp("2026-01-01T00:00:00Z")!, kind: "test", body: body, signatures: Array(signatures.prefix(1_024)))
        let tooMany = #expect(throws: LedgerError.self) { try Entry(seq: 0, prev: Entry.genesisPrev, time: Timestamp("2026-01-01T00:00:00Z")!, kind: "test", body: body, signatures: signatures) }
        #expect(tooMany?.code == .invalidEntry)

        func line(padding: Int) throws -> PreparedEntry {
            try PreparedEntry(checking: try Entry(seq: 0, prev: Entry.genesisPrev, time: Timestamp("2026-01-01T00:00:00Z")!, kind: "test",
                                                  body: ["pad": .string(String(repeating: "x", count: padding))], signatures: []))
        }
        let overhead = try line(padding: 0).line.count
        #expect(try line(padding: Entry.maximumLineBytes - overhead).line.count == Entry.maximumLineBytes)
        let tooLong = #expect(throws: LedgerError.self) { try line(padding: Entry.maximumLineBytes - overhead + 1) }
        #expect(tooLong?.code == .invalidEntry)

        let deep = Array(repeating: UInt8(ascii: "["), count: 32) + Array(repeating: UInt8(ascii: "]"), count: 32)
        #expect(throws: Never.self) { try JSONParser.parse(deep) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse([UInt8(ascii: "[")] + deep + [UInt8(ascii: "]")]) }
    }

    @Test("open petitions: 3 about one platform and 64 in a fund; a rejected one makes room")
    func openPetitions() throws {
        let f = try Fixture(petitionThreshold: 1, witnesses: nil, version: 2)
        let user = try PrivateKey(generatingOn: .p256)
        func petition(_ platform: String, _ n: Int) throws -> String {
            let body = ClaimPayload(member: nil, platform: platform, description: "drained \(n)", incidentTime: Fixture.start, accounts: 1, losses: ["USDC": Amount(5)], evidence: [])
            let payload = Payloads.petition(body, for: f.state, expires: f.expiry)
            try f.fund.submit(.claim, payload: payload, signatures: try Payloads.sign(payload, with: [user]), time: f.now)
            return payload["id"]!.stringValue!
        }
        let first = try petition("Broker C", 0)
        for n in 1..<3 { _ = try petition("Broker C", n) }
        #expect(refusal { _ = try petition("Broker C", 3) }?.rule == .tooManyPetitions)
        try f.delegateAction(.reject, ["claim": .string(first), "reason": "duplicate"])
        _ = try petition("Broker C", 3)
        for n in 0..<61 { _ = try petition("Platform \(n)", n) }
        #expect(f.state.claims.values.filter { $0.member == nil && $0.isOutstanding }.count == 64)
        let full = refusal { _ = try petition("Platform 99", 99) }
        #expect(full?.rule == .tooManyPetitions && full?.reason.contains("64 petitions are open") == true)
    }
}
