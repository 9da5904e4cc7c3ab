import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

@Suite("Every rule code is triggered by a test")
struct RuleCodeTests {
    @Test("wrongDomain: a payload whose domain names another kind than its entry")
    func wrongDomain() throws {
        let (f, _) = try Fixture.withClaim()
        let release = f.releasePayload(claim: "c1", ["BTC": "1"])
        let error = refusal { _ = try f.fund.submit(.admit, payload: release, signatures: try Payloads.sign(release, with: Array(f.delegates.prefix(4))), time: f.now) }
        #expect(error?.rule == .wrongDomain && error?.reason.contains("an entry of kind admit needs \"backstop/v1/admit\"") == true, "\(String(describing: error))")
    }

    @Test("duplicateMember: the same member admitted twice")
    func duplicateMember() throws {
        let f = try Fixture()
        try f.admit("twice")
        #expect(refusal { try f.admit("twice") }?.rule == .duplicateMember)
    }

    @Test("unknownRelease: settling or cancelling a release that does not exist")
    func unknownRelease() throws {
        let (f, _) = try Fixture.withClaim()
        #expect(refusal { try f.delegateAction(.settle, ["release": "nowhere", "reference": "tx"]) }?.rule == .unknownRelease)
        #expect(refusal { try f.delegateAction(.cancel, ["release": "nowhere", "reason": "x"]) }?.rule == .unknownRelease)
    }

    @Test("notInitialized: a ledger whose entry 0 is not a genesis")
    func notInitialized() throws {
        let f = try Fixture()
        let admit = Payloads.make(.admit, for: f.state, expires: f.expiry, fields: ["member": "m", "platform": "P", "key": .string(Hex.encode(f.delegates[0].publicKey.derRepresentation)), "size": "0"])
        let entry = try Entry(seq: 0, prev: Entry.genesisPrev, time: f.now, kind: "admit", body: admit, signatures: [])
        let error = #expect(throws: FundError.self) { try FundState(genesis: entry, hash: try Entry.hash(line: entry.encoded().line)) }
        #expect(error?.rule == .notInitialized)
    }

    /// Each `FundError.Rule` must appear in an assertion of some test (`.rule == .code`,
    /// `[rule code]`, `"rule":"code"`): a code added without a test fails here.
    @Test("every code of FundError.Rule appears in a test's assertion")
    func everyCodeIsTested() throws {
        let source = try String(contentsOf: packageRoot.appendingPathComponent("Sources/BackstopFund/FundError.swift"), encoding: .utf8)
        let body = try #require(source.range(of: "public enum Rule: String, Sendable {").map { source[$0.upperBound...] })
        let block = body[..<(try #require(body.range(of: "}")).lowerBound)]
        let codes = block.split(separator: "\n").flatMap { line -> [String] in
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("case ") else { return [] }
            return text.dropFirst(5).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(codes.count >= 43)
        let tests = packageRoot.appendingPathComponent("Tests")
        var text = ""
        for case let url as URL in FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil)! where url.pathExtension == "swift" && url.lastPathComponent != "RuleCodeTests.swift" {
            text += try String(contentsOf: url, encoding: .utf8)
        }
        text += try String(contentsOf: packageRoot.appendingPathComponent("Tests/BackstopFundTests/RuleCodeTests.swift"), encoding: .utf8)
            .components(separatedBy: "func everyCodeIsTested")[0]
        let untested = codes.filter { code in
            !["rule == .\(code)", "[rule \(code)]", "\"rule\":\"\(code)\"", "as? String == \"\(code)\""].contains { text.contains($0) }
        }
        #expect(untested.isEmpty, "rule codes no test triggers: \(untested)")
    }
}
