// backstop-benchmark: builds a fund ledger and measures appending, opening and verifying it.
//
// usage: swift run -c release backstop-benchmark [ENTRIES]   (default 5000)
//
// Figures printed, all on this machine: appends per second (each one fsynced), full
// verification (every signature and rule) in entries and signatures per second, and the
// ECDSA P-256 verify rate of `openssl speed` on all cores, which bounds the verifier.
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

// usage: swift run -c release backstop-benchmark proofs [ENTRIES]   (default 1000000)
//
// Proof figures: a ledger of ENTRIES chained entries is written in one go, opened once (which
// builds its Merkle tiles), then inclusion and consistency proofs are made from the tiles on
// disk by a fresh reader, as `backstop prove` does: time per proof, proof size, tiles on disk.
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "proofs" {
    let count = CommandLine.arguments.count > 2 ? Int64(CommandLine.arguments[2]) ?? 1_000_000 : 1_000_000
    do { try proofFigures(entries: count) } catch {
        FileHandle.standardError.write(Data("backstop-benchmark: \(error)\n".utf8))
        exit(1)
    }
    exit(0)
}

let entries = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 5_000 : 5_000
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("backstop-benchmark-\(UUID().uuidString)")
defer { try? FileManager.default.removeItem(at: directory) }

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Builds the ledger; returns (appended entries, signatures, seconds spent appending).
func build() throws -> (Int, Double) {
    let delegates = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
    var now = Timestamp("2026-01-01T00:00:00Z")!
    let genesis = Payloads.genesis(
        expires: now.adding(seconds: 86_400)!, name: "Benchmark fund", assets: [("USDC", 6)],
        delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") },
        policy: ContributionPolicy(asset: "USDC", ratePerMillion: 100, floor: Amount(1), cap: Amount(10), periodSeconds: 86_400, graceSeconds: 86_400))
    let fund = try Fund.create(at: directory, genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: now)
    let member = try PrivateKey(generatingOn: .p256)
    let admit = Payloads.make(.admit, for: fund.state, expires: now.adding(seconds: 3_600)!, fields: [
        "member": "m", "platform": "M", "key": .string(Hex.encode(member.publicKey.derRepresentation)), "size": "0",
    ])
    try fund.submit(.admit, payload: admit, signatures: try Payloads.sign(admit, with: Array(delegates.prefix(4))), time: now)

    // Contributions (one signature each), with a 4-signature delegate entry every 10.
    var signatureCount = 8
    let appendSeconds = try seconds {
        for index in 0..<entries {
            now = now.adding(seconds: 1)!
            if index % 10 == 9 {
                let status = Payloads.make(.memberStatus, for: fund.state, expires: now.adding(seconds: 3_600)!, fields: ["member": "m", "status": "active", "reason": .string("review \(index)")])
                try fund.submit(.memberStatus, payload: status, signatures: try Payloads.sign(status, with: Array(delegates.prefix(4))), time: now)
                signatureCount += 4
            } else {
                let payload = Payloads.make(.contribution, for: fund.state, expires: now.adding(seconds: 3_600)!, fields: [
                    "member": "m", "asset": "USDC", "amount": "1000000", "period": .integer(fund.state.period(of: now)), "reference": .string("tx-\(index)"),
                ])
                try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [member]), time: now)
                signatureCount += 1
            }
        }
    }
    return (signatureCount, appendSeconds)
}

do {
    // The fund is closed (and its lock released) when build() returns.
    let (signatureCount, appendSeconds) = try build()
    let file = directory.appendingPathComponent(LedgerStore.ledgerFileName)
    let bytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
    let total = entries + 2
    print("ledger: \(total) entries, \(signatureCount) signatures, \(bytes / 1024) KiB")
    print(String(format: "append (check rules, sign-check, write, fsync): %.0f entries/s", Double(entries) / appendSeconds))

    var chainOnly = LedgerScanResult?.none
    let chainSeconds = try seconds { chainOnly = try LedgerScan.scan(file: file, verifySignatures: false) }
    print(String(format: "scan without signatures (parse, canonical check, hash chain): %.0f entries/s", Double(chainOnly?.entryCount ?? 0) / chainSeconds))

    let signedSeconds = try seconds { _ = try LedgerScan.scan(file: file, verifySignatures: true) }
    print(String(format: "scan with every signature (no fund rules): %.0f entries/s, %.0f signatures/s", Double(total) / signedSeconds, Double(signatureCount) / signedSeconds))

    let verifySeconds = try seconds { _ = try Fund.verify(file: file) }
    print(String(format: "full verify (chain, every signature, every rule): %.2f s, %.0f entries/s, %.0f signatures/s on %d cores",
                 verifySeconds, Double(total) / verifySeconds, Double(signatureCount) / verifySeconds, ProcessInfo.processInfo.activeProcessorCount))

    let openSeconds = try seconds { _ = try Fund.open(at: directory) }
    print(String(format: "open for appending (verify and replay): %.2f s", openSeconds))

    // The bound: raw ECDSA P-256 verifies per second on all cores, measured by OpenSSL itself.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["openssl", "speed", "-multi", String(ProcessInfo.processInfo.activeProcessorCount), "-seconds", "3", "ecdsap256"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    if let line = output.split(separator: "\n").last(where: { $0.contains("nistp256") }) {
        print("openssl speed -multi \(ProcessInfo.processInfo.activeProcessorCount) ecdsap256 (sign/s, verify/s): \(line.split(separator: " ").suffix(2).joined(separator: ", "))")
    }
} catch {
    FileHandle.standardError.write(Data("backstop-benchmark: \(error)\n".utf8))
    exit(1)
}

/// The proof figures of a ledger of `entries` entries.
func proofFigures(entries: Int64) throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("backstop-proofs-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    // The lines are written directly (one write per 64 KiB, one fsync): only the proofs are measured here.
    let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
    _ = FileManager.default.createFile(atPath: file.path, contents: nil)
    let handle = try FileHandle(forWritingTo: file)
    var prev = Entry.genesisPrev
    var buffer: [UInt8] = []
    let time = Timestamp("2026-01-01T00:00:00Z")!
    let writeSeconds = try seconds {
        for seq in 0..<entries {
            let entry = try Entry(seq: seq, prev: prev, time: time, kind: "benchmark", body: ["n": .integer(seq)], signatures: [])
            let line = entry.line
            prev = try Entry.hash(line: line)
            buffer += line + [0x0A]
            if buffer.count > 1 << 16 { try handle.write(contentsOf: Data(buffer)); buffer.removeAll(keepingCapacity: true) }
        }
        try handle.write(contentsOf: Data(buffer))
        try handle.synchronize()
        try handle.close()
    }
    let ledgerBytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? 0
    print(String(format: "ledger: %lld entries, %.1f MiB, written in %.1f s", entries, Double(ledgerBytes) / 1_048_576, writeSeconds))

    var store: LedgerStore? = nil
    let openSeconds = try seconds { store = try LedgerStore.open(at: folder) }
    store?.close()
    let tiles = folder.appendingPathComponent(MerkleTiles.folderName)
    var tileBytes = 0, tileFiles = 0
    if let walker = FileManager.default.enumerator(at: tiles, includingPropertiesForKeys: [.fileSizeKey]) {
        for case let url as URL in walker {
            if let size = try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize, !url.hasDirectoryPath { tileBytes += size; tileFiles += 1 }
        }
    }
    print(String(format: "open (scan, hash, build the tiles from nothing): %.1f s; tiles on disk: %d files, %.1f MiB (%.1f%% of the ledger)",
                 openSeconds, tileFiles, Double(tileBytes) / 1_048_576, 100 * Double(tileBytes) / Double(ledgerBytes)))

    var reader: MerkleTiles? = nil
    let readerSeconds = try seconds { reader = try MerkleTiles.open(directory: tiles) }
    let root = try reader!.root(size: entries)
    var generator = SystemRandomNumberGenerator()
    let samples = 1_000
    var proofHashes = 0
    var inclusion: [[UInt8]] = []
    let indexes = (0..<samples).map { _ in Int64.random(in: 0..<entries, using: &generator) }
    let inclusionSeconds = try seconds {
        for index in indexes {
            // A fresh reader each time, as a separate `backstop prove` process would have.
            let tiles = try MerkleTiles.open(directory: tiles)
            inclusion = try Merkle.inclusionProof(index: index, size: entries, subtree: tiles.subtree)
            proofHashes = max(proofHashes, inclusion.count)
        }
    }
    let leaf = try Entry.hash(line: try LedgerScan.line(file: file, seq: indexes.last!))
    guard Merkle.verifyInclusion(leaf: leaf, index: indexes.last!, size: entries, proof: inclusion, root: root) else { throw LedgerError(.corrupt, "a proof did not verify") }
    let verifySeconds = seconds { for _ in 0..<samples { _ = Merkle.verifyInclusion(leaf: leaf, index: indexes.last!, size: entries, proof: inclusion, root: root) } }
    var consistency: [[UInt8]] = []
    let old = entries / 3 + 12_345 % max(entries, 1)
    let consistencySeconds = try seconds {
        for _ in 0..<samples {
            let tiles = try MerkleTiles.open(directory: tiles)
            consistency = try Merkle.consistencyProof(old: old, new: entries, subtree: tiles.subtree)
        }
    }
    print(String(format: "open the tiles (another process): %.2f ms", readerSeconds * 1_000))
    print(String(format: "inclusion proof at %lld entries: %d hashes (%d bytes; %d bytes as a tlog-proof without the checkpoint), %.3f ms to make from the tiles, %.3f ms to verify",
                 entries, proofHashes, proofHashes * 32, 26 + proofHashes * 45, inclusionSeconds * 1_000 / Double(samples), verifySeconds * 1_000 / Double(samples)))
    print(String(format: "consistency proof %lld -> %lld: %d hashes (%d bytes), %.3f ms to make from the tiles",
                 old, entries, consistency.count, consistency.count * 32, consistencySeconds * 1_000 / Double(samples)))
}
