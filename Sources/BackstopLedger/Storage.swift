import BackstopCrypto
import Foundation
import Glibc
import Synchronization

/// How many entries a store holds and the hash of the last one: what a conditional append
/// names as the head it expects.
public struct StoredHead: Sendable, Equatable, CustomStringConvertible {
    /// How many entries are stored.
    public let count: Int64
    /// The hash of the last one; nil when the store is empty.
    public let hash: [UInt8]?

    /// A head of `count` entries, the last with `hash`.
    public init(count: Int64, hash: [UInt8]?) {
        self.count = count
        self.hash = hash
    }

    /// No entries.
    public static let empty = StoredHead(count: 0, hash: nil)

    /// "N entries, head <first 8 bytes in hex>".
    public var description: String {
        guard let hash else { return "empty" }
        return "\(count) entries, head \(Hex.encode(Array(hash.prefix(8))))"
    }
}

/// Where a ledger's entries are kept: their exact line bytes, in order.
///
/// A store is deliberately small. It does not judge entries: the chain, the canonical form,
/// the signatures and the fund's rules are checked once, above every store, by
/// ``LedgerScan`` when reading and by the caller that prepares entries when writing. What a
/// store guarantees:
///
/// - **Conditional, atomic, durable appends.** ``append(_:expecting:)`` writes all of the
///   entries or none, only if the stored head is still the one the caller expects
///   (otherwise ``LedgerError/Code/headMoved`` and nothing is written: no lost update, no
///   fork), and returns only once they survive a crash (the file store fsyncs; PostgreSQL
///   commits, on a synchronous standby too when so configured).
/// - **Linked lines only.** Each appended entry must carry the next sequence number and the
///   previous entry's hash as its `prev`; a store refuses anything else, so even a faulty
///   writer cannot fork it.
/// - **Exact reads.** ``lines(from:count:)`` returns the stored bytes as they were appended.
/// - **One writer.** A store opened for writing holds an exclusive writer lock until
///   ``close()`` (a file lock, a flag, a PostgreSQL advisory lock): a second writer waits or
///   is refused with ``LedgerError/Code/locked``. Appends stay conditional regardless.
public protocol LedgerStorage: AnyObject {
    /// Where the ledger is, for people (a folder, `memory:NAME`, a database URL without
    /// its password).
    var location: String { get }
    /// The stored head, as the store holds it now.
    func storedHead() throws -> StoredHead
    /// Up to `count` stored lines (without newlines) starting at entry `seq`, in order;
    /// fewer (or none) at the end of the ledger.
    func lines(from seq: Int64, count: Int) throws -> [[UInt8]]
    /// Appends `entries` after the head `expected`: all of them, durably, or none.
    ///
    /// - Throws: ``LedgerError`` `.headMoved` when the stored head is not `expected`,
    ///   `.invalidEntry` when an entry does not link to the one before it, or the store's
    ///   own failure (`.io`, `.syncFailed`, `.unavailable`); nothing is written.
    func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws
    /// Releases the writer lock and any connection; appending afterwards is refused.
    func close()
}

extension LedgerStorage {
    /// The stored line of entry `seq`.
    ///
    /// - Throws: ``LedgerError`` `.notFound` when the store holds no such entry.
    public func line(_ seq: Int64) throws -> [UInt8] {
        guard seq >= 0, let line = try lines(from: seq, count: 1).first else {
            throw LedgerError(.notFound, seq: seq, "the ledger has no entry \(seq)")
        }
        return line
    }

    /// Entry `seq` as stored (its form checked, not the chain): for looking up an entry the
    /// caller already verified.
    public func entry(_ seq: Int64) throws -> Entry {
        try Entry.decode(line: try line(seq), expectedSeq: seq)
    }
}

/// Ledger URLs (`postgres://...`) as options name them, and as messages may show them.
public enum StorageURL {
    /// Whether `text` names a database ledger rather than a folder.
    public static func isDatabase(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// `text` with any password cut out: whatever stands between `://` and the last `@` is
    /// reduced to the user name, so a password is never shown, even one that a URL parser
    /// would misread (holding `#`, `?` or `/`).
    public static func redacted(_ text: String) -> String {
        guard let scheme = text.range(of: "://") else { return text }
        let rest = text[scheme.upperBound...]
        guard let at = rest.lastIndex(of: "@"), rest[..<at].contains(":") else { return text }
        let user = rest[..<at].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return String(text[..<scheme.upperBound]) + user + ":REDACTED" + String(rest[at...])
    }

    /// Whether `text` carries a password (a `:` before the last `@` after the scheme).
    public static func hasPassword(_ text: String) -> Bool { redacted(text) != text }
}

/// Checks that `entries` extend `head` by sequence number and `prev`: the rule every store
/// enforces on what it is given.
package func checkLinks(_ entries: [PreparedEntry], after head: StoredHead) throws {
    var count = head.count, last = head.hash ?? Entry.genesisPrev
    for prepared in entries {
        guard prepared.entry.seq == count, prepared.entry.prev == last else {
            throw LedgerError(.invalidEntry, seq: prepared.entry.seq, "entry \(prepared.entry.seq) does not follow entry \(count - 1) (sequence number or prev)")
        }
        count += 1
        last = prepared.hash
    }
}

/// A ledger kept in this process's memory: for tests, and as the smallest example of a
/// ``LedgerStorage``. Stores with the same name in one process share their entries, as
/// connections to one database do. Nothing survives the process.
public final class MemoryStorage: LedgerStorage {
    private final class Shared: Sendable {
        struct Contents {
            var lines: [[UInt8]] = []
            var hashes: [[UInt8]] = []
            var writer: ObjectIdentifier? = nil
        }
        let contents = Mutex(Contents())
    }

    private static let registry = Mutex<[String: Shared]>([:])

    private let shared: Shared
    private let name: String
    private var writing: Bool

    /// The entries of the memory ledger `name` (made empty the first time it is named).
    ///
    /// - Parameters:
    ///   - forWriting: take the writer lock, waiting up to `lockWaitSeconds` for another
    ///     writer to close.
    /// - Throws: ``LedgerError`` `.locked` when another writer holds the lock.
    public init(name: String, forWriting: Bool = true, lockWaitSeconds: Double = 0) throws {
        self.name = name
        self.shared = Self.registry.withLock { registry in
            if let shared = registry[name] { return shared }
            let shared = Shared()
            registry[name] = shared
            return shared
        }
        self.writing = false
        guard forWriting else { return }
        let me = ObjectIdentifier(self)
        let deadline = Date().addingTimeInterval(max(0, lockWaitSeconds))
        while !shared.contents.withLock({ contents in
            guard contents.writer == nil else { return false }
            contents.writer = me
            return true
        }) {
            guard Date() < deadline else { throw LedgerError(.locked, "memory ledger \(name) has another writer") }
            usleep(1_000)
        }
        writing = true
    }

    /// Forgets the memory ledger `name` (its entries go when the last store closes).
    public static func discard(name: String) {
        _ = registry.withLock { $0.removeValue(forKey: name) }
    }

    deinit { close() }

    /// `memory:NAME`.
    public var location: String { "memory:\(name)" }

    /// The head as stored now.
    public func storedHead() throws -> StoredHead {
        shared.contents.withLock { StoredHead(count: Int64($0.lines.count), hash: $0.hashes.last) }
    }

    /// Up to `count` lines from entry `seq`.
    public func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        shared.contents.withLock { contents in
            guard seq >= 0, seq < contents.lines.count, count > 0 else { return [] }
            let start = Int(seq)
            return Array(contents.lines[start..<min(contents.lines.count, start + count)])
        }
    }

    /// Appends after `expected`, all or nothing.
    public func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws {
        guard writing else { throw LedgerError(.io, "memory ledger \(name) is not open for writing") }
        try shared.contents.withLock { contents in
            let head = StoredHead(count: Int64(contents.lines.count), hash: contents.hashes.last)
            guard head == expected else {
                throw LedgerError(.headMoved, "the ledger's head moved (expected \(expected), found \(head)); nothing was written")
            }
            try checkLinks(entries, after: head)
            contents.lines += entries.map(\.line)
            contents.hashes += entries.map(\.hash)
        }
    }

    /// Releases the writer lock.
    public func close() {
        guard writing else { return }
        let me = ObjectIdentifier(self)
        shared.contents.withLock { if $0.writer == me { $0.writer = nil } }
        writing = false
    }
}

/// A ledger folder opened to read, without its writer lock: the lines of `ledger.jsonl`
/// as a ``LedgerStorage`` (appending is refused). An incomplete last line is not an entry.
public final class FolderReader: LedgerStorage {
    /// The ledger folder.
    public let directory: URL
    private let fd: Int32
    /// Where the next read continues cheaply.
    private var cursor: (seq: Int64, offset: UInt64) = (0, 0)

    /// Opens `directory`'s `ledger.jsonl` to read.
    ///
    /// - Throws: ``LedgerError`` `.notFound` when there is none.
    public init(directory: URL) throws {
        self.directory = directory
        let path = directory.appendingPathComponent(LedgerStore.ledgerFileName).path
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw LedgerError(.notFound, "no ledger in \(directory.path) (\(LedgerStore.ledgerFileName) is missing)") }
            throw LedgerError(.io, "cannot open \(path): \(errnoDescription())")
        }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// The folder's path.
    public var location: String { directory.path }

    /// Counts the complete lines and hashes the last (a pass over the file).
    public func storedHead() throws -> StoredHead {
        var count: Int64 = 0
        var last: [UInt8]? = nil
        var reader = try reader(at: 0)
        while case .line(let line)? = try reader.next(limit: Entry.maximumLineBytes) {
            count += 1
            last = line
        }
        return StoredHead(count: count, hash: try last.map { try Entry.hash(line: $0) })
    }

    /// Up to `count` complete lines from entry `seq`.
    public func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        guard seq >= 0, count > 0 else { return [] }
        var (at, offset) = cursor.seq <= seq ? cursor : (0, 0)
        var reader = try reader(at: offset)
        var result: [[UInt8]] = []
        while at < seq + Int64(count) {
            guard let item = try reader.next(limit: Entry.maximumLineBytes) else { break }
            guard case .line(let line) = item else {
                if case .oversized = item { throw LedgerError(.corrupt, seq: at, "line exceeds the \(Entry.maximumLineBytes)-byte limit") }
                break
            }
            if at >= seq { result.append(line) }
            at += 1
            offset = reader.offset
        }
        cursor = (at, offset)
        return result
    }

    private func reader(at offset: UInt64) throws -> LineReader {
        guard lseek(fd, off_t(offset), SEEK_SET) == off_t(offset) else { throw LedgerError(.io, "cannot seek in \(directory.path): \(errnoDescription())") }
        return LineReader(fd: fd, offset: offset)
    }

    /// Refused: a reader does not write.
    public func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws {
        throw LedgerError(.io, "\(directory.path) is open to read only")
    }

    /// Nothing to release (the file closes when the reader goes).
    public func close() {}
}
