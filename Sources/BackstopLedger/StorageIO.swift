import Synchronization

import Glibc

/// The file operations a ``LedgerStore`` makes to change its files: the system's
/// (``SystemIO``), or, in tests, a stand-in that fails calls, writes short and simulates
/// power loss (`FaultyIO` in the ledger tests). The Merkle tiles and the state snapshot
/// are caches checked against the ledger when read, and are written outside it.
///
/// Each call has the system call's contract: a result below zero (or `false`) means
/// failure, with the reason in `errno`. Reading the ledger is not part of it.
public protocol StorageIO: AnyObject, Sendable {
    /// `open(2)`.
    func open(_ path: String, flags: Int32, mode: mode_t) -> Int32
    /// `close(2)`.
    func close(_ fd: Int32)
    /// `pwrite(2)`: how many bytes were written, or -1.
    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: off_t) -> Int
    /// `fsync(2)`.
    func fsync(_ fd: Int32) -> Int32
    /// `ftruncate(2)`.
    func ftruncate(_ fd: Int32, _ length: off_t) -> Int32
    /// `flock(2)`.
    func flock(_ fd: Int32, _ operation: Int32) -> Int32
    /// `mkdir(2)`: one folder, whose parent exists.
    func makeDirectory(_ path: String, mode: mode_t) -> Int32
    /// fsync of the folder at `path`, so that names created in it survive a crash.
    func syncDirectory(_ path: String) -> Bool
    /// True once an fsync through this object failed: after that the kernel's view of a
    /// file is unknown (dirty pages may have been dropped and marked clean, so a retry
    /// could report success for lost data), and stores using it refuse to write.
    var syncFailed: Bool { get }
    /// Records that an fsync failed.
    func markSyncFailed()
}

/// The system's file operations. ``shared`` is what every store uses unless told
/// otherwise; its ``syncFailed`` covers the whole process.
public final class SystemIO: StorageIO {
    /// The process's file operations.
    public static let shared = SystemIO()

    private let failed = Atomic<Bool>(false)

    /// A separate instance, with its own ``syncFailed``: for tests in this package only, so
    /// that no library user loses the process-wide refusal after a failed fsync.
    package init() {}

    /// `open(2)`.
    public func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
    /// `close(2)`.
    public func close(_ fd: Int32) { _ = Glibc.close(fd) }
    /// `pwrite(2)`.
    public func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: off_t) -> Int {
        Glibc.pwrite(fd, bytes.baseAddress, bytes.count, offset)
    }
    /// `fsync(2)`.
    public func fsync(_ fd: Int32) -> Int32 { Glibc.fsync(fd) }
    /// `ftruncate(2)`.
    public func ftruncate(_ fd: Int32, _ length: off_t) -> Int32 { Glibc.ftruncate(fd, length) }
    /// `flock(2)`.
    public func flock(_ fd: Int32, _ operation: Int32) -> Int32 { systemFlock(fd, operation) }
    /// `mkdir(2)`.
    public func makeDirectory(_ path: String, mode: mode_t) -> Int32 { mkdir(path, mode) }
    /// Opens the folder and fsyncs it.
    public func syncDirectory(_ path: String) -> Bool {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        return Glibc.fsync(fd) == 0
    }
    /// True once an fsync through this object failed.
    public var syncFailed: Bool { failed.load(ordering: .acquiring) }
    /// Records that an fsync failed.
    public func markSyncFailed() { failed.store(true, ordering: .releasing) }
}

/// `flock(2)`, named apart from the struct of the same name and from the method above.
private func systemFlock(_ fd: Int32, _ operation: Int32) -> Int32 { flock(fd, operation) }
