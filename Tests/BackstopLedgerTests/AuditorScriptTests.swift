import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The two auditor scripts of Docs/FORMAT.md section 12, extracted from the document as
/// printed and run with python3, must give Backstop's verdict: intact, or the same entry.
@Suite("The auditor scripts of Docs/FORMAT.md agree with Backstop on valid and damaged ledgers", .serialized)
struct AuditorScriptTests {
    /// The Python block that follows `marker` in Docs/FORMAT.md, written to a file.
    static func script(after marker: String, in directory: URL, name: String) throws -> String {
        let text = try String(contentsOf: packageRoot.appendingPathComponent("Docs/FORMAT.md"), encoding: .utf8)
        let start = try #require(text.range(of: marker))
        let open = try #require(text.range(of: "```python\n", range: start.upperBound..<text.endIndex))
        let close = try #require(text.range(of: "\n```", range: open.upperBound..<text.endIndex))
        let path = directory.appendingPathComponent(name).path
        try String(text[open.upperBound..<close.lowerBound]).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// What the scripts say: nil when both accept the file, else the entry they name.
    static func verdict(_ file: URL, chain: String, sigs: String) throws -> Int64? {
        for script in [chain, sigs] {
            let result = try runProcess("/usr/bin/env", ["python3", script, file.path])
            if result.status != 0 {
                guard let seq = result.stderr.split(separator: ":").first.flatMap({ Int64($0.replacingOccurrences(of: "entry ", with: "")) }) else {
                    Issue.record("\(script) failed without naming an entry: \(result.stderr)")
                    return -3
                }
                return seq
            }
        }
        return nil
    }

    @Test("a valid ledger, non-ASCII keys, canonically equivalent keys, and 150 damaged copies: the same verdict and the same entry")
    func agree() throws {
        let (directory, _) = try makeLedger(8)
        defer { try? FileManager.default.removeItem(at: directory) }
        let chain = try Self.script(after: "**Format and hash chain**", in: directory, name: "audit_chain.py")
        let sigs = try Self.script(after: "**Signatures**", in: directory, name: "audit_sigs.py")
        let file = directory.appendingPathComponent("ledger.jsonl")
        #expect(try Self.verdict(file, chain: chain, sigs: sigs) == nil && failingSeq(directory) == nil)

        // One object with "é" composed and decomposed: one key twice for both.
        let original = try Data(contentsOf: file)
        let twins = #"{"body":{"e\#u{0301}":1,"\#u{00E9}":2},"kind":"test","prev":""# + String(repeating: "0", count: 64) + #"","seq":0,"signatures":[],"time":"2026-01-01T00:00:00Z"}"# + "\n"
        try Data(twins.utf8).write(to: file)
        #expect(try Self.verdict(file, chain: chain, sigs: sigs) == 0)
        #expect(failingSeq(directory) == 0)

        // Damaged copies: a flipped byte, a cut, a dropped, repeated or swapped line.
        var generator = SplitMix64(state: 9)
        let lines = [UInt8](original).split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map(Array.init)
        var disagreements: [String] = []
        for round in 0..<150 {
            var bytes = [UInt8](original)
            let what: String
            switch round % 5 {
            case 0, 1:
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[at] ^= UInt8.random(in: 1...255, using: &generator)
                what = "byte \(at) flipped"
            case 2:
                let at = Int.random(in: 1..<bytes.count, using: &generator)
                bytes = Array(bytes.prefix(at))
                what = "cut at \(at)"
            case 3:
                var changed = lines
                let index = Int.random(in: 0..<changed.count, using: &generator)
                if round % 2 == 0 { changed.remove(at: index) } else { changed.insert(changed[index], at: index) }
                bytes = changed.flatMap { $0 + [0x0A] }
                what = "line \(index) dropped or repeated"
            default:
                var changed = lines
                let index = Int.random(in: 0..<changed.count - 1, using: &generator)
                changed.swapAt(index, index + 1)
                bytes = changed.flatMap { $0 + [0x0A] }
                what = "lines \(index) and \(index + 1) swapped"
            }
            try Data(bytes).write(to: file)
            let ours = failingSeq(directory), theirs = try Self.verdict(file, chain: chain, sigs: sigs)
            if ours != theirs { disagreements.append("\(what): Backstop \(ours.map(String.init) ?? "intact"), scripts \(theirs.map(String.init) ?? "intact")") }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
    }
}
