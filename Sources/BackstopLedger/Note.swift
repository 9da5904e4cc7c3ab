import BackstopCrypto

/// A C2SP signed note: a text ending in a newline, a blank line, then signature lines
/// `— <key name> base64(4-byte key ID || signature)`.
///
/// Parsing is strict: valid UTF-8, no control character but newline, the text separated
/// from the signatures by its last blank line, every signature line well formed and its
/// base64 canonical. A note may have no signature yet (a checkpoint drafted for cosigning).
public struct SignedNote: Sendable, Equatable {
    /// One signature line.
    public struct Signature: Sendable, Equatable {
        /// The key name.
        public let name: String
        /// The 4-byte key ID.
        public let keyID: [UInt8]
        /// The signature bytes after the key ID.
        public let bytes: [UInt8]

        /// A signature line's parts.
        public init(name: String, keyID: [UInt8], bytes: [UInt8]) {
            self.name = name
            self.keyID = keyID
            self.bytes = bytes
        }

        /// "— name base64\n".
        public var line: String { "\u{2014} \(name) \(Base64.encode(keyID + bytes))\n" }
    }

    /// The note text, ending in a newline: what signatures cover.
    public let text: String
    /// The signature lines, in order.
    public let signatures: [Signature]

    /// The most signature lines a note may carry.
    public static let maximumSignatures = 256
    /// The largest note accepted, in bytes.
    public static let maximumBytes = 256 * 1_024

    /// A note of `text` (ending in a newline) and `signatures`.
    public init(text: String, signatures: [Signature] = []) {
        self.text = text
        self.signatures = signatures
    }

    /// Reads a note.
    ///
    /// - Throws: ``LedgerError`` `.invalidEntry` saying what is wrong.
    public init(parsing note: String) throws {
        func invalid(_ why: String) -> LedgerError { LedgerError(.invalidEntry, "not a signed note: \(why)") }
        guard note.utf8.count <= Self.maximumBytes else { throw invalid("more than \(Self.maximumBytes) bytes") }
        guard note.unicodeScalars.allSatisfy({ $0.value >= 0x20 || $0 == "\n" }) else { throw invalid("it holds a control character") }
        guard note.hasSuffix("\n") else { throw invalid("it does not end in a newline") }
        // The text ends at the last blank line; a note with no signature has none.
        let bytes = Array(note.utf8)
        var split: Int? = nil
        var index = bytes.count - 1
        while index > 0 {
            if bytes[index] == 0x0A && bytes[index - 1] == 0x0A { split = index; break }
            index -= 1
        }
        guard let split else {
            text = note
            signatures = []
            return
        }
        text = String(decoding: bytes[..<split], as: UTF8.self)
        guard text.count > 0 else { throw invalid("the text is empty") }
        var found: [Signature] = []
        for line in String(decoding: bytes[(split + 1)...], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "\u{2014}", !parts[1].isEmpty, !parts[1].contains("+"),
                  let decoded = Base64.decode(String(parts[2])), decoded.count > 4
            else { throw invalid("a signature line is not \"— name base64\": \(String(line.prefix(80)))") }
            found.append(Signature(name: String(parts[1]), keyID: Array(decoded.prefix(4)), bytes: Array(decoded.dropFirst(4))))
        }
        guard found.count <= Self.maximumSignatures else { throw invalid("more than \(Self.maximumSignatures) signatures") }
        signatures = found
    }

    /// The note as a file holds it: the text, and when signed, a blank line and the lines.
    public var rendered: String {
        signatures.isEmpty ? text : text + "\n" + signatures.map(\.line).joined()
    }

    /// The note with `signature` added. A line by the same key (same name and key ID), such
    /// as an earlier cosignature by the same witness, is replaced: one line per key.
    public func adding(_ signature: Signature) -> SignedNote {
        let others = signatures.filter { !($0.name.utf8.elementsEqual(signature.name.utf8) && $0.keyID == signature.keyID) }
        return SignedNote(text: text, signatures: others + [signature])
    }
}

/// A C2SP tlog checkpoint: the origin (naming the log), the tree size and the root hash.
public struct Checkpoint: Sendable, Equatable {
    /// The log's name: `backstop/<fund id in hex>` for a fund.
    public let origin: String
    /// The number of entries the tree covers.
    public let size: Int64
    /// The RFC 9162 root of the first `size` entries.
    public let root: [UInt8]

    /// A checkpoint.
    public init(origin: String, size: Int64, root: [UInt8]) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    /// Reads a checkpoint note text: exactly the three lines (Backstop writes no extension lines).
    public init(text: String) throws {
        func invalid(_ why: String) -> LedgerError { LedgerError(.invalidEntry, "not a checkpoint: \(why)") }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 4, lines[3].isEmpty else { throw invalid("it must be three lines: origin, size, root") }
        guard !lines[0].isEmpty, !lines[0].contains(" "), !lines[0].contains("+") else { throw invalid("the origin is empty or holds a space or +") }
        guard let size = Int64(lines[1]), size >= 0, String(size) == lines[1] else { throw invalid("the size is not a decimal number without leading zeros") }
        guard let root = Base64.decode(String(lines[2])), root.count == 32 else { throw invalid("the root is not the base64 of 32 bytes") }
        self.init(origin: String(lines[0]), size: size, root: root)
    }

    /// The note text: origin, size and base64 root, each on its line.
    public var text: String { "\(origin)\n\(size)\n\(Base64.encode(root))\n" }
}

/// A key that signs notes, and how: the signature type decides the key ID and what is signed.
public enum NoteKey: Sendable, Hashable {
    /// An ECDSA P-256 log signature, signed-note type 0x02: DER ECDSA over SHA-256 of the
    /// text, key ID the first 4 bytes of SHA-256 of the SubjectPublicKeyInfo.
    case ecdsa(name: String, key: PublicKey)
    /// An Ed25519 witness cosignature, tlog-cosignature v1 (type 0x04): a big-endian u64
    /// time and an Ed25519 signature over "cosignature/v1\ntime T\n" and the text.
    case ed25519Cosigner(name: String, key: Ed25519PublicKey)
    /// Backstop's ECDSA witness cosignature (type 0xff with the identifier
    /// "backstop.cosignature-ecdsa"), so that a delegate's key can act as a witness: a u64
    /// time and a DER ECDSA signature over SHA-256 of the same message as cosignature/v1.
    case ecdsaCosigner(name: String, key: PublicKey)

    /// The name in the signature line.
    public var name: String {
        switch self {
        case .ecdsa(let name, _), .ed25519Cosigner(let name, _), .ecdsaCosigner(let name, _): name
        }
    }

    /// True for the timestamped kinds, whose signatures carry the witness's time.
    public var isCosigner: Bool { if case .ecdsa = self { false } else { true } }

    /// The 4-byte key ID.
    public var keyID: [UInt8] {
        let input: [UInt8]
        switch self {
        case .ecdsa(_, let key) where key.curve == .p256:
            input = key.derRepresentation
        case .ecdsa(let name, let key):
            input = Array(name.utf8) + [0x0A, 0xFF] + Array("backstop.ecdsa-secp256k1".utf8) + key.derRepresentation
        case .ed25519Cosigner(let name, let key):
            input = Array(name.utf8) + [0x0A, 0x04] + key.rawRepresentation
        case .ecdsaCosigner(let name, let key):
            input = Array(name.utf8) + [0x0A, 0xFF] + Array("backstop.cosignature-ecdsa".utf8) + key.derRepresentation
        }
        return Array(((try? SHA256.hash(input)) ?? []).prefix(4))
    }

    /// The message a cosignature at `time` signs: "cosignature/v1\ntime T\n" and the text.
    public static func cosignedMessage(_ text: String, time: Int64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n".utf8) + Array(text.utf8)
    }

    /// Checks `signature` over `text`. Returns nil when it does not verify; otherwise the
    /// witness time for a cosignature (seconds since the epoch), or 0 for a log signature.
    ///
    /// `policy` applies to ECDSA signatures: `.intake` (the default) accepts either S, as
    /// `openssl` makes them; `.strict`, for what a ledger stores, only the low-S form, so a
    /// stored checkpoint cannot be re-encoded (Ed25519 signatures have one form already).
    public func verify(_ signature: SignedNote.Signature, text: String, policy: ECDSASignature.Policy = .intake) -> Int64? {
        guard Identifiers.bytesEqual(signature.name, name), signature.keyID == keyID else { return nil }
        switch self {
        case .ecdsa(_, let key):
            guard let parsed = try? ECDSASignature(derRepresentation: signature.bytes, curve: key.curve, policy: policy) else { return nil }
            return key.isValidSignature(parsed, for: Array(text.utf8)) ? 0 : nil
        case .ed25519Cosigner(_, let key):
            guard signature.bytes.count == 72, let time = Self.time(signature.bytes) else { return nil }
            return key.isValidSignature(Array(signature.bytes.dropFirst(8)), for: Self.cosignedMessage(text, time: time)) ? time : nil
        case .ecdsaCosigner(_, let key):
            guard signature.bytes.count > 8, let time = Self.time(signature.bytes),
                  let parsed = try? ECDSASignature(derRepresentation: Array(signature.bytes.dropFirst(8)), curve: key.curve, policy: policy)
            else { return nil }
            return key.isValidSignature(parsed, for: Self.cosignedMessage(text, time: time)) ? time : nil
        }
    }

    /// `signature` with an ECDSA signature in its low-S form (the form a ledger stores);
    /// other signatures, and bytes that are not a DER signature, unchanged.
    public func lowS(_ signature: SignedNote.Signature) -> SignedNote.Signature {
        let curve: Curve, prefix: Int
        switch self {
        case .ecdsa(_, let key): (curve, prefix) = (key.curve, 0)
        case .ecdsaCosigner(_, let key): (curve, prefix) = (key.curve, 8)
        case .ed25519Cosigner: return signature
        }
        guard signature.bytes.count > prefix,
              let parsed = try? ECDSASignature(derRepresentation: Array(signature.bytes.dropFirst(prefix)), curve: curve, policy: .intake)
        else { return signature }
        return SignedNote.Signature(name: signature.name, keyID: signature.keyID, bytes: Array(signature.bytes.prefix(prefix)) + parsed.lowS.derRepresentation)
    }

    private static func time(_ bytes: [UInt8]) -> Int64? {
        let value = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return value <= UInt64(Int64.max) ? Int64(value) : nil
    }

    /// The big-endian u64 encoding of `time`.
    public static func timeBytes(_ time: Int64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: UInt64(time) >> (56 - 8 * $0)) }
    }
}

enum Identifiers {
    static func bytesEqual(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }
}

extension PrivateKey {
    /// A signed-note log signature (type 0x02 for P-256) over `text` under `name`.
    public func noteSignature(name: String, text: String) throws -> SignedNote.Signature {
        SignedNote.Signature(name: name, keyID: NoteKey.ecdsa(name: name, key: publicKey).keyID, bytes: try signature(for: Array(text.utf8)).derRepresentation)
    }

    /// A Backstop ECDSA cosignature of `text` at `time` under `name`.
    public func cosignature(name: String, text: String, time: Int64) throws -> SignedNote.Signature {
        let signature = try signature(for: NoteKey.cosignedMessage(text, time: time)).derRepresentation
        return SignedNote.Signature(name: name, keyID: NoteKey.ecdsaCosigner(name: name, key: publicKey).keyID, bytes: NoteKey.timeBytes(time) + signature)
    }
}

extension Ed25519PrivateKey {
    /// A tlog-cosignature v1 (Ed25519) of `text` at `time` under `name`.
    public func cosignature(name: String, text: String, time: Int64) throws -> SignedNote.Signature {
        let signature = try signature(for: NoteKey.cosignedMessage(text, time: time))
        return SignedNote.Signature(name: name, keyID: NoteKey.ed25519Cosigner(name: name, key: publicKey).keyID, bytes: NoteKey.timeBytes(time) + signature)
    }
}
