import BackstopCrypto
import BackstopLedger

/// Reads a payload's fields, refusing missing, mistyped and unexpected ones by name.
///
/// Strict on purpose: a field the rules do not read would be signed without meaning
/// anything, so a payload may hold only the fields its kind defines.
struct Payload {
    let fields: [String: JSONValue]
    let context: String

    init(_ value: JSONValue, context: String, allowed: Set<String>) throws(FundError) {
        guard case .object(let fields) = value else { throw FundError(.malformedPayload, "\(context) must be a JSON object") }
        let unexpected = Set(fields.keys).subtracting(allowed)
        guard unexpected.isEmpty else {
            throw FundError(.malformedPayload, "\(context) has unexpected field(s) \(unexpected.sorted().joined(separator: ", "))")
        }
        self.fields = fields
        self.context = context
    }

    func missing(_ key: String, _ type: String) -> FundError {
        FundError(.malformedPayload, "\(context): field \"\(key)\" must be \(type)")
    }

    func string(_ key: String, maxLength: Int = 1_000, pattern: ((UInt8) -> Bool)? = nil) throws(FundError) -> String {
        guard let value = fields[key]?.stringValue, !value.isEmpty, value.utf8.count <= maxLength else {
            throw missing(key, "a non-empty string of at most \(maxLength) bytes")
        }
        if let pattern, !value.utf8.allSatisfy(pattern) { throw missing(key, "a string of allowed characters") }
        return value
    }

    func identifier(_ key: String) throws(FundError) -> String {
        try string(key, maxLength: 64, pattern: { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 || $0 == 95 || ($0 >= 65 && $0 <= 90) })
    }

    func integer(_ key: String, in range: ClosedRange<Int64>) throws(FundError) -> Int64 {
        guard let value = fields[key]?.integerValue, range.contains(value) else {
            throw missing(key, "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func time(_ key: String) throws(FundError) -> Timestamp {
        guard let text = fields[key]?.stringValue, let time = Timestamp(text) else { throw missing(key, "a time YYYY-MM-DDTHH:MM:SSZ") }
        return time
    }

    func amount(_ key: String, allowZero: Bool = false) throws(FundError) -> Amount {
        guard let text = fields[key]?.stringValue else { throw missing(key, "an amount in minor units, as a decimal string") }
        return try Self.amount(text, field: "\(context) \(key)", allowZero: allowZero)
    }

    static func amount(_ text: String, field: String, allowZero: Bool = false) throws(FundError) -> Amount {
        guard let amount = Amount(minorUnits: text) else {
            throw FundError(.invalidAmount, "\(field) \"\(text)\" is not an amount in minor units (digits only, no sign, no leading zeros)")
        }
        guard allowZero || amount > .zero else { throw FundError(.invalidAmount, "\(field) must be more than zero") }
        guard amount <= .maximum else { throw FundError(.invalidAmount, "\(field) \(text) is more than 10^40 minor units") }
        return amount
    }

    func key(_ key: String) throws(FundError) -> PublicKey {
        guard let text = fields[key]?.stringValue, let der = Hex.decode(text) else {
            throw missing(key, "a public key (hex of SubjectPublicKeyInfo DER)")
        }
        do { return try PublicKey(derRepresentation: der) } catch {
            throw FundError(.malformedPayload, "\(context): field \"\(key)\": \(error)")
        }
    }

    func object(_ key: String) throws(FundError) -> JSONValue {
        guard let value = fields[key], case .object = value else { throw missing(key, "an object") }
        return value
    }

    func array(_ key: String, count range: ClosedRange<Int>) throws(FundError) -> [JSONValue] {
        guard let value = fields[key]?.arrayValue, range.contains(value.count) else {
            throw missing(key, "an array of \(range.lowerBound) to \(range.upperBound) elements")
        }
        return value
    }
}
