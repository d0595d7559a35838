import DirectoryModel
import Testing

/// Generated filters with hostile values (every special character, NUL, controls,
/// non-ASCII UTF-8, octets that are not UTF-8). Each failure names its seed and case.
@Suite struct FilterPropertyTests {
    @Test(arguments: PropertySeeds.all)
    func descriptionParsesBackToTheSameFilter(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let filter = random.filter()
            let text = filter.description
            let reparsed = Result { () throws(FilterError) in try Filter(parsing: text) }
            guard case .success(let parsed) = reparsed, parsed == filter, parsed.description == text else {
                Issue.record("seed \(seed) case \(index): \(filter) printed as \(text.debugDescription) read back as \(reparsed)")
                return
            }
        }
    }

    /// Every value character that could open or close a filter is escaped, so the
    /// parentheses in the string are exactly one pair per filter node.
    @Test(arguments: PropertySeeds.all)
    func descriptionHasOneParenthesisPairPerNode(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let filter = random.filter()
            let text = filter.description.utf8
            let opening = text.count { $0 == 0x28 }
            let closing = text.count { $0 == 0x29 }
            let controls = text.count { $0 < 0x20 || $0 == 0x7F }
            guard opening == filter.nodeCount, closing == filter.nodeCount, controls == 0 else {
                Issue.record("seed \(seed) case \(index): \(filter.description.debugDescription) has \(opening) '(' and \(closing) ')' for \(filter.nodeCount) nodes, \(controls) raw controls")
                return
            }
        }
    }

    @Test(arguments: PropertySeeds.all)
    func garbageNeverCrashesTheParserAndParsedGarbageRoundTrips(seed: UInt64) {
        let tokens = [
            "(", ")", "&", "|", "!", "=", "~=", ">=", "<=", ":", ":dn", ":=", "*", "\\", "\\2a", "\\5", "cn", "2.5.4.3",
            ";x", " ", "\n", "a", "é", "\u{0}",
        ]
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let input = (0..<random.int(0...12)).map { _ in random.element(of: tokens) }.joined()
            do throws(FilterError) {
                let filter = try Filter(parsing: input)
                guard (try? Filter(parsing: filter.description)) == filter else {
                    Issue.record("seed \(seed) case \(index): \(input.debugDescription) did not round-trip")
                    return
                }
            } catch {
                guard error.filter == input, (0...input.utf8.count).contains(error.offset) else {
                    Issue.record("seed \(seed) case \(index): \(input.debugDescription) gave \(error)")
                    return
                }
            }
        }
    }
}

extension Filter {
    /// How many parenthesized filters this one is made of, itself included.
    var nodeCount: Int {
        switch self {
        case .and(let filters), .or(let filters): 1 + filters.reduce(0) { $0 + $1.nodeCount }
        case .not(let filter): 1 + filter.nodeCount
        default: 1
        }
    }
}
