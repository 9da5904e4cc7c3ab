import BackstopCrypto
import BackstopFund
import BackstopLedger
import BackstopTestSupport
import Foundation
import Testing

/// Scalars a hostile drafter would reach for, and ordinary ones, to build random strings from.
private let pool: [Unicode.Scalar] = {
    var scalars: [Unicode.Scalar] = ["a", "Z", "0", " ", "\\", "{", "}", "u", "\"", "é", "Ж", "А", "中", "😀", "\u{05D0}", "\u{0627}", "\u{212A}", "K"]
    for value: UInt32 in [0x00, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x7F, 0x85, 0x9B, 0xA0, 0xAD, 0x0301, 0x034F, 0x061C, 0x200B, 0x200D, 0x200E,
                          0x2028, 0x202A, 0x202E, 0x2066, 0x2069, 0x3000, 0xFE0F, 0xFEFF, 0xE000, 0xE0041, 0x10FFFD, 0xFFFE, 0x1FFFF,
                          0x0600, 0x06DD, 0x1BCA0, 0x13430, 0x2800, 0x0415, 0x0441] {
        scalars.append(Unicode.Scalar(value)!)
    }
    return scalars
}()

private func randomString(_ random: inout SplitMix64) -> String {
    var text = String.UnicodeScalarView()
    for _ in 0..<Int.random(in: 0...24, using: &random) {
        if Bool.random(using: &random) {
            text.append(pool.randomElement(using: &random)!)
        } else if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &random)) {
            text.append(scalar)
        }
    }
    return String(text)
}

@Suite("Text: what payload strings may hold, and how any string is shown")
struct TextTests {
    @Test("escape: one line, nothing invisible or reordering left, and exactly reversible (10,000 random strings)")
    func escapeProperty() {
        var random = SplitMix64(state: 7)
        for _ in 0..<10_000 {
            let text = randomString(&random)
            let shown = SafeText.escape(text)
            #expect(SafeText.unescape(shown).map { Array($0.utf8) } == Array(text.utf8), "\(shown)")
            for scalar in shown.unicodeScalars {
                let category = scalar.properties.generalCategory
                #expect(!TextRules.isForbidden(scalar), "forbidden U+\(String(scalar.value, radix: 16)) in \(shown)")
                #expect(![.control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned, .surrogate,
                          .nonspacingMark, .spacingMark, .enclosingMark].contains(category), "U+\(String(scalar.value, radix: 16)) in \(shown)")
                #expect(category != .spaceSeparator || scalar == " ")
                #expect(!(0x0590...0x08FF).contains(scalar.value), "right-to-left U+\(String(scalar.value, radix: 16)) shown raw")
            }
        }
    }

    @Test("the spoofing strings from the report are shown as what they are")
    func spoofing() {
        let attack = "ETH=900@0xATTACKER\r\u{1B}[2K  pay: 900 ETH to Exchange A claimants at 0xrestitution"
        #expect(SafeText.escape(attack) == "ETH=900@0xATTACKER\\u{000D}\\u{001B}[2K  pay: 900 ETH to Exchange A claimants at 0xrestitution")
        #expect(SafeText.escape("claimants\nnote: destination verified by all 7 delegates").contains("\\u{000A}note:"))
        #expect(SafeText.escape("abc\u{202E}fed") == "abc\\u{202E}fed")
        // Look-alikes are shown with a note naming them.
        #expect(SafeText.show("Exchange А") == "Exchange А  [non-ASCII: U+0410 CYRILLIC CAPITAL LETTER A]")
        // NFC and NFD spellings are told apart: the combining mark is escaped.
        #expect(SafeText.escape("Caf\u{E9}") != SafeText.escape("Cafe\u{301}"))
        #expect(SafeText.escape("Cafe\u{301}") == "Cafe\\u{0301}")
        #expect(SafeText.name(of: "\u{1B}") == "U+001B ESCAPE" && SafeText.name(of: "\u{202E}") == "U+202E RIGHT-TO-LEFT OVERRIDE")
        // Look-alikes are named first, and none is left out however many there are.
        let note = SafeText.note("Café Müller Straße: Еxсhange A")!
        #expect(note.hasPrefix("non-ASCII: U+0415 CYRILLIC CAPITAL LETTER IE, U+0441 CYRILLIC SMALL LETTER ES,"), "\(note)")
        #expect(SafeText.note("ÀÁÂÃÄÅÆÇ")!.hasSuffix("and U+00C5, U+00C6, U+00C7"))
        #expect(SafeText.mixedScriptWarning("Еxсhange A", field: "payee") != nil && SafeText.mixedScriptWarning("Exchange A", field: "payee") == nil)
        #expect(SafeText.escape("blank\u{2800}") == "blank\\u{2800}")
    }

    @Test("the forbidden list: each range's ends are refused, their neighbours and ordinary text are not")
    func forbiddenRanges() {
        for range in TextRules.forbiddenRanges {
            for value in [range.lowerBound, range.upperBound] {
                if let scalar = Unicode.Scalar(value) { #expect(TextRules.isForbidden(scalar), "U+\(String(value, radix: 16))") }
            }
        }
        for value: UInt32 in [0x1FFFE, 0x2FFFF, 0x10FFFF] { #expect(TextRules.isForbidden(Unicode.Scalar(value)!)) }
        for text in ["Exchange A (Singapore)", "Café", "Cafe\u{301}", "Биржа", "取引所", "😀 ok", "a\\b", "tab-free"] {
            #expect(TextRules.firstForbidden(in: text) == nil, "\(text)")
        }
        // Every format character, separator and default-ignorable code point this Unicode
        // version knows is on the list (the list itself does not depend on the version).
        var missing: [String] = []
        for value: UInt32 in 0...0x10FFFF {
            guard let scalar = Unicode.Scalar(value), scalar != " " else { continue }
            let properties = scalar.properties
            let invisible = [.format, .control, .spaceSeparator, .lineSeparator, .paragraphSeparator].contains(properties.generalCategory)
                || properties.isDefaultIgnorableCodePoint
            if invisible && !TextRules.isForbidden(scalar) { missing.append(String(value, radix: 16)) }
        }
        #expect(missing.isEmpty, "not forbidden: \(missing)")
        for (text, position) in [("a\u{1B}b", 1), ("\n", 0), ("LIN\u{212A}", 3), ("x\u{202E}", 1), ("\u{0}", 0), ("ok\r", 2), ("A\u{1BCA0}B", 1)] {
            #expect(TextRules.firstForbidden(in: text)?.position == position, "\(SafeText.escape(text))")
        }
    }

    @Test("words: amounts grouped in units, durations, rates")
    func words() throws {
        #expect(Words.amount(try Amount(decimal: "1500", decimals: 18), decimals: 18) == "1,500")
        #expect(Words.amount(try Amount(decimal: "4836.26", decimals: 18), decimals: 18) == "4,836.26")
        #expect(Words.amount(Amount(1), decimals: 8) == "0.00000001")
        #expect(Words.amount(Amount(minorUnits: "1234567890123")!, decimals: 0) == "1,234,567,890,123")
        #expect(Words.amount(Amount(minorUnits: "1500000000000000000000")!, "ETH", decimals: nil) == "1500000000000000000000 ETH minor units (decimals unknown)")
        #expect(Words.duration(86_400) == "24 hours" && Words.duration(7 * 86_400) == "7 days" && Words.duration(3_600) == "1 hour")
        #expect(Words.duration(5_400) == "90 minutes" && Words.duration(0) == "none" && Words.duration(61) == "61 seconds")
        #expect(Words.percent(perMillion: 100) == "0.01%" && Words.percent(perMillion: 1) == "0.0001%" && Words.percent(perMillion: 1_000_000) == "100%")
        #expect(Fixture.policy.words(decimals: 6) == "0.01% of declared size per 30 days, floor 1,000 USDC, cap 100,000 USDC, grace 7 days")
    }
}

@Suite("Payload strings: refused when drafted, when submitted and when verified")
struct PayloadTextTests {
    static let hostile: [String] = ["\u{1B}[2K", "\r", "\n", "\u{0}", "\u{202E}", "\u{212A}"]

    /// A payload of each kind from `f`, with `text` put into one string field at a time.
    func payloads(_ f: Fixture, _ text: String) throws -> [(String, EntryKind, JSONValue)] {
        let key = Hex.encode(try PrivateKey(generatingOn: .p256).publicKey.derRepresentation)
        let fields: [(EntryKind, [String: JSONValue], [String])] = [
            (.admit, ["member": "m", "platform": "P", "key": .string(key), "size": "0"], ["member", "platform"]),
            (.memberStatus, ["member": "big", "status": "suspended", "reason": "r"], ["member", "reason"]),
            (.contribution, ["member": "big", "asset": "BTC", "amount": "1", "period": 0, "reference": "tx"], ["member", "asset", "reference"]),
            (.claim, f.claimFields(losses: ["BTC": "1"], member: "big"), ["platform", "description", "member"]),
            (.reject, ["claim": "c1", "reason": "r"], ["claim", "reason"]),
            (.cancel, ["release": "r1", "reason": "r"], ["release", "reason"]),
            (.settle, ["release": "r1", "reference": "tx"], ["release", "reference"]),
        ]
        var result: [(String, EntryKind, JSONValue)] = []
        for (kind, base, names) in fields {
            for name in names {
                var changed = base
                changed[name] = .string((base[name]?.stringValue ?? "") + text)
                result.append(("\(kind.rawValue).\(name)", kind, Payloads.make(kind, for: f.state, expires: f.expiry, fields: changed)))
            }
        }
        for field in ["payee", "destination", "asset"] {
            var payout: [String: JSONValue] = ["asset": "BTC", "amount": "1", "payee": "victims", "destination": "addr"]
            payout[field] = .string(payout[field]!.stringValue! + text)
            result.append(("release.\(field)", .release, Payloads.make(.release, for: f.state, expires: f.expiry, fields: ["claim": "c1", "payouts": [.object(payout)]])))
        }
        var id = Payloads.make(.reject, for: f.state, expires: f.expiry, fields: ["claim": "c1", "reason": "r"]).objectValue!
        id["id"] = .string("id" + text)
        result.append(("reject.id", .reject, .object(id)))
        return result
    }

    @Test("ESC, CR, LF, NUL, U+202E and U+212A in any field: refused when read, and by the rules at submit")
    func refusedEverywhere() throws {
        let (f, _) = try Fixture.withClaim()
        var checked = 0
        for text in Self.hostile {
            for (name, kind, payload) in try payloads(f, text) {
                let read = #expect(throws: FundError.self, "\(name) \(SafeText.escape(text))") { try Payload(payload) }
                #expect(read?.rule == .forbiddenCharacter, "\(name): \(read?.reason ?? "")")
                let signers = kind.isDelegateAction ? Array(f.delegates.prefix(4)) : [try PrivateKey(generatingOn: .p256)]
                let submitted = refusal { try f.fund.submit(kind, payload: payload, signatures: try Payloads.sign(payload, with: signers), time: f.now) }
                #expect(submitted?.rule == .forbiddenCharacter, "\(name): \(submitted?.reason ?? "")")
                checked += 1
            }
        }
        print("forbidden characters: \(checked) payloads refused when read and at submit")
    }

    @Test("a ledger written without the rules, holding a forbidden character, fails verification at that entry")
    func refusedByVerify() throws {
        let (f, key) = try Fixture.withClaim()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Copy the fund's entries into a raw store, then append an entry the rules never saw.
        let store = try LedgerStore.create(at: directory)
        _ = try LedgerScan.scan(file: f.fund.file!, verifySignatures: true) { entry, _ in
            try store.append(kind: entry.kind, time: entry.time, body: entry.body, signatures: entry.signatures)
        }
        for text in Self.hostile {
            let payload = Payloads.make(.contribution, for: f.state, expires: f.expiry, fields: [
                "member": "big", "asset": "BTC", "amount": "1", "period": 0, "reference": .string("tx" + text)])
            let copy = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: copy) }
            try FileManager.default.copyItem(at: directory.appendingPathComponent("ledger.jsonl"), to: copy.appendingPathComponent("ledger.jsonl"))
            let raw = try LedgerStore.open(at: copy)
            let (entry, _) = try raw.append(kind: "contribution", time: f.now, body: payload, signatures: try Payloads.sign(payload, with: [key]))
            let error = #expect(throws: FundError.self) { try Fund.verify(file: copy.appendingPathComponent("ledger.jsonl")) }
            #expect(error?.rule == .forbiddenCharacter && error?.seq == entry.seq, "\(error?.description ?? "")")
        }
    }

    @Test("an asset spelled with U+212A KELVIN SIGN is not the fund's asset")
    func kelvinSign() throws {
        let keys = try (0..<7).map { _ in try PrivateKey(generatingOn: .p256) }
        let delegates = keys.enumerated().map { Delegate(key: $0.element.publicKey, platform: "p\($0.offset)") }
        let policy = ContributionPolicy(asset: "LINK", ratePerMillion: 0, floor: .zero, cap: .zero, periodSeconds: 86_400, graceSeconds: 0)
        let genesis = Payloads.genesis(expires: Fixture.start.adding(seconds: 60)!, name: "F", assets: [("LINK", 18)], delegates: delegates, policy: policy)
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fund = try Fund.create(at: directory, genesis: genesis, signatures: try Payloads.sign(genesis, with: Array(keys.prefix(4))), time: Fixture.start)
        let member = try PrivateKey(generatingOn: .p256)
        let admit = Payloads.make(AdmitPayload(member: "m", platform: "M", key: member.publicKey, size: .zero), for: fund.state, expires: Fixture.start.adding(seconds: 60)!)
        try fund.submit(.admit, payload: admit, signatures: try Payloads.sign(admit, with: Array(keys.prefix(4))), time: Fixture.start)
        #expect("LIN\u{212A}" == "LINK", "Swift's String == treats them as equal: the rules must not use it")
        let payload = Payloads.make(.contribution, for: fund.state, expires: Fixture.start.adding(seconds: 60)!, fields: [
            "member": "m", "asset": "LIN\u{212A}", "amount": "1", "period": 0, "reference": "tx"])
        let error = refusal { try fund.submit(.contribution, payload: payload, signatures: try Payloads.sign(payload, with: [member]), time: Fixture.start) }
        #expect(error?.rule == .forbiddenCharacter && error?.reason.contains("U+212A KELVIN SIGN") == true)
        #expect(fund.state.balances["LINK"]?.contributed == .zero)
    }

    @Test("platform names are compared as bytes: NFC and NFD spellings are two platforms, and look different on screen")
    func platformsByBytes() throws {
        let keys = try (0..<3).map { _ in try PrivateKey(generatingOn: .p256) }
        let delegates = [Delegate(key: keys[0].publicKey, platform: "Caf\u{E9}"), Delegate(key: keys[1].publicKey, platform: "Cafe\u{301}"),
                         Delegate(key: keys[2].publicKey, platform: "Other")]
        let genesis = Payloads.genesis(expires: Fixture.start.adding(seconds: 60)!, name: "F", assets: [("USDC", 6)], delegates: delegates, threshold: 2, policy: Fixture.policy)
        let payload = try Payload(genesis)
        let lines = Screen(payload, state: nil).rendered
        #expect(lines.contains { $0.contains("Café  [non-ASCII: U+00E9 LATIN SMALL LETTER E WITH ACUTE], key") }, "\(lines)")
        #expect(lines.contains { $0.contains("Cafe\\u{0301}, key") }, "\(lines)")
    }
}
