import BackstopLedger

/// Cancels a pending release and frees its reservation. Signed by the delegate threshold.
public struct CancelPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.cancel
    /// The release.
    public let release: String
    /// Why.
    public let reason: String

    /// A cancellation.
    public init(release: String, reason: String) {
        self.release = release
        self.reason = reason
    }

    init(reading r: inout FieldReader) throws(FundError) {
        release = try r.identifier("release")
        reason = try r.text("reason", maxBytes: 2_000)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] { ["release": .string(release), "reason": .string(reason)] }

    func describe(_ screen: inout Screen) {
        screen.line("cancels", "release \(release)")
        describeRelease(release, &screen)
        screen.text("reason", reason)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "release \(release) cancelled: \(SafeText.show(reason))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("cancelling a release") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        _ = try state.pendingRelease(release)
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        let pending = state.releases[release]!
        for (asset, total) in pending.totals {
            state.balances[asset]!.reserved = state.balances[asset]!.reserved - total
            state.claims[pending.claim]!.committed[asset] = state.claims[pending.claim]!.committed[asset]! - total
        }
        state.releases[release]?.status = .cancelled
    }
}

/// With a ledger, the lines of the release a cancel or settle refers to.
func describeRelease(_ id: String, _ screen: inout Screen) {
    guard let state = screen.state, let release = state.releases[id] else { return }
    screen.line("  status", "\(release.status.rawValue), approved \(Words.time(release.approvedAt)), payable from \(Words.time(release.payableAt))")
    for payout in release.payouts {
        screen.line("  pays", "\(state.show(payout.amount, payout.asset)) to \(SafeText.show(payout.payee)) at \(payout.destination)")
    }
}
