import BackstopLedger

/// An independent security and risk assessment of a member platform: who assessed it, when,
/// of what kind, and the report's SHA-256. Signed by the member and by the assessor.
///
/// The schedule (the seed's): two assessments by different assessors at founding, or after
/// a declared major upgrade (the first `major-upgrade` assessment declares it), the pair
/// within one month; one periodic assessment within 3 months after the pair; then one at
/// least every 6 months. The same assessor may not assess the same platform twice within 14
/// months. Months are calendar months (UTC).
public struct AssessmentPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.assessment
    /// The member assessed.
    public let member: String
    /// The assessor.
    public let assessor: String
    /// The assessment's date.
    public let date: Timestamp
    /// Founding, major upgrade or periodic.
    public let assessmentKind: Assessment.Kind
    /// SHA-256 (hex) of the report.
    public let report: String

    /// An assessment.
    public init(member: String, assessor: String, date: Timestamp, kind: Assessment.Kind, report: String) {
        self.member = member
        self.assessor = assessor
        self.date = date
        self.assessmentKind = kind
        self.report = report
    }

    init(reading r: inout FieldReader) throws(FundError) {
        member = try r.identifier("member")
        assessor = try r.identifier("assessor")
        date = try r.time("date")
        guard let kind = r.value("assessmentKind")?.stringValue.flatMap(Assessment.Kind.init(rawValue:)) else {
            throw r.invalid("assessmentKind", "founding, major-upgrade or periodic")
        }
        assessmentKind = kind
        report = try r.hash("report")
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["member": .string(member), "assessor": .string(assessor), "date": .string(date.description),
         "assessmentKind": .string(assessmentKind.rawValue), "report": .string(report)]
    }

    func describe(_ screen: inout Screen) {
        screen.line("member", member)
        screen.line("assessor", assessor + (screen.state?.assessors[assessor].map { " (\(SafeText.show($0.firm)))" } ?? ""))
        screen.line("date", Words.time(date))
        screen.line("kind", assessmentKind.rawValue)
        screen.line("report", "sha256 \(report)")
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "\(assessmentKind.rawValue) assessment of \(member) by \(assessor) dated \(date), report \(report.prefix(16))…"
    }

    func idScope(_ header: PayloadHeader) -> String { "member \(member) assessments" }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy {
        let current = try state.requireMember(member)
        guard let who = state.assessors[assessor], who.active else {
            throw FundError(.unknownAssessor, "assessor \(assessor) is not a registered, active assessor\(Identifiers.didYouMean(assessor, among: Array(state.assessors.keys)))")
        }
        return SignerPolicy(action: "an assessment", groups: [
            SignerGroup(role: .member(member), keys: [NamedKey(name: "member \(member)", key: current.key)], threshold: 1),
            SignerGroup(role: .assessor(assessor), keys: [NamedKey(name: "assessor \(assessor)", key: who.key)], threshold: 1),
        ])
    }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        _ = try signers(in: state)
        guard state.members[member]!.key != state.assessors[assessor]!.key else {
            throw FundError(.duplicateKey, "member \(member) and assessor \(assessor) have the same key: an assessment needs two signers")
        }
        guard date <= entry.time else { throw FundError(.invalidParameter, "assessment dated \(date), after the entry time \(entry.time)") }
        let history = state.assessments[member] ?? []
        if let last = history.last, date < last.date {
            throw FundError(.assessmentOrder, "assessment dated \(date), before \(member)'s last recorded one (\(last.date)); record them in date order")
        }
        for earlier in history where earlier.assessor == assessor {
            if let allowed = earlier.date.adding(months: 14), date < allowed {
                throw FundError(.assessorTooRecent, "assessor \(assessor) assessed \(member) on \(earlier.date); the same assessor may not assess it again before \(allowed) (14 months)")
            }
        }
        let schedule = state.assessmentSchedule(member: member)
        switch assessmentKind {
        case .founding:
            guard schedule.cycle == .founding && !schedule.pairComplete else {
                throw FundError(.assessmentOrder, "\(member)'s founding assessments are complete; record a periodic or a major-upgrade assessment")
            }
        case .majorUpgrade:
            guard schedule.cycle == .majorUpgrade || schedule.pairComplete else {
                throw FundError(.assessmentOrder, "\(member) needs its second founding assessment, by another assessor, before a major upgrade can be declared")
            }
        case .periodic:
            guard schedule.pairComplete else {
                throw FundError(.assessmentOrder, "\(member) needs a second \(schedule.cycle.rawValue) assessment, by another assessor, before periodic ones")
            }
        }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.assessments[member, default: []].append(Assessment(assessor: assessor, date: date, kind: assessmentKind, report: report, seq: entry.seq))
    }
}

/// Where a member stands in the assessment schedule, from its recorded assessments.
public struct AssessmentSchedule: Sendable, Hashable {
    /// The cycle it is in: founding, or after a declared major upgrade.
    public let cycle: Assessment.Kind
    /// When the cycle began (admission, or the first major-upgrade assessment).
    public let cycleStart: Timestamp
    /// True once two different assessors assessed it in the cycle.
    public let pairComplete: Bool
    /// When the next assessment is due.
    public let due: Timestamp?
    /// What is due: "second founding assessment", "first periodic assessment", ...
    public let needs: String

    init(member: Member, history: [Assessment], since: Timestamp?) {
        var cycle = Assessment.Kind.founding
        var start = max(member.admittedAt, since ?? member.admittedAt)
        var assessors: [String] = []
        var pairDone: Timestamp? = nil
        var lastPeriodic: Timestamp? = nil
        for a in history {
            switch a.kind {
            case .founding, .majorUpgrade:
                if a.kind == .majorUpgrade && (cycle != .majorUpgrade || pairDone != nil) {
                    cycle = .majorUpgrade
                    start = a.date
                    assessors = []
                    pairDone = nil
                    lastPeriodic = nil
                }
                if !assessors.contains(a.assessor) { assessors.append(a.assessor) }
                if assessors.count >= 2 && pairDone == nil { pairDone = a.date }
            case .periodic:
                lastPeriodic = a.date
            }
        }
        self.cycle = cycle
        cycleStart = start
        pairComplete = pairDone != nil
        let name = cycle == .founding ? "founding" : "major-upgrade"
        if let pairDone {
            if let lastPeriodic {
                due = lastPeriodic.adding(months: 6)
                needs = "periodic assessment (6 months after the last)"
            } else {
                due = pairDone.adding(months: 3)
                needs = "first periodic assessment (3 months after the \(name) pair)"
            }
        } else if since == nil {
            due = nil
            needs = "nothing yet: no assessor is registered"
        } else {
            due = start.adding(months: 1)
            needs = assessors.isEmpty ? "two \(name) assessments by different assessors" : "a second \(name) assessment, by another assessor"
        }
    }
}

extension FundState {
    /// Where `member` stands in the assessment schedule.
    public func assessmentSchedule(member: String) -> AssessmentSchedule {
        AssessmentSchedule(member: members[member]!, history: assessments[member] ?? [], since: assessmentsSince)
    }
}
