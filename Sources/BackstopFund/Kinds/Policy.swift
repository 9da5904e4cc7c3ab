import BackstopLedger

/// Replaces the contribution policy's rate, floor, cap and grace, and the release delay.
/// Signed by the delegate threshold.
public struct PolicyPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.policy
    /// The new policy; its asset and period length must stay as they are.
    public let policy: ContributionPolicy
    /// The new release delay.
    public let releaseDelaySeconds: Int64
    /// The policy and delay it replaces, so the signer sees the change; when present they
    /// must be the ones in force (`staleState`).
    public let previous: (policy: ContributionPolicy, releaseDelaySeconds: Int64)?
    /// New witnesses, when the change names them; otherwise they stay as they are.
    public let witnesses: WitnessPolicy?
    /// New safeguards (replacing all of them), when the change names them; otherwise they
    /// stay as they are.
    public let safeguards: Safeguards?
    /// The safeguards it replaces, written in `previous` when it changes them; when present
    /// they must be the ones in force (`staleState`), so that two drafts made from the same
    /// state cannot silently undo each other.
    public let previousSafeguards: Safeguards?

    /// A policy change.
    public init(policy: ContributionPolicy, releaseDelaySeconds: Int64, previous: (policy: ContributionPolicy, releaseDelaySeconds: Int64)?, witnesses: WitnessPolicy? = nil,
                safeguards: Safeguards? = nil, previousSafeguards: Safeguards? = nil) {
        self.witnesses = witnesses
        self.safeguards = safeguards
        self.previousSafeguards = previous == nil ? nil : previousSafeguards
        self.policy = policy
        self.releaseDelaySeconds = releaseDelaySeconds
        self.previous = previous
    }

    init(reading r: inout FieldReader) throws(FundError) {
        policy = try readObject(r.value("policy") ?? .null, context: "policy") { (p: inout FieldReader) throws(FundError) in try ContributionPolicy(reading: &p) }
        releaseDelaySeconds = try r.integer("releaseDelaySeconds", in: FundLimits.releaseDelaySeconds)
        if let value = r.value("previous") {
            let read = try readObject(value, context: "policy previous") { (p: inout FieldReader) throws(FundError) in
                let old = try readObject(p.value("policy") ?? .null, context: "policy previous policy") { (q: inout FieldReader) throws(FundError) in try ContributionPolicy(reading: &q) }
                let delay = try p.integer("releaseDelaySeconds", in: FundLimits.releaseDelaySeconds)
                let safeguards = try p.value("safeguards").map { value throws(FundError) in try Safeguards.read(value, context: "policy previous") }
                return (old, delay, safeguards)
            }
            previous = (read.0, read.1)
            previousSafeguards = read.2
        } else {
            previous = nil
            previousSafeguards = nil
        }
        witnesses = try r.value("witnesses").map { value throws(FundError) in try WitnessPolicy.read(value, context: "policy") }
        safeguards = try r.value("safeguards").map { value throws(FundError) in try Safeguards.read(value, context: "policy") }
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["policy": policy.json, "releaseDelaySeconds": .integer(releaseDelaySeconds)]
        if let previous {
            var old: [String: JSONValue] = ["policy": previous.policy.json, "releaseDelaySeconds": .integer(previous.releaseDelaySeconds)]
            if let previousSafeguards { old["safeguards"] = previousSafeguards.json }
            fields["previous"] = .object(old)
        }
        if let witnesses { fields["witnesses"] = witnesses.json }
        if let safeguards { fields["safeguards"] = safeguards.json }
        return fields
    }

    func assetsNamed(in state: FundState) -> [String] { Array(Set([policy.asset] + (safeguards?.accountCaps.keys.map { $0 } ?? []))).sorted() }

    func describe(_ screen: inout Screen) {
        let old = screen.state.map { ($0.policy, $0.releaseDelaySeconds) } ?? previous
        let decimals = screen.units[policy.asset]
        func money(_ amount: Amount) -> String { Words.amount(amount, policy.asset, decimals: decimals) }
        func change(_ label: String, _ before: String?, _ after: String) {
            guard let before else { return screen.line(label, after) }
            screen.line(label, before == after ? "\(after) (unchanged)" : "\(before) -> \(after)")
        }
        change("rate", old.map { Words.percent(perMillion: $0.0.ratePerMillion) + " of declared size" }, Words.percent(perMillion: policy.ratePerMillion) + " of declared size")
        change("floor", old.map { money($0.0.floor) }, money(policy.floor))
        change("cap", old.map { money($0.0.cap) }, money(policy.cap))
        change("grace", old.map { Words.duration($0.0.graceSeconds) }, Words.duration(policy.graceSeconds))
        change("release delay", old.map { Words.duration($0.1) }, Words.duration(releaseDelaySeconds))
        screen.line("dues", policy.words(decimals: decimals))
        if let witnesses {
            let was = screen.state.map { " (was: \($0.witnesses?.words($0) ?? "none"))" } ?? ""
            screen.line("witnesses", witnesses.words(screen.state) + was)
        }
        if let safeguards { safeguards.describe(&screen, was: screen.state?.safeguards ?? previousSafeguards) }
        if let state = screen.state, let previousSafeguards, previousSafeguards != state.safeguards {
            screen.warn("the payload says it replaces other safeguards than the ones in force: the rules will refuse it")
        }
        if old == nil { screen.warn("the payload does not state the policy it replaces; give --ledger to see what changes") }
        if let state = screen.state, let previous, previous.policy != state.policy || previous.releaseDelaySeconds != state.releaseDelaySeconds {
            screen.warn("the payload says it replaces another policy than the one in force: the rules will refuse it")
        }
        if decimals == nil { screen.warn("the payload does not state the decimals of \(policy.asset); amounts are in minor units") }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let decimals = state.assets[policy.asset]
        return "policy: dues \(policy.words(decimals: decimals)); release delay \(Words.duration(releaseDelaySeconds))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("changing the policy") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        try policy.checkFloorAndCap(decimals: try state.requireAsset(policy.asset, "policy"))
        // Payments are kept per period, in the dues asset: another asset or period length
        // would re-read every past payment in different units or periods.
        guard policy.asset == state.policy.asset, policy.periodSeconds == state.policy.periodSeconds else {
            throw FundError(.invalidParameter, "policy: the dues asset (\(state.policy.asset)) and the period length (\(Words.duration(state.policy.periodSeconds))) are fixed at genesis; a policy entry may change the rate, floor, cap and grace")
        }
        try safeguards?.check(in: state.assets, context: "policy")
        if let previous, previous.policy != state.policy || previous.releaseDelaySeconds != state.releaseDelaySeconds {
            throw FundError(.staleState, "the payload replaces a policy that is no longer in force (another policy entry came first); draft it again")
        }
        if let previousSafeguards, previousSafeguards != state.safeguards {
            throw FundError(.staleState, "the payload replaces safeguards that are no longer in force (another policy entry came first); draft it again")
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.policy = policy
        state.releaseDelaySeconds = releaseDelaySeconds
        if let witnesses {
            state.witnesses = witnesses
        }
        if let safeguards { state.safeguards = safeguards }
    }
}
