import BackstopCrypto
import BackstopTestSupport
import Foundation
import Testing

@Suite("Keys, signatures and interoperability with the openssl command line")
struct KeyTests {
    let message = Array("backstop/v1 test message".utf8)

    @Test("a generated key signs low-S and its signature verifies under both policies", arguments: Curve.allCases)
    func signAndVerify(curve: Curve) throws {
        let key = try PrivateKey(generatingOn: curve)
        #expect(key.curve == curve && key.publicKey.curve == curve)
        for index in 0..<64 {
            let text = message + [UInt8(index)]
            let signature = try key.signature(for: text)
            #expect(signature.isLowS)
            #expect(try key.publicKey.verify(signatureDER: signature.derRepresentation, for: text, policy: .strict) != nil)
            #expect(try key.publicKey.verify(signatureDER: signature.derRepresentation, for: message, policy: .strict) == nil)
        }
    }

    @Test("the high-S twin is valid for intake, refused by strict, and normalises back")
    func highSTwin() throws {
        let key = try PrivateKey(generatingOn: .p256)
        let low = try key.signature(for: message)
        let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        let highS = bigEndianSubtract(order, low.s)
        let high = try #require(ECDSASignature(r: low.r, s: highS, curve: .p256))
        #expect(!high.isLowS)
        #expect(key.publicKey.isValidSignature(high, for: message))
        let error = #expect(throws: CryptoError.self) {
            try ECDSASignature(derRepresentation: high.derRepresentation, curve: .p256, policy: .strict)
        }
        #expect(error?.code == .nonCanonicalSignature)
        #expect(high.lowS == low)
    }

    @Test("malformed signatures are refused with the rule they break")
    func malformedSignatures() throws {
        let key = try PrivateKey(generatingOn: .p256)
        let der = try key.signature(for: message).derRepresentation
        let cases: [([UInt8], String)] = [
            (der + [0], "SEQUENCE length"),
            (Array(der.dropLast()), "SEQUENCE length"),
            ([0x31] + der.dropFirst(), "SEQUENCE"),
            ([0x30, 0x81, der[1]] + der.dropFirst(2), "short DER form"),
            ([0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01], "zero"),
            ([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01], "non-minimal"),
            ([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01], "negative"),
            ([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00], "zero"),
        ]
        for (bytes, rule) in cases {
            let error = #expect(throws: CryptoError.self) {
                try ECDSASignature(derRepresentation: bytes, curve: .p256, policy: .intake)
            }
            #expect(error?.code == .malformed)
            #expect(error?.reason.contains(rule) == true, "\(error?.reason ?? "") should mention \(rule)")
        }
        // s = n is out of range.
        let order = Hex.decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
        let withOrder: [UInt8] = [0x30, 0x26, 0x02, 0x01, 0x01, 0x02, 0x21, 0x00] + order
        let error = #expect(throws: CryptoError.self) { try ECDSASignature(derRepresentation: withOrder, curve: .p256, policy: .intake) }
        #expect(error?.reason.contains("curve order") == true)
    }

    @Test("keys round-trip through PKCS#8 and SPKI, plain and encrypted", arguments: Curve.allCases)
    func roundTrip(curve: Curve) throws {
        let key = try PrivateKey(generatingOn: curve)
        let plain = try key.pemRepresentation()
        #expect(plain.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try PrivateKey(pemRepresentation: plain).publicKey == key.publicKey)

        let passphrase = Array("correct horse".utf8)
        let encrypted = try key.pemRepresentation(passphrase: passphrase)
        #expect(encrypted.hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        #expect(try PrivateKey(pemRepresentation: encrypted, passphrase: passphrase).publicKey == key.publicKey)
        let missing = #expect(throws: CryptoError.self) { try PrivateKey(pemRepresentation: encrypted) }
        #expect(missing?.code == .passphraseRequired)
        let wrong = #expect(throws: CryptoError.self) { try PrivateKey(pemRepresentation: encrypted, passphrase: Array("wrong".utf8)) }
        #expect(wrong?.code == .wrongPassphrase)

        let pub = key.publicKey
        #expect(try PublicKey(pemRepresentation: pub.pemRepresentation) == pub)
        #expect(try PublicKey(derRepresentation: pub.derRepresentation) == pub)
        #expect(pub.fingerprint.count == 64)
        let other: Curve = curve == .p256 ? .secp256k1 : .p256
        let wrongCurve = #expect(throws: CryptoError.self) { try PublicKey(derRepresentation: pub.derRepresentation, expectedCurve: other) }
        #expect(wrongCurve?.code == .unsupportedCurve)
    }

    @Test("malformed keys are refused with a reason")
    func malformedKeys() throws {
        let pub = try PrivateKey(generatingOn: .p256).publicKey
        var der = pub.derRepresentation
        #expect(throws: CryptoError.self) { try PublicKey(derRepresentation: der + [0]) }
        #expect(throws: CryptoError.self) { try PublicKey(derRepresentation: Array(der.dropLast())) }
        // Move the point off the curve: change the last byte of y.
        der[der.count - 1] ^= 0x01
        let offCurve = #expect(throws: CryptoError.self) { try PublicKey(derRepresentation: der) }
        #expect(offCurve?.code == .malformed)
        #expect(throws: CryptoError.self) { try PublicKey(pemRepresentation: "not a key") }
        let privateAsPublic = #expect(throws: CryptoError.self) {
            try PublicKey(pemRepresentation: try PrivateKey(generatingOn: .p256).pemRepresentation())
        }
        #expect(privateAsPublic?.reason.contains("PRIVATE KEY") == true)
    }

    // MARK: - The openssl binary as the independent peer

    @Test("keys made by openssl genpkey and pkcs8 -topk8 are read, plain and encrypted", arguments: Curve.allCases)
    func readsOpenSSLKeys(curve: Curve) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("k.pem").path
        let curveName = curve == .p256 ? "P-256" : "secp256k1"
        #expect(try openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:\(curveName)", "-out", keyPath).status == 0)
        let plain = try PrivateKey(pemRepresentation: String(contentsOfFile: keyPath, encoding: .utf8))
        #expect(plain.curve == curve)

        let encryptedPath = directory.appendingPathComponent("e.pem").path
        #expect(try openssl("pkcs8", "-topk8", "-in", keyPath, "-out", encryptedPath, "-passout", "pass:s3cret").status == 0)
        let encrypted = try PrivateKey(pemRepresentation: String(contentsOfFile: encryptedPath, encoding: .utf8), passphrase: Array("s3cret".utf8))
        #expect(encrypted.publicKey == plain.publicKey)

        let pub = try openssl("pkey", "-in", keyPath, "-pubout")
        #expect(try PublicKey(pemRepresentation: pub.stdout) == plain.publicKey)
    }

    @Test("a passphrase of 1,023 bytes works both ways with openssl; a longer one is refused with a clear error, never written")
    func longestPassphrase() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: .p256)
        let longest = [UInt8](repeating: 0x61, count: PrivateKey.maximumPassphraseBytes)
        let pem = try key.pemRepresentation(passphrase: longest)
        #expect(try PrivateKey(pemRepresentation: pem, passphrase: longest).publicKey == key.publicKey)
        let keyPath = directory.appendingPathComponent("k.pem").path, passPath = directory.appendingPathComponent("pass").path
        try pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try Data(longest).write(to: URL(fileURLWithPath: passPath))
        #expect(try openssl("pkey", "-in", keyPath, "-passin", "file:\(passPath)", "-noout").status == 0)
        let tooLong = longest + [0x61]
        let refused = #expect(throws: CryptoError.self) { try key.pemRepresentation(passphrase: tooLong) }
        #expect(refused?.code == .passphraseTooLong && refused?.reason.contains("at most 1023") == true, "\(String(describing: refused))")
        let unreadable = #expect(throws: CryptoError.self) { try PrivateKey(pemRepresentation: pem, passphrase: tooLong) }
        #expect(unreadable?.code == .passphraseTooLong && unreadable?.reason.contains("1024 bytes") == true)
    }

    @Test("our keys are read by openssl, and our fingerprint matches its SPKI hash", arguments: Curve.allCases)
    func openSSLReadsOurKeys(curve: Curve) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: curve)
        let keyPath = directory.appendingPathComponent("k.pem")
        try key.pemRepresentation(passphrase: Array("pw".utf8)).write(to: keyPath, atomically: true, encoding: .utf8)
        let pub = try openssl("pkey", "-in", keyPath.path, "-passin", "pass:pw", "-pubout")
        #expect(pub.status == 0, "\(pub.stderr)")
        #expect(try PublicKey(pemRepresentation: pub.stdout) == key.publicKey)
        // PBES2, PBKDF2 with HMAC-SHA-256 and 600,000 (0x0927C0) iterations, AES-256-CBC.
        let structure = try openssl("asn1parse", "-in", keyPath.path)
        for part in [":PBES2", ":PBKDF2", "INTEGER           :0927C0", ":hmacWithSHA256", ":aes-256-cbc"] {
            #expect(structure.stdout.contains(part), "encrypted key lacks \(part)")
        }
        let fingerprint = try openssl("dgst", "-sha256", "-r", input: key.publicKey.derRepresentation)
        #expect(fingerprint.stdout.hasPrefix(key.publicKey.fingerprint))
    }

    @Test("our signatures verify with openssl dgst, and openssl's with ours", arguments: Curve.allCases)
    func signaturesInteroperate(curve: Curve) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: curve)
        let keyPath = directory.appendingPathComponent("k.pem").path
        let pubPath = directory.appendingPathComponent("p.pem").path
        let dataPath = directory.appendingPathComponent("data").path
        let sigPath = directory.appendingPathComponent("sig").path
        try key.pemRepresentation().write(toFile: keyPath, atomically: true, encoding: .utf8)
        try key.publicKey.pemRepresentation.write(toFile: pubPath, atomically: true, encoding: .utf8)
        var sawHighS = false
        for round in 0..<12 {
            let data = message + Array("round \(round)".utf8)
            try Data(data).write(to: URL(fileURLWithPath: dataPath))
            // Ours, checked by openssl.
            try Data(try key.signature(for: data).derRepresentation).write(to: URL(fileURLWithPath: sigPath))
            let verified = try openssl("dgst", "-sha256", "-verify", pubPath, "-signature", sigPath, dataPath)
            #expect(verified.status == 0 && verified.stdout.contains("Verified OK"), "\(verified.stdout)\(verified.stderr)")
            // Theirs, checked by us: intake accepts either S, strict only after normalising.
            #expect(try openssl("dgst", "-sha256", "-sign", keyPath, "-out", sigPath, dataPath).status == 0)
            let theirs = try [UInt8](Data(contentsOf: URL(fileURLWithPath: sigPath)))
            let normalised = try #require(try key.publicKey.verify(signatureDER: theirs, for: data, policy: .intake))
            #expect(try key.publicKey.verify(signatureDER: normalised.derRepresentation, for: data, policy: .strict) != nil)
            let parsed = try ECDSASignature(derRepresentation: theirs, curve: curve, policy: .intake)
            if !parsed.isLowS { sawHighS = true }
            #expect(try key.publicKey.verify(signatureDER: theirs, for: data + [0], policy: .intake) == nil)
        }
        // openssl picks S at random, so twelve signatures all low-S happens with p = 1/4096.
        #expect(sawHighS)
    }
}

@Suite("One encoding per public key")
struct KeyEncodingTests {
    @Test("a compressed or explicit-parameter key from openssl reads as the same key, in the one canonical encoding", arguments: Curve.allCases)
    func canonicalEncoding(curve: Curve) throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: curve)
        let keyPath = directory.appendingPathComponent("k.pem").path
        try key.pemRepresentation().write(toFile: keyPath, atomically: true, encoding: .utf8)
        for options in [["-conv_form", "compressed"], ["-conv_form", "hybrid"], ["-param_enc", "explicit"]] {
            let converted = try openssl(arguments: ["ec", "-in", keyPath, "-pubout"] + options)
            #expect(converted.status == 0, "\(options): \(converted.stderr)")
            let other = try PublicKey(pemRepresentation: converted.stdout)
            #expect(other == key.publicKey, "\(options) is another encoding of the same key")
            #expect(other.derRepresentation.count == (curve == .p256 ? 91 : 88))
        }
    }
}
