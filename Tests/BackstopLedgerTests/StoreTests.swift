import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// A ledger of `count` signed entries in a new temporary folder.
func makeLedger(_ count: Int, signers: Int = 2) throws -> (URL, [PrivateKey]) {
    let directory = try makeTemporaryDirectory("backstop-ledger")
    let store = try LedgerStore.create(at: directory)
    let keys = try (0..<signers).map { index in try PrivateKey(generatingOn: index % 2 == 0 ? .p256 : .secp256k1) }
    for index in 0..<count {
        let body: JSONValue = ["domain": "backstop/v1/test", "n": .integer(Int64(index)), "note": .string("entry \(index)")]
        let message = Canonical.encode(body)
        let signatures = try keys.map { EntrySignature(publicKey: $0.publicKey, signature: try $0.signature(for: message)) }
        try store.append(kind: "test", time: Timestamp(secondsSinceEpoch: 1_767_225_600 + Int64(index) * 10)!, body: body, signatures: signatures)
    }
    return (directory, keys)
}

func ledgerLines(_ directory: URL) throws -> [[UInt8]] {
    let bytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent("ledger.jsonl")))
    return bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
}

func writeLines(_ lines: [[UInt8]], to directory: URL, tail: [UInt8] = []) throws {
    let bytes: [UInt8] = lines.flatMap { $0 + [0x0A] } + tail
    try Data(bytes).write(to: directory.appendingPathComponent("ledger.jsonl"))
}

/// The sequence number the full verification blames, or nil when the ledger verifies.
func failingSeq(_ directory: URL) -> Int64? {
    do {
        _ = try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true)
        return nil
    } catch let error as LedgerError {
        return error.seq ?? -1
    } catch {
        return -2
    }
}

@Suite("The append-only ledger store")
struct StoreTests {
    @Test("appended entries read back, linked, with the fund id of entry 0")
    func appendAndRead() throws {
        let (directory, _) = try makeLedger(5)
        defer { try? FileManager.default.removeItem(at: directory) }
        var seen: [Int64] = []
        let result = try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true) { entry, _ in
            seen.append(entry.seq)
        }
        #expect(seen == [0, 1, 2, 3, 4])
        #expect(result.entryCount == 5)
        let lines = try ledgerLines(directory)
        #expect(result.fundId == (try Entry.hash(line: lines[0])))
        #expect(result.head?.hash == (try Entry.hash(line: lines[4])))
        // Reopening for writing finds the same head and goes on from it.
        let store = try LedgerStore.open(at: directory)
        #expect(store.head == result.head && store.fundId == result.fundId && store.recoveredTail == nil)
        let (entry, _) = try store.append(kind: "test", time: result.head!.time, body: ["n": 5], signatures: [])
        #expect(entry.seq == 5 && entry.prev == result.head!.hash)
    }

    @Test("the entry hash is SHA-256 of 0x00 followed by the line, as openssl computes it")
    func entryHash() throws {
        let line = Array(#"{"body":{},"kind":"x","prev":"00","seq":0,"signatures":[],"time":"2026-01-01T00:00:00Z"}"#.utf8)
        let digest = try openssl("dgst", "-sha256", "-r", input: [0] + line)
        #expect(digest.stdout.hasPrefix(Hex.encode(try Entry.hash(line: line))))
    }

    @Test("a second writer is refused with the holder's pid; the lock is released on close")
    func locking() throws {
        let (directory, _) = try makeLedger(1)
        defer { try? FileManager.default.removeItem(at: directory) }
        var first: LedgerStore? = try LedgerStore.open(at: directory)
        let error = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(error?.code == .locked)
        #expect(error?.reason.contains("ledger is locked by pid \(getpid())") == true)
        #expect(first?.head?.seq == 0)
        first = nil
        #expect(try LedgerStore.open(at: directory).head?.seq == 0)
    }

    @Test("create refuses a folder that already has a ledger; open refuses one that has none")
    func createAndOpenErrors() throws {
        let (directory, _) = try makeLedger(1)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect((#expect(throws: LedgerError.self) { try LedgerStore.create(at: directory) })?.code == .alreadyExists)
        let empty = try makeTemporaryDirectory()
        #expect((#expect(throws: LedgerError.self) { try LedgerStore.open(at: empty) })?.code == .notFound)
    }

    @Test("append refuses bad entries and leaves the file unchanged")
    func appendRefusals() throws {
        let (directory, keys) = try makeLedger(2)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        let store = try LedgerStore.open(at: directory)
        let time = store.head!.time
        let body: JSONValue = ["n": 1]
        let good = EntrySignature(publicKey: keys[0].publicKey, signature: try keys[0].signature(for: Canonical.encode(body)))
        let wrong = EntrySignature(publicKey: keys[1].publicKey, signature: try keys[1].signature(for: [1, 2, 3]))
        let cases: [(String, () throws -> Void, String)] = [
            ("earlier time", { try store.append(kind: "test", time: time.adding(seconds: -1)!, body: body, signatures: []) }, "earlier"),
            ("bad kind", { try store.append(kind: "Bad Kind", time: time, body: body, signatures: []) }, "kind"),
            ("body not object", { try store.append(kind: "test", time: time, body: [1], signatures: []) }, "object"),
            ("same key twice", { try store.append(kind: "test", time: time, body: body, signatures: [good, good]) }, "twice"),
            ("signature over other bytes", { try store.append(kind: "test", time: time, body: body, signatures: [good, wrong]) }, "does not verify"),
            ("oversized", { try store.append(kind: "test", time: time, body: ["pad": .string(String(repeating: "x", count: 1 << 20))], signatures: []) }, "limit"),
        ]
        for (name, action, reason) in cases {
            let error = #expect(throws: LedgerError.self, "\(name)") { try action() }
            #expect(error?.code == .invalidEntry, "\(name)")
            #expect(error?.reason.contains(reason) == true, "\(name): \(error?.reason ?? "")")
        }
        #expect(try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl")) == before)
        #expect(store.head?.seq == 1)
    }

    @Test("an incomplete last line is moved aside and reported; complete entries stay")
    func tornTail() throws {
        let (directory, _) = try makeLedger(4)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try ledgerLines(directory)
        // A crash in the middle of appending entry 3: its first half reached the file.
        let torn = Array(lines[3].prefix(lines[3].count / 2))
        try writeLines(Array(lines.prefix(3)), to: directory, tail: torn)
        // A reader reports the tail and does not modify the file.
        let scan = try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true)
        #expect(scan.entryCount == 3 && scan.tornTail?.byteCount == torn.count)
        // A writer sets it aside.
        var store: LedgerStore? = try LedgerStore.open(at: directory)
        let recovered = try #require(store?.recoveredTail)
        #expect(recovered.byteCount == torn.count && store?.head?.seq == 2)
        store = nil
        let saved = try [UInt8](Data(contentsOf: directory.appendingPathComponent(try #require(recovered.savedTo))))
        #expect(saved == torn)
        #expect(try ledgerLines(directory) == Array(lines.prefix(3)))
        // A complete entry without its newline was never acknowledged either: it is set aside
        // as a whole, kept in the copy, never silently dropped.
        try writeLines(Array(lines.prefix(3)), to: directory, tail: lines[3])
        let again = try LedgerStore.open(at: directory)
        #expect(again.recoveredTail?.byteCount == lines[3].count && again.head?.seq == 2)
    }

    @Test("a bad line that is not the last is corruption: reported with its seq, file untouched")
    func corruptionIsNotRecovered() throws {
        let (directory, _) = try makeLedger(4)
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines = try ledgerLines(directory)
        lines[1] = Array(lines[1].prefix(20))
        try writeLines(lines, to: directory)
        let before = try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl"))
        let error = #expect(throws: LedgerError.self) { try LedgerStore.open(at: directory) }
        #expect(error?.code == .corrupt && error?.seq == 1)
        #expect(try Data(contentsOf: directory.appendingPathComponent("ledger.jsonl")) == before)
    }

    @Test("every single-byte change in any line but the last is reported at that line's seq")
    func everyByteFlip() throws {
        let (directory, _) = try makeLedger(4)
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try ledgerLines(directory)
        #expect(failingSeq(directory) == nil)
        var checked = 0
        for (seq, line) in original.enumerated().dropLast() {
            for position in line.indices {
                for change: UInt8 in [0x01, 0x20] {
                    var lines = original
                    lines[seq][position] ^= change
                    try writeLines(lines, to: directory)
                    let blamed = failingSeq(directory)
                    #expect(blamed == Int64(seq), "byte \(position) of entry \(seq) ^ \(change): blamed \(String(describing: blamed))")
                    checked += 1
                }
            }
            // A flipped newline joins this line with the next one.
            var bytes: [UInt8] = original.flatMap { $0 + [0x0A] }
            let newline = original.prefix(seq + 1).reduce(0) { $0 + $1.count + 1 } - 1
            bytes[newline] = 0x20
            try Data(bytes).write(to: directory.appendingPathComponent("ledger.jsonl"))
            #expect(failingSeq(directory) == Int64(seq))
        }
        print("byte-flip test: \(checked) single-byte changes, each reported at its entry")
    }

    @Test("a removed, repeated or reordered line is reported at the right seq")
    func removedAndReordered() throws {
        let (directory, _) = try makeLedger(5)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lines = try ledgerLines(directory)
        for missing in 0..<5 {
            var edited = lines
            edited.remove(at: missing)
            try writeLines(edited, to: directory)
            // Removing the last entry leaves a shorter ledger that still verifies; only a
            // checkpoint (a later issue) can tell that it was ever there.
            #expect(failingSeq(directory) == (missing == 4 ? nil : Int64(missing)), "removed \(missing)")
        }
        for first in 0..<4 {
            var edited = lines
            edited.swapAt(first, first + 1)
            try writeLines(edited, to: directory)
            #expect(failingSeq(directory) == Int64(first), "swapped \(first)")
        }
        var repeated = lines
        repeated.insert(lines[2], at: 3)
        try writeLines(repeated, to: directory)
        #expect(failingSeq(directory) == 3)
    }

    @Test("a stored key in another encoding of the same key (compressed point) is refused")
    func nonCanonicalKey() throws {
        let (directory, keys) = try makeLedger(2)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("k.pem").path
        try keys[0].pemRepresentation().write(toFile: keyPath, atomically: true, encoding: .utf8)
        let compressedPath = directory.appendingPathComponent("c.der").path
        #expect(try openssl("ec", "-in", keyPath, "-pubout", "-outform", "DER", "-conv_form", "compressed", "-out", compressedPath).status == 0)
        let compressedDER = try [UInt8](Data(contentsOf: URL(fileURLWithPath: compressedPath)))
        #expect(compressedDER.count == 59)
        var lines = try ledgerLines(directory)
        let text = String(decoding: lines[0], as: UTF8.self)
        let canonicalHex = Hex.encode(keys[0].publicKey.derRepresentation)
        #expect(text.contains(canonicalHex))
        lines[0] = Array(text.replacingOccurrences(of: canonicalHex, with: Hex.encode(compressedDER)).utf8)
        try writeLines(lines, to: directory)
        let error = #expect(throws: LedgerError.self) {
            try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true)
        }
        #expect(error?.seq == 0 && error?.reason.contains("canonical form") == true, "\(error?.description ?? "")")
    }
}
