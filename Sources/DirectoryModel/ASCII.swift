/// Byte-level helpers shared by the DN and filter parsers and printers.
///
/// Both RFC 4514 and RFC 4515 are defined over UTF-8 octets, so parsing and printing work
/// on `[UInt8]` with byte offsets, never on `Character`s: a value may hold bytes that are
/// not UTF-8 at all, and error offsets must point at the octet a server would reject.
enum ASCII {
    static let nul: UInt8 = 0x00
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let sharp: UInt8 = 0x23
    static let leftParenthesis: UInt8 = 0x28
    static let rightParenthesis: UInt8 = 0x29
    static let asterisk: UInt8 = 0x2A
    static let plus: UInt8 = 0x2B
    static let comma: UInt8 = 0x2C
    static let hyphen: UInt8 = 0x2D
    static let dot: UInt8 = 0x2E
    static let colon: UInt8 = 0x3A
    static let semicolon: UInt8 = 0x3B
    static let lessThan: UInt8 = 0x3C
    static let equals: UInt8 = 0x3D
    static let greaterThan: UInt8 = 0x3E
    static let backslash: UInt8 = 0x5C
    static let ampersand: UInt8 = 0x26
    static let exclamation: UInt8 = 0x21
    static let verticalBar: UInt8 = 0x7C
    static let tilde: UInt8 = 0x7E

    static func isAlpha(_ byte: UInt8) -> Bool {
        (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }

    /// `keychar` of RFC 4512: a letter, a digit or a hyphen.
    static func isKeyChar(_ byte: UInt8) -> Bool { isAlpha(byte) || isDigit(byte) || byte == hyphen }

    /// C0 controls and DEL; printed as hex escapes so that a value can never break a log
    /// line or a terminal.
    static func isControl(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F }

    /// Space, tab, CR and LF: the white space tolerated between filter components.
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == space || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The value of one hexadecimal digit, either case.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }

    /// Appends `\` and two hex digits for `byte` (`\0D` or `\0d`).
    static func appendHexEscape(_ byte: UInt8, uppercase: Bool, to output: inout [UInt8]) {
        output.append(backslash)
        appendHex(byte, uppercase: uppercase, to: &output)
    }

    private static let upperHexDigits = Array("0123456789ABCDEF".utf8)
    private static let lowerHexDigits = Array("0123456789abcdef".utf8)

    /// Appends two hex digits for `byte`.
    static func appendHex(_ byte: UInt8, uppercase: Bool, to output: inout [UInt8]) {
        let digits = uppercase ? upperHexDigits : lowerHexDigits
        output.append(digits[Int(byte >> 4)])
        output.append(digits[Int(byte & 0x0F)])
    }
}

enum UTF8Scan {
    /// The length of the well-formed UTF-8 sequence starting at `index`, or `nil` when the
    /// byte there does not start one (stray continuation byte, overlong form, surrogate,
    /// code point above U+10FFFF, or a sequence cut short).
    ///
    /// Follows Table 3-7 of the Unicode Standard ("Well-Formed UTF-8 Byte Sequences").
    static func sequenceLength(in bytes: [UInt8], at index: Int) -> Int? {
        let lead = bytes[index]
        let continuation: ClosedRange<UInt8> = 0x80...0xBF
        let (length, second): (Int, ClosedRange<UInt8>)
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: (length, second) = (2, continuation)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, continuation)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, continuation)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: return nil
        }
        guard index + length <= bytes.count, second.contains(bytes[index + 1]) else { return nil }
        for offset in 2..<length where !continuation.contains(bytes[index + offset]) {
            return nil
        }
        return length
    }
}

/// The place where a name breaks the RFC 4512 `oid` grammar.
struct GrammarFailure: Error {
    let offset: Int
}

enum OIDGrammar {
    /// Scans an RFC 4512 `oid` starting at `start`: a `descr` (`cn`, `inetOrgPerson`: a
    /// letter, then letters, digits and hyphens) or a `numericoid` (`2.5.4.3`: two or more
    /// numbers without leading zeros, joined by dots). Returns the index after it; what
    /// follows is the caller's business.
    static func scanOID(_ bytes: [UInt8], from start: Int) throws(GrammarFailure) -> Int {
        guard start < bytes.count else { throw GrammarFailure(offset: start) }
        if ASCII.isAlpha(bytes[start]) {
            return bytes[start...].firstIndex { !ASCII.isKeyChar($0) } ?? bytes.count
        }
        return try scanNumericOID(bytes, from: start)
    }

    private static func scanNumericOID(_ bytes: [UInt8], from start: Int) throws(GrammarFailure) -> Int {
        var index = try scanNumber(bytes, from: start)
        var numbers = 1
        while index < bytes.count, bytes[index] == ASCII.dot {
            index = try scanNumber(bytes, from: index + 1)
            numbers += 1
        }
        guard numbers >= 2 else { throw GrammarFailure(offset: index) }
        return index
    }

    /// `number = DIGIT / ( LDIGIT 1*DIGIT )`: no leading zero.
    private static func scanNumber(_ bytes: [UInt8], from start: Int) throws(GrammarFailure) -> Int {
        guard start < bytes.count, ASCII.isDigit(bytes[start]) else { throw GrammarFailure(offset: start) }
        let end = bytes[start...].firstIndex { !ASCII.isDigit($0) } ?? bytes.count
        guard bytes[start] != 0x30 || end == start + 1 else { throw GrammarFailure(offset: start + 1) }
        return end
    }

    /// Checks that the whole of `name` is an `oid` (as an RDN's attribute type must be).
    static func validateOID(_ name: String) throws(GrammarFailure) {
        let bytes = Array(name.utf8)
        let end = try scanOID(bytes, from: 0)
        guard end == bytes.count else { throw GrammarFailure(offset: end) }
    }
}
