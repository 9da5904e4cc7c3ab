import COpenSSL

/// An ECDSA private key on P-256 or secp256k1.
///
/// Keys come from OpenSSL's CSPRNG or from PKCS#8 PEM (plain or passphrase-encrypted), such
/// as `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes.
public final class PrivateKey: @unchecked Sendable {
    // One owner: freed in deinit; signing reads it from one thread at a time per context.
    private let pkey: OpaquePointer

    /// The curve of the key.
    public let curve: Curve
    /// The matching public key.
    public let publicKey: PublicKey

    private init(taking pkey: OpaquePointer) throws {
        do {
            curve = try PublicKey.checkedCurve(of: pkey, what: "private key")
            let spki = try derBytes({ i2d_PUBKEY(pkey, $0) }, call: "i2d_PUBKEY")
            publicKey = try PublicKey(derRepresentation: spki)
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
        self.pkey = pkey
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Generates a new key on `curve` from OpenSSL's CSPRNG.
    public convenience init(generatingOn curve: Curve = .p256) throws {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw CryptoError.openssl("EVP_PKEY_CTX_new_from_name")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw CryptoError.openssl("EVP_PKEY_keygen_init") }
        guard EVP_PKEY_CTX_set_group_name(context, curve.openSSLGroupName) == 1 else {
            throw CryptoError.openssl("EVP_PKEY_CTX_set_group_name")
        }
        var generated: OpaquePointer? = nil
        guard EVP_PKEY_generate(context, &generated) == 1, let generated else {
            throw CryptoError.openssl("EVP_PKEY_generate")
        }
        try self.init(taking: generated)
    }

    /// Reads a PKCS#8 PEM private key: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with `passphrase`.
    ///
    /// - Throws: ``CryptoError`` `.passphraseRequired` for an encrypted key without a
    ///   passphrase, `.wrongPassphrase` when it does not decrypt, `.malformed` for anything
    ///   that is not PKCS#8 PEM (the message says how to convert a SEC1 `EC PRIVATE KEY`).
    public convenience init(pemRepresentation pem: String, passphrase: [UInt8]? = nil) throws {
        try self.init(taking: try readPKCS8(pem, passphrase: passphrase, what: "private key", kind: "EC"))
    }

    /// PBKDF2 iterations for an encrypted key: OpenSSL's default is 2,048, far below what
    /// guessing on modern hardware calls for (OWASP suggests 600,000 for HMAC-SHA-256).
    public static let pbkdf2Iterations: Int32 = 600_000
    /// The longest passphrase: OpenSSL's PEM readers hand a password callback a buffer of
    /// 1,024 bytes, and `openssl pkey -passin` keeps at most 1,023 of a line (measured with
    /// OpenSSL 3.0), so a longer one would make a key that `openssl` cannot open again.
    public static let maximumPassphraseBytes = 1_023

    /// The PKCS#8 PEM encoding: `PRIVATE KEY`, or with a passphrase `ENCRYPTED PRIVATE KEY`
    /// (PBES2: PBKDF2 with HMAC-SHA-256 and ``pbkdf2Iterations``, AES-256-CBC), readable by
    /// `openssl pkey`.
    public func pemRepresentation(passphrase: [UInt8]? = nil) throws -> String {
        try writePKCS8(pkey, passphrase: passphrase)
    }

    /// Signs `message` with ECDSA over SHA-256 and returns the low-S signature.
    public func signature(for message: UnsafeRawBufferPointer) throws -> ECDSASignature {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openssl("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, SHA256Algorithm.shared.md, nil, pkey) == 1 else {
            throw CryptoError.openssl("EVP_DigestSignInit")
        }
        let input = message.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var length = 0
        guard EVP_DigestSign(context, nil, &length, input, message.count) == 1 else {
            throw CryptoError.openssl("EVP_DigestSign")
        }
        var der = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &der, &length, input, message.count) == 1 else {
            throw CryptoError.openssl("EVP_DigestSign")
        }
        return try ECDSASignature(derRepresentation: Array(der.prefix(length)), curve: curve, policy: .intake).lowS
    }

    /// Signs `message` with ECDSA over SHA-256 and returns the low-S signature.
    public func signature(for message: [UInt8]) throws -> ECDSASignature {
        try message.withUnsafeBytes { try signature(for: $0) }
    }
}

/// Reads a PKCS#8 PEM private key (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` with
/// `passphrase`) into an `EVP_PKEY` the caller owns.
func readPKCS8(_ pem: String, passphrase: [UInt8]?, what: String, kind: String) throws -> OpaquePointer {
    let block = try PEMBlock(pem, what: what)
    let encrypted: Bool
    switch block.label {
    case "PRIVATE KEY": encrypted = false
    case "ENCRYPTED PRIVATE KEY": encrypted = true
    case "EC PRIVATE KEY":
        throw CryptoError.malformed(what, "a SEC1 'EC PRIVATE KEY' block; Backstop reads PKCS#8 (convert with: openssl pkcs8 -topk8 -in KEY -out KEY.p8.pem)")
    default:
        throw CryptoError.malformed(what, "expected a PEM 'PRIVATE KEY' or 'ENCRYPTED PRIVATE KEY' block, found '\(block.label)'")
    }
    if encrypted && passphrase == nil {
        throw CryptoError(.passphraseRequired, "private key is encrypted; a passphrase is needed")
    }
    if let passphrase, passphrase.count > PrivateKey.maximumPassphraseBytes {
        throw CryptoError(.passphraseTooLong, "the passphrase is \(passphrase.count) bytes; at most \(PrivateKey.maximumPassphraseBytes) can be used")
    }
    // The password callback hands over the passphrase given, or fails when there is none,
    // so OpenSSL's interactive prompt can never be reached from here.
    var secret = passphrase ?? []
    defer { for index in secret.indices { secret[index] = 0 } }
    let decoded: OpaquePointer? = try withReadBIO(Array(pem.utf8)) { bio in
        withUnsafeMutablePointer(to: &secret) { secretPointer in
            PEM_read_bio_PrivateKey_ex(bio, nil, { buffer, size, _, context in
                guard let buffer, let secret = context?.assumingMemoryBound(to: [UInt8].self).pointee,
                      !secret.isEmpty, secret.count <= Int(size)
                else { return -1 }
                secret.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                return Int32(secret.count)
            }, secretPointer, nil, nil)
        }
    }
    guard let decoded else {
        OpenSSLErrorQueue.clear()
        if encrypted { throw CryptoError(.wrongPassphrase, "private key could not be decrypted: wrong passphrase or damaged file") }
        throw CryptoError.malformed(what, "the PEM block is not a valid PKCS#8 \(kind) private key")
    }
    return decoded
}

/// The PKCS#8 PEM encoding of `pkey`: `PRIVATE KEY`, or with a passphrase `ENCRYPTED
/// PRIVATE KEY` (PBES2: PBKDF2 with HMAC-SHA-256 and ``PrivateKey/pbkdf2Iterations``,
/// AES-256-CBC), readable by `openssl pkey`.
func writePKCS8(_ pkey: OpaquePointer, passphrase: [UInt8]?) throws -> String {
    guard let passphrase else {
        let pem = try collectingBIO { bio in
            guard PEM_write_bio_PKCS8PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else {
                throw CryptoError.openssl("PEM_write_bio_PKCS8PrivateKey")
            }
        }
        return String(decoding: pem, as: UTF8.self)
    }
    guard !passphrase.isEmpty else { throw CryptoError(.passphraseRequired, "an empty passphrase would not protect the key") }
    guard passphrase.count <= PrivateKey.maximumPassphraseBytes else {
        throw CryptoError(.passphraseTooLong, "the passphrase is \(passphrase.count) bytes; at most \(PrivateKey.maximumPassphraseBytes) (what OpenSSL's PEM readers, openssl among them, accept): a longer one would make a key no one can open")
    }
    guard let info = EVP_PKEY2PKCS8(pkey) else { throw CryptoError.openssl("EVP_PKEY2PKCS8") }
    defer { PKCS8_PRIV_KEY_INFO_free(info) }
    var secret = passphrase.map { CChar(bitPattern: $0) }
    defer { for index in secret.indices { secret[index] = 0 } }
    // pbe_nid -1 selects PBES2 with the cipher given; a nil salt gets a random one.
    guard let encrypted = PKCS8_encrypt_ex(-1, EVP_aes_256_cbc(), &secret, Int32(secret.count), nil, 0, PrivateKey.pbkdf2Iterations, info, nil, nil) else {
        throw CryptoError.openssl("PKCS8_encrypt_ex")
    }
    defer { X509_SIG_free(encrypted) }
    let pem = try collectingBIO { bio in
        guard PEM_write_bio_PKCS8(bio, encrypted) == 1 else { throw CryptoError.openssl("PEM_write_bio_PKCS8") }
    }
    return String(decoding: pem, as: UTF8.self)
}
