import BackstopLedger

/// The rules version a genesis declares: 1 for funds made before confirmed receipts (no
/// `version` field), 2 since.
///
/// Version 2 changes two things, so a version-1 ledger still verifies as it did:
/// contributions count only when a `receipt` confirms them, and payload ids belong to their
/// signer (``FundState/idKey(_:)``). Everything else applies to both.
public enum RulesVersion {
    /// What this build writes in a new genesis.
    public static let current: Int64 = 2
    /// What it reads.
    static let known: ClosedRange<Int64> = 1...2
}

/// The fund's safeguards beyond dues: the receipt deadline, per-account caps for
/// restitution lists, whether member claims need up-to-date assessments, and the
/// jurisdictions where membership is mandatory. Named in the genesis; a policy entry may
/// replace them whole.
public struct Safeguards: Sendable, Hashable {
    /// How long after its declaration a contribution may be confirmed by a receipt; after
    /// that it is lapsed and never counts.
    public var receiptSeconds: Int64
    /// Per asset, the most one account may receive in a restitution list.
    public var accountCaps: [String: Amount]
    /// When true, a member whose assessments are overdue may not file a claim.
    public var claimsNeedAssessments: Bool
    /// Jurisdictions where every registered platform must be a member.
    public var mandatoryJurisdictions: [String]

    /// The defaults of a new fund: 30 days to confirm, no caps, claims not tied to
    /// assessments, no mandatory jurisdiction.
    public static let defaults = Safeguards(receiptSeconds: 30 * 86_400, accountCaps: [:], claimsNeedAssessments: false, mandatoryJurisdictions: [])

    /// Safeguards.
    public init(receiptSeconds: Int64, accountCaps: [String: Amount], claimsNeedAssessments: Bool, mandatoryJurisdictions: [String]) {
        self.receiptSeconds = receiptSeconds
        self.accountCaps = accountCaps
        self.claimsNeedAssessments = claimsNeedAssessments
        self.mandatoryJurisdictions = mandatoryJurisdictions
    }

    /// Receipt deadline: one hour to one year.
    static let receiptRange: ClosedRange<Int64> = 3_600...31_536_000

    /// Reads a `safeguards` object.
    static func read(_ value: JSONValue, context: String) throws(FundError) -> Safeguards {
        try readObject(value, context: "\(context) safeguards") { (r: inout FieldReader) throws(FundError) in
            let seconds = try r.integer("receiptSeconds", in: receiptRange)
            var caps: [String: Amount] = [:]
            for (symbol, value) in try r.assetMap("accountCaps", count: 0...FundLimits.assets.upperBound) {
                guard let text = value.stringValue else { throw r.invalid("accountCaps", "asset symbols with amounts in minor units") }
                caps[symbol] = try FieldReader.amount(text, field: "\(context) account cap \(symbol)")
            }
            guard let flag = r.value("claimsNeedAssessments")?.boolValue else { throw r.invalid("claimsNeedAssessments", "true or false") }
            var jurisdictions: [String] = []
            for item in try r.array("mandatoryJurisdictions", count: 0...64) {
                guard let code = item.stringValue, Identifiers.isIdentifier(code) else { throw r.invalid("mandatoryJurisdictions", "an array of jurisdiction codes (identifiers)") }
                guard !jurisdictions.contains(where: { Identifiers.same($0, code) }) else { throw FundError(.invalidParameter, "\(context): jurisdiction \(code) is listed twice") }
                jurisdictions.append(code)
            }
            return Safeguards(receiptSeconds: seconds, accountCaps: caps, claimsNeedAssessments: flag, mandatoryJurisdictions: jurisdictions)
        }
    }

    /// The safeguards as payloads write them.
    public var json: JSONValue {
        [
            "receiptSeconds": .integer(receiptSeconds),
            "accountCaps": .object(accountCaps.mapValues { .string($0.description) }),
            "claimsNeedAssessments": .bool(claimsNeedAssessments),
            "mandatoryJurisdictions": .array(mandatoryJurisdictions.map(JSONValue.string)),
        ]
    }

    /// The lines a signer reads, amounts in units when `decimals` knows the asset.
    func describe(_ screen: inout Screen, label: String = "safeguards", was old: Safeguards? = nil) {
        func change(_ name: String, _ before: String?, _ after: String) {
            guard let before else { return screen.line(name, after) }
            screen.line(name, before == after ? "\(after) (unchanged)" : "\(before) -> \(after)")
        }
        func caps(_ s: Safeguards) -> String {
            s.accountCaps.isEmpty ? "none" : s.accountCaps.sorted { $0.key < $1.key }.map { screen.amount($0.value, $0.key) }.joined(separator: ", ") + " per account"
        }
        change("receipts", old.map { "confirmed within \(Words.duration($0.receiptSeconds))" }, "confirmed within \(Words.duration(receiptSeconds))")
        change("account cap", old.map(caps), caps(self))
        change("claims", old.map { $0.claimsNeedAssessments ? "need up-to-date assessments" : "do not need assessments" },
               claimsNeedAssessments ? "need up-to-date assessments" : "do not need assessments")
        let list = { (s: Safeguards) in s.mandatoryJurisdictions.isEmpty ? "none" : s.mandatoryJurisdictions.joined(separator: ", ") }
        change("mandatory in", old.map(list), list(self))
    }

    /// Checks the caps name the fund's assets.
    func check(in assets: [String: Int], context: String) throws(FundError) {
        for symbol in accountCaps.keys.sorted() where assets[symbol] == nil {
            throw FundError(.unknownAsset, "\(context): account cap for unknown asset \(symbol)")
        }
    }
}
