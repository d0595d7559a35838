import DirectoryModel
import Testing

/// Generated DNs with hostile values: every special character, edge spaces and `#`, NUL,
/// non-ASCII UTF-8 and octets that are not UTF-8. Each failure names its seed and case.
@Suite struct DistinguishedNamePropertyTests {
    @Test(arguments: PropertySeeds.all)
    func descriptionParsesBackToTheSameDN(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let dn = random.distinguishedName()
            let text = dn.description
            let reparsed = Result { () throws(DNError) in try DistinguishedName(parsing: text) }
            guard case .success(let parsed) = reparsed, parsed == dn, parsed.description == text else {
                Issue.record("seed \(seed) case \(index): \(pairs(dn)) printed as \(text.debugDescription) read back as \(reparsed)")
                return
            }
        }
    }

    @Test(arguments: PropertySeeds.all)
    func descriptionHasOneUnescapedSeparatorPerBoundary(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let dn = random.distinguishedName()
            let scan = UnescapedCharacters(dn.description)
            let pairCount = dn.rdns.reduce(0) { $0 + $1.attributes.count }
            let expected = UnescapedCharacters.Counts(
                commas: max(dn.rdns.count - 1, 0), pluses: pairCount - dn.rdns.count, equals: pairCount
            )
            guard scan.counts == expected, scan.forbidden.isEmpty else {
                Issue.record(
                    "seed \(seed) case \(index): \(dn.description.debugDescription) has \(scan.counts), expected \(expected); forbidden: \(scan.forbidden)"
                )
                return
            }
        }
    }

    @Test(arguments: PropertySeeds.all)
    func garbageNeverCrashesTheParserAndParsedGarbageRoundTrips(seed: UInt64) {
        let tokens = [
            "cn", "CN", "2.5.4.3", "=", ",", "+", " ", "\\", "\\,", "\\2", "\\4a", "#", "04", "a", "\"", ";", "é", "\u{0}",
        ]
        var random = SplitMix64(seed: seed)
        for index in 0..<PropertySeeds.casesPerSeed {
            let input = (0..<random.int(0...12)).map { _ in random.element(of: tokens) }.joined()
            do throws(DNError) {
                let dn = try DistinguishedName(parsing: input)
                guard (try? DistinguishedName(parsing: dn.description)) == dn else {
                    Issue.record("seed \(seed) case \(index): \(input.debugDescription) did not round-trip")
                    return
                }
            } catch {
                guard error.input == input, (0...input.utf8.count).contains(error.offset) else {
                    Issue.record("seed \(seed) case \(index): \(input.debugDescription) gave \(error)")
                    return
                }
            }
        }
    }
}

/// The structural characters of a DN string, outside escapes.
struct UnescapedCharacters {
    struct Counts: Equatable, CustomStringConvertible {
        var commas = 0
        var pluses = 0
        var equals = 0
        var description: String { "\(commas) ',', \(pluses) '+', \(equals) '='" }
    }

    private(set) var counts = Counts()
    /// Unescaped characters that must never appear: `"` `;` `<` `>`, NUL and other controls.
    private(set) var forbidden: [UInt8] = []

    /// Counts `=` up to the first `,` or `+` of each pair only: `=` may stand unescaped in a value.
    init(_ text: String) {
        var escaped = false
        var inValue = false
        for byte in text.utf8 {
            if escaped {
                escaped = false
                continue
            }
            switch byte {
            case 0x5C: escaped = true
            case 0x2C: counts.commas += 1; inValue = false
            case 0x2B: counts.pluses += 1; inValue = false
            case 0x3D where !inValue: counts.equals += 1; inValue = true
            case 0x22, 0x3B, 0x3C, 0x3E, 0x00..<0x20, 0x7F: forbidden.append(byte)
            default: break
            }
        }
    }
}
