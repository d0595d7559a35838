import DirectoryModel
import Testing

/// RFC 4517 §3.3.13 GeneralizedTime as directories send it. Expected instants are epoch
/// seconds worked out independently (Python's `calendar.timegm`), never by the code under test.
@Suite struct TimestampGeneralizedTimeTests {
    /// 2026-11-21T15:30:00Z.
    static let example: Int64 = 1_795_275_000

    static let validValues: [(String, Timestamp)] = [
        ("20261121153000Z", Timestamp(seconds: example)), // OpenLDAP
        ("20261121153000.0Z", Timestamp(seconds: example)), // Active Directory
        ("20261121153000.123456Z", Timestamp(seconds: example, nanoseconds: 123_456_000)), // OpenLDAP operational attributes
        ("20261121153000,5Z", Timestamp(seconds: example, nanoseconds: 500_000_000)), // comma
        ("20261121153000.000000001Z", Timestamp(seconds: example, nanoseconds: 1)),
        ("20261121153000.1234567899Z", Timestamp(seconds: example, nanoseconds: 123_456_789)), // truncated, not rounded
        ("2026112115Z", Timestamp(seconds: example - 1800)), // hours only
        ("2026112115.5Z", Timestamp(seconds: example)), // half an hour
        ("2026112115,25Z", Timestamp(seconds: example - 900)),
        ("2026112115.123456789123Z", Timestamp(seconds: example - 1800 + 444, nanoseconds: 444_440_842)), // 0.123456789123 h
        ("2026112115.999999999999999Z", Timestamp(seconds: example + 1799, nanoseconds: 999_999_999)),
        ("202611211530Z", Timestamp(seconds: example)), // minutes, no seconds
        ("202611211530.5Z", Timestamp(seconds: example + 30)), // half a minute
        ("202611211530.25Z", Timestamp(seconds: example + 15)),
        ("20261121173000+0200", Timestamp(seconds: example)),
        ("20261121100000-0530", Timestamp(seconds: example)),
        ("20261121173000+02", Timestamp(seconds: example)),
        ("20261121153000-0000", Timestamp(seconds: example)),
        ("20261121173000.25+0200", Timestamp(seconds: example, nanoseconds: 250_000_000)),
        ("20261122003000+0900", Timestamp(seconds: example)), // the previous day in UTC
        ("20261231233000-0100", Timestamp(seconds: 1_798_763_400)), // 2027-01-01T00:30:00Z
        ("19700101000000Z", Timestamp(seconds: 0)),
        ("19691231235959Z", Timestamp(seconds: -1)),
        ("19691231235959.5Z", Timestamp(seconds: -1, nanoseconds: 500_000_000)),
        ("20000229120000Z", Timestamp(seconds: 951_825_600)), // 2000 is a leap year (divisible by 400)
        ("20240229000000Z", Timestamp(seconds: 1_709_164_800)),
        ("16000229000000Z", Timestamp(seconds: -11_670_998_400)),
        ("99991231235959.999999999Z", Timestamp(seconds: 253_402_300_799, nanoseconds: 999_999_999)),
        ("00000101000000Z", Timestamp(seconds: -62_167_219_200)),
        // A leap second is clamped to the last nanosecond of its minute, fraction and all.
        ("20261231235960Z", Timestamp(seconds: 1_798_761_599, nanoseconds: 999_999_999)),
        ("20261231235960.5Z", Timestamp(seconds: 1_798_761_599, nanoseconds: 999_999_999)),
        ("20170101005960+0100", Timestamp(seconds: 1_483_228_799, nanoseconds: 999_999_999)),
    ]

    @Test(arguments: validValues)
    func readsGeneralizedTime(_ text: String, _ expected: Timestamp) throws {
        #expect(try Timestamp(generalizedTime: text) == expected)
        #expect(try Timestamp(generalizedTimeBytes: Array(text.utf8)) == expected)
        #expect(try Timestamp(generalizedTimeBytes: text.utf8[...]) == expected)
    }

    /// Each value is wrong for one reason, which the error names after the expected form.
    static let invalidValues: [(String, String)] = [
        ("", "empty"),
        ("20261121153000", "the time zone is missing"),
        ("2026112115", "the time zone is missing"),
        ("20261321153000Z", "month 13 does not exist"),
        ("20260001153000Z", "month 0 does not exist"),
        ("20260230153000Z", "day 30 does not exist: February 2026 has 28 days"),
        ("20260229153000Z", "day 29 does not exist: February 2026 has 28 days"),
        ("19000229000000Z", "day 29 does not exist: February 1900 has 28 days"), // 1900: divisible by 100, not 400
        ("20261131000000Z", "day 31 does not exist: November 2026 has 30 days"),
        ("20261100000000Z", "day 0 does not exist"),
        ("20261121243000Z", "hour 24 does not exist"),
        ("20261121156000Z", "minute 60 does not exist"),
        ("20261121153061Z", "second 61 does not exist"),
        ("2026112115300aZ", "the second needs 2 digits, found 'a' at offset 13"),
        ("abcdefghijZ", "the year needs 4 digits, found 'a' at offset 0"),
        ("2026-11-21T15:30:00Z", "the month needs 2 digits, found '-' at offset 4"),
        ("202611Z", "the day needs 2 digits, found 'Z' at offset 6"),
        ("2026112Z", "the day needs 2 digits, found 'Z' at offset 7"),
        ("20261121153Z", "the minute needs 2 digits, found 'Z' at offset 11"),
        ("20261121153000.Z", "a fraction needs at least one digit after '.', found 'Z' at offset 15"),
        ("20261121153000,Z", "a fraction needs at least one digit after ','"),
        ("20261121153000z", "expected a time zone (Z, +hhmm or -hhmm) at offset 14, found 'z'"),
        ("20261121153000 Z", "expected a time zone (Z, +hhmm or -hhmm) at offset 14, found ' '"),
        ("20261121153000Z ", "expected the end after the time zone at offset 15, found ' '"),
        ("20261121153000ZZ", "expected the end after the time zone"),
        ("20261121153000+2400", "offset hour 24 does not exist"),
        ("20261121153000+0260", "offset minute 60 does not exist"),
        ("20261121153000+020", "the offset minute needs 2 digits, found the end at offset 18"),
        ("20261121153000+", "the offset hour needs 2 digits, found the end"),
        ("20261121153000.5", "the time zone is missing"),
        ("99999", "the month needs 2 digits, found the end at offset 5"),
    ]

    @Test(arguments: invalidValues)
    func rejectsWhatIsNotGeneralizedTime(_ text: String, _ reason: String) {
        let error = #expect(throws: TimestampError.self) { try Timestamp(generalizedTime: text) }
        #expect(error?.input == text)
        #expect(error?.expected.hasPrefix("GeneralizedTime such as 20261121153000Z (") == true)
        #expect(error?.expected.contains(reason) == true, "\(error?.expected ?? "no error")")
    }

    @Test func octetsThatAreNotUTF8AreAnErrorThatStillPrints() {
        let error = #expect(throws: TimestampError.self) {
            try Timestamp(generalizedTimeBytes: [0x32, 0x30, 0xFF, 0x36] as [UInt8])
        }
        #expect(error?.input == "20\u{FFFD}6")
        #expect(error?.expected.contains("found 0xff at offset 2") == true)
        #expect(error?.description.contains("is not a valid timestamp: expected GeneralizedTime") == true)
    }

    static let canonicalForms: [(Timestamp, String)] = [
        (Timestamp(seconds: example), "20261121153000Z"),
        (Timestamp(seconds: example, nanoseconds: 500_000_000), "20261121153000.5Z"),
        (Timestamp(seconds: example, nanoseconds: 123_456_000), "20261121153000.123456Z"),
        (Timestamp(seconds: example, nanoseconds: 1), "20261121153000.000000001Z"),
        (Timestamp(seconds: 0), "19700101000000Z"),
        (Timestamp(seconds: -1, nanoseconds: 999_999_999), "19691231235959.999999999Z"),
        (Timestamp(seconds: 951_825_600), "20000229120000Z"),
        (Timestamp(seconds: 253_402_300_799, nanoseconds: 999_999_999), "99991231235959.999999999Z"),
        (Timestamp(seconds: -62_167_219_200), "00000101000000Z"),
    ]

    @Test(arguments: canonicalForms)
    func writesCanonicalGeneralizedTime(_ time: Timestamp, _ expected: String) throws {
        #expect(time.generalizedTime == expected)
        #expect(try Timestamp(generalizedTime: expected) == time)
    }
}
