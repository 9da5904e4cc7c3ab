import BackstopCrypto
import BackstopLedger

/// Replaces the delegate set. Signed by the threshold of the current set and by the new
/// threshold of the new set.
public struct RotatePayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.rotate
    /// The new set.
    public let delegates: [Delegate]
    /// Approvals needed in the new set (a majority).
    public let threshold: Int
    /// Petition threshold from now on.
    public let petitionThreshold: Int

    /// A rotation.
    public init(delegates: [Delegate], threshold: Int, petitionThreshold: Int) {
        self.delegates = delegates
        self.threshold = threshold
        self.petitionThreshold = petitionThreshold
    }

    init(reading r: inout FieldReader) throws(FundError) {
        (delegates, threshold, petitionThreshold) = try readDelegateSet(&r, context: "rotate")
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["delegates": Payloads.json(delegates), "threshold": .integer(Int64(threshold)), "petitionThreshold": .integer(Int64(petitionThreshold))]
    }

    func describe(_ screen: inout Screen) {
        // The set it replaces: the ledger's, or the roster the payload names.
        let old = screen.state?.roster ?? screen.header.roster
        for (index, delegate) in delegates.enumerated() {
            let new = "\(SafeText.show(delegate.platform)) \(delegate.key.fingerprint)"
            guard let old else { screen.line("delegate-\(index + 1)", new); continue }
            if index < old.count, old[index].fingerprint == delegate.key.fingerprint, Identifiers.same(old[index].platform, delegate.platform) {
                screen.line("delegate-\(index + 1)", "\(new) (unchanged)")
            } else if index < old.count {
                screen.line("delegate-\(index + 1)", "\(SafeText.show(old[index].platform)) \(old[index].fingerprint) -> \(new)")
            } else {
                screen.line("delegate-\(index + 1)", "(new seat) -> \(new)")
            }
        }
        if let old, old.count > delegates.count {
            for index in delegates.count..<old.count {
                screen.line("delegate-\(index + 1)", "\(SafeText.show(old[index].platform)) \(old[index].fingerprint) -> (seat removed)")
            }
        }
        if old == nil { screen.warn("the payload does not name the current delegates; give --ledger to see what changes") }
        let was = screen.state.map { " (was \($0.threshold) of \($0.delegates.count))" } ?? ""
        screen.line("threshold", "\(threshold) of \(delegates.count)\(was)")
        let petitionWas = screen.state.map { $0.petitionThreshold == petitionThreshold ? " (unchanged)" : " (was \($0.petitionThreshold))" } ?? ""
        screen.line("petitions", "\(petitionThreshold) distinct signatures\(petitionWas)")
        if let set = screen.header.delegateSet { screen.line("new set", "v\(set + 1), signed by \(threshold) of it as well") }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        var changes: [String] = []
        for index in 0..<max(delegates.count, state.delegates.count) {
            let old = index < state.delegates.count ? state.delegates[index] : nil
            let new = index < delegates.count ? delegates[index] : nil
            if old?.key == new?.key, let old, let new, Identifiers.same(old.platform, new.platform) { continue }
            changes.append("delegate-\(index + 1) \(old.map { SafeText.show($0.platform) } ?? "(none)") -> \(new.map { SafeText.show($0.platform) } ?? "(removed)")")
        }
        return "delegate set v\(state.delegateSet) -> v\(state.delegateSet + 1): \(changes.isEmpty ? "same delegates" : changes.joined(separator: ", ")); threshold \(threshold) of \(delegates.count)"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy {
        let newKeys = delegates.enumerated().map { NamedKey(name: "new delegate-\($0.offset + 1) (\(SafeText.escape($0.element.platform)))", key: $0.element.key) }
        return SignerPolicy(action: "rotating delegates", groups: [
            SignerGroup(role: .delegates(set: state.delegateSet), keys: state.delegateKeys, threshold: state.threshold),
            SignerGroup(role: .newDelegates(set: state.delegateSet + 1), keys: newKeys, threshold: threshold),
        ])
    }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        for delegate in delegates {
            if let member = state.members.values.first(where: { $0.key == delegate.key }) {
                throw FundError(.duplicateKey, "new delegate key \(delegate.key.fingerprint) is member \(member.id)'s key")
            }
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        let staying = Set(delegates.map(\.key))
        for (index, delegate) in state.delegates.enumerated() where !staying.contains(delegate.key) {
            state.formerDelegates.append(NamedKey(name: "delegate-\(index + 1) (\(SafeText.escape(delegate.platform))) of set v\(state.delegateSet)", key: delegate.key))
        }
        state.formerDelegates.removeAll { staying.contains($0.key) }
        state.delegates = delegates
        state.threshold = threshold
        state.petitionThreshold = petitionThreshold
        state.delegateSet += 1
    }
}
