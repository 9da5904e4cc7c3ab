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
/// `verifySignatures`, every signature is also checked over the entry body. Decoding, hashing
/// and signature checks run in parallel on all cores, a batch of lines at a time, so memory
/// stays bounded; the links and times are then checked in order. `visit` sees each entry, in
/// order, only after it passed every check, and the failure reported is the first by sequence.
public enum LedgerScan {
    /// Entries checked together; memory is bounded by this and ``batchBytes``.
    static let batchEntries = 256
    static let batchBytes = 8 << 20
    /// Lines asked of a store at a time.
    static let storagePage = 64

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

    /// The root of the first `size` entries of the ledger file at `url`, computed from its
    /// lines (never from a cache), or nil when the file holds fewer entries.
    public static func root(file url: URL, size: Int64) throws -> [UInt8]? {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LedgerError(.io, "cannot open \(url.path): \(errnoDescription())") }
        defer { close(fd) }
        var reader = LineReader(fd: fd)
        var frontier = MerkleFrontier()
        while frontier.size < size, case .line(let line)? = try reader.next(limit: Entry.maximumLineBytes) {
            frontier.append(try Entry.hash(line: line))
        }
        return frontier.size == size ? frontier.root : nil
    }

    /// The stored line of entry `seq` of the ledger file at `url`, without its newline.
    public static func line(file url: URL, seq: Int64) throws -> [UInt8] {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LedgerError(.io, "cannot open \(url.path): \(errnoDescription())") }
        defer { close(fd) }
        var reader = LineReader(fd: fd)
        var index: Int64 = 0
        while let item = try reader.next(limit: Entry.maximumLineBytes) {
            guard case .line(let line) = item else { break }
            if index == seq { return line }
            index += 1
        }
        throw LedgerError(.notFound, seq: seq, "the ledger has no entry \(seq)")
    }

    /// The first sequence number below `count` at which the two ledger files differ, or
    /// `count` when their first `count` lines are the same.
    public static func firstDifference(_ a: URL, _ b: URL, upTo count: Int64) throws -> Int64 {
        let first = open(a.path, O_RDONLY | O_CLOEXEC), second = open(b.path, O_RDONLY | O_CLOEXEC)
        defer { if first >= 0 { close(first) }; if second >= 0 { close(second) } }
        guard first >= 0, second >= 0 else { throw LedgerError(.io, "cannot open the ledgers to compare: \(errnoDescription())") }
        var left = LineReader(fd: first), right = LineReader(fd: second)
        for seq in 0..<count {
            guard case .line(let x)? = try left.next(limit: Entry.maximumLineBytes), case .line(let y)? = try right.next(limit: Entry.maximumLineBytes), x == y else { return seq }
        }
        return count
    }

    /// Reads entry `seq` of the ledger file at `url` (checking its form, not the chain):
    /// for looking up an entry the caller already verified, such as the one holding an id.
    public static func entry(file url: URL, seq: Int64) throws -> Entry {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LedgerError(.io, "cannot open \(url.path): \(errnoDescription())") }
        defer { close(fd) }
        var reader = LineReader(fd: fd)
        var index: Int64 = 0
        while let item = try reader.next(limit: Entry.maximumLineBytes) {
            guard case .line(let line) = item else { break }
            if index == seq { return try Entry.decode(line: line, expectedSeq: seq) }
            index += 1
        }
        throw LedgerError(.notFound, seq: seq, "the ledger has no entry \(seq)")
    }

    static func scan(fd: Int32, verifySignatures: Bool, visit: (Entry, [UInt8]) throws -> Void) throws -> LedgerScanResult {
        try scan(fd: fd, verifySignatures: verifySignatures, prepare: { _ in () }, visit: { entry, hash, _ in try visit(entry, hash) })
    }

    /// Scans the ledger file at `url`, with a step that runs on all cores for each entry
    /// that decoded (`prepare`, for work that needs no earlier entry, such as reading a
    /// payload), before `visit` sees the entry, its hash and what `prepare` made, in order.
    ///
    /// Batches are pipelined: while `visit` works through one batch, the next is decoded,
    /// hashed, signature-checked and prepared on the other cores.
    public static func scan<Prepared>(
        file url: URL,
        verifySignatures: Bool,
        prepare: @escaping @Sendable (Entry) -> Prepared,
        visit: (Entry, [UInt8], Prepared) throws -> Void
    ) throws -> LedgerScanResult {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw LedgerError(.notFound, "no ledger: \(url.path) does not exist") }
            throw LedgerError(.io, "cannot open \(url.path): \(errnoDescription())")
        }
        defer { close(fd) }
        return try scan(fd: fd, verifySignatures: verifySignatures, prepare: prepare, visit: visit)
    }

    /// A batch of lines read in order, and what stopped the reading (nil: the batch limit).
    private struct Batch {
        var lines: [[UInt8]] = []
        var stop: LineReader.Item? = nil
        var ended = false
    }

    private static func readBatch(_ reader: inout LineReader) throws -> Batch {
        var batch = Batch()
        var bytes = 0
        while batch.lines.count < batchEntries, bytes < batchBytes {
            guard let item = try reader.next(limit: Entry.maximumLineBytes) else { batch.ended = true; break }
            guard case .line(let line) = item else { batch.stop = item; batch.ended = true; break }
            batch.lines.append(line)
            bytes += line.count
        }
        return batch
    }

    /// The parallel step of one batch, started on other threads; `wait` returns its results.
    private final class Pending<Prepared>: @unchecked Sendable {
        private let group = DispatchGroup()
        private var results: [Checked<Prepared>] = []

        init(_ lines: [[UInt8]], firstSeq: Int64, keys: KeyCache, verifySignatures: Bool, prepare: @escaping @Sendable (Entry) -> Prepared) {
            DispatchQueue.global().async(group: group) { [self] in
                results = LedgerScan.check(lines, firstSeq: firstSeq, keys: keys, verifySignatures: verifySignatures, prepare: prepare)
            }
        }

        func wait() -> [Checked<Prepared>] {
            group.wait()
            return results
        }
    }

    /// Where a scan starts when it does not start at entry 0: after `head`, at byte `offset`.
    struct Start {
        let head: LedgerHead
        let fundId: [UInt8]
        let offset: UInt64
    }

    static func scan<Prepared>(fd: Int32, verifySignatures: Bool, from start: Start? = nil, prepare: @escaping @Sendable (Entry) -> Prepared,
                               visit: (Entry, [UInt8], Prepared) throws -> Void) throws -> LedgerScanResult {
        if let start { guard lseek(fd, off_t(start.offset), SEEK_SET) == off_t(start.offset) else { throw LedgerError(.io, "cannot seek in the ledger: \(errnoDescription())") } }
        var reader = LineReader(fd: fd, offset: start?.offset ?? 0)
        return try scan(batches: { try readBatch(&reader) }, verifySignatures: verifySignatures, from: start.map { ($0.head, $0.fundId) },
                        prepare: prepare, visit: visit)
    }

    /// Scans the ledger held by `storage` (any store) from entry 0, with the same checks, in
    /// the same order, as a scan of a file: a store only keeps lines, and every check of
    /// them is made here.
    ///
    /// - Throws: ``LedgerError`` `.corrupt` with the sequence number of the first entry that
    ///   fails, the store's own failure, or whatever `visit` throws.
    public static func scan<Prepared>(
        storage: any LedgerStorage,
        verifySignatures: Bool,
        prepare: @escaping @Sendable (Entry) -> Prepared,
        visit: (Entry, [UInt8], Prepared) throws -> Void
    ) throws -> LedgerScanResult {
        // Pages of 64 lines, as many as fill a batch of ``batchEntries`` lines or
        // ``batchBytes``: a store returns whole lines, so a page may pass the byte bound by
        // at most 64 lines of the 1 MiB limit.
        var next: Int64 = 0
        var ended = false
        return try scan(batches: {
            var batch = Batch()
            var bytes = 0
            while !ended, batch.lines.count < batchEntries, bytes < batchBytes {
                let page = try storage.lines(from: next, count: storagePage)
                next += Int64(page.count)
                batch.lines += page
                bytes += page.reduce(0) { $0 + $1.count }
                if page.count < storagePage { ended = true }
            }
            batch.ended = ended
            return batch
        }, verifySignatures: verifySignatures, from: nil, prepare: prepare, visit: visit)
    }

    /// Scans the ledger held by `storage`, checking every entry, and passes each to `visit`.
    public static func scan(storage: any LedgerStorage, verifySignatures: Bool,
                            visit: (Entry, [UInt8]) throws -> Void = { _, _ in }) throws -> LedgerScanResult {
        try scan(storage: storage, verifySignatures: verifySignatures, prepare: { _ in () }, visit: { entry, hash, _ in try visit(entry, hash) })
    }

    /// The checks of every scan, over batches of lines from any source.
    private static func scan<Prepared>(batches readBatch: () throws -> Batch, verifySignatures: Bool, from start: (head: LedgerHead, fundId: [UInt8])?,
                                       prepare: @escaping @Sendable (Entry) -> Prepared,
                                       visit: (Entry, [UInt8], Prepared) throws -> Void) throws -> LedgerScanResult {
        let keys = KeyCache()
        var head: LedgerHead? = start?.head
        var fundId: [UInt8]? = start?.fundId
        var tornTail: TornTail? = nil

        var batch = try readBatch()
        var first: Int64 = (start?.head.seq ?? -1) + 1
        var pending = Pending(batch.lines, firstSeq: first, keys: keys, verifySignatures: verifySignatures, prepare: prepare)
        while true {
            let checked = pending.wait()
            // Start the next batch on the other cores while this one is visited in order.
            let next = batch.ended ? Batch(ended: true) : try readBatch()
            let nextFirst = first + Int64(batch.lines.count)
            if !next.lines.isEmpty {
                pending = Pending(next.lines, firstSeq: nextFirst, keys: keys, verifySignatures: verifySignatures, prepare: prepare)
            }
            // In order: the link to the entry before, the time, the signatures; then the visit.
            for (index, item) in checked.enumerated() {
                let seq = first + Int64(index)
                guard let entry = item.entry else { throw item.error ?? LedgerError(.corrupt, seq: seq, "unreadable entry") }
                if let head {
                    guard entry.prev == head.hash else {
                        let following = index + 1 < batch.lines.count ? batch.lines[index + 1] : next.lines.first
                        throw blameBrokenLink(seq: seq, hash: item.hash, next: following)
                    }
                    guard entry.time >= head.time else {
                        throw LedgerError(.corrupt, seq: seq, "time \(entry.time) is earlier than entry \(head.seq)'s \(head.time)")
                    }
                } else {
                    guard entry.prev == Entry.genesisPrev else { throw LedgerError(.corrupt, seq: seq, "entry 0 must have a prev of 64 zeros") }
                    fundId = item.hash
                }
                if let signer = item.invalidSigner {
                    throw LedgerError(.corrupt, seq: seq, "signature by key \(signer) does not verify over the entry body")
                }
                head = LedgerHead(seq: seq, hash: item.hash, time: entry.time)
                try visit(entry, item.hash, item.prepared!)
            }
            switch batch.stop {
            case .tail(let tail, let offset)?:
                tornTail = TornTail(offset: offset, byteCount: tail.count, savedTo: nil)
            case .oversized?:
                throw LedgerError(.corrupt, seq: nextFirst, "line exceeds the \(Entry.maximumLineBytes)-byte limit")
            case .line?, nil:
                break
            }
            if next.lines.isEmpty {
                if case .tail(let tail, let offset)? = next.stop { tornTail = TornTail(offset: offset, byteCount: tail.count, savedTo: nil) }
                if case .oversized? = next.stop { throw LedgerError(.corrupt, seq: nextFirst, "line exceeds the \(Entry.maximumLineBytes)-byte limit") }
                return LedgerScanResult(entryCount: (head?.seq ?? -1) + 1, head: head, fundId: fundId, tornTail: tornTail)
            }
            batch = next
            first = nextFirst
        }
    }

    /// What the parallel step found out about one line.
    private struct Checked<Prepared> {
        var entry: Entry?
        var error: LedgerError?
        var hash: [UInt8] = []
        /// The fingerprint of the first key whose signature does not verify.
        var invalidSigner: String?
        var prepared: Prepared?
    }

    private static func check<Prepared>(_ lines: [[UInt8]], firstSeq: Int64, keys: KeyCache, verifySignatures: Bool,
                                        prepare: @Sendable (Entry) -> Prepared) -> [Checked<Prepared>] {
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Checked<Prepared>>.allocate(capacity: lines.count)
        results.initialize(repeating: Checked())
        // Deinitialized, not only deallocated: each slot holds a decoded entry.
        defer { results.deinitialize(); results.deallocate() }
        // 1. Each line decoded, hashed and prepared, on all cores.
        DispatchQueue.concurrentPerform(iterations: lines.count) { index in
            var result = Checked<Prepared>()
            do {
                let entry = try Entry.decode(line: lines[index], expectedSeq: firstSeq + Int64(index), keys: keys)
                result.entry = entry
                result.hash = try Entry.hash(line: lines[index])
                result.prepared = prepare(entry)
            } catch let error as LedgerError {
                result = Checked(error: error)
            } catch {
                result = Checked(error: LedgerError(.io, seq: firstSeq + Int64(index), "hashing failed: \(error)"))
            }
            results[index] = result
        }
        // 2. Every signature, in chunks of a few, on all cores: a petition of a thousand
        // signatures is spread over the cores like a thousand entries.
        if verifySignatures {
            var tasks: [(entry: Int, signatures: Range<Int>)] = []
            for index in 0..<lines.count {
                guard let count = results[index].entry?.signatures.count, count > 0 else { continue }
                for start in stride(from: 0, to: count, by: signatureChunk) { tasks.append((index, start..<min(start + signatureChunk, count))) }
            }
            let work = tasks
            nonisolated(unsafe) let firstInvalid = UnsafeMutableBufferPointer<Int>.allocate(capacity: work.count)
            firstInvalid.initialize(repeating: -1)
            defer { firstInvalid.deallocate() }
            DispatchQueue.concurrentPerform(iterations: work.count) { task in
                let (index, range) = work[task]
                guard let entry = results[index].entry else { return }
                firstInvalid[task] = entry.firstInvalidSignature(in: range) ?? -1
            }
            for (task, (index, _)) in tasks.enumerated() where firstInvalid[task] >= 0 && results[index].invalidSigner == nil {
                if let entry = results[index].entry { results[index].invalidSigner = entry.signatures[firstInvalid[task]].publicKey.fingerprint }
            }
        }
        return Array(results)
    }

    /// Signatures of one entry checked together in the parallel step.
    static let signatureChunk = 16

    /// Entry `seq` does not link to the hash of entry `seq - 1`. With one byte changed, either
    /// entry `seq - 1` was altered (and entry `seq` is intact, so entry `seq + 1` still links
    /// to it), or entry `seq`'s own `prev` was (so entry `seq + 1` no longer links to it).
    /// When entry `seq` is the last one, the change is blamed on entry `seq - 1`.
    private static func blameBrokenLink(seq: Int64, hash: [UInt8], next: [UInt8]?) -> LedgerError {
        let earlier = LedgerError(.corrupt, seq: seq - 1, "entry \(seq - 1) was altered: its hash does not match the prev recorded in entry \(seq)")
        guard let next, case .object(let fields)? = try? JSONParser.parse(next), let prevText = fields["prev"]?.stringValue else { return earlier }
        if prevText == Hex.encode(hash) { return earlier }
        return LedgerError(.corrupt, seq: seq, "prev does not match the hash of entry \(seq - 1)")
    }
}
