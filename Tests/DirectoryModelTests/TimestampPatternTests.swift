import DirectoryModel
import Testing

/// The pattern language of SPEC §4: how a cursor is written into a search filter, shown
/// and typed.
@Suite struct TimestampPatternTests {
    /// 2026-11-21T15:30:00Z.
    static let example = Timestamp(seconds: 1_795_275_000)
    /// 2026-11-21T15:30:00.987654321Z.
    static let exampleWithFraction = Timestamp(seconds: 1_795_275_000, nanoseconds: 987_654_321)

    // MARK: The filter fragments SPEC §4 promises

    @Test func presetsWriteTheFilterFragmentsOfTheSpecification() throws {
        #expect(TimestampPattern.openldap.format(Self.example) == "20261121153000Z")
        #expect(TimestampPattern.ad.format(Self.example) == "20261121153000.0Z")
        #expect(try TimestampPattern("openldap").format(Self.example) == "20261121153000Z")
        #expect(try TimestampPattern("ad").format(Self.example) == "20261121153000.0Z")
        #expect(try TimestampPattern("yyyyMMddHHmmss'Z'").format(Self.example) == "20261121153000Z")
        #expect(try TimestampPattern("yyyyMMddHHmmss'.0Z'").format(Self.example) == "20261121153000.0Z")
        #expect(TimestampPattern.defaultDisplay.format(Self.example) == "21-11-2026 15:30:00")
    }

    @Test func thePatternsAdministratorsAlreadyTypeMeanThePresets() throws {
        let openldap = try TimestampPattern("yyyyMMddHHmmssZ")
        let ad = try TimestampPattern("yyyyMMddHHmmss.Z")
        #expect(openldap.format(Self.example) == "20261121153000Z")
        #expect(ad.format(Self.example) == "20261121153000.0Z")
        #expect(openldap == .openldap)
        #expect(ad == .ad)
        #expect(openldap.text == "yyyyMMddHHmmssZ")
        #expect(ad.text == "yyyyMMddHHmmss.Z")
        #expect(try ad.parse("20261121153000.0Z") == Self.example)
    }

    @Test func presetsDescribeThemselves() throws {
        #expect(TimestampPattern.openldap.text == "openldap")
        #expect(TimestampPattern.openldap.canonicalText == "yyyyMMddHHmmss'Z'")
        #expect(TimestampPattern.ad.canonicalText == "yyyyMMddHHmmss'.0Z'")
        #expect(TimestampPattern.openldap.description == "openldap (yyyyMMddHHmmss'Z')")
        #expect(TimestampPattern.ad.description == "ad (yyyyMMddHHmmss'.0Z')")
        #expect(try TimestampPattern("OpenLDAP").description == "OpenLDAP (yyyyMMddHHmmss'Z')")
        #expect(try TimestampPattern("yyyyMMddHHmmss.Z").description == "yyyyMMddHHmmss.Z (ad: yyyyMMddHHmmss'.0Z')")
        #expect(try TimestampPattern("yyyyMMddHHmmssZ").description == "yyyyMMddHHmmssZ (openldap: yyyyMMddHHmmss'Z')")
        #expect(try TimestampPattern("yyyyMMddHHmmss'Z'").description == "yyyyMMddHHmmss'Z'")
        #expect(TimestampPattern.defaultDisplay.description == "dd-MM-yyyy HH:mm:ss")
        #expect(TimestampPattern.defaultDisplay.text == "dd-MM-yyyy HH:mm:ss")
    }

    @Test func equalPatternsAreThoseThatBehaveAlike() throws {
        #expect(try TimestampPattern("yyyyMMddHHmmss'Z'") == .openldap)
        #expect(try TimestampPattern("yyyyMMddHHmmss'.'0Z") == .ad)
        #expect(try TimestampPattern("yyyyMMddHHmmss'.0'Z") == .ad)
        #expect(Set([TimestampPattern.openldap, try TimestampPattern("openldap"), try TimestampPattern("yyyyMMddHHmmssZ")]).count == 1)
        #expect(TimestampPattern.openldap != .ad)
    }

    // MARK: The language

    /// Each pattern, and what it writes for 2026-11-21T15:30:00.987654321Z.
    static let patterns: [(String, String)] = [
        ("yyyyMMddHHmmss'Z'", "20261121153000Z"),
        ("yyyyMMddHHmmss'.0Z'", "20261121153000.0Z"),
        ("yyyyMMddHHmmssZ", "20261121153000Z"),
        ("yyyyMMddHHmmss.Z", "20261121153000.0Z"),
        ("yyyyMMddHHmmss.SZ", "20261121153000.9Z"), // truncated, never rounded up
        ("yyyyMMddHHmmss.SSSSSSSSSZ", "20261121153000.987654321Z"),
        ("yyyyMMddHHmmss,SSSZ", "20261121153000,987Z"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", "2026-11-21T15:30:00.987Z"),
        ("yyyy-MM-ddTHH:mm:ssZ", "2026-11-21T15:30:00Z"), // T unquoted is a literal
        ("dd-MM-yyyy HH:mm:ss", "21-11-2026 15:30:00"),
        ("dd/MM/yyyy HH:mm", "21/11/2026 15:30"),
        ("yyyyMMddHH'Z'", "2026112115Z"),
        ("yyyyMMddHHmm'Z'", "202611211530Z"),
        ("'at' HH:mm 'on' dd.MM.yyyy", "at 15:30 on 21.11.2026"),
        ("yyyy''MM''dd HH", "2026'11'21 15"),
        ("'o''clock' HH, yyyyMMdd", "o'clock 15, 20261121"),
        ("yyyy年MM月dd日 HH時", "2026年11月21日 15時"),
    ]

    @Test(arguments: patterns)
    func writesAndReadsBackEachPattern(_ pattern: String, _ expected: String) throws {
        let compiled = try TimestampPattern(pattern)
        #expect(compiled.text == pattern)
        #expect(compiled.format(Self.exampleWithFraction) == expected)
        let parsed = try compiled.parse(expected)
        #expect(parsed <= Self.exampleWithFraction)
        #expect(compiled.format(parsed) == expected)
        #expect(try TimestampPattern(compiled.canonicalText) == compiled)
    }

    /// Each mistake, and the words of the reason that let an administrator fix it.
    static let invalidPatterns: [(String, [String])] = [
        ("yyyyMMddhhmmss", ["'h' at offset 8 is not a pattern letter", "hours are HH"]),
        ("yyyy-MM-dd hh:mm:ss", ["'h' at offset 11", "hours are HH (00-23)"]),
        ("yyyy-MM-dd HH:mm:ss a", ["'a' at offset 20", "there is no AM/PM"]),
        ("YYYYMMddHHmmss", ["'Y' at offset 0", "years are yyyy"]),
        ("yyyyMMDDHHmmss", ["'D' at offset 6", "days of the month are dd"]),
        ("yyyyMMddHHmmss.fffZ", ["'f' at offset 15", "fractions of a second are S"]),
        ("yyyyMMddHHmmssz", ["'z' at offset 14", "the time zone is Z"]),
        ("yyyyMMddHHmmssX", ["'X' at offset 14", "the time zone is Z"]),
        ("yyyyMMddHHmmss'x", ["the quote at offset 14 is not closed"]),
        ("yyyyMMddHHmmssUTC", ["'U' at offset 14", "quote literal text"]),
        ("yyMMddHHmmss", ["'yy' at offset 0 is not a field", "the year is yyyy"]),
        ("yyyyMddHHmmss", ["'M' at offset 4 is not a field", "the month is MM"]),
        ("yyyyMMMddHHmmss", ["'MMM' at offset 4 is not a field", "the month is MM"]),
        ("yyyyMMddHHmmsss", ["'sss' at offset 12 is not a field", "the second is ss"]),
        ("yyyyMMddHHMMss", ["MM appears twice (again at offset 10)"]),
        ("yyyyMMddHHmmss.SSS SSS", ["the fraction S appears twice"]),
        ("yyyyMMddHHmmss.SSSSSSSSSS", ["10 S: at most 9"]),
        ("", ["a pattern needs yyyy, MM, dd and HH; missing yyyy, MM, dd, HH"]),
        ("dd-MM-yyyy", ["missing HH"]),
        ("MMdd HH:mm", ["missing yyyy"]),
        ("yyyyMMddHHss", ["ss needs mm"]),
        ("yyyyMMddHHmm.SSS", ["S, a digit of the fraction of the second, needs ss"]),
    ]

    @Test(arguments: invalidPatterns)
    func rejectsMistakesNamingTheLetter(_ pattern: String, _ reasons: [String]) {
        let error = #expect(throws: TimestampError.self) { try TimestampPattern(pattern) }
        #expect(error?.input == pattern)
        #expect(error?.expected.hasPrefix("a timestamp pattern of yyyy, MM, dd, HH, mm, ss, S, 'text' and Z") == true)
        for reason in reasons {
            #expect(error?.expected.contains(reason) == true, "\(error?.expected ?? "no error")")
        }
    }

    // MARK: Parsing

    static let parsedByDisplay: [(String, Timestamp)] = [
        ("21-11-2026 15:30:00", example),
        ("01-01-1970 00:00:00", Timestamp(seconds: 0)),
        ("29-02-2000 12:00:00", Timestamp(seconds: 951_825_600)),
        ("31-12-2016 23:59:60", Timestamp(seconds: 1_483_228_799, nanoseconds: 999_999_999)), // leap second, clamped
    ]

    @Test(arguments: parsedByDisplay)
    func displayPatternReadsWhatItShows(_ text: String, _ expected: Timestamp) throws {
        #expect(try TimestampPattern.defaultDisplay.parse(text) == expected)
        #expect(try TimestampPattern.defaultDisplay.parseTyped(text) == expected)
    }

    static let rejectedByDisplay: [(String, String)] = [
        ("", "empty"),
        ("21-11-2026 15:30", "expected ':' at offset 16, found the end"),
        ("21-11-2026 15:30:00 ", "expected the end at offset 19, found ' '"),
        ("2026-11-21 15:30:00", "expected '-' at offset 2, found '2'"),
        ("21.11.2026 15:30:00", "expected '-' at offset 2, found '.'"),
        ("31-02-2026 10:00:00", "day 31 does not exist: February 2026 has 28 days"),
        ("21-11-2026 24:00:00", "hour 24 does not exist"),
        ("21-11-2026 1:30:00", "the hour needs 2 digits, found ':' at offset 12"),
    ]

    @Test(arguments: rejectedByDisplay)
    func parseIsAnExactMatchAndTheErrorShowsAnExample(_ text: String, _ reason: String) {
        let error = #expect(throws: TimestampError.self) { try TimestampPattern.defaultDisplay.parse(text) }
        #expect(error?.input == text)
        #expect(error?.expected.hasPrefix("dd-MM-yyyy HH:mm:ss such as 21-11-2026 15:30:00 (") == true)
        #expect(error?.expected.contains(reason) == true, "\(error?.expected ?? "no error")")
    }

    @Test func presetErrorsShowTheCanonicalPatternAndAnExample() throws {
        let openldap = #expect(throws: TimestampError.self) { try TimestampPattern.openldap.parse("20261121153000.0Z") }
        #expect(openldap?.expected.hasPrefix("yyyyMMddHHmmss'Z' such as 20261121153000Z (expected 'Z' at offset 14, found '.')") == true)
        let ad = #expect(throws: TimestampError.self) { try TimestampPattern.ad.parse("20261121153000Z") }
        #expect(ad?.expected.hasPrefix("yyyyMMddHHmmss'.0Z' such as 20261121153000.0Z (") == true)
        let alias = #expect(throws: TimestampError.self) { try TimestampPattern("yyyyMMddHHmmss.Z").parse("x") }
        #expect(alias?.expected.hasPrefix("yyyyMMddHHmmss.Z such as 20261121153000.0Z (") == true)
        let millis = #expect(throws: TimestampError.self) { try TimestampPattern("yyyy-MM-dd HH:mm:ss.SSS").parse("x") }
        #expect(millis?.expected.hasPrefix("yyyy-MM-dd HH:mm:ss.SSS such as 2026-11-21 15:30:00.123 (") == true)
    }

    // MARK: Typed dates

    static let typedDates: [(String, Timestamp)] = [
        ("21-11-2026 15:30:00", example),
        ("2026-11-21T15:30:00Z", example),
        ("2026-11-21T17:30:00+02:00", example),
        ("2026-11-21 15:30:00", example),
        ("2026-11-21", Timestamp(seconds: 1_795_219_200)),
    ]

    @Test(arguments: typedDates)
    func typedDatesMayBeTheDisplayPatternOrISO8601(_ text: String, _ expected: Timestamp) throws {
        #expect(try TimestampPattern.defaultDisplay.parseTyped(text) == expected)
    }

    static let rejectedTypedDates: [(String, String?)] = [
        ("yesterday", nil),
        ("21/11/2026", nil),
        ("", nil),
        ("31-02-2026 10:00:00", "day 31 does not exist: February 2026 has 28 days"),
        ("2026-02-31", "day 31 does not exist: February 2026 has 28 days"),
    ]

    @Test(arguments: rejectedTypedDates)
    func aTypedDateThatIsNeitherFormNamesBoth(_ text: String, _ reason: String?) {
        let error = #expect(throws: TimestampError.self) { try TimestampPattern.defaultDisplay.parseTyped(text) }
        let both = "dd-MM-yyyy HH:mm:ss such as 21-11-2026 15:30:00, or ISO 8601 such as 2026-11-21T15:30:00Z"
        if let reason {
            #expect(error?.expected == "\(both) (\(reason))")
        } else {
            #expect(error?.expected == both)
        }
    }

    // MARK: Truncation and GeneralizedTime

    @Test func formattingTruncatesSoACursorNeverMovesForward() throws {
        let lastNanosecond = Timestamp(seconds: 1_798_761_599, nanoseconds: 999_999_999) // 2026-12-31T23:59:59.999999999Z
        #expect(TimestampPattern.openldap.format(lastNanosecond) == "20261231235959Z")
        #expect(TimestampPattern.ad.format(lastNanosecond) == "20261231235959.0Z")
        #expect(try TimestampPattern("yyyyMMddHHmmss.SSSZ").format(lastNanosecond) == "20261231235959.999Z")
        #expect(try TimestampPattern("yyyyMMddHHmm'Z'").format(lastNanosecond) == "202612312359Z")
        #expect(try TimestampPattern("yyyyMMddHH'Z'").format(lastNanosecond) == "2026123123Z")
    }

    static let generalizedTimeOutput: [(String, Bool)] = [
        ("openldap", true),
        ("ad", true),
        ("yyyyMMddHHmmssZ", true),
        ("yyyyMMddHHmmss.Z", true),
        ("yyyyMMddHHmmss.SSSZ", true),
        ("yyyyMMddHHmmss,SZ", true),
        ("yyyyMMddHHmmss.SSS'000Z'", true),
        ("yyyyMMddHHmm'Z'", true),
        ("yyyyMMddHH'Z'", true),
        ("yyyyMMddHHmm'.0Z'", true),
        ("yyyyMMddHHmmss", false), // no time zone
        ("yyyyMMddHHmmss'+0200'", false), // UTC fields labelled as another zone
        ("yyyyMMddHHmmss'.5Z'", false), // a made-up half second
        ("yyyyMMddHHmmss'.Z'", false), // a fraction without digits
        ("yyyyMMddHHmmss'ZZ'", false),
        ("yyyy-MM-dd'T'HH:mm:ss'Z'", false),
        ("dd-MM-yyyy HH:mm:ss", false),
        ("yyyyMMddHHss", false),
        ("yyyyMMdd HHmmssZ", false),
    ]

    @Test(arguments: generalizedTimeOutput)
    func knowsWhetherItWritesGeneralizedTime(_ pattern: String, _ expected: Bool) throws {
        let compiled = try? TimestampPattern(pattern)
        guard let compiled else {
            #expect(!expected, "a pattern that does not compile cannot write anything")
            return
        }
        #expect(compiled.producesGeneralizedTime == expected)
        if expected {
            let written = compiled.format(Self.exampleWithFraction)
            let read = try Timestamp(generalizedTime: written)
            #expect(read <= Self.exampleWithFraction)
            #expect(read >= Self.example.subtracting(.seconds(3600)))
        }
    }
}
