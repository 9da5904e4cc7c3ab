import BackstopCrypto
import BackstopLedger

/// A signing queue's view of one proposal, like a multisig wallet's or PSBT's
/// `analyzepsbt`: what each signature file is, who has signed, who is still missing, and
/// whether the entry would be accepted now, and if not, the first rule that refuses it.
/// Computing it never writes.
public struct ProposalAnalysis: Sendable {
    /// Something wrong with the proposal itself, whatever its signatures.
    public struct Problem: Sendable, Equatable {
        /// A stable code: otherFund, staleSet, staleRoster, expired, idUsed, alreadyRecorded.
        public let code: String
        /// What it means, for people.
        public let message: String
    }

    /// The proposal.
    public let payload: Payload
    /// The signature files matched to signers; nil when the signers cannot be known (the
    /// payload names an unknown member, say).
    public let intake: SignatureIntake?
    /// Problems of the proposal itself.
    public let problems: [Problem]
    /// The entry that already records this action, if any.
    public let recordedAs: Int64?
    /// Why the entry would not be accepted now; nil when it would (or is already recorded).
    public let refusal: FundError?

    /// True when submitting now would append the entry.
    public var wouldBeAccepted: Bool { recordedAs == nil && refusal == nil }
}

extension FundState {
    /// Analyses `payload` (whose file holds `bytes`) with signature `files` as if it were
    /// submitted at `time`; `recordedAs` is the entry already recording it, if the caller
    /// found one (``Fund/recorded(_:state:file:)``).
    public func analyze(_ payload: Payload, bytes: [UInt8], files: [SignatureFile], at time: Timestamp, recordedAs: Int64? = nil) -> ProposalAnalysis {
        var problems: [ProposalAnalysis.Problem] = []
        let header = payload.header
        let ours = Hex.encode(fundId)
        if let fund = header.fund, fund != ours {
            problems.append(.init(code: "otherFund", message: "the proposal is for fund \(fund), not this ledger's fund \(ours): no signature over it counts here"))
        }
        if let set = header.delegateSet, payload.kind != .genesis, set != delegateSet {
            problems.append(.init(code: "staleSet", message: "the proposal is for delegate set v\(set), the current set is v\(delegateSet): approvals of it do not count"))
        } else if let roster = header.roster, roster != self.roster {
            problems.append(.init(code: "staleRoster", message: "the delegates the proposal names are not those of set v\(delegateSet)"))
        }
        if time > header.expires {
            problems.append(.init(code: "expired", message: "the proposal expired at \(header.expires)"))
        }
        if let recordedAs {
            problems.append(.init(code: "alreadyRecorded", message: "already recorded as entry \(recordedAs)"))
        } else if let used = usedIds[idKey(payload)] {
            problems.append(.init(code: "idUsed", message: "id \(header.id) is already used by entry \(used), for something else"))
        }

        var intake: SignatureIntake? = nil
        var refusal: FundError? = nil
        if payload.kind == .genesis {
            refusal = FundError(.malformedPayload, "a genesis payload starts a ledger; it cannot be submitted to one")
        } else {
            do {
                intake = try Fund.intake(payload, bytes: bytes, files: files, state: self)
            } catch let error as FundError {
                refusal = error
            } catch {
                refusal = FundError(.malformedPayload, "\(error)")
            }
        }
        if refusal == nil, recordedAs == nil {
            // The first rule that refuses: the payload's own rules first, then the signers.
            do {
                try dryRun(payload, at: time)
                if let shortfall = intake?.shortfall { throw shortfall }
                let entry = try Entry(seq: entryCount, prev: head, time: max(time, lastTime), kind: payload.kind.rawValue,
                                      body: payload.json, signatures: intake?.signatures ?? [])
                _ = try check(entry, hash: head)
            } catch let error as FundError {
                refusal = error
            } catch {
                refusal = FundError(.malformedPayload, "\(error)")
            }
        }
        return ProposalAnalysis(payload: payload, intake: intake, problems: problems, recordedAs: recordedAs, refusal: refusal)
    }
}
