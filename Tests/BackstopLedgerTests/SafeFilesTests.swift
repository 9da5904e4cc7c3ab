import BackstopLedger
import BackstopTestSupport
import Foundation
import Glibc
import Testing

@Suite("Safe files: no symbolic link is followed, private files are 0600")
struct SafeFilesTests {
    func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? -1
    }

    @Test("a ledger.jsonl that is a symbolic link to a secret is refused; the secret is untouched and nothing is copied")
    func symlinkedLedger() throws {
        let (directory, _) = try makeLedger(3)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("secret")
        try Data("TOP SECRET, not a ledger\n".utf8).write(to: secret)
        _ = chmod(secret.path, 0o600)
        let ledger = directory.appendingPathComponent("ledger.jsonl")
        try FileManager.default.removeItem(at: ledger)
        try FileManager.default.createSymbolicLink(at: ledger, withDestinationURL: secret)
        let error = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(error?.reason.contains("is a symbolic link; refusing to follow it") == true, "\(String(describing: error))")
        #expect(try Data(contentsOf: secret) == Data("TOP SECRET, not a ledger\n".utf8))
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!names.contains { $0.contains("torn") }, "\(names)")
        // Creating over a dangling link is refused too.
        let fresh = try makeTemporaryDirectory("backstop-safe")
        defer { try? FileManager.default.removeItem(at: fresh) }
        try FileManager.default.createSymbolicLink(at: fresh.appendingPathComponent("ledger.jsonl"), withDestinationURL: fresh.appendingPathComponent("elsewhere"))
        #expect(throws: LedgerError.self) { try LedgerStore.create(at: fresh) }
        #expect(!FileManager.default.fileExists(atPath: fresh.appendingPathComponent("elsewhere").path))
    }

    @Test("a symbolic link as the lock file is refused (its target keeps its bytes); the lock file is 0600, even one made 0644 before")
    func lockFile() throws {
        let (directory, _) = try makeLedger(2)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lock = directory.appendingPathComponent("ledger.lock")
        #expect(try mode(lock) == 0o600)
        _ = chmod(lock.path, 0o644)
        _ = try LedgerStore.open(at: directory)
        #expect(try mode(lock) == 0o600)
        let target = directory.appendingPathComponent("target")
        try Data("keep me".utf8).write(to: target)
        try FileManager.default.removeItem(at: lock)
        try FileManager.default.createSymbolicLink(at: lock, withDestinationURL: target)
        let error = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(error?.reason.contains("the lock file") == true && error?.reason.contains("symbolic link") == true, "\(String(describing: error))")
        #expect(try Data(contentsOf: target) == Data("keep me".utf8))
    }

    @Test("the torn tail is set aside in a 0600 file")
    func tornCopyIsPrivate() throws {
        let (directory, _) = try makeLedger(3)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try ledgerLines(directory)
        try writeLines(Array(lines.prefix(2)), to: directory, tail: Array(lines[2].prefix(10)))
        let store = try LedgerStore.open(at: directory)
        let saved = try #require(store.recoveredTail?.savedTo)
        #expect(try mode(directory.appendingPathComponent(saved)) == 0o600)
    }

    @Test("a ledger.jsonl that is a FIFO, or a file of another user, is refused before anything is read or written")
    func notRegularOrNotOurs() throws {
        let directory = try makeTemporaryDirectory("backstop-safe")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = directory.appendingPathComponent("ledger.jsonl")
        #expect(mkfifo(ledger.path, 0o600) == 0)
        let fifo = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(fifo?.reason.contains("is not a regular file") == true, "\(String(describing: fifo))")
        try FileManager.default.removeItem(at: ledger)
        // Another user's file (only root can make one to test with).
        guard geteuid() == 0 else { return }
        let (other, _) = try makeLedger(2)
        defer { try? FileManager.default.removeItem(at: other) }
        #expect(chown(other.appendingPathComponent("ledger.jsonl").path, 65_534, 65_534) == 0)
        let foreign = #expect(throws: LedgerError.self) { try LedgerStore.open(at: other) }
        #expect(foreign?.reason.contains("is owned by uid 65534") == true, "\(String(describing: foreign))")
    }

    @Test("a ledger.jsonl that is a folder is refused with a clear error")
    func notARegularFile() throws {
        let directory = try makeTemporaryDirectory("backstop-safe")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("ledger.jsonl"), withIntermediateDirectories: false)
        let error = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(error?.reason.contains("ledger.jsonl") == true, "\(String(describing: error))")
    }
}
