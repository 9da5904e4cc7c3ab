import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import CBackstopShims
import Dispatch
import Foundation

import Glibc

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Build a realistic valid ledger and measure verification, appends, open and proofs against OpenSSL's own speed, in one run.",
        discussion: """
            Example: backstop bench --entries 100000 --json
            The ledger: 20 members; per 1,000 entries about 960 contributions (one member \
            signature), 5 member claims, 5 releases with 4 delegate approvals and their \
            settlements, a checkpoint cosigned by 4 delegates, and a petition with 1,000 \
            signatures. Figures: OpenSSL's raw P-256 verify rate through Backstop's crypto module \
            on 1 thread and on all cores; `backstop verify` (a child process) on all cores and \
            on 1, in signatures and entries per second, with its ratio to the raw rates and its \
            peak memory; durable single and batched appends; opening and appending one \
            contribution, in the library and as a command; proof size and time. Nothing is \
            asserted: the figures are printed.
            """
    )

    @Option(help: "Entries in the ledger to build.") var entries: Int = 100_000
    @Option(help: "Seconds to measure each raw OpenSSL rate.") var seconds: Double = 2
    @Option(help: "Single appends to time.") var appends: Int = 2_000
    @Option(help: "Keep the ledger in this folder (must not exist) instead of a temporary one.") var keep: String?
    @Flag(help: "Print the figures as one JSON object.") var json = false

    func run() throws {
        guard entries >= 100 else { throw CLIError.badInput("--entries \(entries): at least 100") }
        guard seconds > 0, appends > 0 else { throw CLIError.badInput("--seconds and --appends must be positive") }
        let folder: URL
        if let keep {
            guard !FileManager.default.fileExists(atPath: keep) else { throw CLIError.badInput("\(keep) already exists") }
            folder = URL(fileURLWithPath: keep)
        } else {
            folder = FileManager.default.temporaryDirectory.appendingPathComponent("backstop-bench-\(UUID().uuidString)")
        }
        defer { if keep == nil { try? FileManager.default.removeItem(at: folder) } }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var figures: [String: JSONValue] = ["entriesRequested": .integer(Int64(entries)), "cores": .integer(Int64(cores))]
        func report(_ key: String, _ value: JSONValue, _ line: String) {
            figures[key] = value
            if !json { print(line) }
        }

        // 1. The bound: OpenSSL's raw verify rate through our crypto module.
        let raw1 = try RawVerify.rate(threads: 1, seconds: seconds)
        let rawAll = try RawVerify.rate(threads: cores, seconds: seconds)
        report("rawVerify1", .integer(Int64(raw1)), String(format: "raw P-256 verify (OpenSSL via BackstopCrypto): %.0f/s on 1 thread, %.0f/s on %d", raw1, rawAll, cores))
        figures["rawVerifyAll"] = .integer(Int64(rawAll))

        // 2. The ledger.
        let started = Date()
        let built = try BenchLedger.build(entries: entries, in: folder)
        let buildSeconds = Date().timeIntervalSince(started)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(LedgerStore.ledgerFileName).path)[.size] as? NSNumber)?.int64Value ?? 0
        report("entries", .integer(built.entries), String(format: "ledger: %d entries, %d entry signatures + %d checkpoint cosignatures, %.1f MiB, built in %.1f s",
                                                            built.entries, built.entrySignatures, built.cosignatures, Double(bytes) / 1_048_576, buildSeconds))
        figures["signatures"] = .integer(built.entrySignatures + built.cosignatures)
        figures["ledgerBytes"] = .integer(bytes)
        let signatures = Double(built.entrySignatures + built.cosignatures)

        // 3. verify, as a command, on all cores and on one.
        let all = try ChildRun.run([CommandLine.arguments[0], "verify", "--ledger", folder.path, "--json"], cpus: nil)
        guard all.status == 0, all.stdout.contains(#""ok":true"#) else { throw CLIError.refused("verify failed on the bench ledger: \(all.stdout)") }
        let one = try ChildRun.run([CommandLine.arguments[0], "verify", "--ledger", folder.path, "--json"], cpus: 1)
        guard one.status == 0 else { throw CLIError.refused("verify on one core failed") }
        // Peak memory as the child measured it: a spawned child's own rusage would include the
        // bench's memory, which it shares until it execs.
        func peak(_ run: ChildRun.Result) -> Int {
            guard case .object(let summary)? = try? JSONParser.parse(Array(run.stdout.utf8)), let kib = summary["peakMemoryKiB"]?.integerValue else { return run.peakKiB }
            return Int(kib)
        }
        let allPeak = peak(all)
        let rateAll = signatures / all.seconds, rateOne = signatures / one.seconds
        report("verifySeconds", .string(String(format: "%.2f", all.seconds)),
               String(format: "verify, %d cores: %.2f s, %.0f signatures/s (%.2fx raw), %.0f entries/s, peak %.1f MiB", cores, all.seconds, rateAll, rateAll / rawAll,
                      Double(built.entries) / all.seconds, Double(allPeak) / 1_024))
        report("verify1Seconds", .string(String(format: "%.2f", one.seconds)),
               String(format: "verify, 1 core: %.2f s, %.0f signatures/s (%.2fx raw); speed-up %.2fx", one.seconds, rateOne, rateOne / raw1, one.seconds / all.seconds))
        figures["verifySignaturesPerSecond"] = .integer(Int64(rateAll))
        figures["verifyEntriesPerSecond"] = .integer(Int64(Double(built.entries) / all.seconds))
        figures["verifyRatioToRaw"] = .string(String(format: "%.2f", rateAll / rawAll))
        figures["verify1SignaturesPerSecond"] = .integer(Int64(rateOne))
        figures["verify1RatioToRaw"] = .string(String(format: "%.2f", rateOne / raw1))
        figures["speedUp"] = .string(String(format: "%.2f", one.seconds / all.seconds))
        figures["verifyPeakKiB"] = .integer(Int64(allPeak))

        // 4. Proofs from the tiles, as an auditor asks for them.
        let proof = try BenchLedger.proofFigures(folder: folder, size: built.entries)
        report("inclusionProofHashes", .integer(Int64(proof.hashes)),
               String(format: "inclusion proof: %d hashes (%d bytes), %.2f ms to make from the tiles, %.3f ms to verify; tiles %.1f MiB on disk",
                      proof.hashes, proof.hashes * 32, proof.makeMilliseconds, proof.verifyMilliseconds, Double(proof.tileBytes) / 1_048_576))
        figures["inclusionProofMakeMs"] = .string(String(format: "%.3f", proof.makeMilliseconds))
        figures["tileBytes"] = .integer(proof.tileBytes)

        // 5. Appends: open (from the snapshot), single durable appends, batches.
        let appendFigures = try BenchLedger.appendFigures(folder: folder, member: built.members[0], single: appends, batches: 20, batchSize: 1_000)
        report("openMs", .string(String(format: "%.1f", appendFigures.openMilliseconds)),
               String(format: "open to append (library): %.1f ms, %d entries replayed after the snapshot", appendFigures.openMilliseconds, appendFigures.replayedAtOpen))
        report("singleAppendsPerSecond", .integer(Int64(appendFigures.singlePerSecond)),
               String(format: "durable single appends (check, write, fsync each): %.0f/s", appendFigures.singlePerSecond))
        report("batchedAppendsPerSecond", .integer(Int64(appendFigures.batchedPerSecond)),
               String(format: "durable batched appends (1,000 per write and fsync, signatures in parallel): %.0f/s", appendFigures.batchedPerSecond))
        let command = try BenchLedger.contributeCommand(folder: folder, member: built.members[0])
        report("openAndAppendCommandMs", .string(String(format: "%.1f", command.seconds * 1_000)),
               String(format: "backstop contribute on this ledger (process start, open, check, append, fsync): %.1f ms", command.seconds * 1_000))

        if json { print(String(decoding: Canonical.encode(.object(figures)), as: UTF8.self)) }
        if let keep { if !json { print("ledger kept in \(keep)") } }
    }
}

/// OpenSSL's ECDSA P-256 verify rate through BackstopCrypto, as `openssl speed` measures it:
/// one key, a fixed digest, verification contexts set up once.
enum RawVerify {
    static func rate(threads: Int, seconds: Double) throws -> Double {
        let key = try PrivateKey(generatingOn: .p256)
        let digest = try SHA256.hash(Array("backstop bench".utf8))
        let signature = try key.signature(for: Array("backstop bench".utf8)).derRepresentation
        let publicKey = key.publicKey
        guard publicKey.isValidSignature(der: signature, forDigest: digest) else { throw CLIError.refused("the raw verify check failed") }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        let counts = Counter(threads)
        let start = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var count = 0
            while DispatchTime.now().uptimeNanoseconds < deadline {
                for _ in 0..<64 where publicKey.isValidSignature(der: signature, forDigest: digest) { count += 1 }
            }
            counts.set(thread, count)
        }
        return Double(counts.total) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    final class Counter: @unchecked Sendable {
        private var values: [Int]
        private let lock = NSLock()
        init(_ count: Int) { values = Array(repeating: 0, count: count) }
        func set(_ index: Int, _ value: Int) { lock.withLock { values[index] = value } }
        var total: Int { lock.withLock { values.reduce(0, +) } }
    }
}

/// A child process, timed, with its peak memory, optionally pinned to a number of CPUs.
enum ChildRun {
    struct Result {
        let status: Int32
        let stdout: String
        let seconds: Double
        let peakKiB: Int
    }

    static func run(_ arguments: [String], cpus: Int?) throws -> Result {
        var saved = [UInt8](repeating: 0, count: 1_024)
        let pinned = cpus.map { count in saved.withUnsafeMutableBytes { backstop_pin_first_cpus(Int32(count), $0.baseAddress, $0.count) == 0 } } ?? false
        if cpus != nil && !pinned { throw CLIError(message: "cannot pin the child process to fewer CPUs", exitCode: 4) }
        defer { if pinned { _ = saved.withUnsafeBytes { backstop_restore_cpus($0.baseAddress, $0.count) } } }
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw CLIError(message: "pipe failed", exitCode: 4) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipe[0])
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        guard posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 else {
            throw CLIError(message: "cannot start \(arguments[0])", exitCode: 4)
        }
        close(pipe[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            output += buffer.prefix(count)
        }
        close(pipe[0])
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exit, stdout: String(decoding: output, as: UTF8.self), seconds: seconds, peakKiB: usage.ru_maxrss)
    }

}

/// The bench ledger: built with the library's batched appends.
enum BenchLedger {
    struct Built {
        let entries: Int64
        let entrySignatures: Int64
        let cosignatures: Int64
        /// Member ids with their keys.
        let members: [(id: String, key: PrivateKey)]
    }

    /// The clock the bench fund runs on: 10 seconds per entry.
    final class BenchClock: @unchecked Sendable {
        private let lock = NSLock()
        private var time = Timestamp("2026-01-01T00:00:00Z")!
        var now: Timestamp { lock.withLock { time } }
        func advance(_ seconds: Int64) { lock.withLock { time = time.adding(seconds: seconds)! } }
    }

    static func build(entries target: Int, in folder: URL) throws -> Built {
        let clock = BenchClock()
        let delegates = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
        let genesis = Payloads.genesis(
            expires: clock.now.adding(seconds: 86_400)!, name: "Bench fund", assets: [("BTC", 8), ("USDC", 6)],
            delegates: delegates.enumerated().map { Delegate(key: $0.element.publicKey, platform: "platform-\($0.offset + 1)") },
            petitionThreshold: 100,
            policy: ContributionPolicy(asset: "USDC", ratePerMillion: 100, floor: Amount(1_000_000), cap: Amount(100_000_000), periodSeconds: 30 * 86_400, graceSeconds: 7 * 86_400),
            releaseDelaySeconds: 3_600)
        let fund = try Fund.create(at: folder, genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(delegates.prefix(4))), time: clock.now,
                                   clock: { clock.now })
        defer { fund.close() }
        var entrySignatures: Int64 = 4, cosignatures: Int64 = 0
        let approvers = Array(delegates.prefix(4))

        // 20 members.
        var members: [(id: String, key: PrivateKey)] = []
        var admissions: [Fund.BatchItem] = []
        for index in 0..<20 {
            let key = try PrivateKey(generatingOn: .p256)
            members.append(("member-\(index)", key))
            let payload = Payloads.make(AdmitPayload(member: "member-\(index)", platform: "Platform \(index)", key: key.publicKey, size: Amount(1_000_000_000_000)),
                                        for: fund.state, expires: clock.now.adding(seconds: 86_400)!)
            admissions.append(Fund.BatchItem(kind: .admit, payload: payload, signatures: try Payloads.sign(payload, with: approvers)))
            entrySignatures += 4
        }
        try fund.submit(batch: admissions, time: clock.now)
        let petitioners = try (0..<1_000).map { _ in try PrivateKey(generatingOn: .p256) }

        // Releases wait two checkpoints: the first sees them, the next (later than the delay) lets them settle.
        var seenReleases: [String] = [], payableReleases: [String] = []
        var block = 0
        while fund.state.entryCount < Int64(target) {
            block += 1
            // Settle the releases approved two checkpoints ago (their delay has passed in witnessed time).
            var items: [(kind: EntryKind, payload: JSONValue, signers: [PrivateKey])] = []
            for release in payableReleases {
                items.append((.settle, Payloads.make(SettlePayload(release: release, reference: "tx-\(release)"), for: fund.state, expires: clock.now.adding(seconds: 86_400)!), approvers))
            }
            // A petition claim with 1,000 signatures.
            var petition = Payloads.make(.claim, for: fund.state, id: "petition-\(block)", expires: clock.now.adding(seconds: 86_400)!, fields: [
                "filedBy": "petition", "platform": "Exchange Z", "description": "withdrawals frozen", "incidentTime": "2025-12-01T00:00:00Z",
                "accounts": 1_000, "losses": ["USDC": "1000000"], "evidence": [],
            ])
            if var fields = petition.objectValue {   // its id is derived from its content
                fields["id"] = .string(ClaimPayload.petitionId(petition))
                petition = .object(fields)
            }
            items.append((.claim, petition, petitioners))
            // Five member claims and a release for each.
            var releases: [String] = []
            for index in 0..<5 {
                let (member, key) = members[(block * 5 + index) % members.count]
                let claimId = "claim-\(block)-\(index)"
                let claim = Payloads.make(.claim, for: fund.state, id: claimId, expires: clock.now.adding(seconds: 86_400)!, fields: [
                    "filedBy": "member", "member": .string(member), "platform": "Platform", "description": "hot wallet drained",
                    "incidentTime": "2025-12-01T00:00:00Z", "accounts": 10, "losses": ["USDC": "5000000"], "evidence": [],
                ])
                items.append((.claim, claim, [key]))
                let releaseId = "release-\(block)-\(index)"
                let release = Payloads.release(for: fund.state, id: releaseId, expires: clock.now.adding(seconds: 86_400)!, claim: claimId,
                                               payouts: [Payout(asset: "USDC", amount: Amount(1_000_000), payee: "claimants", destination: "0xrestitution")])
                items.append((.release, release, approvers))
                releases.append(releaseId)
            }
            // Contributions fill the block to 1,000 entries (a checkpoint closes it); one
            // receipt confirms them and a reserve attestation covers the releases.
            let room = min(1_000 - items.count - 3, target - Int(fund.state.entryCount) - items.count - 3)
            var confirmations: [ReceiptPayload.Confirmation] = []
            for index in 0..<max(room, 0) {
                let (member, key) = members[index % members.count]
                let id = "tx-\(block)-\(index)"
                let payload = Payloads.make(ContributionPayload(member: member, asset: "USDC", amount: Amount(2_000_000), period: fund.state.period(of: clock.now),
                                                                reference: id), for: fund.state, id: id, expires: clock.now.adding(seconds: 86_400)!)
                items.append((.contribution, payload, [key]))
                confirmations.append(.init(member: member, contribution: id, asset: "USDC", received: Amount(2_000_000)))
            }
            var money: [(kind: EntryKind, payload: JSONValue, signers: [PrivateKey])] = []
            if !confirmations.isEmpty {
                money.append((.receipt, Payloads.make(ReceiptPayload(confirmations: confirmations, reference: "block \(block)"), for: fund.state, expires: clock.now.adding(seconds: 86_400)!), approvers))
            }
            let usdc = fund.state.balances["USDC"]!
            let held = usdc.contributed - usdc.paid + confirmations.reduce(Amount.zero) { $0 + $1.received }
            money.append((.reserves, Payloads.make(ReservesPayload(asOf: clock.now, holdings: [.init(asset: "USDC", amount: held, wallets: ["0xfund"])]), for: fund.state,
                                                   expires: clock.now.adding(seconds: 86_400)!), approvers))
            // Sign on all cores, then append in batches of 500.
            let signed = try sign(items + money)
            for item in signed { entrySignatures += Int64(item.signatures.count) }
            // Contributions, their receipt and the attestation first, so that the releases find money.
            let first: Set<EntryKind> = [.contribution, .receipt, .reserves]
            let ordered = signed.filter { $0.kind == .contribution } + signed.filter { $0.kind == .receipt } + signed.filter { $0.kind == .reserves }
                + signed.filter { !first.contains($0.kind) }
            var start = 0
            while start < ordered.count {
                let end = min(start + 500, ordered.count)
                try fund.submit(batch: Array(ordered[start..<end]), time: clock.now)
                start = end
            }
            // A checkpoint, cosigned by four delegates an hour and a bit later.
            clock.advance(Int64(items.count) * 10)
            var note = SignedNote(text: fund.checkpoint().text)
            for key in approvers {
                note = note.adding(try key.cosignature(name: Cosigner.delegateName(key.publicKey), text: note.text, time: clock.now.secondsSinceEpoch))
            }
            try fund.submitCheckpoint(note, time: clock.now)
            cosignatures += 4
            payableReleases = seenReleases
            seenReleases = releases
        }
        return Built(entries: fund.state.entryCount, entrySignatures: entrySignatures, cosignatures: cosignatures, members: members)
    }

    /// Signs each payload with its signers, on all cores.
    static func sign(_ items: [(kind: EntryKind, payload: JSONValue, signers: [PrivateKey])]) throws -> [Fund.BatchItem] {
        let results = Results(items.count)
        DispatchQueue.concurrentPerform(iterations: items.count) { index in
            let item = items[index]
            results.set(index, Result { Fund.BatchItem(kind: item.kind, payload: item.payload, signatures: try Payloads.sign(item.payload, with: item.signers)) })
        }
        return try results.values.map { try $0!.get() }
    }

    final class Results: @unchecked Sendable {
        private(set) var values: [Result<Fund.BatchItem, any Error>?]
        private let lock = NSLock()
        init(_ count: Int) { values = Array(repeating: nil, count: count) }
        func set(_ index: Int, _ value: Result<Fund.BatchItem, any Error>) { lock.withLock { values[index] = value } }
    }

    struct ProofFigures {
        let hashes: Int
        let makeMilliseconds: Double
        let verifyMilliseconds: Double
        let tileBytes: Int64
    }

    /// Inclusion proofs of 100 entries spread over the ledger, from the tiles on disk.
    static func proofFigures(folder: URL, size: Int64) throws -> ProofFigures {
        let root = try LedgerScan.root(file: folder.appendingPathComponent(LedgerStore.ledgerFileName), size: size)!
        var hashes = 0
        var make: UInt64 = 0, verify: UInt64 = 0
        for step in 0..<100 {
            let index = Int64(step) * size / 100
            let leaf = try MerkleTiles.forReading(ledger: folder, size: size).leafHash(index)
            let start = DispatchTime.now().uptimeNanoseconds
            let tiles = try MerkleTiles.forReading(ledger: folder, size: size)
            let proof = try Merkle.inclusionProof(index: index, size: size, subtree: tiles.subtree)
            let made = DispatchTime.now().uptimeNanoseconds
            guard Merkle.verifyInclusion(leaf: leaf, index: index, size: size, proof: proof, root: root) else { throw CLIError.refused("a bench proof does not verify") }
            verify += DispatchTime.now().uptimeNanoseconds - made
            make += made - start
            hashes = max(hashes, proof.count)
        }
        let tiles = folder.appendingPathComponent(MerkleTiles.folderName)
        var bytes: Int64 = 0
        if let walker = FileManager.default.enumerator(at: tiles, includingPropertiesForKeys: [.fileSizeKey]) {
            for case let url as URL in walker { bytes += Int64((try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) }
        }
        return ProofFigures(hashes: hashes, makeMilliseconds: Double(make) / 1e8, verifyMilliseconds: Double(verify) / 1e8, tileBytes: bytes)
    }

    struct AppendFigures {
        let openMilliseconds: Double
        let replayedAtOpen: Int64
        let singlePerSecond: Double
        let batchedPerSecond: Double
    }

    /// Contributions by `member`, signed before the clock starts.
    static func contributions(_ count: Int, member: (id: String, key: PrivateKey), state: FundState, at time: Timestamp, tag: String) throws -> [Fund.BatchItem] {
        try sign((0..<count).map { index in
            (.contribution, Payloads.make(ContributionPayload(member: member.id, asset: "USDC", amount: Amount(1_000_000), period: state.period(of: time),
                                                              reference: "\(tag)-\(index)"), for: state, expires: time.adding(seconds: 86_400)!), [member.key])
        })
    }

    static func appendFigures(folder: URL, member: (id: String, key: PrivateKey), single: Int, batches: Int, batchSize: Int) throws -> AppendFigures {
        let startOpen = DispatchTime.now().uptimeNanoseconds
        let fund = try Fund.open(at: folder)
        let openMilliseconds = Double(DispatchTime.now().uptimeNanoseconds - startOpen) / 1e6
        defer { fund.close() }
        let time = max(fund.state.lastTime, Timestamp(secondsSinceEpoch: Int64(Date().timeIntervalSince1970))!)
        let singles = try contributions(single, member: member, state: fund.state, at: time, tag: "single")
        var start = DispatchTime.now().uptimeNanoseconds
        for item in singles { try fund.submit(batch: [item], time: time) }
        let singlePerSecond = Double(single) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        let batched = try contributions(batches * batchSize, member: member, state: fund.state, at: time, tag: "batch")
        start = DispatchTime.now().uptimeNanoseconds
        for index in 0..<batches { try fund.submit(batch: Array(batched[index * batchSize..<(index + 1) * batchSize]), time: time) }
        let batchedPerSecond = Double(batches * batchSize) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        return AppendFigures(openMilliseconds: openMilliseconds, replayedAtOpen: fund.replayedAtOpen, singlePerSecond: singlePerSecond, batchedPerSecond: batchedPerSecond)
    }

    /// `backstop contribute` on the bench ledger, as a member would run it, timed.
    static func contributeCommand(folder: URL, member: (id: String, key: PrivateKey)) throws -> ChildRun.Result {
        let keyFile = folder.appendingPathComponent("bench-member.key.pem").path
        try? FileManager.default.removeItem(atPath: keyFile)
        try Files.writeNew(keyFile, Array(try member.key.pemRepresentation().utf8), mode: 0o600, what: "key file")
        let result = try ChildRun.run([CommandLine.arguments[0], "contribute", "--ledger", folder.path, "--member", member.id, "--key", keyFile,
                                       "--asset", "USDC", "--amount", "1", "--reference", "bench-command"], cpus: nil)
        guard result.status == 0 else { throw CLIError.refused("backstop contribute failed on the bench ledger: \(result.stdout)") }
        return result
    }
}

extension MerkleTiles {
    /// The hash of leaf `index`.
    func leafHash(_ index: Int64) throws -> [UInt8] { try subtree(level: 0, index: index) }
}
