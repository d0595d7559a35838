/// Multi-valued attributes in one text column (SPEC §6): a JSON array of strings.
///
/// A `.jsonArray` column is read as `.text` holding the array exactly as stored; these
/// helpers turn it into values and back so that the two sides can be compared as sets.
public enum JSONStringArray {
    /// The canonical JSON form of `values`: compact (no whitespace), UTF-8, in the given
    /// order. Only `"`, `\` and control characters are escaped (`\b \f \n \r \t`, other
    /// controls as lowercase `\u00xx`); `/` and non-ASCII characters are written as they
    /// are. The same values always give the same string (RFC 8785's string rules).
    public static func encode(_ values: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendString(value.utf8, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    /// A JSON string with quotes, in RFC 8785's form: only quotes, backslashes and control
    /// characters escaped (the short escapes where JSON has one, others as lowercase
    /// `\u00xx`); `/` and non-ASCII written as they are. Shared with the canonical JSON
    /// of the json transform.
    public static func appendString(_ text: some Sequence<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Contiguous text with nothing to escape (nearly every value) goes in one copy.
        let plain = text.withContiguousStorageIfAvailable { bytes -> Bool in
            for byte in bytes where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in text {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                out += Array("\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The strings of a JSON array of strings, in order (duplicates kept). Any JSON
    /// whitespace is accepted; anything else than an array of strings is an error, and so
    /// is an escaped lone surrogate. The error gives the byte offset, never the content.
    public static func decode(_ text: String) throws(JSONStringArrayError) -> [String] {
        var parser = JSONArrayParser(bytes: Array(text.utf8))
        return try parser.parse()
    }
}

private let hexDigits = Array("0123456789abcdef".utf8)

private struct JSONArrayParser {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parse() throws(JSONStringArrayError) -> [String] {
        skipWhitespace()
        try expect(UInt8(ascii: "["), "'['")
        var values: [String] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                values.append(try parseString())
                skipWhitespace()
                guard let byte = peek() else { throw failure("',' or ']'") }
                index += 1
                if byte == UInt8(ascii: "]") { break }
                guard byte == UInt8(ascii: ",") else { index -= 1; throw failure("',' or ']'") }
            }
        }
        skipWhitespace()
        guard index == bytes.count else { throw failure("the end of the text after ']'") }
        return values
    }

    private mutating func parseString() throws(JSONStringArrayError) -> String {
        try expect(UInt8(ascii: "\""), "a string")
        var out: [UInt8] = []
        while true {
            guard let byte = peek() else { throw failure("'\"' closing the string") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case 0x00..<0x20:
                index -= 1
                throw failure("an escaped control character")
            default:
                out.append(byte)
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws(JSONStringArrayError) {
        guard let byte = peek() else { throw failure("an escape sequence") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(byte)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try parseHex4()
            if (0xD800..<0xDC00).contains(scalar) {
                guard peek() == UInt8(ascii: "\\"), peek(1) == UInt8(ascii: "u") else {
                    throw failure("a low surrogate after a high surrogate")
                }
                index += 2
                let low = try parseHex4()
                guard (0xDC00..<0xE000).contains(low) else {
                    index -= 6
                    throw failure("a low surrogate after a high surrogate")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                index -= 6
                throw failure("a high surrogate before a low surrogate")
            }
            // Not a surrogate (excluded above), so a valid scalar.
            out += Array(String(Character(Unicode.Scalar(scalar)!)).utf8)
        default:
            index -= 1
            throw failure("one of \" \\ / b f n r t u after '\\'")
        }
    }

    private mutating func parseHex4() throws(JSONStringArrayError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek() else { throw failure("four hexadecimal digits after '\\u'") }
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("four hexadecimal digits after '\\u'")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private func peek(_ offset: Int = 0) -> UInt8? {
        index + offset < bytes.count ? bytes[index + offset] : nil
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONStringArrayError) {
        guard peek() == byte else { throw failure(what) }
        index += 1
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D {
            index += 1
        }
    }

    private func failure(_ expected: String) -> JSONStringArrayError {
        JSONStringArrayError(expected: expected, offset: index, atEnd: index >= bytes.count)
    }
}

/// Text that is not a JSON array of strings. Names the byte offset, never the content
/// (a column may hold sensitive values).
public struct JSONStringArrayError: Error, Hashable, Sendable, CustomStringConvertible {
    public var expected: String
    public var offset: Int
    public var atEnd: Bool

    public var description: String {
        "not a JSON array of strings: expected \(expected) at byte \(offset)\(atEnd ? " (end of text)" : "")"
    }
}
