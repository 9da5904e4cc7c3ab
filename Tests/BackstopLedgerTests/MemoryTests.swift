import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The memory of a full scan does not grow with the ledger: each batch of decoded entries is
/// released before the next. Measured in a child process (`backstop-torture scan`), whose
/// peak resident memory no other test disturbs.
@Suite("Bounded memory")
struct MemoryTests {
    /// Writes a ledger of `count` signed entries, each with about 1 KiB of payload.
    func writeLedger(_ count: Int, key: PrivateKey, to file: URL) throws {
        var prev = Entry.genesisPrev
        var time = Timestamp("2026-01-01T00:00:00Z")!
        var text: [UInt8] = []
        for seq in 0..<count {
            let body: JSONValue = ["domain": "backstop/v1/memory", "n": .integer(Int64(seq)), "pad": .string(String(repeating: "m", count: 1_024))]
            let signature = EntrySignature(publicKey: key.publicKey, signature: try key.signature(for: Canonical.encode(body)))
            let entry = try Entry(seq: Int64(seq), prev: prev, time: time, kind: "memory", body: body, signatures: [signature])
            prev = try Entry.hash(line: entry.line)
            text += entry.line + [0x0A]
            time = time.adding(seconds: 1)!
        }
        try Data(text).write(to: file)
    }

    /// Scans `file` in a child process and returns its peak resident memory in KiB.
    func peakKiB(scanning file: URL, entries: Int) throws -> Int {
        let result = try runProcess(productsDirectory.appendingPathComponent("backstop-torture").path, ["scan", file.path])
        #expect(result.status == 0, "\(result.stderr)")
        let words = result.stdout.split(whereSeparator: \.isWhitespace)
        #expect(words.count == 4 && words[1] == "\(entries)", "\(result.stdout)")
        return words.count == 4 ? Int(words[3]) ?? .max : .max
    }

    @Test("peak memory of a scan is the same for 2,000 and 20,000 entries, and under 64 MiB")
    func scanMemoryIsFlat() throws {
        let directory = try makeTemporaryDirectory("backstop-memory")
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: .p256)
        let small = directory.appendingPathComponent("small.jsonl"), large = directory.appendingPathComponent("large.jsonl")
        try writeLedger(2_000, key: key, to: small)
        try writeLedger(20_000, key: key, to: large)
        let smallPeak = try peakKiB(scanning: small, entries: 2_000)
        let largePeak = try peakKiB(scanning: large, entries: 20_000)
        print("scan peak memory: 2,000 entries \(smallPeak) KiB, 20,000 entries \(largePeak) KiB")
        // Keeping every decoded entry would add at least the 18 MiB of extra payload.
        #expect(largePeak - smallPeak < 4 * 1_024, "grew by \(largePeak - smallPeak) KiB")
        #expect(largePeak < 64 * 1_024)
    }
}
