import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Glibc
import Testing

/// The ledger store under injected faults (``FaultyIO``): for each class, what it reports,
/// that no acknowledged entry is lost, and that nothing after damage is trusted.
@Suite("Storage faults: failed calls, short writes, power loss")
struct FaultTests {
    static let start: Int64 = 1_767_225_600

    /// Appends entry `n` and returns its hash once the store acknowledged it.
    @discardableResult
    func append(_ store: LedgerStore, _ n: Int) throws -> [UInt8] {
        try store.append(kind: "test", time: Timestamp(secondsSinceEpoch: Self.start + Int64(n))!, body: ["n": .integer(Int64(n)), "pad": .string(String(repeating: "x", count: 100))], signatures: []).hash
    }

    /// What a restarted machine finds: the hashes of the entries it can read in order, and
    /// the error that stopped it, if any. Opening for writing first (with the system's
    /// IO), as the next writer would, sets an incomplete last line aside.
    func restart(_ directory: URL) -> (hashes: [[UInt8]], error: LedgerError?, recovered: Bool) {
        var recovered = false
        if let store = try? LedgerStore.open(at: directory, io: SystemIO()) {
            recovered = store.recoveredTail != nil
            store.close()
        }
        var hashes: [[UInt8]] = []
        do {
            _ = try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true) { _, hash in hashes.append(hash) }
            return (hashes, nil, recovered)
        } catch let error as LedgerError {
            return (hashes, error, recovered)
        } catch {
            return (hashes, LedgerError(.io, "\(error)"), recovered)
        }
    }

    /// Every acknowledged entry is there, in order, and anything after the damage is not
    /// taken for an entry: the scan stops with the seq of the first unreadable line.
    func expectKept(_ acknowledged: [[UInt8]], in directory: URL, _ what: String) {
        let found = restart(directory)
        #expect(Array(found.hashes.prefix(acknowledged.count)) == acknowledged, "\(what): acknowledged entries lost")
        if let error = found.error {
            #expect((error.seq ?? -1) >= Int64(acknowledged.count) && error.seq == Int64(found.hashes.count), "\(what): \(error)")
        }
    }

    func fresh(_ io: FaultyIO) throws -> (URL, LedgerStore) {
        let directory = try makeTemporaryDirectory("backstop-fault").appendingPathComponent("ledger")
        return (directory, try LedgerStore.create(at: directory, io: io))
    }

    @Test("a write that fails with EIO or ENOSPC: the append reports io, the file is as it was, and the next append works", arguments: [EIO, ENOSPC])
    func failedWrite(code: Int32) throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        var acknowledged = try (0..<3).map { try append(store, $0) }
        let before = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        io.inject(.fail(code), on: .write)
        let error = #expect(throws: LedgerError.self) { try append(store, 3) }
        #expect(error?.code == .io && error?.reason.contains("the ledger is unchanged") == true && error?.reason.contains(String(cString: strerror(code))) == true)
        #expect(try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl")) == before)
        acknowledged.append(try append(store, 3))
        store.close()
        expectKept(acknowledged, in: directory, "after a failed write")
        #expect(restart(directory).hashes.count == 4)
    }

    @Test("EINTR and short writes are retried until the whole line is written")
    func interruptedAndShort() throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        var acknowledged = [try append(store, 0)]
        io.inject(.fail(EINTR), on: .write)
        io.inject(.short(7), on: .write)
        io.inject(.short(1), on: .write)
        acknowledged.append(try append(store, 1))
        #expect((io.calls[.write] ?? 0) >= 5)
        acknowledged.append(try append(store, 2))
        store.close()
        let found = restart(directory)
        #expect(found.hashes == acknowledged && found.error == nil && !found.recovered)
    }

    @Test("a write that fails after part of the line reached the file: the part is cut off again")
    func partialThenFailed() throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let acknowledged = try (0..<2).map { try append(store, $0) }
        let before = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        io.inject(.short(10), on: .write)
        io.inject(.fail(EIO), on: .write)
        #expect((#expect(throws: LedgerError.self) { try append(store, 2) })?.code == .io)
        #expect(try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl")) == before)
        store.close()
        let found = restart(directory)
        #expect(found.hashes == acknowledged && !found.recovered)
    }

    @Test("the cut fails too: syncFailed, no more writes through this IO; a restarted writer sets the partial line aside")
    func partialThenCutFails() throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let acknowledged = try (0..<2).map { try append(store, $0) }
        io.inject(.short(10), on: .write)
        io.inject(.fail(EIO), on: .write)
        io.inject(.fail(EIO), on: .ftruncate)
        #expect((#expect(throws: LedgerError.self) { try append(store, 2) })?.code == .syncFailed)
        #expect((#expect(throws: LedgerError.self) { try append(store, 2) })?.code == .syncFailed)
        store.close()
        #expect((#expect(throws: LedgerError.self) { try LedgerStore.open(at: directory, io: io) })?.code == .syncFailed)
        let found = restart(directory)
        #expect(found.hashes == acknowledged && found.recovered && found.error == nil)
    }

    @Test("fsync fails: syncFailed, the entry is not acknowledged and nothing more is written; on restart every acknowledged entry is there")
    func failedFsync() throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let acknowledged = try (0..<3).map { try append(store, $0) }
        io.inject(.fail(EIO), on: .fsync)
        let error = #expect(throws: LedgerError.self) { try append(store, 3) }
        #expect(error?.code == .syncFailed && error?.reason.contains("will not write again") == true)
        #expect(io.syncFailed)
        #expect((#expect(throws: LedgerError.self) { try append(store, 4) })?.code == .syncFailed)
        store.close()
        io.powerLoss(.drop)
        expectKept(acknowledged, in: directory, "after a failed fsync and a power loss")
    }

    @Test("open, lock and folder-sync failures are reported (io, syncFailed) and leave no ledger half made")
    func setupFailures() throws {
        let base = try makeTemporaryDirectory("backstop-fault")
        defer { try? FileManager.default.removeItem(at: base) }
        let cannotOpen = FaultyIO()
        cannotOpen.inject(.fail(EACCES), on: .open, after: 1)   // the lock file opens; the ledger does not
        let opened = #expect(throws: LedgerError.self) { try LedgerStore.create(at: base.appendingPathComponent("a"), io: cannotOpen) }
        #expect(opened?.code == .io && opened?.reason.contains(String(cString: strerror(EACCES))) == true)
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("a/ledger.jsonl").path))

        let cannotLock = FaultyIO()
        cannotLock.inject(.fail(EIO), on: .flock)
        let locked = #expect(throws: LedgerError.self) { try LedgerStore.create(at: base.appendingPathComponent("b"), io: cannotLock) }
        #expect(locked?.code == .io && locked?.reason.contains("cannot lock") == true)

        let cannotSync = FaultyIO()
        cannotSync.inject(.fail(EIO), on: .syncDirectory, after: 1)   // the parent syncs; the new folder does not
        #expect((#expect(throws: LedgerError.self) { try LedgerStore.create(at: base.appendingPathComponent("c"), io: cannotSync) })?.code == .syncFailed)
        #expect(cannotSync.syncFailed)
    }

    @Test("EINTR on open, lock and the cut after a failed write is retried; a folder that cannot be made or synced is reported")
    func interruptedCallsAndFolders() throws {
        let io = FaultyIO()
        io.inject(.fail(EINTR), on: .open)
        io.inject(.fail(EINTR), on: .flock)
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let acknowledged = [try append(store, 0)]
        let before = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        io.inject(.short(5), on: .write)
        io.inject(.fail(EIO), on: .write)
        io.inject(.fail(EINTR), on: .ftruncate)
        #expect((#expect(throws: LedgerError.self) { try append(store, 1) })?.code == .io)
        let after = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        #expect(!io.syncFailed && after == before)
        store.close()
        #expect(restart(directory).hashes == acknowledged)

        let base = try makeTemporaryDirectory("backstop-fault")
        defer { try? FileManager.default.removeItem(at: base) }
        let cannotMake = FaultyIO()
        cannotMake.inject(.fail(EACCES), on: .makeDirectory)
        let made = #expect(throws: LedgerError.self) { try LedgerStore.create(at: base.appendingPathComponent("a"), io: cannotMake) }
        #expect(made?.code == .io && made?.reason.contains("cannot create folder") == true)
        let cannotSyncParent = FaultyIO()
        cannotSyncParent.inject(.fail(EIO), on: .syncDirectory)
        let parent = #expect(throws: LedgerError.self) { try LedgerStore.create(at: base.appendingPathComponent("b"), io: cannotSyncParent) }
        #expect(parent?.code == .io && parent?.reason.contains("cannot fsync the parent") == true)

        // Folders made three levels deep: each reaches the disk, or, when the syncs are
        // skipped, a power loss takes the new folders with the ledger.
        let deep = FaultyIO()
        let nested = base.appendingPathComponent("x/y/z")
        let kept = try LedgerStore.create(at: nested, io: deep)
        try append(kept, 0)
        kept.close()
        deep.powerLoss(.drop)
        #expect(restart(nested).hashes.count == 1)
        let careless = FaultyIO()
        careless.ignoreFsync = true
        let lost = try LedgerStore.create(at: base.appendingPathComponent("p/q"), io: careless)
        try append(lost, 0)
        lost.close()
        careless.powerLoss(.drop)
        #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("p").path))
    }

    @Test("a power loss in the middle of an append keeps every acknowledged entry, whether the rest is dropped, half written or garbage",
          arguments: [FaultyIO.PowerLoss.drop, .half, .garble(1), .garble(2), .garble(3)])
    func powerLoss(mode: FaultyIO.PowerLoss) throws {
        for acknowledgedCount in [1, 2, 5] {
            let io = FaultyIO()
            let (directory, store) = try fresh(io)
            defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
            let acknowledged = try (0..<acknowledgedCount).map { try append(store, $0) }
            // The next append's line is written; the power goes before its fsync returns.
            io.inject(.fail(EIO), on: .fsync)
            _ = try? append(store, acknowledgedCount)
            io.powerLoss(mode)
            store.close()
            expectKept(acknowledged, in: directory, "\(mode) after \(acknowledgedCount)")
        }
    }

    @Test("the power-loss test can fail: with fsync doing nothing, acknowledged entries and even the new ledger are lost")
    func withoutFsyncDataIsLost() throws {
        let io = FaultyIO()
        let (directory, store) = try fresh(io)
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent()) }
        let durable = try (0..<2).map { try append(store, $0) }
        io.ignoreFsync = true
        let lost = try (2..<5).map { try append(store, $0) }
        io.powerLoss(.drop)
        store.close()
        let found = restart(directory)
        #expect(found.hashes == durable && found.hashes != durable + lost, "the harness must see acknowledged entries vanish when fsync is skipped")

        let careless = FaultyIO()
        careless.ignoreFsync = true
        let (other, otherStore) = try fresh(careless)
        defer { try? FileManager.default.removeItem(at: other.deletingLastPathComponent()) }
        try append(otherStore, 0)
        careless.powerLoss(.drop)
        otherStore.close()
        #expect(!FileManager.default.fileExists(atPath: other.appendingPathComponent("ledger.jsonl").path))
    }
}
