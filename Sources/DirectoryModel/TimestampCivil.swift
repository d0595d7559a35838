/// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), after
/// Howard Hinnant's `days_from_civil` and `civil_from_days`
/// (<http://howardhinnant.github.io/date_algorithms.html>): exact for every day an `Int64`
/// of seconds can reach, with no tables and no Foundation.
enum CivilCalendar {
    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static let monthNames = [
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ]

    /// The day number of a valid date. Years are counted from March so that the leap day
    /// is the last day of its year; an era is the 400-year cycle of 146,097 days.
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400 // 0...399
        let shiftedMonth = (month + 9) % 12 // March is 0
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1 // 0...365
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear // 0...146096
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day number; the inverse of ``days(year:month:day:)``.
    static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097 // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365 // 0...399
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100) // 0...365
        let shiftedMonth = (5 * dayOfYear + 2) / 153 // March is 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Division rounding toward negative infinity, and the remainder that goes with it
    /// (always `0..<divisor`): second -1 is 23:59:59 of 1969-12-31, not of 1970-01-01.
    static func floorDivision(_ value: Int, by divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = value % divisor
        return remainder < 0 ? (value / divisor - 1, remainder + divisor) : (value / divisor, remainder)
    }
}

extension Timestamp {
    /// The earliest timestamp: ``adding(_:)`` and ``subtracting(_:)`` saturate here.
    static let earliest = Timestamp(seconds: .min, nanoseconds: 0)
    /// The latest timestamp: ``adding(_:)`` and ``subtracting(_:)`` saturate here.
    static let latest = Timestamp(seconds: .max, nanoseconds: 999_999_999)

    /// The same instant with ``nanoseconds`` in `0..<1_000_000_000`. The memberwise
    /// initializer does not check it; the formatters and arithmetic carry whole seconds
    /// instead of printing nonsense, saturating at the ends of the range.
    var normalized: Timestamp {
        guard !(0..<1_000_000_000).contains(nanoseconds) else { return self }
        let (carry, nanoseconds) = CivilCalendar.floorDivision(Int(nanoseconds), by: 1_000_000_000)
        let (seconds, overflow) = seconds.addingReportingOverflow(Int64(carry))
        if overflow { return carry < 0 ? .earliest : .latest }
        return Timestamp(seconds: seconds, nanoseconds: Int32(nanoseconds))
    }

    /// The UTC calendar date and time of day (proleptic Gregorian calendar). Years before
    /// 1 are astronomical (0 is 1 BC); far from the present they leave `0...9999`, which
    /// GeneralizedTime and ISO 8601 cannot write.
    public var components: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int) {
        let time = normalized
        let (days, secondOfDay) = CivilCalendar.floorDivision(Int(time.seconds), by: 86_400)
        let (year, month, day) = CivilCalendar.date(days: days)
        return (year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60, Int(time.nanoseconds))
    }

    /// The instant of a UTC calendar date and time, each field checked: years
    /// `0...9999`, the day within its month (29 February only in leap years), hour
    /// `0...23`, minute `0...59`, second `0...60`, nanosecond `0...999_999_999`.
    ///
    /// Second 60 is a leap second. It is clamped to `:59.999999999` of the same minute
    /// (its nanoseconds are dropped), never carried into the next minute: a cursor taken
    /// from a leap-second value must not be formatted later than the value the server
    /// holds, or the next search would skip the entry. GeneralizedTime, ISO 8601 and
    /// pattern parsing treat second 60 the same way.
    public init(
        year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, nanosecond: Int = 0
    ) throws(TimestampError) {
        do throws(TimestampFailure) {
            self = try Self.validated(
                year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond
            )
        } catch {
            var input: [UInt8] = []
            let fields = [(year, 4, ""), (month, 2, "-"), (day, 2, "-"), (hour, 2, " "), (minute, 2, ":"), (second, 2, ":"), (nanosecond, 9, ".")]
            for (value, width, separator) in fields {
                input += separator.utf8
                TimestampDigits.append(value, width: width, to: &input)
            }
            throw TimestampError(input: String(decoding: input, as: UTF8.self), expected: "a date from 0000-01-01 to 9999-12-31 and a time of day (\(error.reason))")
        }
    }

    /// ``init(year:month:day:hour:minute:second:nanosecond:)`` for the parsers, which
    /// wrap the reason in their own ``TimestampError/expected`` text.
    static func validated(
        year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int
    ) throws(TimestampFailure) -> Timestamp {
        func outOfRange(_ reason: String) -> TimestampFailure { TimestampFailure(reason: reason, isRange: true) }
        guard (0...9999).contains(year) else { throw outOfRange("year \(year) is not 0000-9999") }
        guard (1...12).contains(month) else { throw outOfRange("month \(month) does not exist (01-12)") }
        let monthDays = CivilCalendar.daysInMonth(month, year: year)
        guard (1...monthDays).contains(day) else {
            let monthName = "\(CivilCalendar.monthNames[month - 1]) \(year)"
            throw outOfRange("day \(day) does not exist: \(monthName) has \(monthDays) days")
        }
        guard (0...23).contains(hour) else { throw outOfRange("hour \(hour) does not exist (00-23)") }
        guard (0...59).contains(minute) else { throw outOfRange("minute \(minute) does not exist (00-59)") }
        guard (0...60).contains(second) else { throw outOfRange("second \(second) does not exist (00-59, 60 for a leap second)") }
        guard (0..<1_000_000_000).contains(nanosecond) else {
            throw outOfRange("nanosecond \(nanosecond) is not 0-999999999")
        }
        let days = CivilCalendar.days(year: year, month: month, day: day)
        let leap = second == 60
        let secondOfDay = hour * 3600 + minute * 60 + (leap ? 59 : second)
        return Timestamp(seconds: Int64(days * 86_400 + secondOfDay), nanoseconds: Int32(leap ? 999_999_999 : nanosecond))
    }
}
