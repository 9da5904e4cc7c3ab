import BackstopCrypto
import BackstopLedger

/// What a payload says, one field to a line with a fixed label, for a person about to sign it.
///
/// Every string that came from the payload is shown through ``SafeText``: no line can hold a
/// control, invisible or reordering character, and non-ASCII letters are named. Amounts are
/// in asset units and durations in words, from the payload's own `units` (or the ledger's,
/// when one is given), so the screen reads the same on an offline machine.
public struct Screen: Sendable {
    /// One line: a label and what to show after it.
    public struct Line: Sendable, Equatable {
        /// The field's label, such as "pay".
        public let label: String
        /// The value, safe to print.
        public let value: String
    }

    /// The payload's lines, in order.
    public private(set) var lines: [Line] = []
    /// What the signer should know before signing: the payload disagrees with the ledger,
    /// it has expired, the signer's key may not sign it, the rules would refuse it now.
    public internal(set) var warnings: [String] = []
    /// What the signer may like to know but that does not stop signing, such as when a
    /// settlement becomes payable.
    public var notes: [String] = []
    /// The payload's common fields.
    public let header: PayloadHeader
    /// The ledger's state, when one was given.
    public let state: FundState?
    /// Decimals per asset, from the ledger when given, else from the payload.
    let units: [String: Int]

    init(header: PayloadHeader, state: FundState?, genesisAssets: [String: Int]? = nil) {
        self.header = header
        self.state = state
        self.units = state?.assets ?? genesisAssets ?? header.units ?? [:]
    }

    /// A line whose value is already safe to show.
    mutating func line(_ label: String, _ value: String) {
        lines.append(Line(label: label, value: value))
    }

    /// A line of free text from the payload, escaped and with non-ASCII named; a warning
    /// when it mixes look-alike scripts.
    mutating func text(_ label: String, _ text: String) {
        lines.append(Line(label: label, value: SafeText.show(text)))
        if let warning = SafeText.mixedScriptWarning(text, field: label.trimmingCharacters(in: .whitespaces)) { warn(warning) }
    }

    /// "1,500 ETH", from the known decimals, or the minor units and a warning.
    mutating func amount(_ amount: Amount, _ asset: String) -> String {
        if units[asset] == nil {
            warn("the payload does not state the decimals of \(SafeText.escape(asset)); its amounts are shown in minor units (give --ledger to see units)")
        }
        return Words.amount(amount, asset, decimals: units[asset])
    }

    /// Adds a warning, once.
    public mutating func warn(_ warning: String) {
        if !warnings.contains(warning) { warnings.append(warning) }
    }

    /// "delegate-3 (Kraken)" for a key of the current set, from the ledger or the roster.
    func delegateName(fingerprint: String) -> String? {
        if let state, let index = state.delegates.firstIndex(where: { $0.key.fingerprint == fingerprint }) {
            return "delegate-\(index + 1) (\(SafeText.escape(state.delegates[index].platform)))"
        }
        guard state == nil, let roster = header.roster, let index = roster.firstIndex(where: { $0.fingerprint == fingerprint }) else { return nil }
        return "delegate-\(index + 1) (\(SafeText.escape(roster[index].platform)))"
    }

    /// Each line as "label:" padded to a fixed width, then the value.
    public var rendered: [String] {
        lines.map { line in
            let label = line.label + ":"
            return label + String(repeating: " ", count: max(1, 15 - label.count)) + line.value
        }
    }
}

extension Screen {
    /// The screen of a payload, with `state` (a copy of the ledger) when there is one.
    ///
    /// The payload must read (``Payload/init(_:expected:)``); a payload that does not is
    /// not shown, because nothing in it could be trusted to mean what it seems.
    public init(_ payload: Payload, state: FundState?) {
        let genesis = payload.body as? GenesisPayload
        self.init(header: payload.header, state: state, genesisAssets: genesis.map { Dictionary(uniqueKeysWithValues: $0.assets.map { ($0.symbol, $0.decimals) }) })
        let header = payload.header
        line("purpose", "\(header.kind.rawValue) (\(header.kind.domain))")
        if let fund = header.fund {
            if let state {
                let ours = Hex.encode(state.fundId)
                line("fund", fund == ours ? "\(fund) (\(SafeText.show(state.name)))" : "\(fund) (NOT this ledger's fund \(ours))")
                if fund != ours { warn("the payload is for fund \(fund), not this ledger's fund \(ours)") }
            } else {
                line("fund", fund)
            }
        }
        line("id", header.id)
        line("expires", Words.time(header.expires))
        if let state {
            line("ledger copy", "\(state.entryCount) entries, the last recorded \(Words.time(state.lastTime)): is it current?")
        }
        if let set = header.delegateSet, header.kind != .genesis {
            line("delegate set", "v\(set)" + (header.roster.map { " (\($0.count) delegates named in the payload)" } ?? ""))
        }
        if let rules = payload.rules {
            rules.describe(&self)
        } else if let genesis {
            genesis.describe(&self)
        }
        checkAgainstLedger(payload)
    }

    /// Where the payload disagrees with the ledger's current state, as warnings.
    private mutating func checkAgainstLedger(_ payload: Payload) {
        let header = payload.header
        guard let state, header.kind != .genesis else {
            if state == nil, header.kind.isDelegateAction, header.kind != .genesis, header.roster == nil {
                warn("this payload does not name the delegates of its set; give --ledger to see who may sign it")
            }
            return
        }
        if let set = header.delegateSet, set != state.delegateSet {
            warn("the payload is for delegate set v\(set), but the ledger's current set is v\(state.delegateSet): approvals of it do not count")
        } else if let roster = header.roster, roster != state.roster {
            warn("the delegates the payload names are not the ledger's delegate set v\(state.delegateSet): the rules will refuse it")
        }
        if let used = state.usedIds[state.idKey(payload)] {
            warn("id \(header.id) is already used by entry \(used)")
        }
    }

    /// Who `key` signs as, for the line "you sign as ...", with a warning when the key may
    /// not sign this payload.
    public mutating func signer(_ key: PublicKey, payload: Payload) -> String {
        let fingerprint = key.fingerprint
        var roles: [String] = []
        switch payload.body {
        case let genesis as GenesisPayload:
            if let index = genesis.delegates.firstIndex(where: { $0.key == key }) {
                roles.append("delegate-\(index + 1) (\(SafeText.escape(genesis.delegates[index].platform))) of delegate set v1, in the genesis")
            }
        case let claim as ClaimPayload where claim.member == nil:
            roles.append("a petitioner (any key may sign a petition; each key counts once)")
        default:
            if let name = delegateName(fingerprint: fingerprint), let set = header.delegateSet {
                roles.append("\(name) of delegate set v\(set)")
            }
            if let rotate = payload.body as? RotatePayload, let index = rotate.delegates.firstIndex(where: { $0.key == key }),
               let set = header.delegateSet {
                roles.append("delegate-\(index + 1) (\(SafeText.escape(rotate.delegates[index].platform))) of the new set v\(set + 1)")
            }
            if let change = payload.body as? MemberKeyPayload {
                let current = state?.members[change.member]?.key.fingerprint ?? change.previousKey
                if current == fingerprint { roles.append("member \(change.member) (its current key)") }
            }
            if let member = (payload.body as? ContributionPayload)?.member ?? (payload.body as? ClaimPayload)?.member,
               state?.members[member]?.key == key {
                roles.append("member \(member)")
            }
        }
        // Any other signer the kind declares (an assessor, a member on an assessment).
        if roles.isEmpty, let state, let policy = try? state.signers(for: payload), let named = policy.candidates.first(where: { $0.key == key }) {
            roles.append(named.name)
        }
        guard !roles.isEmpty else {
            // Offline, a member's key is known only from a member-key change's previousKey.
            let memberKeyUnknown = (payload.body as? MemberKeyPayload)?.previousKey == nil && payload.body is MemberKeyPayload
            let memberSigned = payload.body is ContributionPayload || (payload.body as? ClaimPayload)?.member != nil
            let canTell = state != nil || payload.body is GenesisPayload
                || (header.roster != nil && !memberKeyUnknown && !memberSigned)
            if canTell {
                warn("your key \(fingerprint) is not one that may sign this payload: your signature will not count")
                return "key \(fingerprint) (NOT a signer of this payload)"
            }
            warn("cannot tell whether your key \(fingerprint) may sign this payload (give --ledger to check)")
            return "key \(fingerprint) (cannot tell without the ledger)"
        }
        return roles.joined(separator: " and as ")
    }
}
