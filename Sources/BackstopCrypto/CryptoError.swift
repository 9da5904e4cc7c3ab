/// Every failure of the crypto module: a stable ``Code`` for programs and a reason for people.
///
/// Errors are built by the static factories below so that each kind of failure is described
/// the same way everywhere.
public struct CryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure, stable across versions so that callers can branch on it.
    public enum Code: String, Sendable {
        /// The input is not a key or signature in the expected encoding.
        case malformed
        /// The key uses a curve other than P-256 or secp256k1, or not the curve expected.
        case unsupportedCurve
        /// The key is not an elliptic-curve key.
        case wrongKeyType
        /// The encrypted private key needs a passphrase and none was given.
        case passphraseRequired
        /// The passphrase did not decrypt the private key.
        case wrongPassphrase
        /// The passphrase is longer than OpenSSL's readers take (``PrivateKey/maximumPassphraseBytes``).
        case passphraseTooLong
        /// The signature is well formed but breaks the strict policy (high S).
        case nonCanonicalSignature
        /// OpenSSL reported an internal failure (out of memory, provider missing).
        case openssl
    }

    /// The kind of failure.
    public let code: Code
    /// A sentence for people saying what was wrong.
    public let reason: String

    /// Creates an error; prefer the static factories.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The reason, for printing.
    public var description: String { reason }

    static func malformed(_ what: String, _ why: String) -> CryptoError {
        CryptoError(.malformed, "\(what): \(why)")
    }

    /// An OpenSSL call failed: the error queue is drained into the reason and left empty.
    static func openssl(_ call: String) -> CryptoError {
        CryptoError(.openssl, "OpenSSL \(call) failed: \(OpenSSLErrorQueue.drain())")
    }
}
