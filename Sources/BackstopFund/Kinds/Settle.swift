import BackstopLedger

/// Records that a pending release was paid, at or after its payable time. Signed by the
/// delegate threshold.
public struct SettlePayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.settle
    /// The release.
    public let release: String
    /// The payout reference, such as the transaction ids.
    public let reference: String

    /// A settlement.
    public init(release: String, reference: String) {
        self.release = release
        self.reference = reference
    }

    init(reading r: inout FieldReader) throws(FundError) {
        release = try r.identifier("release")
        reference = try r.text("reference", maxBytes: 1_000)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] { ["release": .string(release), "reference": .string(reference)] }

    func describe(_ screen: inout Screen) {
        screen.line("settles", "release \(release)")
        describeRelease(release, &screen)
        screen.text("reference", reference)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let paid = state.releases[release].map { $0.totals.sorted { $0.key < $1.key }.map { state.show($0.value, $0.key) }.joined(separator: ", ") } ?? "?"
        return "release \(release) settled (\(paid) paid), ref \(SafeText.show(reference))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("settling a release") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        let pending = try state.pendingRelease(release)
        let delay = pending.payableAt.secondsSinceEpoch - pending.approvedAt.secondsSinceEpoch
        guard state.witnesses != nil else {
            // A fund from before witnesses: the entry times alone, as its host set them.
            guard entry.time >= pending.payableAt else {
                throw FundError(.tooEarly, "release \(release) becomes payable at \(pending.payableAt) (approved \(pending.approvedAt) + \(Words.duration(delay)) delay); entry time is \(entry.time)")
            }
            return
        }
        // The delay runs in witnessed time: from when a quorum of witnesses had seen the
        // release in a checkpoint, to a later checkpoint whose quorum attests the delay passed.
        guard let seen = pending.witnessedAt else {
            throw FundError(.tooEarly, "release \(release) is in no recorded checkpoint yet; its \(Words.duration(delay)) delay runs from the time its witnesses see it")
        }
        guard let due = seen.adding(seconds: delay) else {
            throw FundError(.tooEarly, "release \(release) was witnessed at \(seen); its \(Words.duration(delay)) delay runs past year 9999, so it can never become payable")
        }
        guard let witnessed = state.witnessedTime, witnessed >= due else {
            throw FundError(.tooEarly, "release \(release) was witnessed at \(seen) and becomes payable when a checkpoint cosigned at or after \(due) (\(Words.duration(delay)) later) is recorded; the fund's witnessed time is \(state.witnessedTime?.description ?? "not yet set")")
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        let pending = state.releases[release]!
        for (asset, total) in pending.totals {
            state.balances[asset]!.reserved = state.balances[asset]!.reserved - total
            state.balances[asset]!.paid = state.balances[asset]!.paid + total
            if state.reserves != nil { state.paidSinceAttestation[asset, default: .zero] += total }
            state.claims[pending.claim]!.paid[asset] = (state.claims[pending.claim]!.paid[asset] ?? .zero) + total
        }
        state.releases[release]?.status = .settled
        state.lastSettledAt = entry.time
        state.releases[release]?.reference = reference
    }
}
