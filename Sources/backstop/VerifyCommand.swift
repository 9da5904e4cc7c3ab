import ArgumentParser
import BackstopCrypto
import BackstopLedger
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a whole ledger from its file alone: canonical form, sequence, links, times, every signature.",
        discussion: """
            Example: backstop verify --ledger fund/ --fund-id 3f6a...
            Exit 0 intact, 1 not intact (the first failing entry and why), 2 unusable input. \
            An incomplete last line (a crash during an append) is reported and is not part of the ledger.
            """
    )

    @Option(help: "The ledger folder.")
    var ledger: String

    @Option(help: "The fund id (hash of entry 0) you expect, in hex.")
    var fundId: String?

    @Flag(help: "Print a JSON summary: ok, entries, head, fundId, error {seq, reason}.")
    var json = false

    func run() throws {
        let file = URL(fileURLWithPath: ledger).appendingPathComponent(LedgerStore.ledgerFileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CLIError.badInput("no ledger in \(ledger) (\(LedgerStore.ledgerFileName) is missing)")
        }
        if let fundId, Hex.decode(fundId)?.count != 32 {
            throw CLIError.badInput("--fund-id must be 64 lowercase hex digits")
        }
        let started = Date()
        var result: LedgerScanResult? = nil
        var failure: LedgerError? = nil
        do {
            result = try LedgerScan.scan(file: file, verifySignatures: true)
        } catch let error as LedgerError where error.code == .corrupt {
            failure = error
        }
        if failure == nil, let fundId, let actual = result?.fundId, Hex.encode(actual) != fundId {
            failure = LedgerError(.corrupt, seq: 0, "fund id is \(Hex.encode(actual)), expected \(fundId)")
        }
        let elapsedSeconds = Date().timeIntervalSince(started)
        if json {
            var summary: [String: JSONValue] = ["ok": .bool(failure == nil)]
            if let result {
                summary["entries"] = .integer(result.entryCount)
                summary["head"] = result.head.map { .string(Hex.encode($0.hash)) } ?? .null
                summary["fundId"] = result.fundId.map { .string(Hex.encode($0)) } ?? .null
                summary["tornTailBytes"] = .integer(Int64(result.tornTail?.byteCount ?? 0))
            }
            if let failure {
                summary["error"] = ["seq": failure.seq.map { .integer($0) } ?? .null, "reason": .string(failure.reason)]
            }
            print(String(decoding: Canonical.encode(.object(summary)), as: UTF8.self))
        } else if let result {
            print("intact: \(result.entryCount) entries, head \(result.head.map { Hex.encode($0.hash) } ?? "none")")
            print("fund id \(result.fundId.map { Hex.encode($0) } ?? "none")")
            if let tail = result.tornTail {
                print("note: \(tail.byteCount) bytes after the last complete entry (an interrupted append) are not part of the ledger")
            }
            let rate = elapsedSeconds > 0 ? Int(Double(result.entryCount) / elapsedSeconds) : 0
            FileHandle.standardError.write(Data("verified in \(String(format: "%.2f", elapsedSeconds)) s (\(rate) entries per second)\n".utf8))
        }
        if let failure {
            if json { throw ExitCode(1) }
            throw CLIError.refused("NOT intact: \(failure)")
        }
    }
}
