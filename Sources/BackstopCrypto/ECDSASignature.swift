/// An ECDSA signature (r, s) on a known curve, read from and written as strict DER.
///
/// Parsing accepts exactly the DER encoding of `SEQUENCE { INTEGER r, INTEGER s }`: short-form
/// lengths, minimal positive integers, no trailing bytes, and 0 < r, s < n. Anything else,
/// including BER variants that some libraries tolerate, is refused, so that one signature has
/// exactly one encoding.
public struct ECDSASignature: Sendable, Hashable {
    /// The curve whose order bounds r and s.
    public let curve: Curve
    /// r, 32 bytes big-endian.
    public let r: [UInt8]
    /// s, 32 bytes big-endian.
    public let s: [UInt8]

    /// Which signatures a check accepts.
    public enum Policy: Sendable {
        /// What arrives from people and tools: strict DER, either S (OpenSSL, hardware tokens and
        /// KMSs make high-S signatures). Normalise with ``ECDSASignature/lowS`` before storing.
        case intake
        /// What a stored ledger must hold: strict DER and low S.
        case strict
    }

    /// Reads a DER signature for `curve` under `policy`.
    ///
    /// - Throws: ``CryptoError`` `.malformed` naming the encoding rule broken, or
    ///   `.nonCanonicalSignature` for a high-S signature under the strict policy.
    public init(derRepresentation der: [UInt8], curve: Curve, policy: Policy) throws {
        let what = "signature"
        guard der.count >= 8 else { throw CryptoError.malformed(what, "\(der.count) bytes is too short for DER ECDSA") }
        guard der[0] == 0x30 else { throw CryptoError.malformed(what, "does not start with a DER SEQUENCE") }
        guard der[1] < 0x80 else { throw CryptoError.malformed(what, "SEQUENCE length is not in short DER form") }
        guard Int(der[1]) + 2 == der.count else {
            throw CryptoError.malformed(what, "SEQUENCE length \(der[1]) does not match the \(der.count - 2) bytes that follow it")
        }
        var offset = 2
        let r = try Self.readInteger(der, &offset, name: "r", curve: curve)
        let s = try Self.readInteger(der, &offset, name: "s", curve: curve)
        guard offset == der.count else { throw CryptoError.malformed(what, "bytes after s") }
        self.curve = curve
        self.r = r
        self.s = s
        if policy == .strict && !isLowS {
            throw CryptoError(.nonCanonicalSignature, "signature has a high S value; a stored signature must be low-S")
        }
    }

    /// Creates a signature from fixed-width r and s; nil unless both are in 1..<n.
    public init?(r: [UInt8], s: [UInt8], curve: Curve) {
        guard r.count == 32, s.count == 32, Self.inRange(r, curve), Self.inRange(s, curve) else { return nil }
        self.curve = curve
        self.r = r
        self.s = s
    }

    /// True when s <= n/2, the one form of the signature that Backstop stores.
    public var isLowS: Bool { !BigEndian.greater(s, curve.halfOrder) }

    /// This signature with s replaced by n - s when s is high: the same signature, low-S.
    public var lowS: ECDSASignature {
        if isLowS { return self }
        return ECDSASignature(r: r, s: BigEndian.subtract(curve.order, s), curve: curve)!
    }

    /// The strict DER encoding.
    public var derRepresentation: [UInt8] {
        let body = Self.encodeInteger(r) + Self.encodeInteger(s)
        return [0x30, UInt8(body.count)] + body
    }

    private static func inRange(_ value: [UInt8], _ curve: Curve) -> Bool {
        value.contains { $0 != 0 } && BigEndian.greater(curve.order, value)
    }

    private static func readInteger(_ der: [UInt8], _ offset: inout Int, name: String, curve: Curve) throws -> [UInt8] {
        let what = "signature"
        guard offset + 2 <= der.count else { throw CryptoError.malformed(what, "ends before \(name)") }
        guard der[offset] == 0x02 else { throw CryptoError.malformed(what, "\(name) is not a DER INTEGER") }
        let length = Int(der[offset + 1])
        guard length < 0x80 else { throw CryptoError.malformed(what, "\(name) length is not in short DER form") }
        guard length > 0 else { throw CryptoError.malformed(what, "\(name) is an empty INTEGER") }
        offset += 2
        guard offset + length <= der.count else { throw CryptoError.malformed(what, "\(name) runs past the end") }
        let content = Array(der[offset..<offset + length])
        offset += length
        guard content[0] & 0x80 == 0 else { throw CryptoError.malformed(what, "\(name) is negative") }
        if content.count > 1 && content[0] == 0 && content[1] & 0x80 == 0 {
            throw CryptoError.malformed(what, "\(name) has a non-minimal encoding (superfluous leading zero)")
        }
        let magnitude = Array(content.drop { $0 == 0 })
        guard !magnitude.isEmpty else { throw CryptoError.malformed(what, "\(name) is zero") }
        guard magnitude.count <= 32 else { throw CryptoError.malformed(what, "\(name) is not below the curve order") }
        let value = [UInt8](repeating: 0, count: 32 - magnitude.count) + magnitude
        guard BigEndian.greater(curve.order, value) else {
            throw CryptoError.malformed(what, "\(name) is not below the curve order")
        }
        return value
    }

    private static func encodeInteger(_ value: [UInt8]) -> [UInt8] {
        var magnitude = Array(value.drop { $0 == 0 })
        if magnitude.isEmpty || magnitude[0] & 0x80 != 0 { magnitude.insert(0, at: 0) }
        return [0x02, UInt8(magnitude.count)] + magnitude
    }
}

/// Arithmetic on equal-length big-endian unsigned integers, enough for low-S.
enum BigEndian {
    /// a > b for equal-length big-endian values.
    static func greater(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        precondition(a.count == b.count)
        for (x, y) in zip(a, b) where x != y { return x > y }
        return false
    }

    /// a - b for equal-length big-endian values with a >= b.
    static func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        precondition(a.count == b.count && !greater(b, a))
        var result = [UInt8](repeating: 0, count: a.count)
        var borrow = 0
        for index in stride(from: a.count - 1, through: 0, by: -1) {
            var difference = Int(a[index]) - Int(b[index]) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 256 }
            result[index] = UInt8(difference)
        }
        return result
    }
}
