import BackstopCrypto
import BackstopLedger
import Foundation

import Glibc

/// A witness's refusal to cosign, with the evidence: the checkpoint it cosigned before, the
/// one it was asked to cosign, and the consistency proof that failed (empty when none can
/// exist, as for a smaller tree).
public struct CosignRefusal: Error, Sendable, CustomStringConvertible {
    /// Why: rollback, fork, or notThisLedger.
    public let reason: String
    /// The checkpoint this witness cosigned last for the origin.
    public let cosigned: Checkpoint?
    /// The checkpoint it was asked to cosign.
    public let offered: Checkpoint
    /// The consistency proof from the old to the new size, computed from the ledger, that
    /// does not verify.
    public let proof: [[UInt8]]

    /// The reason and the evidence, for people.
    public var description: String {
        var lines = ["refused to cosign: \(reason)"]
        if let cosigned { lines.append("cosigned before:\n" + cosigned.text) }
        lines.append("offered:\n" + offered.text)
        if !proof.isEmpty { lines.append("consistency proof \(cosigned?.size ?? 0) -> \(offered.size) (does not verify):\n" + proof.map { Base64.encode($0) }.joined(separator: "\n")) }
        return lines.joined(separator: "\n")
    }
}

/// What a witness remembers of a fund: the last checkpoint it cosigned, when, and how many
/// entries its copy of the ledger held then.
public struct WitnessMemory: Sendable, Equatable {
    /// The checkpoint it cosigned last.
    public let checkpoint: Checkpoint
    /// Its time in that cosignature (nil in a state file from before it was kept).
    public let time: Timestamp?
    /// How many entries the ledger it verified then held (at least the checkpoint's size).
    public let seen: Int64?
}

/// A witness: it cosigns a fund's checkpoint only after verifying the ledger up to it, and
/// only if it is consistent with every checkpoint it cosigned before, which it remembers
/// in a state file (the last one per origin).
///
/// It also guards time: it refuses a checkpoint that covers an entry stamped more than
/// ``FundLimits/clockToleranceSeconds`` after its own clock (a future-dated entry would
/// block every later one), or an entry it had not seen at its last cosignature but stamped
/// more than ``FundLimits/witnessWindowSeconds`` before it (a backdated one, which could
/// revive an expired approval).
public struct Witness {
    /// The witness's key.
    public let key: AnyPrivateKey
    /// Its key name.
    public let name: String
    /// The state file: `{"<origin>": {"size": n, "root": "<hex>", "time": t, "seen": m}}`,
    /// canonical JSON.
    public let stateFile: URL

    /// A witness with `key`, cosigning as `name`, remembering in `stateFile`.
    public init(key: AnyPrivateKey, name: String, stateFile: URL) {
        self.key = key
        self.name = name
        self.stateFile = stateFile
    }

    /// Verifies the ledger in `folder` (every entry, every rule), checks that `note`'s
    /// checkpoint is the ledger's at its size, consistent with the last checkpoint this
    /// witness cosigned for the fund, and that the entry times are believable, then cosigns
    /// it at `time` (the witness's clock) and remembers it.
    ///
    /// The root is computed from the very bytes that were verified: a ledger file changed
    /// while it is read is refused, not cosigned.
    ///
    /// - Throws: ``CosignRefusal`` with the evidence for a rollback, a fork or a bad time,
    ///   or a ``LedgerError`` / ``FundError`` when the ledger does not verify.
    public func cosign(_ note: SignedNote, ledger folder: URL, time: Timestamp) throws -> SignedNote {
        let checkpoint = try Checkpoint(text: note.text)
        // The state file is locked for the whole check-and-update, so that two cosignings
        // cannot both pass the check and one then roll the other back.
        let lock = open(stateFile.path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0, flock(lock, LOCK_EX) == 0 else { throw LedgerError(.io, "cannot lock \(stateFile.path).lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        var memory = try Self.readState(stateFile)
        let last = memory[checkpoint.origin]

        // Verify, keeping the hashes of the verified entries (for the root) and the times
        // of the two entries the time checks need.
        let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
        let tiles = MerkleTiles(directory: nil)
        let lastCovered = checkpoint.size - 1, firstUnseen = last?.seen ?? -1
        var lastCoveredTime: Timestamp? = nil, firstUnseenTime: Timestamp? = nil
        let (state, scan) = try Fund.verify(file: file, applied: { entry, hash in
            try tiles.append(hash)
            if entry.seq == lastCovered { lastCoveredTime = entry.time }
            if entry.seq == firstUnseen { firstUnseenTime = entry.time }
        })
        guard Identifiers.same(checkpoint.origin, Fund.origin(state.fundId)) else {
            throw CosignRefusal(reason: "the checkpoint's origin \(SafeText.quoted(checkpoint.origin)) is not this ledger's fund (\(Fund.origin(state.fundId)))", cosigned: nil, offered: checkpoint, proof: [])
        }
        guard checkpoint.size <= scan.entryCount else {
            throw CosignRefusal(reason: "the checkpoint covers \(checkpoint.size) entries; the ledger has \(scan.entryCount)", cosigned: nil, offered: checkpoint, proof: [])
        }
        guard try tiles.root(size: checkpoint.size) == checkpoint.root else {
            throw CosignRefusal(reason: "the checkpoint's root is not the root of this ledger's first \(checkpoint.size) entries", cosigned: nil, offered: checkpoint, proof: [])
        }
        if let last {
            let old = last.checkpoint
            if old.size > checkpoint.size {
                throw CosignRefusal(reason: "rollback: it covers \(checkpoint.size) entries, fewer than the \(old.size) this witness cosigned", cosigned: old, offered: checkpoint, proof: [])
            }
            let proof = try Merkle.consistencyProof(old: old.size, new: checkpoint.size, subtree: tiles.subtree)
            guard Merkle.verifyConsistency(old: old.size, new: checkpoint.size, oldRoot: old.root, newRoot: checkpoint.root, proof: proof) else {
                throw CosignRefusal(reason: "fork: this ledger's first \(old.size) entries are not the ones this witness cosigned", cosigned: old, offered: checkpoint, proof: proof)
            }
            if let before = last.time, time < before {
                throw CosignRefusal(reason: "this witness's clock reads \(time), before its last cosignature at \(before): its clock went back", cosigned: old, offered: checkpoint, proof: [])
            }
            // An entry this witness had not seen at its last cosignature, stamped well before it.
            if let before = last.time, let seen = last.seen, seen < checkpoint.size, let stamped = firstUnseenTime,
               stamped.secondsSinceEpoch < before.secondsSinceEpoch - FundLimits.witnessWindowSeconds {
                throw CosignRefusal(reason: "entry \(seen) is stamped \(stamped), but this witness's copy held only \(seen) entries at its cosignature at \(before): it was backdated by more than \(Words.duration(FundLimits.witnessWindowSeconds))", cosigned: old, offered: checkpoint, proof: [])
            }
        }
        // Times only go forward in a ledger: the last covered entry is the latest.
        if let stamped = lastCoveredTime, stamped.secondsSinceEpoch > time.secondsSinceEpoch + FundLimits.clockToleranceSeconds {
            throw CosignRefusal(reason: "entry \(lastCovered) is stamped \(stamped), ahead of this witness's clock (\(time)) by more than \(Words.duration(FundLimits.clockToleranceSeconds))", cosigned: last?.checkpoint, offered: checkpoint, proof: [])
        }
        let signature: SignedNote.Signature
        switch key {
        case .ecdsa(let key): signature = try key.cosignature(name: name, text: note.text, time: time.secondsSinceEpoch)
        case .ed25519(let key): signature = try key.cosignature(name: name, text: note.text, time: time.secondsSinceEpoch)
        }
        memory[checkpoint.origin] = WitnessMemory(checkpoint: checkpoint, time: time, seen: scan.entryCount)
        try Self.writeState(memory, to: stateFile)
        return note.adding(signature)
    }

    /// Reads the state file; a missing file is an empty state, any other failure is an error
    /// (a witness that forgot what it cosigned would cosign a rollback).
    static func readState(_ file: URL) throws -> [String: WitnessMemory] {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return [:] }
            throw LedgerError(.io, "cannot read witness state \(file.path): \(String(cString: strerror(errno)))")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                close(fd)
                throw LedgerError(.io, "cannot read witness state \(file.path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes += buffer.prefix(count)
            guard bytes.count <= 16 << 20 else { close(fd); throw LedgerError(.corrupt, "witness state \(file.path) is larger than 16 MiB") }
        }
        close(fd)
        guard case .object(let origins)? = try? JSONParser.parseCanonical(bytes) else {
            throw LedgerError(.corrupt, "witness state \(file.path) is not canonical JSON; it must not be edited by hand")
        }
        var memory: [String: WitnessMemory] = [:]
        for (origin, value) in origins {
            guard let size = value["size"]?.integerValue, size >= 0, let root = value["root"]?.stringValue.flatMap(Hex.decode), root.count == 32 else {
                throw LedgerError(.corrupt, "witness state \(file.path): the entry for \(SafeText.quoted(origin)) is damaged")
            }
            let time = value["time"]?.integerValue.flatMap { Timestamp(secondsSinceEpoch: $0) }
            let seen = value["seen"]?.integerValue
            guard (value["time"] == nil) == (time == nil), seen.map({ $0 >= size }) ?? true else {
                throw LedgerError(.corrupt, "witness state \(file.path): the entry for \(SafeText.quoted(origin)) is damaged")
            }
            memory[origin] = WitnessMemory(checkpoint: Checkpoint(origin: origin, size: size, root: root), time: time, seen: seen)
        }
        return memory
    }

    /// Writes the state durably: a temporary file, fsync, rename, fsync of the folder.
    static func writeState(_ memory: [String: WitnessMemory], to file: URL) throws {
        let json = JSONValue.object(memory.mapValues { item in
            var fields: [String: JSONValue] = ["size": .integer(item.checkpoint.size), "root": .string(Hex.encode(item.checkpoint.root))]
            if let time = item.time { fields["time"] = .integer(time.secondsSinceEpoch) }
            if let seen = item.seen { fields["seen"] = .integer(seen) }
            return .object(fields)
        })
        let bytes = Canonical.encode(json)
        let temporary = file.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LedgerError(.io, "cannot write witness state \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            written += count
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, file.path) == 0 else {
            unlink(temporary)
            throw LedgerError(.syncFailed, "cannot write witness state \(file.path) durably")
        }
        // The new name must reach the disk before the cosignature is given: a witness that
        // forgot what it cosigned could cosign a rollback.
        let folder = open(file.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0, fsync(folder) == 0 else {
            if folder >= 0 { close(folder) }
            throw LedgerError(.syncFailed, "cannot fsync the folder of witness state \(file.path); no cosignature was made")
        }
        close(folder)
    }
}

extension FundState {
    /// The name `key` cosigns under in this fund: a named witness's, or a delegate's when
    /// the delegates are the witnesses; nil when it is neither.
    public func cosignerName(_ key: AnyPrivateKey) -> String? {
        guard let policy = witnesses else { return nil }
        let cosigners = policy.effective(self).cosigners
        switch key {
        case .ecdsa(let key): return cosigners.first { $0.key == .ecdsa(key.publicKey) }?.name
        case .ed25519(let key): return cosigners.first { $0.key == .ed25519(key.publicKey) }?.name
        }
    }
}
