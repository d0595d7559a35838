/// A DN string that is not valid RFC 4514, or an RDN part that cannot be printed as one.
///
/// Names the input, the byte offset (in its UTF-8 form, counted from 0) where parsing
/// stopped, and what was expected there:
/// `invalid DN "cn=a\\zz,dc=x": bad escape at offset 4`. The input is printed with Swift
/// string escaping, so control characters in it cannot break a log line.
public struct DNError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong at ``offset``.
    public enum Reason: Hashable, Sendable, CustomStringConvertible {
        /// An attribute type (a name such as `cn` or a dotted OID such as `2.5.4.3`) was
        /// expected: at the start of an RDN, after `,` or `+`.
        case expectedAttributeType
        /// The attribute type was not followed by `=`.
        case expectedEquals
        /// A `\` not followed by a special character or two hex digits.
        case badEscape
        /// A `#` value with no hex pair, or with an odd number of hex digits.
        case expectedHexPair
        /// Something other than `,`, `+` or the end after a `#` value.
        case expectedSeparator
        /// A character that must be escaped in a value (`"`, `;`, `<`, `>` or NUL).
        case unescapedCharacter(UInt8)
        /// Building an RDN: the attribute type is neither a name nor a dotted OID.
        case invalidAttributeType
        /// Building an RDN: a BER value with no octets, which has no `#` form.
        case emptyBEREncoding

        public var description: String {
            switch self {
            case .expectedAttributeType: "expected an attribute type (a name or a dotted OID)"
            case .expectedEquals: "expected '='"
            case .badEscape: "bad escape"
            case .expectedHexPair: "expected pairs of hex digits after '#' (a literal '#' is written '\\#')"
            case .expectedSeparator: "expected ',' or '+' after the '#' value"
            case .unescapedCharacter(let byte): "character 0x\(Self.hex(byte)) must be escaped"
            case .invalidAttributeType: "not an attribute type (a name or a dotted OID)"
            case .emptyBEREncoding: "a '#' value needs at least one octet"
            }
        }

        private static func hex(_ byte: UInt8) -> String {
            var digits: [UInt8] = []
            ASCII.appendHex(byte, uppercase: true, to: &digits)
            return String(decoding: digits, as: UTF8.self)
        }
    }

    /// The DN string parsed, or the attribute type given when building an RDN.
    public let input: String
    /// The byte offset in `input` (UTF-8, from 0) where the problem was found.
    public let offset: Int
    /// What was wrong there.
    public let reason: Reason

    /// An error about `input` at byte `offset`.
    public init(input: String, offset: Int, reason: Reason) {
        self.input = input
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .invalidAttributeType, .emptyBEREncoding:
            "invalid DN attribute type \(input.debugDescription): \(reason) at offset \(offset)"
        default:
            "invalid DN \(input.debugDescription): \(reason) at offset \(offset)"
        }
    }
}

/// A recursive-descent parser for the RFC 4514 §3 grammar over the UTF-8 octets of a DN.
struct DNParser {
    private let input: String
    private let bytes: [UInt8]
    private var position = 0

    /// The characters a `\` may escape by themselves (RFC 4514 `escaped` and `special`).
    private static let escapable: Set<UInt8> = [
        ASCII.quote, ASCII.plus, ASCII.comma, ASCII.semicolon, ASCII.lessThan, ASCII.greaterThan,
        ASCII.backslash, ASCII.space, ASCII.sharp, ASCII.equals,
    ]

    /// The characters a string value may not hold unescaped (RFC 4514 `stringchar`).
    private static let mustBeEscaped: Set<UInt8> = [
        ASCII.quote, ASCII.semicolon, ASCII.lessThan, ASCII.greaterThan, ASCII.nul,
    ]

    init(_ input: String) {
        self.input = input
        self.bytes = Array(input.utf8)
    }

    /// `distinguishedName = [ relativeDistinguishedName *( COMMA relativeDistinguishedName ) ]`
    mutating func parseDistinguishedName() throws(DNError) -> [RelativeDistinguishedName] {
        skipSpaces()
        guard peek != nil else { return [] }
        var rdns = [try parseRDN()]
        while peek == ASCII.comma {
            position += 1
            rdns.append(try parseRDN())
        }
        // A value stops only at ',' or '+' (both consumed above) or at the end.
        return rdns
    }

    /// `relativeDistinguishedName = attributeTypeAndValue *( PLUS attributeTypeAndValue )`
    private mutating func parseRDN() throws(DNError) -> RelativeDistinguishedName {
        var attributes = [try parseAttributeTypeAndValue()]
        while peek == ASCII.plus {
            position += 1
            attributes.append(try parseAttributeTypeAndValue())
        }
        return RelativeDistinguishedName(nonEmpty: attributes)
    }

    /// `attributeTypeAndValue = attributeType EQUALS attributeValue`, with spaces tolerated
    /// around the type and before the value.
    private mutating func parseAttributeTypeAndValue() throws(DNError) -> AttributeTypeAndValue {
        skipSpaces()
        let type = try parseAttributeType()
        skipSpaces()
        guard peek == ASCII.equals else { throw failure(.expectedEquals) }
        position += 1
        skipSpaces()
        if peek == ASCII.sharp {
            return AttributeTypeAndValue(unchecked: type, value: try parseHexString(), isBEREncoded: true)
        }
        return AttributeTypeAndValue(unchecked: type, value: try parseStringValue(), isBEREncoded: false)
    }

    private mutating func parseAttributeType() throws(DNError) -> AttributeName {
        let start = position
        do {
            position = try OIDGrammar.scanOID(bytes, from: start)
        } catch {
            throw DNError(input: input, offset: error.offset, reason: .expectedAttributeType)
        }
        return AttributeName(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    /// `hexstring = SHARP 1*hexpair`, then optional spaces before the separator.
    private mutating func parseHexString() throws(DNError) -> [UInt8] {
        position += 1
        var encoding: [UInt8] = []
        while let high = peek.flatMap(ASCII.hexValue) {
            guard let low = byte(at: position + 1).flatMap(ASCII.hexValue) else {
                throw failure(.expectedHexPair)
            }
            encoding.append(high << 4 | low)
            position += 2
        }
        guard !encoding.isEmpty else { throw failure(.expectedHexPair) }
        skipSpaces()
        guard peek == nil || peek == ASCII.comma || peek == ASCII.plus else {
            throw failure(.expectedSeparator)
        }
        return encoding
    }

    /// `string`: runs to the next unescaped `,` or `+` or the end. Unescaped trailing spaces
    /// are dropped; leading ones were skipped by the caller.
    private mutating func parseStringValue() throws(DNError) -> [UInt8] {
        var value: [UInt8] = []
        var significantCount = 0
        while let byte = peek, byte != ASCII.comma, byte != ASCII.plus {
            if byte == ASCII.backslash {
                value.append(try parseEscape())
                significantCount = value.count
                continue
            }
            guard !Self.mustBeEscaped.contains(byte) else { throw failure(.unescapedCharacter(byte)) }
            value.append(byte)
            position += 1
            if byte != ASCII.space { significantCount = value.count }
        }
        return Array(value.prefix(significantCount))
    }

    /// `pair = ESC ( ESC / special / hexpair )`
    private mutating func parseEscape() throws(DNError) -> UInt8 {
        guard let next = byte(at: position + 1) else { throw failure(.badEscape) }
        if Self.escapable.contains(next) {
            position += 2
            return next
        }
        guard let high = ASCII.hexValue(next), let low = byte(at: position + 2).flatMap(ASCII.hexValue) else {
            throw failure(.badEscape)
        }
        position += 3
        return high << 4 | low
    }

    private var peek: UInt8? { byte(at: position) }

    private func byte(at index: Int) -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipSpaces() {
        while peek == ASCII.space { position += 1 }
    }

    private func failure(_ reason: DNError.Reason) -> DNError {
        DNError(input: input, offset: position, reason: reason)
    }
}
