import DirectoryModel
import Testing

extension SplitMix64 {
    /// A valid pattern: the four required fields, often minutes, seconds and a fraction,
    /// in a random order, between random literals.
    mutating func pattern() -> String {
        var fields = ["yyyy", "MM", "dd", "HH"]
        if chance(3, in: 4) {
            fields.append("mm")
            if chance(3, in: 4) {
                fields.append("ss")
                if chance(1, in: 2) { fields.append(String(repeating: "S", count: int(1...9))) }
            }
        }
        fields.shuffle(using: &self)
        let separators = ["", "", "-", ":", " ", ".", "/", "T", "'Z'", "Z", "'at '", "''", ","]
        return fields.map { element(of: separators) + $0 }.joined() + element(of: separators)
    }
}

/// Seeded properties over random timestamps of years 0000…9999: every printer reads back,
/// and no pattern ever writes a later time than the one it was given. Each failure names
/// its seed and case.
@Suite struct TimestampPropertyTests {
    @Test(arguments: PropertySeeds.all)
    func generalizedTimeAndISO8601RoundTrip(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let time = random.timestamp()
            let generalized = time.generalizedTime
            let iso = time.iso8601
            guard (try? Timestamp(generalizedTime: generalized)) == time, (try? Timestamp(iso8601: iso)) == time,
                  (try? Timestamp(generalizedTimeBytes: generalized.utf8)) == time
            else {
                Issue.record("seed \(seed) case \(index): \(time.seconds) s \(time.nanoseconds) ns wrote \(generalized) and \(iso)")
                return
            }
        }
    }

    /// Each preset and display pattern reads back what it wrote, truncated to its
    /// precision, and the truncation is toward the past.
    @Test(arguments: PropertySeeds.all)
    func presetsRoundTripModuloTruncation(seed: UInt64) throws {
        let patterns: [(TimestampPattern, precision: Int64)] = [
            (.openldap, 1_000_000_000), (.ad, 1_000_000_000), (.defaultDisplay, 1_000_000_000),
            (try TimestampPattern("yyyyMMddHHmmss.SSSZ"), 1_000_000),
            (try TimestampPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSSSS'Z'"), 1),
        ]
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let time = random.timestamp()
            for (pattern, precision) in patterns {
                let text = pattern.format(time)
                let truncated = Timestamp(seconds: time.seconds, nanoseconds: Int32(Int64(time.nanoseconds) / precision * precision))
                let read = try? pattern.parse(text)
                guard read == truncated, read.map({ $0 <= time }) == true, (try? pattern.parseTyped(text)) == truncated else {
                    Issue.record("seed \(seed) case \(index): \(time) as \(pattern) wrote \(text), read \(String(describing: read))")
                    return
                }
                if pattern.producesGeneralizedTime, (try? Timestamp(generalizedTime: text)) != truncated {
                    Issue.record("seed \(seed) case \(index): \(pattern) wrote \(text), not GeneralizedTime for \(truncated)")
                    return
                }
            }
        }
    }

    /// Random patterns: formatting never moves a time forward, parsing reads back what was
    /// written, and a pattern that claims GeneralizedTime writes it.
    @Test(arguments: PropertySeeds.all)
    func noPatternWritesALaterTime(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let text = random.pattern()
            guard let pattern = try? TimestampPattern(text) else {
                Issue.record("seed \(seed) case \(index): \(text.debugDescription) did not compile")
                return
            }
            let time = random.timestamp()
            let written = pattern.format(time)
            guard let read = try? pattern.parse(written), read <= time, pattern.format(read) == written,
                  time - read < .seconds(3600)
            else {
                Issue.record("seed \(seed) case \(index): \(text.debugDescription) wrote \(written) for \(time)")
                return
            }
            if pattern.producesGeneralizedTime {
                guard let generalized = try? Timestamp(generalizedTime: written), generalized <= time, generalized == read else {
                    Issue.record("seed \(seed) case \(index): \(text.debugDescription) wrote \(written), not GeneralizedTime for \(read)")
                    return
                }
            }
        }
    }

    @Test(arguments: PropertySeeds.all)
    func componentsBuildTheSameInstant(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let time = random.timestamp()
            let c = time.components
            let built = try Timestamp(
                year: c.year, month: c.month, day: c.day, hour: c.hour, minute: c.minute, second: c.second, nanosecond: c.nanosecond
            )
            guard built == time else {
                Issue.record("seed \(seed) case \(index): \(time.seconds) s has components \(c), built \(built)")
                return
            }
        }
    }

    /// Arbitrary text of timestamp-like tokens: the parsers never crash, and whatever they
    /// accept prints canonically and reads back the same.
    @Test(arguments: PropertySeeds.all)
    func garbageNeverCrashesTheParsers(seed: UInt64) {
        let tokens = ["2026", "11", "21", "15", "30", "00", "60", "99", "0", "1", "Z", "z", "T", " ", "-", ":", ".", ",", "+", "+02", "00:00", "é", "\u{0}"]
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let input = (0..<random.int(0...10)).map { _ in random.element(of: tokens) }.joined()
            for parsed in [try? Timestamp(generalizedTime: input), try? Timestamp(iso8601: input), try? TimestampPattern.defaultDisplay.parseTyped(input)] {
                guard let parsed else { continue }
                guard (try? Timestamp(generalizedTime: parsed.generalizedTime)) == parsed, (0..<1_000_000_000).contains(parsed.nanoseconds) else {
                    Issue.record("seed \(seed) case \(index): \(input.debugDescription) read as \(parsed)")
                    return
                }
            }
        }
    }
}
