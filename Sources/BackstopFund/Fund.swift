import BackstopCrypto
import BackstopLedger
import Dispatch
import Foundation

/// A fund's ledger opened for writing: its store (a folder, PostgreSQL, memory: any
/// ``LedgerStorage``) and the state its entries replay to.
///
/// Every action goes through ``submit(_:payload:signatures:time:)``: the entry is checked by
/// the same rules an auditor replays, and appended only if they all pass; the state then
/// takes the entry's effect, which cannot fail. A refused action leaves the ledger and the
/// state unchanged.
public final class Fund {
    /// The state after the last entry.
    public private(set) var state: FundState
    private let store: any LedgerStorage
    /// The same store when it is a folder: snapshots and the Merkle tiles on disk.
    private let fileStore: LedgerStore?
    /// The Merkle tree of a store that keeps no tiles, built when it is opened.
    private let memoryTiles: MerkleTiles
    /// The writer's clock: an entry may not be stamped more than
    /// ``FundLimits/clockToleranceSeconds`` after it.
    public let clock: @Sendable () -> Timestamp

    private init(store: any LedgerStorage, state: FundState, tiles: MerkleTiles? = nil, clock: @escaping @Sendable () -> Timestamp) {
        self.store = store
        self.fileStore = store as? LedgerStore
        self.memoryTiles = tiles ?? MerkleTiles(directory: nil)
        self.state = state
        self.clock = clock
    }

    /// The system clock, to the second.
    public static let systemClock: @Sendable () -> Timestamp = {
        Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970)) ?? Timestamp(secondsSinceEpoch: 0)!
    }

    /// The checkpoint origin of the fund `fundId`: `backstop/<fund id in hex>`.
    public static func origin(_ fundId: [UInt8]) -> String { "backstop/" + Hex.encode(fundId) }

    /// The ledger's Merkle tiles.
    public var tiles: MerkleTiles { fileStore?.tiles ?? memoryTiles }

    /// The store the ledger is kept in.
    public var storage: any LedgerStorage { store }

    /// Closes the ledger and releases its write lock; the fund can no longer append.
    ///
    /// Before the lock is released, a snapshot is written if the ledger is
    /// ``Snapshot/interval`` or more entries past the last one, so that the next open is fast.
    public func close() {
        if state.entryCount - snapshotEntries >= Snapshot.interval {
            lastSnapshotWrite = nil
            snapshotIfDue()
        }
        store.close()
    }

    /// An incomplete last line that opening set aside (see ``LedgerStore/recoveredTail``).
    public var recoveredTail: TornTail? { fileStore?.recoveredTail }

    /// The ledger file, when the store is a folder.
    public var file: URL? { fileStore.map { $0.directory.appendingPathComponent(LedgerStore.ledgerFileName) } }

    /// Creates a ledger in `directory` whose entry 0 is the genesis `payload`, signed by at
    /// least the threshold of the delegates it names.
    public static func create(at directory: URL, genesis payload: JSONValue, signatures: [EntrySignature], time: Timestamp,
                              clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> Fund {
        try create(preparing: { try LedgerStore.create(at: directory) }, genesis: payload, signatures: signatures, time: time, clock: clock)
    }

    /// Starts the empty ledger in `storage` (opened for writing) with entry 0, the genesis
    /// `payload` signed by at least the threshold of the delegates it names.
    ///
    /// - Throws: ``LedgerError`` `.alreadyExists` when the store already holds entries.
    public static func create(storage: any LedgerStorage, genesis payload: JSONValue, signatures: [EntrySignature], time: Timestamp,
                              clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> Fund {
        try create(preparing: {
            guard try storage.storedHead() == .empty else { throw LedgerError(.alreadyExists, "\(storage.location) already holds a ledger") }
            return storage
        }, genesis: payload, signatures: signatures, time: time, clock: clock)
    }

    /// Checks the genesis entry, then makes the store (only then) and appends it.
    private static func create(preparing makeStore: () throws -> any LedgerStorage, genesis payload: JSONValue, signatures: [EntrySignature], time: Timestamp,
                               clock: @escaping @Sendable () -> Timestamp) throws -> Fund {
        try checkClock(time, clock)
        var entry = try Entry(seq: 0, prev: Entry.genesisPrev, time: time, kind: EntryKind.genesis.rawValue, body: payload, signatures: signatures)
        let (line, digest) = entry.encoded()
        entry.signedDigest = digest
        if let bad = entry.firstInvalidSignature() {
            throw FundError(.unauthorizedSigner, seq: 0, "the signature by key \(bad.publicKey.fingerprint) does not verify over the genesis payload")
        }
        let prepared = try PreparedEntry(signaturesVerified: entry, line: line)
        let state = try FundState(genesis: entry, hash: prepared.hash)
        let store = try makeStore()
        try store.append([prepared], expecting: .empty)
        let tiles = MerkleTiles(directory: nil)
        if !(store is LedgerStore) { try tiles.append(prepared.hash) }
        return Fund(store: store, state: state, tiles: tiles, clock: clock)
    }

    /// Refuses an entry time more than the tolerance ahead of the writer's clock: a
    /// future-dated entry would block every honest write after it.
    static func checkClock(_ time: Timestamp, _ clock: () -> Timestamp) throws {
        let now = clock()
        guard time.secondsSinceEpoch <= now.secondsSinceEpoch + FundLimits.clockToleranceSeconds else {
            throw FundError(.timeAhead, "entry time \(time) is ahead of the writer's clock (\(now)) by more than \(Words.duration(FundLimits.clockToleranceSeconds))")
        }
    }

    /// Creates a ledger from a genesis payload file's bytes and signature files in any
    /// order, as `backstop init` does.
    ///
    /// - Throws: ``FundError`` `.threshold` naming who signed, who did not and every file
    ///   that does not count; nothing is created.
    public static func create(at directory: URL, genesisBytes: [UInt8], files: [SignatureFile], time: Timestamp,
                              clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> (Fund, SignatureIntake) {
        let (payload, intake) = try genesisIntake(genesisBytes, files: files)
        return (try create(at: directory, genesis: payload.json, signatures: intake.signatures, time: time, clock: clock), intake)
    }

    /// Starts the empty ledger in `storage` from a genesis payload file's bytes and
    /// signature files, as ``create(at:genesisBytes:files:time:clock:)`` does in a folder.
    public static func create(storage: any LedgerStorage, genesisBytes: [UInt8], files: [SignatureFile], time: Timestamp,
                              clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> (Fund, SignatureIntake) {
        let (payload, intake) = try genesisIntake(genesisBytes, files: files)
        return (try create(storage: storage, genesis: payload.json, signatures: intake.signatures, time: time, clock: clock), intake)
    }

    private static func genesisIntake(_ bytes: [UInt8], files: [SignatureFile]) throws -> (Payload, SignatureIntake) {
        let payload = try Payload(bytes: bytes, expected: .genesis)
        let intake = SignatureIntake(message: bytes, files: files, policy: try GenesisPayload.signers(of: payload))
        if let shortfall = intake.shortfall { throw shortfall }
        return (payload, intake)
    }

    /// Opens the ledger in `directory` for writing, verifying every signature and replaying
    /// every entry through the rules.
    ///
    /// - Parameter lockWaitSeconds: how long to wait for another writer to finish.
    /// - Throws: ``LedgerError`` (`.locked`, `.corrupt`, ...) or ``FundError`` with the
    ///   sequence number of the first entry the rules refuse.
    public static func open(at directory: URL, lockWaitSeconds: Double = 0, clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> Fund {
        var state: FundState? = nil
        var snapshot: FundState? = nil
        var replayed: Int64 = 0
        let store = try LedgerStore.open(
            at: directory, verifySignatures: true, lockWaitSeconds: lockWaitSeconds,
            resume: {
                // A snapshot that cannot be used is ignored: the ledger is replayed whole.
                guard let loaded = try? Snapshot.read(in: directory) else { return nil }
                snapshot = loaded.state
                return LedgerStore.ResumePoint(entries: loaded.state.entryCount, head: loaded.state.head, fundId: loaded.state.fundId,
                                               offset: loaded.offset, frontier: loaded.state.frontier)
            },
            resumed: { if $0 { state = snapshot } },
            prepare: FundState.prepare
        ) { entry, hash, prepared in
            if state == nil { state = try FundState(genesis: entry, hash: hash) } else { try state!.apply(entry, hash: hash, prepared: prepared) }
            replayed += 1
        }
        guard let state else { throw FundError(.notInitialized, "the ledger in \(directory.path) has no genesis entry yet") }
        let fund = Fund(store: store, state: state, clock: clock)
        fund.replayedAtOpen = replayed
        fund.snapshotEntries = snapshot.map { $0.entryCount } ?? 0
        fund.snapshotIfDue()
        return fund
    }

    /// Opens the fund kept in `storage` (opened for writing, holding its writer lock),
    /// verifying every signature and replaying every entry through the rules.
    ///
    /// - Throws: ``LedgerError`` or ``FundError`` as ``open(at:lockWaitSeconds:clock:)``.
    public static func open(storage: any LedgerStorage, clock: @escaping @Sendable () -> Timestamp = systemClock) throws -> Fund {
        if let folder = storage as? LedgerStore {
            throw LedgerError(.io, "the folder \(folder.location) is opened with Fund.open(at:), which also reads its snapshot")
        }
        var state: FundState? = nil
        let tiles = MerkleTiles(directory: nil)
        let scan = try LedgerScan.scan(storage: storage, verifySignatures: true, prepare: FundState.prepare) { entry, hash, prepared in
            if state == nil { state = try FundState(genesis: entry, hash: hash) } else { try state!.apply(entry, hash: hash, prepared: prepared) }
            try tiles.append(hash)
        }
        guard let state else { throw FundError(.notInitialized, "the ledger in \(storage.location) has no genesis entry yet") }
        // Entries appended by another writer during the scan are not in this state: refuse
        // to write from it (the next open sees them).
        let head = try storage.storedHead()
        guard head == StoredHead(count: scan.entryCount, hash: scan.head?.hash) else {
            throw LedgerError(.headMoved, "\(storage.location) grew while it was being read (\(scan.entryCount) entries read, \(head) now); open it again")
        }
        let fund = Fund(store: storage, state: state, tiles: tiles, clock: clock)
        fund.replayedAtOpen = state.entryCount
        return fund
    }

    deinit { close() }

    /// How many entries opening the ledger verified and replayed: all of them, or those
    /// after the snapshot it started from.
    public private(set) var replayedAtOpen: Int64 = 0

    /// How many entries the snapshot on disk covers (0: none known).
    private var snapshotEntries: Int64 = 0

    /// Writes a snapshot when the ledger has grown ``Snapshot/interval`` entries past the
    /// last one, so that the next open replays at most that many. A snapshot that cannot be
    /// written is not an error: the ledger is what counts.
    ///
    /// A process that appends many entries (batches, a service) writes one at most every
    /// two seconds: on a large ledger a snapshot costs tens of milliseconds.
    private func snapshotIfDue() {
        guard let store = fileStore, state.entryCount - snapshotEntries >= Snapshot.interval else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if let last = lastSnapshotWrite, now - last < 2_000_000_000 { return }
        // The tiles first: a snapshot is resumed from only with tiles at least as long.
        store.writeTiles()
        if (try? Snapshot.write(state, offset: store.byteCount, in: store.directory)) != nil {
            snapshotEntries = state.entryCount
            lastSnapshotWrite = now
        }
    }

    /// When this process last wrote a snapshot (monotonic nanoseconds).
    private var lastSnapshotWrite: UInt64? = nil

    /// Checks a whole ledger file as an auditor: chain, canonical form, every signature, and
    /// every rule by replay. Holds no lock and modifies nothing.
    ///
    /// - Parameters:
    ///   - progress: called after each entry with its sequence number.
    ///   - willApply: called with each entry after genesis and the state just before it,
    ///     once the chain and signature checks passed (for `backstop log`).
    ///   - applied: called with each entry (genesis included) and its hash once the rules
    ///     accepted it: the bytes verified, for a caller that must use exactly those.
    /// - Returns: the replayed state and the scan summary.
    public static func verify(file: URL, progress: (Int64) -> Void = { _ in }, willApply: ((Entry, FundState) -> Void)? = nil,
                              applied: ((Entry, [UInt8]) throws -> Void)? = nil) throws -> (FundState, LedgerScanResult) {
        try verify(.file(file), progress: progress, willApply: willApply, applied: applied)
    }

    /// Checks the whole ledger held by `storage` as ``verify(file:progress:willApply:applied:)``
    /// checks a file: the same checks, whatever the store.
    public static func verify(storage: any LedgerStorage, progress: (Int64) -> Void = { _ in }, willApply: ((Entry, FundState) -> Void)? = nil,
                              applied: ((Entry, [UInt8]) throws -> Void)? = nil) throws -> (FundState, LedgerScanResult) {
        try verify(.storage(storage), progress: progress, willApply: willApply, applied: applied)
    }

    private enum Source {
        case file(URL)
        case storage(any LedgerStorage)
    }

    private static func verify(_ source: Source, progress: (Int64) -> Void, willApply: ((Entry, FundState) -> Void)?,
                               applied: ((Entry, [UInt8]) throws -> Void)?) throws -> (FundState, LedgerScanResult) {
        var state: FundState? = nil
        func visit(_ entry: Entry, _ hash: [UInt8], _ prepared: Result<Payload, FundError>?) throws {
            if state == nil {
                state = try FundState(genesis: entry, hash: hash)
            } else {
                willApply?(entry, state!)
                try state!.apply(entry, hash: hash, prepared: prepared)
            }
            try applied?(entry, hash)
            progress(entry.seq)
        }
        let result = switch source {
        case .file(let file): try LedgerScan.scan(file: file, verifySignatures: true, prepare: FundState.prepare, visit: visit)
        case .storage(let storage): try LedgerScan.scan(storage: storage, verifySignatures: true, prepare: FundState.prepare, visit: visit)
        }
        guard let state else { throw FundError(.notInitialized, "the ledger has no genesis entry") }
        return (state, result)
    }

    /// Appends an action if the rules accept it, and returns the stored entry.
    ///
    /// `payload` is the signed document; `signatures` must verify over its canonical bytes.
    /// `time` is the entry time (the injected clock): never before the previous entry's.
    @discardableResult
    public func submit(_ kind: EntryKind, payload: JSONValue, signatures: [EntrySignature], time: Timestamp) throws -> Entry {
        try submit(batch: [BatchItem(kind: kind, payload: payload, signatures: signatures)], time: time)[0]
    }

    /// One action of a batch: its kind, its payload and the signatures over it.
    public struct BatchItem: Sendable {
        /// The kind.
        public let kind: EntryKind
        /// The signed payload.
        public let payload: JSONValue
        /// The signatures over its canonical bytes.
        public let signatures: [EntrySignature]

        /// An action of `kind`.
        public init(kind: EntryKind, payload: JSONValue, signatures: [EntrySignature]) {
            self.kind = kind
            self.payload = payload
            self.signatures = signatures
        }
    }

    /// Appends several actions under one lock with one write and one fsync: all of them, in
    /// order, or none. Each is checked against the state the ones before it leave; the
    /// signatures of all are verified in parallel first, each once.
    ///
    /// - Throws: ``FundError`` naming the first action refused (its `seq` is where it would
    ///   have been), or a ``LedgerError``; the ledger and ``state`` are unchanged.
    @discardableResult
    public func submit(batch items: [BatchItem], time: Timestamp) throws -> [Entry] {
        try submit(batch: items, time: time, signaturesVerified: false)
    }

    /// `signaturesVerified`: the caller (intake) already verified every signature over the
    /// payload's canonical bytes.
    func submit(batch items: [BatchItem], time: Timestamp, signaturesVerified: Bool) throws -> [Entry] {
        try Self.checkClock(time, clock)
        guard !items.isEmpty else { return [] }
        // Encode each entry once; the chain links need the hashes in order.
        var candidates: [Entry] = [], lines: [[UInt8]] = [], hashes: [[UInt8]] = []
        var prev = state.head
        for (offset, item) in items.enumerated() {
            var entry = try Entry(seq: state.entryCount + Int64(offset), prev: prev, time: time, kind: item.kind.rawValue, body: item.payload, signatures: item.signatures)
            let (line, digest) = entry.encoded()
            entry.signedDigest = digest
            prev = try Entry.hash(line: line)
            candidates.append(entry)
            lines.append(line)
            hashes.append(prev)
        }
        // Every signature once, on all cores.
        if !signaturesVerified {
            let entries = candidates
            var invalid = [EntrySignature?](repeating: nil, count: entries.count)
            invalid.withUnsafeMutableBufferPointer { results in
                nonisolated(unsafe) let results = results
                DispatchQueue.concurrentPerform(iterations: entries.count) { results[$0] = entries[$0].firstInvalidSignature() }
            }
            if let index = invalid.firstIndex(where: { $0 != nil }), let bad = invalid[index] {
                throw FundError(.unauthorizedSigner, seq: candidates[index].seq, "the signature by key \(bad.publicKey.fingerprint) does not verify over this payload")
            }
        }
        let prepared = { try candidates.indices.map { try PreparedEntry(signaturesVerified: candidates[$0], line: lines[$0]) } }
        if candidates.count == 1 {
            // One action: checked against the state as it is, applied once it is on disk.
            let checked = try state.check(candidates[0], hash: hashes[0])
            try append(try prepared())
            state.commit(checked)
            snapshotIfDue()
            return candidates
        }
        // Several: the rules in order on a copy, which replaces the state once all is on disk.
        var next = state
        for (index, entry) in candidates.enumerated() { next.commit(try next.check(entry, hash: hashes[index])) }
        try append(try prepared())
        state = next
        snapshotIfDue()
        return candidates
    }

    /// Appends after the head the state was replayed to; a store without tiles of its own
    /// gets the new leaves in the tree kept here.
    private func append(_ entries: [PreparedEntry]) throws {
        try store.append(entries, expecting: StoredHead(count: state.entryCount, hash: state.head))
        if fileStore == nil { for entry in entries { try memoryTiles.append(entry.hash) } }
    }

    /// The checkpoint of the whole ledger as it is: what witnesses are asked to cosign.
    public func checkpoint() -> Checkpoint {
        Checkpoint(origin: Self.origin(state.fundId), size: state.entryCount, root: state.frontier.root)
    }

    /// Records a cosigned checkpoint of an earlier prefix (or of the whole ledger): builds
    /// the `checkpoint` payload, with the consistency proof from its size to the ledger's,
    /// and appends it if the rules accept it.
    @discardableResult
    public func submitCheckpoint(_ note: SignedNote, time: Timestamp) throws -> Entry {
        let checkpoint = try Checkpoint(text: note.text)
        guard Identifiers.same(checkpoint.origin, Self.origin(state.fundId)) else {
            throw FundError(.checkpointMismatch, "the checkpoint is for \(SafeText.quoted(checkpoint.origin)), not this fund (\(Self.origin(state.fundId)))")
        }
        guard checkpoint.size <= state.entryCount else {
            throw FundError(.checkpointMismatch, "checkpoint of \(checkpoint.size) entries, but the ledger has \(state.entryCount): it is of another (longer) ledger")
        }
        var proof = try Merkle.consistencyProof(old: checkpoint.size, new: state.entryCount, subtree: tiles.subtree)
        if !Merkle.verifyConsistency(old: checkpoint.size, new: state.entryCount, oldRoot: checkpoint.root, newRoot: state.frontier.root, proof: proof) {
            // Either the checkpoint is of another history (the rule will say so), or the
            // tiles cache is damaged: the proof again, from the ledger's own lines.
            let fresh = try fileStore.map { try MerkleTiles.forReading(ledger: $0.directory, size: state.entryCount, useCache: false) }
                ?? MerkleTiles.build(from: store, size: state.entryCount)
            proof = try Merkle.consistencyProof(old: checkpoint.size, new: state.entryCount, subtree: fresh.subtree)
        }
        // ECDSA cosignatures are stored in their low-S form, as every stored signature is.
        let cosigners = (state.witnesses ?? .delegates).effective(state).cosigners
        let signatures = note.signatures.map { signature in
            cosigners.first { Identifiers.same($0.name, signature.name) && $0.noteKey.keyID == signature.keyID }?.noteKey.lowS(signature) ?? signature
        }
        let body = CheckpointPayload(size: checkpoint.size, root: checkpoint.root, signatures: signatures, proof: proof)
        let payload = Payloads.make(body, for: state, id: "checkpoint-\(checkpoint.size)-\(Hex.encode(Array(checkpoint.root.prefix(4))))", expires: time.adding(seconds: 3_600) ?? time)
        return try submit(.checkpoint, payload: payload, signatures: [], time: time)
    }

    /// Matches signature files to the keys that may sign `payload`.
    public func intake(_ payload: Payload, bytes: [UInt8], files: [SignatureFile]) throws -> SignatureIntake {
        try Self.intake(payload, bytes: bytes, files: files, state: state)
    }

    /// Matches signature files to the keys that may sign `payload` in `state`, naming the
    /// signatures of former delegates and members too.
    public static func intake(_ payload: Payload, bytes: [UInt8], files: [SignatureFile], state: FundState) throws -> SignatureIntake {
        let policy = try state.signers(for: payload)
        let candidates = Set(policy.candidates.map(\.key))
        return SignatureIntake(message: bytes, files: files, policy: policy, formerDelegates: state.formerDelegates,
                               others: state.memberKeys.filter { !candidates.contains($0.key) })
    }

    /// Submits a payload file's bytes with signature files in any order (from openssl,
    /// tokens, Backstop): intake finds who made each, then the rules decide.
    ///
    /// - Throws: ``FundError`` `.threshold` (or `.petitionThreshold`) naming who signed, who
    ///   did not and what each file that does not count is; or whatever the rules refuse.
    ///   The ledger is unchanged.
    @discardableResult
    public func submit(payloadBytes: [UInt8], files: [SignatureFile], time: Timestamp) throws -> (entry: Entry, intake: SignatureIntake) {
        let payload = try Payload(bytes: payloadBytes)
        guard payload.kind != .genesis else { throw FundError(.malformedPayload, "a genesis payload starts a ledger; it cannot be submitted to one") }
        let intake = try intake(payload, bytes: payloadBytes, files: files)
        if let shortfall = intake.shortfall { throw shortfall }
        let item = BatchItem(kind: payload.kind, payload: payload.json, signatures: intake.signatures)
        return (try submit(batch: [item], time: time, signaturesVerified: true)[0], intake)
    }

    /// Submits a delegate (or member) action of `kind` whose signatures arrive as DER files.
    @discardableResult
    public func submit(_ kind: EntryKind, payloadBytes: [UInt8], signatureFiles: [[UInt8]], time: Timestamp) throws -> Entry {
        let payload = try Payload(bytes: payloadBytes, expected: kind)
        let files = signatureFiles.enumerated().map { SignatureFile(name: "signature \($0.offset + 1)", der: $0.element) }
        let intake = try intake(payload, bytes: payloadBytes, files: files)
        if let shortfall = intake.shortfall { throw shortfall }
        return try submit(batch: [BatchItem(kind: kind, payload: payload.json, signatures: intake.signatures)], time: time, signaturesVerified: true)[0]
    }

    /// Files a claim by petition: the claim payload and each petitioner's key and signature (DER).
    @discardableResult
    public func submitPetition(payloadBytes: [UInt8], pairs: [(key: [UInt8], signature: [UInt8])], time: Timestamp) throws -> Entry {
        let files = pairs.enumerated().map { index, pair -> SignatureFile in
            do { return SignatureFile(name: "signature \(index + 1)", der: pair.signature, publicKey: try PublicKey(derRepresentation: pair.key)) } catch {
                return SignatureFile(name: "signature \(index + 1)", der: pair.signature, keyProblem: "\(error)")
            }
        }
        return try submit(payloadBytes: payloadBytes, files: files, time: time).entry
    }

    /// The entry that already records `payload`'s action, if any: the same payload, or for a
    /// contribution or a member's claim the same fields with another expiry (a retry).
    public func recorded(_ payload: Payload) throws -> Int64? {
        try Self.recorded(payload, state: state, storage: store)
    }

    /// The entry of the ledger `file` (whose state is `state`) that records `payload`'s action.
    public static func recorded(_ payload: Payload, state: FundState, file: URL) throws -> Int64? {
        try recorded(payload, state: state) { try LedgerScan.entry(file: file, seq: $0) }
    }

    /// The entry of the ledger in `storage` (whose state is `state`) that records `payload`'s action.
    public static func recorded(_ payload: Payload, state: FundState, storage: any LedgerStorage) throws -> Int64? {
        try recorded(payload, state: state) { try storage.entry($0) }
    }

    private static func recorded(_ payload: Payload, state: FundState, entry: (Int64) throws -> Entry) throws -> Int64? {
        guard let seq = state.usedIds[state.idKey(payload)] else { return nil }
        let stored = try entry(seq)
        return sameAction(stored.body, payload.json, kind: payload.kind) && stored.kind == payload.kind.rawValue ? seq : nil
    }

    static func sameAction(_ stored: JSONValue, _ offered: JSONValue, kind: EntryKind) -> Bool {
        if Canonical.encode(stored) == Canonical.encode(offered) { return true }
        // A member that retries a contribution or a claim drafts it again, with a new expiry.
        let retriable = kind == .contribution || (kind == .claim && offered["filedBy"]?.stringValue == "member")
        guard retriable, var a = stored.objectValue, var b = offered.objectValue else { return false }
        a["expires"] = nil
        b["expires"] = nil
        return Canonical.encode(.object(a)) == Canonical.encode(.object(b))
    }
}
