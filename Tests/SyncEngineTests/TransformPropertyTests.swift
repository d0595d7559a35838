import DirectoryModel
import SyncEngine
import Testing

/// Random JSON objects (nested arrays and objects, Unicode strings, integers, decimals),
/// each written in several spellings: shuffled keys, random whitespace, escapes and
/// number forms. Every spelling must canonicalize to the same text, which must be its
/// own canonical form and equal the form this file computes independently.
@Suite struct TransformPropertyTests {
    static let seeds: [UInt64] = [1, 2, 3, 0x5EED_0000_0000_0000, 0xDEAD_BEEF]
    static let iterations = 200

    @Test(arguments: seeds)
    func spellingsOfAnObjectShareOneCanonicalFormWhichIsStable(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for iteration in 0..<Self.iterations {
            let object = JSONNode.randomObject(&random, depth: 3)
            let expected = object.canonical()
            let first = object.spelled(&random)
            let second = object.spelled(&random)
            let canonical = try CanonicalJSON.canonicalize(first)
            let again = try CanonicalJSON.canonicalize(canonical)
            let fromSecond = try CanonicalJSON.canonicalize(second)
            // Bytes are compared, not Strings: String == would equate "é" and "e\u{301}".
            let context = "seed \(seed), iteration \(iteration), input \(first)\n got \(canonical)\n"
            #expect(canonical.utf8.elementsEqual(expected.utf8), "\(context)want \(expected)")
            #expect(again.utf8.elementsEqual(canonical.utf8), "\(context)then \(again)")
            #expect(fromSecond.utf8.elementsEqual(canonical.utf8), "\(context)from \(second): \(fromSecond)")
        }
    }

    @Test(arguments: seeds)
    func randomRecordArraysRoundTripThroughTheJSONTransform(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for iteration in 0..<Self.iterations / 4 {
            let objects = (0..<random.below(5)).map { _ in JSONNode.randomObject(&random, depth: 2) }
            let app = JSONNode.array(objects).spelled(&random)
            let context: Comment = "seed \(seed), iteration \(iteration): \(app)"

            // One LDAP value per distinct object, in app order, each canonical.
            var expected: [[UInt8]] = []
            for object in objects {
                let canonical = Array(object.canonical().utf8)
                if !expected.contains(canonical) { expected.append(canonical) }
            }
            let ldap = try Transforms.ldapValues(fromApp: .text(app), transform: .json, multiValued: true)
            #expect(ldap == expected, context)

            // Back: the compact array ordered by canonical bytes, whatever the LDAP order.
            let sorted = expected.sorted { $0.lexicographicallyPrecedes($1) }
            let back = try Transforms.appValue(fromLDAP: random.shuffled(ldap), transform: .json, multiValued: true)
            if sorted.isEmpty {
                #expect(back == .null, context)
            } else {
                let text = [UInt8(ascii: "[")] + Array(sorted.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
                guard case .text(let backText) = back else {
                    Issue.record("not text: \(back); \(context)")
                    continue
                }
                #expect(Array(backText.utf8) == text, context)
            }
            #expect(Transforms.roundTrips(app: .text(app), transform: .json, multiValued: true), context)
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, seedable generator, so that a failing
/// case can be replayed from its seed.
private struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }

    mutating func pick<T>(_ choices: [T]) -> T { choices[below(choices.count)] }

    mutating func shuffled<T>(_ elements: [T]) -> [T] {
        var result = elements
        for index in result.indices.dropLast() {
            result.swapAt(index, index + below(result.count - index))
        }
        return result
    }
}

/// A JSON value as generated: what it means, independent of how it is spelled.
private indirect enum JSONNode {
    case null
    case bool(Bool)
    /// An integer within ±2^53, so that the double holds it exactly.
    case integer(Int64)
    /// digits × 10^-scale, with at most 9 significant digits, so that the shortest
    /// round-trip form of the nearest double is exactly these digits.
    case decimal(digits: Int64, scale: Int)
    case string([Unicode.Scalar])
    case array([JSONNode])
    case object([(key: [Unicode.Scalar], value: JSONNode)])

    /// Characters that exercise escaping and sorting: quotes, backslash, slash, controls,
    /// DEL, Latin-1, a combining mark, line separators, BMP characters above the
    /// surrogates, and characters beyond the BMP (surrogate pairs in UTF-16).
    static let alphabet: [Unicode.Scalar] = Array("abcxyzABZ019 -_.:".unicodeScalars) + [
        "\"", "\\", "/", "\u{0}", "\u{1}", "\u{8}", "\u{9}", "\u{A}", "\u{C}", "\u{D}", "\u{1F}", "\u{7F}",
        "\u{80}", "\u{E9}", "\u{F6}", "\u{301}", "\u{2028}", "\u{20AC}", "\u{4E2D}", "\u{E000}", "\u{FB33}",
        "\u{FFFD}", "\u{1F600}", "\u{10FFFF}",
    ]

    static func randomObject(_ random: inout SplitMix64, depth: Int) -> JSONNode {
        var members: [(key: [Unicode.Scalar], value: JSONNode)] = []
        var keys: Set<[UInt16]> = []
        for _ in 0..<random.below(6) {
            let key = randomString(&random, maximumLength: 4)
            guard keys.insert(utf16(key)).inserted else { continue }
            members.append((key, randomValue(&random, depth: depth - 1)))
        }
        return .object(members)
    }

    static func randomValue(_ random: inout SplitMix64, depth: Int) -> JSONNode {
        switch random.below(depth > 0 ? 9 : 7) {
        case 0: return .null
        case 1: return .bool(random.oneIn(2))
        case 2:
            let magnitude = random.oneIn(2) ? Int64(random.below(1000)) : Int64(random.next() % (1 << 53 + 1))
            return .integer(random.oneIn(3) ? -magnitude : magnitude)
        case 3, 4:
            // k significant digits, the point anywhere from inside them to 9 places
            // before them, so that plain and exponent forms both come up.
            let k = 1 + random.below(9)
            var low: Int64 = 1
            for _ in 1..<k { low *= 10 }
            let digits = low + Int64(random.below(Int(low * 10 - low)))
            return .decimal(digits: random.oneIn(3) ? -digits : digits, scale: 1 + random.below(k + 9))
        case 5, 6: return .string(randomString(&random, maximumLength: 8))
        case 7: return .array((0..<random.below(4)).map { _ in randomValue(&random, depth: depth - 1) })
        default: return randomObject(&random, depth: depth)
        }
    }

    static func randomString(_ random: inout SplitMix64, maximumLength: Int) -> [Unicode.Scalar] {
        (0..<random.below(maximumLength + 1)).map { _ in random.pick(alphabet) }
    }

    /// UTF-16 code units, computed from the scalars directly.
    static func utf16(_ scalars: [Unicode.Scalar]) -> [UInt16] {
        var units: [UInt16] = []
        for scalar in scalars {
            if scalar.value < 0x10000 {
                units.append(UInt16(scalar.value))
            } else {
                let offset = scalar.value - 0x10000
                units += [UInt16(0xD800 + (offset >> 10)), UInt16(0xDC00 + (offset & 0x3FF))]
            }
        }
        return units
    }

    // MARK: The expected canonical form, written out by hand

    func canonical() -> String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .decimal(let digits, let scale): return Self.canonicalDecimal(digits: digits, scale: scale)
        case .string(let scalars): return Self.canonicalString(scalars)
        case .array(let elements): return "[" + elements.map { $0.canonical() }.joined(separator: ",") + "]"
        case .object(let members):
            let sorted = members.sorted { Self.utf16($0.key).lexicographicallyPrecedes(Self.utf16($1.key)) }
            return "{" + sorted.map { Self.canonicalString($0.key) + ":" + $0.value.canonical() }.joined(separator: ",") + "}"
        }
    }

    static func canonicalString(_ scalars: [Unicode.Scalar]) -> String {
        var text = "\""
        for scalar in scalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\u{8}": text += "\\b"
            case "\u{9}": text += "\\t"
            case "\u{A}": text += "\\n"
            case "\u{C}": text += "\\f"
            case "\u{D}": text += "\\r"
            case _ where scalar.value < 0x20: text += "\\u00" + hex(scalar.value, width: 2, uppercase: false)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }

    /// ECMAScript's layout for digits × 10^-scale: plain decimal down to 10^-6, exponent
    /// form below.
    static func canonicalDecimal(digits: Int64, scale: Int) -> String {
        var digits = digits, scale = scale
        while scale > 0, digits % 10 == 0 {
            digits /= 10
            scale -= 1
        }
        let sign = digits < 0 ? "-" : ""
        let s = Array(String(digits.magnitude))
        if scale == 0 { return sign + String(s) }
        let n = s.count - scale  // value = 0.s × 10^n
        if n > 0 { return sign + String(s[..<n]) + "." + String(s[n...]) }
        if n > -6 { return sign + "0." + String(repeating: "0", count: -n) + String(s) }
        let mantissa = s.count > 1 ? String(s[0]) + "." + String(s[1...]) : String(s[0])
        return sign + mantissa + "e-" + String(-(n - 1))
    }

    // MARK: Random spellings of the same value

    func spelled(_ random: inout SplitMix64) -> String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return Self.spellInteger(value, &random)
        case .decimal(let digits, let scale): return Self.spellDecimal(digits: digits, scale: scale, &random)
        case .string(let scalars): return Self.spellString(scalars, &random)
        case .array(let elements):
            var text = "[" + Self.space(&random)
            for (index, element) in elements.enumerated() {
                if index > 0 { text += Self.space(&random) + "," + Self.space(&random) }
                text += element.spelled(&random)
            }
            return text + Self.space(&random) + "]"
        case .object(let members):
            var text = Self.space(&random) + "{" + Self.space(&random)
            for (index, member) in random.shuffled(members).enumerated() {
                if index > 0 { text += Self.space(&random) + "," + Self.space(&random) }
                text += Self.spellString(member.key, &random) + Self.space(&random) + ":" + Self.space(&random)
                text += member.value.spelled(&random)
            }
            return text + Self.space(&random) + "}" + Self.space(&random)
        }
    }

    static func space(_ random: inout SplitMix64) -> String {
        random.pick(["", "", "", " ", "  ", "\n", "\n    ", "\t", "\r\n", " \t\n "])
    }

    static func spellInteger(_ value: Int64, _ random: inout SplitMix64) -> String {
        if value == 0 { return random.pick(["0", "-0", "0.0", "-0.000", "0e0", "0E+12", "-0e-3"]) }
        let text = String(value)
        let sign = value < 0 ? "-" : ""
        let digits = Array(String(value.magnitude))
        switch random.below(6) {
        case 0: return text + ".0"
        case 1: return text + ".000e0"
        case 2: return text + "0e-1"
        case 3: return text + "E+0"
        case 4:
            // d.ddd × 10^(count-1)
            let rest = digits.count > 1 ? "." + String(digits[1...]) : ""
            return sign + String(digits[0]) + rest + random.pick(["e", "E", "e+"]) + String(digits.count - 1)
        default: return text
        }
    }

    static func spellDecimal(digits: Int64, scale: Int, _ random: inout SplitMix64) -> String {
        let sign = digits < 0 ? "-" : ""
        switch random.below(4) {
        case 0: return String(digits) + "e-" + String(scale)
        case 1: return String(digits) + "0E-" + String(scale + 1)
        default:
            // Plain decimal, possibly with trailing zeros.
            var text = Array(String(digits.magnitude))
            if text.count <= scale { text = Array(repeating: "0", count: scale + 1 - text.count) + text }
            let point = text.count - scale
            return sign + String(text[..<point]) + "." + String(text[point...]) + random.pick(["", "", "0", "000"])
        }
    }

    static func spellString(_ scalars: [Unicode.Scalar], _ random: inout SplitMix64) -> String {
        var text = "\""
        for scalar in scalars {
            let short: String? = switch scalar {
            case "\"": "\\\""
            case "\\": "\\\\"
            case "/": "\\/"
            case "\u{8}": "\\b"
            case "\u{9}": "\\t"
            case "\u{A}": "\\n"
            case "\u{C}": "\\f"
            case "\u{D}": "\\r"
            default: nil
            }
            let rawAllowed = scalar.value >= 0x20 && scalar != "\"" && scalar != "\\"
            switch random.below(3) {
            case 0 where rawAllowed: text.unicodeScalars.append(scalar)
            case 1 where short != nil: text += short!
            default:
                let uppercase = random.oneIn(2)
                for unit in utf16([scalar]) { text += "\\u" + hex(UInt32(unit), width: 4, uppercase: uppercase) }
            }
        }
        return text + "\""
    }

    static func hex(_ value: UInt32, width: Int, uppercase: Bool) -> String {
        let digits = String(value, radix: 16, uppercase: uppercase)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
