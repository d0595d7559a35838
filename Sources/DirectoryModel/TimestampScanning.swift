/// Why a text is not a timestamp, for the end of a ``TimestampError/expected`` text.
struct TimestampFailure: Error {
    var reason: String
    /// The text had the right shape but a value is out of range (month 13, 30 February):
    /// worth reporting even when another form is tried after this one.
    var isRange = false
}

/// Reads a timestamp text octet by octet. Offsets in reasons are octet offsets from 0,
/// as in ``DNError``.
struct TimestampScanner {
    let bytes: [UInt8]
    private(set) var index = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { index == bytes.count }
    var next: UInt8? { isAtEnd ? nil : bytes[index] }

    /// Consumes `byte` if it comes next.
    mutating func take(_ byte: UInt8) -> Bool {
        guard next == byte else { return false }
        index += 1
        return true
    }

    /// Consumes one of `candidates` if it comes next.
    mutating func take(anyOf candidates: [UInt8]) -> UInt8? {
        guard let byte = next, candidates.contains(byte) else { return nil }
        index += 1
        return byte
    }

    /// Exactly `count` decimal digits, the value of `field` (`"the month"`).
    mutating func number(_ count: Int, _ field: String) throws(TimestampFailure) -> Int {
        var value = 0
        for _ in 0..<count {
            guard let byte = next, ASCII.isDigit(byte) else {
                throw TimestampFailure(reason: "\(field) needs \(count) digits, \(found) at offset \(index)")
            }
            value = value * 10 + Int(byte - 0x30)
            index += 1
        }
        return value
    }

    /// One or more decimal digits (a fraction).
    mutating func digitRun(after separator: UInt8) throws(TimestampFailure) -> ArraySlice<UInt8> {
        let start = index
        while let byte = next, ASCII.isDigit(byte) { index += 1 }
        guard index > start else {
            throw TimestampFailure(
                reason: "a fraction needs at least one digit after '\(Character(Unicode.Scalar(separator)))', \(found) at offset \(index)"
            )
        }
        return bytes[start..<index]
    }

    /// What comes next, for a reason: `found 'x'` or `found the end`.
    var found: String {
        guard let byte = next else { return "found the end" }
        return "found \(Self.show(byte))"
    }

    func failure(_ expectation: String) -> TimestampFailure {
        TimestampFailure(reason: "expected \(expectation) at offset \(index), \(found)")
    }

    /// A printable octet in quotes, any other as hex (`0xff`).
    static func show(_ byte: UInt8) -> String {
        (0x20...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "0x\(String(byte, radix: 16))"
    }
}

/// Digit formatting shared by the printers.
enum TimestampDigits {
    /// `value` in decimal, left-padded with zeros to `width` digits; a negative value gets
    /// a leading `-` (only years can be negative).
    static func append(_ value: Int, width: Int, to output: inout [UInt8]) {
        if value < 0 { output.append(ASCII.hyphen) }
        let digits = Array(String(value.magnitude).utf8)
        if digits.count < width { output += repeatElement(0x30, count: width - digits.count) }
        output += digits
    }

    /// The first `count` digits of `nanoseconds` (truncated, never rounded).
    static func appendFraction(_ nanoseconds: Int, digits count: Int, to output: inout [UInt8]) {
        var all: [UInt8] = []
        append(nanoseconds, width: 9, to: &all)
        output += all.prefix(count)
    }

    /// `.` and the nanoseconds without trailing zeros; nothing when they are zero.
    static func appendTrimmedFraction(_ nanoseconds: Int, to output: inout [UInt8]) {
        guard nanoseconds != 0 else { return }
        var all: [UInt8] = []
        append(nanoseconds, width: 9, to: &all)
        while all.last == 0x30 { all.removeLast() }
        output.append(ASCII.dot)
        output += all
    }
}
