import BackstopCrypto
import BackstopLedger

/// Builders for the payloads people sign. Each payload is written to a file as its canonical
/// bytes, and those bytes are what every signature covers.
public enum Payloads {
    /// A fresh unique id: 128 random bits in hex.
    public static func newId() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The genesis payload. Sign it with at least `threshold` of `delegates`.
    public static func genesis(
        id: String = newId(), expires: Timestamp, name: String, assets: [(symbol: String, decimals: Int)],
        delegates: [Delegate], threshold: Int = 4, petitionThreshold: Int = 100,
        policy: ContributionPolicy, releaseDelaySeconds: Int64 = 86_400
    ) -> JSONValue {
        .object([
            "domain": .string(EntryKind.genesis.domain), "id": .string(id), "expires": .string(expires.description),
            "delegateSet": 1, "name": .string(name),
            "assets": .array(assets.map { ["symbol": .string($0.symbol), "decimals": .integer(Int64($0.decimals))] }),
            "delegates": json(delegates), "threshold": .integer(Int64(threshold)),
            "petitionThreshold": .integer(Int64(petitionThreshold)), "policy": json(policy),
            "releaseDelaySeconds": .integer(releaseDelaySeconds),
        ])
    }

    /// A delegate set as payloads write it.
    public static func json(_ delegates: [Delegate]) -> JSONValue {
        .array(delegates.map { ["key": .string(Hex.encode($0.key.derRepresentation)), "platform": .string($0.platform)] })
    }

    /// A contribution policy as payloads write it.
    public static func json(_ policy: ContributionPolicy) -> JSONValue {
        [
            "asset": .string(policy.asset), "ratePerMillion": .integer(policy.ratePerMillion),
            "floor": .string(policy.floor.description), "cap": .string(policy.cap.description),
            "periodSeconds": .integer(policy.periodSeconds), "graceSeconds": .integer(policy.graceSeconds),
        ]
    }

    /// A payload of `kind` for the fund in `state`: the common fields (domain, fund, id,
    /// expires, and the current delegate set for delegate actions) plus `fields`.
    public static func make(_ kind: EntryKind, for state: FundState, id: String = newId(), expires: Timestamp, fields: [String: JSONValue]) -> JSONValue {
        var all = fields
        all["domain"] = .string(kind.domain)
        all["fund"] = .string(Hex.encode(state.fundId))
        all["id"] = .string(id)
        all["expires"] = .string(expires.description)
        if kind.isDelegateAction { all["delegateSet"] = .integer(state.delegateSet) }
        return .object(all)
    }

    /// A release: `payouts` of (asset, minor units, payee, destination) for `claim`.
    public static func release(for state: FundState, id: String = newId(), expires: Timestamp, claim: String, payouts: [Payout]) -> JSONValue {
        make(.release, for: state, id: id, expires: expires, fields: [
            "claim": .string(claim),
            "payouts": .array(payouts.map {
                ["asset": .string($0.asset), "amount": .string($0.amount.description), "payee": .string($0.payee), "destination": .string($0.destination)]
            }),
        ])
    }

    /// Signs the canonical bytes of `payload` with each key (as `openssl dgst -sha256 -sign` would).
    public static func sign(_ payload: JSONValue, with keys: [PrivateKey]) throws -> [EntrySignature] {
        let bytes = Canonical.encode(payload)
        return try keys.map { EntrySignature(publicKey: $0.publicKey, signature: try $0.signature(for: bytes)) }
    }
}
