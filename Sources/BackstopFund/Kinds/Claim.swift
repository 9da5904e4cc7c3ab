import BackstopCrypto
import BackstopLedger

/// A breach claim, filed by a member with its key or by a petition of affected users.
public struct ClaimPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.claim
    /// The member filing it, or nil for a petition.
    public let member: String?
    /// The platform where the breach happened.
    public let platform: String
    /// What happened.
    public let description: String
    /// When it happened.
    public let incidentTime: Timestamp
    /// How many accounts were affected.
    public let accounts: Int64
    /// The loss per asset, in minor units: the most that may ever be released for it.
    public let losses: [String: Amount]
    /// SHA-256 hashes (hex) of the evidence documents.
    public let evidence: [String]

    /// A claim; `member` nil for a petition.
    public init(member: String?, platform: String, description: String, incidentTime: Timestamp, accounts: Int64, losses: [String: Amount], evidence: [String]) {
        self.member = member
        self.platform = platform
        self.description = description
        self.incidentTime = incidentTime
        self.accounts = accounts
        self.losses = losses
        self.evidence = evidence
    }

    init(reading r: inout FieldReader) throws(FundError) {
        switch r.value("filedBy")?.stringValue.map({ Array($0.utf8) }) {
        case Array("member".utf8)?: member = try r.identifier("member")
        case Array("petition".utf8)?:
            guard !r.has("member") else { throw FundError(.malformedPayload, "a petition claim names no member") }
            member = nil
        default: throw r.invalid("filedBy", "\"member\" or \"petition\"")
        }
        platform = try r.text("platform", maxBytes: 200)
        description = try r.text("description", maxBytes: 10_000)
        incidentTime = try r.time("incidentTime")
        accounts = try r.integer("accounts", in: 1...JSONValue.maximumInteger)
        var losses: [String: Amount] = [:]
        for (symbol, value) in try r.assetMap("losses", count: FundLimits.assets) {
            guard let text = value.stringValue else { throw r.invalid("losses", "asset symbols with amounts in minor units") }
            losses[symbol] = try FieldReader.amount(text, field: "claim loss \(symbol)")
        }
        self.losses = losses
        var evidence: [String] = []
        for item in try r.array("evidence", count: FundLimits.evidence) {
            guard let text = item.stringValue, FieldReader.isHash(text) else { throw r.invalid("evidence", "an array of SHA-256 hashes in hex") }
            evidence.append(text)
        }
        self.evidence = evidence
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "filedBy": .string(member == nil ? "petition" : "member"), "platform": .string(platform), "description": .string(description),
            "incidentTime": .string(incidentTime.description), "accounts": .integer(accounts),
            "losses": .object(losses.mapValues { .string($0.description) }), "evidence": .array(evidence.map { .string($0) }),
        ]
        if let member { fields["member"] = .string(member) }
        return fields
    }

    func assetsNamed(in state: FundState) -> [String] { losses.keys.sorted() }

    func describe(_ screen: inout Screen) {
        screen.line("filed by", member.map { "member \($0)" } ?? "a petition of affected users")
        screen.text("platform", platform)
        screen.text("description", description)
        screen.line("incident", Words.time(incidentTime))
        screen.line("accounts", "\(accounts) affected")
        for (asset, amount) in losses.sorted(by: { $0.key < $1.key }) { screen.line("loss", screen.amount(amount, asset)) }
        if evidence.isEmpty { screen.line("evidence", "none") }
        for hash in evidence { screen.line("evidence", "sha256 \(hash)") }
        if member == nil, let state = screen.state {
            screen.line("needs", "\(state.petitionThreshold) distinct petitioner signatures")
        }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let by = member.map { "member \($0)" } ?? "a petition of \(entry.signatures.count)"
        let loss = losses.sorted { $0.key < $1.key }.map { state.show($0.value, $0.key) }.joined(separator: ", ")
        return "claim \(entry.header.id) filed by \(by): \(SafeText.show(platform)), \(accounts) accounts, loss \(loss)"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy {
        guard let member else { return SignerPolicy(action: "a petition", petitionThreshold: state.petitionThreshold) }
        let current = try state.requireMember(member)
        return SignerPolicy(action: "a claim", groups: [SignerGroup(role: .member(member), keys: [NamedKey(name: "member \(member)", key: current.key)], threshold: 1)])
    }

    func idScope(_ header: PayloadHeader) -> String { "claims" }

    /// The id of a petition in a version-2 fund: `petition-` and the first 32 hex digits of
    /// the SHA-256 of the payload's canonical JSON without its `id`. A petition circulates
    /// for days before it is filed; an id derived from its content cannot be taken by
    /// anyone else first (only the same petition has it).
    public static func petitionId(_ payload: JSONValue) -> String {
        var fields = payload.objectValue ?? [:]
        fields["id"] = nil
        return "petition-" + String(Hex.encode((try? SHA256.hash(Canonical.encode(.object(fields)))) ?? []).prefix(32))
    }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        if state.version >= 2 {
            if member == nil {
                let derived = Self.petitionId(.object(entry.header.fields.merging(fields) { header, _ in header }))
                guard entry.header.id.utf8.elementsEqual(derived.utf8) else {
                    throw FundError(.invalidParameter, "a petition's id is derived from its content in this fund: \(derived), not \(entry.header.id)")
                }
                // Anyone can make the keys a petition needs: what petitions may cost everyone
                // (every verification checks their signatures) is bounded here.
                let open = state.claims.values.filter { $0.member == nil && $0.isOutstanding }
                let same = open.filter { Identifiers.same($0.platform, platform) }.count
                guard same < FundLimits.openPetitionsPerPlatform else {
                    throw FundError(.tooManyPetitions, "\(same) petitions about \(SafeText.quoted(platform)) are still open; the delegates must reject or pay one before another is filed")
                }
                guard open.count < FundLimits.openPetitions else {
                    throw FundError(.tooManyPetitions, "\(open.count) petitions are open in this fund, the most there may be; the delegates must reject or pay one first")
                }
            } else if entry.header.id.utf8.starts(with: "petition-".utf8) {
                throw FundError(.invalidParameter, "claim ids starting with petition- are for petitions; choose another id")
            }
        }
        if let member {
            let filer = try state.requireMember(member)
            guard filer.status == .active else { throw FundError(.memberNotActive, "member \(member) is suspended and cannot file claims") }
            if let period = state.periodInArrears(member: member, at: entry.time) {
                throw FundError(.arrears, "member \(member) is in arrears (dues for period \(period) unpaid past the grace period) and cannot file claims; its users can still petition")
            }
            if state.safeguards.claimsNeedAssessments, let due = state.assessmentSchedule(member: member).due, due < entry.time {
                throw FundError(.assessmentOverdue, "member \(member)'s assessments are overdue (due \(due)), and the policy makes claims depend on them; its users can still petition")
            }
        }
        for asset in losses.keys.sorted() { _ = try state.requireAsset(asset, "claim loss") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.claims[entry.header.id] = Claim(
            id: entry.header.id, member: member, petitioners: member == nil ? entry.signatures.count : 0, platform: platform,
            description: description, incidentTime: incidentTime, accounts: accounts, losses: losses, evidence: evidence,
            status: .open, committed: [:], paid: [:], seq: entry.seq)
    }
}
