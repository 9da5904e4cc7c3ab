import BackstopLedger

/// Approves payouts for a claim and reserves the money; settled after the release delay.
/// Signed by the delegate threshold.
public struct ReleasePayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.release
    /// The claim it pays.
    public let claim: String
    /// The transfers.
    public let payouts: [Payout]
    /// The restitution list the payouts to its destination fund, when there is one.
    public let restitution: RestitutionSummary?

    /// A release.
    public init(claim: String, payouts: [Payout], restitution: RestitutionSummary? = nil) {
        self.claim = claim
        self.payouts = payouts
        self.restitution = restitution
    }

    init(reading r: inout FieldReader) throws(FundError) {
        claim = try r.identifier("claim")
        var payouts: [Payout] = []
        for (index, item) in try r.array("payouts", count: FundLimits.payouts).enumerated() {
            payouts.append(try readObject(item, context: "release payout \(index + 1)") { (p: inout FieldReader) throws(FundError) in
                Payout(asset: try p.assetSymbol("asset"), amount: try p.amount("amount"), payee: try p.text("payee", maxBytes: 200),
                       destination: try p.destination("destination"))
            })
        }
        self.payouts = payouts
        restitution = try r.value("restitution").map { value throws(FundError) in try RestitutionSummary.read(value) }
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["claim": .string(claim), "payouts": .array(payouts.map {
            ["asset": .string($0.asset), "amount": .string($0.amount.description), "payee": .string($0.payee), "destination": .string($0.destination)]
        })]
        if let restitution { fields["restitution"] = restitution.json }
        return fields
    }

    /// Per-asset totals of the payouts.
    public var totals: [String: Amount] {
        payouts.reduce(into: [:]) { $0[$1.asset] = ($0[$1.asset] ?? .zero) + $1.amount }
    }

    func assetsNamed(in state: FundState) -> [String] { totals.keys.sorted() }

    func describe(_ screen: inout Screen) {
        var claimLine = claim
        if let known = screen.state?.claims[claim] {
            claimLine += " (\(SafeText.show(known.platform)), \(known.accounts) accounts, \(known.member.map { "filed by member \($0)" } ?? "filed by petition"))"
        }
        screen.line("for claim", claimLine)
        for (index, payout) in payouts.enumerated() {
            screen.line("payout \(index + 1)", screen.amount(payout.amount, payout.asset))
            screen.text("  payee", payout.payee)
            screen.line("  destination", payout.destination)
        }
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) {
            var line = screen.amount(total, asset)
            if let state = screen.state, let balance = state.balances[asset] {
                line += "; the fund has \(state.show(balance.available, asset)) available"
                if let remaining = state.claims[claim]?.remaining[asset] { line += ", the claim \(state.show(remaining, asset)) remaining" }
            }
            screen.line("total", line)
        }
        if let restitution { restitution.describe(&screen, capped: screen.state?.safeguards.accountCaps) }
        if let delay = screen.state?.releaseDelaySeconds {
            screen.line("payable", "\(Words.duration(delay)) after it is recorded")
        }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let pays = payouts.map { "\(state.show($0.amount, $0.asset)) -> \($0.destination)" }.joined(separator: ", ")
        let payable = entry.time.adding(seconds: state.releaseDelaySeconds).map { "; payable from \($0)" } ?? ""
        return "release \(entry.header.id) for claim \(claim): \(pays)\(payable)"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("release") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        let open = try state.openClaim(claim)
        for payout in payouts { _ = try state.requireAsset(payout.asset, "release payout") }
        for (asset, total) in totals.sorted(by: { $0.key < $1.key }) {
            let loss = open.losses[asset] ?? .zero
            let committed = open.committed[asset] ?? .zero
            guard committed + total <= loss else {
                throw FundError(.overClaim, "release of \(state.show(total, asset)) would bring claim \(claim) to \(state.show(committed + total, asset)), above its stated loss of \(state.show(loss, asset))")
            }
            let available = state.balances[asset]!.available
            guard total <= available else {
                throw FundError(.overBalance, "release of \(state.show(total, asset)) is more than the \(state.show(available, asset)) available")
            }
            if let attested = state.attestedAvailable(asset), total > attested {
                let last = state.reserves.map { "the last attestation (\($0.asOf)) shows \(state.show($0.holdings[asset] ?? .zero, asset))" } ?? "no reserves were ever attested"
                throw FundError(.overReserves, "release of \(state.show(total, asset)) is more than the \(state.show(attested, asset)) the fund's wallets can be shown to hold: \(last), less what is reserved and paid since; record a reserves entry first")
            }
        }
        if let restitution { try restitution.check(payouts: payouts, claim: open, state: state) }
        guard entry.time.adding(seconds: state.releaseDelaySeconds) != nil else {
            throw FundError(.invalidParameter, "release delay runs past year 9999")
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        let totals = self.totals
        for (asset, total) in totals {
            state.balances[asset]!.reserved = state.balances[asset]!.reserved + total
            state.claims[claim]!.committed[asset] = (state.claims[claim]!.committed[asset] ?? .zero) + total
        }
        state.releases[entry.header.id] = Release(
            id: entry.header.id, approvedSeq: entry.seq, claim: claim, payouts: payouts, totals: totals, status: .pending,
            approvedAt: entry.time, payableAt: entry.time.adding(seconds: state.releaseDelaySeconds)!, reference: nil, restitution: restitution)
    }
}
