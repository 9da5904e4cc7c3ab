import BackstopCLI
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// The fund as the service holds it: the open ledger (the service is its only writer),
/// the signing queue, and the history the dashboard draws. One actor, so requests are
/// answered one at a time against one state, and every write goes through `Fund`, the
/// same rules as the command line's.
actor FundService {
    /// A proposal waiting for signatures.
    struct Proposal {
        /// The payload file's exact bytes (what is signed).
        let bytes: [UInt8]
        let payload: Payload
        /// The signatures that counted when posted, in order.
        var files: [SignatureFile]
        /// Where it lies on disk.
        let folder: URL
        /// The entry that records it, once recorded.
        var recordedAs: Int64? = nil
    }

    /// How many proposals may wait, and how many signatures one may hold: bounds on what
    /// unauthenticated clients can make the service store.
    static let maximumProposals = 1_000, maximumSignatures = 10_000

    private let fund: Fund
    private var history: FundHistory
    /// Proposals waiting for signatures, by queue id, and their order of arrival.
    private var proposals: [String: Proposal] = [:]
    private var order: [String] = []
    /// Proposals recorded while the service ran, so that their ids still answer (the
    /// latest `maximumRetired`); their folders are removed from the queue.
    private var retired: [String: Proposal] = [:]
    private var retiredOrder: [String] = []
    static let maximumRetired = 10_000
    private let queueFolder: URL
    private let clock: @Sendable () -> Timestamp
    private let autoSubmit: Bool
    private(set) var copyCommand: String

    /// Opens the ledger at `location` for writing and loads the queue kept in `queue`.
    init(location: LedgerLocation, queue: URL, autoSubmit: Bool, clock: @escaping @Sendable () -> Timestamp, copyCommand: String) throws {
        // The history is gathered by a full verification; then the ledger is opened to write.
        let read: (FundState, FundHistory)
        switch location {
        case .folder(let folder):
            read = try FundHistory.read(folder: folder)
        case .store:
            let storage = try location.openForReading()
            defer { storage.close() }
            read = try FundHistory.read(storage: storage)
        case .service(let url):
            throw ServiceError(.badRequest, "badInput", "--ledger \(url) is a service; serve a folder or a database")
        }
        fund = try openFund(location, wait: 0, clock: clock)
        history = read.1
        guard fund.state.head == read.0.head else {
            fund.close()
            throw ServiceError(.serviceUnavailable, "unavailable", "the ledger grew while the service started; start it again")
        }
        self.queueFolder = queue
        self.clock = clock
        self.autoSubmit = autoSubmit
        self.copyCommand = copyCommand
        try QueueFolder.prepare(queue)
        for (id, bytes, files, folder) in try QueueFolder.load(queue) {
            guard let payload = try? Payload(bytes: bytes), Hex.encode(try SHA256.hash(bytes)) == id else { continue }
            var proposal = Proposal(bytes: bytes, payload: payload, files: files, folder: folder)
            // Recorded before a restart (appended, then stopped before its folder was removed).
            if let seq = try fund.recorded(payload) {
                proposal.recordedAs = seq
                retired[id] = proposal
                retiredOrder.append(id)
                try? FileManager.default.removeItem(at: folder)
            } else {
                proposals[id] = proposal
                order.append(id)
            }
        }
    }

    func close() { fund.close() }

    /// Sets the address the dashboard tells readers to mirror from.
    func setPublicURL(_ url: String) { copyCommand = "backstop mirror --from \(url) --to fund-copy" }

    var now: Timestamp { clock() }
    var state: FundState { fund.state }

    // MARK: Reading

    func status() -> JSONValue { statusReport(fund.state, at: now) }

    /// Bumped at every change of the queue, so that pages built from it can be reused.
    private var queueVersion = 0
    private var cachedDashboard: (key: String, page: String)?
    private var cachedQueue: (key: String, value: JSONValue)?

    /// What a page built now shows: the same ledger, queue and minute give the same page,
    /// so a flood of readers costs one analysis of the queue a minute, not one each.
    private var cacheKey: String { "\(fund.state.entryCount) \(queueVersion) \(now.secondsSinceEpoch / 60) \(copyCommand)" }

    func dashboard() -> String {
        let key = cacheKey
        if let cached = cachedDashboard, cached.key == key { return cached.page }
        let context = Pages.Context(now: now, history: history, queue: waiting().map { ($0, analyze($1)) }, copyCommand: copyCommand)
        let page = Pages.dashboard(fund.state, context, live: true)
        cachedDashboard = (key, page)
        return page
    }

    /// The petition page, or nil when `id` is not a queued petition.
    func petitionPage(_ id: String) throws -> String? {
        guard let proposal = proposals[id] ?? retired[id], let claim = proposal.payload.body as? ClaimPayload, claim.member == nil else { return nil }
        let analysis = analyze(proposal)
        return Pages.petition(id: id, analysis: analysis, state: fund.state, recordedAs: analysis.recordedAs)
    }

    /// Proposals not yet recorded, oldest first.
    private func waiting() -> [(String, Proposal)] {
        order.compactMap { id in proposals[id].map { (id, $0) } }
    }

    func queue() -> JSONValue {
        let key = cacheKey
        if let cached = cachedQueue, cached.key == key { return cached.value }
        let value = JSONValue.array(waiting().map { id, proposal in
            report(analyze(proposal)).adding(["queueId": .string(id)])
        })
        cachedQueue = (key, value)
        return value
    }

    func proposal(_ id: String) throws -> JSONValue {
        let proposal = try find(id)
        return report(analyze(proposal)).adding(["queueId": .string(id)])
    }

    func payload(_ id: String) throws -> [UInt8] { try find(id).bytes }

    /// Up to `count` ledger lines from `seq`, exactly as stored.
    func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        let total = fund.state.entryCount
        guard seq < total else { return [] }
        return try fund.storage.lines(from: seq, count: Int(min(Int64(count), total - seq)))
    }

    var entryCount: Int64 { fund.state.entryCount }

    // MARK: Writing

    /// Queues a proposal (a payload file's bytes) after the same checks a signer's screen
    /// makes: it must be for this fund, unexpired, and refused now only for want of
    /// signatures. Returns its queue id (SHA-256 of the bytes), whether it is new, and the analysis.
    func propose(_ bytes: [UInt8]) throws -> (id: String, created: Bool, report: JSONValue) {
        let (payload, _) = try parsePayload(bytes, source: "the request body")
        guard payload.kind != .genesis else { throw ServiceError(.badRequest, "badInput", "a genesis payload starts a ledger; it cannot be proposed to one") }
        if payload.kind == .checkpoint { throw ServiceError(.badRequest, "badInput", "checkpoints are cosigned by witnesses, not proposed") }
        let id = Hex.encode(try SHA256.hash(bytes))
        if let existing = proposals[id] ?? retired[id] {
            return (id, false, report(analyze(existing)).adding(["queueId": .string(id)]))
        }
        let analysis = fund.state.analyze(payload, bytes: bytes, files: [], at: now, recordedAs: try fund.recorded(payload))
        let answer = report(analysis).adding(["queueId": .string(id)])
        if analysis.recordedAs != nil { return (id, false, answer) }
        if let problem = analysis.problems.first { throw ServiceError(.conflict, "refused", problem.message, rule: problem.code) }
        if let refusal = analysis.refusal, refusal.reason != analysis.intake?.shortfall?.reason {
            throw ServiceError(status: refusal.isBadInput ? .badRequest : .conflict, code: refusal.isBadInput ? "badInput" : "refused",
                               message: "refused: \(refusal.reason)", rule: refusal.rule.rawValue)
        }
        if proposals.count >= Self.maximumProposals {
            // Expired proposals can never be recorded: they make room first.
            for (old, proposal) in proposals where proposal.payload.header.expires < now {
                queueVersion += 1
                proposals[old] = nil
                order.removeAll { $0 == old }
                try? FileManager.default.removeItem(at: proposal.folder)
            }
        }
        guard proposals.count < Self.maximumProposals else {
            throw ServiceError(.serviceUnavailable, "queueFull", "the queue holds \(Self.maximumProposals) proposals; try again when some are recorded or expired")
        }
        let folder = try QueueFolder.add(id: id, payload: bytes, in: queueFolder)
        proposals[id] = Proposal(bytes: bytes, payload: payload, files: [], folder: folder)
        order.append(id)
        queueVersion += 1
        return (id, true, answer)
    }

    /// Adds a signature to a queued proposal: kept only when it counts (a valid signature
    /// by someone who may sign and has not yet). Appends the entry when it would now be
    /// accepted and the service submits automatically.
    func sign(_ id: String, der: [UInt8], publicKey: PublicKey?) throws -> (created: Bool, report: JSONValue) {
        var proposal = try find(id)
        if let seq = proposal.recordedAs {
            throw ServiceError(.conflict, "alreadyRecorded", "already recorded as entry \(seq)")
        }
        guard proposal.files.count < Self.maximumSignatures else {
            throw ServiceError(.serviceUnavailable, "queueFull", "this proposal already holds \(Self.maximumSignatures) signatures")
        }
        // Once the signatures suffice, more add nothing (and would cost every later request
        // their verification): submit it instead.
        if !proposal.files.isEmpty, (try? Fund.intake(proposal.payload, bytes: proposal.bytes, files: proposal.files, state: fund.state))?.shortfall == nil {
            throw ServiceError(.conflict, "enoughSignatures", "this proposal has all the signatures it needs; it is appended when the rules accept it (POST /v1/proposals/\(id)/submit)")
        }
        let name = String(format: "%05d", proposal.files.count + 1)
        let file = SignatureFile(name: name + ".sig", der: der, publicKey: publicKey)
        let intake: SignatureIntake
        do {
            intake = try Fund.intake(proposal.payload, bytes: proposal.bytes, files: proposal.files + [file], state: fund.state)
        } catch let error as FundError {
            throw ServiceError(status: .conflict, code: "refused", message: "refused: \(error.reason)", rule: error.rule.rawValue)
        }
        let verdict = intake.files.last!.verdict
        var created = false
        switch verdict {
        case .counted:
            try QueueFolder.addSignature(der, publicKey: publicKey, name: name, in: proposal.folder)
            proposal.files.append(file)
            proposals[id] = proposal
            queueVersion += 1
            created = true
        case .duplicate:
            break  // Already counted: the answer is the same as the first time.
        default:
            throw ServiceError(status: .unprocessableContent, code: verdict.code, message: "signature not accepted: \(verdict.explanation)")
        }
        let analysis = analyze(proposal)
        var extra: [String: JSONValue] = [
            "queueId": .string(id),
            "signature": ["code": .string(verdict.code), "signer": verdict.signer.map { .string($0) } ?? .null, "message": .string(verdict.explanation)],
            "appended": .null,
        ]
        if autoSubmit, created, analysis.wouldBeAccepted {
            extra["appended"] = try append(id, proposal)
            return (created, report(analyze(retired[id] ?? proposal)).adding(extra))
        }
        return (created, report(analysis).adding(extra))
    }

    /// Appends a queued proposal whose signatures suffice.
    func submit(_ id: String) throws -> JSONValue {
        let proposal = try find(id)
        if let seq = proposal.recordedAs {
            throw ServiceError(.conflict, "alreadyRecorded", "already recorded as entry \(seq)")
        }
        return try append(id, proposal)
    }

    private func append(_ id: String, _ proposal: Proposal) throws -> JSONValue {
        let before = fund.state
        let (entry, _) = try fund.submit(payloadBytes: proposal.bytes, files: proposal.files, time: max(now, before.lastTime))
        history.observe(entry, before: before)
        var recorded = proposal
        recorded.recordedAs = entry.seq
        retire(id, recorded)
        return ["seq": .integer(entry.seq), "kind": .string(entry.kind), "hash": .string(Hex.encode(fund.state.head)),
                "time": .string(entry.time.description), "summary": .string(before.summary(of: entry))]
    }

    // MARK: Transparency

    /// Cosignatures posted for the current checkpoint, until a quorum is reached.
    private var cosigning: (text: String, signatures: [SignedNote.Signature])?

    /// The checkpoint of the ledger as it is now (a C2SP signed note), with the
    /// cosignatures posted for it so far: what witnesses cosign.
    func checkpointNote() -> String {
        let text = fund.checkpoint().text
        return SignedNote(text: text, signatures: cosigning?.text == text ? cosigning!.signatures : []).rendered
    }

    /// Takes a witness's cosignature of the current checkpoint (the note, as `backstop
    /// cosign` leaves it). When the fund's quorum has cosigned, the checkpoint is recorded
    /// (`Fund.submitCheckpoint`, the same as `backstop submit --checkpoint`).
    func cosign(_ body: [UInt8]) throws -> (created: Bool, report: JSONValue) {
        let note: SignedNote
        do {
            note = try SignedNote(parsing: String(decoding: body, as: UTF8.self))
        } catch let error as LedgerError {
            throw ServiceError(.badRequest, "badInput", error.reason)
        }
        let current = fund.checkpoint()
        guard note.text == current.text else {
            throw ServiceError(.conflict, "stale", "that is not the ledger's checkpoint now (\(current.size) entries): GET /v1/checkpoint and cosign that")
        }
        let policy = fund.state.witnesses ?? .delegates
        let held = cosigning?.text == note.text ? cosigning!.signatures : []
        let before = try cosignatures(held, text: note.text, policy: policy).times.count
        var merged = held
        for signature in note.signatures where !merged.contains(signature) { merged.append(signature) }
        let cosigned = try cosignatures(merged, text: note.text, policy: policy)
        // A note whose lines are all held already is a repeat, answered as the first time.
        let repeated = !note.signatures.isEmpty && note.signatures.allSatisfy(held.contains)
        guard cosigned.times.count > before || repeated else {
            throw ServiceError(.unprocessableContent, "notAWitness", "the note holds no new cosignature by one of the fund's witnesses (\(policy.words(fund.state)))")
        }
        cosigning = (note.text, merged)
        var report: JSONValue = ["ok": true, "size": .integer(current.size), "cosignedBy": .array(cosigned.times.keys.sorted().map { .string($0) }),
                                 "quorum": .integer(Int64(cosigned.quorum)), "appended": .null]
        if cosigned.sealed {
            let before = fund.state
            let entry = try fund.submitCheckpoint(SignedNote(text: note.text, signatures: merged), time: max(now, before.lastTime))
            history.observe(entry, before: before)
            cosigning = nil
            report = report.adding(["appended": ["seq": .integer(entry.seq), "kind": .string(entry.kind), "summary": .string(before.summary(of: entry))]])
        }
        return (cosigned.times.count > before, report)
    }

    private func cosignatures(_ signatures: [SignedNote.Signature], text: String, policy: WitnessPolicy) throws -> Cosignatures {
        do {
            return try Cosignatures(signatures, text: text, policy: policy, state: fund.state)
        } catch {
            throw ServiceError(status: .unprocessableContent, code: "refused", message: "cosignature not accepted: \(error.reason)", rule: error.rule.rawValue)
        }
    }

    /// An RFC 9162 inclusion proof of entry `seq` in the tree of the first `size` entries.
    func inclusionProof(seq: Int64, size: Int64) throws -> JSONValue {
        guard size >= 1, size <= fund.state.entryCount, seq >= 0, seq < size else {
            throw ServiceError(.badRequest, "badInput", "need 0 <= seq < size <= \(fund.state.entryCount) (the ledger's entries)")
        }
        let line = try fund.storage.line(seq)
        let proof = try Merkle.inclusionProof(index: seq, size: size, subtree: fund.tiles.subtree)
        return ["seq": .integer(seq), "size": .integer(size), "root": .string(Base64.encode(try fund.tiles.root(size: size))),
                "line": .string(Base64.encode(line)), "proof": .array(proof.map { .string(Base64.encode($0)) })]
    }

    /// An RFC 9162 consistency proof from the tree of `old` entries to that of `new`.
    func consistencyProof(old: Int64, new: Int64) throws -> JSONValue {
        guard old >= 1, old <= new, new <= fund.state.entryCount else {
            throw ServiceError(.badRequest, "badInput", "need 1 <= from <= to <= \(fund.state.entryCount) (the ledger's entries)")
        }
        let proof = try Merkle.consistencyProof(old: old, new: new, subtree: fund.tiles.subtree)
        return ["from": .integer(old), "to": .integer(new), "fromRoot": .string(Base64.encode(try fund.tiles.root(size: old))),
                "toRoot": .string(Base64.encode(try fund.tiles.root(size: new))), "proof": .array(proof.map { .string(Base64.encode($0)) })]
    }

    // MARK: Helpers

    /// Moves a recorded proposal out of the queue: its id still answers; its folder goes.
    private func retire(_ id: String, _ proposal: Proposal) {
        queueVersion += 1
        proposals[id] = nil
        order.removeAll { $0 == id }
        retired[id] = proposal
        retiredOrder.append(id)
        if retiredOrder.count > Self.maximumRetired { retired[retiredOrder.removeFirst()] = nil }
        // The ledger holds the entry now; a folder left by a failed removal is retired again at the next start.
        try? FileManager.default.removeItem(at: proposal.folder)
    }

    private func find(_ id: String) throws -> Proposal {
        guard let proposal = proposals[id] ?? retired[id] else { throw ServiceError(.notFound, "notFound", "no proposal \(id.count == 64 && id.allSatisfy(\.isHexDigit) ? id : "with that id") in the queue") }
        return proposal
    }

    /// `backstop check --json`'s object for a request that succeeded: `ok` is true, and
    /// `wouldBeAccepted`, `refusal`, `groups` and `petition` say where the proposal stands.
    private func report(_ analysis: ProposalAnalysis) -> JSONValue {
        guard case .object(var object) = analysisReport(analysis) else { return .null }
        object["error"] = nil
        object["ok"] = true
        return .object(object)
    }

    private func analyze(_ proposal: Proposal) -> ProposalAnalysis {
        fund.state.analyze(proposal.payload, bytes: proposal.bytes, files: proposal.files, at: now, recordedAs: proposal.recordedAs)
    }
}

extension FundError {
    /// A refusal that says the input was unusable (HTTP 400) rather than refused by a rule (409).
    var isBadInput: Bool {
        switch rule {
        case .malformedPayload, .forbiddenCharacter, .invalidAmount, .unknownAsset: true
        default: false
        }
    }
}

extension JSONValue {
    /// This object with `members` added (replacing any of the same name).
    func adding(_ members: [String: JSONValue]) -> JSONValue {
        guard case .object(var object) = self else { return self }
        object.merge(members) { $1 }
        return .object(object)
    }
}
