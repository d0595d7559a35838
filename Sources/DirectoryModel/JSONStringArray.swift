/// The JSON array of strings that a multi-valued attribute's values are stored as in one
/// app column (SPEC §6): `["a@example.com","b@example.com"]`.
public enum JSONStringArray {
    /// Compact, deterministic JSON: no spaces, `"` `\` and control characters escaped,
    /// everything else (non-ASCII, `/`) as UTF-8.
    public static func encode(_ values: [String]) -> String {
        var text = "["
        for (index, value) in values.enumerated() {
            if index > 0 { text += "," }
            text += "\""
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": text += "\\\""
                case "\\": text += "\\\\"
                case "\n": text += "\\n"
                case "\r": text += "\\r"
                case "\t": text += "\\t"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: text.unicodeScalars.append(scalar)
                }
            }
            text += "\""
        }
        return text + "]"
    }

    /// Parses a JSON array whose elements are all strings (white space allowed); nil for
    /// anything else, so that a column holding other JSON is reported, not guessed at.
    public static func decode(_ text: String) -> [String]? {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        return parser.parseArray()
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        mutating func skipSpace() {
            while index < scalars.count, [" ", "\t", "\n", "\r"].contains(scalars[index]) { index += 1 }
        }

        mutating func parseArray() -> [String]? {
            skipSpace()
            guard index < scalars.count, scalars[index] == "[" else { return nil }
            index += 1
            var values: [String] = []
            skipSpace()
            if index < scalars.count, scalars[index] == "]" {
                index += 1
                skipSpace()
                return index == scalars.count ? values : nil
            }
            while true {
                skipSpace()
                guard let value = parseString() else { return nil }
                values.append(value)
                skipSpace()
                guard index < scalars.count else { return nil }
                if scalars[index] == "," { index += 1; continue }
                guard scalars[index] == "]" else { return nil }
                index += 1
                skipSpace()
                return index == scalars.count ? values : nil
            }
        }

        mutating func parseString() -> String? {
            guard index < scalars.count, scalars[index] == "\"" else { return nil }
            index += 1
            var result = String.UnicodeScalarView()
            while index < scalars.count {
                let scalar = scalars[index]
                index += 1
                switch scalar {
                case "\"": return String(result)
                case "\\":
                    guard index < scalars.count else { return nil }
                    let escape = scalars[index]
                    index += 1
                    switch escape {
                    case "\"", "\\", "/": result.append(escape)
                    case "b": result.append("\u{08}")
                    case "f": result.append("\u{0C}")
                    case "n": result.append("\n")
                    case "r": result.append("\r")
                    case "t": result.append("\t")
                    case "u":
                        guard let unit = parseHex4() else { return nil }
                        if (0xD800..<0xDC00).contains(unit) {
                            guard index + 1 < scalars.count, scalars[index] == "\\", scalars[index + 1] == "u" else { return nil }
                            index += 2
                            guard let low = parseHex4(), (0xDC00..<0xE000).contains(low),
                                  let combined = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)) else { return nil }
                            result.append(combined)
                        } else {
                            guard let single = Unicode.Scalar(unit) else { return nil }
                            result.append(single)
                        }
                    default: return nil
                    }
                case _ where scalar.value < 0x20: return nil
                default: result.append(scalar)
                }
            }
            return nil
        }

        mutating func parseHex4() -> UInt32? {
            guard index + 4 <= scalars.count else { return nil }
            var value: UInt32 = 0
            for scalar in scalars[index..<index + 4] {
                guard let digit = hexDigit(scalar) else { return nil }
                value = value << 4 | digit
            }
            index += 4
            return value
        }

        func hexDigit(_ scalar: Unicode.Scalar) -> UInt32? {
            switch scalar {
            case "0"..."9": scalar.value - 0x30
            case "a"..."f": scalar.value - 0x61 + 10
            case "A"..."F": scalar.value - 0x41 + 10
            default: nil
            }
        }
    }
}
