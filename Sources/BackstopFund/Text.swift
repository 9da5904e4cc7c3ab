import BackstopLedger

/// What a string in a payload may hold.
///
/// The rules refuse a payload if any of its strings (values and keys, at any depth) holds a
/// code point from ``forbiddenRanges``: control characters, bidirectional overrides and
/// isolates, invisible and zero-width characters, spaces other than U+0020, private-use
/// code points and noncharacters, and the canonical singletons (marked "singleton"): code
/// points whose canonical decomposition is one other code point, which they look exactly
/// like (U+212A KELVIN SIGN is `K`), so that two strings that look the same and are
/// canonically equivalent cannot differ in this way. The list is fixed and written out here and in
/// `Docs/RULES.md`, instead of being derived from a Unicode database, so that every
/// implementation of the rules, in any language and with any Unicode version, refuses the
/// same payloads.
public enum TextRules {
    /// The code points no payload string may contain.
    public static let forbiddenRanges: [ClosedRange<UInt32>] = [
        0x0000...0x001F,    // C0 controls, including TAB, LF, CR and ESC
        0x007F...0x009F,    // DEL and the C1 controls (CSI 0x9B among them)
        0x00A0...0x00A0,    // NO-BREAK SPACE
        0x00AD...0x00AD,    // SOFT HYPHEN
        0x0340...0x0341,    // singleton: COMBINING GRAVE/ACUTE TONE MARK
        0x0343...0x0343,    // singleton: COMBINING GREEK KORONIS
        0x034F...0x034F,    // COMBINING GRAPHEME JOINER
        0x0374...0x0374,    // singleton: GREEK NUMERAL SIGN
        0x037E...0x037E,    // singleton: GREEK QUESTION MARK (is ";")
        0x0387...0x0387,    // singleton: GREEK ANO TELEIA
        0x0600...0x0605,    // Arabic number signs and other prepended format characters
        0x06DD...0x06DD,    // ARABIC END OF AYAH
        0x070F...0x070F,    // SYRIAC ABBREVIATION MARK
        0x0890...0x0891,    // Arabic pound and piastre marks above
        0x08E2...0x08E2,    // ARABIC DISPUTED END OF AYAH
        0x061C...0x061C,    // ARABIC LETTER MARK
        0x115F...0x1160,    // Hangul fillers
        0x1680...0x1680,    // OGHAM SPACE MARK
        0x17B4...0x17B5,    // Khmer invisible vowels
        0x180B...0x180F,    // Mongolian variation selectors and vowel separator
        0x1F71...0x1F71, 0x1F73...0x1F73, 0x1F75...0x1F75, 0x1F77...0x1F77, 0x1F79...0x1F79, 0x1F7B...0x1F7B,
        0x1F7D...0x1F7D, 0x1FBB...0x1FBB, 0x1FBE...0x1FBE, 0x1FC9...0x1FC9, 0x1FCB...0x1FCB, 0x1FD3...0x1FD3,
        0x1FDB...0x1FDB, 0x1FE3...0x1FE3, 0x1FEB...0x1FEB, 0x1FEE...0x1FEF, 0x1FF9...0x1FF9, 0x1FFB...0x1FFB,
        0x1FFD...0x1FFD,    // singleton: Greek letters with oxia that are the same letters with tonos
        0x2000...0x200F,    // spaces, ZERO WIDTH SPACE/(NON-)JOINER, LRM, RLM
        0x2028...0x202F,    // LINE/PARAGRAPH SEPARATOR, LRE RLE PDF LRO RLO, NARROW NO-BREAK SPACE
        0x2800...0x2800,    // BRAILLE PATTERN BLANK: a visible symbol that shows as nothing
        0x205F...0x206F,    // MEDIUM MATHEMATICAL SPACE, WORD JOINER, invisible operators, LRI RLI FSI PDI
        0x2126...0x2126,    // singleton: OHM SIGN (is Ω)
        0x212A...0x212B,    // singleton: KELVIN SIGN (is K), ANGSTROM SIGN (is Å)
        0x2329...0x232A,    // singleton: angle brackets that are U+3008 and U+3009
        0x3000...0x3000,    // IDEOGRAPHIC SPACE
        0x3164...0x3164,    // HANGUL FILLER
        0xD800...0xDFFF,    // surrogates (not scalars; listed for completeness)
        0xE000...0xF8FF,    // private use
        0xF900...0xFAFF,    // singleton: CJK compatibility ideographs
        0xFDD0...0xFDEF,    // noncharacters
        0xFE00...0xFE0F,    // variation selectors
        0xFEFF...0xFEFF,    // ZERO WIDTH NO-BREAK SPACE (byte order mark)
        0xFFA0...0xFFA0,    // HALFWIDTH HANGUL FILLER
        0xFFF0...0xFFFB,    // unassigned specials and interlinear annotation controls
        0x110BD...0x110BD,  // KAITHI NUMBER SIGN
        0x110CD...0x110CD,  // KAITHI NUMBER SIGN ABOVE
        0x13430...0x1343F,  // Egyptian hieroglyph format controls
        0x1BCA0...0x1BCA3,  // shorthand format controls
        0x1D173...0x1D17A,  // musical symbol format controls
        0x2F800...0x2FA1F,  // singleton: CJK compatibility ideographs supplement
        0xE0000...0xE0FFF,  // tag characters and supplementary variation selectors
        0xF0000...0x10FFFF, // supplementary private use planes
    ]

    /// True when `scalar` may not appear in a payload: in ``forbiddenRanges``, or a
    /// noncharacter U+xFFFE or U+xFFFF of any plane.
    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value & 0xFFFE == 0xFFFE { return true }
        // Most strings are ASCII: answer those without searching the list.
        if value >= 0x20 && value < 0x7F { return false }
        return forbiddenRanges.contains { $0.contains(value) }
    }

    /// The first forbidden scalar in `text` and its position (0-based, in scalars), or nil.
    public static func firstForbidden(in text: String) -> (scalar: Unicode.Scalar, position: Int)? {
        for (position, scalar) in text.unicodeScalars.enumerated() where isForbidden(scalar) {
            return (scalar, position)
        }
        return nil
    }

    /// True when no string in `value`, key or value, holds a forbidden code point: the
    /// quick pass, with no paths built (printable ASCII is answered byte by byte).
    static func isAllowed(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let text): return isAllowed(text)
        case .array(let elements): return elements.allSatisfy(isAllowed)
        case .object(let members): return members.allSatisfy { isAllowed($0.key) && isAllowed($0.value) }
        case .null, .bool, .integer: return true
        }
    }

    private static func isAllowed(_ text: String) -> Bool {
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return true }
        return firstForbidden(in: text) == nil
    }

    /// Refuses `value` if any string in it, key or value, holds a forbidden code point,
    /// naming where.
    static func check(_ value: JSONValue, path: String) throws(FundError) {
        if path.isEmpty && isAllowed(value) { return }
        switch value {
        case .string(let text):
            try checkString(text, path: path)
        case .array(let elements):
            for (index, element) in elements.enumerated() { try check(element, path: "\(path)[\(index)]") }
        case .object(let members):
            for key in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                try checkString(key, path: "\(path) key \(SafeText.quoted(key))")
                try check(members[key]!, path: path.isEmpty ? key : "\(path).\(key)")
            }
        case .null, .bool, .integer:
            return
        }
    }

    private static func checkString(_ text: String, path: String) throws(FundError) {
        if let (scalar, position) = firstForbidden(in: text) {
            throw FundError(.forbiddenCharacter, "\(path.isEmpty ? "payload" : "field \(path)") holds \(SafeText.name(of: scalar)) at character \(position + 1); payload strings may not contain control, invisible or bidirectional-override characters")
        }
    }
}

/// Identifier spellings: ASCII only, so that two identifiers are equal exactly when their
/// bytes are (Swift's `String ==` treats canonically equivalent strings as equal, which
/// would let U+212A KELVIN SIGN pass for `K`).
public enum Identifiers {
    /// Member ids, payload ids, claim and release ids: 1 to 64 of `A-Z a-z 0-9 . _ -`.
    public static func isIdentifier(_ text: String) -> Bool {
        let bytes = text.utf8
        return (1...64).contains(bytes.count) && bytes.allSatisfy { isAlphanumeric($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// Asset symbols: 1 to 12 of `A-Z 0-9`.
    public static func isAssetSymbol(_ text: String) -> Bool {
        let bytes = text.utf8
        return (1...12).contains(bytes.count) && bytes.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// Destinations (addresses, accounts): 1 to 200 visible ASCII characters, no space.
    public static func isDestination(_ text: String) -> Bool {
        let bytes = text.utf8
        return (1...200).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    /// References (transaction ids, payout references): 1 to `maxBytes` printable ASCII
    /// characters, spaces allowed.
    public static func isReference(_ text: String, maxBytes: Int) -> Bool {
        let bytes = text.utf8
        return (1...maxBytes).contains(bytes.count) && bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }

    /// Byte-wise equality, for anything that is not known to be ASCII.
    public static func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
    }

    /// Up to three of `candidates` close to `text` (same letters ignoring case, or at most
    /// two edits apart), for "did you mean" hints.
    public static func suggestions(for text: String, among candidates: [String]) -> [String] {
        let lowered = Array(text.lowercased().utf8)
        let scored = candidates.compactMap { candidate -> (String, Int)? in
            let distance = editDistance(lowered, Array(candidate.lowercased().utf8))
            return distance <= max(1, min(2, lowered.count / 3)) ? (candidate, distance) : nil
        }
        return scored.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }.prefix(3).map(\.0)
    }

    /// " (did you mean X?)", or "" when nothing is close.
    public static func didYouMean(_ text: String, among candidates: [String]) -> String {
        let close = suggestions(for: text, among: candidates)
        return close.isEmpty ? "" : " (did you mean \(close.joined(separator: " or "))?)"
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1] + [Int](repeating: 0, count: b.count)
            for (j, y) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Strings shown to a person: nothing invisible, nothing that moves the cursor or reorders
/// the line, and nothing that can pass for something else without a note saying so.
///
/// ``escape(_:)`` keeps printable ASCII (except `\`, written `\\`) and visible non-ASCII
/// letters, digits, punctuation and symbols, and writes every other scalar as `\u{XXXX}`:
/// controls, format and invisible characters, separators, spaces other than U+0020,
/// combining marks, private-use, unassigned and forbidden code points, and right-to-left
/// letters (which make a terminal reorder the text around them). The result is one line,
/// and it can be read back to the original string exactly (``unescape(_:)``).
public enum SafeText {
    /// `text` with every scalar that could mislead written as `\u{XXXX}`.
    public static func escape(_ text: String) -> String {
        var output = ""
        output.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if scalar == "\\" {
                output += "\\\\"
            } else if needsEscape(scalar) {
                output += "\\u{" + hex(scalar.value) + "}"
            } else {
                output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// `text` with every scalar that ``needsEscape(_:)`` written as `\u{XXXX}` and
    /// backslashes left alone: a last guard for messages that may already hold escapes.
    public static func sanitize(_ text: String) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            if scalar != "\\" && needsEscape(scalar) { output += "\\u{" + hex(scalar.value) + "}" } else { output.unicodeScalars.append(scalar) }
        }
        return output
    }

    /// The inverse of ``escape(_:)``; nil for text that `escape` cannot have produced.
    public static func unescape(_ text: String) -> String? {
        var output = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard scalar == "\\" else { output.append(scalar); continue }
            switch scalars.next() {
            case "\\": output.append("\\")
            case "u":
                guard scalars.next() == "{" else { return nil }
                var digits = ""
                while let next = scalars.next(), next != "}" { digits.unicodeScalars.append(next) }
                guard let value = UInt32(digits, radix: 16), let decoded = Unicode.Scalar(value) else { return nil }
                output.append(decoded)
            default: return nil
            }
        }
        return String(output)
    }

    /// True when ``escape(_:)`` writes `scalar` as `\u{XXXX}`.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value >= 0x20 && value < 0x7F { return false }
        if value < 0x80 || TextRules.isForbidden(scalar) || isRightToLeft(value) || value == 0x2800 { return true }
        let properties = scalar.properties
        if properties.isDefaultIgnorableCodePoint || properties.isVariationSelector || properties.isNoncharacterCodePoint { return true }
        switch properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator,
             .nonspacingMark, .spacingMark, .enclosingMark:
            return true
        default:
            return false
        }
    }

    /// A note naming the non-ASCII characters `text` shows as themselves (so that a
    /// Cyrillic "А" cannot pass for a Latin "A" unnoticed), or nil when there are none.
    /// Letters outside the Latin script are named first; past five names, the rest are
    /// listed by code point, so that none goes unmentioned.
    public static func note(_ text: String) -> String? {
        var seen: [Unicode.Scalar] = []
        for scalar in text.unicodeScalars where scalar.value >= 0x80 && !needsEscape(scalar) && !seen.contains(scalar) {
            seen.append(scalar)
        }
        guard !seen.isEmpty else { return nil }
        let ordered = seen.filter { script(of: $0) != .latin } + seen.filter { script(of: $0) == .latin }
        var parts = ordered.prefix(5).map(name(of:))
        if ordered.count > 5 { parts.append("and " + ordered.dropFirst(5).map { "U+" + hex($0.value) }.joined(separator: ", ")) }
        return "non-ASCII: " + parts.joined(separator: ", ")
    }

    /// The scripts whose letters look alike, for the mixed-script warning.
    enum Script { case latin, greek, cyrillic, other }

    static func script(of scalar: Unicode.Scalar) -> Script {
        let value = scalar.value
        guard scalar.properties.isAlphabetic else { return .other }
        if value < 0x80 || (0x00C0...0x024F).contains(value) || (0x1E00...0x1EFF).contains(value) || (0xFF21...0xFF5A).contains(value) { return .latin }
        if (0x0370...0x03FF).contains(value) || (0x1F00...0x1FFF).contains(value) { return .greek }
        if (0x0400...0x052F).contains(value) || (0x1C80...0x1C8F).contains(value) || (0x2DE0...0x2DFF).contains(value) || (0xA640...0xA69F).contains(value) { return .cyrillic }
        return .other
    }

    /// A warning when `text` mixes letters of Latin, Greek and Cyrillic, whose look-alike
    /// letters (Latin "A", Cyrillic "А", Greek "Α") are the classic way to spoof a name.
    public static func mixedScriptWarning(_ text: String, field: String) -> String? {
        let scripts = Set(text.unicodeScalars.map(script(of:)).filter { $0 != .other })
        guard scripts.count > 1 else { return nil }
        let names = [(Script.latin, "Latin"), (.greek, "Greek"), (.cyrillic, "Cyrillic")].filter { scripts.contains($0.0) }.map(\.1)
        return "\(field) mixes \(names.joined(separator: " and ")) letters, which can look alike: read it character by character"
    }

    /// ``escape(_:)`` followed by the ``note(_:)``, if any, in brackets.
    public static func show(_ text: String) -> String {
        let escaped = escape(text)
        return note(text).map { "\(escaped)  [\($0)]" } ?? escaped
    }

    /// `text` escaped and in double quotes, for error messages.
    public static func quoted(_ text: String) -> String { "\"" + escape(text) + "\"" }

    /// "U+202E RIGHT-TO-LEFT OVERRIDE", "U+000A LINE FEED".
    public static func name(of scalar: Unicode.Scalar) -> String {
        let code = "U+" + hex(scalar.value)
        guard let name = scalar.properties.name ?? scalar.properties.nameAlias ?? controlNames[scalar.value] else { return code }
        return "\(code) \(name)"
    }

    /// Unicode gives control characters no name, only aliases; these are the usual ones.
    private static let controlNames: [UInt32: String] = [
        0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED", 0x0B: "LINE TABULATION",
        0x0C: "FORM FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE", 0x9B: "CONTROL SEQUENCE INTRODUCER",
    ]

    static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    /// Hebrew, Arabic, Syriac, Thaana, NKo and the other right-to-left blocks.
    private static func isRightToLeft(_ value: UInt32) -> Bool {
        (0x0590...0x08FF).contains(value) || (0xFB1D...0xFDFF).contains(value) || (0xFE70...0xFEFF).contains(value)
            || (0x10800...0x10FFF).contains(value) || (0x1E800...0x1EFFF).contains(value)
    }
}
