import COpenSSL

/// An Ed25519 public key (RFC 8032), for witnesses that cosign checkpoints the C2SP way.
public final class Ed25519PublicKey: @unchecked Sendable, Hashable, CustomStringConvertible {
    // One owner: freed in deinit; verifying only reads it.
    let pkey: OpaquePointer
    /// The 32 bytes of the key, as RFC 8032 encodes it.
    public let rawRepresentation: [UInt8]

    init(taking pkey: OpaquePointer) throws {
        guard EVP_PKEY_is_a(pkey, "ED25519") == 1 else {
            EVP_PKEY_free(pkey)
            throw CryptoError(.wrongKeyType, "not an Ed25519 key")
        }
        var raw = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1, length == 32 else {
            EVP_PKEY_free(pkey)
            throw CryptoError.openssl("EVP_PKEY_get_raw_public_key")
        }
        self.pkey = pkey
        self.rawRepresentation = raw
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A key from its 32 raw bytes.
    public convenience init(rawRepresentation raw: [UInt8]) throws {
        guard raw.count == 32 else { throw CryptoError.malformed("Ed25519 public key", "\(raw.count) bytes; it has 32") }
        guard let pkey = EVP_PKEY_new_raw_public_key_ex(nil, "ED25519", nil, raw, raw.count) else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.malformed("Ed25519 public key", "not a valid key")
        }
        try self.init(taking: pkey)
    }

    /// A key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl pkey -pubout` writes it.
    public convenience init(pemRepresentation pem: String) throws {
        let block = try PEMBlock(pem, what: "public key")
        guard block.label == "PUBLIC KEY" else { throw CryptoError.malformed("public key", "expected a PEM 'PUBLIC KEY' block, found '\(block.label)'") }
        guard let parsed = try withReadBIO(Array(pem.utf8), { PEM_read_bio_PUBKEY($0, nil, nil, nil) }) else {
            OpenSSLErrorQueue.clear()
            throw CryptoError.malformed("public key", "the PEM block does not hold a valid SubjectPublicKeyInfo")
        }
        try self.init(taking: parsed)
    }

    /// The PEM `PUBLIC KEY` encoding.
    public var pemRepresentation: String {
        // The SubjectPublicKeyInfo of an Ed25519 key is a fixed 12-byte prefix and the key.
        let der: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00] + rawRepresentation
        return "-----BEGIN PUBLIC KEY-----\n\(Base64.encode(der))\n-----END PUBLIC KEY-----\n"
    }

    /// True when `signature` (64 bytes) is this key's Ed25519 signature of `message`.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64, let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit_ex(context, nil, nil, nil, nil, pkey, nil) == 1 else {
            OpenSSLErrorQueue.clear()
            return false
        }
        let result = EVP_DigestVerify(context, signature, signature.count, message, message.count)
        if result != 1 { OpenSSLErrorQueue.clear() }
        return result == 1
    }

    /// Keys are equal when their bytes are.
    public static func == (lhs: Ed25519PublicKey, rhs: Ed25519PublicKey) -> Bool { lhs.rawRepresentation == rhs.rawRepresentation }
    /// Hashes the bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(rawRepresentation) }
    /// "ed25519 key <hex>".
    public var description: String { "ed25519 key \(Hex.encode(rawRepresentation))" }
}

/// An Ed25519 private key, read from and written as PKCS#8 PEM like the ECDSA keys, as
/// `openssl genpkey -algorithm ed25519` makes it.
public final class Ed25519PrivateKey: @unchecked Sendable {
    // One owner: freed in deinit.
    private let pkey: OpaquePointer
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    private init(taking pkey: OpaquePointer) throws {
        guard EVP_PKEY_is_a(pkey, "ED25519") == 1 else {
            EVP_PKEY_free(pkey)
            throw CryptoError(.wrongKeyType, "the private key is not an Ed25519 key")
        }
        var raw = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(pkey, &raw, &length) == 1 else {
            EVP_PKEY_free(pkey)
            throw CryptoError.openssl("EVP_PKEY_get_raw_public_key")
        }
        publicKey = try Ed25519PublicKey(rawRepresentation: raw)
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// A new key from OpenSSL's CSPRNG.
    public convenience init() throws {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "ED25519", nil) else { throw CryptoError.openssl("EVP_PKEY_CTX_new_from_name") }
        defer { EVP_PKEY_CTX_free(context) }
        var generated: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_generate(context, &generated) == 1, let generated else {
            throw CryptoError.openssl("EVP_PKEY_generate")
        }
        try self.init(taking: generated)
    }

    /// Reads a PKCS#8 PEM private key, encrypted or not.
    public convenience init(pemRepresentation pem: String, passphrase: [UInt8]? = nil) throws {
        try self.init(taking: try readPKCS8(pem, passphrase: passphrase, what: "private key", kind: "Ed25519"))
    }

    /// The PKCS#8 PEM encoding, encrypted with `passphrase` when given.
    public func pemRepresentation(passphrase: [UInt8]? = nil) throws -> String {
        try writePKCS8(pkey, passphrase: passphrase)
    }

    /// The 64-byte Ed25519 signature of `message`.
    public func signature(for message: [UInt8]) throws -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openssl("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit_ex(context, nil, nil, nil, nil, pkey, nil) == 1 else { throw CryptoError.openssl("EVP_DigestSignInit_ex") }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1, length == 64 else {
            throw CryptoError.openssl("EVP_DigestSign")
        }
        return signature
    }
}

/// A private key of either kind Backstop signs with, read from a PKCS#8 PEM file.
public enum AnyPrivateKey: Sendable {
    /// An ECDSA key (P-256 or secp256k1).
    case ecdsa(PrivateKey)
    /// An Ed25519 key.
    case ed25519(Ed25519PrivateKey)

    /// Reads a PKCS#8 PEM private key of either kind.
    public init(pemRepresentation pem: String, passphrase: [UInt8]? = nil) throws {
        let pkey = try readPKCS8(pem, passphrase: passphrase, what: "private key", kind: "EC or Ed25519")
        let isEd25519 = EVP_PKEY_is_a(pkey, "ED25519") == 1
        EVP_PKEY_free(pkey)
        self = isEd25519 ? .ed25519(try Ed25519PrivateKey(pemRepresentation: pem, passphrase: passphrase))
                         : .ecdsa(try PrivateKey(pemRepresentation: pem, passphrase: passphrase))
    }
}
