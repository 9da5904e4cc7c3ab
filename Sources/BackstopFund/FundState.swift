import BackstopCrypto
import BackstopLedger
import BigInt

/// A delegate: one of the signatories who approve releases, from one platform.
public struct Delegate: Sendable, Hashable {
    /// The delegate's public key.
    public let key: PublicKey
    /// The platform or service the delegate comes from; no platform twice in a set.
    public let platform: String

    /// A delegate with `key` from `platform`.
    public init(key: PublicKey, platform: String) {
        self.key = key
        self.platform = platform
    }
}

/// The contribution policy: dues per period scaled to a member's declared size, with a floor and a cap.
public struct ContributionPolicy: Sendable, Hashable {
    /// The asset dues are paid in.
    public let asset: String
    /// Dues per period = declared size × `ratePerMillion` / 1,000,000, then floor and cap.
    public let ratePerMillion: Int64
    /// The least a member owes per period (affordable for small platforms).
    public let floor: Amount
    /// The most a member owes per period.
    public let cap: Amount
    /// Length of a period; periods are counted from the genesis time.
    public let periodSeconds: Int64
    /// How long after a period ends its dues may still be paid before the member is in arrears.
    public let graceSeconds: Int64

    /// A policy; the genesis or policy entry that carries it is checked by the rules.
    public init(asset: String, ratePerMillion: Int64, floor: Amount, cap: Amount, periodSeconds: Int64, graceSeconds: Int64) {
        self.asset = asset
        self.ratePerMillion = ratePerMillion
        self.floor = floor
        self.cap = cap
        self.periodSeconds = periodSeconds
        self.graceSeconds = graceSeconds
    }

    /// The dues per period for a member of `size` (minor units of ``asset``).
    public func dues(size: Amount) -> Amount {
        let scaled = Amount(size.minorUnits * BigUInt(ratePerMillion) / 1_000_000)
        return min(max(scaled, floor), cap)
    }
}

/// A member platform.
public struct Member: Sendable, Hashable {
    /// Whether the member may act.
    public enum Status: String, Sendable { case active, suspended }
    /// The member's id, chosen at admission.
    public let id: String
    /// The platform's name.
    public let platform: String
    /// The key that signs the member's contributions and claims.
    public internal(set) var key: PublicKey
    /// The size the member declared (minor units of the dues asset), which scales its dues.
    public let size: Amount
    /// Active or suspended by the delegates.
    public internal(set) var status: Status
    /// When the member was admitted; dues run from that period.
    public let admittedAt: Timestamp
    /// Where the platform is registered (a jurisdiction code), when its admission said.
    public let jurisdiction: String?
}

/// A member's declared contribution not yet confirmed by a receipt (rules version 2).
public struct Declaration: Sendable, Hashable {
    /// The member that declared it.
    public let member: String
    /// The contribution's payload id (unique per member).
    public let id: String
    /// The asset.
    public let asset: String
    /// The amount declared, in minor units.
    public let amount: Amount
    /// The dues period it pays.
    public let period: Int64
    /// The member's reference (transaction id, bank reference).
    public let reference: String
    /// When it was recorded.
    public let declaredAt: Timestamp
    /// The last time a receipt may confirm it, fixed when it was declared (nil: beyond
    /// year 9999, so never).
    public let deadline: Timestamp?
    /// The entry that recorded it.
    public let seq: Int64
}

/// Per member and asset: what it declared, and what receipts confirmed.
public struct MemberMoney: Sendable, Hashable {
    /// Every amount declared.
    public internal(set) var declared = Amount.zero
    /// What receipts confirmed was received.
    public internal(set) var confirmed = Amount.zero
    /// The declared amounts of the declarations that receipts closed (confirmed may be less).
    public internal(set) var closed = Amount.zero
    /// Declared and not closed by a receipt: pending or lapsed.
    public var unconfirmed: Amount { declared - closed }
}

/// What a `reserves` entry attested the fund's wallets held.
public struct ReserveAttestation: Sendable, Hashable {
    /// When the holdings were observed.
    public let asOf: Timestamp
    /// The entry that recorded it.
    public let seq: Int64
    /// Per asset, what the wallets held (an asset not named held nothing).
    public let holdings: [String: Amount]
    /// Per asset, the wallet addresses.
    public let wallets: [String: [String]]
}

/// An assessor registered by the delegates.
public struct Assessor: Sendable, Hashable {
    /// The assessor's id.
    public let id: String
    /// The firm.
    public let firm: String
    /// The key that signs its assessments.
    public let key: PublicKey
    /// False once the delegates retired it.
    public let active: Bool
}

/// One recorded assessment of a member.
public struct Assessment: Sendable, Hashable {
    /// Founding, after a major upgrade, or periodic.
    public enum Kind: String, Sendable, CaseIterable { case founding, majorUpgrade = "major-upgrade", periodic }
    /// The assessor.
    public let assessor: String
    /// The date of the assessment (the report's date).
    public let date: Timestamp
    /// Its kind.
    public let kind: Kind
    /// SHA-256 (hex) of the report.
    public let report: String
    /// The entry that recorded it.
    public let seq: Int64
}

/// A delegate-signed list of the platforms registered in a jurisdiction.
public struct JurisdictionRegistry: Sendable, Hashable {
    /// The platforms' names.
    public let platforms: [String]
    /// When the list was current.
    public let asOf: Timestamp
    /// The entry that recorded it.
    public let seq: Int64
}

/// Per-asset money of the fund. Invariant: reserved + paid <= contributed.
public struct Balance: Sendable, Hashable {
    /// Everything members contributed.
    public internal(set) var contributed = Amount.zero
    /// Held for approved releases that are not settled yet.
    public internal(set) var reserved = Amount.zero
    /// Paid out by settled releases.
    public internal(set) var paid = Amount.zero
    /// What new releases may still use.
    public var available: Amount { contributed - reserved - paid }

    /// Nothing contributed, reserved or paid: an asset before its first contribution.
    public init() {}
}

/// A breach claim.
public struct Claim: Sendable, Hashable {
    /// Open (releases may be approved) or rejected by the delegates.
    public enum Status: String, Sendable { case open, rejected }
    /// The claim's payload id.
    public let id: String
    /// The member that filed it, or nil for a petition.
    public let member: String?
    /// How many distinct petitioners signed (0 when a member filed it).
    public let petitioners: Int
    /// The platform the breach happened at.
    public let platform: String
    /// What happened.
    public let description: String
    /// When it happened.
    public let incidentTime: Timestamp
    /// How many accounts were affected.
    public let accounts: Int64
    /// The stated loss per asset: the most that may ever be released for this claim.
    public let losses: [String: Amount]
    /// SHA-256 hashes (hex) of the evidence documents.
    public let evidence: [String]
    /// Open or rejected.
    public internal(set) var status: Status
    /// Per asset, reserved by pending releases plus paid by settled ones.
    public internal(set) var committed: [String: Amount]
    /// Per asset, paid by settled releases.
    public internal(set) var paid: [String: Amount]
    /// The entry that filed it.
    public let seq: Int64

    /// Per asset, what may still be released.
    public var remaining: [String: Amount] { losses.reduce(into: [:]) { $0[$1.key] = $1.value - (committed[$1.key] ?? .zero) } }

    /// Open, with something left to release.
    public var isOutstanding: Bool { status == .open && remaining.values.contains { $0 > .zero } }
}

/// One transfer of a release.
public struct Payout: Sendable, Hashable {
    /// The asset paid.
    public let asset: String
    /// How much, in minor units.
    public let amount: Amount
    /// Who receives it.
    public let payee: String
    /// Where it is sent (an address or account).
    public let destination: String

    /// A payout of `amount` minor units of `asset` to `payee` at `destination`.
    public init(asset: String, amount: Amount, payee: String, destination: String) {
        self.asset = asset
        self.amount = amount
        self.payee = payee
        self.destination = destination
    }
}

/// A release approved by the delegates: pending (reserved), then settled or cancelled.
public struct Release: Sendable, Hashable {
    /// Where the release is.
    public enum Status: String, Sendable { case pending, settled, cancelled }
    /// The release payload's id.
    public let id: String
    /// The entry that approved it.
    public let approvedSeq: Int64
    /// The claim it pays.
    public let claim: String
    /// The transfers.
    public let payouts: [Payout]
    /// Per-asset totals of the payouts.
    public let totals: [String: Amount]
    /// Pending, settled or cancelled.
    public internal(set) var status: Status
    /// The entry time of the approval.
    public let approvedAt: Timestamp
    /// The earliest time it may be settled (approval + release delay).
    public let payableAt: Timestamp
    /// The payout reference recorded at settlement.
    public internal(set) var reference: String?
    /// In a fund with witnesses: the time by which a quorum of witnesses had seen a
    /// checkpoint that includes this release; the delay runs from it. Nil until then.
    public internal(set) var witnessedAt: Timestamp?
    /// The restitution list the release pays into, if it named one.
    public internal(set) var restitution: RestitutionSummary?
}

/// The fund: everything derived by replaying the ledger's entries through the rules.
///
/// The same ``apply(_:hash:)`` decides when appending and when an auditor replays a ledger,
/// so a ledger that verifies is one the rules accepted, entry by entry.
public struct FundState: Sendable, Equatable {
    /// The hash of the genesis entry.
    public let fundId: [UInt8]
    /// The fund's name.
    public let name: String
    /// Asset symbol to number of decimals.
    public let assets: [String: Int]
    /// The current delegates.
    public internal(set) var delegates: [Delegate] {
        didSet { delegateKeys = Self.named(delegates) }
    }
    /// The current delegates with their names ("delegate-3 (Kraken)"), kept with them.
    public internal(set) var delegateKeys: [NamedKey] = []
    /// Delegates of earlier sets who are not in the current one, named as they were
    /// ("delegate-7 (Bitfinex) of set v1"), so that a late signature of theirs is recognised.
    public internal(set) var formerDelegates: [NamedKey] = []
    /// Version of the delegate set: 1 at genesis, +1 at each rotation.
    public internal(set) var delegateSet: Int64
    /// Distinct delegate approvals needed.
    public internal(set) var threshold: Int
    /// Distinct petitioner signatures needed to file a claim by petition.
    public internal(set) var petitionThreshold: Int
    /// The contribution policy.
    public internal(set) var policy: ContributionPolicy
    /// Time between a release's approval and the earliest settlement.
    public internal(set) var releaseDelaySeconds: Int64
    /// When the fund began; periods are counted from here.
    public let genesisTime: Timestamp
    /// Members by id.
    public internal(set) var members: [String: Member] = [:]
    /// Per member, per period, what it contributed in the dues asset.
    public internal(set) var duesPaid: [String: [Int64: Amount]] = [:]
    /// Per asset, the fund's money.
    public internal(set) var balances: [String: Balance]
    /// Claims by id.
    public internal(set) var claims: [String: Claim] = [:]
    /// Releases by id.
    public internal(set) var releases: [String: Release] = [:]
    /// Every payload id used so far, with the entry that used it.
    public internal(set) var usedIds = UsedIds()
    /// How many entries were applied.
    public internal(set) var entryCount: Int64
    /// The hash of the last entry applied.
    public internal(set) var head: [UInt8]
    /// The time of the last entry applied.
    public internal(set) var lastTime: Timestamp
    /// Who cosigns checkpoints, or nil for a fund whose genesis predates witnesses (its time
    /// rules use entry times alone).
    public internal(set) var witnesses: WitnessPolicy?
    /// The Merkle tree of the entries so far (its root is the root of the whole ledger).
    public internal(set) var frontier = MerkleFrontier()
    /// The size of the last recorded checkpoint, 0 before the first.
    public internal(set) var checkpointSize: Int64 = 0
    /// The fund's witnessed time: a time a quorum of witnesses attested had come, in the
    /// latest recorded checkpoint. Entries may not be stamped before it.
    public internal(set) var witnessedTime: Timestamp?
    /// Each witness's latest cosignature time, which its next one may not precede.
    public internal(set) var witnessTimes: [String: Int64] = [:]
    /// The times of the entries after the last recorded checkpoint.
    var uncheckpointedTimes = TimeRuns()
    /// The rules version the genesis declared (``RulesVersion``).
    public internal(set) var version: Int64 = 1
    /// Receipt deadline, account caps, assessments for claims, mandatory jurisdictions.
    public internal(set) var safeguards = Safeguards.defaults
    /// Declared contributions awaiting a receipt, by ``declarationKey(member:id:)``.
    public internal(set) var declarations: [String: Declaration] = [:]
    /// Per member, per asset: declared and confirmed.
    public internal(set) var memberMoney: [String: [String: MemberMoney]] = [:]
    /// The latest reserve attestation.
    public internal(set) var reserves: ReserveAttestation?
    /// Per asset, paid by settlements since the latest attestation.
    public internal(set) var paidSinceAttestation: [String: Amount] = [:]
    /// The entry time of the last settlement; an attestation may not be observed before it.
    public internal(set) var lastSettledAt: Timestamp?
    /// When the first assessor was registered: the assessment schedule runs from then.
    public internal(set) var assessmentsSince: Timestamp?
    /// Registered assessors by id.
    public internal(set) var assessors: [String: Assessor] = [:]
    /// Per member, its assessments in order.
    public internal(set) var assessments: [String: [Assessment]] = [:]
    /// Per jurisdiction, the latest registry of platforms.
    public internal(set) var registries: [String: JurisdictionRegistry] = [:]

    /// The key of a declaration in ``declarations``.
    public static func declarationKey(member: String, id: String) -> String { "\(member) \(id)" }

    /// The period that `time` falls in (0 from the genesis time).
    public func period(of time: Timestamp) -> Int64 {
        max(0, (time.secondsSinceEpoch - genesisTime.secondsSinceEpoch) / policy.periodSeconds)
    }

    /// The first period whose dues are unpaid past the grace period at `time`, or nil.
    public func periodInArrears(member id: String, at time: Timestamp) -> Int64? {
        guard let member = members[id] else { return nil }
        let dues = policy.dues(size: member.size)
        guard dues > .zero else { return nil }
        let first = period(of: member.admittedAt)
        let now = period(of: time)
        guard now >= first else { return nil }
        for period in first...now {
            let deadline = genesisTime.secondsSinceEpoch + (period + 1) * policy.periodSeconds + policy.graceSeconds
            guard deadline <= time.secondsSinceEpoch else { break }
            if (duesPaid[id]?[period] ?? .zero) < dues { return period }
        }
        return nil
    }

    /// The time of entry `seq`, if it is after the last recorded checkpoint.
    func entryTime(seq: Int64) -> Timestamp? {
        let index = seq - checkpointSize
        return uncheckpointedTimes.time(at: index)
    }

    /// The effect of a recorded checkpoint of `size` entries whose witnesses had seen it by
    /// `seenBy` and attest that `reached` had come.
    mutating func recordCheckpoint(size: Int64, seenBy: Int64, reached: Int64, times: [String: Int64]) {
        let seen = Timestamp(secondsSinceEpoch: seenBy)!
        for (id, release) in releases where release.status == .pending && release.approvedSeq < size {
            if release.witnessedAt.map({ seen < $0 }) ?? true { releases[id]!.witnessedAt = seen }
        }
        let attested = Timestamp(secondsSinceEpoch: reached)!
        if witnessedTime.map({ attested > $0 }) ?? true { witnessedTime = attested }
        for (name, time) in times { witnessTimes[name] = time }
        uncheckpointedTimes.removeFirst(size - checkpointSize)
        checkpointSize = size
    }

    /// The 1-based name of a delegate in the current set, such as "delegate-2 (Kraken)".
    public func delegateName(_ key: PublicKey) -> String? {
        delegates.firstIndex { $0.key == key }.map { "delegate-\($0 + 1) (\(SafeText.escape(delegates[$0].platform)))" }
    }

    /// `delegates` with their names.
    static func named(_ delegates: [Delegate]) -> [NamedKey] {
        delegates.enumerated().map { NamedKey(name: "delegate-\($0.offset + 1) (\(SafeText.escape($0.element.platform)))", key: $0.element.key) }
    }

    /// The current delegates as a payload's `roster` names them.
    public var roster: [RosterEntry] {
        delegates.map { RosterEntry(fingerprint: $0.key.fingerprint, platform: $0.platform) }
    }

    /// Members' current keys with their names.
    public var memberKeys: [NamedKey] {
        members.values.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }.map { NamedKey(name: "member \($0.id)", key: $0.key) }
    }

    /// "1,500 ETH": an amount of one of the fund's assets, in its units.
    public func show(_ amount: Amount, _ asset: String) -> String {
        Words.amount(amount, asset, decimals: assets[asset])
    }

    /// The time the period `period` starts.
    public func start(ofPeriod period: Int64) -> Timestamp? {
        let (offset, overflow) = period.multipliedReportingOverflow(by: policy.periodSeconds)
        return overflow ? nil : genesisTime.adding(seconds: offset)
    }

    /// The last moment a period's dues may be paid before the member is in arrears.
    public func deadline(ofPeriod period: Int64) -> Timestamp? {
        start(ofPeriod: period + 1)?.adding(seconds: policy.graceSeconds)
    }
}

/// The times of consecutive entries, as runs of equal times: entry times never go back and
/// often repeat (a batch shares one), so a million of them take a few runs.
struct TimeRuns: Sendable, Equatable {
    struct Run: Sendable, Equatable {
        var time: Timestamp
        var count: Int64
    }

    private(set) var runs: [Run] = []
    /// How many times it holds.
    private(set) var count: Int64 = 0

    init() {}

    init(runs: [Run]) {
        self.runs = runs
        count = runs.reduce(0) { $0 + $1.count }
    }

    mutating func append(_ time: Timestamp) {
        if runs.last?.time == time { runs[runs.count - 1].count += 1 } else { runs.append(Run(time: time, count: 1)) }
        count += 1
    }

    /// The time at `index` (0 is the first held), or nil.
    func time(at index: Int64) -> Timestamp? {
        guard index >= 0, index < count else { return nil }
        var rest = index
        for run in runs {
            if rest < run.count { return run.time }
            rest -= run.count
        }
        return nil
    }

    /// Drops the first `n` times (all of them if there are fewer).
    mutating func removeFirst(_ n: Int64) {
        var left = min(max(n, 0), count)
        count -= left
        var drop = 0
        while left > 0, drop < runs.count {
            if runs[drop].count <= left {
                left -= runs[drop].count
                drop += 1
            } else {
                runs[drop].count -= left
                left = 0
            }
        }
        runs.removeFirst(drop)
    }
}
