/// The elliptic curves Backstop signs with.
public enum Curve: String, Sendable, CaseIterable, Codable {
    /// NIST P-256 (prime256v1, secp256r1): the default.
    case p256
    /// secp256k1, the curve of Bitcoin and Ethereum keys.
    case secp256k1

    /// The name OpenSSL gives the curve's group.
    var openSSLGroupName: String {
        switch self {
        case .p256: "prime256v1"
        case .secp256k1: "secp256k1"
        }
    }

    /// The curve whose OpenSSL group name is `name` (OpenSSL reports P-256 as "prime256v1").
    init?(openSSLGroupName name: String) {
        switch name {
        case "prime256v1", "P-256", "secp256r1": self = .p256
        case "secp256k1": self = .secp256k1
        default: return nil
        }
    }

    /// The order n of the curve's base point, 32 bytes big-endian.
    var order: [UInt8] {
        switch self {
        case .p256: Curve.p256Order
        case .secp256k1: Curve.secp256k1Order
        }
    }

    /// floor(n / 2): a signature is low-S when s <= this value.
    var halfOrder: [UInt8] {
        switch self {
        case .p256: Curve.p256HalfOrder
        case .secp256k1: Curve.secp256k1HalfOrder
        }
    }

    private static let p256Order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
    private static let p256HalfOrder = Hex.decode("7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8")!
    private static let secp256k1Order = Hex.decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")!
    private static let secp256k1HalfOrder = Hex.decode("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")!
}
