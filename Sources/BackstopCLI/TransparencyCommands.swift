import ArgumentParser
import BackstopCrypto
import BackstopFund
import BackstopLedger
import Foundation

/// Reads a checkpoint note file.
func readNote(_ path: String) throws -> (SignedNote, Checkpoint) {
    let text = try Files.readText(path, what: "checkpoint file")
    do {
        let note = try SignedNote(parsing: text)
        return (note, try Checkpoint(text: note.text))
    } catch let error as LedgerError {
        throw CLIError.badInput("checkpoint file \(SafeText.escape(path)): \(error.reason)")
    }
}

/// Writes `text` to `path` through a temporary file, replacing it.
func replaceFile(_ path: String, _ text: String) throws {
    let temporary = path + ".tmp"
    try? FileManager.default.removeItem(atPath: temporary)
    try Files.writeNew(temporary, Array(text.utf8), mode: 0o644, what: "file")
    guard rename(temporary, path) == 0 else { throw CLIError(message: "cannot replace \(SafeText.escape(path))", exitCode: 4) }
}

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Draft the checkpoint of the ledger as it is, for the witnesses to cosign (backstop cosign), then record it (backstop submit --checkpoint).",
        discussion: """
            Example: backstop checkpoint --ledger fund/ --out checkpoint.txt
            The file is a C2SP checkpoint (origin backstop/<fund id>, size, root) as a signed note. \
            With --key, a delegate also signs it as the log (signed-note type 0x02 for P-256), \
            which witnesses of the C2SP network require before they cosign.
            """
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "Where to write the checkpoint (must not exist).")
    var out: String

    @Option(help: "A delegate's key, to sign the checkpoint as the log.")
    var key: String?

    @Option(help: "Passphrase file for an encrypted --key.")
    var passphraseFile: String?

    func run() throws {
        let folder = try options.url()
        let state = try readFund(folder)
        // The root of the entries just verified: no cache is involved.
        let checkpoint = Checkpoint(origin: Fund.origin(state.fundId), size: state.entryCount, root: state.frontier.root)
        var note = SignedNote(text: checkpoint.text)
        if let key {
            let privateKey = try Files.privateKey(key, passphraseFile: passphraseFile)
            guard let name = state.delegateName(privateKey.publicKey) else { throw CLIError.refused("--key is not a delegate's key; only a delegate signs a checkpoint as the log") }
            note = note.adding(try privateKey.noteSignature(name: checkpoint.origin, text: note.text))
            print("signed as the log by \(name)")
        }
        try Files.writeNew(out, Array(note.rendered.utf8), mode: 0o644, what: "checkpoint file")
        print("wrote \(out): checkpoint of \(checkpoint.size) entries, root \(Base64.encode(checkpoint.root))")
        print("witnesses (\(state.witnesses?.words(state) ?? "none named")) cosign it with: backstop cosign --ledger DIR --key KEY --state FILE --checkpoint \(out)")
    }
}

struct CosignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cosign",
        abstract: "As a witness: verify the ledger up to a checkpoint and cosign it, if it is consistent with every checkpoint this key cosigned before.",
        discussion: """
            Example: backstop cosign --ledger copy-of-fund/ --key witness.key.pem --state witness-state.json --checkpoint checkpoint.txt
            The witness verifies every entry and rule of its copy of the ledger, checks that the \
            checkpoint's root is the root of that many entries, and checks consistency with the \
            last checkpoint it cosigned for this fund (kept in --state). It then appends its \
            timestamped cosignature line to the checkpoint file (C2SP tlog-cosignature: Ed25519 \
            keys as cosignature/v1, ECDSA keys as Backstop's ECDSA cosignature). A smaller or \
            inconsistent checkpoint is refused with the evidence: both checkpoints and the \
            consistency proof that fails.
            """
    )

    @OptionGroup var options: LedgerOptions

    @Option(help: "The witness's private key (Ed25519 or ECDSA, PKCS#8 PEM).")
    var key: String

    @Option(help: "Passphrase file for an encrypted key.")
    var passphraseFile: String?

    @Option(help: "The witness's state file (made if missing): the last checkpoint it cosigned per fund.")
    var state: String

    @Option(help: "The checkpoint file; the cosignature line is added to it.")
    var checkpoint: String

    @Option(help: "The witness's key name (default: the name the fund gives this key).")
    var name: String?

    func run() throws {
        let folder = try options.url()
        let (note, _) = try readNote(checkpoint)
        let privateKey = try Files.anyPrivateKey(key, passphraseFile: passphraseFile)
        let fund = try readFund(folder)
        guard let name = name ?? fund.cosignerName(privateKey) else {
            throw CLIError.refused("this key is not one of the fund's witnesses (\(fund.witnesses?.words(fund) ?? "it names none")); give --name to cosign anyway")
        }
        let witness = Witness(key: privateKey, name: name, stateFile: URL(fileURLWithPath: state))
        do {
            let cosigned = try witness.cosign(note, ledger: folder, time: try options.writeTime())
            try replaceFile(checkpoint, cosigned.rendered)
            print("cosigned as \(SafeText.escape(name)) at \(try options.writeTime()); \(cosigned.signatures.count) signature(s) in \(checkpoint)")
        } catch let refusal as CosignRefusal {
            print(refusal.description)
            throw CLIError.refused("refused to cosign: \(refusal.reason)")
        }
    }
}

struct ProveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prove",
        abstract: "Write an inclusion or consistency proof, from the ledger's Merkle tiles.",
        subcommands: [Inclusion.self, Consistency.self]
    )

    struct Inclusion: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove that entry N is in a checkpoint: a C2SP tlog-proof with the entry in its extra line.",
            discussion: "Example: backstop prove inclusion --ledger fund/ --seq 7 --checkpoint checkpoint.txt --out entry-7.tlog-proof"
        )
        @OptionGroup var options: LedgerOptions
        @Option(help: "The entry's sequence number.") var seq: Int64
        @Option(help: "A cosigned checkpoint that covers it.") var checkpoint: String
        @Option(help: "Where to write the proof (default: standard output).") var out: String?

        func run() throws {
            let folder = try options.url()
            let (note, point) = try readNote(checkpoint)
            guard seq >= 0, seq < point.size else { throw CLIError.badInput("--seq \(seq): the checkpoint covers entries 0 to \(point.size - 1)") }
            let line = try LedgerScan.line(file: folder.appendingPathComponent(LedgerStore.ledgerFileName), seq: seq)
            let leaf = try Entry.hash(line: line)
            var proof = try Merkle.inclusionProof(index: seq, size: point.size, subtree: try MerkleTiles.forReading(ledger: folder, size: point.size).subtree)
            if !Merkle.verifyInclusion(leaf: leaf, index: seq, size: point.size, proof: proof, root: point.root) {
                // Before blaming the ledger, rule out a damaged tiles cache: the proof again from the lines.
                proof = try Merkle.inclusionProof(index: seq, size: point.size, subtree: try MerkleTiles.forReading(ledger: folder, size: point.size, useCache: false).subtree)
                if Merkle.verifyInclusion(leaf: leaf, index: seq, size: point.size, proof: proof, root: point.root) {
                    MerkleTiles.markStale(ledger: folder)
                    warn("the Merkle tiles in \(SafeText.escape(folder.path))/tlog are damaged; the proof was made from the ledger itself, and the tiles are rebuilt when the ledger is next opened for writing.")
                }
            }
            guard Merkle.verifyInclusion(leaf: leaf, index: seq, size: point.size, proof: proof, root: point.root) else {
                throw CLIError.refused("this ledger's entry \(seq) is not in the checkpoint: the ledger is not the one it was made of (rewritten, rolled back or forked)")
            }
            let text = "c2sp.org/tlog-proof@v1\nextra \(Base64.encode(line))\nindex \(seq)\n" + proof.map { Base64.encode($0) + "\n" }.joined() + "\n" + note.rendered
            if let out { try Files.writeNew(out, Array(text.utf8), mode: 0o644, what: "proof file"); print("wrote \(out)") } else { print(text, terminator: "") }
        }
    }

    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Prove that a newer checkpoint extends an older one (JSON: both checkpoints and the RFC 9162 proof).",
            discussion: "Example: backstop prove consistency --ledger fund/ --from old.txt --to new.txt --out old-to-new.json"
        )
        @OptionGroup var options: LedgerOptions
        @Option(help: "The older checkpoint.") var from: String
        @Option(help: "The newer checkpoint.") var to: String
        @Option(help: "Where to write the proof (default: standard output).") var out: String?

        func run() throws {
            let folder = try options.url()
            let (oldNote, old) = try readNote(from)
            let (newNote, new) = try readNote(to)
            guard old.size <= new.size else { throw CLIError.badInput("--from covers \(old.size) entries, more than --to's \(new.size)") }
            var proof = try Merkle.consistencyProof(old: old.size, new: new.size, subtree: try MerkleTiles.forReading(ledger: folder, size: new.size).subtree)
            if !Merkle.verifyConsistency(old: old.size, new: new.size, oldRoot: old.root, newRoot: new.root, proof: proof) {
                proof = try Merkle.consistencyProof(old: old.size, new: new.size, subtree: try MerkleTiles.forReading(ledger: folder, size: new.size, useCache: false).subtree)
                if Merkle.verifyConsistency(old: old.size, new: new.size, oldRoot: old.root, newRoot: new.root, proof: proof) {
                    MerkleTiles.markStale(ledger: folder)
                    warn("the Merkle tiles in \(SafeText.escape(folder.path))/tlog are damaged; the proof was made from the ledger itself, and the tiles are rebuilt when the ledger is next opened for writing.")
                }
            }
            guard Merkle.verifyConsistency(old: old.size, new: new.size, oldRoot: old.root, newRoot: new.root, proof: proof) else {
                throw CLIError.refused("the two checkpoints are not consistent with this ledger: one of them is of another history")
            }
            let json: JSONValue = ["format": "backstop/consistency-proof/v1", "from": .string(oldNote.rendered), "to": .string(newNote.rendered),
                                   "proof": .array(proof.map { .string(Base64.encode($0)) })]
            let text = String(decoding: Canonical.encode(json), as: UTF8.self) + "\n"
            if let out { try Files.writeNew(out, Array(text.utf8), mode: 0o644, what: "proof file"); print("wrote \(out)") } else { print(text, terminator: "") }
        }
    }
}

struct CheckProofCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-proof",
        abstract: "Verify an inclusion or consistency proof against its checkpoints and the witnesses' keys, without the ledger.",
        discussion: """
            Example: backstop check-proof --proof entry-7.tlog-proof --witness witness.example/w1=w1.pub.pem --witness ... --quorum 2 --fund-id 3f6a...
            A witness is NAME=KEY.pem (Ed25519 or ECDSA); a delegate acting as a witness may be \
            given as KEY.pem alone. Exit 0 when the proof holds and each checkpoint is cosigned \
            by at least --quorum of the witnesses given; 1 when not.
            """
    )

    @Option(help: "The proof file (.tlog-proof for inclusion, JSON for consistency).") var proof: String
    @Option(help: "A witness as NAME=PUBLIC-KEY.pem, or a delegate's PUBLIC-KEY.pem (repeat).") var witness: [String] = []
    @Option(help: "How many of the witnesses must have cosigned each checkpoint.") var quorum: Int
    @Option(help: "The fund id (hash of entry 0, in hex) the checkpoints must be for: witnesses may cosign other logs too.") var fundId: String

    /// Large enough for a proof of a 1 MiB entry and a note with every signature allowed.
    static let maximumProofBytes = 4 << 20

    func run() throws {
        guard fundId.utf8.count == 64, fundId.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw CLIError.badInput("--fund-id \(SafeText.quoted(fundId)): expected 64 lowercase hex digits")
        }
        let cosigners = try witness.map(parseWitness)
        guard !cosigners.isEmpty, (1...cosigners.count).contains(quorum) else { throw CLIError.badInput("give the witnesses (--witness) and a --quorum from 1 to their number") }
        let text = try Files.readText(proof, what: "proof file", limit: Self.maximumProofBytes)
        if text.hasPrefix("c2sp.org/tlog-proof@v1\n") {
            let (entryLine, index, path, note) = try parseInclusion(text)
            let point = try sealed(note, cosigners)
            let entry = try Entry.decode(line: entryLine, expectedSeq: index)
            guard Merkle.verifyInclusion(leaf: try Entry.hash(line: entryLine), index: index, size: point.size, proof: path, root: point.root) else {
                throw CLIError.refused("the proof does not hold: entry \(index) is not in the checkpoint")
            }
            print("holds: entry \(index) (\(SafeText.escape(entry.kind)), \(entry.time)) is in the checkpoint of \(point.size) entries of \(SafeText.escape(point.origin))")
        } else {
            guard case .object(let fields)? = try? JSONParser.parse(Array(text.utf8)), fields["format"]?.stringValue == "backstop/consistency-proof/v1",
                  let from = fields["from"]?.stringValue, let to = fields["to"]?.stringValue, let hashes = fields["proof"]?.arrayValue
            else { throw CLIError.badInput("\(SafeText.escape(proof)) is neither a tlog-proof nor a Backstop consistency proof") }
            guard hashes.count <= 128 else { throw CLIError.badInput("the proof has \(hashes.count) hashes; a consistency proof has at most 128") }
            let path = try hashes.map { value -> [UInt8] in
                guard let hash = value.stringValue.flatMap(Base64.decode), hash.count == 32 else { throw CLIError.badInput("the proof holds a hash that is not base64 of 32 bytes") }
                return hash
            }
            let old = try sealed(try note(from), cosigners), new = try sealed(try note(to), cosigners)
            guard Identifiers.same(old.origin, new.origin) else { throw CLIError.refused("the checkpoints are of two different logs") }
            guard Merkle.verifyConsistency(old: old.size, new: new.size, oldRoot: old.root, newRoot: new.root, proof: path) else {
                throw CLIError.refused("the proof does not hold: the checkpoint of \(new.size) entries does not extend the one of \(old.size)")
            }
            print("holds: the checkpoint of \(new.size) entries extends the one of \(old.size) entries of \(SafeText.escape(new.origin))")
        }
    }

    /// A canonical decimal: digits only, no leading zero (but "0"), within Int64.
    static func decimal(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), text == "0" || !text.hasPrefix("0") else { return nil }
        return Int64(text)
    }

    private func note(_ text: String) throws -> SignedNote {
        do { return try SignedNote(parsing: text) } catch let error as LedgerError { throw CLIError.badInput("a checkpoint in the proof: \(error.reason)") }
    }

    /// The checkpoint of `note`, after checking that a quorum of `cosigners` cosigned it.
    private func sealed(_ note: SignedNote, _ cosigners: [Cosigner]) throws -> Checkpoint {
        let point: Checkpoint
        do { point = try Checkpoint(text: note.text) } catch let error as LedgerError { throw CLIError.badInput(error.reason) }
        if !Identifiers.same(point.origin, "backstop/" + fundId) {
            throw CLIError.refused("the checkpoint is for \(SafeText.quoted(point.origin)), not fund \(fundId)")
        }
        var cosigned: [String] = []
        for signature in note.signatures {
            guard let cosigner = cosigners.first(where: { Identifiers.same($0.name, signature.name) && $0.noteKey.keyID == signature.keyID }) else { continue }
            guard let time = cosigner.noteKey.verify(signature, text: note.text) else {
                throw CLIError.refused("the cosignature of \(SafeText.escape(cosigner.name)) on the checkpoint of \(point.size) entries does not verify")
            }
            if !cosigned.contains(cosigner.name) {
                cosigned.append(cosigner.name)
                print("checkpoint of \(point.size) entries cosigned by \(SafeText.escape(cosigner.name)) at \(Timestamp(secondsSinceEpoch: time)?.description ?? String(time))")
            }
        }
        guard cosigned.count >= quorum else {
            throw CLIError.refused("the checkpoint of \(point.size) entries is cosigned by \(cosigned.count) of the witnesses given, fewer than --quorum \(quorum)")
        }
        return point
    }

    private func parseInclusion(_ text: String) throws -> ([UInt8], Int64, [[UInt8]], SignedNote) {
        let parts = text.components(separatedBy: "\n\n")
        guard parts.count >= 2 else { throw CLIError.badInput("the tlog-proof has no checkpoint after its proof") }
        let lines = parts[0].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, lines[1].hasPrefix("extra "), let entryLine = Base64.decode(String(lines[1].dropFirst(6))),
              lines[2].hasPrefix("index "), let index = Self.decimal(lines[2].dropFirst(6))
        else { throw CLIError.badInput("the tlog-proof must have an extra line (the entry) and an index line (a decimal number without sign or leading zeros)") }
        guard lines.count - 3 <= 63 else { throw CLIError.badInput("the tlog-proof has \(lines.count - 3) proof lines; an inclusion proof has at most 63") }
        let path = try lines.dropFirst(3).map { line -> [UInt8] in
            guard let hash = Base64.decode(line), hash.count == 32 else { throw CLIError.badInput("the tlog-proof holds a proof line that is not base64 of 32 bytes") }
            return hash
        }
        return (entryLine, index, path, try note(parts.dropFirst().joined(separator: "\n\n")))
    }
}

/// Ends a mirror's copy pass at the last verified entry.

/// `NAME=KEY.pem` (Ed25519 or ECDSA) or a delegate's `KEY.pem`, as a cosigner.
func parseWitness(_ item: String) throws -> Cosigner {
    let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
    let path = parts.last!
    let pem = try Files.readText(path, what: "witness key file")
    if let key = try? Ed25519PublicKey(pemRepresentation: pem) {
        guard parts.count == 2 else { throw CLIError.badInput("--witness \(SafeText.escape(item)): an Ed25519 witness needs its name, NAME=KEY.pem") }
        return Cosigner(name: parts[0], key: .ed25519(key))
    }
    let key = try Files.publicKey(path)
    return Cosigner(name: parts.count == 2 ? parts[0] : Cosigner.delegateName(key), key: .ecdsa(key))
}

struct MirrorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mirror",
        abstract: "Copy a ledger's new entries to a mirror, after verifying them; refuse a source that is not an extension of the mirror.",
        discussion: """
            Example: backstop mirror --from fund/ --to mirror/
            Either side may be a folder or a database URL (postgres://USER@HOST:PORT/DB); the \
            source may also be a service (http://HOST:PORT of backstop serve). The \
            source is verified whole (every entry, rule and recorded checkpoint). The mirror \
            must be a prefix of it: otherwise the first entry where they differ is reported, and \
            the mirror is left as it was. New entries are appended to the mirror with their exact \
            bytes, each checked to be the entry verified.
            """
    )

    @Option(help: "The ledger to copy from (a folder, a database URL, or a backstop serve URL such as http://127.0.0.1:8080).") var from: String
    @Option(help: "The mirror (a folder, made if missing, or a database URL).") var to: String
    @OptionGroup var waiting: WaitOptions

    func run() throws {
        try copyLedger(from: from, to: to, wait: waiting.wait, verb: "mirrored")
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a database ledger's verified entries to a folder: a ledger.jsonl byte for byte what the file store would hold.",
        discussion: """
            Example: backstop export --ledger postgres://backstop@db.example:5432/fund --to audit/
            The database ledger is verified whole first; an existing folder must hold a prefix \
            of it and gets the new entries (as mirror does). Auditors then run backstop verify \
            on the folder.
            """
    )

    @OptionGroup var options: LedgerOptions
    @Option(help: "The folder to write (made if missing).") var to: String
    @OptionGroup var waiting: WaitOptions

    func run() throws {
        guard !StoreOpeners.isStoreURL(to) else { throw CLIError.badInput("--to names a folder; to copy between databases use backstop mirror") }
        try copyLedger(from: options.ledger, to: to, wait: waiting.wait, verb: "exported")
    }
}

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a verified folder ledger into a database (creating its table if missing).",
        discussion: """
            Example: backstop import --from fund/ --ledger postgres://backstop@db.example:5432/fund
            The folder is verified whole first; the database must be empty for this fund or \
            hold a prefix of it, and gets the new entries, with their exact bytes.
            """
    )

    @Option(help: "The folder ledger to load.") var from: String
    @OptionGroup var options: LedgerOptions
    @OptionGroup var waiting: WaitOptions

    func run() throws {
        guard StoreOpeners.isStoreURL(options.ledger) else { throw CLIError.badInput("--ledger names the database to load into, postgres://USER@HOST:PORT/DB; to copy between folders use backstop mirror") }
        try copyLedger(from: from, to: options.ledger, wait: waiting.wait, verb: "imported")
    }
}

/// Copies the verified entries of the ledger `from` that the ledger `to` lacks, after
/// checking that `to` holds a prefix of `from`: mirror, export and import, for any stores.
func copyLedger(from: String, to: String, wait: Double, verb: String) throws {
    let sourceLocation: LedgerLocation
    let source: any LedgerStorage
    if HTTPClient.isServiceURL(from) {
        // A service: read over HTTP and verified here like any other source.
        let ledger = HTTPLedger(url: from)
        source = ledger
        sourceLocation = .service(ledger.location)
    } else {
        sourceLocation = try LedgerLocation(from)
        switch sourceLocation {
        case .folder(let folder): source = try FolderReader(directory: folder)
        case .store, .service: source = try sourceLocation.openForReading()
        }
    }
    defer { source.close() }
    guard try source.storedHead().count > 0 else { throw CLIError.badInput("no ledger in \(SafeText.escape(sourceLocation.display)) (it holds no entries)") }
    // A new folder is made only once the source is verified: a refused copy leaves nothing.
    var target: (any LedgerStorage)? = nil
    var newFolder: URL? = nil
    let targetLocation = try LedgerLocation(to)
    switch targetLocation {
    case .folder(let folder):
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent(LedgerStore.ledgerFileName).path) {
            target = try LedgerStore.open(at: folder, verifySignatures: true, lockWaitSeconds: wait)
        } else {
            newFolder = folder
        }
    case .store(let text, let opener):
        target = try opener.open(text, forWriting: true, create: true, lockWaitSeconds: wait)
    case .service(let url):
        throw CLIError.badInput("--to \(SafeText.escape(url)) is a service: its ledger is written through its API, not mirrored into")
    }
    defer { target?.close() }
    let held = try target?.storedHead() ?? .empty
    // The source verified whole, keeping the hashes of the verified entries from the
    // mirror's head on: only those exact entries are copied.
    let base = max(held.count - 1, 0)
    var verified: [[UInt8]] = []
    let state = try replaying(sourceLocation.display) {
        try Fund.verify(storage: source, applied: { entry, hash in if entry.seq >= base { verified.append(hash) } }).0
    }
    if let head = held.hash {
        guard held.count <= state.entryCount else {
            throw CLIError.refused("the source has \(state.entryCount) entries, fewer than the mirror's \(held.count): it was rolled back; the mirror is unchanged")
        }
        // The chain makes one hash enough: equal hashes at the mirror's head mean equal prefixes.
        if verified[0] != head {
            var fork: Int64 = 0
            while fork < held.count, let target, try source.line(fork) == target.line(fork) { fork += 1 }
            throw CLIError.refused("the source is not an extension of the mirror: they fork at entry \(fork); the mirror is unchanged")
        }
    }
    if let newFolder { target = try LedgerStore.create(at: newFolder) }
    guard let target else { throw CLIError.badInput("internal: no target") }
    var copied: Int64 = 0
    var next = held
    while next.count < state.entryCount {
        // Pages of 64 lines (at most 64 MiB): memory stays bounded whatever the entries hold.
        let lines = try source.lines(from: next.count, count: Int(min(state.entryCount - next.count, 64)))
        guard !lines.isEmpty else { break }
        var batch: [PreparedEntry] = []
        for (index, line) in lines.enumerated() {
            let seq = next.count + Int64(index)
            let hash = try Entry.hash(line: line)
            guard hash == verified[Int(seq - base)] else {
                throw CLIError.refused("the source changed while it was copied: entry \(seq) is not the one verified; \(copied) verified entries copied; run \(verb == "mirrored" ? "mirror" : "it") again")
            }
            // Verified above (chain, signatures, rules): the exact bytes are copied.
            batch.append(try PreparedEntry(signaturesVerified: try Entry.decode(line: line, expectedSeq: seq), line: line))
        }
        try target.append(batch, expecting: next)
        copied += Int64(batch.count)
        next = StoredHead(count: next.count + Int64(batch.count), hash: batch.last?.hash)
    }
    guard next.count == state.entryCount else {
        throw CLIError.refused("the source changed while it was copied: it now has fewer entries than were verified; \(copied) verified entries copied; run it again")
    }
    print("\(verb) \(copied) new entr\(copied == 1 ? "y" : "ies"); the \(verb == "mirrored" ? "mirror" : "copy") in \(targetLocation.display) holds \(state.entryCount), head \(Hex.encode(state.head))")
    if state.checkpointSize > 0 {
        print("latest recorded checkpoint: \(state.checkpointSize) entries, witnessed time \(state.witnessedTime?.description ?? "none")")
    }
}
