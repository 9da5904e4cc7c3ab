import BackstopLedger
import Testing

@Suite("RFC 8785 canonical JSON and the strict parser")
struct CanonicalTests {
    private func canonical(_ text: String) throws -> String {
        String(decoding: Canonical.encode(try JSONParser.parse(Array(text.utf8))), as: UTF8.self)
    }

    @Test("RFC 8785 section 3.2.3: members sorted by UTF-16 code units")
    func sortingExample() throws {
        let input = #"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        #expect(try canonical(input) == expected)
    }

    @Test("RFC 8785 section 3.2.2.2: string escaping")
    func stringExample() throws {
        let input = #"["\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"]"#
        let expected = "[\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"]"
        #expect(try canonical(input) == expected)
    }

    @Test("input to exact bytes", arguments: [
        (#"{ "b" : [ 1 , true , null ] , "a" : { } }"#, #"{"a":{},"b":[1,true,null]}"#),
        (#"{"literals": [null, true, false]}"#, #"{"literals":[null,true,false]}"#),
        (#"[-9007199254740991, 0, 9007199254740991]"#, #"[-9007199254740991,0,9007199254740991]"#),
        ("\"\\u0000\\u001f\\b\\t\\f\\r\\n\"", "\"\\u0000\\u001f\\b\\t\\f\\r\\n\""),
        (#""\u00e9 \u2028 \ud834\udd1e""#, "\"\u{e9} \u{2028} \u{1d11e}\""),
        (#"{"aa":1,"a":2,"b":3,"B":4}"#, #"{"B":4,"a":2,"aa":1,"b":3}"#),
        // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FF61 although its code point is larger.
        (#"{"\uff61":1,"\ud83d\ude00":2}"#, "{\"\u{1f600}\":2,\"\u{ff61}\":1}"),
    ])
    func vectors(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
    }

    @Test("canonical input is accepted as canonical, other spellings are not")
    func parseCanonical() throws {
        #expect(try JSONParser.parseCanonical(Array(#"{"a":[1,"x"]}"#.utf8)) == ["a": [1, "x"]])
        for text in [#"{"a": 1}"#, #"{"b":1,"a":2}"#, #""\u0041""#, #""\/""#, "[1 ]"] {
            #expect(throws: JSONParseError.self, "\(text) is not canonical") { try JSONParser.parseCanonical(Array(text.utf8)) }
        }
    }

    /// A random value of the JSONValue subset, with strings that need every kind of escape.
    private func randomValue(_ generator: inout some RandomNumberGenerator, depth: Int = 0) -> JSONValue {
        let pieces = ["a", "B", "z", "0", " ", "\"", "\\", "/", "\u{0}", "\u{1f}", "\u{7f}", "\n", "\r", "\t", "\u{8}", "\u{c}", "é", "€", "😀", "\u{ff61}", "\u{2028}"]
        func text() -> String { (0..<Int.random(in: 0...4, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined() }
        switch Int.random(in: 0...(depth < 3 ? 6 : 3), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64.random(in: -JSONValue.maximumInteger...JSONValue.maximumInteger, using: &generator) >> Int64.random(in: 0...52, using: &generator))
        case 3: return .string(text())
        case 4: return .array((0..<Int.random(in: 0...3, using: &generator)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &generator) { members[text()] = randomValue(&generator, depth: depth + 1) }
            return .object(members)
        }
    }

    @Test("the one-pass canonical check agrees with parse-then-encode on 3,000 values and 30,000 single-byte edits of them")
    func canonicalAgreesWithEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        var accepted = 0, refused = 0
        let edits: [UInt8] = Array(" \t\n,:{}[]\"\\/0189-abefnrtuxAB".utf8) + [0x7f, 0xc3, 0xa9, 0xe2, 0x82, 0xac]
        for _ in 0..<3_000 {
            let value = randomValue(&generator)
            let bytes = Canonical.encode(value)
            #expect(try JSONParser.parseCanonical(bytes) == value)
            for _ in 0..<10 {
                var edited = bytes
                let position = Int.random(in: 0...edited.count, using: &generator)
                let byte = edits.randomElement(using: &generator)!
                switch Int.random(in: 0...2, using: &generator) {
                case 0: edited.insert(byte, at: position)
                case 1 where position < edited.count: edited[position] = byte
                default: if position < edited.count { edited.remove(at: position) }
                }
                // The oracle: a canonical text is one that parses and encodes back to itself.
                let oracle = (try? JSONParser.parse(edited)).map { Canonical.encode($0) == edited } ?? false
                let onePass = (try? JSONParser.parseCanonical(edited)) != nil
                #expect(onePass == oracle, "\(String(decoding: edited, as: UTF8.self))")
                if onePass { accepted += 1 } else { refused += 1 }
            }
        }
        print("canonical check: \(accepted) edited texts still canonical, \(refused) refused, all as parse-then-encode decides")
        #expect(refused > 10_000 && accepted > 100)
    }

    @Test("the parser refuses what it must, naming why", arguments: [
        (#"{"a":1,"a":2}"#, "appears twice"),
        ("1.5", "only integers"),
        ("1e3", "only integers"),
        ("9007199254740992", "beyond 2^53"),
        ("-0", "-0"),
        ("01", "leading zero"),
        (#""\ud800""#, "surrogate"),
        (#""\udc00""#, "surrogate"),
        ("\"a\u{01}\"", "control character"),
        ("[1] x", "after the JSON value"),
        ("[1,]", "unexpected character"),
        ("{\"a\":1", "expected"),
        (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "nesting"),
        ("tru", "literal"),
        (#""\x""#, "invalid escape"),
    ])
    func refusals(text: String, reason: String) {
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
        #expect(error?.reason.contains(reason) == true, "\(error?.description ?? "no error") should say \(reason)")
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        let bytes: [UInt8] = [0x22, 0x61, 0xC3, 0x28, 0x22]
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(bytes) }
        #expect(error?.reason.contains("UTF-8") == true)
    }

    @Test("times have exactly one spelling")
    func timestamps() throws {
        let time = try #require(Timestamp("2024-02-29T23:59:59Z"))
        #expect(time.description == "2024-02-29T23:59:59Z")
        #expect(Timestamp("1970-01-01T00:00:00Z")?.secondsSinceEpoch == 0)
        #expect(Timestamp("2022-01-17T00:00:00Z")?.secondsSinceEpoch == 1_642_377_600)
        for bad in ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+00:00",
                    "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.5Z", "1969-12-31T23:59:59Z", "2024-1-01T00:00:00Z"] {
            #expect(Timestamp(bad) == nil, "\(bad) should be refused")
        }
        for seconds: Int64 in [0, 951_782_400, 1_700_000_000, 4_102_444_800, Timestamp.range.upperBound] {
            let time = try #require(Timestamp(secondsSinceEpoch: seconds))
            #expect(Timestamp(time.description) == time)
        }
    }
}
