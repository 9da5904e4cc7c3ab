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

/// A witness: it cosigns a fund's checkpoint only after verifying the ledger up to it, and
/// only if it is consistent with every checkpoint it cosigned before, which it remembers
/// in a state file (the last one per origin).
public struct Witness {
    /// The witness's key.
    public let key: AnyPrivateKey
    /// Its key name.
    public let name: String
    /// The state file: `{"<origin>": {"size": n, "root": "<hex>"}}`, canonical JSON.
    public let stateFile: URL

    /// A witness with `key`, cosigning as `name`, remembering in `stateFile`.
    public init(key: AnyPrivateKey, name: String, stateFile: URL) {
        self.key = key
        self.name = name
        self.stateFile = stateFile
    }

    /// Verifies the ledger in `folder` (every entry, every rule), checks that `note`'s
    /// checkpoint is the ledger's at its size and consistent with the last checkpoint this
    /// witness cosigned for the fund, then cosigns it at `time` and remembers it.
    ///
    /// - Throws: ``CosignRefusal`` with the evidence for a rollback or a fork, or a
    ///   ``LedgerError`` / ``FundError`` when the ledger does not verify.
    public func cosign(_ note: SignedNote, ledger folder: URL, time: Timestamp) throws -> SignedNote {
        let checkpoint = try Checkpoint(text: note.text)
        let file = folder.appendingPathComponent(LedgerStore.ledgerFileName)
        let (state, scan) = try Fund.verify(file: file)
        guard Identifiers.same(checkpoint.origin, Fund.origin(state.fundId)) else {
            throw CosignRefusal(reason: "the checkpoint's origin \(SafeText.quoted(checkpoint.origin)) is not this ledger's fund (\(Fund.origin(state.fundId)))", cosigned: nil, offered: checkpoint, proof: [])
        }
        guard checkpoint.size <= scan.entryCount else {
            throw CosignRefusal(reason: "the checkpoint covers \(checkpoint.size) entries; the ledger has \(scan.entryCount)", cosigned: nil, offered: checkpoint, proof: [])
        }
        // From the ledger's own lines: a witness believes no cache.
        let tiles = try MerkleTiles.forReading(ledger: folder, size: scan.entryCount, useCache: false)
        guard try tiles.root(size: checkpoint.size) == checkpoint.root else {
            throw CosignRefusal(reason: "the checkpoint's root is not the root of this ledger's first \(checkpoint.size) entries", cosigned: nil, offered: checkpoint, proof: [])
        }
        // The state file is locked for the whole check-and-update, so that two cosignings
        // cannot both pass the check and one then roll the other back.
        let lock = open(stateFile.path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0, flock(lock, LOCK_EX) == 0 else { throw LedgerError(.io, "cannot lock \(stateFile.path).lock") }
        defer { close(lock) }
        var memory = try Self.readState(stateFile)
        if let last = memory[checkpoint.origin] {
            if last.size > checkpoint.size {
                throw CosignRefusal(reason: "rollback: it covers \(checkpoint.size) entries, fewer than the \(last.size) this witness cosigned", cosigned: last, offered: checkpoint, proof: [])
            }
            let proof = try Merkle.consistencyProof(old: last.size, new: checkpoint.size, subtree: tiles.subtree)
            guard Merkle.verifyConsistency(old: last.size, new: checkpoint.size, oldRoot: last.root, newRoot: checkpoint.root, proof: proof) else {
                throw CosignRefusal(reason: "fork: this ledger's first \(last.size) entries are not the ones this witness cosigned", cosigned: last, offered: checkpoint, proof: proof)
            }
        }
        let signature: SignedNote.Signature
        switch key {
        case .ecdsa(let key): signature = try key.cosignature(name: name, text: note.text, time: time.secondsSinceEpoch)
        case .ed25519(let key): signature = try key.cosignature(name: name, text: note.text, time: time.secondsSinceEpoch)
        }
        memory[checkpoint.origin] = checkpoint
        try Self.writeState(memory, to: stateFile)
        return note.adding(signature)
    }

    static func readState(_ file: URL) throws -> [String: Checkpoint] {
        guard let data = FileManager.default.contents(atPath: file.path) else { return [:] }
        guard case .object(let origins)? = try? JSONParser.parseCanonical([UInt8](data)) else {
            throw LedgerError(.corrupt, "witness state \(file.path) is not canonical JSON; it must not be edited by hand")
        }
        var memory: [String: Checkpoint] = [:]
        for (origin, value) in origins {
            guard let size = value["size"]?.integerValue, let root = value["root"]?.stringValue.flatMap(Hex.decode), root.count == 32 else {
                throw LedgerError(.corrupt, "witness state \(file.path): the entry for \(SafeText.quoted(origin)) is damaged")
            }
            memory[origin] = Checkpoint(origin: origin, size: size, root: root)
        }
        return memory
    }

    /// Writes the state durably: a temporary file, fsync, rename, fsync of the folder.
    static func writeState(_ memory: [String: Checkpoint], to file: URL) throws {
        let json = JSONValue.object(memory.mapValues { ["size": .integer($0.size), "root": .string(Hex.encode($0.root))] })
        let bytes = Canonical.encode(json)
        let temporary = file.path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LedgerError(.io, "cannot write witness state \(temporary)") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, file.path) == 0 else {
            unlink(temporary)
            throw LedgerError(.syncFailed, "cannot write witness state \(file.path) durably")
        }
        let folder = open(file.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { _ = fsync(folder); close(folder) }
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
