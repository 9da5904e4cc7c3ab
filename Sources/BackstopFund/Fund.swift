import BackstopCrypto
import BackstopLedger
import Foundation

/// A fund's ledger opened for writing: the file store and the state its entries replay to.
///
/// Every action goes through ``submit(_:payload:signatures:time:)``: the entry is checked by
/// the same rules an auditor replays, on a copy of the state, and appended only if they all
/// pass. A refused action leaves the ledger and the state unchanged.
public final class Fund {
    /// The state after the last entry.
    public private(set) var state: FundState
    private let store: LedgerStore

    private init(store: LedgerStore, state: FundState) {
        self.store = store
        self.state = state
    }

    /// An incomplete last line that opening set aside (see ``LedgerStore/recoveredTail``).
    public var recoveredTail: TornTail? { store.recoveredTail }

    /// Creates a ledger in `directory` whose entry 0 is the genesis `payload`, signed by at
    /// least the threshold of the delegates it names.
    public static func create(at directory: URL, genesis payload: JSONValue, signatures: [EntrySignature], time: Timestamp) throws -> Fund {
        let entry = try Entry(seq: 0, prev: Entry.genesisPrev, time: time, kind: EntryKind.genesis.rawValue, body: payload, signatures: signatures)
        let state = try FundState(genesis: entry, hash: try Entry.hash(line: entry.line))
        let store = try LedgerStore.create(at: directory)
        let (_, hash) = try store.append(kind: entry.kind, time: time, body: payload, signatures: signatures)
        precondition(hash == state.fundId, "the stored genesis differs from the checked one")
        return Fund(store: store, state: state)
    }

    /// Opens the ledger in `directory` for writing, verifying every signature and replaying
    /// every entry through the rules.
    ///
    /// - Throws: ``LedgerError`` (`.locked`, `.corrupt`, ...) or ``FundError`` with the
    ///   sequence number of the first entry the rules refuse.
    public static func open(at directory: URL) throws -> Fund {
        var state: FundState? = nil
        let store = try LedgerStore.open(at: directory, verifySignatures: true) { entry, hash in
            if state == nil { state = try FundState(genesis: entry, hash: hash) } else { try state!.apply(entry, hash: hash) }
        }
        guard let state else { throw FundError(.notInitialized, "the ledger in \(directory.path) has no genesis entry yet") }
        return Fund(store: store, state: state)
    }

    /// Checks a whole ledger file as an auditor: chain, canonical form, every signature, and
    /// every rule by replay. Holds no lock and modifies nothing.
    ///
    /// - Parameter progress: called after each entry with its sequence number.
    /// - Returns: the replayed state and the scan summary.
    public static func verify(file: URL, progress: (Int64) -> Void = { _ in }) throws -> (FundState, LedgerScanResult) {
        var state: FundState? = nil
        let result = try LedgerScan.scan(file: file, verifySignatures: true) { entry, hash in
            if state == nil { state = try FundState(genesis: entry, hash: hash) } else { try state!.apply(entry, hash: hash) }
            progress(entry.seq)
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
        let candidate = try Entry(seq: state.entryCount, prev: state.head, time: time, kind: kind.rawValue, body: payload, signatures: signatures)
        if let bad = candidate.firstInvalidSignature() {
            throw FundError(.unauthorizedSigner, "the signature by key \(bad.publicKey.fingerprint) does not verify over this payload")
        }
        var next = state
        try next.apply(candidate, hash: try Entry.hash(line: candidate.line))
        let (entry, hash) = try store.append(kind: kind.rawValue, time: time, body: payload, signatures: signatures)
        precondition(hash == next.head, "the stored entry differs from the checked one")
        state = next
        return entry
    }
}
