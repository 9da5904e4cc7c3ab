import BackstopLedger

/// Suspends or reinstates a member. Signed by the delegate threshold.
public struct MemberStatusPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.memberStatus
    /// The member.
    public let member: String
    /// The new status.
    public let status: Member.Status
    /// Why.
    public let reason: String

    /// A status change.
    public init(member: String, status: Member.Status, reason: String) {
        self.member = member
        self.status = status
        self.reason = reason
    }

    init(reading r: inout FieldReader) throws(FundError) {
        member = try r.identifier("member")
        guard let text = r.value("status")?.stringValue, let status = Member.Status(rawValue: text), status.rawValue.utf8.elementsEqual(text.utf8) else {
            throw r.invalid("status", "\"active\" or \"suspended\"")
        }
        self.status = status
        reason = try r.text("reason", maxBytes: 2_000)
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] { ["member": .string(member), "status": .string(status.rawValue), "reason": .string(reason)] }

    func describe(_ screen: inout Screen) {
        screen.line("member", member + (screen.state?.members[member].map { " (\(SafeText.show($0.platform)))" } ?? ""))
        let now = screen.state?.members[member]?.status.rawValue
        screen.line("status", now.map { "\($0) -> \(status.rawValue)" } ?? status.rawValue)
        screen.text("reason", reason)
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "member \(member) is now \(status.rawValue): \(SafeText.show(reason))"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("changing a member's status") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        _ = try state.requireMember(member)
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.members[member]?.status = status
    }
}
