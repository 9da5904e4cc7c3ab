import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a whole ledger from its file alone: canonical form, sequence, links, times, every signature, every rule.",
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

    @Option(help: "A checkpoint you hold: the ledger must extend it (same root at its size).")
    var checkpoint: String?

    @Flag(help: "Print a JSON summary: ok, entries, head, fundId, checkpoint, error {code, rule, seq, message}.")
    var json = false

    func run() throws {
        let file = try ledgerFolder(ledger).appendingPathComponent(LedgerStore.ledgerFileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CLIError.badInput("no ledger in \(SafeText.escape(ledger)) (\(LedgerStore.ledgerFileName) is missing)")
        }
        if let fundId, Hex.decode(fundId)?.count != 32 {
            throw CLIError.badInput("--fund-id must be 64 lowercase hex digits")
        }
        let started = Date()
        var result: LedgerScanResult? = nil
        var state: FundState? = nil
        var failure: LedgerError? = nil
        var rule: String? = nil
        let progress = Progress(enabled: !json && isatty(2) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
        do {
            (state, result) = try Fund.verify(file: file, progress: progress.update)
        } catch let error as LedgerError where error.code == .corrupt {
            failure = error
        } catch let error as FundError {
            failure = LedgerError(.corrupt, seq: error.seq, "the rules refuse it: \(error.reason) [rule \(error.rule.rawValue)]")
            rule = error.rule.rawValue
        }
        progress.finish()
        if failure == nil, let fundId, let actual = result?.fundId, Hex.encode(actual) != fundId {
            failure = LedgerError(.corrupt, seq: 0, "fund id is \(Hex.encode(actual)), expected \(fundId)")
        }
        // Against a checkpoint held from before: the ledger must still hold exactly the
        // entries it covers, the last one included.
        var checkpointReport: [String: JSONValue]? = nil
        var notes: [String] = []
        if failure == nil, let checkpoint, let result, let state {
            let (note, point) = try readNote(checkpoint)
            if !Identifiers.same(point.origin, Fund.origin(state.fundId)) {
                failure = LedgerError(.corrupt, seq: nil, "the checkpoint is for \(SafeText.quoted(point.origin)), not this fund")
            } else if point.size > result.entryCount {
                failure = LedgerError(.corrupt, seq: result.entryCount, "the checkpoint covers \(point.size) entries but the ledger has \(result.entryCount): entries \(result.entryCount) to \(point.size - 1) were removed (a rollback)")
            } else if try LedgerScan.root(file: file, size: point.size) != point.root {
                failure = LedgerError(.corrupt, seq: nil, "the ledger's first \(point.size) entries are not the ones the checkpoint covers: they were rewritten, reordered or removed (a fork)")
            } else {
                let cosigned = try? Cosignatures(note.signatures, text: note.text, policy: state.witnesses ?? .delegates, state: state)
                let count = cosigned?.times.count ?? 0
                notes.append("extends the checkpoint of \(point.size) entries (cosigned by \(count) of the fund's witnesses, quorum \(cosigned?.quorum ?? 0)); \(result.entryCount - point.size) entries after it are not yet checkpointed")
                checkpointReport = ["size": .integer(point.size), "cosignatures": .integer(Int64(count)), "notYetCheckpointed": .integer(result.entryCount - point.size)]
            }
        }
        let elapsedSeconds = Date().timeIntervalSince(started)
        if json {
            var summary: [String: JSONValue] = ["ok": .bool(failure == nil)]
            if let result {
                summary["entries"] = .integer(result.entryCount)
                summary["head"] = result.head.map { .string(Hex.encode($0.hash)) } ?? .null
                summary["fundId"] = result.fundId.map { .string(Hex.encode($0)) } ?? .null
                summary["tornTailBytes"] = .integer(Int64(result.tornTail?.byteCount ?? 0))
                summary["seconds"] = .string(String(format: "%.2f", elapsedSeconds))
                if let peak = peakResidentKiB() { summary["peakMemoryKiB"] = .integer(Int64(peak)) }
                summary["checkpoint"] = checkpointReport.map { .object($0) } ?? .null
                if failure == nil, let state {
                    summary["rulesVersion"] = .integer(state.version)
                    summary["reserves"] = coverageReport(state)
                }
            }
            if let failure {
                summary["error"] = ["code": "corrupt", "rule": rule.map { .string($0) } ?? .null,
                                    "seq": failure.seq.map { .integer($0) } ?? .null, "message": .string(failure.reason)]
            }
            print(String(decoding: Canonical.encode(.object(summary)), as: UTF8.self))
        } else if let result, failure == nil {
            print("intact: \(result.entryCount) entries, head \(result.head.map { Hex.encode($0.hash) } ?? "none")")
            print("fund id \(result.fundId.map { Hex.encode($0) } ?? "none")")
            for note in notes { print(note) }
            if let tail = result.tornTail {
                print("note: \(tail.byteCount) bytes after the last complete entry (an interrupted append) are not part of the ledger")
            }
            let rate = elapsedSeconds > 0 ? Int(Double(result.entryCount) / elapsedSeconds) : 0
            FileHandle.standardError.write(Data("verified in \(String(format: "%.2f", elapsedSeconds)) s (\(rate) entries per second)\n".utf8))
        }
        if let failure {
            // The JSON summary above already carries the error.
            if json { throw ExitCode(1) }
            throw CLIError.refused("NOT intact: \(failure)")
        }
    }
}

/// This process's peak resident memory so far (VmHWM), in KiB, when Linux tells it.
func peakResidentKiB() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

/// A one-line progress display on standard error, for terminals only.
final class Progress {
    private let enabled: Bool
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var count: Int64 = 0

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ seq: Int64) {
        count = seq + 1
        guard enabled, Date().timeIntervalSince(lastDraw) > 0.2 else { return }
        lastDraw = Date()
        draw()
    }

    private func draw() {
        let elapsedSeconds = max(Date().timeIntervalSince(started), 0.001)
        let filled = Int(count / 1_000 % 30)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(count) entries, \(Int(Double(count) / elapsedSeconds)) entries/s".utf8))
    }

    func finish() {
        guard enabled, lastDraw != .distantPast else { return }
        draw()
        FileHandle.standardError.write(Data("\n".utf8))
    }
}
