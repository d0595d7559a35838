/// An LDAP distinguished name (RFC 4514): a sequence of relative distinguished names,
/// most specific first (`uid=jdoe,ou=people,dc=example,dc=com`).
///
/// Values are kept as raw octets, so a DN read from a server, printed with
/// ``description`` and parsed again is the same DN byte for byte, whatever its values hold.
/// Build DNs from parts (``child(_:)``, ``init(rdns:)``) rather than by concatenating
/// strings: the printer escapes every value, so a value can never add an RDN or an
/// attribute to the name.
///
/// `==` is exact structural equality: the same RDNs in the same order, the same attribute
/// types (case-insensitively, as ``AttributeName`` compares) and byte-identical values.
/// To compare DNs the way a directory does, use ``matches(_:)`` or ``normalized``.
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// The RDNs, most specific first. Empty for the root DSE (`""`).
    public let rdns: [RelativeDistinguishedName]

    /// The empty DN `""`, which names the root DSE.
    public static let root = DistinguishedName(rdns: [])

    /// A DN made of `rdns`, most specific first.
    public init(rdns: [RelativeDistinguishedName]) {
        self.rdns = rdns
    }

    /// Parses the RFC 4514 string form, as servers return it and administrators write it.
    ///
    /// Accepts the full RFC 4514 §3 grammar (backslash escapes of special characters, hex
    /// pairs for any octet, `#` followed by the hex of a BER encoding) and, as OpenLDAP and
    /// Active Directory do, spaces around `,`, `+` and `=`. Unescaped spaces at the start
    /// and end of a value are not part of it; escaped ones (`\ `) are. The empty string is
    /// the root DSE. `"`, `;`, `<`, `>` and NUL must be escaped in a value; `;` is not
    /// accepted as an RDN separator (the RFC 1779 form).
    public init(parsing string: String) throws(DNError) {
        var parser = DNParser(string)
        self.rdns = try parser.parseDistinguishedName()
    }

    /// Whether this is the root DSE's empty DN.
    public var isRoot: Bool { rdns.isEmpty }

    /// The first, most specific RDN (`uid=jdoe` of `uid=jdoe,ou=people,dc=example`);
    /// `nil` for the root.
    public var rdn: RelativeDistinguishedName? { rdns.first }

    /// The DN without its first RDN; `nil` for the root, which has no parent.
    public var parent: DistinguishedName? {
        isRoot ? nil : DistinguishedName(rdns: Array(rdns.dropFirst()))
    }

    /// The DN of an entry named `rdn` directly below this one.
    public func child(_ rdn: RelativeDistinguishedName) -> DistinguishedName {
        DistinguishedName(rdns: [rdn] + rdns)
    }

    /// The DN of an entry named `type=value` directly below this one; `value` is raw
    /// octets and is escaped when printed.
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID.
    public func child(_ type: AttributeName, _ value: [UInt8]) throws(DNError) -> DistinguishedName {
        child(try RelativeDistinguishedName(type, value))
    }

    /// The DN of an entry named `type=value` directly below this one; `value` is raw text
    /// (its UTF-8 octets) and is escaped when printed.
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID.
    public func child(_ type: AttributeName, _ value: String) throws(DNError) -> DistinguishedName {
        try child(type, Array(value.utf8))
    }

    /// Whether this DN names an entry strictly below `ancestor`, compared as a directory
    /// compares names (see ``NormalizedDN``). Every DN but the root is below the root.
    public func isDescendant(of ancestor: DistinguishedName) -> Bool {
        normalized.isDescendant(of: ancestor.normalized)
    }

    /// Whether this DN names `ancestor` itself or an entry below it, compared as a
    /// directory compares names (see ``NormalizedDN``).
    public func isEqualOrDescendant(of ancestor: DistinguishedName) -> Bool {
        normalized.isEqualOrDescendant(of: ancestor.normalized)
    }

    /// The form used to compare this DN with others the way directories do.
    public var normalized: NormalizedDN { NormalizedDN(self) }

    /// Whether `other` names the same entry, compared as a directory compares names
    /// (see ``NormalizedDN``): `uid=John  Smith,dc=Example` matches `UID=john smith, dc=example`.
    public func matches(_ other: DistinguishedName) -> Bool {
        normalized == other.normalized
    }

    /// The RFC 4514 string form, escaped as §2.4 prescribes (see
    /// ``AttributeTypeAndValue/description``), RDNs joined with `,` without spaces.
    public var description: String {
        rdns.map(\.description).joined(separator: ",")
    }
}

/// One RDN: one or more `type=value` pairs, joined with `+` when there are several
/// (`ou=Sales+cn=J. Smith`). The order of a multi-valued RDN's pairs is kept as written;
/// it does not matter when comparing with ``DistinguishedName/matches(_:)``.
public struct RelativeDistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// The pairs, never empty, in the order written.
    public let attributes: [AttributeTypeAndValue]

    /// A single-valued RDN.
    public init(_ attribute: AttributeTypeAndValue) {
        self.attributes = [attribute]
    }

    /// A multi-valued RDN, or `nil` when `attributes` is empty.
    public init?(_ attributes: [AttributeTypeAndValue]) {
        guard !attributes.isEmpty else { return nil }
        self.attributes = attributes
    }

    /// A single-valued RDN `type=value`, the value as raw octets.
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID.
    public init(_ type: AttributeName, _ value: [UInt8]) throws(DNError) {
        self.init(try AttributeTypeAndValue(type, value))
    }

    /// A single-valued RDN `type=value`, the value as text (its UTF-8 octets).
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID.
    public init(_ type: AttributeName, _ value: String) throws(DNError) {
        try self.init(type, Array(value.utf8))
    }

    /// This RDN with one more pair, making or extending a multi-valued RDN.
    public func adding(_ attribute: AttributeTypeAndValue) -> RelativeDistinguishedName {
        RelativeDistinguishedName(nonEmpty: attributes + [attribute])
    }

    /// For callers that have at least one pair in hand.
    init(nonEmpty attributes: [AttributeTypeAndValue]) {
        self.attributes = attributes
    }

    /// The pairs in RFC 4514 form joined with `+`.
    public var description: String {
        attributes.map(\.description).joined(separator: "+")
    }
}

/// One `type=value` pair of an RDN (RFC 4514 `attributeTypeAndValue`).
public struct AttributeTypeAndValue: Hashable, Sendable, CustomStringConvertible {
    /// The attribute type: a name such as `cn` or a dotted OID such as `2.5.4.3`, compared
    /// case-insensitively. Names and OIDs are not resolved into each other (that needs
    /// the server's schema).
    public let type: AttributeName
    /// The value's octets: for a string value the UTF-8 text after unescaping, which may
    /// hold any octet (NUL, bytes that are not UTF-8); for a BER value the encoding.
    public let value: [UInt8]
    /// Whether the value was written as `#` and the hex of its BER encoding
    /// (`1.3.6.1.4.1.1466.0=#04024869`). The encoding is kept as is, not decoded.
    public let isBEREncoded: Bool

    /// A string value `type=value`, the value as raw octets.
    /// - Throws: ``DNError`` with ``DNError/Reason/invalidAttributeType`` when `type` is
    ///   neither a name (`cn`) nor a dotted OID (`2.5.4.3`), options included.
    public init(_ type: AttributeName, _ value: [UInt8]) throws(DNError) {
        try Self.validate(type)
        self.init(unchecked: type, value: value, isBEREncoded: false)
    }

    /// A string value `type=value`, the value as text (its UTF-8 octets).
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID.
    public init(_ type: AttributeName, _ value: String) throws(DNError) {
        try self.init(type, Array(value.utf8))
    }

    /// A value given as its BER encoding, printed as `#` and hex.
    /// - Throws: ``DNError`` when `type` is neither a name nor a dotted OID, or
    ///   `encoding` is empty (the `#` form needs at least one octet).
    public init(_ type: AttributeName, berEncoding encoding: [UInt8]) throws(DNError) {
        try Self.validate(type)
        guard !encoding.isEmpty else {
            throw DNError(input: type.description, offset: 0, reason: .emptyBEREncoding)
        }
        self.init(unchecked: type, value: encoding, isBEREncoded: true)
    }

    /// For the parser and the normalizer, which have checked the type already.
    init(unchecked type: AttributeName, value: [UInt8], isBEREncoded: Bool) {
        self.type = type
        self.value = value
        self.isBEREncoded = isBEREncoded
    }

    private static func validate(_ type: AttributeName) throws(DNError) {
        do {
            try OIDGrammar.validateOID(type.description)
        } catch {
            throw DNError(input: type.description, offset: error.offset, reason: .invalidAttributeType)
        }
    }

    /// The value as UTF-8 text, or `nil` for a BER value or octets that are not UTF-8
    /// (never a lossy replacement).
    public var stringValue: String? {
        isBEREncoded ? nil : UTF8Text.string(value)
    }

    /// `type=value` in RFC 4514 §2.4 form. In a string value `"` `+` `,` `;` `<` `>` `\`
    /// are backslash-escaped anywhere, as are a leading `#` or space and a trailing space;
    /// NUL, other ASCII control characters (so that a value cannot break a log line) and
    /// octets that are not part of well-formed UTF-8 are printed as `\` and two
    /// upper-case hex digits. Well-formed non-ASCII UTF-8 is kept as is. A BER value is
    /// printed as `#` and hex.
    public var description: String {
        var output = Array(type.description.utf8)
        output.append(ASCII.equals)
        if isBEREncoded {
            output.append(ASCII.sharp)
            for byte in value { ASCII.appendHex(byte, uppercase: true, to: &output) }
        } else {
            DNValueEscaping.append(value, to: &output)
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// RFC 4514 §2.4 escaping of a string value.
enum DNValueEscaping {
    /// Characters escaped with a backslash wherever they appear.
    private static let alwaysEscaped: Set<UInt8> = [
        ASCII.quote, ASCII.plus, ASCII.comma, ASCII.semicolon,
        ASCII.lessThan, ASCII.greaterThan, ASCII.backslash,
    ]

    static func append(_ value: [UInt8], to output: inout [UInt8]) {
        var index = 0
        while index < value.count {
            guard let length = UTF8Scan.sequenceLength(in: value, at: index) else {
                ASCII.appendHexEscape(value[index], uppercase: true, to: &output)
                index += 1
                continue
            }
            if length == 1 {
                appendASCII(value[index], isFirst: index == 0, isLast: index == value.count - 1, to: &output)
            } else {
                output.append(contentsOf: value[index..<index + length])
            }
            index += length
        }
    }

    private static func appendASCII(_ byte: UInt8, isFirst: Bool, isLast: Bool, to output: inout [UInt8]) {
        if ASCII.isControl(byte) {
            ASCII.appendHexEscape(byte, uppercase: true, to: &output)
            return
        }
        let atEdge = (isFirst && (byte == ASCII.sharp || byte == ASCII.space)) || (isLast && byte == ASCII.space)
        if atEdge || alwaysEscaped.contains(byte) {
            output.append(ASCII.backslash)
        }
        output.append(byte)
    }
}
