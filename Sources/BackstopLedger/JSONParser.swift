/// A strict JSON reader (RFC 8259) for the ``JSONValue`` subset.
///
/// It refuses what a lenient reader would guess at: invalid UTF-8, unpaired surrogate
/// escapes, a key twice in one object, fractions and exponents, integers beyond 2^53 - 1,
/// `-0`, nesting deeper than ``maximumDepth``, and anything after the value.
public struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 32

    /// Parses `bytes` as one JSON value.
    ///
    /// - Throws: ``JSONParseError`` with the byte offset and what was wrong.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = Cursor(bytes: buffer)
            try parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            try parser.skipWhitespace()
            guard parser.offset == buffer.count else { throw parser.error("unexpected bytes after the JSON value") }
            return value
        }
    }

    /// Parses `bytes` as one JSON value and requires them to be its canonical (RFC 8785) form.
    ///
    /// One pass: the form is checked while parsing (no whitespace, members in increasing
    /// UTF-16 order of their keys, only the escapes ``Canonical`` writes), never by
    /// encoding the value again.
    public static func parseCanonical(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try parseCanonical(bytes, member: nil).value
    }

    /// Parses `bytes` as a canonical JSON value and also returns where the value of the
    /// top-level member `member` lies in `bytes` (nil when there is no such member): the
    /// canonical bytes of that value, since canonical form is the same inside and out.
    public static func parseCanonical(_ bytes: [UInt8], member: String?) throws(JSONParseError) -> (value: JSONValue, range: Range<Int>?) {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = Cursor(bytes: buffer, canonical: true)
            parser.wanted = member
            let value = try parser.value(depth: 0)
            guard parser.offset == buffer.count else { throw parser.error("unexpected bytes after the JSON value") }
            return (value, parser.found)
        }
    }
}

/// Why a JSON document was refused, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The byte offset where the problem was found.
    public let offset: Int
    /// What was wrong.
    public let reason: String
    /// "at byte N: reason".
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    /// Canonical (RFC 8785) form required: no whitespace, sorted keys, minimal escapes.
    let canonical: Bool
    /// A top-level member whose value's byte range is wanted, and where it was found.
    var wanted: String?
    var found: Range<Int>?

    init(bytes: UnsafeBufferPointer<UInt8>, canonical: Bool = false) {
        self.bytes = bytes
        self.canonical = canonical
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: offset, reason: reason) }

    func notCanonical(_ what: String) -> JSONParseError {
        JSONParseError(offset: offset, reason: "not in canonical form (RFC 8785: sorted keys, no whitespace, minimal escapes): \(what)")
    }

    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    /// Whitespace between tokens: skipped, or refused in canonical form.
    mutating func skipWhitespace() throws(JSONParseError) {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            if canonical { throw notCanonical("whitespace") }
            offset += 1
        }
    }

    mutating func expect(_ literal: String, _ value: JSONValue) throws(JSONParseError) -> JSONValue {
        for expected in literal.utf8 {
            guard current == expected else { throw error("invalid literal, expected '\(literal)'") }
            offset += 1
        }
        return value
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try integer())
        default: throw error("unexpected character \(describe(byte))")
        }
    }

    mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
        offset += 1
        var members: [String: JSONValue] = [:]
        var previousKey: String? = nil
        try skipWhitespace()
        if current == UInt8(ascii: "}") { offset += 1; return .object(members) }
        while true {
            try skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = offset
            let key = try string()
            if canonical, let previousKey, !Self.precedes(previousKey, key) {
                throw JSONParseError(offset: keyOffset, reason: previousKey == key
                    ? "key \"\(key)\" appears twice in one object"
                    : "not in canonical form (RFC 8785: sorted keys, no whitespace, minimal escapes): key \"\(key)\" after \"\(previousKey)\"")
            }
            previousKey = key
            try skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after key") }
            offset += 1
            try skipWhitespace()
            let valueStart = offset
            let member = try value(depth: depth)
            if depth == 1, let wanted, key == wanted { found = valueStart..<offset }
            guard members.updateValue(member, forKey: key) == nil else {
                throw JSONParseError(offset: keyOffset, reason: "key \"\(key)\" appears twice in one object")
            }
            try skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return .object(members)
            default: throw error("expected ',' or '}' in object")
            }
        }
    }

    mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
        offset += 1
        var elements: [JSONValue] = []
        try skipWhitespace()
        if current == UInt8(ascii: "]") { offset += 1; return .array(elements) }
        while true {
            try skipWhitespace()
            elements.append(try value(depth: depth))
            try skipWhitespace()
            switch current {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return .array(elements)
            default: throw error("expected ',' or ']' in array")
            }
        }
    }

    mutating func integer() throws(JSONParseError) -> Int64 {
        let start = offset
        var negative = false
        if current == UInt8(ascii: "-") { negative = true; offset += 1 }
        guard let first = current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else { throw error("expected a digit") }
        var magnitude: Int64 = 0
        if first == UInt8(ascii: "0") {
            offset += 1
        } else {
            while let digit = current, digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") {
                magnitude = magnitude * 10 + Int64(digit - UInt8(ascii: "0"))
                guard magnitude <= JSONValue.maximumInteger else {
                    throw JSONParseError(offset: start, reason: "integer beyond 2^53 - 1; write large numbers as strings")
                }
                offset += 1
            }
        }
        if let next = current, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
            throw JSONParseError(offset: start, reason: "only integers are allowed (no fraction or exponent); amounts are decimal strings")
        }
        if let next = current, next >= UInt8(ascii: "0"), next <= UInt8(ascii: "9") {
            throw JSONParseError(offset: start, reason: "integer with a leading zero")
        }
        if negative && magnitude == 0 { throw JSONParseError(offset: start, reason: "-0 is not allowed") }
        return negative ? -magnitude : magnitude
    }

    mutating func string() throws(JSONParseError) -> String {
        let opening = offset
        offset += 1
        // Unescaped runs are copied as bytes; the whole string is validated as UTF-8 once.
        var output: [UInt8] = []
        var runStart = offset
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                let text: String?
                if output.isEmpty && runStart == opening + 1 {
                    // No escape: the string is the bytes between the quotes.
                    text = String(validating: UnsafeBufferPointer(rebasing: bytes[runStart..<offset]), as: UTF8.self)
                } else {
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<offset]))
                    text = String(validating: output, as: UTF8.self)
                }
                offset += 1
                guard let text else {
                    throw JSONParseError(offset: opening, reason: "string is not valid UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<offset]))
                offset += 1
                output.append(contentsOf: String(try escape()).utf8)
                runStart = offset
            case 0x00..<0x20:
                throw error("control character \(describe(byte)) must be escaped in a string")
            default:
                offset += 1
            }
        }
    }

    /// RFC 8785 order of member names: lexicographic by UTF-16 code unit (for ASCII, by byte).
    static func precedes(_ a: String, _ b: String) -> Bool {
        // UTF-8 byte order is code point order, which is UTF-16 order unless a code point
        // from U+E000 (lead byte 0xEE and up) meets a supplementary one: only then compare
        // UTF-16 code units.
        if !a.utf8.contains(where: { $0 >= 0xEE }) || !b.utf8.contains(where: { $0 >= 0xEE }) {
            return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        return a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
        guard let byte = current else { throw error("unterminated escape") }
        if canonical {
            // Only what Canonical writes: \" \\ \b \t \n \f \r, and \u00xx (lowercase) for
            // the other control characters.
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "t"), UInt8(ascii: "n"), UInt8(ascii: "f"), UInt8(ascii: "r"):
                break
            case UInt8(ascii: "u"):
                guard offset + 4 < bytes.count, bytes[offset + 1] == UInt8(ascii: "0"), bytes[offset + 2] == UInt8(ascii: "0"),
                      (UInt8(ascii: "0")...UInt8(ascii: "1")).contains(bytes[offset + 3]),
                      (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[offset + 4]) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(bytes[offset + 4])
                else { throw notCanonical("a \\u escape of a character written as itself") }
                let code = (bytes[offset + 3] - UInt8(ascii: "0")) << 4 | (bytes[offset + 4] <= UInt8(ascii: "9") ? bytes[offset + 4] - UInt8(ascii: "0") : bytes[offset + 4] - UInt8(ascii: "a") + 10)
                guard ![0x08, 0x09, 0x0A, 0x0C, 0x0D].contains(code) else { throw notCanonical("a \\u escape of a character with a short escape") }
            default:
                throw notCanonical("the escape \\\(describe(byte))")
            }
        }
        offset += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let first = try hex4()
            if (0xD800..<0xDC00).contains(first) {
                guard current == UInt8(ascii: "\\"), offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u") else {
                    throw error("unpaired high surrogate escape")
                }
                offset += 2
                let second = try hex4()
                guard (0xDC00..<0xE000).contains(second) else { throw error("high surrogate not followed by a low surrogate") }
                return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(first) else { throw error("unpaired low surrogate escape") }
            return scalar
        default:
            throw error("invalid escape \\\(describe(byte))")
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw error("unterminated \\u escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "'\(Character(Unicode.Scalar(byte)))'" : "0x" + String(byte, radix: 16)
    }
}
