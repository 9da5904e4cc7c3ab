import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Signed notes and checkpoints (C2SP), with openssl as the peer")
struct NoteTests {
    static let root = (0..<32).map { UInt8($0) }
    static let checkpoint = Checkpoint(origin: "backstop/5b2ea3fa", size: 20852163, root: root)

    @Test("a checkpoint reads back from its text; other texts are refused")
    func checkpointText() throws {
        #expect(Self.checkpoint.text == "backstop/5b2ea3fa\n20852163\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
        #expect(try Checkpoint(text: Self.checkpoint.text) == Self.checkpoint)
        for bad in ["backstop/x\n012\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "backstop/x\n12\nAAEC\n", "backstop x\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
                    "backstop/x\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nextra\n", "backstop/x\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"] {
            #expect(throws: LedgerError.self, "\(bad)") { try Checkpoint(text: bad) }
        }
        #expect(Base64.decode("AAECAw==") == [0, 1, 2, 3] && Base64.decode("AAECAx==") == nil && Base64.decode("AAEC Aw==") == nil)
    }

    @Test("a note signed by hand with the openssl command line (ECDSA P-256, type 0x02) verifies; a changed text does not")
    func opensslSignedNote() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try Self.checkpoint.text.write(toFile: path("text"), atomically: true, encoding: .utf8)
        #expect(try openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path("key.pem")).status == 0)
        #expect(try openssl("pkey", "-in", path("key.pem"), "-pubout", "-out", path("pub.pem")).status == 0)
        // The whole note, made with the shell: key ID = SHA-256(SPKI DER)[:4], then the DER signature.
        let script = """
            set -e; cd '\(directory.path)'
            openssl pkey -pubin -in pub.pem -outform DER | openssl dgst -sha256 -binary | head -c 4 > keyid
            openssl dgst -sha256 -sign key.pem -out sig text
            { cat text; printf '\\n\\342\\200\\224 example.com/log '; cat keyid sig | openssl base64 -A; printf '\\n'; } > note
            """
        #expect(try runProcess("/bin/sh", ["-c", script]).status == 0)
        let note = try SignedNote(parsing: try String(contentsOfFile: path("note"), encoding: .utf8))
        let key = NoteKey.ecdsa(name: "example.com/log", key: try PublicKey(pemRepresentation: try String(contentsOfFile: path("pub.pem"), encoding: .utf8)))
        #expect(note.text == Self.checkpoint.text && note.signatures.count == 1)
        #expect(key.verify(note.signatures[0], text: note.text) == 0)
        #expect(key.verify(note.signatures[0], text: note.text.replacingOccurrences(of: "20852163", with: "20852164")) == nil)
        // The other way: a note Backstop signs verifies with openssl.
        let ours = try PrivateKey(pemRepresentation: try String(contentsOfFile: path("key.pem"), encoding: .utf8)).noteSignature(name: "example.com/log", text: note.text)
        try Data(ours.bytes).write(to: URL(fileURLWithPath: path("ours.sig")))
        #expect(try openssl("dgst", "-sha256", "-verify", path("pub.pem"), "-signature", path("ours.sig"), path("text")).stdout.contains("Verified OK"))
        #expect(ours.keyID == note.signatures[0].keyID)
    }

    @Test("Ed25519 cosignatures (tlog-cosignature v1) interoperate with openssl, carry their time, and bind name and key")
    func ed25519Cosignature() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        #expect(try openssl("genpkey", "-algorithm", "ed25519", "-out", path("w.pem")).status == 0)
        let witness = try Ed25519PrivateKey(pemRepresentation: try String(contentsOfFile: path("w.pem"), encoding: .utf8))
        let cosignature = try witness.cosignature(name: "witness.example/w1", text: Self.checkpoint.text, time: 1_679_315_147)
        let key = NoteKey.ed25519Cosigner(name: "witness.example/w1", key: witness.publicKey)
        #expect(key.verify(cosignature, text: Self.checkpoint.text) == 1_679_315_147)
        #expect(NoteKey.ed25519Cosigner(name: "witness.example/w2", key: witness.publicKey).verify(cosignature, text: Self.checkpoint.text) == nil)
        var tampered = cosignature.bytes
        tampered[7] ^= 1   // another time
        #expect(key.verify(SignedNote.Signature(name: cosignature.name, keyID: cosignature.keyID, bytes: tampered), text: Self.checkpoint.text) == nil)
        // openssl verifies Backstop's Ed25519 signature over the cosigned message, and makes one Backstop accepts.
        try Data(NoteKey.cosignedMessage(Self.checkpoint.text, time: 1_679_315_147)).write(to: URL(fileURLWithPath: path("message")))
        try Data(cosignature.bytes.dropFirst(8)).write(to: URL(fileURLWithPath: path("ours.sig")))
        try witness.publicKey.pemRepresentation.write(toFile: path("w.pub.pem"), atomically: true, encoding: .utf8)
        let verified = try openssl("pkeyutl", "-verify", "-pubin", "-inkey", path("w.pub.pem"), "-rawin", "-in", path("message"), "-sigfile", path("ours.sig"))
        #expect(verified.status == 0 && verified.stdout.contains("Success"), "\(verified.stdout) \(verified.stderr)")
        #expect(try openssl("pkeyutl", "-sign", "-inkey", path("w.pem"), "-rawin", "-in", path("message"), "-out", path("theirs.sig")).status == 0)
        let theirs = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path("theirs.sig"))))
        let line = SignedNote.Signature(name: "witness.example/w1", keyID: key.keyID, bytes: NoteKey.timeBytes(1_679_315_147) + theirs)
        #expect(key.verify(line, text: Self.checkpoint.text) == 1_679_315_147)
        #expect(try Ed25519PublicKey(pemRepresentation: try String(contentsOfFile: path("w.pub.pem"), encoding: .utf8)) == witness.publicKey)
    }

    @Test("a note with signatures reads back from its rendering; malformed notes are refused")
    func noteParsing() throws {
        let delegate = try PrivateKey(generatingOn: .secp256k1)
        var note = SignedNote(text: Self.checkpoint.text)
        #expect(note.rendered == Self.checkpoint.text)
        note = note.adding(try delegate.noteSignature(name: "delegate", text: note.text))
        note = note.adding(try delegate.cosignature(name: "delegate", text: note.text, time: 1_800_000_000))
        let parsed = try SignedNote(parsing: note.rendered)
        #expect(parsed == note && parsed.signatures.count == 2)
        #expect(NoteKey.ecdsa(name: "delegate", key: delegate.publicKey).verify(parsed.signatures[0], text: parsed.text) == 0)
        #expect(NoteKey.ecdsaCosigner(name: "delegate", key: delegate.publicKey).verify(parsed.signatures[1], text: parsed.text) == 1_800_000_000)
        #expect(NoteKey.ecdsaCosigner(name: "delegate", key: delegate.publicKey).verify(parsed.signatures[0], text: parsed.text) == nil)
        for bad in [note.rendered + "\u{1B}", String(note.rendered.dropLast()), note.rendered.replacingOccurrences(of: "\u{2014} delegate", with: "- delegate"),
                    note.rendered.replacingOccurrences(of: "\u{2014} delegate ", with: "\u{2014} dele+gate ")] {
            #expect(throws: LedgerError.self) { try SignedNote(parsing: bad) }
        }
    }
}
