import Foundation

/// The soak test's own picture of what LDAP and the app must hold (issue #7). It is written
/// from SPEC §5 and §7, never by calling the engine:
///
/// - `cn` → `name` and `mail` → `email` (multi-valued) are from-ldap: LDAP wins, app edits
///   are reset to the LDAP value;
/// - `telephoneNumber` → `phone` is `both` (conflict policy ldap-wins, the default): the
///   last edit on either side wins. To keep the model exact, a side never edits it while
///   the other side has an edit of it that no completed run has carried yet, so no
///   conflict arises;
/// - `title` is `to-ldap`: the app's value goes to LDAP (LDAP never edits it here);
/// - group rules `everyone ← all`, `alpha ← ga`, `alpha2 ← ga`, `beta ← gb`: every live
///   user is in `all`, so desired(u) is never empty; a user's mapped app groups are
///   exactly the ones whose LDAP group holds it;
/// - `users.autoDeactivate`: a user deleted in LDAP is `active = 0` in the app, in no
///   mapped group, never deleted.
struct SoakUser {
    var uid: String
    var unit: String            // "people" or "staff" (ou=staff,ou=people: in scope)
    var cn: String
    var mails: Set<String>
    var phone: String?
    var title: String?
    var groups: Set<String>     // among "ga", "gb" (every live user is also in "all")
    var alive = true
    /// Every key the user has had; the app row carries one of them.
    var keys: [String]
    /// The key a completed run put in the app; nil until then.
    var confirmedKey: String?
    /// LDAP edits (attribute or "rename", "create", "delete") and app edits not yet carried by a completed run.
    var pendingLDAP: Set<String> = []
    var pendingApp: Set<String> = []

    func dn(_ suffix: String) -> String {
        unit == "people" ? "uid=\(uid),ou=people,\(suffix)" : "uid=\(uid),ou=staff,ou=people,\(suffix)"
    }

    var appGroups: Set<String> {
        var result: Set<String> = ["everyone"]
        if groups.contains("ga") { result.formUnion(["alpha", "alpha2"]) }
        if groups.contains("gb") { result.insert("beta") }
        return result
    }
}

/// SplitMix64: small, seeded, the same sequence on every platform.
struct SoakRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// One row of the app's users table, as read with the sqlite3 shell.
struct AppRow {
    var key: String
    var managed: Bool
    var active: Bool
    var name: String?
    var email: [String]
    var phone: String?
    var title: String?
}

/// The model: users by a stable test id, and the changes each round makes to both sides.
struct SoakModel {
    let suffix: String
    var users: [Int: SoakUser] = [:]
    var counter = 0
    init(suffix: String) { self.suffix = suffix }

    mutating func fresh(_ prefix: String) -> String {
        counter += 1
        return "\(prefix)\(counter)"
    }

    /// The LDIF that creates the starting directory (beyond ou=people/groups/services).
    mutating func initialLDIF(people: Int, random: inout SoakRandom) -> String {
        var ldif = "dn: ou=staff,ou=people,\(suffix)\nobjectClass: organizationalUnit\nou: staff\n\n"
        for _ in 0..<people {
            let (id, user) = newUser(random: &random)
            users[id] = user
            ldif += entryLDIF(user)
        }
        for group in ["all", "ga", "gb"] {
            ldif += "dn: cn=\(group),ou=groups,\(suffix)\nobjectClass: groupOfNames\ncn: \(group)\n"
            // groupOfNames needs a member: a DN outside the user scope, which the rules must ignore.
            ldif += "member: cn=nobody,\(suffix)\n"
            for user in users.values where group == "all" || user.groups.contains(group) {
                ldif += "member: \(user.dn(suffix))\n"
            }
            ldif += "\n"
        }
        return ldif
    }

    private mutating func newUser(random: inout SoakRandom) -> (Int, SoakUser) {
        let uid = fresh("u")
        var groups: Set<String> = []
        if random.chance(50) { groups.insert("ga") }
        if random.chance(30) { groups.insert("gb") }
        var mails: Set<String> = [fresh("m") + "@example.com"]
        if random.chance(30) { mails.insert(fresh("m") + "@example.com") }
        let user = SoakUser(
            uid: uid, unit: random.chance(70) ? "people" : "staff", cn: "Person \(fresh("c"))", mails: mails,
            phone: random.chance(70) ? "+1555\(100_000 + counter)" : nil, title: nil, groups: groups, keys: [uid])
        return (counter, user)
    }

    private func entryLDIF(_ user: SoakUser) -> String {
        var ldif = "dn: \(user.dn(suffix))\nobjectClass: inetOrgPerson\nuid: \(user.uid)\ncn: \(user.cn)\nsn: Soak\n"
        for mail in user.mails.sorted() { ldif += "mail: \(mail)\n" }
        if let phone = user.phone { ldif += "telephoneNumber: \(phone)\n" }
        return ldif + "\n"
    }

    private func memberChange(_ group: String, _ operation: String, _ dn: String) -> String {
        "dn: cn=\(group),ou=groups,\(suffix)\nchangetype: modify\n\(operation): member\nmember: \(dn)\n\n"
    }

    /// Random LDAP changes for one round: the LDIF change records (applied by one
    /// ldapmodify, so several land within one second) and their descriptions.
    mutating func ldapChanges(random: inout SoakRandom) -> (ldif: String, done: [String]) {
        var ldif = ""
        var done: [String] = []
        for _ in 0..<(1 + random.below(5)) {
            let live = users.keys.filter { users[$0]!.alive }.sorted()
            let kind = live.count < 4 ? 0 : random.below(10)
            if kind == 0 {
                let (id, created) = newUser(random: &random)
                var user = created
                user.pendingLDAP.insert("create")
                users[id] = user
                ldif += "dn: \(user.dn(suffix))\nchangetype: add\n" + entryLDIF(user).split(separator: "\n", omittingEmptySubsequences: false).dropFirst().joined(separator: "\n")
                for group in ["all"] + user.groups.sorted() { ldif += memberChange(group, "add", user.dn(suffix)) }
                done.append("create \(user.uid)")
                continue
            }
            let id = random.pick(live)
            var user = users[id]!
            let dn = user.dn(suffix)
            switch kind {
            case 1:
                user.cn = "Person \(fresh("c"))"
                ldif += "dn: \(dn)\nchangetype: modify\nreplace: cn\ncn: \(user.cn)\n\n"
                user.pendingLDAP.insert("cn")
                done.append("cn of \(user.uid)")
            case 2:
                if user.mails.count > 1, random.chance(50) {
                    let gone = user.mails.sorted()[random.below(user.mails.count)]
                    user.mails.remove(gone)
                    ldif += "dn: \(dn)\nchangetype: modify\ndelete: mail\nmail: \(gone)\n\n"
                    done.append("mail -\(gone) of \(user.uid)")
                } else {
                    let added = fresh("m") + "@example.com"
                    user.mails.insert(added)
                    ldif += "dn: \(dn)\nchangetype: modify\nadd: mail\nmail: \(added)\n\n"
                    done.append("mail +\(added) of \(user.uid)")
                }
                user.pendingLDAP.insert("mail")
            case 3:
                guard !user.pendingApp.contains("phone") else { continue }
                user.phone = "+1555\(200_000 + counter)"
                counter += 1
                ldif += "dn: \(dn)\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: \(user.phone!)\n\n"
                user.pendingLDAP.insert("phone")
                done.append("phone of \(user.uid)")
            case 4:
                let newUID = fresh("r")
                ldif += "dn: \(dn)\nchangetype: modrdn\nnewrdn: uid=\(newUID)\ndeleteoldrdn: 1\n\n"
                user.uid = newUID
                user.keys.append(newUID)
                user.pendingLDAP.insert("rename")
                ldif += groupMoves(user, from: dn)
                done.append("rename \(dn) to \(newUID)")
            case 5:
                let target = user.unit == "people" ? "ou=staff,ou=people,\(suffix)" : "ou=people,\(suffix)"
                ldif += "dn: \(dn)\nchangetype: modrdn\nnewrdn: uid=\(user.uid)\ndeleteoldrdn: 1\nnewsuperior: \(target)\n\n"
                user.unit = user.unit == "people" ? "staff" : "people"
                user.pendingLDAP.insert("move")
                ldif += groupMoves(user, from: dn)
                done.append("move \(user.uid) to \(user.unit)")
            case 6:
                guard live.count > 6 else { continue }
                for group in ["all"] + user.groups.sorted() { ldif += memberChange(group, "delete", dn) }
                ldif += "dn: \(dn)\nchangetype: delete\n\n"
                user.alive = false
                user.pendingLDAP.insert("delete")
                done.append("delete \(user.uid)")
            default:
                let group = random.chance(50) ? "ga" : "gb"
                user.pendingLDAP.insert("group " + group)
                if user.groups.contains(group) {
                    user.groups.remove(group)
                    ldif += memberChange(group, "delete", dn)
                    done.append("\(group) -\(user.uid)")
                } else {
                    user.groups.insert(group)
                    ldif += memberChange(group, "add", dn)
                    done.append("\(group) +\(user.uid)")
                }
                user.pendingLDAP.insert("groups")
            }
            users[id] = user
        }
        return (ldif, done)
    }

    /// A rename or move without the refint overlay: the test moves the member values itself.
    private func groupMoves(_ user: SoakUser, from old: String) -> String {
        var ldif = ""
        for group in ["all"] + user.groups.sorted() {
            ldif += "dn: cn=\(group),ou=groups,\(suffix)\nchangetype: modify\ndelete: member\nmember: \(old)\n-\nadd: member\nmember: \(user.dn(suffix))\n\n"
        }
        return ldif
    }

    /// Random app edits for one round, as SQL statements each followed by `select changes();`
    /// (every statement must change exactly one row), and their descriptions. Only users whose
    /// app row a completed run confirmed, with no pending LDAP rename, move, create or delete.
    mutating func appChanges(random: inout SoakRandom) -> (sql: String, statements: Int, done: [String]) {
        var sql = ""
        var count = 0
        var done: [String] = []
        let editable = users.keys.filter {
            let user = users[$0]!
            return user.alive && user.confirmedKey == user.uid && user.pendingLDAP.isDisjoint(with: ["create", "rename", "delete", "move"])
        }.sorted()
        guard !editable.isEmpty else { return ("", 0, []) }
        for _ in 0..<random.below(4) {
            let id = random.pick(editable)
            var user = users[id]!
            let key = user.uid
            let set: String
            switch random.below(4) {
            case 0:
                guard !user.pendingLDAP.contains("phone") else { continue }
                user.phone = "+1555\(300_000 + counter)"
                counter += 1
                user.pendingApp.insert("phone")
                set = "phone = '\(user.phone!)'"
                done.append("app phone of \(key)")
            case 1:
                user.title = "Title \(fresh("t"))"
                user.pendingApp.insert("title")
                set = "title = '\(user.title!)'"
                done.append("app title of \(key)")
            case 2:
                // from-ldap: must be reset to the LDAP value; the model keeps cn.
                set = "name = 'App edit \(fresh("x"))'"
                done.append("app name of \(key) (must be reset)")
            default:
                set = "email = '[\"\(fresh("appmail"))@example.com\"]'"
                done.append("app email of \(key) (must be reset)")
            }
            sql += "update users set \(set), updated_at = strftime('%Y-%m-%dT%H:%M:%SZ','now') where key = '\(key)'; select changes();\n"
            count += 1
            users[id] = user
        }
        return (sql, count, done)
    }

    /// After a run that completed: everything done so far is carried.
    mutating func settle() {
        for id in users.keys {
            users[id]!.pendingLDAP = []
            users[id]!.pendingApp = []
            if users[id]!.alive { users[id]!.confirmedKey = users[id]!.uid }
        }
    }

    /// Every way the app differs from the model (an empty list: they agree).
    func appDivergences(rows: [AppRow], memberships: [(group: String, user: String)]) -> [String] {
        var problems: [String] = []
        var rowsByKey: [String: AppRow] = [:]
        for row in rows {
            if rowsByKey[row.key] != nil { problems.append("duplicate app row \(row.key)") }
            rowsByKey[row.key] = row
        }
        var members: [String: [String]] = [:]
        var seenMemberships = Set<String>()
        for membership in memberships {
            if !seenMemberships.insert("\(membership.group)|\(membership.user)").inserted {
                problems.append("duplicate membership \(membership.group)/\(membership.user)")
            }
            members[membership.user, default: []].append(membership.group)
        }
        let mapped: Set<String> = ["everyone", "alpha", "alpha2", "beta"]
        var explained = Set<String>()
        for user in users.values.sorted(by: { $0.keys[0] < $1.keys[0] }) {
            explained.formUnion(user.keys)
            if user.alive {
                guard let row = rowsByKey[user.uid] else {
                    problems.append("lost: LDAP user \(user.uid) (keys \(user.keys)) has no app row")
                    continue
                }
                if !row.managed || !row.active { problems.append("\(user.uid): managed \(row.managed) active \(row.active), expected both") }
                if row.name != user.cn { problems.append("\(user.uid): name \(row.name ?? "NULL"), expected \(user.cn)") }
                if Set(row.email) != user.mails || row.email.count != user.mails.count {
                    problems.append("\(user.uid): email \(row.email), expected \(user.mails.sorted())")
                }
                if row.phone != user.phone { problems.append("\(user.uid): phone \(row.phone ?? "NULL"), expected \(user.phone ?? "NULL")") }
                if row.title != user.title { problems.append("\(user.uid): title \(row.title ?? "NULL"), expected \(user.title ?? "NULL")") }
                let groups = Set(members[user.uid, default: []]).intersection(mapped)
                if groups != user.appGroups { problems.append("\(user.uid): groups \(groups.sorted()), expected \(user.appGroups.sorted())") }
                for old in user.keys where old != user.uid && rowsByKey[old] != nil {
                    problems.append("duplicate: \(user.uid) also has a row under its old key \(old)")
                }
            } else {
                let present = user.keys.filter { rowsByKey[$0] != nil }
                if present.count > 1 { problems.append("duplicate: deleted user has rows \(present)") }
                if user.confirmedKey != nil, present.isEmpty { problems.append("deleted user \(user.keys) lost its (inactive) app row") }
                for key in present {
                    if rowsByKey[key]!.active { problems.append("deleted user \(key) still active") }
                    let groups = Set(members[key, default: []]).intersection(mapped)
                    if !groups.isEmpty { problems.append("deleted user \(key) still in \(groups.sorted())") }
                }
            }
        }
        for key in rowsByKey.keys.sorted() where !explained.contains(key) {
            problems.append("unexpected app row \(key)")
        }
        return problems
    }
}
