import DirectoryModel
import Testing

/// ISO 8601 as the app store (`updatedAt`, SPEC §5) and administrators write it.
@Suite struct TimestampISO8601Tests {
    /// 2026-11-21T15:30:00Z.
    static let example: Int64 = 1_795_275_000

    static let validValues: [(String, Timestamp)] = [
        ("2026-11-21T15:30:00Z", Timestamp(seconds: example)),
        ("2026-11-21T15:30:00.5Z", Timestamp(seconds: example, nanoseconds: 500_000_000)),
        ("2026-11-21T15:30:00,25Z", Timestamp(seconds: example, nanoseconds: 250_000_000)),
        ("2026-11-21T15:30:00.123456789Z", Timestamp(seconds: example, nanoseconds: 123_456_789)),
        ("2026-11-21T15:30:00.1234567899Z", Timestamp(seconds: example, nanoseconds: 123_456_789)), // truncated
        ("2026-11-21t15:30:00z", Timestamp(seconds: example)),
        ("2026-11-21T17:30:00+02:00", Timestamp(seconds: example)),
        ("2026-11-21T17:30:00+0200", Timestamp(seconds: example)),
        ("2026-11-21T17:30:00+02", Timestamp(seconds: example)),
        ("2026-11-21T10:00:00-0530", Timestamp(seconds: example)),
        ("2026-11-21T10:00:00-05:30", Timestamp(seconds: example)),
        ("2026-11-22T00:30:00+09:00", Timestamp(seconds: example)),
        ("2026-11-21 15:30:00", Timestamp(seconds: example)), // SQLite datetime('now'), UTC
        ("2026-11-21T15:30:00", Timestamp(seconds: example)), // no zone: UTC
        ("2026-11-21 15:30:00.5", Timestamp(seconds: example, nanoseconds: 500_000_000)),
        ("2026-11-21T15:30Z", Timestamp(seconds: example)),
        ("2026-11-21 15:30", Timestamp(seconds: example)),
        ("2026-11-21", Timestamp(seconds: 1_795_219_200)), // midnight UTC
        ("1970-01-01T00:00:00Z", Timestamp(seconds: 0)),
        ("1969-12-31T23:59:59.999999999Z", Timestamp(seconds: -1, nanoseconds: 999_999_999)),
        ("2000-02-29", Timestamp(seconds: 951_782_400)),
        ("2016-12-31T23:59:60Z", Timestamp(seconds: 1_483_228_799, nanoseconds: 999_999_999)), // leap second, clamped
    ]

    @Test(arguments: validValues)
    func readsISO8601(_ text: String, _ expected: Timestamp) throws {
        #expect(try Timestamp(iso8601: text) == expected)
    }

    static let invalidValues: [(String, String)] = [
        ("", "empty"),
        ("2026-11-21T", "the hour needs 2 digits, found the end at offset 11"),
        ("2026-11-21T15", "expected ':' after the hour at offset 13, found the end"),
        ("2026-11-21T15:30:00.Z", "a fraction needs at least one digit after '.'"),
        ("2026-11-21Z", "expected 'T' or a space between the date and the time at offset 10, found 'Z'"),
        ("2026-13-01", "month 13 does not exist"),
        ("2026-02-29", "day 29 does not exist: February 2026 has 28 days"),
        ("1900-02-29T00:00:00Z", "day 29 does not exist: February 1900 has 28 days"),
        ("2026-11-21T24:00:00Z", "hour 24 does not exist"),
        ("2026-11-21T15:60:00Z", "minute 60 does not exist"),
        ("2026-11-21T15:30:61Z", "second 61 does not exist"),
        ("2026-11-21T15:30:00+25:00", "offset hour 25 does not exist"),
        ("2026-11-21T15:30:00+02:", "the offset minute needs 2 digits, found the end"),
        ("2026-11-21T15:30:00Z junk", "expected the end after the time zone at offset 20, found ' '"),
        ("2026-11-21T15:30:00 UTC", "expected a time zone (Z, +hh:mm or -hh:mm) or the end at offset 19, found ' '"),
        ("21-11-2026", "the year needs 4 digits, found '-' at offset 2"),
        ("2026/11/21", "expected '-' after the year at offset 4, found '/'"),
        ("20261121153000Z", "expected '-' after the year at offset 4, found '1'"),
        ("2026-1-21", "the month needs 2 digits, found '-' at offset 6"),
    ]

    @Test(arguments: invalidValues)
    func rejectsWhatIsNotISO8601(_ text: String, _ reason: String) {
        let error = #expect(throws: TimestampError.self) { try Timestamp(iso8601: text) }
        #expect(error?.input == text)
        #expect(error?.expected.hasPrefix("ISO 8601 such as 2026-11-21T15:30:00Z (") == true)
        #expect(error?.expected.contains(reason) == true, "\(error?.expected ?? "no error")")
    }

    static let canonicalForms: [(Timestamp, String)] = [
        (Timestamp(seconds: example), "2026-11-21T15:30:00Z"),
        (Timestamp(seconds: example, nanoseconds: 500_000_000), "2026-11-21T15:30:00.5Z"),
        (Timestamp(seconds: example, nanoseconds: 1), "2026-11-21T15:30:00.000000001Z"),
        (Timestamp(seconds: 0), "1970-01-01T00:00:00Z"),
        (Timestamp(seconds: -1), "1969-12-31T23:59:59Z"),
        (Timestamp(seconds: 253_402_300_799), "9999-12-31T23:59:59Z"),
        (Timestamp(seconds: -62_167_219_200), "0000-01-01T00:00:00Z"),
    ]

    @Test(arguments: canonicalForms)
    func writesISO8601InUTC(_ time: Timestamp, _ expected: String) throws {
        #expect(time.iso8601 == expected)
        #expect(time.description == expected)
        #expect(try Timestamp(iso8601: expected) == time)
    }

    /// Beyond `0000...9999` the text is no longer ISO 8601 or GeneralizedTime, but it is
    /// printed rather than trapping, and the extremes of the range do not overflow.
    @Test func yearsOutsideFourDigitsArePrintedWithoutTrapping() {
        #expect(Timestamp(seconds: 253_402_300_800).iso8601 == "10000-01-01T00:00:00Z")
        #expect(Timestamp(seconds: -62_167_219_201).iso8601 == "-0001-12-31T23:59:59Z")
        #expect(Timestamp(seconds: .max, nanoseconds: 999_999_999).components.year == 292_277_026_596)
        #expect(Timestamp(seconds: .min).components.year == -292_277_022_657)
    }

    /// The memberwise initializer does not check nanoseconds; the printers carry them.
    @Test func nanosecondsOutOfRangeAreCarriedIntoSeconds() {
        #expect(Timestamp(seconds: 0, nanoseconds: 1_500_000_000).iso8601 == "1970-01-01T00:00:01.5Z")
        #expect(Timestamp(seconds: 0, nanoseconds: -1).iso8601 == "1969-12-31T23:59:59.999999999Z")
    }
}
