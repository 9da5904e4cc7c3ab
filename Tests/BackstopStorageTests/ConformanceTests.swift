import BackstopCrypto
import BackstopLedger
import BackstopPostgres
import BackstopTestSupport
import Foundation
import Testing

/// The kinds of store every conformance test runs on.
enum StoreKind: String, CustomTestStringConvertible, CaseIterable, Sendable {
    case file, memory, postgres

    var testDescription: String { rawValue }

    /// PostgreSQL runs where it is installed, and in CI (where a server that does not start
    /// fails the suite); elsewhere it is skipped with a note.
    static var tested: [StoreKind] {
        if !PostgresServer.testable { print("note: PostgreSQL is not installed; the conformance suite runs on the file and memory stores only") }
        return PostgresServer.testable ? allCases : [.file, .memory]
    }

    /// A new, empty ledger of this kind: a name that ``open(_:forWriting:wait:)`` opens.
    func makeLedger() throws -> String {
        switch self {
        case .file: return try makeTemporaryDirectory("conformance").appendingPathComponent("ledger").path
        case .memory: return "conformance-\(UUID().uuidString)"
        case .postgres: return try PostgresServer.shared().makeDatabase()
        }
    }

    /// Opens the ledger `name`, for writing (taking its writer lock) or to read.
    func open(_ name: String, forWriting: Bool = true, wait: Double = 0) throws -> any LedgerStorage {
        switch self {
        case .file:
            let folder = URL(fileURLWithPath: name)
            let exists = FileManager.default.fileExists(atPath: folder.appendingPathComponent(LedgerStore.ledgerFileName).path)
            if !forWriting { return try FolderReader(directory: folder) }
            return try exists ? LedgerStore.open(at: folder, lockWaitSeconds: wait) : LedgerStore.create(at: folder)
        case .memory:
            return try MemoryStorage(name: name, forWriting: forWriting, lockWaitSeconds: wait)
        case .postgres:
            return try PostgresStorage(url: name, forWriting: forWriting, createSchema: true, lockWaitSeconds: wait)
        }
    }
}

/// Signed synthetic entries that follow a head.
struct EntryMaker {
    let key: PrivateKey

    init() throws { key = try PrivateKey(generatingOn: .p256) }

    func entries(after head: StoredHead, count: Int, pad: Int = 0) throws -> [PreparedEntry] {
        var prev = head.hash ?? Entry.genesisPrev
        var result: [PreparedEntry] = []
        for offset in 0..<count {
            let seq = head.count + Int64(offset)
            let body: JSONValue = ["domain": "backstop/v1/conformance", "n": .integer(seq), "pad": .string(String(repeating: "p", count: pad))]
            let signature = EntrySignature(publicKey: key.publicKey, signature: try key.signature(for: Canonical.encode(body)))
            let entry = try Entry(seq: seq, prev: prev, time: Timestamp(secondsSinceEpoch: 1_767_225_600 + seq)!, kind: "conformance", body: body, signatures: [signature])
            let prepared = try PreparedEntry(checking: entry)
            result.append(prepared)
            prev = prepared.hash
        }
        return result
    }
}

/// Head after `entries` were appended to `head`.
func advanced(_ head: StoredHead, by entries: [PreparedEntry]) -> StoredHead {
    StoredHead(count: head.count + Int64(entries.count), hash: entries.last?.hash ?? head.hash)
}

@Suite("Every store: the same conformance suite")
struct ConformanceTests {
    @Test("append and read back the exact bytes, singly and in a batch; reopen sees the same; the chain verifies", arguments: StoreKind.tested)
    func appendAndReadBack(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        let maker = try EntryMaker()
        let store = try kind.open(name)
        #expect(try store.storedHead() == .empty)
        #expect(try store.lines(from: 0, count: 10).isEmpty)
        var head = StoredHead.empty
        var written: [PreparedEntry] = []
        for _ in 0..<3 {
            let one = try maker.entries(after: head, count: 1)
            try store.append(one, expecting: head)
            head = advanced(head, by: one)
            written += one
        }
        let batch = try maker.entries(after: head, count: 5)
        try store.append(batch, expecting: head)
        head = advanced(head, by: batch)
        written += batch
        #expect(try store.storedHead() == head)
        #expect(try store.lines(from: 0, count: 100) == written.map(\.line))
        #expect(try store.lines(from: 6, count: 1) == [written[6].line])
        #expect(try store.lines(from: 8, count: 5).isEmpty)
        #expect(try store.line(2) == written[2].line)
        #expect(throws: LedgerError.self) { try store.line(8) }
        store.close()

        // Another handle, as another process would open it: the same head, the same bytes.
        let again = try kind.open(name, forWriting: false)
        defer { again.close() }
        #expect(try again.storedHead() == head)
        #expect(try again.lines(from: 0, count: 100) == written.map(\.line))
        let scan = try LedgerScan.scan(storage: again, verifySignatures: true)
        #expect(scan.entryCount == 8 && scan.head?.hash == head.hash && scan.fundId == written[0].hash)
    }

    @Test("a stale expected head, a broken link and a batch broken half-way are refused whole; the head is unchanged", arguments: StoreKind.tested)
    func conditionalAppend(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        let maker = try EntryMaker()
        let store = try kind.open(name)
        defer { store.close() }
        let first = try maker.entries(after: .empty, count: 2)
        try store.append(first, expecting: .empty)
        let head = advanced(.empty, by: first)

        // The writer believes the ledger still has one entry: refused, nothing written.
        let stale = advanced(.empty, by: [first[0]])
        let fork = try maker.entries(after: stale, count: 1)
        let moved = #expect(throws: LedgerError.self) { try store.append(fork, expecting: stale) }
        #expect(moved?.code == .headMoved)
        // Expecting an empty ledger that is not.
        #expect((#expect(throws: LedgerError.self) { try store.append(first, expecting: .empty) })?.code == .headMoved)
        #expect(try store.storedHead() == head)

        // Entries that do not link to the head they name.
        let unlinked = try maker.entries(after: stale, count: 1)
        #expect((#expect(throws: LedgerError.self) { try store.append(unlinked, expecting: head) })?.code == .invalidEntry)
        // A batch whose third entry breaks the chain: none of it is stored.
        var broken = try maker.entries(after: head, count: 4)
        broken[2] = try maker.entries(after: stale, count: 1)[0]
        #expect((#expect(throws: LedgerError.self) { try store.append(broken, expecting: head) })?.code == .invalidEntry)
        #expect(try store.storedHead() == head)
        #expect(try store.lines(from: 0, count: 10) == first.map(\.line))

        // And the right head still works.
        let next = try maker.entries(after: head, count: 1)
        try store.append(next, expecting: head)
        #expect(try store.storedHead() == advanced(head, by: next))
    }

    @Test("one writer at a time: a second is refused while the first holds the lock, and gets it once the first closes", arguments: StoreKind.tested)
    func exclusiveWriter(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        let first = try kind.open(name)
        try first.append(try EntryMaker().entries(after: .empty, count: 1), expecting: .empty)
        let refused = #expect(throws: LedgerError.self) { _ = try kind.open(name) }
        #expect(refused?.code == .locked)
        first.close()
        let second = try kind.open(name)
        #expect(try second.storedHead().count == 1)
        second.close()
    }

    @Test("writers on four threads, each opening, appending and closing 15 times, never fork the chain", arguments: StoreKind.tested)
    func concurrentThreads(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        try kind.open(name).close()
        let threads = 4, rounds = 15
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: threads) { _ in
            do {
                let maker = try EntryMaker()
                for _ in 0..<rounds {
                    let store = try kind.open(name, wait: 60)
                    let head = try store.storedHead()
                    try store.append(try maker.entries(after: head, count: 1), expecting: head)
                    store.close()
                }
            } catch {
                failures.add("\(error)")
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        let reader = try kind.open(name, forWriting: false)
        defer { reader.close() }
        let scan = try LedgerScan.scan(storage: reader, verifySignatures: true)
        #expect(scan.entryCount == Int64(threads * rounds))
    }

    @Test("writers in three separate processes never fork the chain, and every acknowledged entry is stored", arguments: StoreKind.tested.filter { $0 != .memory })
    func concurrentProcesses(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        let acknowledged = try runWriters(3, [name, "20", "--reopen"])
        #expect(acknowledged.count == 60)
        let reader = try kind.open(name, forWriting: false)
        defer { reader.close() }
        let scan = try LedgerScan.scan(storage: reader, verifySignatures: true) { entry, hash in
            #expect(acknowledged[entry.seq] == Hex.encode(hash))
        }
        #expect(scan.entryCount == 60)
    }

    @Test("a large batch (5,000 entries, one append) is stored whole and reads back in order", arguments: StoreKind.tested)
    func largeBatch(kind: StoreKind) throws {
        let name = try kind.makeLedger()
        let store = try kind.open(name)
        let entries = try EntryMaker().entries(after: .empty, count: 5_000, pad: 100)
        try store.append(entries, expecting: .empty)
        store.close()
        let reader = try kind.open(name, forWriting: false)
        defer { reader.close() }
        #expect(try reader.storedHead() == advanced(.empty, by: entries))
        #expect(try reader.lines(from: 4_990, count: 100) == entries[4_990...].map(\.line))
        #expect(try LedgerScan.scan(storage: reader, verifySignatures: false).entryCount == 5_000)
    }
}

/// Runs `count` backstop-load processes at once with `arguments`, expects each to succeed,
/// and returns the entries they acknowledged (sequence number: hash), expecting none twice.
func runWriters(_ count: Int, _ arguments: [String]) throws -> [Int64: String] {
    let load = productsDirectory.appendingPathComponent("backstop-load").path
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: count) { _ in results.add(Result { try runProcess(load, arguments) }) }
    var acknowledged: [Int64: String] = [:]
    for result in results.all {
        let process = try result.get()
        #expect(process.status == 0, "\(process.stderr)")
        for line in process.stdout.split(separator: "\n") where line.hasPrefix("ack ") {
            let parts = line.split(separator: " ")
            guard parts.count == 3, let seq = Int64(parts[1]) else { Issue.record("unreadable line \(line)"); continue }
            #expect(acknowledged.updateValue(String(parts[2]), forKey: seq) == nil, "entry \(seq) acknowledged twice: a fork")
        }
    }
    return acknowledged
}

/// Errors collected from several threads.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ item: String) { lock.withLock { items.append(item) } }
    var all: [String] { lock.withLock { items } }
}

/// Results collected from several threads.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Result<ProcessResult, any Error>] = []
    func add(_ item: Result<ProcessResult, any Error>) { lock.withLock { items.append(item) } }
    var all: [Result<ProcessResult, any Error>] { lock.withLock { items } }
}
