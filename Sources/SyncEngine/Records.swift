import DirectoryModel

/// A user as the directory holds it now (mapped attributes only).
public struct DirectoryUser: Sendable, Hashable {
    /// The immutable id (`entryUUID`, `objectGUID`) as bytes.
    public var id: [UInt8]
    public var dn: String
    /// The DN's comparison key (``DNKey``), which group `member` values are matched on.
    public var dnKey: String
    /// The app key (value of the key attribute).
    public var key: String
    /// Mapped attributes' values; an absent attribute has no entry.
    public var values: [AttributeName: [[UInt8]]]
    /// The DN keys (``DNKey``) of the groups listed in this user's `memberOf` (only when
    /// the directory expresses membership that way).
    public var memberOf: [String]
    /// The entry's timestamp attribute, when parseable.
    public var timestamp: Timestamp?

    public init(id: [UInt8], dn: String, dnKey: String, key: String, values: [AttributeName: [[UInt8]]],
                memberOf: [String] = [], timestamp: Timestamp? = nil) {
        self.id = id
        self.dn = dn
        self.dnKey = dnKey
        self.key = key
        self.values = values
        self.memberOf = memberOf
        self.timestamp = timestamp
    }
}

/// The last state of a user that both sides agreed on: the merge base (SPEC §1).
///
/// It is the directory's state as of the last run that applied it, so a user that is not
/// re-read in an incremental run is still known exactly.
public struct UserSnapshot: Sendable, Hashable {
    public var dn: String
    public var key: String
    public var values: [AttributeName: [[UInt8]]]
    public var memberOf: [String]
    public var timestamp: Timestamp?

    public init(dn: String, key: String, values: [AttributeName: [[UInt8]]], memberOf: [String] = [], timestamp: Timestamp? = nil) {
        self.dn = dn
        self.key = key
        self.values = values
        self.memberOf = memberOf
        self.timestamp = timestamp
    }

    public init(_ user: DirectoryUser) {
        self.init(dn: user.dn, key: user.key, values: user.values, memberOf: user.memberOf, timestamp: user.timestamp)
    }

    /// The user as the directory held it at the snapshot.
    public func directoryUser(id: [UInt8]) throws(DNError) -> DirectoryUser {
        DirectoryUser(id: id, dn: dn, dnKey: try DNKey.make(dn), key: key, values: values, memberOf: memberOf, timestamp: timestamp)
    }
}

/// A reference from a group to a member: a DN (`member`, `uniqueMember`) or a key
/// (`memberUid`).
public enum MemberReference: Sendable, Hashable {
    /// A member DN's key (``DNKey``).
    case dn(String)
    case key(String)
}

/// A group as the directory holds it, and as the snapshot keeps it.
public struct GroupRecord: Sendable, Hashable {
    public var dn: String
    /// The app group name in `mirror` mode (the group's `cn`).
    public var name: String
    public var members: Set<MemberReference>
    public var timestamp: Timestamp?

    public init(dn: String, name: String, members: Set<MemberReference>, timestamp: Timestamp? = nil) {
        self.dn = dn
        self.name = name
        self.members = members
        self.timestamp = timestamp
    }
}

/// The comparison key of a DN: its normalized RFC 4514 form (types lower-cased, values
/// case-folded with insignificant spaces removed, multi-valued RDNs sorted), as
/// directories compare naming attributes. Cheap to store and compare as a `String`.
public enum DNKey {
    public static func make(_ dn: String) throws(DNError) -> String {
        try DistinguishedName(parsing: dn).normalized.description
    }

    /// The key of a `uniqueMember` value, whose optional `#'0101'B` UID suffix
    /// (RFC 4517 nameAndOptionalUID) is not part of the name.
    public static func make(uniqueMember value: String) throws(DNError) -> String {
        if let hash = value.lastIndex(of: "#"), value[hash...].hasSuffix("'B"), value[value.index(after: hash)...].hasPrefix("'") {
            return try make(String(value[..<hash]))
        }
        return try make(value)
    }
}
