import ArgumentParser
import BackstopCrypto
import Foundation

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Make keys and show their fingerprints.",
        subcommands: [Generate.self, Public.self, Fingerprint.self]
    )

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a key pair: PREFIX.key.pem (PKCS#8, mode 0600) and PREFIX.pub.pem.",
            discussion: """
                Example: backstop key generate --out delegate-1 --encrypt
                Neither file may exist yet. With --encrypt the private key is encrypted \
                (PBES2, AES-256-CBC); the passphrase is asked on the terminal or read from \
                --passphrase-file.
                """
        )

        @Option(help: "Curve: p256 or secp256k1.")
        var curve: Curve = .p256

        @Flag(help: "Make an Ed25519 key instead, for a witness that cosigns checkpoints.")
        var ed25519 = false

        @Option(help: "Path prefix of the two files to write.")
        var out: String

        @Flag(help: "Encrypt the private key with a passphrase.")
        var encrypt = false

        @Option(help: "Read the passphrase from the first line of this file (implies --encrypt).")
        var passphraseFile: String?

        @Flag(help: "Print the fingerprint as JSON.")
        var json = false

        func run() throws {
            let keyPath = out + ".key.pem", publicPath = out + ".pub.pem"
            for path in [keyPath, publicPath] where FileManager.default.fileExists(atPath: path) {
                throw CLIError.badInput("\(path) already exists; refusing to overwrite it")
            }
            var passphrase: [UInt8]? = nil
            if let passphraseFile {
                passphrase = try Passphrase.fromFile(passphraseFile)
            } else if encrypt {
                let first = try Passphrase.ask("New passphrase for \(keyPath): ")
                guard try Passphrase.ask("Repeat the passphrase: ") == first else { throw CLIError.badInput("the passphrases differ") }
                passphrase = first
            }
            if ed25519 {
                let key = try Ed25519PrivateKey()
                try Files.writeNew(keyPath, Array(try key.pemRepresentation(passphrase: passphrase).utf8), mode: 0o600, what: "key file")
                try Files.writeNew(publicPath, Array(key.publicKey.pemRepresentation.utf8), mode: 0o644, what: "public key file")
                if json { return print(#"{"type":"ed25519","key":"\#(Hex.encode(key.publicKey.rawRepresentation))","privateKey":"\#(keyPath)","publicKey":"\#(publicPath)"}"#) }
                print("wrote \(keyPath) (private, keep it offline) and \(publicPath)")
                return print("ed25519 key \(Hex.encode(key.publicKey.rawRepresentation))")
            }
            let key = try PrivateKey(generatingOn: curve)
            try Files.writeNew(keyPath, Array(try key.pemRepresentation(passphrase: passphrase).utf8), mode: 0o600, what: "key file")
            try Files.writeNew(publicPath, Array(key.publicKey.pemRepresentation.utf8), mode: 0o644, what: "public key file")
            if json {
                print(#"{"curve":"\#(curve.rawValue)","fingerprint":"\#(key.publicKey.fingerprint)","privateKey":"\#(keyPath)","publicKey":"\#(publicPath)"}"#)
            } else {
                print("wrote \(keyPath) (private, keep it offline) and \(publicPath)")
                print("fingerprint \(key.publicKey.fingerprint)")
            }
        }
    }

    struct Public: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "public",
            abstract: "Write the public key of a private key (PEM), such as a lost .pub.pem file.",
            discussion: """
                Example: backstop key public --key delegate-1.key.pem --out delegate-1.pub.pem
                The same as: openssl pkey -in delegate-1.key.pem -pubout -out delegate-1.pub.pem
                """
        )

        @OptionGroup var signer: SignerOptions

        @Option(help: "Where to write the public key (must not exist).")
        var out: String

        func run() throws {
            let key = try signer.privateKey()
            try Files.writeNew(out, Array(key.publicKey.pemRepresentation.utf8), mode: 0o644, what: "public key file")
            print("wrote \(out)")
            print("fingerprint \(key.publicKey.fingerprint)")
        }
    }

    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a public key's fingerprint: SHA-256 of its SubjectPublicKeyInfo DER, in hex.",
            discussion: """
                Example: backstop key fingerprint delegate-1.pub.pem
                The same value as: openssl pkey -pubin -in delegate-1.pub.pem -outform DER | openssl dgst -sha256
                """
        )

        @Argument(help: "Public key file (PEM or DER).")
        var publicKey: String

        func run() throws {
            print(try Files.publicKey(publicKey).fingerprint)
        }
    }
}

extension Curve: ExpressibleByArgument {}
