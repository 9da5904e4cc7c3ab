import BackstopLedger

/// Numbers as people read them on a signing screen: amounts in asset units with thousands
/// separators, durations and rates in words. Used only for display; payloads and the
/// ledger keep their exact machine forms.
public enum Words {
    /// "1,500", "4,836.26", "0.00000001": `amount` in units of an asset with `decimals`.
    public static func amount(_ amount: Amount, decimals: Int) -> String {
        let plain = amount.decimalString(decimals: decimals)
        let parts = plain.split(separator: ".", maxSplits: 1)
        var whole = Array(parts[0])
        var grouped: [Character] = []
        while whole.count > 3 {
            grouped = [","] + whole.suffix(3) + grouped
            whole.removeLast(3)
        }
        let integer = String(whole + grouped)
        return parts.count > 1 ? "\(integer).\(parts[1])" : integer
    }

    /// "1,500 ETH", or with no known decimals "1500000000000000000000 ETH minor units (decimals unknown)".
    public static func amount(_ amount: Amount, _ asset: String, decimals: Int?) -> String {
        guard let decimals else { return "\(amount) \(SafeText.escape(asset)) minor units (decimals unknown)" }
        return "\(Words.amount(amount, decimals: decimals)) \(asset)"
    }

    /// "24 hours", "7 days", "90 minutes", "1 hour", "45 seconds", "none".
    public static func duration(_ seconds: Int64) -> String {
        func plural(_ count: Int64, _ unit: String) -> String { "\(count) \(unit)\(count == 1 ? "" : "s")" }
        if seconds == 0 { return "none" }
        if seconds % 86_400 == 0 && seconds > 86_400 { return plural(seconds / 86_400, "day") }
        if seconds % 3_600 == 0 { return plural(seconds / 3_600, "hour") }
        if seconds % 60 == 0 { return plural(seconds / 60, "minute") }
        return plural(seconds, "second")
    }

    /// "0.01%" for 100 per million: exact, with no trailing zeros.
    public static func percent(perMillion rate: Int64) -> String {
        // rate / 1,000,000 as a percentage is rate / 10,000: four decimal places at most.
        let whole = rate / 10_000
        var fraction = String(rate % 10_000)
        fraction = String(repeating: "0", count: 4 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? "\(whole)%" : "\(whole).\(fraction)%"
    }

    /// "2026-12-01 09:00:00 UTC" from a timestamp, for screens.
    public static func time(_ time: Timestamp) -> String {
        let text = time.description
        return "\(text.prefix(10)) \(text.dropFirst(11).prefix(8)) UTC"
    }
}
