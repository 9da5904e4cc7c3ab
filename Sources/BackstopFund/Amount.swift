import BigInt

/// A non-negative amount in integer minor units of an asset (satoshi, wei, ...), of any size.
///
/// Written in payloads and on the ledger as a decimal string of minor units, without sign,
/// leading zeros or separators: "4836260000000000000000" is 4,836.26 ETH.
public struct Amount: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The minor units.
    public let minorUnits: BigUInt

    /// The largest amount one payload may state: 10^40 minor units.
    public static let maximum = Amount(BigUInt(10).power(40))
    /// Zero.
    public static let zero = Amount(0)

    /// An amount of `minorUnits`.
    public init(_ minorUnits: BigUInt) { self.minorUnits = minorUnits }

    /// Reads the minor-unit spelling; nil unless it is canonical decimal digits.
    public init?(minorUnits text: String) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 60, bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              bytes.count == 1 || bytes[0] != 48, let value = BigUInt(text, radix: 10)
        else { return nil }
        minorUnits = value
    }

    /// Reads an amount written in asset units, such as "4836.26" for an asset with `decimals`.
    ///
    /// - Throws: ``FundError`` `.invalidAmount` for a sign, an exponent, separators, more
    ///   fractional digits than the asset has, zero, or more than ``maximum`` minor units.
    public init(decimal text: String, decimals: Int, field: String = "amount") throws(FundError) {
        func invalid(_ why: String) -> FundError { FundError(.invalidAmount, "\(field) \"\(text)\": \(why)") }
        guard (0...36).contains(decimals) else { throw invalid("an asset has 0 to 36 decimals, not \(decimals)") }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        let digits = { (part: Substring) in part.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        if text.hasPrefix("-") { throw invalid("amounts cannot be negative") }
        guard !whole.isEmpty, digits(whole), digits(fraction), parts.count == 1 || !fraction.isEmpty else {
            throw invalid("write digits with an optional decimal point, such as 4836.26")
        }
        guard fraction.count <= decimals else {
            throw invalid("\(fraction.count) decimals, but the asset has \(decimals)")
        }
        let padded = String(whole) + String(fraction) + String(repeating: "0", count: decimals - fraction.count)
        guard padded.count <= 80, let value = BigUInt(padded, radix: 10) else { throw invalid("too large") }
        try self.init(checking: Amount(value), field: field, text: text)
    }

    private init(checking amount: Amount, field: String, text: String) throws(FundError) {
        guard amount > .zero else { throw FundError(.invalidAmount, "\(field) \"\(text)\": must be more than zero") }
        guard amount <= .maximum else { throw FundError(.invalidAmount, "\(field) \"\(text)\": more than 10^40 minor units") }
        self = amount
    }

    /// The amount in asset units: "4836.26", "0.00000001", "66200" (no trailing zeros).
    public func decimalString(decimals: Int) -> String {
        let digits = String(minorUnits)
        guard decimals > 0 else { return digits }
        let padded = String(repeating: "0", count: max(0, decimals + 1 - digits.count)) + digits
        let whole = padded.dropLast(decimals)
        var fraction = padded.suffix(decimals)
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }

    /// The minor-unit spelling.
    public var description: String { String(minorUnits) }

    /// `self × scale ÷ total`, rounded down and at most `scale`: a chart coordinate or a
    /// percentage drawn with no floating point. 0 when `total` is zero.
    public func scaled(_ scale: Int, of total: Amount) -> Int {
        guard total > .zero, scale > 0 else { return 0 }
        return Int(Swift.min(minorUnits * BigUInt(scale) / total.minorUnits, BigUInt(scale)))
    }

    /// Orders by value.
    public static func < (lhs: Amount, rhs: Amount) -> Bool { lhs.minorUnits < rhs.minorUnits }
    /// The sum.
    public static func + (lhs: Amount, rhs: Amount) -> Amount { Amount(lhs.minorUnits + rhs.minorUnits) }
    /// Adds in place.
    public static func += (lhs: inout Amount, rhs: Amount) { lhs = lhs + rhs }
    /// The difference; the caller has checked that `lhs >= rhs`.
    public static func - (lhs: Amount, rhs: Amount) -> Amount {
        precondition(lhs >= rhs, "amount would go negative")
        return Amount(lhs.minorUnits - rhs.minorUnits)
    }
}
