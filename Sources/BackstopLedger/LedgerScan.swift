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
        var reader = LineReader(fd: fd)
        let keys = KeyCache()
        var head: LedgerHead? = nil
        var fundId: [UInt8]? = nil
        var tornTail: TornTail? = nil

        while true {
            // 1. A batch of complete lines, read in order.
            var lines: [[UInt8]] = []
            var bytes = 0
            var stop: LineReader.Item? = nil
            while lines.count < batchEntries, bytes < batchBytes, let item = try reader.next(limit: Entry.maximumLineBytes) {
                guard case .line(let line) = item else { stop = item; break }
                lines.append(line)
                bytes += line.count
            }
            // 2. Each line decoded, hashed and its signatures checked, on all cores.
            let first = (head?.seq ?? -1) + 1
            let checked = check(lines, firstSeq: first, keys: keys, verifySignatures: verifySignatures)
            // 3. In order: the link to the entry before, the time, the signatures; then the visit.
            for (index, item) in checked.enumerated() {
                let seq = first + Int64(index)
                guard let entry = item.entry else { throw item.error ?? LedgerError(.corrupt, seq: seq, "unreadable entry") }
                if let head {
                    guard entry.prev == head.hash else {
                        let next = index + 1 < lines.count ? lines[index + 1] : (stop == nil ? nextLine(&reader) : nil)
                        throw blameBrokenLink(seq: seq, hash: item.hash, next: next)
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
                try visit(entry, item.hash)
            }
            switch stop {
            case .tail(let tail, let offset)?:
                tornTail = TornTail(offset: offset, byteCount: tail.count, savedTo: nil)
            case .oversized?:
                throw LedgerError(.corrupt, seq: first + Int64(lines.count), "line exceeds the \(Entry.maximumLineBytes)-byte limit")
            case .line?, nil:
                if lines.isEmpty { return LedgerScanResult(entryCount: (head?.seq ?? -1) + 1, head: head, fundId: fundId, tornTail: tornTail) }
            }
        }
    }

    /// What the parallel step found out about one line.
    private struct Checked: Sendable {
        var entry: Entry?
        var error: LedgerError?
        var hash: [UInt8] = []
        /// The fingerprint of the first key whose signature does not verify.
        var invalidSigner: String?
    }

    private static func check(_ lines: [[UInt8]], firstSeq: Int64, keys: KeyCache, verifySignatures: Bool) -> [Checked] {
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Checked>.allocate(capacity: lines.count)
        results.initialize(repeating: Checked())
        // Deinitialized, not only deallocated: each slot holds a decoded entry.
        defer { results.deinitialize(); results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: lines.count) { index in
            var result = Checked()
            do {
                let entry = try Entry.decode(line: lines[index], expectedSeq: firstSeq + Int64(index), keys: keys)
                result.entry = entry
                result.hash = try Entry.hash(line: lines[index])
                if verifySignatures { result.invalidSigner = entry.firstInvalidSignature()?.publicKey.fingerprint }
            } catch let error as LedgerError {
                result = Checked(error: error)
            } catch {
                result = Checked(error: LedgerError(.io, seq: firstSeq + Int64(index), "hashing failed: \(error)"))
            }
            results[index] = result
        }
        return Array(results)
    }

    private static func nextLine(_ reader: inout LineReader) -> [UInt8]? {
        guard case .line(let line)? = try? reader.next(limit: Entry.maximumLineBytes) else { return nil }
        return line
    }

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
