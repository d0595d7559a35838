import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import StateStore
import SyncEngine
import Testing
@testable import SyncRunner

/// The member index (SyncState+MemberIndex.swift): incremental runs find their users'
/// groups through it instead of reading every group's members. Each step checks the app's
/// memberships against LDAP's groups, and the index against the group snapshots.
@Suite struct MemberIndexTests {
    /// Which fixture groups (by cn) each person is a member of, as LDAP says now.
    private func ldapMemberships(_ environment: SyncEnvironment, people: Int) throws -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        try environment.root().search(SearchRequest(base: environment.groupsBase, filter: "(objectClass=groupOfNames)",
                                                    attributes: ["cn", "member"])) { entry in
            guard let cn = entry.values(of: "cn")?.first.map({ String(decoding: $0, as: UTF8.self) }) else { return }
            for member in entry.values(of: "member") ?? [] {
                let dn = String(decoding: member, as: UTF8.self)
                for number in 1...people where dn == environment.personDN(number) {
                    result[Fixtures.personUID(number), default: []].insert(cn)
                }
            }
        }
        return result
    }

    private func expectAgreement(_ environment: SyncEnvironment, people: Int, _ comment: Comment) throws {
        let keys = (1...people).map(Fixtures.personUID)
        let groups = Set((1...3).map(Fixtures.groupCN))
        #expect(try environment.memberships(keys, in: groups) == ldapMemberships(environment, people: people), comment)
        // The index holds exactly the snapshots' memberships.
        let state = try SyncState(path: environment.statePath)
        #expect(try state.hasMemberIndex("test"), comment)
        let snapshots = try state.groups("test")
        var memberCount = 0
        for (id, record) in snapshots {
            memberCount += record.members.count
            let holders = try state.groupIDs("test", holding: record.members)
            for member in record.members { #expect(holders[member]?.contains(id) == true, comment) }
        }
        #expect(try state.environment.read { txn in try txn.count(in: state.memberIndex) } == memberCount, comment)
        #expect(try Set(state.groupHeads("test").keys) == Set(snapshots.keys), comment)
    }

    private func modify(_ environment: SyncEnvironment, _ dn: String, _ modification: Modification) throws {
        try environment.root().perform(.modify(dn: dn, modifications: [modification]))
    }

    @Test func incrementalRunsKeepEveryMembershipThroughTheIndex() throws {
        let environment = try SyncEnvironment(people: 10, groups: 2, membersPerGroup: 5)
        try environment.configure(environment.yaml(groups: "  mirror"))
        #expect(try environment.run().exitCode == 0)
        try expectAgreement(environment, people: 10, "after the full run")

        // Person 1 changes (not its groups): its memberships come from the index.
        try environment.moveCursorPastTheFixture()
        try expectAgreement(environment, people: 10, "after incremental runs that decide person 1 only")

        // A group gains a member while another member of an unchanged group changes.
        environment.waitForNextSecond()
        try modify(environment, environment.groupDN(2), Modification(.add, "member", strings: [environment.personDN(2)]))
        try modify(environment, environment.personDN(3), Modification(.replace, "description", strings: ["changed"]))
        try modify(environment, environment.groupDN(1), Modification(.delete, "member", strings: [environment.personDN(4)]))
        let changed = try environment.run()
        #expect(changed.exitCode == 0)
        #expect(changed.summaries[0].full == false)
        try expectAgreement(environment, people: 10, "after group changes")

        // A state without the index (as an older version left it): built again.
        do {
            let state = try SyncState(path: environment.statePath)
            try state.environment.write { txn in
                _ = try txn.removeAll(in: state.groupHeads)
                _ = try txn.removeAll(in: state.memberIndex)
            }
        }
        environment.waitForNextSecond()
        try modify(environment, environment.personDN(6), Modification(.replace, "description", strings: ["changed"]))
        #expect(try environment.run().exitCode == 0)
        try expectAgreement(environment, people: 10, "after the index was rebuilt")

        // A group deleted: its members leave its app group (mirror).
        environment.waitForNextSecond()
        try environment.root().perform(.delete(dn: environment.groupDN(1)))
        let deleted = try environment.run()
        #expect(deleted.exitCode == 0)
        #expect(try environment.memberships([Fixtures.personUID(1)], in: [Fixtures.groupCN(1)]).isEmpty)
        try expectAgreement(environment, people: 10, "after a group was deleted")
    }
}
