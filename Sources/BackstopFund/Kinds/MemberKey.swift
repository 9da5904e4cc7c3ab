import BackstopCrypto
import BackstopLedger

/// Replaces a member's key. Signed by the member's current key and the delegate threshold.
public struct MemberKeyPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.memberKey
    /// The member.
    public let member: String
    /// The new key.
    public let key: PublicKey
    /// The fingerprint of the key it replaces, so the signer sees the change; when present
    /// it must be the member's current key (`staleState`).
    public let previousKey: String?

    /// A key change.
    public init(member: String, key: PublicKey, previousKey: String?) {
        self.member = member
        self.key = key
        self.previousKey = previousKey
    }

    init(reading r: inout FieldReader) throws(FundError) {
        member = try r.identifier("member")
        key = try r.key("key")
        previousKey = r.has("previousKey") ? try r.hash("previousKey") : nil
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["member": .string(member), "key": .string(Hex.encode(key.derRepresentation))]
        if let previousKey { fields["previousKey"] = .string(previousKey) }
        return fields
    }

    func describe(_ screen: inout Screen) {
        screen.line("member", member + (screen.state?.members[member].map { " (\(SafeText.show($0.platform)))" } ?? ""))
        let old = screen.state?.members[member]?.key.fingerprint ?? previousKey
        screen.line("key", "\(old ?? "(current key not stated)") -> \(key.fingerprint) (\(key.curve.rawValue))")
        if old == nil { screen.warn("the payload does not state the key it replaces (give --ledger to see it)") }
        if let state = screen.state, let previousKey, state.members[member]?.key.fingerprint != previousKey {
            screen.warn("the payload replaces key \(previousKey), but member \(member)'s current key is \(state.members[member]?.key.fingerprint ?? "unknown"): the rules will refuse it")
        }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "member \(member)'s key \(state.members[member]?.key.fingerprint.prefix(16) ?? "?")… -> \(key.fingerprint.prefix(16))…"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy {
        let current = try state.requireMember(member)
        return SignerPolicy(action: "rotating a member key", groups: [
            SignerGroup(role: .delegates(set: state.delegateSet), keys: state.delegateKeys, threshold: state.threshold),
            SignerGroup(role: .member(member), keys: [NamedKey(name: "member \(member)", key: current.key)], threshold: 1),
        ])
    }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        let current = try state.requireMember(member)
        if let previousKey, previousKey != current.key.fingerprint {
            throw FundError(.staleState, "the payload replaces key \(previousKey), but member \(member)'s current key is \(current.key.fingerprint)")
        }
        if let user = state.keyInUse(key) { throw FundError(.duplicateKey, "key \(key.fingerprint) is already used by \(user)") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.members[member]?.key = key
    }
}
