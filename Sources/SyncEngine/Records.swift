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
    /// The DN's comparison key (``DNKey``), kept so it is computed once per change.
    public var dnKey: String
    public var key: String
    public var values: [AttributeName: [[UInt8]]]
    public var memberOf: [String]
    public var timestamp: Timestamp?

    public init(dn: String, dnKey: String, key: String, values: [AttributeName: [[UInt8]]], memberOf: [String] = [], timestamp: Timestamp? = nil) {
        self.dn = dn
        self.dnKey = dnKey
        self.key = key
        self.values = values
        self.memberOf = memberOf
        self.timestamp = timestamp
    }

    public init(_ user: DirectoryUser) {
        self.init(dn: user.dn, dnKey: user.dnKey, key: user.key, values: user.values, memberOf: user.memberOf, timestamp: user.timestamp)
    }

    /// This snapshot with the agreed values of `attributes` taken from `previous` (absent
    /// where `previous` has none): a write-back that failed or may not have reached LDAP
    /// leaves those attributes agreed as they were, so the app's edit is merged again.
    public func keepingAgreed(_ attributes: Set<AttributeName>, from previous: UserSnapshot?) -> UserSnapshot {
        var result = self
        for attribute in attributes { result.values[attribute] = previous?.values[attribute] }
        return result
    }

    /// The user as the directory held it at the snapshot.
    public func directoryUser(id: [UInt8]) -> DirectoryUser {
        DirectoryUser(id: id, dn: dn, dnKey: dnKey, key: key, values: values, memberOf: memberOf, timestamp: timestamp)
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
        if let key = simpleKey(dn) { return key }
        return try DistinguishedName(parsing: dn).normalized.description
    }

    /// The key of a `uniqueMember` value, whose optional `#'0101'B` UID suffix
    /// (RFC 4517 nameAndOptionalUID) is not part of the name.
    public static func make(uniqueMember value: String) throws(DNError) -> String {
        if let hash = value.lastIndex(of: "#"), value[hash...].hasSuffix("'B"), value[value.index(after: hash)...].hasPrefix("'") {
            return try make(String(value[..<hash]))
        }
        return try make(value)
    }

    /// The key of a plain ASCII DN without escapes, quotes, multi-valued RDNs or BER
    /// values — nearly every DN in practice — computed in one pass over its bytes. It is
    /// exactly what the full parse and normalization produce for such a DN (a property
    /// test checks this); anything else returns nil and takes the full path.
    static func simpleKey(_ dn: String) -> String? {
        var dn = dn
        return dn.withUTF8 { simpleKey(bytes: $0) }
    }

    /// The key of a DN given as UTF-8 bytes (a `member` value as the server sent it): nil
    /// when the bytes are not UTF-8 or the DN cannot be parsed, as for the same text given
    /// to ``make(_:)``. The plain ASCII DNs of ``simpleKey(_:)`` need no `String` first.
    public static func make(utf8 bytes: UnsafeRawBufferPointer) -> String? {
        let buffer = bytes.assumingMemoryBound(to: UInt8.self)
        if let key = simpleKey(bytes: buffer) { return key }
        guard let text = UTF8Text.string(buffer) else { return nil }
        return try? DistinguishedName(parsing: text).normalized.description
    }

    /// ``simpleKey(_:)`` on the DN's UTF-8 bytes, written straight into the key's storage.
    static func simpleKey(bytes input: UnsafeBufferPointer<UInt8>) -> String? {
        if input.isEmpty { return "" }
        var simple = true
        // Each input byte gives at most one output byte (a folded space run gives one).
        let key = String(unsafeUninitializedCapacity: input.count) { output in
            simpleKeyClasses.withUnsafeBufferPointer { classes in
                var count = 0
                var inValue = false
                var rdnStart = 0            // where the current RDN's type starts in output
                var valueStart = 0          // where the current value starts in output
                var pendingSpace = false
                var spaceInType = false
                for byte in input {
                    switch classes[Int(byte)] {
                    case SimpleKeyClass.other:
                        if pendingSpace { output[count] = 0x20; count += 1; pendingSpace = false }
                        if !inValue, spaceInType { simple = false; return 0 }
                        output[count] = byte
                        count += 1
                    case SimpleKeyClass.upper:
                        if pendingSpace { output[count] = 0x20; count += 1; pendingSpace = false }
                        if !inValue, spaceInType { simple = false; return 0 }
                        output[count] = byte | 0x20
                        count += 1
                    case SimpleKeyClass.comma:
                        guard inValue, count > valueStart else { simple = false; return 0 }
                        output[count] = byte; count += 1
                        inValue = false
                        pendingSpace = false
                        spaceInType = false
                        rdnStart = count
                    case SimpleKeyClass.equals:
                        if inValue {
                            if pendingSpace { output[count] = 0x20; count += 1; pendingSpace = false }
                            output[count] = byte; count += 1
                        } else {
                            guard isAttributeType(UnsafeBufferPointer(UnsafeMutableBufferPointer(rebasing: output[rdnStart..<count]))) else {
                                simple = false
                                return 0
                            }
                            output[count] = byte; count += 1
                            inValue = true
                            valueStart = count
                        }
                    case SimpleKeyClass.space:
                        // Spaces around types are insignificant; inside a value, runs fold to one.
                        if inValue {
                            if count > valueStart { pendingSpace = true }
                        } else if count > rdnStart {
                            spaceInType = true
                        }
                    default:
                        // Non-ASCII, controls, escapes, quotes, multi-valued RDNs, BER values.
                        simple = false
                        return 0
                    }
                }
                guard inValue, count > valueStart else { simple = false; return 0 }
                return count
            }
        }
        return simple ? key : nil
    }

    /// A descriptor (`cn`, `ms-DS-x`) or a dotted OID (`2.5.4.3`), already lower-cased.
    private static func isAttributeType(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = bytes.first else { return false }
        if first >= 0x30 && first <= 0x39 {
            return bytes.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") } && bytes.last != UInt8(ascii: ".")
                && !bytes.indices.dropFirst().contains { bytes[$0] == UInt8(ascii: ".") && bytes[$0 - 1] == UInt8(ascii: ".") }
        }
        guard first >= 0x61 && first <= 0x7A else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "-") }
    }
}

/// The kinds of bytes ``DNKey/simpleKey(bytes:)`` tells apart, by a table look-up.
private enum SimpleKeyClass {
    static let reject: UInt8 = 0
    static let comma: UInt8 = 1
    static let equals: UInt8 = 2
    static let space: UInt8 = 3
    static let upper: UInt8 = 4
    static let other: UInt8 = 5
}

private let simpleKeyClasses: [UInt8] = (0...255).map { (byte: Int) -> UInt8 in
    switch byte {
    case 0x80..., 0x00..<0x09, 0x0E..<0x20, 0x7F,
         0x5C, 0x22, Int(UInt8(ascii: "+")), Int(UInt8(ascii: "#")),  // backslash, quote
         Int(UInt8(ascii: ";")), Int(UInt8(ascii: "<")), Int(UInt8(ascii: ">")):
        SimpleKeyClass.reject
    case Int(UInt8(ascii: ",")): SimpleKeyClass.comma
    case Int(UInt8(ascii: "=")): SimpleKeyClass.equals
    case 0x09...0x0D, 0x20: SimpleKeyClass.space
    case 0x41...0x5A: SimpleKeyClass.upper
    default: SimpleKeyClass.other
    }
}
