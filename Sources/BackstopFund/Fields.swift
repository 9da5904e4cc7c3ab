import BackstopCrypto
import BackstopLedger

/// Reads the fields of a payload object, refusing missing, mistyped and unexpected ones by name.
///
/// Strict on purpose: a field the rules do not read would be signed without meaning
/// anything, so ``finish()`` refuses every field that no read asked for. Field names are
/// compared as bytes.
struct FieldReader {
    let context: String
    private let fields: [String: JSONValue]
    /// The names asked for, compared as bytes by ``finish()`` (a payload has a few fields).
    private var read: [String] = []

    init(_ value: JSONValue, context: String) throws(FundError) {
        guard case .object(let fields) = value else { throw FundError(.malformedPayload, "\(context) must be a JSON object") }
        self.fields = fields
        self.context = context
    }

    func invalid(_ key: String, _ type: String) -> FundError {
        FundError(.malformedPayload, "\(context): field \"\(key)\" must be \(type)")
    }

    /// The raw value of `key`, marked as read.
    mutating func value(_ key: String) -> JSONValue? {
        read.append(key)
        return fields[key]
    }

    mutating func has(_ key: String) -> Bool { fields[key] != nil }

    /// Free text: any characters the text rules allow, 1 to `maxBytes` bytes of UTF-8.
    mutating func text(_ key: String, maxBytes: Int) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, !text.isEmpty, text.utf8.count <= maxBytes else {
            throw invalid(key, "a non-empty string of at most \(maxBytes) bytes")
        }
        return text
    }

    mutating func identifier(_ key: String) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, Identifiers.isIdentifier(text) else {
            throw invalid(key, "an identifier: 1 to 64 of A-Z a-z 0-9 . _ -")
        }
        return text
    }

    mutating func assetSymbol(_ key: String) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, Identifiers.isAssetSymbol(text) else {
            throw invalid(key, "an asset symbol: 1 to 12 of A-Z 0-9")
        }
        return text
    }

    mutating func destination(_ key: String) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, Identifiers.isDestination(text) else {
            throw invalid(key, "a destination: 1 to 200 visible ASCII characters, no spaces")
        }
        return text
    }

    mutating func reference(_ key: String, maxBytes: Int) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, Identifiers.isReference(text, maxBytes: maxBytes) else {
            throw invalid(key, "a reference: 1 to \(maxBytes) printable ASCII characters")
        }
        return text
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int64>) throws(FundError) -> Int64 {
        guard let value = value(key)?.integerValue, range.contains(value) else {
            throw invalid(key, "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    mutating func time(_ key: String) throws(FundError) -> Timestamp {
        guard let text = value(key)?.stringValue, let time = Timestamp(text) else { throw invalid(key, "a time YYYY-MM-DDTHH:MM:SSZ") }
        return time
    }

    mutating func amount(_ key: String, allowZero: Bool = false) throws(FundError) -> Amount {
        guard let text = value(key)?.stringValue else { throw invalid(key, "an amount in minor units, as a decimal string") }
        return try Self.amount(text, field: "\(context) \(key)", allowZero: allowZero)
    }

    static func amount(_ text: String, field: String, allowZero: Bool = false) throws(FundError) -> Amount {
        guard let amount = Amount(minorUnits: text) else {
            throw FundError(.invalidAmount, "\(field) \(SafeText.quoted(text)) is not an amount in minor units (digits only, no sign, no leading zeros)")
        }
        guard allowZero || amount > .zero else { throw FundError(.invalidAmount, "\(field) must be more than zero") }
        guard amount <= .maximum else { throw FundError(.invalidAmount, "\(field) \(text) is more than 10^40 minor units") }
        return amount
    }

    /// A public key: lowercase hex of its canonical SubjectPublicKeyInfo DER, the one
    /// encoding of a key (named curve, uncompressed point, minimal DER lengths). Another
    /// encoding of a valid key (BER lengths, a compressed or hybrid point, explicit curve
    /// parameters) is refused: the bytes signed must be the bytes the rules compare.
    mutating func key(_ key: String) throws(FundError) -> PublicKey {
        guard let text = value(key)?.stringValue, let der = Hex.decode(text), text == Hex.encode(der) else {
            throw invalid(key, "a public key (lowercase hex of SubjectPublicKeyInfo DER)")
        }
        let parsed: PublicKey
        do { parsed = try PublicKey(derRepresentation: der) } catch {
            throw FundError(.malformedPayload, "\(context): field \"\(key)\": \(error)")
        }
        guard parsed.derRepresentation == der else {
            throw FundError(.malformedPayload, "\(context): field \"\(key)\": the key is valid but not in its canonical form (a named curve, an uncompressed point, minimal DER); write \(Hex.encode(parsed.derRepresentation))")
        }
        return parsed
    }

    /// 64 lowercase hex digits (a SHA-256 such as a key fingerprint).
    mutating func hash(_ key: String) throws(FundError) -> String {
        guard let text = value(key)?.stringValue, Self.isHash(text) else { throw invalid(key, "64 lowercase hex digits") }
        return text
    }

    static func isHash(_ text: String) -> Bool { text.utf8.count == 64 && Hex.decode(text) != nil }

    mutating func object(_ key: String) throws(FundError) -> FieldReader {
        guard let value = value(key), case .object = value else { throw invalid(key, "an object") }
        return try FieldReader(value, context: "\(context) \(key)")
    }

    mutating func array(_ key: String, count range: ClosedRange<Int>) throws(FundError) -> [JSONValue] {
        guard let value = value(key)?.arrayValue, range.contains(value.count) else {
            throw invalid(key, "an array of \(range.lowerBound) to \(range.upperBound) elements")
        }
        return value
    }

    /// The members of an object field whose keys are asset symbols.
    mutating func assetMap(_ key: String, count range: ClosedRange<Int>) throws(FundError) -> [(symbol: String, value: JSONValue)] {
        guard let members = value(key)?.objectValue, range.contains(members.count) else {
            throw invalid(key, "an object of \(range.lowerBound) to \(range.upperBound) assets")
        }
        var result: [(String, JSONValue)] = []
        for symbol in members.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            guard Identifiers.isAssetSymbol(symbol) else {
                throw FundError(.malformedPayload, "\(context): field \"\(key)\": \(SafeText.quoted(symbol)) is not an asset symbol (1 to 12 of A-Z 0-9)")
            }
            result.append((symbol, members[symbol]!))
        }
        return result
    }

    /// Refuses every field that was not read.
    func finish() throws(FundError) {
        let unexpected = fields.keys.filter { key in !read.contains { $0.utf8.elementsEqual(key.utf8) } }
        guard unexpected.isEmpty else {
            let names = unexpected.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map(SafeText.quoted)
            throw FundError(.malformedPayload, "\(context) has unexpected field(s) \(names.joined(separator: ", "))")
        }
    }
}

/// Checks a JSON object written with `read`: `read` runs on a fresh reader of `value`,
/// then ``FieldReader/finish()``.
func readObject<T>(_ value: JSONValue, context: String, _ read: (inout FieldReader) throws(FundError) -> T) throws(FundError) -> T {
    var reader = try FieldReader(value, context: context)
    let result = try read(&reader)
    try reader.finish()
    return result
}
