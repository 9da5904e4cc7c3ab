import BackstopCrypto
import BackstopLedger

/// Admits a member platform with its key and declared size. Signed by the delegate threshold.
public struct AdmitPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.admit
    /// The new member's id.
    public let member: String
    /// The platform's name.
    public let platform: String
    /// The key that will sign the member's contributions and claims.
    public let key: PublicKey
    /// Declared size in minor units of the dues asset; it scales the member's dues.
    public let size: Amount
    /// Where the platform is registered (a jurisdiction code such as `SG`), if stated.
    public let jurisdiction: String?

    /// An admission.
    public init(member: String, platform: String, key: PublicKey, size: Amount, jurisdiction: String? = nil) {
        self.member = member
        self.platform = platform
        self.key = key
        self.size = size
        self.jurisdiction = jurisdiction
    }

    init(reading r: inout FieldReader) throws(FundError) {
        member = try r.identifier("member")
        platform = try r.text("platform", maxBytes: 200)
        key = try r.key("key")
        size = try r.amount("size", allowZero: true)
        jurisdiction = r.has("jurisdiction") ? try r.identifier("jurisdiction") : nil
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["member": .string(member), "platform": .string(platform), "key": .string(Hex.encode(key.derRepresentation)), "size": .string(size.description)]
        if let jurisdiction { fields["jurisdiction"] = .string(jurisdiction) }
        return fields
    }

    func assetsNamed(in state: FundState) -> [String] { [state.policy.asset] }

    func describe(_ screen: inout Screen) {
        screen.line("member", member)
        screen.text("platform", platform)
        screen.line("key", "\(key.fingerprint) (\(key.curve.rawValue))")
        screen.line("jurisdiction", jurisdiction ?? "not stated")
        if let policy = screen.state?.policy {
            screen.line("size", "\(screen.amount(size, policy.asset)) declared; dues \(screen.amount(policy.dues(size: size), policy.asset)) per \(Words.duration(policy.periodSeconds))")
        } else if let (asset, _) = screen.header.units?.first, screen.header.units?.count == 1 {
            screen.line("size", "\(screen.amount(size, asset)) declared (the dues asset)")
        } else {
            screen.line("size", "\(size) minor units of the dues asset (its decimals are not stated)")
            screen.warn("the payload does not state the dues asset or its decimals: the size is shown in minor units (give --ledger to see units)")
        }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "admitted member \(member) (\(SafeText.show(platform))), declared size \(state.show(size, state.policy.asset)), key \(key.fingerprint.prefix(16))…"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("admitting a member") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        guard state.members[member] == nil else { throw FundError(.duplicateMember, "member \"\(member)\" is already admitted") }
        if let user = state.keyInUse(key) { throw FundError(.duplicateKey, "key \(key.fingerprint) is already used by \(user)") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.members[member] = Member(id: member, platform: platform, key: key, size: size, status: .active, admittedAt: entry.time, jurisdiction: jurisdiction)
    }
}
