import Foundation

/// Deterministic LDIF for Active Directory entries: OUs, users, groups, and whole
/// populations, for `SambaDC.add(ldif:)`.
///
/// Users are added without a password and with `userAccountControl: 512` (an enabled
/// normal account). Samba 4.17 accepts that (Windows would refuse it until a password
/// that meets the policy is set); a user that a test binds as gets a password with
/// `SambaDC.setPassword(dn:password:)`. Leaving `userAccountControl` out makes Samba
/// create the account disabled (546 = 512 | ACCOUNTDISABLE | PASSWD_NOTREQD).
public enum ADFixtures {
    /// `userAccountControl` of an enabled normal account (NORMAL_ACCOUNT).
    public static let normalAccount = 512
    /// `userAccountControl` of a disabled normal account (NORMAL_ACCOUNT | ACCOUNTDISABLE).
    public static let disabledAccount = 514

    // MARK: DNs

    /// `OU=name,parent`.
    public static func organizationalUnitDN(_ name: String, in parent: String) -> String {
        "OU=\(escapeRDNValue(name)),\(parent)"
    }

    /// `CN=name,parent`: users and groups are named by their `cn`, which the fixtures
    /// make equal to `sAMAccountName`.
    public static func commonNameDN(_ name: String, in parent: String) -> String {
        "CN=\(escapeRDNValue(name)),\(parent)"
    }

    /// The `sAMAccountName` of user `index` of a `users(...)` batch: `prefix` and five digits.
    public static func userName(_ index: Int, prefix: String = "user") -> String {
        prefix + String(format: "%05d", index)
    }

    /// A name unique in this process and across runs, for an OU of one's own on the shared DC.
    public static func uniqueName(_ prefix: String = "t") -> String {
        prefix + "-" + UUID().uuidString.prefix(8).lowercased()
    }

    // MARK: Entries

    /// An organizational unit.
    public static func organizationalUnit(_ name: String, in parent: String) -> String {
        entry(organizationalUnitDN(name, in: parent), [
            ("objectClass", "organizationalUnit"),
            ("ou", name),
        ])
    }

    /// The attributes of one AD user; the optional ones are left out when nil.
    public struct User: Sendable {
        public var name: String
        public var givenName: String?
        public var surname: String?
        public var mail: String?
        public var telephoneNumber: String?
        public var userAccountControl: Int?
        /// Extra attributes, e.g. `("employeeNumber", "42")`.
        public var extra: [(String, String)]

        public init(name: String, givenName: String? = nil, surname: String? = nil, mail: String? = nil,
                    telephoneNumber: String? = nil, userAccountControl: Int? = ADFixtures.normalAccount,
                    extra: [(String, String)] = []) {
            self.name = name
            self.givenName = givenName
            self.surname = surname
            self.mail = mail
            self.telephoneNumber = telephoneNumber
            self.userAccountControl = userAccountControl
            self.extra = extra
        }
    }

    /// A user entry `CN=name,parent` (objectClass user; `sAMAccountName` = cn = name;
    /// `userPrincipalName` name@example.test).
    public static func user(_ user: User, in parent: String) -> String {
        var attributes: [(String, String)] = [
            ("objectClass", "user"),
            ("cn", user.name),
            ("sAMAccountName", user.name),
            ("userPrincipalName", "\(user.name)@example.test"),
        ]
        if let value = user.givenName { attributes.append(("givenName", value)) }
        if let value = user.surname { attributes.append(("sn", value)) }
        if let value = user.mail { attributes.append(("mail", value)) }
        if let value = user.telephoneNumber { attributes.append(("telephoneNumber", value)) }
        if let value = user.userAccountControl { attributes.append(("userAccountControl", String(value))) }
        attributes += user.extra
        return entry(commonNameDN(user.name, in: parent), attributes)
    }

    /// The user `index` of a batch: `user00042`, given name `Given00042`, surname
    /// `Sur00042`, mail `user00042@example.test`, telephone `+1 555 0000042`, enabled.
    public static func numberedUser(_ index: Int, prefix: String = "user") -> User {
        let digits = String(format: "%05d", index)
        return User(name: userName(index, prefix: prefix), givenName: "Given\(digits)", surname: "Sur\(digits)",
                    mail: "\(userName(index, prefix: prefix))@example.test", telephoneNumber: "+1 555 00\(digits)")
    }

    /// `count` numbered users (`numberedUser`, from `start`) under `parent`.
    public static func users(count: Int, in parent: String, prefix: String = "user", start: Int = 1) -> String {
        (start..<(start + count)).map { user(numberedUser($0, prefix: prefix), in: parent) }.joined(separator: "\n")
    }

    /// A global security group `CN=name,parent` (Samba's default `groupType`) with
    /// `members` (DNs) in `member`.
    public static func group(_ name: String, in parent: String, members: [String] = []) -> String {
        entry(commonNameDN(name, in: parent), [
            ("objectClass", "group"),
            ("cn", name),
            ("sAMAccountName", name),
        ] + members.map { ("member", $0) })
    }

    // MARK: Populations

    /// A directory laid out for a sync test, and the LDIF that creates it.
    public struct Population: Sendable {
        /// The LDIF, parents first, for `SambaDC.add(ldif:)`.
        public let ldif: String
        /// `OU=People,…`: the in-scope users (`users.base` of a sync config).
        public let peopleDN: String
        /// `OU=Groups,…`: the groups.
        public let groupsDN: String
        /// `OU=Others,…`: the users outside the sync scope that only fill the large group.
        public let othersDN: String
        /// DNs of the in-scope users, in order (`user00001` …).
        public let userDNs: [String]
        /// DNs of the out-of-scope users, in order (`other00001` …).
        public let otherUserDNs: [String]
        /// DNs of the groups, the large one first.
        public let groupDNs: [String]
        /// The large group, `CN=Large,OU=Groups,…`.
        public var largeGroupDN: String { groupDNs[0] }
        /// Members of each group by DN.
        public let members: [String: [String]]
    }

    /// The population of the AD acceptance tests (issue #6): 2,000 users in `OU=People`,
    /// 50 groups, `Large` with 3,000 members (so 1,000 users in `OU=Others`), under the
    /// domain. Built once per process; pass its `ldif` to `SambaDC.start(ldif:snapshot: true)`
    /// so that only the first test that needs it pays for the load.
    public static let acceptancePopulation = population(users: 2_000, groups: 50, largeGroupMembers: 3_000)

    /// `users` users in `OU=People`, `groups` groups in `OU=Groups` (at least one), and
    /// as many users in `OU=Others` as needed for the first group, `Large`, to have
    /// `largeGroupMembers` members: every People user, then Others users. The other
    /// groups (`group002` …) split the People users between them round-robin.
    ///
    /// The OUs go under `parent` (default: the domain; pass an OU of one's own on the
    /// shared DC, made with `organizationalUnit`).
    public static func population(users: Int, groups: Int, largeGroupMembers: Int,
                                  in parent: String = "DC=example,DC=test") -> Population {
        precondition(groups >= 1, "population needs at least the large group")
        let people = organizationalUnitDN("People", in: parent)
        let groupOU = organizationalUnitDN("Groups", in: parent)
        let others = organizationalUnitDN("Others", in: parent)
        let userDNs = (0..<users).map { commonNameDN(userName($0 + 1), in: people) }
        let otherCount = max(0, largeGroupMembers - users)
        let otherDNs = (0..<otherCount).map { commonNameDN(userName($0 + 1, prefix: "other"), in: others) }

        var records = [
            organizationalUnit("People", in: parent),
            organizationalUnit("Groups", in: parent),
            organizationalUnit("Others", in: parent),
            ADFixtures.users(count: users, in: people),
            ADFixtures.users(count: otherCount, in: others, prefix: "other"),
        ]
        var groupDNs: [String] = []
        var members: [String: [String]] = [:]
        let large = Array((userDNs + otherDNs).prefix(largeGroupMembers))
        groupDNs.append(commonNameDN("Large", in: groupOU))
        members[groupDNs[0]] = large
        records.append(group("Large", in: groupOU, members: large))
        let small = groups - 1
        for number in 0..<small {
            let name = "group" + String(format: "%03d", number + 2)
            let dn = commonNameDN(name, in: groupOU)
            let groupMembers = userDNs.enumerated().filter { $0.offset % small == number }.map(\.element)
            groupDNs.append(dn)
            members[dn] = groupMembers
            records.append(group(name, in: groupOU, members: groupMembers))
        }
        return Population(ldif: records.filter { !$0.isEmpty }.joined(separator: "\n"), peopleDN: people, groupsDN: groupOU,
                          othersDN: others, userDNs: userDNs, otherUserDNs: otherDNs, groupDNs: groupDNs, members: members)
    }

    // MARK: Changes

    /// A modify record that sets `unicodePwd`: the password in double quotes, UTF-16LE,
    /// base64 in the LDIF. AD accepts it over an encrypted connection only (ldaps).
    public static func passwordChange(dn: String, password: String) -> String {
        let quoted = "\"" + password + "\""
        var bytes: [UInt8] = []
        for unit in quoted.utf16 {
            bytes.append(UInt8(unit & 0xFF))
            bytes.append(UInt8(unit >> 8))
        }
        return line("dn", dn) + "changetype: modify\nreplace: unicodePwd\n"
            + "unicodePwd:: \(Data(bytes).base64EncodedString())\n-\n"
    }

    /// A modify record that replaces `userAccountControl`.
    public static func userAccountControlChange(dn: String, value: Int) -> String {
        line("dn", dn) + "changetype: modify\nreplace: userAccountControl\nuserAccountControl: \(value)\n-\n"
    }

    // MARK: LDIF text

    /// One entry: `dn` and the attributes in order, each value base64-encoded when it is
    /// not an LDIF SAFE-STRING; a trailing blank line separates it from the next.
    public static func entry(_ dn: String, _ attributes: [(String, String)]) -> String {
        line("dn", dn) + attributes.map { line($0.0, $0.1) }.joined() + "\n"
    }

    /// `name: value`, or `name:: base64` when the value is not an LDIF SAFE-STRING.
    static func line(_ name: String, _ value: String) -> String {
        let bytes = Array(value.utf8)
        let unsafeStart = bytes.first.map { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "<") } ?? false
        let safe = !unsafeStart && bytes.last != UInt8(ascii: " ")
            && bytes.allSatisfy { $0 < 0x80 && $0 != 0 && $0 != 0x0A && $0 != 0x0D }
        return safe ? "\(name): \(value)\n" : "\(name):: \(Data(bytes).base64EncodedString())\n"
    }

    /// RFC 4514 escaping of an attribute value inside an RDN.
    public static func escapeRDNValue(_ value: String) -> String {
        var escaped = ""
        for (offset, character) in value.enumerated() {
            switch character {
            case ",", "+", "\"", "\\", "<", ">", ";", "=":
                escaped += "\\" + String(character)
            case "#" where offset == 0, " " where offset == 0 || offset == value.count - 1:
                escaped += "\\" + String(character)
            default:
                escaped.append(character)
            }
        }
        return escaped
    }
}
