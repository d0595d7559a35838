import DirectoryModel
import SyncEngine

/// The user, groups and values the engine tests share: one LDAP user `jdoe` whose data in
/// LDAP differs from the app row, so that "the user data is updated" is visible as a write.
enum Fixture {
    static let userID: [UInt8] = Array("7f3c0a4e-0d2b-4c55-9a61-3b0e2f1d5c88".utf8)
    static let userDN = "uid=jdoe,ou=people,dc=example,dc=com"
    static let key = "jdoe"
    static let otherUserDN = "uid=asmith,ou=people,dc=example,dc=com"

    static let groupLDAP = "cn=GrpLDAP,ou=groups,dc=example,dc=com"
    static let groupLDAPB = "cn=GrpLDAP_B,ou=groups,dc=example,dc=com"

    static let attributes = [
        MappedAttribute(ldap: "mail", column: "email", caseInsensitive: true),
        MappedAttribute(ldap: "givenName", column: "first_name"),
        MappedAttribute(ldap: "sn", column: "last_name"),
    ]

    /// The user's values in LDAP now.
    static let ldapValues: [AttributeName: [[UInt8]]] = [
        "mail": [bytes("john.doe@example.com")],
        "givenName": [bytes("John")],
        "sn": [bytes("Doe")],
    ]

    /// The values LDAP held at the last run (the snapshot), which the app row still holds:
    /// LDAP changed `mail` and `givenName` since.
    static let previousLDAPValues: [AttributeName: [[UInt8]]] = [
        "mail": [bytes("j.doe@old.example.com")],
        "givenName": [bytes("Johnny")],
        "sn": [bytes("Doe")],
    ]

    /// The app row's mapped columns, which differ from LDAP now.
    static let staleAppValues: [String: AppValue] = [
        "email": .text("j.doe@old.example.com"),
        "first_name": .text("Johnny"),
        "last_name": .text("Doe"),
    ]

    /// The columns that an update must write: exactly those whose LDAP value differs.
    static let expectedUpdate: [String: AppValue] = [
        "email": .text("john.doe@example.com"),
        "first_name": .text("John"),
    ]

    /// The columns a created user gets: every mapped attribute.
    static let expectedCreatedValues: [String: AppValue] = [
        "email": .text("john.doe@example.com"),
        "first_name": .text("John"),
        "last_name": .text("Doe"),
    ]

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func user(dn: String = userDN, key: String = key, values: [AttributeName: [[UInt8]]] = ldapValues,
                     memberOf: [String] = []) throws -> DirectoryUser {
        DirectoryUser(id: userID, dn: dn, dnKey: try DNKey.make(dn), key: key, values: values, memberOf: memberOf)
    }

    static func snapshot(values: [AttributeName: [[UInt8]]] = previousLDAPValues, key: String = key) -> UserSnapshot {
        UserSnapshot(dn: userDN, dnKey: (try? DNKey.make(userDN)) ?? userDN, key: key, values: values)
    }

    /// An LDAP group by DN, its `cn` as the mirror name, with the given member DNs.
    static func group(_ dn: String, members: [String]) throws -> (String, GroupRecord) {
        let cn = String(dn.split(separator: ",")[0].dropFirst(3))
        var references: Set<MemberReference> = []
        for member in members { references.insert(.dn(try DNKey.make(member))) }
        return (try DNKey.make(dn), GroupRecord(dn: dn, name: cn, members: references))
    }

    static func groups(_ list: (String, [String])...) throws -> [String: GroupRecord] {
        var result: [String: GroupRecord] = [:]
        for (dn, members) in list {
            let (key, record) = try group(dn, members: members)
            result[key] = record
        }
        return result
    }

    static func rule(_ appGroup: String, _ ldapGroup: String) throws -> AppGroupRule {
        AppGroupRule(appGroup: appGroup, ldapGroup: try DNKey.make(ldapGroup))
    }
}

/// A model of the app store that applies a plan's changes the way the store's transaction
/// would, and notes every write that could not apply cleanly (a write to a missing row, a
/// second create, a membership added twice or removed while absent).
struct AppModel {
    var users: [String: AppUser] = [:]
    /// Every membership, including those of app groups ldapsync does not manage.
    var memberships: [String: Set<String>] = [:]
    private(set) var problems: [String] = []

    init(users: [AppUser] = [], memberships: [String: Set<String>] = [:]) {
        for user in users { self.users[user.key] = user }
        self.memberships = memberships
    }

    func groups(of key: String) -> Set<String> { memberships[key] ?? [] }

    mutating func apply(_ changes: [AppChange]) {
        for change in changes {
            switch change {
            case .create(let user):
                if users[user.key] != nil { problems.append("create of existing \(user.key)") }
                users[user.key] = user
            case .update(let key, let values):
                guard users[key] != nil else { problems.append("update of missing \(key)"); continue }
                users[key]!.values.merge(values) { $1 }
            case .setManaged(let key, let managed):
                guard users[key] != nil else { problems.append("setManaged of missing \(key)"); continue }
                users[key]!.managed = managed
            case .setActive(let key, let active):
                guard users[key] != nil else { problems.append("setActive of missing \(key)"); continue }
                users[key]!.active = active
            case .rename(let from, let to):
                guard var user = users.removeValue(forKey: from) else { problems.append("rename of missing \(from)"); continue }
                if users[to] != nil { problems.append("rename onto existing \(to)") }
                user.key = to
                users[to] = user
                if let groups = memberships.removeValue(forKey: from) { memberships[to] = groups }
            case .addMembership(let user, let group):
                if users[user] == nil { problems.append("membership of missing \(user)") }
                if !memberships[user, default: []].insert(group).inserted { problems.append("\(user) already in \(group)") }
            case .removeMembership(let user, let group):
                if memberships[user]?.remove(group) == nil { problems.append("\(user) was not in \(group)") }
            }
        }
    }
}

extension UserPlan {
    /// The `.update` changes' columns, merged.
    var updatedValues: [String: AppValue]? {
        var result: [String: AppValue]?
        for case .update(_, let values) in changes { result = (result ?? [:]).merging(values) { $1 } }
        return result
    }

    var createdUser: AppUser? {
        for case .create(let user) in changes { return user }
        return nil
    }

    var activeChanges: [Bool] {
        changes.compactMap { if case .setActive(_, let active) = $0 { active } else { nil } }
    }

    var managedChanges: [Bool] {
        changes.compactMap { if case .setManaged(_, let managed) = $0 { managed } else { nil } }
    }

    var membershipChanges: [AppChange] {
        changes.filter {
            switch $0 {
            case .addMembership, .removeMembership: true
            default: false
            }
        }
    }
}

extension Collection {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
