import DirectoryModel
import Testing

/// The civil calendar: dates and times of day from and to epoch seconds, checked against
/// a slow reference that walks the calendar one day at a time.
@Suite struct TimestampCivilTests {
    /// A calendar that knows nothing but month lengths and the Gregorian leap-year rule,
    /// and advances one day at a time.
    struct ReferenceDay: Equatable, CustomStringConvertible {
        var year: Int
        var month: Int
        var day: Int
        /// Days since 1970-01-01.
        var number: Int

        static func isLeap(_ year: Int) -> Bool {
            if year % 400 == 0 { return true }
            if year % 100 == 0 { return false }
            return year % 4 == 0
        }

        static let monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

        mutating func advance() {
            number += 1
            let length = month == 2 && Self.isLeap(year) ? 29 : Self.monthLengths[month - 1]
            if day < length {
                day += 1
            } else if month < 12 {
                (month, day) = (month + 1, 1)
            } else {
                (year, month, day) = (year + 1, 1, 1)
            }
        }

        var description: String { "\(year)-\(month)-\(day) (day \(number))" }
    }

    /// 1600-01-01 is day -135,140 (Python: `calendar.timegm((1600, 1, 1, 0, 0, 0)) // 86400`).
    static let firstReferenceDay = ReferenceDay(year: 1600, month: 1, day: 1, number: -135_140)

    /// Random dates of 1600…9999 with random times of day, sorted; the reference walks
    /// from 1600-01-01 to each in turn.
    @Test(arguments: PropertySeeds.all)
    func componentsAgreeWithADayByDayWalkOfTheCalendar(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let lastDay = 2_932_896 // 9999-12-31
        let days = (0..<PropertySeeds.casesPerSeed).map { _ in random.int(Self.firstReferenceDay.number...lastDay) }.sorted()
        var reference = Self.firstReferenceDay
        for (index, dayNumber) in days.enumerated() {
            while reference.number < dayNumber { reference.advance() }
            let secondOfDay = random.int(0...86_399)
            let nanosecond = random.int(0...999_999_999)
            let time = Timestamp(seconds: Int64(dayNumber * 86_400 + secondOfDay), nanoseconds: Int32(nanosecond))
            let c = time.components
            let built = try Timestamp(
                year: reference.year, month: reference.month, day: reference.day,
                hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60, second: secondOfDay % 60, nanosecond: nanosecond
            )
            guard c.year == reference.year, c.month == reference.month, c.day == reference.day,
                  c.hour * 3600 + c.minute * 60 + c.second == secondOfDay, c.nanosecond == nanosecond, built == time
            else {
                Issue.record("seed \(seed) case \(index): \(time.seconds) s is \(c), reference \(reference); built \(built)")
                return
            }
        }
    }

    /// Every day of 1600…9999, both ways: `components` of each midnight and the instant of
    /// each date, against the walk.
    @Test func everyDayFrom1600To9999MatchesTheWalk() throws {
        var reference = Self.firstReferenceDay
        var mismatches = 0
        while reference.year <= 9999 {
            let midnight = Timestamp(seconds: Int64(reference.number) * 86_400)
            let c = midnight.components
            let built = try Timestamp(year: reference.year, month: reference.month, day: reference.day)
            if c.year != reference.year || c.month != reference.month || c.day != reference.day || c.hour != 0 || built != midnight {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(reference) gave \(c)") }
            }
            reference.advance()
        }
        #expect(reference == ReferenceDay(year: 10_000, month: 1, day: 1, number: 2_932_897))
        #expect(mismatches == 0)
    }

    static let dates: [((Int, Int, Int, Int, Int, Int, Int), Timestamp)] = [
        ((1970, 1, 1, 0, 0, 0, 0), Timestamp(seconds: 0)),
        ((1969, 12, 31, 23, 59, 59, 999_999_999), Timestamp(seconds: -1, nanoseconds: 999_999_999)),
        ((2026, 11, 21, 15, 30, 0, 0), Timestamp(seconds: 1_795_275_000)),
        ((2000, 2, 29, 12, 0, 0, 0), Timestamp(seconds: 951_825_600)),
        ((1600, 2, 29, 0, 0, 0, 0), Timestamp(seconds: -11_670_998_400)),
        ((9999, 12, 31, 23, 59, 59, 999_999_999), Timestamp(seconds: 253_402_300_799, nanoseconds: 999_999_999)),
        ((0, 1, 1, 0, 0, 0, 0), Timestamp(seconds: -62_167_219_200)),
        ((2016, 12, 31, 23, 59, 60, 0), Timestamp(seconds: 1_483_228_799, nanoseconds: 999_999_999)), // leap second, clamped
        ((2016, 12, 31, 23, 59, 60, 500), Timestamp(seconds: 1_483_228_799, nanoseconds: 999_999_999)),
    ]

    @Test(arguments: dates)
    func buildsTheInstantOfADate(_ date: (Int, Int, Int, Int, Int, Int, Int), _ expected: Timestamp) throws {
        let (year, month, day, hour, minute, second, nanosecond) = date
        let time = try Timestamp(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond
        )
        #expect(time == expected)
        if second < 60 {
            let c = time.components
            #expect([c.year, c.month, c.day, c.hour, c.minute, c.second, c.nanosecond] == [year, month, day, hour, minute, second, nanosecond])
        }
    }

    static let invalidDates: [((Int, Int, Int, Int, Int, Int, Int), String)] = [
        ((2026, 2, 29, 0, 0, 0, 0), "day 29 does not exist: February 2026 has 28 days"),
        ((1900, 2, 29, 0, 0, 0, 0), "day 29 does not exist: February 1900 has 28 days"),
        ((2026, 4, 31, 0, 0, 0, 0), "day 31 does not exist: April 2026 has 30 days"),
        ((2026, 13, 1, 0, 0, 0, 0), "month 13 does not exist"),
        ((2026, 0, 1, 0, 0, 0, 0), "month 0 does not exist"),
        ((10_000, 1, 1, 0, 0, 0, 0), "year 10000 is not 0000-9999"),
        ((-1, 1, 1, 0, 0, 0, 0), "year -1 is not 0000-9999"),
        ((2026, 1, 1, 24, 0, 0, 0), "hour 24 does not exist"),
        ((2026, 1, 1, 0, -1, 0, 0), "minute -1 does not exist"),
        ((2026, 1, 1, 0, 0, 61, 0), "second 61 does not exist"),
        ((2026, 1, 1, 0, 0, 0, 1_000_000_000), "nanosecond 1000000000 is not 0-999999999"),
    ]

    @Test(arguments: invalidDates)
    func rejectsDatesThatDoNotExist(_ date: (Int, Int, Int, Int, Int, Int, Int), _ reason: String) {
        let (year, month, day, hour, minute, second, nanosecond) = date
        let error = #expect(throws: TimestampError.self) {
            try Timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanosecond)
        }
        #expect(error?.expected.hasPrefix("a date from 0000-01-01 to 9999-12-31 and a time of day (") == true)
        #expect(error?.expected.contains(reason) == true, "\(error?.expected ?? "no error")")
    }

    @Test func theErrorShowsTheDateAsGiven() {
        let error = #expect(throws: TimestampError.self) { try Timestamp(year: 2026, month: 2, day: 30, hour: 7, minute: 5) }
        #expect(error?.input == "2026-02-30 07:05:00.000000000")
    }
}
