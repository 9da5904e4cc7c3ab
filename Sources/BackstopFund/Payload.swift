import BackstopCrypto
import BackstopLedger

/// The kinds of entry, each the purpose of its payload: `domain` is `backstop/v1/<kind>`.
public enum EntryKind: String, Sendable, CaseIterable {
    case genesis, admit, memberStatus = "member-status", memberKey = "member-key", contribution
    case claim, reject, release, cancel, settle, rotate, policy, checkpoint
    case receipt, reserves, assessor, assessment, registry

    /// The payload's `domain`.
    public var domain: String { "backstop/v1/\(rawValue)" }

    /// True for the kinds that need a threshold of delegates (and name a `delegateSet`).
    public var isDelegateAction: Bool { ![.contribution, .claim, .checkpoint, .assessment].contains(self) }

    /// The kind a `domain` names, or nil.
    public init?(domain: String) {
        guard domain.utf8.starts(with: "backstop/v1/".utf8), let kind = EntryKind(rawValue: String(domain.dropFirst(12))),
              kind.domain.utf8.elementsEqual(domain.utf8)
        else { return nil }
        self = kind
    }

    /// The declaration of this kind: its typed payload, signers and rule. Nil for genesis,
    /// which starts a fund instead of changing one.
    var rules: (any KindRules.Type)? {
        switch self {
        case .genesis: nil
        case .admit: AdmitPayload.self
        case .memberStatus: MemberStatusPayload.self
        case .memberKey: MemberKeyPayload.self
        case .contribution: ContributionPayload.self
        case .claim: ClaimPayload.self
        case .reject: RejectPayload.self
        case .release: ReleasePayload.self
        case .cancel: CancelPayload.self
        case .settle: SettlePayload.self
        case .rotate: RotatePayload.self
        case .policy: PolicyPayload.self
        case .checkpoint: CheckpointPayload.self
        case .receipt: ReceiptPayload.self
        case .reserves: ReservesPayload.self
        case .assessor: AssessorPayload.self
        case .assessment: AssessmentPayload.self
        case .registry: RegistryPayload.self
        }
    }
}

/// The typed fields of one kind of payload (beyond the common ones in ``PayloadHeader``).
///
/// Each kind is declared once, in its own file: these fields, how they are read and
/// written, how they are shown to a person who signs, who may sign, and the rule.
public protocol PayloadBody: Sendable {
    /// The kind this payload is for.
    static var kind: EntryKind { get }
    /// The kind's own fields as the payload writes them.
    var fields: [String: JSONValue] { get }
}

/// What the rules know about the entry being checked.
struct RuleContext {
    let seq: Int64
    let time: Timestamp
    let header: PayloadHeader
    let signatures: [EntrySignature]
}

/// The declaration of a kind after genesis.
protocol KindRules: PayloadBody {
    /// Reads the kind's own fields; the reader refuses what is not read.
    init(reading fields: inout FieldReader) throws(FundError)
    /// The assets whose decimals the payload states in `units`.
    func assetsNamed(in state: FundState) -> [String]
    /// The lines a person reads before signing.
    func describe(_ screen: inout Screen)
    /// What the entry did, in one line, told from the state just before it.
    func summary(in state: FundState, _ entry: RuleContext) -> String
    /// Who must sign, and who may.
    func signers(in state: FundState) throws(FundError) -> SignerPolicy
    /// Whose ids the payload's id is among (rules version 2): "member exchange-a",
    /// "delegates release", "petitions". Ids are unique within a scope.
    func idScope(_ header: PayloadHeader) -> String
    /// Every check of the kind's rule; changes nothing.
    func check(in state: FundState, _ entry: RuleContext) throws(FundError)
    /// The effect, once every check has passed. Cannot fail.
    func apply(to state: inout FundState, _ entry: RuleContext)
}

extension KindRules {
    func assetsNamed(in state: FundState) -> [String] { [] }
    func idScope(_ header: PayloadHeader) -> String { "delegates \(Self.kind.rawValue)" }
}

extension FundState {
    /// The key under which a payload's id is recorded in ``usedIds``: the id alone in a
    /// version-1 fund; in version 2 the id within its signer's scope ("member exchange-a
    /// contribution-7"), so that no signer can consume another's id.
    public func idKey(_ payload: Payload) -> String {
        guard let body = payload.rules else { return payload.header.id }
        return idKey(payload.header, body)
    }

    func idKey(_ header: PayloadHeader, _ body: any KindRules) -> String {
        version >= 2 ? "\(body.idScope(header)) \(header.id)" : header.id
    }
}

/// One delegate of a set, as a payload names it for the people who sign it. Two are equal
/// when their bytes are.
public struct RosterEntry: Sendable, Hashable {
    /// SHA-256 of the delegate's SubjectPublicKeyInfo DER, lowercase hex.
    public let fingerprint: String
    /// The delegate's platform.
    public let platform: String

    /// A roster line.
    public init(fingerprint: String, platform: String) {
        self.fingerprint = fingerprint
        self.platform = platform
    }

    /// Byte-wise equality (not Swift's canonical equivalence of strings).
    public static func == (lhs: RosterEntry, rhs: RosterEntry) -> Bool {
        Identifiers.same(lhs.fingerprint, rhs.fingerprint) && Identifiers.same(lhs.platform, rhs.platform)
    }

    /// Hashes the bytes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(Array(fingerprint.utf8))
        hasher.combine(Array(platform.utf8))
    }
}

/// The fields every payload has.
public struct PayloadHeader: Sendable, Equatable {
    /// The kind, from `domain`.
    public let kind: EntryKind
    /// The fund id in hex; nil in a genesis.
    public let fund: String?
    /// The payload's unique id.
    public let id: String
    /// The latest entry time at which the payload may be recorded.
    public let expires: Timestamp
    /// The delegate-set version, for delegate actions and genesis.
    public let delegateSet: Int64?
    /// The delegates of that set, as the drafter saw them, so that a signer without the
    /// ledger can see whom they sign with. Optional (older payloads lack it); when present
    /// the rules require it to be the current set exactly.
    public let roster: [RosterEntry]?
    /// Decimals of every asset the payload names, so that amounts can be shown in units
    /// without the ledger. Optional (older payloads lack it); when present the rules require
    /// it to match the fund.
    public let units: [String: Int]?

    /// A header.
    public init(kind: EntryKind, fund: String?, id: String, expires: Timestamp, delegateSet: Int64?, roster: [RosterEntry]?, units: [String: Int]?) {
        self.kind = kind
        self.fund = fund
        self.id = id
        self.expires = expires
        self.delegateSet = delegateSet
        self.roster = roster
        self.units = units
    }

    /// Reads the common fields of a payload of `kind` (whose domain was already checked).
    init(reading r: inout FieldReader, kind: EntryKind) throws(FundError) {
        _ = r.value("domain")
        self.kind = kind
        fund = kind == .genesis ? nil : try r.hash("fund")
        id = try r.identifier("id")
        expires = try r.time("expires")
        delegateSet = kind.isDelegateAction ? try r.integer("delegateSet", in: 1...JSONValue.maximumInteger) : nil
        if kind.isDelegateAction && kind != .genesis && r.has("roster") {
            let items = try r.array("roster", count: FundLimits.delegates)
            var roster: [RosterEntry] = []
            for (index, item) in items.enumerated() {
                roster.append(try readObject(item, context: "\(r.context) roster \(index + 1)") { (d: inout FieldReader) throws(FundError) in
                    RosterEntry(fingerprint: try d.hash("fingerprint"), platform: try d.text("platform", maxBytes: 200))
                })
            }
            self.roster = roster
        } else {
            roster = nil
        }
        if kind != .genesis && r.has("units") {
            var units: [String: Int] = [:]
            for (symbol, value) in try r.assetMap("units", count: FundLimits.assets) {
                guard let decimals = value.integerValue, FundLimits.decimals.contains(Int(decimals)) else {
                    throw r.invalid("units", "asset symbols with their decimals, 0 to 36")
                }
                units[symbol] = Int(decimals)
            }
            self.units = units
        } else {
            units = nil
        }
    }

    /// The common fields as a payload writes them.
    var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["domain": .string(kind.domain), "id": .string(id), "expires": .string(expires.description)]
        if let fund { fields["fund"] = .string(fund) }
        if let delegateSet { fields["delegateSet"] = .integer(delegateSet) }
        if let roster { fields["roster"] = .array(roster.map { ["fingerprint": .string($0.fingerprint), "platform": .string($0.platform)] }) }
        if let units { fields["units"] = .object(units.mapValues { .integer(Int64($0)) }) }
        return fields
    }
}

/// A payload read and checked for form: the common fields and the kind's own, typed.
///
/// Reading checks everything that does not need the ledger: the text rules, the domain,
/// every field's type and limits, and that no other field is present. Whether the rules
/// accept it is for ``FundState/check(_:hash:authorize:)``.
public struct Payload: Sendable {
    /// The common fields.
    public let header: PayloadHeader
    /// The kind's own fields.
    public let body: any PayloadBody
    /// The payload as JSON.
    public let json: JSONValue

    /// Reads a payload; `expected` is the entry's kind when there is one.
    ///
    /// - Throws: ``FundError`` `.forbiddenCharacter`, `.wrongDomain`, `.malformedPayload`
    ///   or `.invalidAmount`.
    public init(_ json: JSONValue, expected: EntryKind? = nil) throws(FundError) {
        try TextRules.check(json, path: "")
        guard case .object(let fields) = json else { throw FundError(.malformedPayload, "a payload must be a JSON object") }
        let domain = fields["domain"]?.stringValue ?? ""
        let named = EntryKind(domain: domain)
        if let expected {
            guard named == expected else {
                throw FundError(.wrongDomain, "payload domain is \(SafeText.quoted(domain)), but an entry of kind \(expected.rawValue) needs \"\(expected.domain)\"")
            }
        }
        guard let kind = named else {
            throw FundError(.wrongDomain, "payload domain \(SafeText.quoted(domain)) is not backstop/v1/<kind> for a known kind")
        }
        var reader = try FieldReader(json, context: "\(kind.rawValue) payload")
        header = try PayloadHeader(reading: &reader, kind: kind)
        if let rules = kind.rules {
            body = try rules.init(reading: &reader)
        } else {
            body = try GenesisPayload(reading: &reader)
        }
        try reader.finish()
        self.json = json
    }

    /// Reads a payload file's bytes, which must be canonical JSON: they are what was signed.
    public init(bytes: [UInt8], expected: EntryKind? = nil) throws(FundError) {
        let json: JSONValue
        do { json = try JSONParser.parseCanonical(bytes) } catch {
            throw FundError(.malformedPayload, "the payload is not canonical JSON (\(error)); sign and submit the file exactly as Backstop wrote it")
        }
        try self.init(json, expected: expected)
    }

    /// The kind.
    public var kind: EntryKind { header.kind }

    var rules: (any KindRules)? { body as? any KindRules }
}
