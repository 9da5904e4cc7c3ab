import BackstopCrypto
import BackstopLedger

/// Builders for the payloads people sign. Each payload is written to a file as its canonical
/// bytes, and those bytes are what every signature covers.
///
/// A payload for a fund carries, besides the kind's own fields, what a signer without the
/// ledger needs to read it: the delegates of the set it is for (`roster`) and the decimals
/// of every asset it names (`units`). The rules check both against the fund.
public enum Payloads {
    /// A fresh unique id: 128 random bits in hex.
    public static func newId() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The genesis payload. Sign it with at least `threshold` of `delegates`. `version` 1
    /// makes a fund with the rules from before confirmed receipts (for tests of old ledgers).
    public static func genesis(
        id: String = newId(), expires: Timestamp, name: String, assets: [(symbol: String, decimals: Int)],
        delegates: [Delegate], threshold: Int = 4, petitionThreshold: Int = 100,
        policy: ContributionPolicy, releaseDelaySeconds: Int64 = 86_400, witnesses: WitnessPolicy? = .delegates,
        safeguards: Safeguards = .defaults, version: Int64 = RulesVersion.current
    ) -> JSONValue {
        let body = GenesisPayload(name: name, assets: assets.map { AssetDeclaration(symbol: $0.symbol, decimals: $0.decimals) },
                                  delegates: delegates, threshold: threshold, petitionThreshold: petitionThreshold,
                                  policy: policy, releaseDelaySeconds: releaseDelaySeconds, witnesses: witnesses,
                                  version: version, safeguards: version >= 2 ? safeguards : nil)
        let header = PayloadHeader(kind: .genesis, fund: nil, id: id, expires: expires, delegateSet: 1, roster: nil, units: nil)
        return .object(header.fields.merging(body.fields) { header, _ in header })
    }

    /// A delegate set as payloads write it.
    public static func json(_ delegates: [Delegate]) -> JSONValue {
        .array(delegates.map { ["key": .string(Hex.encode($0.key.derRepresentation)), "platform": .string($0.platform)] })
    }

    /// A contribution policy as payloads write it.
    public static func json(_ policy: ContributionPolicy) -> JSONValue { policy.json }

    /// A payload of `body` for the fund in `state`: the common fields (domain, fund, id,
    /// expires; for delegate actions the delegate set and its roster; the units of the
    /// assets it names) plus the body's own.
    public static func make(_ body: some PayloadBody, for state: FundState, id: String = newId(), expires: Timestamp) -> JSONValue {
        make(type(of: body).kind, for: state, id: id, expires: expires, fields: body.fields)
    }

    /// A payload of `kind` for the fund in `state`, from raw `fields` (for tests and tools
    /// that build payloads field by field). The common fields are added as by
    /// ``make(_:for:id:expires:)``; `units` only when the fields read as the kind.
    public static func make(_ kind: EntryKind, for state: FundState, id: String = newId(), expires: Timestamp, fields: [String: JSONValue]) -> JSONValue {
        var units: [String: Int]? = nil
        if let rules = kind.rules, var reader = try? FieldReader(.object(fields), context: kind.rawValue), let body = try? rules.init(reading: &reader) {
            let named = body.assetsNamed(in: state).compactMap { symbol in state.assets[symbol].map { (symbol, $0) } }
            if !named.isEmpty { units = Dictionary(named) { first, _ in first } }
        }
        let delegateAction = kind.isDelegateAction
        let header = PayloadHeader(kind: kind, fund: Hex.encode(state.fundId), id: id, expires: expires,
                                   delegateSet: delegateAction ? state.delegateSet : nil, roster: delegateAction ? state.roster : nil, units: units)
        return .object(fields.merging(header.fields) { _, header in header })
    }

    /// A petition for the fund in `state`: in a version-2 fund its id is derived from its
    /// content (``ClaimPayload/petitionId(_:)``), in a version-1 fund it is `id`.
    public static func petition(_ body: ClaimPayload, for state: FundState, id: String = newId(), expires: Timestamp) -> JSONValue {
        let draft = make(body, for: state, id: id, expires: expires)
        guard state.version >= 2, var fields = draft.objectValue else { return draft }
        fields["id"] = .string(ClaimPayload.petitionId(draft))
        return .object(fields)
    }

    /// A release: `payouts` of (asset, minor units, payee, destination) for `claim`.
    public static func release(for state: FundState, id: String = newId(), expires: Timestamp, claim: String, payouts: [Payout]) -> JSONValue {
        make(ReleasePayload(claim: claim, payouts: payouts), for: state, id: id, expires: expires)
    }

    /// Signs the canonical bytes of `payload` with each key (as `openssl dgst -sha256 -sign` would).
    public static func sign(_ payload: JSONValue, with keys: [PrivateKey]) throws -> [EntrySignature] {
        let bytes = Canonical.encode(payload)
        return try keys.map { EntrySignature(publicKey: $0.publicKey, signature: try $0.signature(for: bytes)) }
    }
}
