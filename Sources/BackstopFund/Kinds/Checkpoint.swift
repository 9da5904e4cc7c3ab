import BackstopCrypto
import BackstopLedger

/// Records a checkpoint of an earlier prefix of the ledger, cosigned by the fund's
/// witnesses: it pins that history, and its cosignatures' times are the fund's witnessed
/// time. No entry signature: the cosignatures inside authorise it, and anyone (the host) may
/// submit it.
public struct CheckpointPayload: KindRules {
    /// The kind.
    public static let kind = EntryKind.checkpoint
    /// The checkpoint's tree size: how many entries it covers.
    public let size: Int64
    /// The root of those entries.
    public let root: [UInt8]
    /// The signature lines of the checkpoint note.
    public let signatures: [SignedNote.Signature]
    /// A consistency proof from `size` to the ledger's size just before this entry.
    public let proof: [[UInt8]]

    /// A checkpoint entry.
    public init(size: Int64, root: [UInt8], signatures: [SignedNote.Signature], proof: [[UInt8]]) {
        self.size = size
        self.root = root
        self.signatures = signatures
        self.proof = proof
    }

    init(reading r: inout FieldReader) throws(FundError) {
        size = try r.integer("size", in: 1...JSONValue.maximumInteger)
        guard let rootText = r.value("root")?.stringValue, FieldReader.isHash(rootText) else { throw r.invalid("root", "64 lowercase hex digits") }
        root = Hex.decode(rootText)!
        var signatures: [SignedNote.Signature] = []
        for (index, item) in try r.array("signatures", count: 1...SignedNote.maximumSignatures).enumerated() {
            signatures.append(try readObject(item, context: "checkpoint signature \(index + 1)") { (s: inout FieldReader) throws(FundError) in
                guard let name = s.value("name")?.stringValue, Cosigner.isName(name) else { throw s.invalid("name", "a key name: visible ASCII, no space or +") }
                guard let text = s.value("signature")?.stringValue, let bytes = Base64.decode(text), bytes.count > 4, bytes.count <= 8_192 else {
                    throw s.invalid("signature", "base64 of a key ID and a signature")
                }
                return SignedNote.Signature(name: name, keyID: Array(bytes.prefix(4)), bytes: Array(bytes.dropFirst(4)))
            })
        }
        self.signatures = signatures
        var proof: [[UInt8]] = []
        for item in try r.array("proof", count: 0...63) {
            guard let text = item.stringValue, FieldReader.isHash(text) else { throw r.invalid("proof", "hashes in hex") }
            proof.append(Hex.decode(text)!)
        }
        self.proof = proof
    }

    /// The fields as the payload writes them.
    public var fields: [String: JSONValue] {
        ["size": .integer(size), "root": .string(Hex.encode(root)), "proof": .array(proof.map { .string(Hex.encode($0)) }),
         "signatures": .array(signatures.map { ["name": .string($0.name), "signature": .string(Base64.encode($0.keyID + $0.bytes))] })]
    }

    /// The checkpoint of the fund `fundId`.
    public func checkpoint(fundId: [UInt8]) -> Checkpoint {
        Checkpoint(origin: Fund.origin(fundId), size: size, root: root)
    }

    func describe(_ screen: inout Screen) {
        screen.line("covers", "entries 0 to \(size - 1)")
        screen.line("root", Hex.encode(root))
        for signature in signatures { screen.line("signed by", SafeText.escape(signature.name)) }
    }

    func summary(in state: FundState, _ entry: RuleContext) -> String {
        let text = checkpoint(fundId: state.fundId).text
        let cosigned = (try? Cosignatures(signatures, text: text, policy: state.witnesses ?? .delegates, state: state))
        let times = cosigned?.times.sorted { $0.key < $1.key }.map { "\(SafeText.escape($0.key)) at \(Timestamp(secondsSinceEpoch: $0.value)?.description ?? "?")" } ?? []
        return "checkpoint of \(size) entries, root \(Hex.encode(root).prefix(16))…, cosigned by \(times.joined(separator: ", "))"
    }

    func idScope(_ header: PayloadHeader) -> String { "checkpoints" }

    func signers(in state: FundState) throws(FundError) -> SignerPolicy { SignerPolicy(action: "a checkpoint", groups: []) }

    /// The checks, and what the cosignatures establish.
    func cosignatures(in state: FundState, _ entry: RuleContext) throws(FundError) -> Cosignatures {
        guard let policy = state.witnesses else {
            throw FundError(.invalidParameter, "this fund names no witnesses (its genesis predates them); adopt them with a policy entry first")
        }
        guard size > state.checkpointSize else {
            throw FundError(.checkpointMismatch, "checkpoint of \(size) entries is not after the last recorded one, of \(state.checkpointSize)")
        }
        guard size <= state.entryCount else {
            throw FundError(.checkpointMismatch, "checkpoint of \(size) entries, but the ledger has \(state.entryCount) before this entry")
        }
        guard Merkle.verifyConsistency(old: size, new: state.entryCount, oldRoot: root, newRoot: state.frontier.root, proof: proof) else {
            throw FundError(.checkpointMismatch, "the checkpoint's root is not the root of the ledger's first \(size) entries (its consistency proof to \(state.entryCount) entries fails)")
        }
        let cosigned = try Cosignatures(signatures, text: checkpoint(fundId: state.fundId).text, policy: policy, state: state)
        guard cosigned.sealed else {
            let names = cosigned.times.keys.sorted().map { SafeText.escape($0) }
            throw FundError(.quorum, "a checkpoint needs \(cosigned.quorum) cosignatures of the fund's witnesses, found \(cosigned.times.count)\(names.isEmpty ? "" : " (\(names.joined(separator: ", ")))")\(cosigned.unknown > 0 ? "; \(cosigned.unknown) by other keys, ignored" : "")")
        }
        for (name, time) in cosigned.times.sorted(by: { $0.key < $1.key }) {
            if let earlier = state.witnessTimes[name], time < earlier {
                throw FundError(.timeBackwards, "witness \(SafeText.escape(name)) cosigns at \(time), before its earlier cosignature at \(earlier)")
            }
        }
        // No covered entry may claim a time after the witnesses had seen it.
        if let seenBy = cosigned.seenBy, let last = state.entryTime(seq: size - 1),
           last.secondsSinceEpoch > seenBy + FundLimits.clockToleranceSeconds {
            throw FundError(.timeAhead, "entry \(size - 1) is stamped \(last), later than the witnesses saw it (\(Timestamp(secondsSinceEpoch: seenBy)!)) by more than \(Words.duration(FundLimits.clockToleranceSeconds))")
        }
        return cosigned
    }

    func check(in state: FundState, _ entry: RuleContext) throws(FundError) {
        _ = try cosignatures(in: state, entry)
    }

    func apply(to state: inout FundState, _ entry: RuleContext) {
        guard let cosigned = try? cosignatures(in: state, entry), let seenBy = cosigned.seenBy, let reached = cosigned.reached else {
            preconditionFailure("a checked checkpoint no longer checks")
        }
        state.recordCheckpoint(size: size, seenBy: seenBy, reached: reached, times: cosigned.times)
    }
}
