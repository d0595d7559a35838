import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import SyncRunner
import Testing

@Suite struct DeletionAndRenameTests {
    @Test(arguments: [true, false])
    func aUserDeletedFromLDAPIsDeactivatedOnlyWithAutoDeactivate(autoDeactivate: Bool) throws {
        let environment = try SyncEnvironment(people: 10, groups: 0)
        try environment.configure(environment.yaml(users: "{ autoDeactivate: \(autoDeactivate) }"))
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.delete(dn: environment.personDN(5)))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        let user = try #require(try environment.managedUsers()[Fixtures.personUID(5)])
        #expect(user.active == !autoDeactivate)
        #expect(run.summaries[0].deactivated == (autoDeactivate ? 1 : 0))
        // Never deleted from the app.
        #expect(try environment.managedUsers().count == 10)
    }

    /// A run over a directory with no snapshot users looks none up while deciding, but it
    /// still finds the deactivation marks: every user deleted, then one back, is
    /// reactivated.
    @Test func aUserBackInAnEmptiedDirectoryIsReactivated() throws {
        let environment = try SyncEnvironment(people: 2, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        environment.waitForNextSecond()
        for person in 1...2 { try environment.root().perform(.delete(dn: environment.personDN(person))) }
        let emptied = try environment.run()
        #expect(emptied.summaries[0].deactivated == 2)
        #expect(try environment.managedUsers().values.allSatisfy { !$0.active })
        environment.waitForNextSecond()
        let uid = Fixtures.personUID(1)
        try environment.server.add(ldif: HostileDataTests.personLDIF(dn: environment.personDN(1), uid: uid, cn: "Back Again"))
        let back = try environment.run()
        #expect(back.exitCode == 0)
        #expect(back.summaries[0].reactivated == 1)
        #expect(try environment.managedUsers()[uid]?.active == true)
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.active == false)
    }

    @Test func aUserRemovedFromEveryMappedGroupLeavesTheGroupsButStaysActive() throws {
        let environment = try SyncEnvironment(people: 10, groups: 1, membersPerGroup: 4)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1)])))
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.groupDN(1), modifications: [
            Modification(.delete, "member", strings: [environment.personDN(2)]),
        ]))
        let run = try environment.run()
        #expect(run.summaries[0].membershipsRemoved == 1)
        #expect(run.summaries[0].deactivated == 0)
        let key = Fixtures.personUID(2)
        #expect(try environment.memberships([key], in: ["GrpAE"])[key] == nil)
        #expect(try environment.managedUsers()[key]?.active == true)
    }

    @Test func tooManyDeactivationsTripTheSafetyLimitUnlessForced() throws {
        let environment = try SyncEnvironment(people: 20, groups: 0)
        try environment.configure(environment.yaml(safety: "{ maxDeactivations: 5%, maxGroupRemovals: 100% }"))
        _ = try environment.run()
        environment.waitForNextSecond()
        let root = try environment.root()
        try root.perform(.delete(dn: environment.personDN(1)))
        try root.perform(.delete(dn: environment.personDN(2)))
        let cursorBefore = try environment.status().cursor

        let error = #expect(throws: RunError.self) { try environment.run() }
        #expect(error?.exitCode == 5)
        #expect(error?.description.contains("maxDeactivations") == true)
        #expect(try environment.managedUsers().values.allSatisfy(\.active))
        #expect(try environment.status().cursor == cursorBefore)

        var forced = RunOptions()
        forced.force = true
        let run = try environment.run(forced)
        #expect(run.summaries[0].deactivated == 2)
        #expect(try environment.managedUsers().values.filter { !$0.active }.count == 2)
    }

    @Test func aListingCutShortDeactivatesNobodyAndKeepsTheCursor() throws {
        // The sync account is replaced by the limited one, whose size limit (5) cuts the
        // id-only listing of the 12 users short.
        var slapd = SlapdServer.Configuration()
        slapd.sizeLimit = 5
        let environment = try SyncEnvironment(people: 12, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.delete(dn: environment.personDN(3)))
        let cursorBefore = try environment.status().cursor
        let limited = environment.yaml().replacingOccurrences(of: environment.server.configuration.syncDN,
                                                              with: environment.server.configuration.limitedDN)
        try limited.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        try environment.server.configuration.limitedPassword.write(toFile: environment.directory.appendingPathComponent("sync.pw").path,
                                                                   atomically: true, encoding: .utf8)
        #expect(throws: RunError.self) { try environment.run() }
        #expect(try environment.managedUsers().values.allSatisfy(\.active))
        #expect(try environment.status().cursor == cursorBefore)
    }

    @Test func aRenamedUserStaysOneAppUserWithTheNewKeyAndItsMemberships() throws {
        let environment = try SyncEnvironment(people: 6, groups: 1, membersPerGroup: 3)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1)])))
        _ = try environment.run()
        environment.waitForNextSecond()
        let root = try environment.root()
        try root.perform(.rename(dn: environment.personDN(2), newRDN: "uid=renamed", newSuperior: nil, deleteOldRDN: true))
        // Without the refint overlay the group still names the old DN: update it as an
        // administrator (or the overlay) would.
        try root.perform(.modify(dn: environment.groupDN(1), modifications: [
            Modification(.delete, "member", strings: [environment.personDN(2)]),
            Modification(.add, "member", strings: ["uid=renamed,\(environment.peopleBase)"]),
        ]))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].created == 0)
        let users = try environment.managedUsers()
        #expect(users["renamed"] != nil)
        #expect(users[Fixtures.personUID(2)] == nil)
        #expect(users.count == 3)
        #expect(try environment.memberships(["renamed"], in: ["GrpAE"])["renamed"] == ["GrpAE"])
    }
}
