/// How a cursor is written into a search filter, or shown to and typed by an
/// administrator (SPEC §4).
///
/// The pattern language:
///
/// - `yyyy` `MM` `dd` `HH` `mm` `ss`: year, month, day, hour (00-23), minute and second,
///   each with exactly that many digits;
/// - `S`: one digit of the fraction of a second, repeatable (`SSS` is milliseconds, at
///   most nine);
/// - `'…'`: literal text (`''` is a quote, inside or outside quotes);
/// - `Z`: the UTC designator `Z`;
/// - `T` and any character other than an ASCII letter (`-`, `:`, space, `.`, `/`) stand
///   for themselves.
///
/// Other ASCII letters are errors that say which letter is wrong (`hh` is not hours:
/// hours are `HH`). A pattern has at least `yyyy`, `MM`, `dd` and `HH`; `ss` needs `mm`
/// and `S` needs `ss`. Times are UTC.
///
/// Presets: ``openldap`` is `yyyyMMddHHmmss'Z'` (`20261121153000Z`), ``ad`` is
/// `yyyyMMddHHmmss'.0Z'` (`20261121153000.0Z`). ``init(_:)`` also takes their names and,
/// verbatim, the two patterns administrators already type for them: `yyyyMMddHHmmssZ`
/// and `yyyyMMddHHmmss.Z` (which, read literally, would write a bare `.`).
///
/// Two patterns are equal when they format and parse alike, whatever their ``text``:
/// `TimestampPattern("yyyyMMddHHmmssZ") == .openldap`.
public struct TimestampPattern: Hashable, Sendable, CustomStringConvertible {
    enum Field: Hashable, Sendable {
        case year, month, day, hour, minute, second

        var width: Int { self == .year ? 4 : 2 }
        var letters: String {
            switch self {
            case .year: "yyyy"
            case .month: "MM"
            case .day: "dd"
            case .hour: "HH"
            case .minute: "mm"
            case .second: "ss"
            }
        }
        var name: String {
            switch self {
            case .year: "the year"
            case .month: "the month"
            case .day: "the day"
            case .hour: "the hour"
            case .minute: "the minute"
            case .second: "the second"
            }
        }
    }

    enum Element: Hashable, Sendable {
        /// A field with ``Field/width`` digits.
        case field(Field)
        /// The first `digits` digits of the fraction of the second.
        case fraction(digits: Int)
        /// Text written and matched octet for octet; adjacent literals are merged.
        case literal([UInt8])
    }

    /// The pattern as it was given: an explicit pattern, a preset's name (`openldap`, and
    /// for the static presets too) or one of the presets' verbatim aliases.
    public let text: String
    let elements: [Element]

    private init(text: String, elements: [Element]) {
        self.text = text
        self.elements = elements
    }

    /// `yyyyMMddHHmmss'Z'`: OpenLDAP, 389 DS and most directories (`20261121153000Z`).
    public static let openldap = TimestampPattern(
        text: "openldap",
        elements: [.field(.year), .field(.month), .field(.day), .field(.hour), .field(.minute), .field(.second), .literal([0x5A])]
    )

    /// `yyyyMMddHHmmss'.0Z'`: Active Directory (`20261121153000.0Z`).
    public static let ad = TimestampPattern(
        text: "ad",
        elements: [
            .field(.year), .field(.month), .field(.day), .field(.hour), .field(.minute), .field(.second),
            .literal([ASCII.dot, 0x30, 0x5A]),
        ]
    )

    /// `dd-MM-yyyy HH:mm:ss` (`21-11-2026 15:30:00`), the default of `cursor.display`.
    public static let defaultDisplay: TimestampPattern = {
        do {
            return try TimestampPattern("dd-MM-yyyy HH:mm:ss")
        } catch {
            preconditionFailure("the default display pattern does not compile: \(error)")
        }
    }()

    private static let presets: [(name: String, alias: String, pattern: TimestampPattern)] = [
        ("openldap", "yyyyMMddHHmmssZ", .openldap),
        ("ad", "yyyyMMddHHmmss.Z", .ad),
    ]

    static let patternExpectation =
        "a timestamp pattern of yyyy, MM, dd, HH, mm, ss, S, 'text' and Z such as yyyyMMddHHmmss'Z', or openldap or ad"

    /// Compiles a pattern, or takes a preset by its name (`openldap`, `ad`, in any case)
    /// or by its verbatim alias (`yyyyMMddHHmmssZ`, `yyyyMMddHHmmss.Z`).
    ///
    /// The error's ``TimestampError/expected`` describes the language and ends with the
    /// reason in parentheses, naming the letter and its offset when a letter is wrong.
    public init(_ text: String) throws(TimestampError) {
        if let preset = Self.presets.first(where: { $0.name == text.lowercased() || $0.alias == text }) {
            self.init(text: text, elements: preset.pattern.elements)
            return
        }
        do throws(TimestampFailure) {
            self.init(text: text, elements: try PatternCompiler.compile(Array(text.utf8)))
        } catch {
            throw TimestampError(input: text, expected: "\(Self.patternExpectation) (\(error.reason))")
        }
    }

    public static func == (lhs: TimestampPattern, rhs: TimestampPattern) -> Bool {
        lhs.elements == rhs.elements
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(elements)
    }

    /// The pattern in its canonical spelling, letters quoted: `yyyyMMddHHmmss'Z'`.
    public var canonicalText: String {
        var output = ""
        for element in elements {
            switch element {
            case .field(let field): output += field.letters
            case .fraction(let digits): output += String(repeating: "S", count: digits)
            case .literal(let bytes):
                let literal = String(decoding: bytes, as: UTF8.self)
                // A quote is `''` inside quotes and out; only letters need quotes.
                let escaped = literal.replacingQuotes()
                output += bytes.contains(where: ASCII.isAlpha) ? "'" + escaped + "'" : escaped
            }
        }
        return output
    }

    /// The pattern as given, with what a preset name or alias means:
    /// `openldap (yyyyMMddHHmmss'Z')`, `yyyyMMddHHmmss.Z (ad: yyyyMMddHHmmss'.0Z')`.
    public var description: String {
        let canonical = canonicalText
        guard text != canonical, let preset = Self.presets.first(where: { $0.pattern == self }) else { return text }
        if text.lowercased() == preset.name { return "\(text) (\(canonical))" }
        return "\(text) (\(preset.name): \(canonical))"
    }

    /// What an administrator reads in an error: the pattern and an example,
    /// `dd-MM-yyyy HH:mm:ss such as 21-11-2026 15:30:00`.
    var expectation: String {
        let shown = Self.presets.contains { $0.name == text.lowercased() } ? canonicalText : text
        return "\(shown) such as \(format(Self.exampleTime))"
    }

    /// 2026-11-21T15:30:00.123456789Z, the date of the examples.
    static let exampleTime = Timestamp(seconds: 1_795_275_000, nanoseconds: 123_456_789)

    // MARK: Formatting and parsing

    /// `time` in UTC as the pattern says. Fields missing from the pattern and fraction
    /// digits beyond its `S`s are truncated, never rounded: a cursor written into a
    /// `>=` filter must never come out later than the instant it stands for.
    ///
    /// A year outside `0000...9999` is written with more digits or a `-`.
    public func format(_ time: Timestamp) -> String {
        let components = time.components
        var output: [UInt8] = []
        output.reserveCapacity(32)
        for element in elements {
            switch element {
            case .field(let field):
                let value = switch field {
                case .year: components.year
                case .month: components.month
                case .day: components.day
                case .hour: components.hour
                case .minute: components.minute
                case .second: components.second
                }
                TimestampDigits.append(value, width: field.width, to: &output)
            case .fraction(let digits):
                TimestampDigits.appendFraction(components.nanosecond, digits: digits, to: &output)
            case .literal(let bytes):
                output += bytes
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Reads a text that matches the pattern exactly (UTC; fields it lacks are zero).
    /// Values are checked as ``Timestamp/init(year:month:day:hour:minute:second:nanosecond:)``
    /// checks them, leap second included.
    ///
    /// The error's ``TimestampError/expected`` shows the pattern and an example
    /// (`dd-MM-yyyy HH:mm:ss such as 21-11-2026 15:30:00`), then the reason.
    public func parse(_ text: String) throws(TimestampError) -> Timestamp {
        do throws(TimestampFailure) {
            return try parse(bytes: Array(text.utf8))
        } catch {
            throw TimestampError(input: text, expected: "\(expectation) (\(error.reason))")
        }
    }

    /// A typed date, as `cursor set DATE` and `run --since DATE` take it: the pattern
    /// (tried first), or ISO 8601 as ``Timestamp/init(iso8601:)`` reads it (SPEC §4: "ISO
    /// 8601 is always accepted too").
    ///
    /// The error's ``TimestampError/expected`` names both forms with examples, and the
    /// reason when the text had the shape of one of them but a value out of range.
    public func parseTyped(_ text: String) throws(TimestampError) -> Timestamp {
        let bytes = Array(text.utf8)
        let patternFailure: TimestampFailure
        do throws(TimestampFailure) {
            return try parse(bytes: bytes)
        } catch {
            patternFailure = error
        }
        let isoFailure: TimestampFailure
        do throws(TimestampFailure) {
            return try Timestamp.parseISO8601(bytes)
        } catch {
            isoFailure = error
        }
        let reason = [patternFailure, isoFailure].first(where: \.isRange).map { " (\($0.reason))" } ?? ""
        throw TimestampError(input: text, expected: "\(expectation), or \(Timestamp.iso8601Expectation)\(reason)")
    }

    private func parse(bytes: [UInt8]) throws(TimestampFailure) -> Timestamp {
        guard !bytes.isEmpty else { throw TimestampFailure(reason: "the value is empty") }
        var scanner = TimestampScanner(bytes)
        var values: [Field: Int] = [:]
        var nanosecond = 0
        for element in elements {
            switch element {
            case .field(let field):
                values[field] = try scanner.number(field.width, field.name)
            case .fraction(let digits):
                let fraction = try scanner.number(digits, "the fraction of the second")
                nanosecond = fraction * Self.powersOfTen[9 - digits]
            case .literal(let bytes):
                for byte in bytes where !scanner.take(byte) {
                    throw scanner.failure(TimestampScanner.show(byte))
                }
            }
        }
        guard scanner.isAtEnd else { throw scanner.failure("the end") }
        return try Timestamp.validated(
            year: values[.year] ?? 0, month: values[.month] ?? 1, day: values[.day] ?? 1,
            hour: values[.hour] ?? 0, minute: values[.minute] ?? 0, second: values[.second] ?? 0,
            nanosecond: nanosecond
        )
    }

    private static let powersOfTen = [1, 10, 100, 1000, 10000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]

    // MARK: GeneralizedTime

    /// Whether every text the pattern writes is an RFC 4517 GeneralizedTime that means the
    /// instant formatted (truncated): `yyyyMMddHH`, then `mm` and `ss` if present, all
    /// adjacent; optionally `.` or `,` and fraction digits (`S`, or literal `0`s); then
    /// `Z`. True for both presets; false for `yyyyMMddHHmmss` (no time zone, which RFC
    /// 4517 requires) and for display patterns such as `dd-MM-yyyy HH:mm:ss`.
    public var producesGeneralizedTime: Bool {
        let leading: [Field] = [.year, .month, .day, .hour, .minute, .second]
        var index = 0
        while index < elements.count, index < leading.count, elements[index] == .field(leading[index]) {
            index += 1
        }
        guard index >= 4 else { return false }

        enum Piece: Equatable { case byte(UInt8), fractionDigit }
        var rest: [Piece] = []
        for element in elements[index...] {
            switch element {
            case .field: return false
            case .fraction(let digits): rest += repeatElement(.fractionDigit, count: digits)
            case .literal(let bytes): rest += bytes.map(Piece.byte)
            }
        }
        guard rest.last == .byte(0x5A) else { return false }
        rest.removeLast()
        guard let separator = rest.first else { return true }
        guard separator == .byte(ASCII.dot) || separator == .byte(ASCII.comma), rest.count >= 2 else { return false }
        // A literal digit other than 0 would make every value later than the instant.
        return rest.dropFirst().allSatisfy { $0 == .fractionDigit || $0 == .byte(0x30) }
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var output = ""
        for character in self {
            output += character == "'" ? "''" : String(character)
        }
        return output
    }
}

/// Turns pattern text into ``TimestampPattern/Element``s, with a reason an administrator
/// can act on for each mistake.
private enum PatternCompiler {
    typealias Element = TimestampPattern.Element
    typealias Field = TimestampPattern.Field

    static let fieldLetters: [UInt8: Field] = [
        0x79: .year, 0x4D: .month, 0x64: .day, 0x48: .hour, 0x6D: .minute, 0x73: .second, // y M d H m s
    ]

    static func compile(_ bytes: [UInt8]) throws(TimestampFailure) -> [Element] {
        var elements: [Element] = []
        var index = 0
        func appendLiteral(_ literal: [UInt8]) {
            if case .literal(let previous)? = elements.last {
                elements[elements.count - 1] = .literal(previous + literal)
            } else {
                elements.append(.literal(literal))
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x27 { // '
                let (literal, end) = try quoted(bytes, from: index)
                appendLiteral(literal)
                index = end
                continue
            }
            guard ASCII.isAlpha(byte), byte != 0x54 else { // T stands for itself, as in ISO 8601
                appendLiteral([byte])
                index += 1
                continue
            }
            let runEnd = bytes[index...].firstIndex { $0 != byte } ?? bytes.count
            let count = runEnd - index
            let run = String(decoding: bytes[index..<runEnd], as: UTF8.self)
            if let field = fieldLetters[byte] {
                guard count == field.width else {
                    throw TimestampFailure(reason: "'\(run)' at offset \(index) is not a field: \(field.name) is \(field.letters)")
                }
                guard !elements.contains(.field(field)) else {
                    throw TimestampFailure(reason: "\(field.letters) appears twice (again at offset \(index))")
                }
                elements.append(.field(field))
            } else if byte == 0x53 { // S
                guard count <= 9 else {
                    throw TimestampFailure(reason: "'\(run)' at offset \(index) has \(count) S: at most 9 (nanoseconds)")
                }
                guard !elements.contains(where: { if case .fraction = $0 { true } else { false } }) else {
                    throw TimestampFailure(reason: "the fraction S appears twice (again at offset \(index))")
                }
                elements.append(.fraction(digits: count))
            } else if byte == 0x5A { // Z
                appendLiteral(Array(repeating: 0x5A, count: count))
            } else {
                let letter = Character(Unicode.Scalar(byte))
                throw TimestampFailure(reason: "'\(letter)' at offset \(index) is not a pattern letter: \(hint(for: byte))")
            }
            index = runEnd
        }
        try checkFields(elements)
        return elements
    }

    /// Literal text from the quote at `start`: `'…'` with `''` inside for a quote, or
    /// `''` alone for a quote. Returns the text and the index after the closing quote.
    static func quoted(_ bytes: [UInt8], from start: Int) throws(TimestampFailure) -> ([UInt8], Int) {
        if start + 1 < bytes.count, bytes[start + 1] == 0x27 { return ([0x27], start + 2) }
        var literal: [UInt8] = []
        var index = start + 1
        while index < bytes.count {
            if bytes[index] == 0x27 {
                guard index + 1 < bytes.count, bytes[index + 1] == 0x27 else { return (literal, index + 1) }
                literal.append(0x27)
                index += 2
            } else {
                literal.append(bytes[index])
                index += 1
            }
        }
        throw TimestampFailure(reason: "the quote at offset \(start) is not closed (write '' for a quote)")
    }

    /// What the administrator probably meant by a letter that is not a field.
    static func hint(for letter: UInt8) -> String {
        switch Character(Unicode.Scalar(letter)) {
        case "h", "k", "K": "hours are HH (00-23)"
        case "a": "there is no AM/PM: hours are HH (00-23)"
        case "D": "days of the month are dd"
        case "Y", "u": "years are yyyy"
        case "L": "months are MM"
        case "n", "N", "f", "F": "fractions of a second are S, one per digit (SSS for milliseconds)"
        case "z", "X", "x", "O", "V", "v": "the time zone is Z, the UTC designator (all times are UTC)"
        default: "the fields are yyyy MM dd HH mm ss and S; quote literal text ('T')"
        }
    }

    static func checkFields(_ elements: [Element]) throws(TimestampFailure) {
        let missing = [Field.year, .month, .day, .hour].filter { !elements.contains(.field($0)) }
        guard missing.isEmpty else {
            throw TimestampFailure(
                reason: "a pattern needs yyyy, MM, dd and HH; missing \(missing.map(\.letters).joined(separator: ", "))"
            )
        }
        if elements.contains(.field(.second)), !elements.contains(.field(.minute)) {
            throw TimestampFailure(reason: "ss needs mm")
        }
        if elements.contains(where: { if case .fraction = $0 { true } else { false } }), !elements.contains(.field(.second)) {
            throw TimestampFailure(reason: "S, a digit of the fraction of the second, needs ss")
        }
    }
}
