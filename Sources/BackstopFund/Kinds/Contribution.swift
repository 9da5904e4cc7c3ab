import BackstopLedger

/// Money a member paid into the fund, as the member declares it. Signed by the member's key
/// alone. In a version-2 fund it counts only once a ``ReceiptPayload`` confirms it.
public struct ContributionPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.contribution
    /// The member paying.
    public let member: String
    /// The asset paid.
    public let asset: String
    /// How much, in minor units.
    public let amount: Amount
    /// The dues period it pays (counted from the genesis time); not after the current one.
    public let period: Int64
    /// External reference, such as the on-chain transaction id.
    public let reference: String

    /// A contribution.
    public init(member: String, asset: String, amount: Amount, period: Int64, reference: String) {
        self.member = member
        self.asset = asset
        self.amount = amount
        self.period = period
        self.reference = reference
    }

    init(reading r: inout FieldReader) throws(FundError) {
        member = try r.identifier("member")
        asset = try r.assetSymbol("asset")
        amount = try r.amount("amount")
        period = try r.integer("period", in: 0...JSONValue.maximumInteger)
        reference = try r.text("reference", maxBytes: 256)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["member": .string(member), "asset": .string(asset), "amount": .string(amount.description), "period": .integer(period), "reference": .string(reference)]
    }

    func assetsNamed(in state: FundState) -> [String] { [asset] }

    func describe(_ screen: inout Screen) {
        screen.line("member", member)
        screen.line("amount", screen.amount(amount, asset))
        if let state = screen.state, let start = state.start(ofPeriod: period), let end = state.start(ofPeriod: period + 1) {
            screen.line("period", "\(period), \(Words.time(start)) to \(Words.time(end))")
        } else {
            screen.line("period", "\(period)")
        }
        screen.text("reference", reference)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "\(member) \(state.version >= 2 ? "declared" : "contributed") \(state.show(amount, asset)) for period \(period), ref \(SafeText.show(reference))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy {
        let current = try state.requireMember(member)
        return SignerPolicy(action: "a contribution", groups: [SignerGroup(role: .member(member), keys: [NamedKey(name: "member \(member)", key: current.key)], threshold: 1)])
    }

    func idScope(_ header: PayloadHeader) -> String { "member \(member)" }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        _ = try state.requireAsset(asset, "contribution")
        let current = state.period(of: entry.time)
        guard period <= current else { throw FundError(.invalidParameter, "contribution for period \(period), but the current period is \(current)") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.memberMoney[member, default: [:]][asset, default: MemberMoney()].declared += amount
        guard state.version < 2 else {
            state.declarations[FundState.declarationKey(member: member, id: entry.header.id)] = Declaration(
                member: member, id: entry.header.id, asset: asset, amount: amount, period: period, reference: reference, declaredAt: entry.time,
                deadline: entry.time.adding(seconds: state.safeguards.receiptSeconds), seq: entry.seq)
            return
        }
        state.memberMoney[member]![asset]!.confirmed += amount
        state.memberMoney[member]![asset]!.closed += amount
        state.balances[asset]!.contributed = state.balances[asset]!.contributed + amount
        if asset == state.policy.asset {
            state.duesPaid[member, default: [:]][period, default: .zero] = (state.duesPaid[member]?[period] ?? .zero) + amount
        }
    }
}
