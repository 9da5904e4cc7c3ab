import BackstopCrypto
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// The example of Docs/LIBRARY.md, as written there, so that the document cannot drift.
@Test("the Docs/LIBRARY.md example runs")
func libraryExample() throws {
    let scratch = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: scratch) }

    let key = try PrivateKey(generatingOn: .p256)                 // or .secp256k1
    let pem = try key.pemRepresentation(passphrase: Array("pw".utf8)) // encrypted PKCS#8
    let again = try PrivateKey(pemRepresentation: pem, passphrase: Array("pw".utf8))

    let message = Array("proposal bytes".utf8)
    let signature = try again.signature(for: message)               // always low-S
    let der = signature.derRepresentation                            // as openssl dgst -sign writes

    let publicKey = try PublicKey(pemRepresentation: key.publicKey.pemRepresentation)
    let stored = try publicKey.verify(signatureDER: der, for: message, policy: .intake)
    #expect(stored == signature)

    let folder = scratch.appendingPathComponent("fund")
    let store = try LedgerStore.create(at: folder)
    let body: JSONValue = ["domain": "backstop/v1/example", "note": "hello"]
    let bodySignature = try key.signature(for: Canonical.encode(body))
    let (entry, hash) = try store.append(
        kind: "example",
        time: Timestamp("2026-01-01T00:00:00Z")!,
        body: body,
        signatures: [EntrySignature(publicKey: key.publicKey, signature: bodySignature)])
    #expect(entry.seq == 0 && store.fundId == hash)

    var kinds: [String] = []
    let result = try LedgerScan.scan(file: folder.appendingPathComponent("ledger.jsonl"), verifySignatures: true) { entry, _ in
        kinds.append(entry.kind)
    }
    #expect(result.entryCount == 1 && kinds == ["example"])
}
