import COpenSSL
import Synchronization

/// An ECDSA public key on P-256 or secp256k1, parsed once and safe to share between threads.
///
/// Parsing checks that the key is an elliptic-curve key on a named, supported curve and that
/// its point lies on that curve; a key that passes can verify signatures concurrently.
public final class PublicKey: @unchecked Sendable, Hashable, CustomStringConvertible {
    // One owner: this object frees the EVP_PKEY in deinit, and only reads it otherwise, which
    // OpenSSL allows from several threads at once.
    let pkey: OpaquePointer

    /// The curve of the key.
    public let curve: Curve
    /// The canonical X.509 SubjectPublicKeyInfo DER encoding: named curve, uncompressed point
    /// (91 bytes for P-256, 88 for secp256k1), whatever form the key was read from.
    public let derRepresentation: [UInt8]

    /// Takes ownership of `pkey` after checking it.
    init(taking pkey: OpaquePointer, what: String) throws {
        do {
            curve = try Self.checkedCurve(of: pkey, what: what)
            try Self.checkPoint(pkey, what: what)
            // One encoding per key: a named curve and an uncompressed point, whatever form
            // the key arrived in (compressed, hybrid, explicit parameters). Keys are compared,
            // counted and stored by this encoding.
            guard EVP_PKEY_set_utf8_string_param(pkey, "point-format", "uncompressed") == 1,
                  EVP_PKEY_set_utf8_string_param(pkey, "encoding", "named_curve") == 1
            else { throw CryptoError.openssl("EVP_PKEY_set_utf8_string_param") }
            derRepresentation = try derBytes({ i2d_PUBKEY(pkey, $0) }, call: "i2d_PUBKEY")
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
    }

    deinit {
        for context in verifiers.withLock({ $0 }) { EVP_PKEY_CTX_free(context.pointer) }
        EVP_PKEY_free(pkey)
    }

    /// Verification contexts already set up for this key (`EVP_PKEY_verify_init`), reused:
    /// setting one up costs a provider lookup that is a large part of a verification.
    /// Each is used by one thread at a time; the pool holds at most one per core or so.
    private let verifiers = Mutex<[Verifier]>([])

    /// An `EVP_PKEY_CTX` set up to verify, owned by whoever holds it.
    private struct Verifier: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Reads an X.509 SubjectPublicKeyInfo in DER.
    ///
    /// - Parameter expectedCurve: when given, a key on another curve is refused.
    public convenience init(derRepresentation der: [UInt8], expectedCurve: Curve? = nil) throws {
        let what = "public key"
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            let key = d2i_PUBKEY(nil, &cursor, buffer.count)
            // d2i stops at the end of the structure; bytes left over are not part of the key.
            if let key, cursor != buffer.baseAddress.map({ $0 + buffer.count }) {
                EVP_PKEY_free(key)
                return nil
            }
            return key
        }
        guard let parsed else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.malformed(what, "not a DER SubjectPublicKeyInfo (or bytes after it)")
        }
        try self.init(taking: parsed, what: what)
        try requireCurve(expectedCurve)
    }

    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as written by `openssl pkey -pubout`.
    ///
    /// - Parameter expectedCurve: when given, a key on another curve is refused.
    public convenience init(pemRepresentation pem: String, expectedCurve: Curve? = nil) throws {
        let what = "public key"
        let block = try PEMBlock(pem, what: what)
        guard block.label == "PUBLIC KEY" else {
            throw CryptoError.malformed(what, "expected a PEM 'PUBLIC KEY' block, found '\(block.label)'")
        }
        let parsed = try withReadBIO(Array(pem.utf8)) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
        guard let parsed else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.malformed(what, "the PEM block does not hold a valid SubjectPublicKeyInfo")
        }
        try self.init(taking: parsed, what: what)
        try requireCurve(expectedCurve)
    }

    /// The PEM `PUBLIC KEY` encoding, readable by `openssl pkey -pubin`.
    public var pemRepresentation: String {
        let base64 = Base64.encode(derRepresentation)
        var lines = ["-----BEGIN PUBLIC KEY-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<end]))
            index = end
        }
        lines.append("-----END PUBLIC KEY-----")
        return lines.joined(separator: "\n") + "\n"
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER, lowercase hex: the key's name in Backstop.
    public var fingerprint: String {
        // Hashing 91 bytes cannot fail short of OpenSSL being unusable, which the caller
        // would already have seen when the key was parsed.
        Hex.encode((try? SHA256.hash(derRepresentation)) ?? [])
    }

    /// True when `signature` is a valid ECDSA/SHA-256 signature by this key over `message`.
    ///
    /// The signature must be on this key's curve; the policy it was parsed under decides
    /// whether high S was allowed.
    public func isValidSignature(_ signature: ECDSASignature, for message: UnsafeRawBufferPointer) -> Bool {
        guard signature.curve == curve, let digest = try? SHA256.hash(message) else { return false }
        return isValidSignature(der: signature.derRepresentation, forDigest: digest)
    }

    /// True when `signature` is a valid ECDSA signature by this key over the SHA-256 `digest`
    /// of a message: for checking several signatures over one message with one hash.
    public func isValidSignature(_ signature: ECDSASignature, forDigest digest: [UInt8]) -> Bool {
        guard signature.curve == curve, digest.count == SHA256.byteCount else { return false }
        return isValidSignature(der: signature.derRepresentation, forDigest: digest)
    }

    /// True when `der`, a DER ECDSA signature the caller already parsed under its policy,
    /// verifies by this key over the SHA-256 `digest`.
    public func isValidSignature(der: [UInt8], forDigest digest: [UInt8]) -> Bool {
        guard digest.count == SHA256.byteCount else { return false }
        let pooled = verifiers.withLock { $0.popLast() }
        guard let context = pooled ?? newVerifier() else { return false }
        let result = EVP_PKEY_verify(context.pointer, der, der.count, digest, digest.count)
        if result != 1 { OpenSSLErrorQueue.clear() }
        let kept = verifiers.withLock { contexts in
            guard contexts.count < 64 else { return false }
            contexts.append(context)
            return true
        }
        if !kept { EVP_PKEY_CTX_free(context.pointer) }
        return result == 1
    }

    private func newVerifier() -> Verifier? {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { return nil }
        guard EVP_PKEY_verify_init(context) == 1 else {
            OpenSSLErrorQueue.clear()
            EVP_PKEY_CTX_free(context)
            return nil
        }
        return Verifier(pointer: context)
    }

    /// True when `signature` is a valid ECDSA/SHA-256 signature by this key over `message`.
    public func isValidSignature(_ signature: ECDSASignature, for message: [UInt8]) -> Bool {
        message.withUnsafeBytes { isValidSignature(signature, for: $0) }
    }

    /// Parses `der` under `policy` for this key's curve and checks it over `message`.
    ///
    /// - Returns: the signature, normalised to low S, when it is valid.
    /// - Throws: ``CryptoError`` when the signature cannot be parsed under the policy.
    public func verify(signatureDER der: [UInt8], for message: [UInt8], policy: ECDSASignature.Policy) throws -> ECDSASignature? {
        let signature = try ECDSASignature(derRepresentation: der, curve: curve, policy: policy)
        return isValidSignature(signature, for: message) ? signature.lowS : nil
    }

    /// Keys are equal when their SubjectPublicKeyInfo encodings are.
    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs === rhs || lhs.derRepresentation == rhs.derRepresentation }

    /// Hashes the SubjectPublicKeyInfo encoding.
    public func hash(into hasher: inout Hasher) { hasher.combine(derRepresentation) }

    /// The curve and fingerprint.
    public var description: String { "\(curve.rawValue) key \(fingerprint)" }

    private func requireCurve(_ expected: Curve?) throws {
        if let expected, expected != curve {
            throw CryptoError(.unsupportedCurve, "public key is on \(curve.rawValue), expected \(expected.rawValue)")
        }
    }

    static func checkedCurve(of pkey: OpaquePointer, what: String) throws -> Curve {
        guard EVP_PKEY_is_a(pkey, "EC") == 1 else {
            let type = EVP_PKEY_get0_type_name(pkey).map { String(cString: $0) } ?? "unknown"
            throw CryptoError(.wrongKeyType, "\(what) is a \(type) key; Backstop needs an EC key (P-256 or secp256k1)")
        }
        var name = [CChar](repeating: 0, count: 80)
        var length = 0
        guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError(.unsupportedCurve, "\(what) uses explicit curve parameters; only named curves P-256 and secp256k1 are accepted")
        }
        let group = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let curve = Curve(openSSLGroupName: group) else {
            throw CryptoError(.unsupportedCurve, "\(what) is on curve \(group); Backstop accepts P-256 and secp256k1")
        }
        return curve
    }

    private static func checkPoint(_ pkey: OpaquePointer, what: String) throws {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, pkey, nil) else { throw CryptoError.openssl("EVP_PKEY_CTX_new_from_pkey") }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_public_check(context) == 1 else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.malformed(what, "the point is not a valid point on \(try checkedCurve(of: pkey, what: what).rawValue)")
        }
    }
}
