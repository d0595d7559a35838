/// An LDAP search filter (RFC 4515), built from parts or parsed from its string form.
///
/// Assertion values are raw octets and ``description`` escapes them, so a value from
/// either side can never change a filter's structure:
/// `Filter.and([.equality("objectClass", "inetOrgPerson"), .greaterOrEqual("modifyTimestamp", "20261121153000Z")])`
/// prints `(&(objectClass=inetOrgPerson)(modifyTimestamp>=20261121153000Z))`.
///
/// Equality of filters is structural, with attribute names compared case-insensitively.
/// `.and([])` and `.or([])` are the absolute true `(&)` and false `(|)` of RFC 4526.
public indirect enum Filter: Hashable, Sendable, CustomStringConvertible {
    /// `(&(a)(b)…)`: every filter matches; `(&)` is true.
    case and([Filter])
    /// `(|(a)(b)…)`: some filter matches; `(|)` is false.
    case or([Filter])
    /// `(!(a))`
    case not(Filter)
    /// `(attr=value)`
    case equality(AttributeName, [UInt8])
    /// `(attr>=value)`
    case greaterOrEqual(AttributeName, [UInt8])
    /// `(attr<=value)`
    case lessOrEqual(AttributeName, [UInt8])
    /// `(attr~=value)`
    case approx(AttributeName, [UInt8])
    /// `(attr=*)`
    case present(AttributeName)
    /// `(attr=initial*any1*any2*final)`. An empty `initial`, `final` or `any` element
    /// prints as nothing, so it reads back as absent: build them absent instead.
    case substring(AttributeName, initial: [UInt8]?, any: [[UInt8]], final: [UInt8]?)
    /// `(attr:dn:rule:=value)`: an extensible match. `attribute` or `matchingRule` may be
    /// absent, not both; `dnAttributes` adds the `:dn` flag.
    case extensible(AttributeName?, matchingRule: String?, dnAttributes: Bool, value: [UInt8])

    /// `(attr=value)` for a text value.
    public static func equality(_ attribute: AttributeName, _ value: String) -> Filter {
        .equality(attribute, Array(value.utf8))
    }

    /// `(attr>=value)` for a text value.
    public static func greaterOrEqual(_ attribute: AttributeName, _ value: String) -> Filter {
        .greaterOrEqual(attribute, Array(value.utf8))
    }

    /// `(attr<=value)` for a text value.
    public static func lessOrEqual(_ attribute: AttributeName, _ value: String) -> Filter {
        .lessOrEqual(attribute, Array(value.utf8))
    }

    /// `(attr~=value)` for a text value.
    public static func approx(_ attribute: AttributeName, _ value: String) -> Filter {
        .approx(attribute, Array(value.utf8))
    }

    /// Parses an RFC 4515 filter string, such as an administrator configured.
    ///
    /// Also accepts what `ldapsearch` accepts: a filter without its outer parentheses
    /// (`objectClass=person`, `&(a=1)(b=2)`), white space around the filter, between the
    /// parts of `&`, `|` and `!` and after an opening parenthesis, and the RFC 4526
    /// absolute filters `(&)` and `(|)`. Values accept only the RFC 4515 `\xx` hex escapes
    /// (not the RFC 1960 `\*` form); white space inside an item is part of it.
    public init(parsing string: String) throws(FilterError) {
        var parser = FilterParser(string)
        self = try parser.parseFilterString()
    }

    /// The RFC 4515 string form, every value escaped with `Filter.escape(_:)`.
    ///
    /// Attribute names and matching rules are printed as is when they follow the
    /// RFC 4512 grammar; any other character in them is printed as a `\xx` escape, which
    /// no server accepts in a name, so a bad name fails the search rather than altering
    /// the filter.
    public var description: String {
        var output: [UInt8] = []
        render(into: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Escapes an assertion value for a filter string (RFC 4515 §3): `*` `(` `)` `\` and
    /// NUL become `\2a` `\28` `\29` `\5c` `\00`; other ASCII control characters and every
    /// octet that is not part of well-formed UTF-8 become `\xx` too (lower-case hex).
    /// Well-formed non-ASCII UTF-8 is kept as is.
    public static func escape(_ value: [UInt8]) -> String {
        var output: [UInt8] = []
        FilterValueEscaping.append(value, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Escapes the UTF-8 octets of a text value; see `Filter.escape(_:)`.
    public static func escape(_ value: String) -> String {
        escape(Array(value.utf8))
    }
}

// MARK: - Printing

extension Filter {
    private func render(into output: inout [UInt8]) {
        output.append(ASCII.leftParenthesis)
        switch self {
        case .and(let filters): Self.renderList(ASCII.ampersand, filters, into: &output)
        case .or(let filters): Self.renderList(ASCII.verticalBar, filters, into: &output)
        case .not(let filter):
            output.append(ASCII.exclamation)
            filter.render(into: &output)
        case let .equality(attribute, value): Self.renderItem(attribute, "=", value, into: &output)
        case let .greaterOrEqual(attribute, value): Self.renderItem(attribute, ">=", value, into: &output)
        case let .lessOrEqual(attribute, value): Self.renderItem(attribute, "<=", value, into: &output)
        case let .approx(attribute, value): Self.renderItem(attribute, "~=", value, into: &output)
        case .present(let attribute):
            FilterNameEscaping.append(attribute.description, to: &output)
            output.append(contentsOf: "=*".utf8)
        case let .substring(attribute, initial, any, final):
            FilterNameEscaping.append(attribute.description, to: &output)
            output.append(ASCII.equals)
            Self.renderSubstrings(initial: initial, any: any, final: final, into: &output)
        case let .extensible(attribute, matchingRule, dnAttributes, value):
            Self.renderExtensible(attribute, matchingRule, dnAttributes, value, into: &output)
        }
        output.append(ASCII.rightParenthesis)
    }

    private static func renderList(_ operation: UInt8, _ filters: [Filter], into output: inout [UInt8]) {
        output.append(operation)
        for filter in filters { filter.render(into: &output) }
    }

    private static func renderItem(_ attribute: AttributeName, _ operation: String, _ value: [UInt8], into output: inout [UInt8]) {
        FilterNameEscaping.append(attribute.description, to: &output)
        output.append(contentsOf: operation.utf8)
        FilterValueEscaping.append(value, to: &output)
    }

    private static func renderSubstrings(initial: [UInt8]?, any: [[UInt8]], final: [UInt8]?, into output: inout [UInt8]) {
        let start = output.count
        FilterValueEscaping.append(initial ?? [], to: &output)
        output.append(ASCII.asterisk)
        for piece in any {
            FilterValueEscaping.append(piece, to: &output)
            output.append(ASCII.asterisk)
        }
        FilterValueEscaping.append(final ?? [], to: &output)
        // A lone `*` would read back as a presence filter.
        if output.count == start + 1 { output.append(ASCII.asterisk) }
    }

    private static func renderExtensible(
        _ attribute: AttributeName?, _ matchingRule: String?, _ dnAttributes: Bool, _ value: [UInt8],
        into output: inout [UInt8]
    ) {
        if let attribute { FilterNameEscaping.append(attribute.description, to: &output) }
        if dnAttributes { output.append(contentsOf: ":dn".utf8) }
        if let matchingRule {
            output.append(ASCII.colon)
            FilterNameEscaping.append(matchingRule, to: &output)
        }
        output.append(contentsOf: ":=".utf8)
        FilterValueEscaping.append(value, to: &output)
    }
}

/// RFC 4515 §3 escaping of an assertion value.
enum FilterValueEscaping {
    private static let special: Set<UInt8> = [
        ASCII.asterisk, ASCII.leftParenthesis, ASCII.rightParenthesis, ASCII.backslash,
    ]

    static func append(_ value: [UInt8], to output: inout [UInt8]) {
        var index = 0
        while index < value.count {
            let length = UTF8Scan.sequenceLength(in: value, at: index)
            switch length {
            case nil:
                ASCII.appendHexEscape(value[index], uppercase: false, to: &output)
                index += 1
            case 1?:
                let byte = value[index]
                if ASCII.isControl(byte) || special.contains(byte) {
                    ASCII.appendHexEscape(byte, uppercase: false, to: &output)
                } else {
                    output.append(byte)
                }
                index += 1
            case let length?:
                output.append(contentsOf: value[index..<index + length])
                index += length
            }
        }
    }
}

/// Prints an attribute description or matching rule, hex-escaping anything outside the
/// RFC 4512 character set so that a bad name cannot close a parenthesis or start a value.
enum FilterNameEscaping {
    static func append(_ name: String, to output: inout [UInt8]) {
        for byte in name.utf8 {
            if ASCII.isKeyChar(byte) || byte == ASCII.dot || byte == ASCII.semicolon {
                output.append(byte)
            } else {
                ASCII.appendHexEscape(byte, uppercase: false, to: &output)
            }
        }
    }
}
