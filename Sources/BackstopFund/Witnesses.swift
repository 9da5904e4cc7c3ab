import BackstopCrypto
import BackstopLedger

/// A witness that cosigns the fund's checkpoints: its name (the key name of its signature
/// lines) and its key.
public struct Cosigner: Sendable, Hashable {
    /// The witness's key, and so its cosignature type.
    public enum Key: Sendable, Hashable {
        /// Ed25519: C2SP tlog-cosignature v1, as the public witness network cosigns.
        case ed25519(Ed25519PublicKey)
        /// ECDSA (P-256 or secp256k1): Backstop's ECDSA cosignature type.
        case ecdsa(PublicKey)
    }

    /// The key name: 1 to 100 visible ASCII characters, no space or `+`.
    public let name: String
    /// The key.
    public let key: Key

    /// A cosigner.
    public init(name: String, key: Key) {
        self.name = name
        self.key = key
    }

    /// How its signature lines are checked.
    public var noteKey: NoteKey {
        switch key {
        case .ed25519(let key): .ed25519Cosigner(name: name, key: key)
        case .ecdsa(let key): .ecdsaCosigner(name: name, key: key)
        }
    }

    /// The name a delegate's key cosigns under when the delegates are the witnesses.
    public static func delegateName(_ key: PublicKey) -> String { "delegate/\(key.fingerprint.prefix(16))" }

    static func isName(_ text: String) -> Bool {
        let bytes = text.utf8
        return (1...100).contains(bytes.count) && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != 0x2B }
    }
}

/// Who cosigns the fund's checkpoints, and how many must: the time rules rest on their
/// cosignatures.
public enum WitnessPolicy: Sendable, Hashable {
    /// The current delegates cosign with their keys (Backstop's ECDSA cosignature), and the
    /// delegate threshold of them is the quorum.
    case delegates
    /// Named witnesses, at least `quorum` of them.
    case cosigners([Cosigner], quorum: Int)

    /// The most witnesses a fund may name.
    public static let maximumCosigners = 64

    /// The cosigners and quorum in force with `state`'s delegates.
    public func effective(_ state: FundState) -> (cosigners: [Cosigner], quorum: Int) {
        switch self {
        case .delegates: (state.delegates.map { Cosigner(name: Cosigner.delegateName($0.key), key: .ecdsa($0.key)) }, state.threshold)
        case .cosigners(let cosigners, let quorum): (cosigners, quorum)
        }
    }

    /// The policy as payloads write it: `"delegates"`, or `{"quorum", "cosigners"}` with
    /// each cosigner `{"name", "type": "ed25519" | "ecdsa", "key": hex}` (the 32 raw bytes of
    /// an Ed25519 key, the SubjectPublicKeyInfo DER of an ECDSA key).
    public var json: JSONValue {
        switch self {
        case .delegates: return "delegates"
        case .cosigners(let cosigners, let quorum):
            return ["quorum": .integer(Int64(quorum)), "cosigners": .array(cosigners.map { cosigner in
                switch cosigner.key {
                case .ed25519(let key): ["name": .string(cosigner.name), "type": "ed25519", "key": .string(Hex.encode(key.rawRepresentation))]
                case .ecdsa(let key): ["name": .string(cosigner.name), "type": "ecdsa", "key": .string(Hex.encode(key.derRepresentation))]
                }
            })]
        }
    }

    /// Reads a policy.
    static func read(_ value: JSONValue, context: String) throws(FundError) -> WitnessPolicy {
        if let text = value.stringValue {
            guard Identifiers.same(text, "delegates") else { throw FundError(.malformedPayload, "\(context): witnesses must be \"delegates\" or an object") }
            return .delegates
        }
        return try readObject(value, context: "\(context) witnesses") { (w: inout FieldReader) throws(FundError) in
            var cosigners: [Cosigner] = []
            for (index, item) in try w.array("cosigners", count: 1...maximumCosigners).enumerated() {
                let cosigner = try readObject(item, context: "\(context) witness \(index + 1)") { (c: inout FieldReader) throws(FundError) in
                    guard let name = c.value("name")?.stringValue, Cosigner.isName(name) else {
                        throw c.invalid("name", "1 to 100 visible ASCII characters, no space or +")
                    }
                    guard let type = c.value("type")?.stringValue, let hex = c.value("key")?.stringValue, let bytes = Hex.decode(hex) else {
                        throw c.invalid("key", "a type (\"ed25519\" or \"ecdsa\") and a key in hex")
                    }
                    do {
                        if Identifiers.same(type, "ed25519") { return Cosigner(name: name, key: .ed25519(try Ed25519PublicKey(rawRepresentation: bytes))) }
                        if Identifiers.same(type, "ecdsa") {
                            let key = try PublicKey(derRepresentation: bytes)
                            guard key.derRepresentation == bytes else { throw CryptoError(.malformed, "not in canonical form (named curve, uncompressed point)") }
                            return Cosigner(name: name, key: .ecdsa(key))
                        }
                    } catch {
                        throw FundError(.malformedPayload, "\(context) witness \(index + 1): \(error)")
                    }
                    throw c.invalid("type", "\"ed25519\" or \"ecdsa\"")
                }
                guard !cosigners.contains(where: { Identifiers.same($0.name, cosigner.name) }) else {
                    throw FundError(.invalidParameter, "\(context): witness name \(cosigner.name) is listed twice")
                }
                guard !cosigners.contains(where: { $0.key == cosigner.key }) else {
                    throw FundError(.duplicateKey, "\(context): witness \(cosigner.name) repeats another witness's key")
                }
                cosigners.append(cosigner)
            }
            let quorum = Int(try w.integer("quorum", in: 1...Int64(cosigners.count)))
            return .cosigners(cosigners, quorum: quorum)
        }
    }

    /// "the delegates (the delegate threshold of them)" or "2 of: w1, w2, w3".
    public func words(_ state: FundState?) -> String {
        switch self {
        case .delegates:
            return "the delegates cosign, \(state.map { "\($0.threshold) of \($0.delegates.count)" } ?? "the delegate threshold of them") needed"
        case .cosigners(let cosigners, let quorum):
            return "\(quorum) of \(cosigners.count): " + cosigners.map { "\(SafeText.escape($0.name)) (\(Self.type($0.key)))" }.joined(separator: ", ")
        }
    }

    private static func type(_ key: Cosigner.Key) -> String {
        switch key {
        case .ed25519: "ed25519"
        case .ecdsa(let key): "ecdsa \(key.curve.rawValue)"
        }
    }
}

/// Valid cosignatures of a checkpoint by the fund's witnesses, each with its witness's time.
public struct Cosignatures: Sendable {
    /// Witness name to the time it cosigned (seconds since the epoch), one per witness.
    public let times: [String: Int64]
    /// Signature lines by keys that are not the fund's witnesses (ignored, as C2SP says).
    public let unknown: Int
    /// The quorum that applied.
    public let quorum: Int

    /// Checks `signatures` over the checkpoint `text` against the witnesses of `policy` in
    /// `state`. A line by a known witness that does not verify refuses the whole checkpoint
    /// (as C2SP recommends), as do two lines by one witness. ECDSA signatures must be in
    /// their low-S form (`Fund.submitCheckpoint` stores them so).
    public init(_ signatures: [SignedNote.Signature], text: String, policy: WitnessPolicy, state: FundState) throws(FundError) {
        let (cosigners, quorum) = policy.effective(state)
        var times: [String: Int64] = [:]
        var unknown = 0
        for signature in signatures {
            guard let cosigner = cosigners.first(where: { Identifiers.same($0.name, signature.name) && $0.noteKey.keyID == signature.keyID }) else {
                unknown += 1
                continue
            }
            guard let time = cosigner.noteKey.verify(signature, text: text, policy: .strict) else {
                let highS = cosigner.noteKey.verify(signature, text: text) != nil
                throw FundError(.unauthorizedSigner, highS
                    ? "the cosignature of witness \(SafeText.escape(cosigner.name)) is a high-S ECDSA signature; a ledger stores the low-S form"
                    : "the cosignature of witness \(SafeText.escape(cosigner.name)) does not verify over the checkpoint")
            }
            guard Timestamp(secondsSinceEpoch: time) != nil else {
                throw FundError(.invalidParameter, "witness \(SafeText.escape(cosigner.name)) gives the time \(time), outside years 1970 to 9999")
            }
            guard times[cosigner.name] == nil else { throw FundError(.duplicateKey, "witness \(SafeText.escape(cosigner.name)) cosigns twice") }
            times[cosigner.name] = time
        }
        self.times = times
        self.unknown = unknown
        self.quorum = quorum
    }

    /// True when at least the quorum of witnesses cosigned.
    public var sealed: Bool { times.count >= quorum }

    /// The latest time by which a quorum had seen the checkpoint: the quorum-th smallest
    /// witness time. With fewer lying witnesses than the quorum, an honest one saw it by then.
    public var seenBy: Int64? {
        guard sealed else { return nil }
        return times.values.sorted()[quorum - 1]
    }

    /// A time a quorum attests had come: the quorum-th largest witness time. With fewer
    /// lying witnesses than the quorum, an honest clock had reached it.
    public var reached: Int64? {
        guard sealed else { return nil }
        return times.values.sorted(by: >)[quorum - 1]
    }
}
