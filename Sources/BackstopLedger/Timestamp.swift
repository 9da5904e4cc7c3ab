/// A UTC time with one-second resolution, written `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339).
///
/// Only that one spelling is read or written, so a time has exactly one encoding.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public let secondsSinceEpoch: Int64

    /// The earliest and latest times accepted: years 1970 through 9999.
    public static let range: ClosedRange<Int64> = 0...253_402_300_799

    /// A time from seconds since the epoch; nil outside ``range``.
    public init?(secondsSinceEpoch: Int64) {
        guard Self.range.contains(secondsSinceEpoch) else { return nil }
        self.secondsSinceEpoch = secondsSinceEpoch
    }

    /// Reads exactly `YYYY-MM-DDTHH:MM:SSZ`; nil for anything else, including impossible dates.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), bytes[19] == UInt8(ascii: "Z")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              year >= 1970, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        self.init(secondsSinceEpoch: days * 86_400 + hour * 3_600 + minute * 60 + second)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`.
    public var description: String {
        let days = secondsSinceEpoch / 86_400
        let secondsOfDay = secondsSinceEpoch % 86_400
        let (year, month, day) = Self.civilFromDays(days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondsOfDay / 3_600, 2)):\(pad(secondsOfDay % 3_600 / 60, 2)):\(pad(secondsOfDay % 60, 2))Z"
    }

    /// This time plus `seconds`, or nil past ``range``.
    public func adding(seconds: Int64) -> Timestamp? {
        let (sum, overflow) = secondsSinceEpoch.addingReportingOverflow(seconds)
        return overflow ? nil : Timestamp(secondsSinceEpoch: sum)
    }

    /// This time plus `months` calendar months (UTC), the day clamped to the month's last
    /// (31 January + 1 month = 28 or 29 February), or nil past ``range``.
    public func adding(months: Int64) -> Timestamp? {
        let days = secondsSinceEpoch / 86_400
        let (year, month, day) = Self.civilFromDays(days)
        let (total, overflow) = (year * 12 + month - 1).addingReportingOverflow(months)
        guard !overflow, total >= 0 else { return nil }
        let newYear = total / 12, newMonth = total % 12 + 1
        guard newYear <= 9999 else { return nil }
        let newDay = min(day, Self.daysIn(month: newMonth, year: newYear))
        return Timestamp(secondsSinceEpoch: Self.daysFromCivil(year: newYear, month: newMonth, day: newDay) * 86_400 + secondsSinceEpoch % 86_400)
    }

    /// Orders by time.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days_from_civil and civil_from_days, for the proleptic Gregorian calendar.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
