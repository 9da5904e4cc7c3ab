import COpenSSL

/// SHA-256 from the system OpenSSL, one-shot or incremental.
public struct SHA256: ~Copyable {
    /// The digest length in bytes.
    public static let byteCount = 32

    private let context: OpaquePointer

    /// Starts a new digest.
    public init() throws {
        guard let context = EVP_MD_CTX_new() else { throw CryptoError.openssl("EVP_MD_CTX_new") }
        guard EVP_DigestInit_ex(context, SHA256Algorithm.shared.md, nil) == 1 else {
            EVP_MD_CTX_free(context)
            throw CryptoError.openssl("EVP_DigestInit_ex")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Feeds `bytes` into the digest.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) throws {
        guard EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1 else {
            throw CryptoError.openssl("EVP_DigestUpdate")
        }
    }

    /// Feeds `bytes` into the digest.
    public mutating func update(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try update($0) }
    }

    /// Ends the digest and returns its 32 bytes.
    public consuming func finalize() throws -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: SHA256.byteCount)
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &digest, &length) == 1, length == 32 else {
            throw CryptoError.openssl("EVP_DigestFinal_ex")
        }
        return digest
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        guard EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, SHA256Algorithm.shared.md, nil) == 1,
              length == 32
        else { throw CryptoError.openssl("EVP_Digest") }
        return digest
    }

    /// The SHA-256 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try hash($0) }
    }
}

/// The SHA-256 implementation fetched once from the default provider; an implicit fetch on
/// every call costs a lock and a lookup.
final class SHA256Algorithm: @unchecked Sendable {
    static let shared = SHA256Algorithm()
    let md: OpaquePointer?

    private init() {
        md = EVP_MD_fetch(nil, "SHA256", nil)
    }
}
