import BackstopCrypto
import BackstopTestSupport
import Foundation
import Testing

/// One Wycheproof ECDSA test file, decoded.
private struct WycheproofFile: Decodable {
    struct Group: Decodable {
        let publicKeyDer: String
        let tests: [Vector]
    }
    struct Vector: Decodable {
        let tcId: Int
        let comment: String
        let msg: String
        let sig: String
        let result: String
    }
    let testGroups: [Group]
}

private struct Tally: CustomStringConvertible {
    var valid = 0, invalid = 0, acceptable = 0, highSValid = 0
    var description: String { "\(valid) valid accepted, \(invalid) invalid rejected, \(acceptable) acceptable (refused)" }
}

@Suite("Wycheproof ECDSA vectors")
struct WycheproofTests {
    static let files: [(String, Curve)] = [
        ("ecdsa_secp256r1_sha256_test.json", .p256),
        ("ecdsa_secp256k1_sha256_test.json", .secp256k1),
    ]

    private func load(_ name: String) throws -> WycheproofFile? {
        guard let directory = wycheproofDirectory else {
            // In CI the vectors must be there: a test that passes without them proves nothing.
            if testDataRequired { Issue.record("the Wycheproof vectors are missing (../shared/wycheproof or $BACKSTOP_WYCHEPROOF); CI requires them") }
            print("skipping Wycheproof \(name): ../shared/wycheproof is not present (outside CI only)")
            return nil
        }
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try JSONDecoder().decode(WycheproofFile.self, from: data)
    }

    /// Intake agrees with every vector: `valid` verifies, `invalid` is refused at parsing or
    /// at verification. `acceptable` vectors (none in these two files) would be required to be
    /// refused, because Backstop accepts only strict DER.
    @Test("intake policy agrees with every vector", arguments: files)
    func intake(file: String, curve: Curve) throws {
        guard let vectors = try load(file) else { return }
        var tally = Tally()
        for group in vectors.testGroups {
            let key = try PublicKey(derRepresentation: Hex.decode(group.publicKeyDer)!, expectedCurve: curve)
            for vector in group.tests {
                let message = Hex.decode(vector.msg)!
                let accepted = (try? key.verify(signatureDER: Hex.decode(vector.sig)!, for: message, policy: .intake)) != nil
                switch vector.result {
                case "valid":
                    #expect(accepted, "tcId \(vector.tcId) (\(vector.comment)) is valid but was refused")
                    tally.valid += accepted ? 1 : 0
                case "invalid":
                    #expect(!accepted, "tcId \(vector.tcId) (\(vector.comment)) is invalid but was accepted")
                    tally.invalid += accepted ? 0 : 1
                default:
                    #expect(!accepted, "tcId \(vector.tcId) (\(vector.comment)) is acceptable-only but was accepted")
                    tally.acceptable += 1
                }
            }
        }
        print("Wycheproof \(file) intake: \(tally)")
        #expect(tally.valid > 150 && tally.invalid > 300)
    }

    /// Strict refuses every high-S `valid` signature and accepts its low-S twin; it also
    /// refuses everything intake refuses.
    @Test("strict policy refuses high S and accepts the normalised form", arguments: files)
    func strict(file: String, curve: Curve) throws {
        guard let vectors = try load(file) else { return }
        var tally = Tally()
        for group in vectors.testGroups {
            let key = try PublicKey(derRepresentation: Hex.decode(group.publicKeyDer)!)
            for vector in group.tests {
                let message = Hex.decode(vector.msg)!
                let der = Hex.decode(vector.sig)!
                let strict = (try? key.verify(signatureDER: der, for: message, policy: .strict)) != nil
                guard vector.result == "valid" else {
                    #expect(!strict, "tcId \(vector.tcId) accepted by strict")
                    tally.invalid += strict ? 0 : 1
                    continue
                }
                let signature = try ECDSASignature(derRepresentation: der, curve: curve, policy: .intake)
                if signature.isLowS {
                    #expect(strict, "tcId \(vector.tcId) low-S valid refused by strict")
                    tally.valid += strict ? 1 : 0
                } else {
                    #expect(!strict, "tcId \(vector.tcId) high-S accepted by strict")
                    #expect(throws: CryptoError.self) {
                        _ = try ECDSASignature(derRepresentation: der, curve: curve, policy: .strict)
                    }
                    let normalised = signature.lowS.derRepresentation
                    #expect(normalised != der)
                    #expect(try key.verify(signatureDER: normalised, for: message, policy: .strict) != nil, "tcId \(vector.tcId) normalised form refused")
                    tally.highSValid += 1
                }
            }
        }
        print("Wycheproof \(file) strict: \(tally.valid) low-S valid accepted, \(tally.highSValid) high-S valid refused and their low-S form accepted, \(tally.invalid) invalid rejected")
        #expect(tally.highSValid > 0)
    }
}
