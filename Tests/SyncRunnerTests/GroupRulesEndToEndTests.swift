import AppStore
import DirectoryModel
import Foundation
import SlapdSupport
import SyncRunner
import Testing

/// A representative subset of seed 003's scenarios (the engine tests cover every row),
/// end to end against slapd and SQLite.
@Suite struct GroupRulesEndToEndTests {
    @Test func seedScenariosHoldEndToEnd() throws {
        let environment = try SyncEnvironment(people: 10, groups: 0)
        let root = try environment.root()
        func group(_ number: Int, _ members: [Int]) throws {
            try root.perform(.add(dn: environment.groupDN(number), attributes: [
                Attribute("objectClass", strings: ["groupOfNames"]), Attribute("cn", strings: [Fixtures.groupCN(number)]),
                Attribute("member", strings: members.map(environment.personDN)),
            ]))
        }
        try group(1, [1, 2, 5])  // GrpLDAP
        try group(2, [3, 5])     // GrpLDAP_B
        try environment.configure(environment.yaml(groups: environment.rules([
            ("GrpAE", 1), ("GrpAE_B", 2),     // scenarios I and II: 1:1 rules
            ("GrpAE_C", 1),                   // scenario IV: two app groups on one LDAP group
            ("GrpAE_U", 1), ("GrpAE_U", 2),   // scenario V: one app group on two LDAP groups (union)
        ])))
        let uid = Fixtures.personUID
        let store = try environment.appStore()
        try store.apply([
            // II: in GrpAE, but in LDAP only in GrpLDAP_B.
            .create(AppUser(key: uid(3), managed: true, values: ["name": .text("Old Name")])),
            .addMembership(user: uid(3), group: "GrpAE"),
            // I: in GrpAE, in LDAP but in no mapped group.
            .create(AppUser(key: uid(4), managed: true, values: ["name": .text("Stale")])),
            .addMembership(user: uid(4), group: "GrpAE"),
            // An untagged app user in a mapped LDAP group.
            .create(AppUser(key: uid(2), managed: true, values: ["name": .text("Local")])),
            .setManaged(key: uid(2), false),
            // Membership of an unmapped app group.
            .create(AppUser(key: uid(1), managed: true)),
            .addMembership(user: uid(1), group: "Other"),
        ])

        let run = try environment.run()
        #expect(run.exitCode == 0)
        let users = try environment.managedUsers()
        let all: Set<String> = ["GrpAE", "GrpAE_B", "GrpAE_C", "GrpAE_U", "Other"]
        let groups = try environment.memberships((1...10).map(uid), in: all)

        #expect(groups[uid(1)] == ["GrpAE", "GrpAE_C", "GrpAE_U", "Other"])
        #expect(groups[uid(3)] == ["GrpAE_B", "GrpAE_U"])
        #expect(users[uid(3)]?.values["name"] != .text("Old Name"))
        #expect(groups[uid(4)] == nil)
        #expect(users[uid(4)]?.values["name"] == .text("Stale"))
        #expect(users[uid(4)]?.active == true)
        #expect(users[uid(2)] == nil)
        #expect(groups[uid(2)] == nil)
        #expect(try store.users(withKeys: [uid(2)])[uid(2)]?.values["name"] == .text("Local"))
        #expect(groups[uid(5)] == ["GrpAE", "GrpAE_B", "GrpAE_C", "GrpAE_U"])
        #expect(users[uid(5)]?.managed == true)
        // People in no mapped group are not created.
        #expect(users[uid(6)] == nil)
        #expect(run.summaries[0].skippedUntagged == 1)
    }
}
