/// A point in time, UTC, with nanosecond precision: a server's timestamp attribute value
/// (RFC 4517 GeneralizedTime), a cursor, a typed date.
///
/// All times are UTC internally (SPEC §4).
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z (negative before).
    public var seconds: Int64
    /// Nanoseconds within the second, 0..<1_000_000_000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    /// ISO 8601 UTC, e.g. `2026-11-21T15:30:00Z` (fraction only when non-zero).
    public var description: String { iso8601 }
}

/// A value that is not a timestamp, or a pattern that cannot be used.
public struct TimestampError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The text that was read.
    public var input: String
    /// What was expected, for an administrator (`GeneralizedTime such as 20261121153000Z`).
    public var expected: String

    public init(input: String, expected: String) {
        self.input = input
        self.expected = expected
    }

    public var description: String { "\(input.debugDescription) is not a valid timestamp: expected \(expected)" }
}
