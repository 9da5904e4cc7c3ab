import BackstopCrypto
import Dispatch
import Foundation

import Glibc

/// The last entry of a ledger: what the next entry links to.
public struct LedgerHead: Sendable, Equatable {
    /// Its sequence number.
    public let seq: Int64
    /// Its hash, SHA-256(0x00 || line).
    public let hash: [UInt8]
    /// Its time; the next entry may not be earlier.
    public let time: Timestamp
}

/// Bytes after the last newline of `ledger.jsonl`: an append that a crash interrupted.
public struct TornTail: Sendable, Equatable {
    /// Where the incomplete line starts in the file.
    public let offset: UInt64
    /// How many bytes it has.
    public let byteCount: Int
    /// Where the bytes were moved, when a writer opened the ledger and set them aside.
    public let savedTo: String?
}

/// What a full pass over a ledger found.
public struct LedgerScanResult: Sendable {
    /// How many complete entries the file holds.
    public let entryCount: Int64
    /// The last entry, or nil for an empty ledger.
    public let head: LedgerHead?
    /// The hash of entry 0, which names the fund.
    public let fundId: [UInt8]?
    /// An incomplete last line, if there is one. It is not part of the ledger.
    public let tornTail: TornTail?
}

/// One pass over `ledger.jsonl` that checks every line in order.
///
/// Each line must decode as the entry with the next sequence number (canonical form, fields,
/// signature encodings), link to the previous entry's hash, and not go back in time. With
/// `verifySignatures`, every signature is also checked over the entry body; those checks run
/// in parallel on all cores, a batch of entries at a time, so memory stays bounded.
/// `visit` sees each entry, in order, only after it passed every check.
public enum LedgerScan {
    /// Entries checked together; memory is bounded by this and ``batchBytes``.
    static let batchEntries = 512
    static let batchBytes = 8 << 20

    /// Scans the ledger file at `url`.
    ///
    /// - Throws: ``LedgerError`` `.corrupt` with the sequence number of the first entry that
    ///   fails, `.io` when the file cannot be read, or whatever `visit` throws.
    public static func scan(
        file url: URL,
        verifySignatures: Bool,
        visit: (Entry, [UInt8]) throws -> Void = { _, _ in }
    ) throws -> LedgerScanResult {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw LedgerError(.notFound, "no ledger: \(url.path) does not exist") }
            throw LedgerError(.io, "cannot open \(url.path): \(errnoDescription())")
        }
        defer { close(fd) }
        return try scan(fd: fd, verifySignatures: verifySignatures, visit: visit)
    }

    static func scan(fd: Int32, verifySignatures: Bool, visit: (Entry, [UInt8]) throws -> Void) throws -> LedgerScanResult {
        var reader = LineReader(fd: fd)
        let keys = KeyCache()
        var batch: [(entry: Entry, hash: [UInt8])] = []
        var pendingBytes = 0
        var head: LedgerHead? = nil
        var fundId: [UInt8]? = nil
        var tornTail: TornTail? = nil
        var failure: LedgerError? = nil

        while failure == nil, let item = try reader.next(limit: Entry.maximumLineBytes) {
            let seq = (head?.seq ?? -1) + 1
            switch item {
            case .tail(let bytes, let offset):
                tornTail = TornTail(offset: offset, byteCount: bytes.count, savedTo: nil)
            case .oversized:
                failure = LedgerError(.corrupt, seq: seq, "line exceeds the \(Entry.maximumLineBytes)-byte limit")
            case .line(let line, _):
                do {
                    let entry = try Entry.decode(line: line, expectedSeq: seq, keys: keys)
                    let hash = try Entry.hash(line: line)
                    if let head {
                        guard entry.prev == head.hash else {
                            failure = blameBrokenLink(seq: seq, hash: hash, reader: &reader)
                            break
                        }
                        guard entry.time >= head.time else {
                            throw LedgerError(.corrupt, seq: seq, "time \(entry.time) is earlier than entry \(head.seq)'s \(head.time)")
                        }
                    } else {
                        guard entry.prev == Entry.genesisPrev else {
                            throw LedgerError(.corrupt, seq: seq, "entry 0 must have a prev of 64 zeros")
                        }
                        fundId = hash
                    }
                    head = LedgerHead(seq: seq, hash: hash, time: entry.time)
                    batch.append((entry, hash))
                    pendingBytes += line.count
                } catch let error as LedgerError {
                    failure = error
                }
            }
            if batch.count >= batchEntries || pendingBytes >= batchBytes || failure != nil {
                try flush(&batch, before: failure?.seq, verifySignatures: verifySignatures, visit: visit)
                pendingBytes = 0
            }
        }
        try flush(&batch, before: failure?.seq, verifySignatures: verifySignatures, visit: visit)
        if let failure { throw failure }
        return LedgerScanResult(entryCount: (head?.seq ?? -1) + 1, head: head, fundId: fundId, tornTail: tornTail)
    }

    /// Entry `seq` does not link to the hash of entry `seq - 1`. With one byte changed, either
    /// entry `seq - 1` was altered (and entry `seq` is intact, so entry `seq + 1` still links
    /// to it), or entry `seq`'s own `prev` was (so entry `seq + 1` no longer links to it).
    /// When entry `seq` is the last one, the change is blamed on entry `seq - 1`.
    private static func blameBrokenLink(seq: Int64, hash: [UInt8], reader: inout LineReader) -> LedgerError {
        let earlier = LedgerError(.corrupt, seq: seq - 1, "entry \(seq - 1) was altered: its hash does not match the prev recorded in entry \(seq)")
        guard case .line(let next, _)? = try? reader.next(limit: Entry.maximumLineBytes),
              case .object(let fields)? = try? JSONParser.parse(next),
              let prevText = fields["prev"]?.stringValue
        else { return earlier }
        if prevText == Hex.encode(hash) { return earlier }
        return LedgerError(.corrupt, seq: seq, "prev does not match the hash of entry \(seq - 1)")
    }

    /// Checks the batch's signatures (in parallel) and visits its entries in order, stopping
    /// at the first entry that fails or at `before`.
    private static func flush(
        _ batch: inout [(entry: Entry, hash: [UInt8])],
        before limit: Int64?,
        verifySignatures: Bool,
        visit: (Entry, [UInt8]) throws -> Void
    ) throws {
        defer { batch.removeAll(keepingCapacity: true) }
        let entries = batch.filter { limit == nil || $0.entry.seq < limit! }
        var firstBad: Int? = nil
        if verifySignatures {
            nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: entries.count)
            defer { results.deallocate() }
            results.initialize(repeating: true)
            DispatchQueue.concurrentPerform(iterations: entries.count) { index in
                results[index] = entries[index].entry.firstInvalidSignature() == nil
            }
            firstBad = results.firstIndex(of: false)
        }
        for (index, item) in entries.enumerated() {
            if index == firstBad {
                let signer = item.entry.firstInvalidSignature()?.publicKey.fingerprint ?? "?"
                throw LedgerError(.corrupt, seq: item.entry.seq, "signature by key \(signer) does not verify over the entry body")
            }
            try visit(item.entry, item.hash)
        }
    }
}
