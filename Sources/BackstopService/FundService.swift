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
        /// The address that queued it (nil when loaded from disk).
        var client: String? = nil
    }

    /// Bounds on what unauthenticated clients can make the service store and verify: the
    /// proposals that may wait, the signatures all of them may hold together, the unsigned
    /// proposals one address may have waiting, and how far ahead a queued proposal may expire.
    static let maximumProposals = 1_000, maximumQueuedSignatures = 20_000, maximumUnsignedPerClient = 20
    static let maximumLifetimeSeconds: Int64 = 30 * 86_400

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
        let context = Pages.Context(now: now, history: history, queue: waiting().map { ($0, analyze($0, $1)) }, copyCommand: copyCommand)
        let page = Pages.dashboard(fund.state, context, live: true)
        cachedDashboard = (key, page)
        return page
    }

    /// The petition page, or nil when `id` is not a queued petition.
    func petitionPage(_ id: String) throws -> String? {
        guard let proposal = proposals[id] ?? retired[id], let claim = proposal.payload.body as? ClaimPayload, claim.member == nil else { return nil }
        let analysis = analyze(id, proposal)
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
            report(analyze(id, proposal)).adding(["queueId": .string(id)])
        })
        cachedQueue = (key, value)
        return value
    }

    func proposal(_ id: String) throws -> JSONValue {
        let proposal = try find(id)
        return report(analyze(id, proposal)).adding(["queueId": .string(id)])
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

    /// Queues a proposal (a payload file's bytes) from `client` after the same checks a
    /// signer's screen makes: it must be for this fund, unexpired but expiring within 30
    /// days, and refused now only for want of signatures or for being too early; and the
    /// client may not have too many unsigned proposals waiting. Returns its queue id
    /// (SHA-256 of the bytes), whether it is new, and the analysis.
    func propose(_ bytes: [UInt8], client: String) throws -> (id: String, created: Bool, report: JSONValue) {
        let (payload, _) = try parsePayload(bytes, source: "the request body")
        guard payload.kind != .genesis else { throw ServiceError(.badRequest, "badInput", "a genesis payload starts a ledger; it cannot be proposed to one") }
        if payload.kind == .checkpoint { throw ServiceError(.badRequest, "badInput", "checkpoints are cosigned by witnesses, not proposed") }
        let id = Hex.encode(try SHA256.hash(bytes))
        if let existing = proposals[id] ?? retired[id] {
            return (id, false, report(analyze(id, existing)).adding(["queueId": .string(id)]))
        }
        let analysis = fund.state.analyze(payload, bytes: bytes, files: [], at: now, recordedAs: try fund.recorded(payload))
        let answer = report(analysis).adding(["queueId": .string(id)])
        if analysis.recordedAs != nil { return (id, false, answer) }
        if let problem = analysis.problems.first { throw ServiceError(.conflict, "refused", problem.message, rule: problem.code) }
        if let refusal = analysis.refusal, !Self.mayWait(refusal, analysis) {
            throw ServiceError(status: refusal.isBadInput ? .badRequest : .conflict, code: refusal.isBadInput ? "badInput" : "refused",
                               message: "refused: \(refusal.reason)", rule: refusal.rule.rawValue)
        }
        guard payload.header.expires.secondsSinceEpoch - now.secondsSinceEpoch <= Self.maximumLifetimeSeconds else {
            throw ServiceError(.conflict, "refused", "the proposal expires at \(payload.header.expires), more than 30 days from now; the service queues proposals that expire within 30 days", rule: "expires")
        }
        let unsigned = proposals.values.filter { $0.client == client && $0.files.isEmpty }.count
        guard unsigned < Self.maximumUnsignedPerClient else {
            throw ServiceError(.tooManyRequests, "rateLimited", "this address has \(unsigned) proposals waiting with no signature; sign some first")
        }
        if proposals.count >= Self.maximumProposals { evictHopeless() }
        guard proposals.count < Self.maximumProposals else {
            throw ServiceError(.serviceUnavailable, "queueFull", "the queue holds \(Self.maximumProposals) proposals; try again when some are recorded or expired")
        }
        let folder = try QueueFolder.add(id: id, payload: bytes, in: queueFolder)
        proposals[id] = Proposal(bytes: bytes, payload: payload, files: [], folder: folder, client: client)
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
        // A proposal that can no longer be recorded (expired, its id taken, another
        // delegate set) takes no signature: signing it would be for nothing.
        let current = analyze(id, proposal)
        if let problem = current.problems.first { throw ServiceError(.conflict, "refused", problem.message, rule: problem.code) }
        guard let held = current.intake else {
            let reason = current.refusal?.reason ?? "the signers of this proposal cannot be known"
            throw ServiceError(status: .conflict, code: "refused", message: "refused: \(reason)", rule: current.refusal?.rule.rawValue)
        }
        // Once the signatures suffice, more add nothing (and would cost every later request
        // their verification).
        if !proposal.files.isEmpty, held.shortfall == nil {
            throw ServiceError(.conflict, "enoughSignatures", autoSubmit
                ? "this proposal has all the signatures it needs; the service appends it as soon as the rules accept it\(current.refusal.map { " (now: \($0.reason))" } ?? "")"
                : "this proposal has all the signatures it needs: POST /v1/proposals/\(id)/submit appends it")
        }
        guard queuedSignatures < Self.maximumQueuedSignatures else {
            throw ServiceError(.serviceUnavailable, "queueFull", "the queue holds \(Self.maximumQueuedSignatures) signatures; try again when some proposals are recorded or expired")
        }
        let name = String(format: "%05d", proposal.files.count + 1)
        let file = SignatureFile(name: name + ".sig", der: der, publicKey: publicKey)
        // Only the new signature is verified; who signed before is known from the analysis.
        let single: SignatureIntake
        do {
            single = try Fund.intake(proposal.payload, bytes: proposal.bytes, files: [file], state: fund.state)
        } catch let error as FundError {
            throw ServiceError(status: .conflict, code: "refused", message: "refused: \(error.reason)", rule: error.rule.rawValue)
        }
        var verdict = single.files[0].verdict
        if case .counted(let signer, _) = verdict, let key = single.signatures.first?.publicKey, held.signatures.contains(where: { $0.publicKey == key }) {
            verdict = .duplicate(signer: signer)
        }
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
        let analysis = analyze(id, proposal)
        var extra: [String: JSONValue] = [
            "queueId": .string(id),
            "signature": ["code": .string(verdict.code), "signer": verdict.signer.map { .string($0) } ?? .null, "message": .string(verdict.explanation)],
            "appended": .null,
        ]
        if autoSubmit, created, analysis.wouldBeAccepted {
            extra["appended"] = try append(id, proposal)
            return (created, report(analyze(id, retired[id] ?? proposal)).adding(extra))
        }
        return (created, report(analysis).adding(extra))
    }

    /// Appends every waiting proposal whose signatures suffice and that the rules accept
    /// now (one that was only too early, say). The service calls it every 30 seconds.
    func submitReady() {
        guard autoSubmit else { return }
        for (id, proposal) in waiting() where !proposal.files.isEmpty && analyze(id, proposal).wouldBeAccepted {
            _ = try? append(id, proposal)
        }
    }

    /// Signatures held by the whole queue.
    private var queuedSignatures: Int { proposals.values.reduce(0) { $0 + $1.files.count } }

    /// Whether a proposal refused now may still wait in the queue: for want of signatures,
    /// or because it is too early (a settlement before the delay has run).
    private static func mayWait(_ refusal: FundError, _ analysis: ProposalAnalysis) -> Bool {
        refusal.reason == analysis.intake?.shortfall?.reason || refusal.rule == .tooEarly
    }

    /// When the queue is full: drops the proposals that can never be recorded (expired,
    /// their id taken, for another delegate set).
    private func evictHopeless() {
        for (id, proposal) in proposals where !analyze(id, proposal).problems.isEmpty {
            queueVersion += 1
            proposals[id] = nil
            analyses[id] = nil
            order.removeAll { $0 == id }
            try? FileManager.default.removeItem(at: proposal.folder)
        }
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

    /// Cosignatures posted per checkpoint (by note text), until a quorum is reached: any
    /// checkpoint larger than the last recorded one and no larger than the ledger, so that an
    /// append between two witnesses does not throw the first one's line away. Held in
    /// memory (at most `maximumCheckpointsHeld`): a restart asks the witnesses again.
    private var cosigning: [String: [SignedNote.Signature]] = [:]
    private var cosigningOrder: [String] = []
    static let maximumCheckpointsHeld = 16

    /// The checkpoint of the ledger as it is now (a C2SP signed note), with the
    /// cosignatures posted for it so far: what witnesses cosign.
    func checkpointNote() -> String {
        let text = fund.checkpoint().text
        return SignedNote(text: text, signatures: cosigning[text] ?? []).rendered
    }

    /// Takes a witness's cosignature of a checkpoint of this ledger (the note, as `backstop
    /// cosign` leaves it). When the fund's quorum has cosigned, the checkpoint is recorded
    /// (`Fund.submitCheckpoint`, the same as `backstop submit --checkpoint`). A line the
    /// rules would refuse is not kept, so one faulty witness cannot block the others.
    func cosign(_ body: [UInt8]) throws -> (created: Bool, report: JSONValue) {
        let note: SignedNote
        let point: Checkpoint
        do {
            note = try SignedNote(parsing: String(decoding: body, as: UTF8.self))
            point = try Checkpoint(text: note.text)
        } catch let error as LedgerError {
            throw ServiceError(.badRequest, "badInput", error.reason)
        }
        let state = fund.state
        guard Identifiers.same(point.origin, fund.checkpoint().origin), point.size > state.checkpointSize, point.size <= state.entryCount,
              (try? fund.tiles.root(size: point.size)) == point.root else {
            throw ServiceError(.conflict, "stale", "that is not a checkpoint of this ledger newer than its last recorded one (\(state.checkpointSize) entries; it has \(state.entryCount)): GET /v1/checkpoint and cosign that")
        }
        let policy = state.witnesses ?? .delegates
        let held = cosigning[note.text] ?? []
        let before = try cosignatures(held, text: note.text, policy: policy).times.count
        // Only lines by the fund's witnesses are kept; C2SP says to ignore the others.
        let cosigners = policy.effective(state).cosigners
        var merged = held
        for signature in note.signatures where !merged.contains(signature)
            && cosigners.contains(where: { Identifiers.same($0.name, signature.name) && $0.noteKey.keyID == signature.keyID }) {
            merged.append(signature)
        }
        var cosigned = try cosignatures(merged, text: note.text, policy: policy)
        // A note whose lines are all held already is a repeat, answered as the first time.
        let repeated = !note.signatures.isEmpty && note.signatures.allSatisfy(held.contains)
        guard cosigned.times.count > before || repeated else {
            throw ServiceError(.unprocessableContent, "notAWitness", "the note holds no new cosignature by one of the fund's witnesses (\(policy.words(state)))")
        }
        let added = cosigned.times.count > before
        var appended: JSONValue = .null
        var refusal: FundError? = nil
        if cosigned.sealed {
            // The full set first; if the rules refuse it (a witness's time going backwards,
            // say), each quorum-sized set, so that an honest quorum is recorded whatever a
            // faulty line says. Every line stays held until a checkpoint is recorded: which
            // one is faulty, only the rules' answer to a set tells.
            let candidates = [merged] + Self.subsets(of: merged, size: cosigned.quorum, limit: 64)
            for candidate in candidates {
                guard let counted = try? cosignatures(candidate, text: note.text, policy: policy), counted.sealed else { continue }
                do {
                    let entry = try fund.submitCheckpoint(SignedNote(text: note.text, signatures: candidate), time: max(now, state.lastTime))
                    history.observe(entry, before: state)
                    appended = ["seq": .integer(entry.seq), "kind": .string(entry.kind), "summary": .string(state.summary(of: entry))]
                    cosigned = counted
                    merged = candidate
                    break
                } catch let error as FundError {
                    refusal = refusal ?? error
                }
            }
        }
        if appended == .null {
            if cosigning[note.text] == nil {
                cosigningOrder.append(note.text)
                if cosigningOrder.count > Self.maximumCheckpointsHeld { cosigning[cosigningOrder.removeFirst()] = nil }
            }
            cosigning[note.text] = merged
        } else {
            // Every checkpoint up to the recorded one is now of no use.
            let recorded = fund.state.checkpointSize
            for text in cosigningOrder where ((try? Checkpoint(text: text))?.size ?? 0) <= recorded { cosigning[text] = nil }
            cosigningOrder.removeAll { cosigning[$0] == nil }
        }
        let report: JSONValue = ["ok": true, "size": .integer(point.size), "cosignedBy": .array(cosigned.times.keys.sorted().map { .string($0) }),
                                 "quorum": .integer(Int64(cosigned.quorum)), "appended": appended,
                                 "notRecordedBecause": appended == .null ? refusal.map { ["rule": .string($0.rule.rawValue), "message": .string($0.reason)] } ?? .null : .null]
        return (added, report)
    }

    /// The first `limit` subsets of `items` with `size` elements, in lexicographic order of
    /// their indices (never more, however many items there are).
    static func subsets<T>(of items: [T], size: Int, limit: Int) -> [[T]] {
        guard size > 0, size <= items.count else { return [] }
        var indices = Array(0..<size)
        var result: [[T]] = []
        while result.count < limit {
            result.append(indices.map { items[$0] })
            // The next combination: the rightmost index that can move, moved, the rest after it.
            var position = size - 1
            while position >= 0 && indices[position] == items.count - size + position { position -= 1 }
            guard position >= 0 else { break }
            indices[position] += 1
            for next in (position + 1)..<size { indices[next] = indices[next - 1] + 1 }
        }
        return result
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
        analyses[id] = nil
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

    /// Analyses of queued proposals, reused while the ledger, the proposal's signatures and
    /// the minute are the same: reading the queue does not verify its signatures again.
    private var analyses: [String: (key: String, analysis: ProposalAnalysis)] = [:]

    private func analyze(_ id: String, _ proposal: Proposal) -> ProposalAnalysis {
        let key = "\(fund.state.entryCount) \(proposal.files.count) \(proposal.recordedAs ?? -1) \(now.secondsSinceEpoch / 60)"
        if let cached = analyses[id], cached.key == key { return cached.analysis }
        let analysis = fund.state.analyze(proposal.payload, bytes: proposal.bytes, files: proposal.files, at: now, recordedAs: proposal.recordedAs)
        analyses[id] = (key, analysis)
        return analysis
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
