extension Timestamp {
    /// This instant as a duration since 1970-01-01T00:00:00Z. `Duration` counts
    /// attoseconds in 128 bits (about ±1.7 × 10²⁰ s), so sums of a timestamp and any
    /// duration whose `components` fit in `Int64` cannot overflow there.
    private var sinceEpoch: Duration {
        let time = normalized
        return .seconds(time.seconds) + .nanoseconds(time.nanoseconds)
    }

    private static let earliestSinceEpoch = Duration.seconds(Int64.min)
    /// The first duration past ``latest``: anything from here on saturates.
    private static let pastLatestSinceEpoch = Duration.seconds(Int64.max) + .seconds(1)

    /// The timestamp `offset` after the epoch, saturating at ``earliest`` and ``latest``;
    /// a part of a nanosecond is dropped toward the past.
    private init(sinceEpoch offset: Duration) {
        if offset < Self.earliestSinceEpoch {
            self = .earliest
            return
        }
        if offset >= Self.pastLatestSinceEpoch {
            self = .latest
            return
        }
        // `components` truncates toward zero (-1 ns is 0 s and -10⁹ as); borrow a second
        // so that the attoseconds are positive and the division below floors.
        var (seconds, attoseconds) = offset.components
        if attoseconds < 0 {
            seconds -= 1
            attoseconds += 1_000_000_000_000_000_000
        }
        self.init(seconds: seconds, nanoseconds: Int32(attoseconds / 1_000_000_000))
    }

    /// The instant `duration` later (earlier for a negative duration), exact to the
    /// nanosecond, saturating at the ends of the range instead of trapping. A duration
    /// with a part of a nanosecond lands on the nanosecond before.
    public func adding(_ duration: Duration) -> Timestamp {
        Timestamp(sinceEpoch: sinceEpoch + duration)
    }

    /// The instant `duration` earlier (later for a negative duration); the exact
    /// counterpart of ``adding(_:)``, also saturating. The cursor of an incremental run is
    /// `cursor.subtracting(overlap + previousReadDuration)` (SPEC §2, I2).
    public func subtracting(_ duration: Duration) -> Timestamp {
        Timestamp(sinceEpoch: sinceEpoch - duration)
    }

    /// The exact duration from `b` to `a` (negative when `a` is earlier); never overflows.
    public static func - (a: Timestamp, b: Timestamp) -> Duration {
        a.sinceEpoch - b.sinceEpoch
    }
}
