/// RFC 4517 GeneralizedTime (what directories send) and ISO 8601 (what the app store and
/// administrators write). Both parsers work on octets and check every field; both
/// printers write UTC with the fraction only when it is not zero.
///
/// Leap seconds (second 60) are clamped to `:59.999999999`; see
/// ``Timestamp/init(year:month:day:hour:minute:second:nanosecond:)``.
extension Timestamp {
    // MARK: GeneralizedTime

    static let generalizedTimeExpectation = "GeneralizedTime such as 20261121153000Z"

    /// Parses an RFC 4517 §3.3.13 GeneralizedTime, as a server sends it in
    /// `modifyTimestamp` or `whenChanged`:
    /// `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM])`.
    ///
    /// - The fraction belongs to the last field present: `2026112115.5Z` is 15:30,
    ///   `202611211530.5Z` is 15:30:30. Digits beyond the nanosecond are truncated, never
    ///   rounded up.
    /// - An offset is converted to UTC: `20261121173000+0200` is 15:30:00Z.
    /// - The time zone is required: LDAP values always carry one, and a local time
    ///   would be a guess.
    /// - Active Directory writes `20261121153000.0Z`; OpenLDAP `20261121153000Z`, and
    ///   microseconds (`20261121153000.123456Z`) in some operational attributes.
    ///
    /// The error's ``TimestampError/expected`` is
    /// `GeneralizedTime such as 20261121153000Z`, followed by the reason in parentheses.
    public init(generalizedTime: String) throws(TimestampError) {
        try self.init(generalizedTimeBytes: generalizedTime.utf8)
    }

    /// ``init(generalizedTime:)`` on an attribute value's octets, which need not be UTF-8
    /// (the error shows them with replacement characters).
    public init<C: Collection<UInt8>>(generalizedTimeBytes: C) throws(TimestampError) {
        let bytes = Array(generalizedTimeBytes)
        do throws(TimestampFailure) {
            self = try Self.parseGeneralizedTime(bytes)
        } catch {
            throw TimestampError(
                input: String(decoding: bytes, as: UTF8.self),
                expected: "\(Self.generalizedTimeExpectation) (\(error.reason))"
            )
        }
    }

    private static func parseGeneralizedTime(_ bytes: [UInt8]) throws(TimestampFailure) -> Timestamp {
        guard !bytes.isEmpty else { throw TimestampFailure(reason: "the value is empty") }
        var scanner = TimestampScanner(bytes)
        let year = try scanner.number(4, "the year")
        let month = try scanner.number(2, "the month")
        let day = try scanner.number(2, "the day")
        let hour = try scanner.number(2, "the hour")
        var minute = 0
        var second = 0
        var fractionUnit: Int64 = 3_600_000_000_000 // nanoseconds in the last field present
        if let byte = scanner.next, ASCII.isDigit(byte) {
            minute = try scanner.number(2, "the minute")
            fractionUnit = 60_000_000_000
            if let byte = scanner.next, ASCII.isDigit(byte) {
                second = try scanner.number(2, "the second")
                fractionUnit = 1_000_000_000
            }
        }
        var fraction: Int64 = 0
        if let separator = scanner.take(anyOf: [ASCII.dot, ASCII.comma]) {
            fraction = fractionNanoseconds(try scanner.digitRun(after: separator), unit: fractionUnit)
        }
        guard !scanner.isAtEnd else {
            throw TimestampFailure(reason: "the time zone is missing: Z or an offset such as +0200 must end the value")
        }
        let offset = try scanner.timeZoneOffset(utc: [0x5A], colon: false, expectation: "a time zone (Z, +hhmm or -hhmm)")
        guard scanner.isAtEnd else { throw scanner.failure("the end after the time zone") }
        let local = try validated(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: 0
        )
        return local.utc(plusFraction: second == 60 ? 0 : fraction, offset: offset)
    }

    /// `unit × 0.digits` in nanoseconds, truncated, however many digits there are: long
    /// multiplication from the last digit, whose carry is `⌊unit × N / 10ᵏ⌋` exactly
    /// (`unit` ≤ 3.6 × 10¹², so nothing overflows).
    private static func fractionNanoseconds(_ digits: ArraySlice<UInt8>, unit: Int64) -> Int64 {
        var carry: Int64 = 0
        for digit in digits.reversed() {
            carry = (unit * Int64(digit - 0x30) + carry) / 10
        }
        return carry
    }

    /// This local time, plus a fraction in nanoseconds (less than an hour), minus an
    /// offset east of UTC in seconds. Only for parsed years `0...9999`: cannot overflow.
    private func utc(plusFraction fraction: Int64, offset: Int) -> Timestamp {
        let nanoseconds = Int64(self.nanoseconds) + fraction % 1_000_000_000
        let seconds = self.seconds + fraction / 1_000_000_000 - Int64(offset)
        return Timestamp(seconds: seconds + nanoseconds / 1_000_000_000, nanoseconds: Int32(nanoseconds % 1_000_000_000))
    }

    /// The canonical GeneralizedTime in UTC, `yyyyMMddHHmmssZ`, with a `.fffffffff`
    /// fraction trimmed of trailing zeros when it is not zero (`20261121153000.5Z`).
    ///
    /// A year outside `0000...9999` (more than ±8,000 years from now) is written with
    /// more digits or a `-`, which is not GeneralizedTime.
    public var generalizedTime: String {
        let time = components
        var output: [UInt8] = []
        output.reserveCapacity(25)
        for (value, width) in [(time.year, 4), (time.month, 2), (time.day, 2), (time.hour, 2), (time.minute, 2), (time.second, 2)] {
            TimestampDigits.append(value, width: width, to: &output)
        }
        TimestampDigits.appendTrimmedFraction(time.nanosecond, to: &output)
        output.append(0x5A) // Z
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: ISO 8601

    static let iso8601Expectation = "ISO 8601 such as 2026-11-21T15:30:00Z"

    /// Parses the ISO 8601 forms an app store and an administrator write:
    ///
    /// - `2026-11-21T15:30:00Z`, `2026-11-21T15:30:00.25Z`, `2026-11-21t15:30:00z`;
    /// - offsets `+02:00`, `-0530` or `+02`, converted to UTC;
    /// - `2026-11-21 15:30:00`, SQLite's `datetime('now')`, and any time without a zone,
    ///   read as UTC (SPEC §5: `updatedAt` holds UTC; cursors are typed in UTC);
    /// - `2026-11-21T15:30` without seconds; a date alone, `2026-11-21`, is midnight UTC.
    ///
    /// The fraction (`.` or `,`) follows the seconds; digits beyond the nanosecond are
    /// truncated. The error's ``TimestampError/expected`` is
    /// `ISO 8601 such as 2026-11-21T15:30:00Z`, followed by the reason in parentheses.
    public init(iso8601: String) throws(TimestampError) {
        do throws(TimestampFailure) {
            self = try Self.parseISO8601(Array(iso8601.utf8))
        } catch {
            throw TimestampError(input: iso8601, expected: "\(Self.iso8601Expectation) (\(error.reason))")
        }
    }

    static func parseISO8601(_ bytes: [UInt8]) throws(TimestampFailure) -> Timestamp {
        guard !bytes.isEmpty else { throw TimestampFailure(reason: "the value is empty") }
        var scanner = TimestampScanner(bytes)
        let year = try scanner.number(4, "the year")
        guard scanner.take(ASCII.hyphen) else { throw scanner.failure("'-' after the year") }
        let month = try scanner.number(2, "the month")
        guard scanner.take(ASCII.hyphen) else { throw scanner.failure("'-' after the month") }
        let day = try scanner.number(2, "the day")
        guard !scanner.isAtEnd else {
            return try validated(year: year, month: month, day: day, hour: 0, minute: 0, second: 0, nanosecond: 0)
        }
        guard scanner.take(anyOf: [0x54, 0x74, ASCII.space]) != nil else {
            throw scanner.failure("'T' or a space between the date and the time")
        }
        let hour = try scanner.number(2, "the hour")
        guard scanner.take(ASCII.colon) else { throw scanner.failure("':' after the hour") }
        let minute = try scanner.number(2, "the minute")
        var second = 0
        var fraction: Int64 = 0
        if scanner.take(ASCII.colon) {
            second = try scanner.number(2, "the second")
            if let separator = scanner.take(anyOf: [ASCII.dot, ASCII.comma]) {
                fraction = fractionNanoseconds(try scanner.digitRun(after: separator), unit: 1_000_000_000)
            }
        }
        var offset = 0
        if !scanner.isAtEnd {
            offset = try scanner.timeZoneOffset(
                utc: [0x5A, 0x7A], colon: true, expectation: "a time zone (Z, +hh:mm or -hh:mm) or the end"
            )
            guard scanner.isAtEnd else { throw scanner.failure("the end after the time zone") }
        }
        let local = try validated(
            year: year, month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: 0
        )
        return local.utc(plusFraction: second == 60 ? 0 : fraction, offset: offset)
    }

    /// ISO 8601 in UTC, `2026-11-21T15:30:00Z`, with a `.fffffffff` fraction trimmed of
    /// trailing zeros when it is not zero (`2026-11-21T15:30:00.5Z`). A year outside
    /// `0000...9999` is written with more digits or a `-`.
    public var iso8601: String {
        let time = components
        var output: [UInt8] = []
        output.reserveCapacity(30)
        TimestampDigits.append(time.year, width: 4, to: &output)
        output.append(ASCII.hyphen)
        TimestampDigits.append(time.month, width: 2, to: &output)
        output.append(ASCII.hyphen)
        TimestampDigits.append(time.day, width: 2, to: &output)
        output.append(0x54) // T
        TimestampDigits.append(time.hour, width: 2, to: &output)
        output.append(ASCII.colon)
        TimestampDigits.append(time.minute, width: 2, to: &output)
        output.append(ASCII.colon)
        TimestampDigits.append(time.second, width: 2, to: &output)
        TimestampDigits.appendTrimmedFraction(time.nanosecond, to: &output)
        output.append(0x5A) // Z
        return String(decoding: output, as: UTF8.self)
    }
}

extension TimestampScanner {
    /// A time zone: one of `utc` (`Z`), or `+`/`-` and two digits of hours (`00...23`),
    /// optionally minutes (`00...59`), with a `:` before them when `colon` allows it.
    /// Returns the offset east of UTC in seconds.
    mutating func timeZoneOffset(utc: [UInt8], colon: Bool, expectation: String) throws(TimestampFailure) -> Int {
        if take(anyOf: utc) != nil { return 0 }
        guard let sign = take(anyOf: [ASCII.plus, ASCII.hyphen]) else { throw failure(expectation) }
        let hours = try number(2, "the offset hour")
        var minutes = 0
        let hasColon = colon && take(ASCII.colon)
        if hasColon || next.map(ASCII.isDigit) == true {
            minutes = try number(2, "the offset minute")
        }
        guard hours <= 23 else { throw TimestampFailure(reason: "offset hour \(hours) does not exist (00-23)", isRange: true) }
        guard minutes <= 59 else { throw TimestampFailure(reason: "offset minute \(minutes) does not exist (00-59)", isRange: true) }
        let seconds = hours * 3600 + minutes * 60
        return sign == ASCII.plus ? seconds : -seconds
    }
}
