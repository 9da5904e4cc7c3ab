import BackstopLedger

/// Rejects an open claim. Signed by the delegate threshold.
public struct RejectPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.reject
    /// The claim.
    public let claim: String
    /// Why.
    public let reason: String

    /// A rejection.
    public init(claim: String, reason: String) {
        self.claim = claim
        self.reason = reason
    }

    init(reading r: inout FieldReader) throws(FundError) {
        claim = try r.identifier("claim")
        reason = try r.text("reason", maxBytes: 2_000)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] { ["claim": .string(claim), "reason": .string(reason)] }

    func describe(_ screen: inout Screen) {
        screen.line("rejects claim", claim + (screen.state?.claims[claim].map { " (\(SafeText.show($0.platform)), \($0.accounts) accounts)" } ?? ""))
        screen.text("reason", reason)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "claim \(claim) rejected: \(SafeText.show(reason))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("rejecting a claim") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        let open = try state.openClaim(claim)
        if let pending = state.releases.values.first(where: { $0.claim == open.id && $0.status == .pending }) {
            throw FundError(.claimNotOpen, "claim \(claim) has pending release \(pending.id); cancel it before rejecting the claim")
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.claims[claim]?.status = .rejected
    }
}
