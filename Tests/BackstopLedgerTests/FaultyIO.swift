import BackstopLedger
import BackstopTestSupport
import Foundation
import Glibc

/// A ``StorageIO`` for tests that does the real system calls, but can fail any of them,
/// write short, and simulate a power loss, after SQLite's crash-test VFS: it remembers, per
/// file, how much of it an fsync made durable, and whether a new file's name reached the
/// disk (its folder was fsynced); ``powerLoss(_:)`` then drops or garbles everything that
/// was not.
final class FaultyIO: StorageIO, @unchecked Sendable {
    enum Call: Hashable { case open, write, fsync, ftruncate, flock, syncDirectory, makeDirectory }

    enum Fault {
        /// The call fails with this errno.
        case fail(Int32)
        /// A write that writes only this many bytes (then returns their count).
        case short(Int)
    }

    /// What a power loss does to the bytes written after the last fsync.
    enum PowerLoss {
        /// They are gone.
        case drop
        /// Half of them reached the disk (a torn sector).
        case half
        /// They reached the disk as garbage (seeded, so a failure can be replayed).
        case garble(UInt64)
    }

    private let lock = NSLock()
    private var planned: [Call: [(skip: Int, fault: Fault)]] = [:]
    private var paths: [Int32: String] = [:]
    private var durable: [String: Int] = [:]
    private var unnamed: Set<String> = []
    private var failedSync = false
    /// Every call made, by kind.
    private(set) var calls: [Call: Int] = [:]
    /// When true, fsync (of files and folders) reports success without making anything
    /// durable: a store that relies on it loses data at the next power loss, which the
    /// power-loss tests must notice.
    var ignoreFsync = false

    /// The next call of `call`, after `skip` successful ones, suffers `fault`.
    func inject(_ fault: Fault, on call: Call, after skip: Int = 0) {
        lock.withLock { planned[call, default: []].append((skip, fault)) }
    }

    private func fault(_ call: Call) -> Fault? {
        lock.withLock {
            calls[call, default: 0] += 1
            guard var queue = planned[call], !queue.isEmpty else { return nil }
            if queue[0].skip > 0 {
                queue[0].skip -= 1
                planned[call] = queue
                return nil
            }
            let fault = queue.removeFirst().fault
            planned[call] = queue
            return fault
        }
    }

    private func fail(_ code: Int32) -> Int32 {
        errno = code
        return -1
    }

    private static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        if case .fail(let code)? = fault(.open) { return fail(code) }
        let existed = FileManager.default.fileExists(atPath: path)
        let fd = Glibc.open(path, flags, mode)
        guard fd >= 0 else { return fd }
        lock.withLock {
            paths[fd] = path
            if durable[path] == nil { durable[path] = existed ? Self.size(path) : 0 }
            if !existed { unnamed.insert(path) }
        }
        return fd
    }

    func close(_ fd: Int32) {
        lock.withLock { _ = paths.removeValue(forKey: fd) }
        _ = Glibc.close(fd)
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: off_t) -> Int {
        switch fault(.write) {
        case .fail(let code)?: return Int(fail(code))
        case .short(let count)?: return Glibc.pwrite(fd, bytes.baseAddress, min(count, bytes.count), offset)
        case nil: return Glibc.pwrite(fd, bytes.baseAddress, bytes.count, offset)
        }
    }

    func fsync(_ fd: Int32) -> Int32 {
        if case .fail(let code)? = fault(.fsync) { return fail(code) }
        if ignoreFsync { return 0 }
        let result = Glibc.fsync(fd)
        if result == 0 {
            lock.withLock {
                if let path = paths[fd] { durable[path] = Self.size(path) }
            }
        }
        return result
    }

    func ftruncate(_ fd: Int32, _ length: off_t) -> Int32 {
        if case .fail(let code)? = fault(.ftruncate) { return fail(code) }
        let result = Glibc.ftruncate(fd, length)
        // Modelled as durable at once. The store cuts only what no acknowledgement depends
        // on (a failed append's partial line, a torn tail already copied aside); if such a
        // cut came back after a power loss, it would be a torn line again, set aside again.
        lock.withLock { if let path = paths[fd], let known = durable[path] { durable[path] = min(known, Int(length)) } }
        return result
    }

    func flock(_ fd: Int32, _ operation: Int32) -> Int32 {
        if case .fail(let code)? = fault(.flock) { return fail(code) }
        return SystemIO.shared.flock(fd, operation)
    }

    func makeDirectory(_ path: String, mode: mode_t) -> Int32 {
        if case .fail(let code)? = fault(.makeDirectory) { return fail(code) }
        let result = mkdir(path, mode)
        if result == 0 { lock.withLock { _ = unnamed.insert(URL(fileURLWithPath: path).standardizedFileURL.path) } }
        return result
    }

    func syncDirectory(_ path: String) -> Bool {
        if case .fail(let code)? = fault(.syncDirectory) {
            errno = code
            return false
        }
        if ignoreFsync { return true }
        guard SystemIO.shared.syncDirectory(path) else { return false }
        lock.withLock {
            let folder = URL(fileURLWithPath: path).standardizedFileURL.path
            unnamed = unnamed.filter { URL(fileURLWithPath: $0).deletingLastPathComponent().standardizedFileURL.path != folder }
        }
        return true
    }

    var syncFailed: Bool { lock.withLock { failedSync } }
    func markSyncFailed() { lock.withLock { failedSync = true } }

    /// The machine loses power now: files whose names never reached the disk disappear, and
    /// every file loses (or garbles) what was written after its last fsync. Open
    /// descriptors are left as they are; the test drops its store and opens it again with
    /// the system's IO, as a restarted machine would.
    func powerLoss(_ mode: PowerLoss) {
        lock.withLock {
            var generator = SplitMix64(state: { if case .garble(let seed) = mode { return seed }; return 1 }())
            // Names that never reached the disk: files, and folders with all they hold.
            for path in unnamed.sorted() where FileManager.default.fileExists(atPath: path) { try? FileManager.default.removeItem(atPath: path) }
            for path in durable.keys.sorted() where !unnamed.contains(path) && FileManager.default.fileExists(atPath: path) {
                let kept = durable[path]!
                let size = Self.size(path)
                guard size > kept else { continue }
                switch mode {
                case .drop:
                    _ = truncate(path, off_t(kept))
                case .half:
                    _ = truncate(path, off_t(kept + (size - kept) / 2))
                case .garble:
                    let fd = Glibc.open(path, O_WRONLY)
                    let junk = (0..<(size - kept)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    _ = junk.withUnsafeBytes { Glibc.pwrite(fd, $0.baseAddress, $0.count, off_t(kept)) }
                    _ = Glibc.close(fd)
                }
            }
            unnamed = []
        }
    }
}
