import ArgumentParser
import BackstopCrypto
import Foundation

struct SignatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signature",
        abstract: "Sign a file, or verify a signature, with ECDSA over SHA-256 (DER).",
        subcommands: [Create.self, Verify.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign FILE; the same as `openssl dgst -sha256 -sign KEY -out SIG FILE`, but always low-S.",
            discussion: "Example: backstop signature create --key delegate-1.key.pem --in proposal.json --out approval.sig"
        )

        @OptionGroup var signer: SignerOptions

        @Option(name: .customLong("in"), help: "The file to sign.")
        var input: String

        @Option(help: "Where to write the DER signature (must not exist).")
        var out: String

        func run() throws {
            let privateKey = try signer.privateKey()
            let message = try Files.read(input, what: "input file")
            let signature = try privateKey.signature(for: message)
            try Files.writeNew(out, signature.derRepresentation, mode: 0o644, what: "signature file")
            print("signed \(input) with key \(privateKey.publicKey.fingerprint) into \(out)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a DER signature over FILE.",
            discussion: """
                Example: backstop signature verify --public-key delegate-1.pub.pem --signature approval.sig --in proposal.json
                Exit 0 valid, 1 invalid, 2 when an input cannot be read or parsed. Without --strict a \
                high-S signature (as openssl makes half the time) is valid; with --strict only the \
                low-S form that a ledger stores is.
                """
        )

        @Option(help: "Public key (PEM or DER SubjectPublicKeyInfo).")
        var publicKey: String

        @Option(help: "The DER signature file.")
        var signature: String

        @Option(name: .customLong("in"), help: "The signed file.")
        var input: String

        @Flag(help: "Require the stored form: strict DER and low S.")
        var strict = false

        func run() throws {
            let key = try Files.publicKey(publicKey)
            let der = try Files.read(signature, what: "signature file")
            let message = try Files.read(input, what: "input file")
            let parsed: ECDSASignature
            do {
                parsed = try ECDSASignature(derRepresentation: der, curve: key.curve, policy: .intake)
            } catch let error as CryptoError {
                throw CLIError.badInput("signature file \(signature): \(error)")
            }
            guard key.isValidSignature(parsed, for: message) else {
                throw CLIError.refused("invalid: the signature does not verify for key \(key.fingerprint) over \(input)")
            }
            if strict && !parsed.isLowS {
                throw CLIError.refused("invalid under --strict: the signature has a high S value (valid without --strict; a ledger stores the low-S form)")
            }
            print("valid: signed by key \(key.fingerprint)\(parsed.isLowS ? "" : " (high S; stored as low S)")")
        }
    }
}
