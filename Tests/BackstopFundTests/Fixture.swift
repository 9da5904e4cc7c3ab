import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// A fund with 7 delegates, three assets, and an injected clock, in a temporary folder.
///
/// By default a rules-version-1 fund (contributions count when declared), so that the tests
/// of the rules both versions share stay short; `version: 2` makes a fund with receipts,
/// reserve attestations and per-signer ids (MoneyTests).
final class Fixture {
    let directory: URL
    let delegates: [PrivateKey]
    let fund: Fund
    /// The injected clock: tests move it forward; nothing sleeps.
    var now: Timestamp

    static let start = Timestamp("2026-01-01T00:00:00Z")!
    static let policy = ContributionPolicy(
        asset: "USDC", ratePerMillion: 100, floor: Amount(1_000_000_000), cap: Amount(100_000_000_000),
        periodSeconds: 30 * 86_400, graceSeconds: 7 * 86_400)

    init(petitionThreshold: Int = 100, witnesses: WitnessPolicy? = .delegates, version: Int64 = 1, safeguards: Safeguards = .defaults, start: Timestamp = Fixture.start) throws {
        directory = try makeTemporaryDirectory("backstop-fund")
        delegates = try (0..<7).map { try PrivateKey(generatingOn: $0 == 6 ? .secp256k1 : .p256) }
        now = start
        let genesis = Payloads.genesis(
            expires: start.adding(seconds: 86_400)!, name: "Test fund",
            assets: [("BTC", 8), ("ETH", 18), ("USDC", 6)],
            delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "platform-\($0.offset + 1)") },
            petitionThreshold: petitionThreshold, policy: Self.policy, witnesses: witnesses, safeguards: safeguards, version: version)
        fund = try Fund.create(at: directory, genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: now)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Releases the ledger's lock, so that a test can write to it another way.
    func close() { fund.close() }

    var state: FundState { fund.state }
    var expiry: Timestamp { now.adding(seconds: 72 * 3_600)! }

    func advance(seconds: Int64) { now = now.adding(seconds: seconds)! }

    /// Submits a delegate action signed by the delegates at `signers` (0-based).
    @discardableResult
    func delegateAction(_ kind: EntryKind, _ fields: [String: JSONValue], signers: [Int] = [0, 1, 2, 3], id: String = Payloads.newId()) throws -> Entry {
        let payload = Payloads.make(kind, for: state, id: id, expires: expiry, fields: fields)
        return try fund.submit(kind, payload: payload, signatures: try Payloads.sign(payload, with: signers.map { delegates[$0] }), time: now)
    }

    /// Admits a member with a new key and returns the key.
    @discardableResult
    func admit(_ id: String, size: Amount = Amount(0)) throws -> PrivateKey {
        let key = try PrivateKey(generatingOn: .p256)
        try delegateAction(.admit, ["member": .string(id), "platform": .string("Platform \(id)"),
                                    "key": .string(Hex.encode(key.publicKey.derRepresentation)), "size": .string(size.description)])
        return key
    }

    @discardableResult
    func contribute(_ member: String, key: PrivateKey, asset: String, amount: String, period: Int64? = nil, id: String = Payloads.newId()) throws -> Entry {
        let payload = Payloads.make(.contribution, for: state, id: id, expires: expiry, fields: [
            "member": .string(member), "asset": .string(asset), "amount": .string(amount),
            "period": .integer(period ?? state.period(of: now)), "reference": .string("tx-\(id)"),
        ])
        return try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: now)
    }

    func claimFields(losses: [String: String], member: String? = nil) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "filedBy": .string(member == nil ? "petition" : "member"), "platform": "Exchange A",
            "description": "2FA bypass; withdrawals to new addresses", "incidentTime": "2022-01-17T00:00:00Z",
            "accounts": 483, "losses": .object(losses.mapValues { .string($0) }),
            "evidence": [.string(String(repeating: "ab", count: 32))],
        ]
        if let member { fields["member"] = .string(member) }
        return fields
    }

    /// A member files a claim with its key.
    @discardableResult
    func memberClaim(_ member: String, key: PrivateKey, losses: [String: String], id: String = Payloads.newId()) throws -> Entry {
        let payload = Payloads.make(.claim, for: state, id: id, expires: expiry, fields: claimFields(losses: losses, member: member))
        return try fund.submit(.claim, payload: payload, signatures: try Payloads.sign(payload, with: [key]), time: now)
    }

    /// A release payload for `claim`, one payout per asset.
    func releasePayload(claim: String, _ amounts: [String: String], id: String = Payloads.newId()) -> JSONValue {
        Payloads.release(for: state, id: id, expires: expiry, claim: claim, payouts: amounts.sorted { $0.key < $1.key }.map {
            Payout(asset: $0.key, amount: Amount(minorUnits: $0.value)!, payee: "victims", destination: "addr-\($0.key)")
        })
    }

    /// The delegates at `signers` (0-based) cosign the checkpoint of the ledger as it is, at
    /// `time` (default: now), and it is recorded.
    @discardableResult
    func checkpoint(at time: Timestamp? = nil, by signers: [Int] = [0, 1, 2, 3]) throws -> Entry {
        var note = SignedNote(text: fund.checkpoint().text)
        for index in signers {
            let key = delegates[index]
            note = note.adding(try key.cosignature(name: Cosigner.delegateName(key.publicKey), text: note.text, time: (time ?? now).secondsSinceEpoch))
        }
        return try fund.submitCheckpoint(note, time: now)
    }

    /// A funded fund with member "big" that filed claim "c1" for 10 BTC and 1,000 USDC.
    static func withClaim(witnesses: WitnessPolicy? = .delegates) throws -> (Fixture, PrivateKey) {
        let fixture = try Fixture(witnesses: witnesses)
        let key = try fixture.admit("big")
        try fixture.contribute("big", key: key, asset: "BTC", amount: "5000000000")          // 50 BTC
        try fixture.contribute("big", key: key, asset: "USDC", amount: "5000000000")         // 5,000 USDC
        try fixture.memberClaim("big", key: key, losses: ["BTC": "1000000000", "USDC": "1000000000"], id: "c1")
        return (fixture, key)
    }
}

/// The rule a refusal names.
func refusal(_ action: () throws -> Void) -> FundError? {
    do {
        try action()
        return nil
    } catch let error as FundError {
        return error
    } catch {
        Issue.record("expected a FundError, got \(error)")
        return nil
    }
}
