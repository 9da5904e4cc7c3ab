import BackstopCrypto
import Foundation
import Synchronization

import Glibc

/// The append-only ledger file of one folder, opened for writing by one process at a time.
///
/// The folder holds `ledger.jsonl` (the entries, one canonical line each) and `ledger.lock`
/// (the write lock, holding the writer's process id). Appending writes one line, fsyncs
/// it, and only then returns: an entry this type reported as appended survives a crash.
public final class LedgerStore: LedgerStorage {
    /// The ledger folder.
    public let directory: URL
    /// The last entry, or nil while the ledger is empty.
    public private(set) var head: LedgerHead?
    /// The hash of entry 0, or nil while the ledger is empty.
    public private(set) var fundId: [UInt8]?
    /// An incomplete last line found when opening, and where it was moved.
    public let recoveredTail: TornTail?
    /// The ledger's Merkle tree, kept in `tlog/` beside it (a derived cache, checked
    /// against the ledger when it is opened).
    public private(set) var tiles: MerkleTiles

    private var fd: Int32
    private let lock: LockFile
    private var size: UInt64
    /// The file operations it makes (the system's unless a test gives others).
    public let io: StorageIO

    /// File names inside a ledger folder.
    public static let ledgerFileName = "ledger.jsonl"
    static let lockFileName = "ledger.lock"

    // An fsync that failed leaves the kernel's view of the file unknown (the dirty pages may
    // have been dropped and marked clean), so a retry could report success for lost data.
    // After one failure every store sharing the same StorageIO (with the system's, every
    // store in the process) refuses to write.

    private init(directory: URL, fd: Int32, lock: LockFile, size: UInt64, scan: LedgerScanResult, recovered: TornTail?, tiles: MerkleTiles, io: StorageIO) {
        self.directory = directory
        self.io = io
        self.tiles = tiles
        self.fd = fd
        self.lock = lock
        self.size = size
        self.head = scan.head
        self.fundId = scan.fundId
        self.recoveredTail = recovered
    }

    deinit { close() }

    /// Writes out the Merkle tiles, closes the ledger file and releases the write lock now,
    /// instead of when this object goes away. Appending afterwards is refused.
    public func close() {
        guard fd >= 0 else { return }
        if unflushed > 0 && (try? flushTiles()) == nil { MerkleTiles.markStale(ledger: directory) }
        io.close(fd)
        fd = -1
        lock.release()
    }

    /// Creates a new, empty ledger in `directory` (made if missing) and opens it for writing.
    ///
    /// - Throws: ``LedgerError`` `.alreadyExists` when the folder already has a ledger.
    public static func create(at directory: URL, io: StorageIO = SystemIO.shared) throws -> LedgerStore {
        try refuseAfterSyncFailure(io)
        // Each missing folder is made one level at a time, and its parent fsynced: a new
        // folder's name lives in its parent, which must reach the disk as well.
        var missing: [URL] = []
        var folder = directory.standardizedFileURL
        while !FileManager.default.fileExists(atPath: folder.path) && folder.path != "/" {
            missing.insert(folder, at: 0)
            folder = folder.deletingLastPathComponent()
        }
        for folder in missing {
            guard retryingInterrupted({ io.makeDirectory(folder.path, mode: 0o755) }) == 0 || errno == EEXIST else {
                throw LedgerError(.io, "cannot create folder \(folder.path): \(errnoDescription())")
            }
            guard io.syncDirectory(folder.deletingLastPathComponent().path) else {
                throw LedgerError(.io, "cannot fsync the parent of \(folder.path): \(errnoDescription())")
            }
        }
        let lock = try LockFile(directory.appendingPathComponent(lockFileName), io: io)
        let path = directory.appendingPathComponent(ledgerFileName).path
        let fd = retryingInterrupted { io.open(path, flags: O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o644) }
        guard fd >= 0 else {
            if errno == EEXIST { throw LedgerError(.alreadyExists, "\(path) already exists; a folder holds one ledger") }
            throw LedgerError(.io, "cannot create \(path): \(errnoDescription())")
        }
        // The new name must survive a crash too: fsync the folder that holds it.
        guard io.fsync(fd) == 0, io.syncDirectory(directory.path) else {
            let reason = errnoDescription()
            io.close(fd)
            io.markSyncFailed()
            throw LedgerError(.syncFailed, "fsync after creating \(path) failed: \(reason)")
        }
        let empty = LedgerScanResult(entryCount: 0, head: nil, fundId: nil, tornTail: nil)
        let tilesFolder = directory.appendingPathComponent(MerkleTiles.folderName)
        try? FileManager.default.removeItem(at: tilesFolder)
        return LedgerStore(directory: directory, fd: fd, lock: lock, size: 0, scan: empty, recovered: nil, tiles: MerkleTiles(directory: tilesFolder, overwrite: true), io: io)
    }

    /// Opens the ledger in `directory` for writing.
    ///
    /// Every complete line is checked (format, sequence, links, time, and with
    /// `verifySignatures` every signature) and passed to `visit`. An incomplete
    /// last line, left by a crash during an append that was never acknowledged, is copied to
    /// `ledger.jsonl.torn-<offset>-<time>` and cut off; ``recoveredTail`` reports it. Any
    /// other bad line stops the open with its sequence number, and nothing is modified.
    ///
    /// - Parameter lockWaitSeconds: how long to wait for another writer's lock before giving up.
    /// - Throws: ``LedgerError`` `.locked` (with the holder's pid) when another process
    ///   writes, `.notFound`, `.corrupt`, `.io`, or whatever `visit` throws.
    public static func open(at directory: URL, verifySignatures: Bool = false, lockWaitSeconds: Double = 0, io: StorageIO = SystemIO.shared,
                            visit: (Entry, [UInt8]) throws -> Void = { _, _ in }) throws -> LedgerStore {
        try open(at: directory, verifySignatures: verifySignatures, lockWaitSeconds: lockWaitSeconds, io: io, resume: { nil },
                 prepare: { _ in () }, visit: { entry, hash, _ in try visit(entry, hash) })
    }

    /// Where a writer that already knows the first entries (from a snapshot) starts.
    public struct ResumePoint: Sendable {
        /// How many entries are known.
        public let entries: Int64
        /// The hash of the last of them.
        public let head: [UInt8]
        /// The hash of entry 0.
        public let fundId: [UInt8]
        /// The byte just after the last one's newline.
        public let offset: UInt64
        /// Their Merkle frontier.
        public let frontier: MerkleFrontier

        /// A resume point after `entries` entries, the last ending at byte `offset`.
        public init(entries: Int64, head: [UInt8], fundId: [UInt8], offset: UInt64, frontier: MerkleFrontier) {
            self.entries = entries
            self.head = head
            self.fundId = fundId
            self.offset = offset
            self.frontier = frontier
        }
    }

    /// Opens the ledger for writing, starting after what `resume` (asked once the lock is
    /// held) says is known, when the ledger's line ending at its offset is its head and the
    /// tiles match; otherwise from entry 0. `resumed` tells which happened. `prepare` runs on
    /// all cores for each entry before `visit` sees it, in order.
    public static func open<Prepared>(at directory: URL, verifySignatures: Bool = false, lockWaitSeconds: Double = 0, io: StorageIO = SystemIO.shared,
                                      resume: () -> ResumePoint?, resumed: (Bool) throws -> Void = { _ in },
                                      prepare: @escaping @Sendable (Entry) -> Prepared,
                                      visit: (Entry, [UInt8], Prepared) throws -> Void) throws -> LedgerStore {
        try refuseAfterSyncFailure(io)
        let path = directory.appendingPathComponent(ledgerFileName).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw LedgerError(.notFound, "no ledger in \(directory.path) (\(ledgerFileName) is missing)")
        }
        let lock = try LockFile(directory.appendingPathComponent(lockFileName), waitSeconds: lockWaitSeconds, io: io)
        let fd = try openOwnFile(path, flags: O_RDWR, what: "the ledger", io: io)
        do {
            let tilesFolder = directory.appendingPathComponent(MerkleTiles.folderName)
            var tiles = MerkleTiles(directory: tilesFolder)
            var start: LedgerScan.Start? = nil
            var tilesMatch = true
            if let point = resume(), let head = try headLine(fd: fd, point: point) {
                start = LedgerScan.Start(head: head, fundId: point.fundId, offset: point.offset)
                // Tiles that cannot be resumed are rebuilt from the lines after the scan.
                if let resumedTiles = try? MerkleTiles.resume(directory: tilesFolder, frontier: point.frontier) { tiles = resumedTiles } else { tilesMatch = false }
            }
            try resumed(start != nil)
            // From entry 0, the tiles are fed every leaf as the scan passes; they were right
            // if the root they recorded is the ledger's root at their size.
            let recorded = start == nil ? MerkleTiles.recorded(in: tilesFolder) : nil
            if start == nil { tilesMatch = recorded == nil }
            // Resumed tiles may already hold some of the entries read again: compared, not added.
            let held = start == nil ? 0 : tiles.size
            let feedTiles = start == nil || tilesMatch
            let scan = try LedgerScan.scan(fd: fd, verifySignatures: verifySignatures, from: start, prepare: prepare) { entry, hash, prepared in
                try visit(entry, hash, prepared)
                guard feedTiles else { return }
                if entry.seq < held {
                    if try tiles.leaf(entry.seq) != hash { tilesMatch = false }
                    return
                }
                try tiles.append(hash)
                if let recorded, tiles.size == recorded.size { tilesMatch = tiles.frontier.root == recorded.root }
            }
            if tiles.size > (scan.head?.seq ?? -1) + 1 { tilesMatch = false }
            if !tilesMatch {
                tiles = try rebuildTiles(fd: fd, folder: tilesFolder)
            }
            try? tiles.flush()
            var size = UInt64(lseek(fd, 0, SEEK_END))
            var recovered: TornTail? = nil
            if let tail = scan.tornTail {
                recovered = try setAside(tail, fd: fd, directory: directory, io: io)
                size = tail.offset
            }
            return LedgerStore(directory: directory, fd: fd, lock: lock, size: size, scan: scan, recovered: recovered, tiles: tiles, io: io)
        } catch {
            io.close(fd)
            throw error
        }
    }

    /// The head a resume point names, when the ledger's line ending at its offset is that
    /// entry (same hash and sequence number); nil otherwise.
    private static func headLine(fd: Int32, point: ResumePoint) throws -> LedgerHead? {
        guard point.entries > 0, point.offset > 0 else { return nil }
        let want = Int(min(point.offset, UInt64(Entry.maximumLineBytes + 1)))
        var bytes = [UInt8](repeating: 0, count: want)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(point.offset) - off_t(want)) }
        guard count == want, bytes.last == 0x0A else { return nil }
        let start = bytes.dropLast().lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        guard start > 0 || UInt64(want) == point.offset else { return nil }
        let line = Array(bytes[start..<(want - 1)])
        guard let hash = try? Entry.hash(line: line), hash == point.head,
              let entry = try? Entry.decode(line: line, expectedSeq: point.entries - 1) else { return nil }
        return LedgerHead(seq: entry.seq, hash: hash, time: entry.time)
    }

    /// How many bytes the ledger file holds (the offset of the next entry).
    public var byteCount: UInt64 { size }

    /// Tiles that do not match the ledger (another ledger, a damaged or interrupted cache)
    /// are written again from the ledger's lines.
    private static func rebuildTiles(fd: Int32, folder: URL) throws -> MerkleTiles {
        try? FileManager.default.removeItem(at: folder)
        let tiles = MerkleTiles(directory: folder, overwrite: true)
        guard lseek(fd, 0, SEEK_SET) == 0 else { throw LedgerError(.io, "cannot read the ledger again: \(errnoDescription())") }
        var reader = LineReader(fd: fd)
        while case .line(let line)? = try reader.next(limit: Entry.maximumLineBytes) {
            try tiles.append(try Entry.hash(line: line))
        }
        return tiles
    }

    /// The root of the ledger's first `size` entries, from its Merkle tiles.
    public func root(size: Int64) throws -> [UInt8] { try tiles.root(size: size) }

    /// Appends one entry after the head, with `signatures` over the canonical bytes of `body`.
    ///
    /// The entry is checked as a reader would check it (fields, limits, time not before the
    /// head's, every signature valid and low-S); if anything fails, nothing is written.
    /// Returns once the line is on disk (fsync), with the entry and its hash.
    ///
    /// - Throws: ``LedgerError`` `.invalidEntry`, `.io` (the file is restored to its previous
    ///   length), or `.syncFailed` (this process must stop writing).
    @discardableResult
    public func append(kind: String, time: Timestamp, body: JSONValue, signatures: [EntrySignature]) throws -> (entry: Entry, hash: [UInt8]) {
        let seq = (head?.seq ?? -1) + 1
        let entry = try Entry(seq: seq, prev: head?.hash ?? Entry.genesisPrev, time: time, kind: kind, body: body, signatures: signatures)
        let prepared = try PreparedEntry(checking: entry)
        try append([prepared])
        return (prepared.entry, prepared.hash)
    }

    /// Appends entries that follow the head in order, with one write and one fsync: all of
    /// them or, on any failure, none.
    ///
    /// - Throws: ``LedgerError`` `.invalidEntry` when they do not follow the head (seq, prev,
    ///   time), `.io` (the file is restored to its previous length), or `.syncFailed`.
    public func append(_ entries: [PreparedEntry]) throws {
        try Self.refuseAfterSyncFailure(io)
        guard fd >= 0 else { throw LedgerError(.io, "the ledger was closed; open it again to append") }
        guard !entries.isEmpty else { return }
        var last = head
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + $1.line.count + 1 })
        for prepared in entries {
            let entry = prepared.entry
            let seq = (last?.seq ?? -1) + 1
            guard entry.seq == seq, entry.prev == (last?.hash ?? Entry.genesisPrev) else {
                throw LedgerError(.invalidEntry, seq: entry.seq, "entry \(entry.seq) does not follow entry \(seq - 1)")
            }
            if let last, entry.time < last.time {
                throw LedgerError(.invalidEntry, seq: seq, "time \(entry.time) is earlier than the head's \(last.time)")
            }
            bytes += prepared.line
            bytes.append(0x0A)
            last = LedgerHead(seq: seq, hash: prepared.hash, time: entry.time)
        }
        try writeDurably(bytes, seq: entries[0].entry.seq)
        head = last
        if fundId == nil { fundId = entries[0].hash }
        // The entries are durable; the tiles are a cache, written out every
        // ``tilesFlushInterval`` entries and when the ledger is closed (renaming small files
        // between fsyncs of the ledger would make every append wait for them). If they cannot
        // be written, they are marked stale and rebuilt when the ledger is next opened.
        do {
            for prepared in entries { try tiles.append(prepared.hash) }
            unflushed += entries.count
            if unflushed >= Self.tilesFlushInterval { try flushTiles() }
        } catch {
            MerkleTiles.markStale(ledger: directory)
        }
    }

    /// The ledger folder's path.
    public var location: String { directory.path }

    /// The head this writer holds (the file cannot change while it holds the lock).
    public func storedHead() throws -> StoredHead {
        StoredHead(count: (head?.seq ?? -1) + 1, hash: head?.hash)
    }

    /// Appends after `expected` (see ``LedgerStorage``): the file store holds its lock
    /// from open to close, so the head moves only through this object, or through a
    /// process that ignores the lock, which the file's size reveals.
    public func append(_ entries: [PreparedEntry], expecting expected: StoredHead) throws {
        let current = try storedHead()
        guard current == expected else {
            throw LedgerError(.headMoved, "the ledger's head moved (expected \(expected), found \(current)); nothing was written")
        }
        guard fd >= 0 else { throw LedgerError(.io, "the ledger was closed; open it again to append") }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LedgerError(.io, "cannot stat \(Self.ledgerFileName): \(errnoDescription())") }
        guard UInt64(info.st_size) == size else {
            throw LedgerError(.headMoved, "\(Self.ledgerFileName) changed size under the write lock (\(size) bytes expected, \(info.st_size) found): another program wrote to it; nothing was written")
        }
        try append(entries)
    }

    /// Reads lines for ``lines(from:count:)``, made when first needed.
    private var reader: FolderReader?

    /// Up to `count` lines from entry `seq`, read from the file (entries this writer holds).
    public func lines(from seq: Int64, count: Int) throws -> [[UInt8]] {
        let total = (head?.seq ?? -1) + 1
        guard seq >= 0, seq < total, count > 0 else { return [] }
        if reader == nil { reader = try FolderReader(directory: directory) }
        return try reader?.lines(from: seq, count: Int(min(Int64(count), total - seq))) ?? []
    }

    /// Appended entries whose tiles are written out together.
    static let tilesFlushInterval = 256
    private var unflushed = 0

    private func flushTiles() throws {
        try tiles.flush()
        unflushed = 0
    }

    /// Writes the Merkle tiles out now (they are otherwise written every
    /// ``tilesFlushInterval`` entries and at close); tiles that cannot be written are marked
    /// stale, to be rebuilt.
    public func writeTiles() {
        guard unflushed > 0 else { return }
        if (try? flushTiles()) == nil { MerkleTiles.markStale(ledger: directory) }
    }

    private func writeDurably(_ bytes: [UInt8], seq: Int64) throws {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                io.pwrite(fd, UnsafeRawBufferPointer(rebasing: raw[written...]), at: off_t(size) + off_t(written))
            }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                let reason = errnoDescription()
                // Take back the part that reached the file so the ledger stays as it was.
                guard retryingInterrupted({ io.ftruncate(fd, off_t(size)) }) == 0, io.fsync(fd) == 0 else {
                    io.markSyncFailed()
                    throw LedgerError(.syncFailed, seq: seq, "write failed (\(reason)) and the partial line could not be removed")
                }
                throw LedgerError(.io, seq: seq, "write to \(Self.ledgerFileName) failed: \(reason); the ledger is unchanged")
            }
            written += result
        }
        guard io.fsync(fd) == 0 else {
            io.markSyncFailed()
            throw LedgerError(.syncFailed, seq: seq, "fsync of \(Self.ledgerFileName) failed: \(errnoDescription()); the entry may not be durable, and this process will not write again")
        }
        size += UInt64(bytes.count)
    }

    private static func refuseAfterSyncFailure(_ io: StorageIO) throws {
        guard !io.syncFailed else {
            throw LedgerError(.syncFailed, "an earlier fsync failed in this process; restart it before writing again")
        }
    }

    /// Copies the torn tail to its own file (fsynced), then cuts it off the ledger (fsynced).
    private static func setAside(_ tail: TornTail, fd: Int32, directory: URL, io: StorageIO) throws -> TornTail {
        var bytes = [UInt8](repeating: 0, count: tail.byteCount)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, tail.byteCount, off_t(tail.offset)) }
        guard count == tail.byteCount else { throw LedgerError(.io, "cannot read the incomplete last line: \(errnoDescription())") }
        // A new name every time: an earlier copy is evidence too and is never overwritten.
        let stem = "\(ledgerFileName).torn-\(tail.offset)-\(Int64(Date().timeIntervalSince1970))"
        var name = stem
        var path = directory.appendingPathComponent(name).path
        // 0600: the torn line may be anything a crashed writer left, and is for the owner.
        var copy = io.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o600)
        var attempt = 1
        while copy < 0 && errno == EEXIST && attempt < 1_000 {
            name = "\(stem)-\(attempt)"
            path = directory.appendingPathComponent(name).path
            copy = io.open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o600)
            attempt += 1
        }
        guard copy >= 0 else { throw LedgerError(.io, "cannot create \(path): \(errnoDescription())") }
        defer { io.close(copy) }
        var copied = 0
        while copied < tail.byteCount {
            let count = bytes.withUnsafeBytes { io.pwrite(copy, UnsafeRawBufferPointer(rebasing: $0[copied...]), at: off_t(copied)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            copied += count
        }
        guard copied == tail.byteCount else { throw LedgerError(.io, "cannot save the incomplete last line to \(path): \(errnoDescription())") }
        guard io.fsync(copy) == 0, io.syncDirectory(directory.path) else {
            let reason = errnoDescription()
            io.markSyncFailed()
            throw LedgerError(.syncFailed, "cannot save the incomplete last line to \(path) durably: \(reason)")
        }
        guard retryingInterrupted({ io.ftruncate(fd, off_t(tail.offset)) }) == 0 else {
            throw LedgerError(.io, "cannot remove the incomplete last line: \(errnoDescription())")
        }
        guard io.fsync(fd) == 0 else {
            io.markSyncFailed()
            throw LedgerError(.syncFailed, "fsync after removing the incomplete last line failed: \(errnoDescription())")
        }
        return TornTail(offset: tail.offset, byteCount: tail.byteCount, savedTo: name)
    }
}

/// An entry ready to be written: checked, encoded and hashed once.
public struct PreparedEntry: Sendable {
    /// The entry.
    public let entry: Entry
    /// Its line, without the newline.
    public let line: [UInt8]
    /// Its hash, SHA-256(0x00 || line).
    public let hash: [UInt8]

    private static let keys = KeyCache()

    /// Checks `entry` as a reader would (every signature valid, the line within the limit
    /// and reading back as the same entry), encodes and hashes it.
    ///
    /// - Throws: ``LedgerError`` `.invalidEntry` naming what is wrong.
    public init(checking entry: Entry) throws {
        var entry = entry
        let (line, digest) = entry.encoded()
        entry.signedDigest = digest
        if let bad = entry.firstInvalidSignature() {
            throw LedgerError(.invalidEntry, seq: entry.seq, "signature by key \(bad.publicKey.fingerprint) does not verify over the body")
        }
        try self.init(signaturesVerified: entry, line: line)
    }

    /// For a caller in this package that has verified the signatures over `line`'s body.
    package init(signaturesVerified entry: Entry, line: [UInt8]) throws {
        guard line.count <= Entry.maximumLineBytes else {
            throw LedgerError(.invalidEntry, seq: entry.seq, "entry is \(line.count) bytes; the limit is \(Entry.maximumLineBytes)")
        }
        // What is written must read back as the same entry; otherwise the encoder is wrong
        // and nothing is written. (Keys are parsed once per process: checking a point is slow.)
        _ = try Entry.decode(line: line, expectedSeq: entry.seq, keys: Self.keys)
        self.entry = entry
        self.line = line
        self.hash = try Entry.hash(line: line)
    }
}

/// Opens `path` with `flags` and `O_NOFOLLOW`, and checks it is a regular file owned by
/// this user: a writer never follows a symbolic link planted in the ledger's folder, nor
/// writes through a file someone else owns.
/// `call` again while it fails with EINTR (a signal arrived): a result, or -1 with errno.
func retryingInterrupted(_ call: () -> Int32) -> Int32 {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}

func openOwnFile(_ path: String, flags: Int32, mode: mode_t = 0o644, what: String, io: StorageIO) throws -> Int32 {
    let fd = retryingInterrupted { io.open(path, flags: flags | O_CLOEXEC | O_NOFOLLOW, mode: mode) }
    guard fd >= 0 else {
        if errno == ELOOP { throw LedgerError(.io, "\(what) \(path) is a symbolic link; refusing to follow it (replace it with the file itself)") }
        throw LedgerError(.io, "cannot open \(what) \(path): \(errnoDescription())")
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        io.close(fd)
        throw LedgerError(.io, "cannot stat \(what) \(path): \(errnoDescription())")
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
        io.close(fd)
        throw LedgerError(.io, "\(what) \(path) is not a regular file; refusing to use it")
    }
    guard info.st_uid == geteuid() else {
        io.close(fd)
        throw LedgerError(.io, "\(what) \(path) is owned by uid \(info.st_uid), not by this user (uid \(geteuid())); refusing to write through it")
    }
    return fd
}


/// An exclusive `flock` on the ledger's lock file, held until this object is released.
final class LockFile {
    private var fd: Int32
    private let io: StorageIO

    /// Takes the lock, waiting up to `waitSeconds` for another holder to release it.
    init(_ url: URL, waitSeconds: Double = 0, io: StorageIO) throws {
        self.io = io
        // 0600 and our own: whoever can open the lock file can hold the flock and stop
        // every writer.
        let fd = try openOwnFile(url.path, flags: O_RDWR | O_CREAT, mode: 0o600, what: "the lock file", io: io)
        _ = fchmod(fd, 0o600)
        let deadline = Date().addingTimeInterval(max(0, waitSeconds))
        // flock has no timeout: poll, so that a writer gives up at the deadline instead of
        // hanging behind a stuck process.
        var locked = false, busy = false, reason = ""
        repeat {
            if busy { usleep(20_000) }
            locked = retryingInterrupted({ io.flock(fd, LOCK_EX | LOCK_NB) }) == 0
            busy = !locked && errno == EWOULDBLOCK
            if !locked { reason = errnoDescription() }
        } while busy && Date() < deadline
        guard locked else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 32, 0) }
            io.close(fd)
            guard busy else { throw LedgerError(.io, "cannot lock \(url.path): \(reason)") }
            let pid = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let waited = waitSeconds > 0 ? " for \(waitSeconds) s" : ""
            throw LedgerError(.locked, "ledger is locked by pid \(pid.isEmpty ? "unknown" : pid) (another backstop process is writing; waited\(waited.isEmpty ? " not at all" : waited); try again, or give --wait SECONDS)")
        }
        // The pid is for people reading the error above; the lock itself is the flock.
        let pid = Array("\(getpid())\n".utf8)
        _ = io.ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { io.pwrite(fd, $0, at: 0) }
        self.fd = fd
    }

    /// Releases the lock (closing its file) now.
    func release() {
        if fd >= 0 { io.close(fd) }
        fd = -1
    }

    deinit { release() }
}
