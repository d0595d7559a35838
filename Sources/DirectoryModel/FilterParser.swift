/// A filter string that is not valid RFC 4515.
///
/// Names the filter, the byte offset (in its UTF-8 form, counted from 0) where parsing
/// stopped, and what was wrong there: `invalid filter "(cn=a": missing ')' at offset 5`.
/// The filter is printed with Swift string escaping, so control characters in it cannot
/// break a log line.
public struct FilterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong at ``offset``.
    public enum Reason: Hashable, Sendable, CustomStringConvertible {
        /// The filter is empty or only white space.
        case emptyFilter
        /// A `(` was not closed before the end, or a `)` closes nothing.
        case unbalancedParentheses
        /// `!` not followed by a parenthesized filter.
        case expectedOpenParenthesis
        /// Something other than `)` where a filter should end (such as a second filter
        /// inside `!`, or an item inside `&` without parentheses).
        case expectedCloseParenthesis
        /// Text after a complete filter (two filters side by side without `&` or `|`).
        case trailingCharacters
        /// An item without an attribute before its `=`, `~=`, `>=` or `<=`.
        case emptyAttribute
        /// An attribute description that is neither a name nor a dotted OID, or has an
        /// empty option.
        case invalidAttribute
        /// An attribute not followed by `=`, `~=`, `>=`, `<=` or `:`.
        case missingEquals
        /// An extensible match with neither an attribute nor a matching rule, or a
        /// matching rule that is neither a name nor a dotted OID.
        case expectedMatchingRule
        /// A `\` not followed by two hex digits.
        case badEscape
        /// A character a value may not hold unescaped: `(`, NUL, or `*` anywhere but in
        /// an equality item.
        case unescapedCharacter(UInt8)

        public var description: String {
            switch self {
            case .emptyFilter: "empty filter"
            case .unbalancedParentheses: "unbalanced parentheses"
            case .expectedOpenParenthesis: "expected '('"
            case .expectedCloseParenthesis: "expected ')'"
            case .trailingCharacters: "unexpected text after the filter"
            case .emptyAttribute: "empty attribute"
            case .invalidAttribute: "invalid attribute description"
            case .missingEquals: "missing '=' (or '~=', '>=', '<=', ':=')"
            case .expectedMatchingRule: "expected a matching rule (a name or a dotted OID)"
            case .badEscape: "bad escape (expected '\\' and two hex digits)"
            case .unescapedCharacter(let byte): "character 0x\(Self.hex(byte)) must be escaped"
            }
        }

        private static func hex(_ byte: UInt8) -> String {
            var digits: [UInt8] = []
            ASCII.appendHex(byte, uppercase: false, to: &digits)
            return String(decoding: digits, as: UTF8.self)
        }
    }

    /// The filter string parsed.
    public let filter: String
    /// The byte offset in `filter` (UTF-8, from 0) where the problem was found.
    public let offset: Int
    /// What was wrong there.
    public let reason: Reason

    /// An error about `filter` at byte `offset`.
    public init(filter: String, offset: Int, reason: Reason) {
        self.filter = filter
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        "invalid filter \(filter.debugDescription): \(reason) at offset \(offset)"
    }
}

/// A recursive-descent parser for the RFC 4515 grammar over the UTF-8 octets of a filter.
struct FilterParser {
    private let input: String
    private let bytes: [UInt8]
    private var position = 0

    init(_ input: String) {
        self.input = input
        self.bytes = Array(input.utf8)
    }

    /// The whole string: one filter, parenthesized or not, with white space around it.
    mutating func parseFilterString() throws(FilterError) -> Filter {
        skipWhitespace()
        guard peek != nil else { throw failure(.emptyFilter) }
        let filter = try peek == ASCII.leftParenthesis ? parseFilter() : parseComponent()
        skipWhitespace()
        switch peek {
        case nil: return filter
        case ASCII.rightParenthesis?: throw failure(.unbalancedParentheses)
        default: throw failure(.trailingCharacters)
        }
    }

    /// `filter = LPAREN filtercomp RPAREN`
    private mutating func parseFilter() throws(FilterError) -> Filter {
        guard peek == ASCII.leftParenthesis else { throw failure(.expectedOpenParenthesis) }
        position += 1
        skipWhitespace()
        let filter = try parseComponent()
        switch peek {
        case ASCII.rightParenthesis?:
            position += 1
            return filter
        case nil: throw failure(.unbalancedParentheses)
        default: throw failure(.expectedCloseParenthesis)
        }
    }

    /// `filtercomp = and / or / not / item`; stops before the closing parenthesis.
    private mutating func parseComponent() throws(FilterError) -> Filter {
        switch peek {
        case ASCII.ampersand?:
            position += 1
            return .and(try parseList())
        case ASCII.verticalBar?:
            position += 1
            return .or(try parseList())
        case ASCII.exclamation?:
            position += 1
            skipWhitespace()
            let filter = try parseFilter()
            skipWhitespace()
            return .not(filter)
        default:
            return try parseItem()
        }
    }

    /// `filterlist = *filter` (RFC 4515 requires one or more; RFC 4526 allows none).
    private mutating func parseList() throws(FilterError) -> [Filter] {
        var filters: [Filter] = []
        skipWhitespace()
        while peek == ASCII.leftParenthesis {
            filters.append(try parseFilter())
            skipWhitespace()
        }
        return filters
    }

    /// `item = simple / present / substring / extensible`
    private mutating func parseItem() throws(FilterError) -> Filter {
        if peek == ASCII.colon { return try parseExtensible(attribute: nil) }
        let attribute = try parseAttributeDescription()
        switch peek {
        case ASCII.equals?:
            position += 1
            return try parseEqualityValue(attribute)
        case ASCII.tilde?, ASCII.greaterThan?, ASCII.lessThan?:
            return try parseComparison(attribute)
        case ASCII.colon?:
            return try parseExtensible(attribute: attribute)
        default:
            throw failure(.missingEquals)
        }
    }

    /// `attributedescription = attributetype options`, `options = *( SEMI option )`
    private mutating func parseAttributeDescription() throws(FilterError) -> AttributeName {
        let start = position
        guard let first = peek, !Self.startsFilterType(first), first != ASCII.rightParenthesis else {
            throw failure(.emptyAttribute)
        }
        position = try scanOID(reason: .invalidAttribute)
        while peek == ASCII.semicolon {
            position += 1
            let optionStart = position
            while let byte = peek, ASCII.isKeyChar(byte) { position += 1 }
            guard position > optionStart else { throw failure(.invalidAttribute) }
        }
        return AttributeName(String(decoding: bytes[start..<position], as: UTF8.self))
    }

    private static func startsFilterType(_ byte: UInt8) -> Bool {
        [ASCII.equals, ASCII.tilde, ASCII.greaterThan, ASCII.lessThan].contains(byte)
    }

    /// `~=`, `>=` or `<=` and a value without wildcards.
    private mutating func parseComparison(_ attribute: AttributeName) throws(FilterError) -> Filter {
        guard let operation = peek, byte(at: position + 1) == ASCII.equals else { throw failure(.missingEquals) }
        position += 2
        let value = try parseValueWithoutWildcards()
        switch operation {
        case ASCII.tilde: return .approx(attribute, value)
        case ASCII.greaterThan: return .greaterOrEqual(attribute, value)
        default: return .lessOrEqual(attribute, value)
        }
    }

    /// After `attr=`: an equality, presence or substring item, told apart by the
    /// unescaped `*`s in the value.
    private mutating func parseEqualityValue(_ attribute: AttributeName) throws(FilterError) -> Filter {
        let (pieces, _) = try parseValuePieces()
        guard let initial = pieces.first, let final = pieces.last, pieces.count > 1 else {
            return .equality(attribute, pieces.first ?? [])
        }
        if pieces.count == 2, initial.isEmpty, final.isEmpty { return .present(attribute) }
        return .substring(
            attribute,
            initial: initial.isEmpty ? nil : initial,
            any: pieces.dropFirst().dropLast().filter { !$0.isEmpty },
            final: final.isEmpty ? nil : final
        )
    }

    /// `extensible = ( attr [dnattrs] [matchingrule] COLON EQUALS assertionvalue )
    ///             / ( [dnattrs] matchingrule COLON EQUALS assertionvalue )`
    private mutating func parseExtensible(attribute: AttributeName?) throws(FilterError) -> Filter {
        let start = position
        let dnAttributes = skipDNAttributesFlag()
        var matchingRule: String?
        if peek == ASCII.colon, byte(at: position + 1) != ASCII.equals {
            position += 1
            let ruleStart = position
            position = try scanOID(reason: .expectedMatchingRule)
            matchingRule = String(decoding: bytes[ruleStart..<position], as: UTF8.self)
        }
        guard peek == ASCII.colon, byte(at: position + 1) == ASCII.equals else { throw failure(.missingEquals) }
        guard attribute != nil || matchingRule != nil else {
            throw FilterError(filter: input, offset: start, reason: .expectedMatchingRule)
        }
        position += 2
        let value = try parseValueWithoutWildcards()
        return .extensible(attribute, matchingRule: matchingRule, dnAttributes: dnAttributes, value: value)
    }

    /// `dnattrs = COLON "dn"`, recognized only when a `:` follows (`:dnQualifierMatch:=`
    /// is a matching rule).
    private mutating func skipDNAttributesFlag() -> Bool {
        guard peek == ASCII.colon,
              let d = byte(at: position + 1), d | 0x20 == 0x64,
              let n = byte(at: position + 2), n | 0x20 == 0x6E,
              byte(at: position + 3) == ASCII.colon
        else { return false }
        position += 3
        return true
    }

    private mutating func parseValueWithoutWildcards() throws(FilterError) -> [UInt8] {
        let (pieces, firstWildcard) = try parseValuePieces()
        if let firstWildcard {
            throw FilterError(filter: input, offset: firstWildcard, reason: .unescapedCharacter(ASCII.asterisk))
        }
        return pieces.first ?? []
    }

    /// `assertionvalue = valueencoding` up to the closing `)` (or the end of an
    /// unparenthesized filter), split at each unescaped `*`. Returns at least one piece
    /// and the offset of the first `*`.
    private mutating func parseValuePieces() throws(FilterError) -> (pieces: [[UInt8]], firstWildcard: Int?) {
        var pieces: [[UInt8]] = []
        var current: [UInt8] = []
        var firstWildcard: Int?
        while let byte = peek, byte != ASCII.rightParenthesis {
            switch byte {
            case ASCII.backslash:
                current.append(try parseEscape())
            case ASCII.asterisk:
                firstWildcard = firstWildcard ?? position
                pieces.append(current)
                current = []
                position += 1
            case ASCII.leftParenthesis, ASCII.nul:
                throw failure(.unescapedCharacter(byte))
            default:
                current.append(byte)
                position += 1
            }
        }
        pieces.append(current)
        return (pieces, firstWildcard)
    }

    /// `escaped = ESC HEX HEX`
    private mutating func parseEscape() throws(FilterError) -> UInt8 {
        guard let high = byte(at: position + 1).flatMap(ASCII.hexValue),
              let low = byte(at: position + 2).flatMap(ASCII.hexValue)
        else { throw failure(.badEscape) }
        position += 3
        return high << 4 | low
    }

    private func scanOID(reason: FilterError.Reason) throws(FilterError) -> Int {
        do {
            return try OIDGrammar.scanOID(bytes, from: position)
        } catch {
            throw FilterError(filter: input, offset: error.offset, reason: reason)
        }
    }

    private var peek: UInt8? { byte(at: position) }

    private func byte(at index: Int) -> UInt8? {
        index < bytes.count ? bytes[index] : nil
    }

    private mutating func skipWhitespace() {
        while let byte = peek, ASCII.isWhitespace(byte) { position += 1 }
    }

    private func failure(_ reason: FilterError.Reason) -> FilterError {
        FilterError(filter: input, offset: position, reason: reason)
    }
}
