/// An LDAP attribute description: a type name with optional options, compared
/// case-insensitively (`mail`, `MAIL` and `Mail` are one attribute; AD answers
/// `modifyTimeStamp` where OpenLDAP answers `modifyTimestamp`).
///
/// The spelling the server or the configuration used is kept for display; options such as
/// `member;range=0-1499` or `userCertificate;binary` are kept as part of the description.
public struct AttributeName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The description as written, with its options.
    public let description: String
    /// The lower-cased description, used for equality and hashing.
    public let folded: String

    public init(_ description: String) {
        self.description = description
        self.folded = description.lowercased()
    }

    public init(stringLiteral value: String) { self.init(value) }

    /// The attribute type without options (`member` for `member;range=0-1499`).
    public var type: AttributeName {
        guard let semicolon = description.firstIndex(of: ";") else { return self }
        return AttributeName(String(description[..<semicolon]))
    }

    /// The options after the type, lower-cased (`["range=0-1499"]`).
    public var options: [String] {
        folded.split(separator: ";", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    public static func == (lhs: AttributeName, rhs: AttributeName) -> Bool { lhs.folded == rhs.folded }
    public func hash(into hasher: inout Hasher) { hasher.combine(folded) }
}
