import DirectoryModel

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64), so that every
/// property test can be replayed from the seed it prints.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func chance(_ numerator: Int, in denominator: Int) -> Bool {
        Int.random(in: 0..<denominator, using: &self) < numerator
    }

    mutating func element<T>(of array: [T]) -> T {
        array[Int.random(in: 0..<array.count, using: &self)]
    }
}

/// The seeds every property test runs with, and how many cases each seed generates.
enum PropertySeeds {
    static let all: [UInt64] = [1, 42, 0xDEAD_BEEF, 20_261_121]
    static let casesPerSeed = 3_000
}

/// Pieces of hostile values: every RFC 4514 and RFC 4515 special character, spaces, `#`,
/// NUL and control characters, non-ASCII UTF-8, and octets that are not UTF-8.
enum HostileValues {
    static let fragments: [[UInt8]] = {
        let text = [
            "\"", "+", ",", ";", "<", ">", "\\", "#", "=", " ", "  ", "*", "(", ")", ":", "&", "|", "!", "~",
            "\u{0}", "\r", "\n", "\t", "\u{7F}",
            "a", "Smith", "J.", "0", "4", "ff", "\\2a", "\\,", "é", "ß", "Lučić", "日本語", "😀", "\u{301}",
        ].map { Array($0.utf8) }
        let notUTF8: [[UInt8]] = [
            [0xFF], [0x80], [0xC3], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE6, 0x97],
        ]
        return text + notUTF8
    }()

    /// Zero to six fragments, often starting or ending with a space or `#`.
    static func value(using random: inout SplitMix64) -> [UInt8] {
        var value: [UInt8] = []
        if random.chance(1, in: 4) { value += random.element(of: [[0x20], [0x23], [0x20, 0x20]]) }
        for _ in 0..<random.int(0...6) { value += random.element(of: fragments) }
        if random.chance(1, in: 4) { value += [0x20] }
        return value
    }

    /// A value with at least one octet (for substring pieces).
    static func nonEmptyValue(using random: inout SplitMix64) -> [UInt8] {
        let value = self.value(using: &random)
        return value.isEmpty ? random.element(of: fragments) : value
    }

    /// One to six arbitrary octets.
    static func octets(using random: inout SplitMix64) -> [UInt8] {
        (0..<random.int(1...6)).map { _ in UInt8.random(in: 0...255, using: &random) }
    }
}

extension SplitMix64 {
    static let dnTypes: [AttributeName] = [
        "cn", "CN", "uid", "ou", "dc", "o", "c", "mail", "x-custom-Attr2", "2.5.4.3", "1.3.6.1.4.1.1466.0",
    ]

    mutating func attributeTypeAndValue() -> AttributeTypeAndValue {
        let type = element(of: Self.dnTypes)
        if chance(1, in: 10), let ber = try? AttributeTypeAndValue(type, berEncoding: HostileValues.octets(using: &self)) {
            return ber
        }
        guard let pair = try? AttributeTypeAndValue(type, HostileValues.value(using: &self)) else {
            preconditionFailure("test type \(type) is not a valid attribute type")
        }
        return pair
    }

    mutating func relativeDistinguishedName() -> RelativeDistinguishedName {
        var rdn = RelativeDistinguishedName(attributeTypeAndValue())
        for _ in 0..<int(0...2) { rdn = rdn.adding(attributeTypeAndValue()) }
        return rdn
    }

    /// Zero (the root) to six RDNs, each of one to three pairs.
    mutating func distinguishedName() -> DistinguishedName {
        DistinguishedName(rdns: (0..<int(0...6)).map { _ in relativeDistinguishedName() })
    }
}

/// Debug rendering of octets for failure messages: `[63 6e ff]`.
func hex(_ bytes: [UInt8]) -> String {
    "[" + bytes.map { String($0, radix: 16) }.joined(separator: " ") + "]"
}
