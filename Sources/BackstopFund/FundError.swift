import BackstopLedger

/// A refusal by the fund's rules: the rule, the entry or payload concerned, and the values.
public struct FundError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rule that said no. Stable, for programs; Docs/RULES.md lists each one.
    public enum Rule: String, Sendable {
        case malformedPayload, forbiddenCharacter, wrongDomain, wrongFund, wrongDelegateSet, wrongUnits, staleState, expired, replayedId
        case threshold, unauthorizedSigner, petitionThreshold
        case invalidAmount, unknownAsset, invalidParameter
        case unknownMember, duplicateMember, memberNotActive, arrears, duplicateKey
        case unknownClaim, claimNotOpen, overClaim, overBalance
        case unknownRelease, releaseNotPending, tooEarly
        case timeBackwards, timeAhead, notInitialized
        case checkpointMismatch, quorum
        case unknownContribution, receiptLate, overReceipt, overReserves, restitutionMismatch, overAccountCap
        case unknownAssessor, assessorTooRecent, assessmentOrder, assessmentOverdue, wrongVersion, tooManyPetitions
    }

    /// The rule that said no.
    public let rule: Rule
    /// The sequence number of the entry concerned, when there is one.
    public var seq: Int64?
    /// What was wrong, with the values involved.
    public let reason: String

    /// Creates a refusal.
    public init(_ rule: Rule, seq: Int64? = nil, _ reason: String) {
        self.rule = rule
        self.seq = seq
        self.reason = reason
    }

    /// "entry N: reason", or the reason alone.
    public var description: String { seq.map { "entry \($0): \(reason)" } ?? reason }
}
