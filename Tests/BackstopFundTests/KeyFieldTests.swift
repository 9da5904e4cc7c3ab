import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Payload keys: one encoding per key")
struct KeyFieldTests {
    @Test("a payload key in another encoding of a valid key (compressed, hybrid, explicit parameters, BER lengths, uppercase hex) is refused, naming the canonical form")
    func strictKeys() throws {
        let (f, _) = try Fixture.withClaim()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try PrivateKey(generatingOn: .p256)
        let keyPath = directory.appendingPathComponent("k.pem").path
        try key.pemRepresentation().write(toFile: keyPath, atomically: true, encoding: .utf8)
        var encodings: [(String, String)] = []
        for options in [["-conv_form", "compressed"], ["-conv_form", "hybrid"], ["-param_enc", "explicit"]] {
            let pem = try openssl(arguments: ["ec", "-in", keyPath, "-pubout"] + options).stdout
            let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            encodings.append((options.joined(separator: " "), Hex.encode(try #require(Base64.decode(body)))))
        }
        let canonical = key.publicKey.derRepresentation
        encodings.append(("BER long-form length", Hex.encode([0x30, 0x81] + canonical.dropFirst())))
        encodings.append(("uppercase hex", Hex.encode(canonical).uppercased()))
        for (what, hex) in encodings {
            let fields: [String: JSONValue] = ["member": "newcomer", "platform": "New", "key": .string(hex), "size": "0"]
            let error = refusal { try f.delegateAction(.admit, fields) }
            #expect(error?.rule == .malformedPayload, "\(what) was not refused")
        }
        let compressed = try #require(encodings.first?.1)
        let error = refusal { try f.delegateAction(.admit, ["member": "newcomer", "platform": "New", "key": .string(compressed), "size": "0"]) }
        #expect(error?.reason.contains("not in its canonical form") == true && error?.reason.contains(Hex.encode(canonical)) == true, "\(String(describing: error))")
        try f.delegateAction(.admit, ["member": "newcomer", "platform": "New", "key": .string(Hex.encode(canonical)), "size": "0"])
        #expect(f.state.members["newcomer"]?.key == key.publicKey)
    }
}
