import DirectoryModel
import Testing

extension SplitMix64 {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range four-digit years can write.
    static let fourDigitYears: ClosedRange<Int64> = -62_167_219_200...253_402_300_799

    /// A timestamp of years 0000…9999, its nanoseconds often zero, sometimes at an edge
    /// (1 or 999,999,999), otherwise arbitrary; seconds sometimes near the epoch.
    mutating func timestamp() -> Timestamp {
        let seconds = chance(1, in: 8) ? Int64(int(-100_000...100_000)) : Int64.random(in: Self.fourDigitYears, using: &self)
        let nanoseconds: Int
        switch int(0...7) {
        case 0, 1: nanoseconds = 0
        case 2: nanoseconds = element(of: [1, 999_999_999, 500_000_000, 100_000_000])
        case 3: nanoseconds = int(0...999) * 1_000_000
        default: nanoseconds = int(0...999_999_999)
        }
        return Timestamp(seconds: seconds, nanoseconds: Int32(nanoseconds))
    }
}

/// Durations on timestamps: the cursor arithmetic of I2 (`cursor − overlap − previous
/// read duration`), exact to the nanosecond and saturating at the ends of the range.
@Suite struct TimestampArithmeticTests {
    /// 2026-11-21T15:30:00Z.
    static let example = Timestamp(seconds: 1_795_275_000)

    static let additions: [(Timestamp, Duration, Timestamp)] = [
        (example, .seconds(600), Timestamp(seconds: 1_795_275_600)), // 10 minutes
        (example, .seconds(-600), Timestamp(seconds: 1_795_274_400)),
        (example, .nanoseconds(-1), Timestamp(seconds: 1_795_274_999, nanoseconds: 999_999_999)),
        (example, .nanoseconds(1), Timestamp(seconds: 1_795_275_000, nanoseconds: 1)),
        (example, .seconds(3 * 86_400), Timestamp(seconds: 1_795_534_200)), // 2026-11-24T15:30:00Z
        (example, .seconds(-16 * 3600), Timestamp(seconds: 1_795_217_400)), // the day before
        (example, .milliseconds(-1500), Timestamp(seconds: 1_795_274_998, nanoseconds: 500_000_000)),
        (example, .zero, example),
        (Timestamp(seconds: 10, nanoseconds: 999_999_999), .nanoseconds(1), Timestamp(seconds: 11)), // carry
        (Timestamp(seconds: 10, nanoseconds: 600_000_000), .milliseconds(700), Timestamp(seconds: 11, nanoseconds: 300_000_000)),
        (Timestamp(seconds: 0), .nanoseconds(-1), Timestamp(seconds: -1, nanoseconds: 999_999_999)), // before the epoch
        (Timestamp(seconds: -1, nanoseconds: 999_999_999), .nanoseconds(1), Timestamp(seconds: 0)),
        (Timestamp(seconds: -5, nanoseconds: 100), .seconds(-5) + .nanoseconds(-200), Timestamp(seconds: -11, nanoseconds: 999_999_900)),
        // A part of a nanosecond lands on the nanosecond before.
        (example, Duration(secondsComponent: 0, attosecondsComponent: 1), example),
        (example, Duration(secondsComponent: 0, attosecondsComponent: -1), Timestamp(seconds: 1_795_274_999, nanoseconds: 999_999_999)),
        // Saturation instead of a trap.
        (Timestamp(seconds: .max, nanoseconds: 999_999_999), .nanoseconds(1), Timestamp(seconds: .max, nanoseconds: 999_999_999)),
        (Timestamp(seconds: .max - 1), .seconds(Int64.max), Timestamp(seconds: .max, nanoseconds: 999_999_999)),
        (Timestamp(seconds: .min), .nanoseconds(-1), Timestamp(seconds: .min)),
        (Timestamp(seconds: .min + 1), .seconds(Int64.min), Timestamp(seconds: .min)),
        (Timestamp(seconds: .max), .seconds(Int64.min), Timestamp(seconds: -1)), // large but in range
    ]

    @Test(arguments: additions)
    func addsDurationsExactly(_ start: Timestamp, _ duration: Duration, _ expected: Timestamp) {
        #expect(start.adding(duration) == expected)
        #expect(start.subtracting(.zero - duration) == expected)
    }

    static let subtractions: [(Timestamp, Duration, Timestamp)] = [
        (example, .seconds(600), Timestamp(seconds: 1_795_274_400)), // overlap: 10 minutes
        (example, .seconds(600) + .milliseconds(2250), Timestamp(seconds: 1_795_274_397, nanoseconds: 750_000_000)), // plus a read phase
        (example, .nanoseconds(1), Timestamp(seconds: 1_795_274_999, nanoseconds: 999_999_999)),
        (example, .nanoseconds(-1), Timestamp(seconds: 1_795_275_000, nanoseconds: 1)),
        (example, .seconds(86_400), Timestamp(seconds: 1_795_188_600)),
        (Timestamp(seconds: 0, nanoseconds: 5), .nanoseconds(10), Timestamp(seconds: -1, nanoseconds: 999_999_995)),
        (Timestamp(seconds: .min, nanoseconds: 5), .nanoseconds(10), Timestamp(seconds: .min)),
        (Timestamp(seconds: .max), .seconds(Int64.min), Timestamp(seconds: .max, nanoseconds: 999_999_999)),
    ]

    @Test(arguments: subtractions)
    func subtractsDurationsExactly(_ start: Timestamp, _ duration: Duration, _ expected: Timestamp) {
        #expect(start.subtracting(duration) == expected)
    }

    static let differences: [(Timestamp, Timestamp, Duration)] = [
        (Timestamp(seconds: 1_795_275_600), example, .seconds(600)),
        (example, Timestamp(seconds: 1_795_275_600), .seconds(-600)),
        (Timestamp(seconds: 11), Timestamp(seconds: 10, nanoseconds: 999_999_999), .nanoseconds(1)),
        (Timestamp(seconds: 10, nanoseconds: 999_999_999), Timestamp(seconds: 11), .nanoseconds(-1)),
        (Timestamp(seconds: .max, nanoseconds: 999_999_999), Timestamp(seconds: .min), .seconds(Int64.max) + .seconds(Int64.max) + .seconds(1) + .nanoseconds(999_999_999)),
        (example, example, .zero),
    ]

    @Test(arguments: differences)
    func differenceIsExact(_ later: Timestamp, _ earlier: Timestamp, _ expected: Duration) {
        #expect(later - earlier == expected)
    }

    @Test(arguments: PropertySeeds.all)
    func addingThenSubtractingGivesBackTheTimestamp(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let start = random.timestamp()
            let duration = Duration.seconds(random.int(-400_000_000_000...400_000_000_000))
                + .nanoseconds(random.int(-999_999_999...999_999_999))
            let moved = start.adding(duration)
            guard moved.subtracting(duration) == start, moved - start == duration, start.subtracting(.zero - duration) == moved,
                  (duration >= .zero) == (moved >= start), (0..<1_000_000_000).contains(moved.nanoseconds)
            else {
                Issue.record("seed \(seed) case \(index): \(start) + \(duration) gave \(moved)")
                return
            }
        }
    }
}
