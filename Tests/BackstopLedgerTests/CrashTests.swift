import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Crash safety")
struct CrashTests {
    /// Starts the torture writer, lets it acknowledge a random number of appends, kills it
    /// with SIGKILL (no cleanup of any kind), and repeats. Every acknowledged entry must be
    /// there afterwards, and the chain must verify.
    ///
    /// A killed process leaves its writes in the kernel's page cache, so this tests the
    /// recovery of a torn last line, not durability: it would pass without any fsync.
    /// Durability is tested by the power-loss tests of FaultTests, which fail without it.
    @Test("SIGKILL in the middle of appends: a torn last line is set aside, every acknowledged entry is read back")
    func killDuringAppends() throws {
        let directory = try makeTemporaryDirectory("backstop-crash")
        defer { try? FileManager.default.removeItem(at: directory) }
        let torture = productsDirectory.appendingPathComponent("backstop-torture")
        let runs = 30
        var acknowledged = Set<Int64>()
        var recoveries = 0
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<runs {
            let process = Process()
            process.executableURL = torture
            // Entries of up to 32 KiB, so that a kill can land inside a write as well as in fsync.
            process.arguments = [directory.path, "100000", "32768"]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let killAfter = Int.random(in: 1...25, using: &generator)
            var buffer = Data()
            var acks = 0
            while acks < killAfter {
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                acks = String(decoding: buffer, as: UTF8.self).components(separatedBy: "ack ").count - 1
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            buffer.append(output.fileHandleForReading.readDataToEndOfFile())
            for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") {
                if line.hasPrefix("ack "), let seq = Int64(line.dropFirst(4)) { acknowledged.insert(seq) }
                if line.hasPrefix("recovered ") { recoveries += 1 }
            }
        }
        // The writer's own open recovered the tails during the runs; one more open recovers
        // the last run's, then the whole chain is verified with its signatures.
        if try LedgerStore.open(at: directory).recoveredTail != nil { recoveries += 1 }
        var present = Set<Int64>()
        let result = try LedgerScan.scan(file: directory.appendingPathComponent("ledger.jsonl"), verifySignatures: true) { entry, _ in
            present.insert(entry.seq)
        }
        let lost = acknowledged.subtracting(present)
        print("kill test: \(runs) runs, \(acknowledged.count) acknowledged entries, \(result.entryCount) entries on disk, \(recoveries) torn tails set aside, \(lost.count) acknowledged entries lost")
        #expect(lost.isEmpty, "acknowledged but missing: \(lost.sorted())")
        #expect(acknowledged.count >= runs)
        #expect(result.entryCount >= Int64(acknowledged.count))
    }
}
