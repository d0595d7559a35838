import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import SyncRunner
import Testing

@Suite struct SyncRunTests {
    @Test func firstRunImportsEverythingAndASecondRunWritesNothing() throws {
        let environment = try SyncEnvironment(people: 30, groups: 0)
        try environment.configure(environment.yaml())
        let first = try environment.run()
        #expect(first.exitCode == 0)
        #expect(first.summaries[0].full)
        #expect(first.summaries[0].created == 30)
        let users = try environment.managedUsers()
        #expect(users.count == 30)
        let one = try #require(users[Fixtures.personUID(7)])
        #expect(one.active && one.managed)
        #expect(one.values["email"] == .text("\(Fixtures.personUID(7))@example.com"))

        environment.waitForNextSecond()
        let second = try environment.run()
        #expect(second.exitCode == 0)
        #expect(!second.summaries[0].full)
        // Entries of the cursor's own second are read again (>=, SPEC I2) and are no-ops.
        #expect(second.summaries[0].changes == 0)
        #expect(try environment.managedUsers() == users)
    }

    /// Each page's users are decided after the next page is asked for, the last page's
    /// after the search: every user of every page once, with its memberships.
    @Test func aReadOverManyPagesDecidesEveryUserOnce() throws {
        let environment = try SyncEnvironment(people: 23, groups: 2, membersPerGroup: 12)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpA", 1), ("GrpB", 2)]), directoryExtra: "pageSize: 5"))
        let first = try environment.run()
        #expect(first.exitCode == 0)
        #expect(first.summaries[0].userPages == 5)
        #expect(first.summaries[0].created == 23)
        let keys = (1...23).map(Fixtures.personUID)
        #expect(Set(try environment.managedUsers().keys) == Set(keys))
        // Group 1 holds people 1–12, group 2 people 13–23 and 1 (wrapping around).
        let memberships = try environment.memberships(keys, in: ["GrpA", "GrpB"])
        #expect(memberships[Fixtures.personUID(12)] == ["GrpA"])
        #expect(memberships[Fixtures.personUID(23)] == ["GrpB"])
        #expect(memberships[Fixtures.personUID(1)] == ["GrpA", "GrpB"])
        #expect(memberships.values.reduce(0) { $0 + $1.count } == 24)
        environment.waitForNextSecond()
        let second = try environment.run()
        #expect(second.summaries[0].changes == 0)
    }

    @Test func incrementalRunFetchesOnlyWhatChanged() throws {
        let environment = try SyncEnvironment(people: 40, groups: 2, membersPerGroup: 5)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1), ("GrpAE_B", 2)])))
        let first = try environment.run()
        #expect(first.summaries[0].created == 10)
        // A first change moves the cursor past the fixture's load time; entries of the
        // cursor's own second are always read again (>=, SPEC I2).
        environment.waitForNextSecond()
        let root = try environment.root()
        try root.perform(.modify(dn: environment.personDN(1), modifications: [Modification(.replace, "description", strings: ["warm-up"])]))
        try root.perform(.modify(dn: environment.groupDN(1), modifications: [Modification(.replace, "description", strings: ["warm-up"])]))
        _ = try environment.run()
        environment.waitForNextSecond()

        for number in [1, 2, 6] {
            try root.perform(.modify(dn: environment.personDN(number), modifications: [
                Modification(.replace, "telephoneNumber", strings: ["+49 30 \(number)"]),
            ]))
        }
        // Person 20 joins group 1 (and so GrpAE); person 3 leaves it.
        try root.perform(.modify(dn: environment.groupDN(1), modifications: [
            Modification(.add, "member", strings: [environment.personDN(20)]),
            Modification(.delete, "member", strings: [environment.personDN(3)]),
        ]))

        let second = try environment.run()
        let summary = second.summaries[0]
        #expect(!summary.full)
        // The 3 modified users, and the 2 whose group membership changed (read again by id).
        #expect(summary.fetchedUsers == 5)
        #expect(summary.fetchedGroups == 1)
        #expect(summary.updated == 3)
        #expect(summary.created == 1)  // person 20 is now synced
        #expect(summary.membershipsAdded == 1)
        #expect(summary.membershipsRemoved == 1)
        let users = try environment.managedUsers()
        #expect(users[Fixtures.personUID(6)]?.values["phone"] == .text("+49 30 6"))
        let groups = try environment.memberships([Fixtures.personUID(3), Fixtures.personUID(20)], in: ["GrpAE", "GrpAE_B"])
        #expect(groups[Fixtures.personUID(20)] == ["GrpAE"])
        #expect(groups[Fixtures.personUID(3)] == nil)
        // Person 3 is in LDAP but in no mapped group: not deactivated.
        #expect(users[Fixtures.personUID(3)]?.active == true)
    }

    @Test func aChangeInTheSameSecondAsTheCursorIsNotLost() throws {
        let environment = try SyncEnvironment(people: 5, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(1), modifications: [
            Modification(.replace, "telephoneNumber", strings: ["+1 first"]),
        ]))
        _ = try environment.run()
        // Right after the run, within the cursor's second.
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [
            Modification(.replace, "telephoneNumber", strings: ["+1 same second"]),
        ]))
        _ = try environment.run()
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.values["phone"] == .text("+1 same second"))
    }

    @Test func cursorIsTheNewestServerTimestampNotTheLocalClock() throws {
        let environment = try SyncEnvironment(people: 5, groups: 1)
        try environment.configure(environment.yaml())
        environment.waitForNextSecond()
        try environment.root().perform(.modify(dn: environment.personDN(3), modifications: [
            Modification(.replace, "description", strings: ["touched"]),
        ]))
        _ = try environment.run()
        let cursor = try #require(try environment.status().cursor)
        #expect(cursor == (try environment.newestModifyTimestamp()))
        let now = Date().timeIntervalSince1970
        #expect(Double(cursor.seconds) < now)
    }

    @Test func clearingTheCursorMakesTheNextRunFull() throws {
        let environment = try SyncEnvironment(people: 8, groups: 0)
        let configuration = try environment.configure(environment.yaml())
        _ = try environment.run()
        _ = try StateCommands(configuration: configuration).setCursor(nil, directory: "test")
        #expect(try environment.status().cursor == nil)
        let run = try environment.run()
        #expect(run.summaries[0].full)
        #expect(run.summaries[0].fetchedUsers == 8)
        #expect(run.summaries[0].changes == 0)
    }

    @Test func settingTheCursorBackfillsExactlyFromThatDate() throws {
        let environment = try SyncEnvironment(people: 10, groups: 0)
        let configuration = try environment.configure(environment.yaml())
        _ = try environment.run()
        environment.waitForNextSecond()
        let root = try environment.root()
        try root.perform(.modify(dn: environment.personDN(4), modifications: [Modification(.replace, "description", strings: ["a"])]))
        try root.perform(.modify(dn: environment.personDN(9), modifications: [Modification(.replace, "description", strings: ["b"])]))
        let changedAt = try environment.newestModifyTimestamp()
        _ = try environment.run()
        _ = try StateCommands(configuration: configuration).setCursor(changedAt, directory: nil)
        let run = try environment.run()
        #expect(run.summaries[0].fetchedUsers == 2)
        #expect(!run.summaries[0].full)
    }

    @Test func aNewlyMappedAttributeMakesTheNextRunFullAndSaysWhy() throws {
        let environment = try SyncEnvironment(people: 6, groups: 0)
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }"]))
        _ = try environment.run()
        try environment.configure(environment.yaml(attributes: ["{ ldap: cn, app: name }", "{ ldap: employeeNumber, app: badge }"]))
        let run = try environment.run()
        #expect(run.summaries[0].full)
        #expect(run.summaries[0].fullReason?.contains("attribute employeenumber") == true)
        #expect(environment.outputLines.contains { $0.contains("full run") && $0.contains("employeenumber") })
        #expect(try environment.managedUsers()[Fixtures.personUID(2)]?.values["badge"] == .text("2"))
        environment.waitForNextSecond()
        #expect(try environment.run().summaries[0].full == false)
    }

    @Test func aLostStateDirectoryIsRebuiltByAFullRunWithoutDuplicates() throws {
        let environment = try SyncEnvironment(people: 9, groups: 1, membersPerGroup: 4)
        try environment.configure(environment.yaml(groups: environment.rules([("GrpAE", 1)])))
        _ = try environment.run()
        let before = try environment.managedUsers()
        try FileManager.default.removeItem(atPath: environment.statePath)
        let rebuilt = try environment.run()
        #expect(rebuilt.summaries[0].full)
        #expect(rebuilt.summaries[0].changes == 0)
        #expect(try environment.managedUsers() == before)
        #expect(try environment.status().snapshotUsers == 9)
    }
}
