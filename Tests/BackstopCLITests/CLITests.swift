import BackstopCrypto
import BackstopTestSupport
import Foundation
import Testing

/// Runs the built `backstop` executable.
func backstop(_ arguments: String..., in directory: URL? = nil, input: [UInt8] = []) throws -> ProcessResult {
    try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments, input: input, currentDirectory: directory)
}

/// Runs the built `backstop` executable with an argument list.
func backstop(_ arguments: [String]) throws -> ProcessResult {
    try runProcess(productsDirectory.appendingPathComponent("backstop").path, arguments)
}

@Suite("The backstop command line: keys and signatures")
struct CLITests {
    @Test("key generate writes a 0600 PKCS#8 key and its public key, refuses to overwrite, and matches openssl")
    func keyGenerate() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("delegate").path
        let made = try backstop("key", "generate", "--curve", "secp256k1", "--out", prefix, "--json")
        #expect(made.status == 0, "\(made.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: prefix + ".key.pem")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try openssl("pkey", "-in", prefix + ".key.pem", "-noout", "-text")
        #expect(text.status == 0 && text.stdout.contains("secp256k1"))
        let fingerprint = try backstop("key", "fingerprint", prefix + ".pub.pem")
        #expect(made.stdout.contains(fingerprint.stdout.trimmingCharacters(in: .newlines)))
        let digest = try runProcess("/bin/sh", ["-c", "openssl pkey -pubin -in '\(prefix).pub.pem' -outform DER | openssl dgst -sha256 -r"])
        #expect(digest.stdout.hasPrefix(fingerprint.stdout.trimmingCharacters(in: .newlines)) && fingerprint.stdout.count == 65)

        let again = try backstop("key", "generate", "--out", prefix)
        #expect(again.status == 2 && again.stderr.contains("already exists"))
    }

    @Test("an encrypted key is written with --passphrase-file and read back only with the right passphrase")
    func encryptedKey() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("d").path
        let passphrase = directory.appendingPathComponent("pass").path
        let wrong = directory.appendingPathComponent("wrong").path
        let data = directory.appendingPathComponent("data").path
        try "open sesame\n".write(toFile: passphrase, atomically: true, encoding: .utf8)
        try "open says me\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        try "payload".write(toFile: data, atomically: true, encoding: .utf8)
        #expect(try backstop("key", "generate", "--out", prefix, "--passphrase-file", passphrase).status == 0)
        #expect(try String(contentsOfFile: prefix + ".key.pem", encoding: .utf8).hasPrefix("-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        // openssl reads it with the same passphrase.
        #expect(try openssl("pkey", "-in", prefix + ".key.pem", "-passin", "pass:open sesame", "-noout").status == 0)
        let bad = try backstop("signature", "create", "--key", prefix + ".key.pem", "--passphrase-file", wrong, "--in", data, "--out", data + ".sig")
        #expect(bad.status == 2 && bad.stderr.contains("wrong passphrase"))
        let good = try backstop("signature", "create", "--key", prefix + ".key.pem", "--passphrase-file", passphrase, "--in", data, "--out", data + ".sig")
        #expect(good.status == 0, "\(good.stderr)")
    }

    @Test("signature create matches openssl dgst -sign, verify accepts openssl's, exit codes 0, 1, 2")
    func signatures() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        #expect(try backstop("key", "generate", "--out", path("k")).status == 0)
        try "release 10 BTC".write(toFile: path("data"), atomically: true, encoding: .utf8)
        try "release 99 BTC".write(toFile: path("other"), atomically: true, encoding: .utf8)

        let created = try backstop("signature", "create", "--key", path("k.key.pem"), "--in", path("data"), "--out", path("ours.sig"))
        #expect(created.status == 0, "\(created.stderr)")
        let checked = try openssl("dgst", "-sha256", "-verify", path("k.pub.pem"), "-signature", path("ours.sig"), path("data"))
        #expect(checked.stdout.contains("Verified OK"))
        #expect(try backstop("signature", "verify", "--public-key", path("k.pub.pem"), "--signature", path("ours.sig"), "--in", path("data"), "--strict").status == 0)

        // openssl's signatures: valid for intake; under --strict only when low-S.
        var sawHighS = false
        for round in 0..<16 where !sawHighS {
            let sig = path("theirs-\(round).sig")
            #expect(try openssl("dgst", "-sha256", "-sign", path("k.key.pem"), "-out", sig, path("data")).status == 0)
            let intake = try backstop("signature", "verify", "--public-key", path("k.pub.pem"), "--signature", sig, "--in", path("data"))
            #expect(intake.status == 0, "\(intake.stderr)")
            let parsed = try ECDSASignature(derRepresentation: [UInt8](Data(contentsOf: URL(fileURLWithPath: sig))), curve: .p256, policy: .intake)
            let strict = try backstop("signature", "verify", "--public-key", path("k.pub.pem"), "--signature", sig, "--in", path("data"), "--strict")
            if parsed.isLowS {
                #expect(strict.status == 0)
            } else {
                sawHighS = true
                #expect(strict.status == 1 && strict.stderr.contains("high S"))
            }
        }
        #expect(sawHighS, "16 openssl signatures were all low-S (p = 2^-16)")

        let tampered = try backstop("signature", "verify", "--public-key", path("k.pub.pem"), "--signature", path("ours.sig"), "--in", path("other"))
        #expect(tampered.status == 1 && tampered.stderr.contains("invalid"))
        let missing = try backstop("signature", "verify", "--public-key", path("none.pem"), "--signature", path("ours.sig"), "--in", path("data"))
        #expect(missing.status == 2 && missing.stderr.contains("none.pem does not exist"))
        let garbage = try backstop("signature", "verify", "--public-key", path("k.pub.pem"), "--signature", path("data"), "--in", path("data"))
        #expect(garbage.status == 2 && garbage.stderr.contains("signature file"))
        let notAKey = try backstop("signature", "verify", "--public-key", path("data"), "--signature", path("ours.sig"), "--in", path("data"))
        #expect(notAKey.status == 2 && notAKey.stderr.contains("public key"))
        let wrongType = try backstop("signature", "create", "--key", path("k.pub.pem"), "--in", path("data"), "--out", path("x.sig"))
        #expect(wrongType.status == 2 && wrongType.stderr.contains("PUBLIC KEY"))
        let usage = try backstop("signature", "create", "--key", path("k.key.pem"))
        #expect(usage.status == 2 && usage.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: path("x.sig")))
    }

    @Test("verify refuses a well-formed chain that is not a fund, and unusable input, with the documented codes")
    func verifyLedger() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ledger = directory.appendingPathComponent("ledger")
        let torture = productsDirectory.appendingPathComponent("backstop-torture").path
        #expect(try runProcess(torture, [ledger.path, "6"]).status == 0)
        // The chain and signatures are sound, but entry 0 is no genesis: the rules refuse it.
        let notFund = try backstop("verify", "--ledger", ledger.path, "--json")
        #expect(notFund.status == 1 && notFund.stdout.contains(#""ok":false"#) && notFund.stdout.contains(#""seq":0"#), "\(notFund.stdout)")
        #expect(notFund.stdout.contains("must be a genesis"))
        let text = try backstop("verify", "--ledger", ledger.path)
        #expect(text.status == 1 && text.stderr.contains("NOT intact: entry 0"))
        let wrongFund = try backstop("verify", "--ledger", ledger.path, "--fund-id", "zz")
        #expect(wrongFund.status == 2 && wrongFund.stderr.contains("--fund-id"))
        let none = try backstop("verify", "--ledger", directory.appendingPathComponent("nothing").path)
        #expect(none.status == 2 && none.stderr.contains("no ledger"))
    }
}
