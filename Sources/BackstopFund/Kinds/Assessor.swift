import BackstopCrypto
import BackstopLedger

/// Registers an independent assessor (with its firm and key), or updates or retires one.
/// Signed by the delegate threshold.
public struct AssessorPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.assessor
    /// The assessor's id.
    public let assessor: String
    /// The firm.
    public let firm: String
    /// The key that signs its assessments.
    public let key: PublicKey
    /// False to retire it: it signs no more assessments.
    public let active: Bool

    /// A registration.
    public init(assessor: String, firm: String, key: PublicKey, active: Bool = true) {
        self.assessor = assessor
        self.firm = firm
        self.key = key
        self.active = active
    }

    init(reading r: inout FieldReader) throws(FundError) {
        assessor = try r.identifier("assessor")
        firm = try r.text("firm", maxBytes: 200)
        key = try r.key("key")
        guard let flag = r.value("active")?.boolValue else { throw r.invalid("active", "true or false") }
        active = flag
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["assessor": .string(assessor), "firm": .string(firm), "key": .string(Hex.encode(key.derRepresentation)), "active": .bool(active)]
    }

    func describe(_ screen: inout Screen) {
        let known = screen.state?.assessors[assessor]
        screen.line("assessor", assessor + (known == nil ? (screen.state == nil ? "" : " (new)") : " (already registered: this changes it)"))
        screen.text("firm", firm)
        screen.line("key", "\(key.fingerprint) (\(key.curve.rawValue))")
        screen.line("status", active ? "active: may sign assessments" : "retired: signs no more assessments")
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        "assessor \(assessor) (\(SafeText.show(firm))) \(active ? (state.assessors[assessor] == nil ? "registered" : "updated") : "retired"), key \(key.fingerprint.prefix(16))…"
    }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { state.delegatePolicy("registering an assessor") }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        if state.assessors[assessor] == nil && !active { throw FundError(.unknownAssessor, "assessor \(assessor) is not registered, so it cannot be retired") }
        if let user = state.keyInUse(key), user != "assessor \(assessor)" { throw FundError(.duplicateKey, "key \(key.fingerprint) is already used by \(user)") }
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        state.assessors[assessor] = Assessor(id: assessor, firm: firm, key: key, active: active)
        if state.assessmentsSince == nil { state.assessmentsSince = entry.time }
    }
}
