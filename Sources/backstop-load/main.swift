// backstop-load: appends synthetic signed entries to a scratch ledger in any store, printing
// "ack SEQ HASH" after each append returns (after fsync, or PostgreSQL's commit), and at the
// end "appended N entries in S s: R/s; in the store's append T s: Q/s" (Q counts only the
// time inside append: one fsync or commit each, the entries made and signed beforehand).
// The storage conformance tests run several at once against one ledger, and the
// replication script kills PostgreSQL under them: every "ack" must then be found on the
// promoted standby.
//
// usage: backstop-load STORE COUNT [--batch N] [--reopen] [--race]
//        backstop-load verify STORE   checks the chain and every signature, prints
//                                     "intact: N entries, head HASH"
//   STORE     a folder or postgres://USER@HOST:PORT/DB (its table is made if missing)
//   --batch N append N entries per append (one fsync or commit), default 1
//   --reopen  open the store (taking its writer lock) for each append and close it after,
//             so that several processes interleave
//   --race    PostgreSQL only: no writer lock; on "head moved" read the head and retry
import BackstopCrypto
import BackstopLedger
import BackstopPostgres
import Foundation

func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
func fail(_ message: String, _ code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("backstop-load: \(message)\n".utf8))
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count == 2, arguments[0] == "verify" {
    do {
        let store: any LedgerStorage = PostgresStorage.Address.isURL(arguments[1])
            ? try PostgresStorage(url: arguments[1], forWriting: false)
            : try FolderReader(directory: URL(fileURLWithPath: arguments[1]))
        let scan = try LedgerScan.scan(storage: store, verifySignatures: true)
        store.close()
        say("intact: \(scan.entryCount) entries, head \(scan.head.map { Hex.encode($0.hash) } ?? "none")")
        exit(0)
    } catch {
        fail("NOT intact: \(error)")
    }
}
func flag(_ name: String, in arguments: inout [String]) -> Bool {
    guard let index = arguments.firstIndex(of: name) else { return false }
    arguments.remove(at: index)
    return true
}
func option(_ name: String, in arguments: inout [String]) -> Int? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    defer { arguments.removeSubrange(index...index + 1) }
    return Int(arguments[index + 1])
}
let reopen = flag("--reopen", in: &arguments), race = flag("--race", in: &arguments)
let batchSize = max(1, option("--batch", in: &arguments) ?? 1)
guard arguments.count == 2, let count = Int(arguments[1]), count >= 0 else {
    fail("usage: backstop-load STORE COUNT [--batch N] [--reopen] [--race]", 2)
}
let target = arguments[0]

func openStore(_ target: String, race: Bool) throws -> any LedgerStorage {
    if PostgresStorage.Address.isURL(target) {
        // A short query timeout: a writer whose primary died gives up in seconds.
        return try PostgresStorage(url: target, forWriting: true, createSchema: true, lockWaitSeconds: 120, exclusive: !race, queryTimeoutSeconds: 5)
    }
    let folder = URL(fileURLWithPath: target)
    var attempt = 0
    while true {
        let exists = FileManager.default.fileExists(atPath: folder.appendingPathComponent(LedgerStore.ledgerFileName).path)
        if !exists {
            // Another process may be creating it at the same moment: then open it.
            do { return try LedgerStore.create(at: folder) } catch let error as LedgerError where error.code == .alreadyExists || error.code == .locked {}
        }
        do {
            return try LedgerStore.open(at: folder, lockWaitSeconds: 120)
        } catch let error as LedgerError where error.code == .notFound && attempt < 6_000 {
            // The creator holds the lock and has not made the file yet: look again shortly.
            attempt += 1
            usleep(10_000)
        }
    }
}

let key = try PrivateKey(generatingOn: .p256)
let start = Timestamp(secondsSinceEpoch: 1_767_225_600)!

/// Entries that follow `head`, signed.
func entries(after head: StoredHead, count: Int, key: PrivateKey, start: Timestamp) throws -> [PreparedEntry] {
    var prev = head.hash ?? Entry.genesisPrev
    var result: [PreparedEntry] = []
    // Entry times never go back: one second per entry from a fixed start.
    for offset in 0..<count {
        let seq = head.count + Int64(offset)
        let body: JSONValue = ["domain": "backstop/v1/load", "n": .integer(seq), "pid": .integer(Int64(getpid()))]
        let signature = EntrySignature(publicKey: key.publicKey, signature: try key.signature(for: Canonical.encode(body)))
        let entry = try Entry(seq: seq, prev: prev, time: start.adding(seconds: seq) ?? start, kind: "load", body: body, signatures: [signature])
        let prepared = try PreparedEntry(checking: entry)
        result.append(prepared)
        prev = prepared.hash
    }
    return result
}

let began = Date()
var appended = 0
// Time spent in the store's append (the entries are made and signed outside it).
var storeNanoseconds: UInt64 = 0
var store: (any LedgerStorage)? = reopen ? nil : try openStore(target, race: race)
do {
    while appended < count {
        let current = try store ?? openStore(target, race: race)
        let n = min(batchSize, count - appended)
        let head = try current.storedHead()
        let batch = try entries(after: head, count: n, key: key, start: start)
        let before = DispatchTime.now().uptimeNanoseconds
        do {
            try current.append(batch, expecting: head)
            storeNanoseconds += DispatchTime.now().uptimeNanoseconds - before
        } catch let error as LedgerError where error.code == .headMoved && race {
            continue
        }
        for prepared in batch { say("ack \(prepared.entry.seq) \(Hex.encode(prepared.hash))") }
        appended += n
        if reopen { current.close() }
    }
} catch {
    fail("\(error)")
}
store?.close()
let seconds = Date().timeIntervalSince(began)
let storeSeconds = Double(storeNanoseconds) / 1e9
say("appended \(appended) entries in \(String(format: "%.3f", seconds)) s: \(String(format: "%.0f", Double(appended) / max(seconds, 1e-9)))/s; "
    + "in the store's append \(String(format: "%.3f", storeSeconds)) s: \(String(format: "%.0f", Double(appended) / max(storeSeconds, 1e-9)))/s")
