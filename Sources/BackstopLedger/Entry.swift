import BackstopCrypto
import Foundation

/// One signature in an entry: who signed (the public key) and the low-S signature.
public struct EntrySignature: Sendable, Hashable {
    /// The signer's public key.
    public let publicKey: PublicKey
    /// The signature over the canonical bytes of the entry's body, low-S.
    public let signature: ECDSASignature

    /// Pairs a key and a signature made with it; the signature is stored low-S.
    public init(publicKey: PublicKey, signature: ECDSASignature) {
        self.publicKey = publicKey
        self.signature = signature.lowS
    }
}

/// One entry of the ledger: a line of `ledger.jsonl`.
///
/// The body is the document that people signed; every signature is over its canonical
/// bytes (``signedBytes``), which are exactly the bytes of the payload file they signed.
/// `seq`, `prev`, `time` and `kind` are set by the host that appends, and are bound to the
/// chain by the next entry's `prev`.
public struct Entry: Sendable {
    /// Position in the ledger, dense from 0.
    public let seq: Int64
    /// Hash of the previous entry (32 zero bytes for entry 0).
    public let prev: [UInt8]
    /// When the host appended the entry; never earlier than the entry before.
    public let time: Timestamp
    /// What the entry records (`genesis`, `contribution`, ...), lowercase letters, digits and `-`.
    public let kind: String
    /// The signed document, a JSON object.
    public let body: JSONValue
    /// The signatures, sorted by public key (SubjectPublicKeyInfo DER bytes), no key twice.
    public let signatures: [EntrySignature]
    /// SHA-256 of ``signedBytes`` when it is already known (an entry read from a line hashes
    /// the body's bytes in the line instead of encoding the body again).
    package var signedDigest: [UInt8]? = nil

    /// The longest line accepted, in bytes (1 MiB).
    public static let maximumLineBytes = 1 << 20
    /// The most signatures one entry may carry.
    public static let maximumSignatures = 1_024
    /// The `prev` of entry 0.
    public static let genesisPrev = [UInt8](repeating: 0, count: 32)

    /// The bytes every signature of this entry signs: the canonical form of ``body``.
    public var signedBytes: [UInt8] { Canonical.encode(body) }

    /// The entry as a JSON object.
    public var json: JSONValue {
        .object([
            "seq": .integer(seq),
            "prev": .string(Hex.encode(prev)),
            "time": .string(time.description),
            "kind": .string(kind),
            "body": body,
            "signatures": .array(signatures.map {
                .object(["key": .string(Hex.encode($0.publicKey.derRepresentation)), "sig": .string(Hex.encode($0.signature.derRepresentation))])
            }),
        ])
    }

    /// The line stored for this entry, without its newline.
    public var line: [UInt8] { encoded().line }

    /// The line, and SHA-256 of the body's canonical bytes (what the signatures sign). The
    /// body is encoded once: it is the line's first member, so its bytes are in the line.
    package func encoded() -> (line: [UInt8], signedDigest: [UInt8]?) {
        var line = Array(#"{"body":"#.utf8)
        Canonical.write(body, into: &line)
        let bodyEnd = line.count
        line += Array(#","kind":"#.utf8)
        Canonical.write(.string(kind), into: &line)
        line += Array(#","prev":""#.utf8) + Array(Hex.encode(prev).utf8) + Array(#"","seq":"#.utf8) + Array(String(seq).utf8)
        line += Array(#","signatures":"#.utf8)
        Canonical.write(.array(signatures.map {
            .object(["key": .string(Hex.encode($0.publicKey.derRepresentation)), "sig": .string(Hex.encode($0.signature.derRepresentation))])
        }), into: &line)
        line += Array(#","time":""#.utf8) + Array(time.description.utf8) + Array(#""}"#.utf8)
        let digest = signatures.isEmpty ? nil : signedDigest ?? line.withUnsafeBytes { try? SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[8..<bodyEnd])) }
        return (line, digest)
    }

    /// Builds an entry, checking everything that does not need the previous entry.
    ///
    /// Signatures are sorted into their stored order; a key given twice is refused.
    public init(seq: Int64, prev: [UInt8], time: Timestamp, kind: String, body: JSONValue, signatures: [EntrySignature]) throws(LedgerError) {
        func invalid(_ reason: String) -> LedgerError { LedgerError(.invalidEntry, seq: seq, reason) }
        guard seq >= 0, seq <= JSONValue.maximumInteger else { throw invalid("seq \(seq) is out of range") }
        guard prev.count == 32 else { throw invalid("prev must be 32 bytes") }
        guard Self.isValidKind(kind) else { throw invalid("kind \"\(kind)\" must be 1 to 64 of a-z, 0-9 and '-', starting with a letter") }
        guard case .object = body else { throw invalid("body must be a JSON object") }
        guard signatures.count <= Self.maximumSignatures else {
            throw invalid("\(signatures.count) signatures; at most \(Self.maximumSignatures) per entry")
        }
        let sorted = signatures.sorted { $0.publicKey.derRepresentation.lexicographicallyPrecedes($1.publicKey.derRepresentation) }
        for (earlier, later) in zip(sorted, sorted.dropFirst()) where earlier.publicKey == later.publicKey {
            throw invalid("key \(later.publicKey.fingerprint) signs twice")
        }
        self.seq = seq
        self.prev = prev
        self.time = time
        self.kind = kind
        self.body = body
        self.signatures = sorted
    }

    /// True when every signature verifies over ``signedBytes``; otherwise the first that does not.
    public func firstInvalidSignature() -> EntrySignature? {
        guard !signatures.isEmpty else { return nil }
        // Every signature covers the same bytes: hash them once.
        guard let digest = signedDigest ?? (try? SHA256.hash(signedBytes)) else { return signatures.first }
        return signatures.first { !$0.publicKey.isValidSignature($0.signature, forDigest: digest) }
    }

    /// The index of the first signature in `range` that does not verify, or nil.
    func firstInvalidSignature(in range: Range<Int>) -> Int? {
        guard let digest = signedDigest ?? (try? SHA256.hash(signedBytes)) else { return range.lowerBound }
        return range.first { !signatures[$0].publicKey.isValidSignature(signatures[$0].signature, forDigest: digest) }
    }

    static func isValidKind(_ kind: String) -> Bool {
        let bytes = Array(kind.utf8)
        guard (1...64).contains(bytes.count), bytes[0] >= UInt8(ascii: "a"), bytes[0] <= UInt8(ascii: "z") else { return false }
        return bytes.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") }
    }
}

/// Public keys already parsed, by the hex of their SubjectPublicKeyInfo DER as a line holds
/// it: a ledger names the same delegate keys thousands of times, and parsing checks the
/// point each time. Only canonical encodings are kept, so a hit is a canonical key. Safe to
/// share between threads.
public final class KeyCache: @unchecked Sendable {
    /// Keyed by the last 16 hex digits (random bits of the point); each slot holds the full
    /// hex text too, compared byte for byte.
    private var keys: [UInt64: [(hex: String, key: PublicKey)]] = [:]
    private var count = 0
    private let lock = NSLock()

    /// An empty cache.
    public init() {}

    /// The key for `der`, parsed once.
    public func key(_ der: [UInt8]) throws -> PublicKey {
        try key(hex: Hex.encode(der)).key
    }

    /// The key whose DER is written as `hex`, and whether `hex` is its canonical encoding.
    func key(hex: String) throws -> (key: PublicKey, canonical: Bool) {
        let slot = Self.slot(hex)
        if let found = lock.withLock({ keys[slot]?.first { $0.hex.utf8.elementsEqual(hex.utf8) } }) { return (found.key, true) }
        guard let der = Hex.decode(hex) else { throw CryptoError(.malformed, "key is not hex") }
        let key = try PublicKey(derRepresentation: der)
        let canonical = key.derRepresentation == der
        if canonical {
            lock.withLock {
                if count < 100_000 { keys[slot, default: []].append((hex, key)); count += 1 }
            }
        }
        return (key, canonical)
    }

    private static func slot(_ hex: String) -> UInt64 {
        var value: UInt64 = 0
        for byte in hex.utf8.suffix(16) { value = value << 4 | UInt64(byte & 0x0F) ^ UInt64(byte >> 6) }
        return value
    }
}

extension Entry {
    /// Reads a stored line (without its newline) that must be entry `expectedSeq`.
    ///
    /// Checks the line's size, canonical form, fields, time and kind spelling, and each
    /// signature's encoding (key on a supported curve, strict DER, low S). It does not check
    /// the link to the previous entry or whether signatures verify.
    public static func decode(line: [UInt8], expectedSeq: Int64, keys: KeyCache = KeyCache()) throws(LedgerError) -> Entry {
        func corrupt(_ reason: String) -> LedgerError { LedgerError(.corrupt, seq: expectedSeq, reason) }
        guard line.count <= maximumLineBytes else { throw corrupt("line of \(line.count) bytes exceeds the \(maximumLineBytes)-byte limit") }
        let json: JSONValue, bodyRange: Range<Int>?
        do { (json, bodyRange) = try JSONParser.parseCanonical(line, member: "body") } catch { throw corrupt(error.description) }
        guard case .object(let fields) = json else { throw corrupt("line is not a JSON object") }
        guard fields.count == 6, fields["seq"] != nil, fields["prev"] != nil, fields["time"] != nil, fields["kind"] != nil,
              fields["body"] != nil, fields["signatures"] != nil else {
            throw corrupt("fields are \(fields.keys.sorted()), expected [\"body\", \"kind\", \"prev\", \"seq\", \"signatures\", \"time\"]")
        }
        guard let seq = fields["seq"]?.integerValue else { throw corrupt("seq is not an integer") }
        guard seq == expectedSeq else { throw corrupt("seq is \(seq), expected \(expectedSeq) (an entry is missing, repeated or out of order)") }
        guard let prevText = fields["prev"]?.stringValue, let prev = Hex.decode(prevText), prev.count == 32 else {
            throw corrupt("prev is not 64 lowercase hex digits")
        }
        guard let timeText = fields["time"]?.stringValue, let time = Timestamp(timeText) else {
            throw corrupt("time is not a valid YYYY-MM-DDTHH:MM:SSZ time")
        }
        guard let kind = fields["kind"]?.stringValue else { throw corrupt("kind is not a string") }
        guard let body = fields["body"] else { throw corrupt("body is missing") }
        guard let list = fields["signatures"]?.arrayValue else { throw corrupt("signatures is not an array") }
        var signatures: [EntrySignature] = []
        for (index, item) in list.enumerated() {
            guard let pair = item.objectValue, pair.count == 2,
                  let keyText = pair["key"]?.stringValue, keyText.utf8.count.isMultiple(of: 2),
                  let sigText = pair["sig"]?.stringValue, let sigDER = Hex.decode(sigText)
            else { throw corrupt("signature \(index) is not {\"key\": hex, \"sig\": hex}") }
            let key: PublicKey, canonical: Bool, signature: ECDSASignature
            do {
                (key, canonical) = try keys.key(hex: keyText)
                signature = try ECDSASignature(derRepresentation: sigDER, curve: key.curve, policy: .strict)
            } catch let error as CryptoError where error.reason == "key is not hex" {
                throw corrupt("signature \(index) is not {\"key\": hex, \"sig\": hex}")
            } catch {
                throw corrupt("signature \(index): \(error)")
            }
            guard canonical else {
                throw corrupt("signature \(index): key is not in canonical form (named curve, uncompressed point SubjectPublicKeyInfo)")
            }
            signatures.append(EntrySignature(publicKey: key, signature: signature))
        }
        var entry: Entry
        do { entry = try Entry(seq: seq, prev: prev, time: time, kind: kind, body: body, signatures: signatures) } catch {
            throw corrupt(error.reason)
        }
        // The body's canonical bytes are its bytes in the canonical line.
        if !signatures.isEmpty, let bodyRange {
            entry.signedDigest = line.withUnsafeBytes { try? SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[bodyRange])) }
        }
        // The sorted order is part of the format: a line whose signatures were reordered is
        // not the line that was written.
        guard entry.signatures.map(\.publicKey) == signatures.map(\.publicKey) else {
            throw corrupt("signatures are not sorted by key")
        }
        return entry
    }

    /// The entry hash: SHA-256(0x00 || line), the RFC 9162 leaf hash of the line.
    public static func hash(line: [UInt8]) throws -> [UInt8] {
        var digest = try SHA256()
        try digest.update([0])
        try digest.update(line)
        return try digest.finalize()
    }
}
