// backstop-torture: appends synthetic signed entries to a scratch ledger until it is killed
// or has appended COUNT entries, printing "ack SEQ" after each append returns (that is, after
// fsync). The crash test kills it at random moments and then checks that every acknowledged
// entry is still there; the benchmarks use it to make large ledgers.
//
// usage: backstop-torture DIR COUNT [MAX_PAD_BYTES]
//
// backstop-torture scan FILE: scans a ledger file as an auditor does (every signature) and
// prints "entries N peak-kib K", K being this process's peak resident memory, so that a
// test can bound the memory of a scan from outside, undisturbed by other tests.
import BackstopCrypto
import BackstopLedger
import Foundation

// Unbuffered: an ack must reach the parent as soon as the append has returned.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

/// VmHWM of /proc/self/status: the peak resident set, in KiB.
func peakResidentKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "scan" {
    do {
        let result = try LedgerScan.scan(file: URL(fileURLWithPath: arguments[2]), verifySignatures: true)
        say("entries \(result.entryCount) peak-kib \(peakResidentKiB())")
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("backstop-torture: \(error)\n".utf8))
        exit(1)
    }
}
guard arguments.count >= 3, let count = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: backstop-torture DIR COUNT [MAX_PAD_BYTES]\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[1])
let maximumPad = arguments.count > 3 ? Int(arguments[3]) ?? 0 : 0

do {
    let exists = FileManager.default.fileExists(atPath: directory.appendingPathComponent(LedgerStore.ledgerFileName).path)
    let store = exists ? try LedgerStore.open(at: directory) : try LedgerStore.create(at: directory)
    if let tail = store.recoveredTail {
        say("recovered \(tail.byteCount) bytes at offset \(tail.offset) into \(tail.savedTo ?? "?")")
    }
    let keys = try (0..<2).map { _ in try PrivateKey(generatingOn: .p256) }
    var time = store.head?.time ?? Timestamp(secondsSinceEpoch: 1_767_225_600)!
    for _ in 0..<count {
        let seq = (store.head?.seq ?? -1) + 1
        let pad = String(repeating: "x", count: maximumPad > 0 ? Int.random(in: 0...maximumPad) : 0)
        let body: JSONValue = ["domain": "backstop/v1/torture", "n": .integer(seq), "pad": .string(pad)]
        let message = Canonical.encode(body)
        let signatures = try keys.map { EntrySignature(publicKey: $0.publicKey, signature: try $0.signature(for: message)) }
        time = time.adding(seconds: 1) ?? time
        try store.append(kind: "torture", time: time, body: body, signatures: signatures)
        say("ack \(seq)")
    }
} catch {
    FileHandle.standardError.write(Data("backstop-torture: \(error)\n".utf8))
    exit(1)
}
