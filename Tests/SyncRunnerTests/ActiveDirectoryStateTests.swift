import AppStore
import Foundation
import SambaSupport
import SyncRunner
import Testing

/// Against a real Samba AD DC: deletions found through tombstones with no listing of the
/// scope, and the account's disabled bit as the app's active flag, both ways.
@Suite struct ActiveDirectoryStateTests {
    /// Skips (with the reason printed) where no Samba DC can run.
    private func skipped() -> Bool {
        guard let reason = ADStateEnvironment.unavailable else { return false }
        print("ActiveDirectoryStateTests skipped: \(reason)")
        return true
    }

    @Test func aDeletedUserIsFoundThroughItsTombstoneAndDeactivatedWithoutAListing() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 3)
        try environment.configure(environment.yaml(directoryExtra: "deletions: tombstones"))
        let first = try environment.run()
        #expect(first.full)
        #expect(first.created == 3)

        environment.waitForNextSecond()
        try environment.dc.delete(dn: environment.userDN(2))
        let second = try environment.run()
        #expect(!second.full)
        // No id-only listing of the scope: the deletion came from the tombstone.
        #expect(second.listedForDeletions == 0)
        #expect(second.tombstonesRead >= 1)
        #expect(second.deactivated == 1)
        #expect(second.failures.isEmpty, "\(second.failures)")
        let users = try environment.managedUsers()
        #expect(users[environment.key(2)]?.active == false)
        #expect(users[environment.key(1)]?.active == true)
        #expect(users[environment.key(3)]?.active == true)

        // The tombstone is read again inside the next window, and changes nothing.
        let third = try environment.run()
        #expect(third.deactivated == 0)
        #expect(third.changes == 0)
        #expect(third.listedForDeletions == 0)
    }

    @Test func aUserMovedOutOfTheScopeIsDeactivatedWithoutAListing() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 3)
        try environment.configure(environment.yaml(directoryExtra: "deletions: tombstones"))
        _ = try environment.run()

        environment.waitForNextSecond()
        try environment.dc.rename(dn: environment.userDN(3), newRDN: "CN=\(environment.key(3))", newSuperior: environment.elsewhereDN)
        let second = try environment.run()
        #expect(second.listedForDeletions == 0)
        #expect(second.deactivated == 1)
        let users = try environment.managedUsers()
        #expect(users[environment.key(3)]?.active == false)
        #expect(users[environment.key(1)]?.active == true)
    }

    @Test func theEveryRunListingIsWhatTombstonesSave() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 3)
        try environment.configure(environment.yaml(directoryExtra: "deletions: every-run"))
        _ = try environment.run()
        environment.waitForNextSecond()
        try environment.dc.delete(dn: environment.userDN(1))
        let second = try environment.run()
        // The counter the tombstone test relies on does count a listing when there is one.
        #expect(second.listedForDeletions == 2)
        #expect(second.tombstonesRead == 0)
        #expect(second.deactivated == 1)
    }

    @Test func aDisabledAccountIsInactiveInTheAppAndActiveAgainOnceEnabled() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 3, userAccountControl: [3: ADFixtures.disabledAccount])
        try environment.configure(environment.yaml(usersExtra: "accountState: from-ldap"))
        let first = try environment.run()
        #expect(first.created == 3)
        var users = try environment.managedUsers()
        #expect(users[environment.key(1)]?.active == true)
        #expect(users[environment.key(3)]?.active == false, "an account created disabled is created inactive")

        environment.waitForNextSecond()
        try environment.dc.disable(dn: environment.userDN(1))
        let disabled = try environment.run()
        #expect(!disabled.full)
        #expect(disabled.deactivated == 1)
        users = try environment.managedUsers()
        #expect(users[environment.key(1)]?.active == false)
        #expect(users[environment.key(2)]?.active == true)

        environment.waitForNextSecond()
        // Samba enables an account only once it has a password.
        try environment.dc.setPassword(dn: environment.userDN(1), password: "Sync-Test-Passw0rd")
        try environment.dc.enable(dn: environment.userDN(1))
        let enabled = try environment.run()
        #expect(enabled.reactivated == 1)
        #expect(enabled.failures.isEmpty, "\(enabled.failures)")
        users = try environment.managedUsers()
        #expect(users[environment.key(1)]?.active == true)
        #expect(users[environment.key(3)]?.active == false)
    }

    @Test func fromLDAPResetsAnAppDeactivationOfAnEnabledAccount() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 2)
        try environment.configure(environment.yaml(usersExtra: "accountState: from-ldap", writeBack: true))
        _ = try environment.run()
        try environment.setActive(environment.key(1), false)
        let run = try environment.run()
        #expect(run.reactivated == 1)
        #expect(run.writtenBack == 0)
        #expect(try environment.managedUsers()[environment.key(1)]?.active == true)
        #expect(try environment.userAccountControl(1) == ADFixtures.normalAccount)
    }

    @Test func withWriteBackAnAppDeactivationDisablesTheAccountAndKeepsItsOtherFlags() throws {
        if skipped() { return }
        // 66048: NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD.
        let environment = try ADStateEnvironment(users: 2, userAccountControl: [1: 66048])
        try environment.configure(environment.yaml(usersExtra: "accountState: both", writeBack: true))
        _ = try environment.run()
        #expect(try environment.managedUsers()[environment.key(1)]?.active == true)

        try environment.setActive(environment.key(1), false)
        let deactivate = try environment.run()
        #expect(deactivate.writtenBack == 1)
        #expect(deactivate.failures.isEmpty, "\(deactivate.failures)")
        #expect(try environment.userAccountControl(1) == 66050)
        #expect(try environment.userAccountControl(2) == ADFixtures.normalAccount)

        // The account's new state is what both sides agree on: nothing more to do.
        let again = try environment.run()
        #expect(again.writtenBack == 0)
        #expect(again.changes == 0)
        #expect(try environment.managedUsers()[environment.key(1)]?.active == false)

        // Samba enables an account only once it has a password.
        try environment.dc.setPassword(dn: environment.userDN(1), password: "Sync-Test-Passw0rd")
        try environment.setActive(environment.key(1), true)
        let activate = try environment.run()
        #expect(activate.writtenBack == 1)
        #expect(activate.failures.isEmpty, "\(activate.failures)")
        #expect(try environment.userAccountControl(1) == 66048)
    }

    @Test func withWriteBackOffAnAppDeactivationStaysPending() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 1)
        try environment.configure(environment.yaml(usersExtra: "accountState: both", writeBack: false))
        _ = try environment.run()
        try environment.setActive(environment.key(1), false)
        var options = RunOptions()
        options.dryRun = true
        _ = try environment.run(options)
        #expect(environment.outputLines.contains { $0.contains("userAccountControl: app edit pending, not written to LDAP (writeBack.enabled is false)") },
                "\(environment.outputLines)")
        let run = try environment.run()
        #expect(run.writtenBack == 0)
        #expect(run.reactivated == 0)
        #expect(try environment.userAccountControl(1) == ADFixtures.normalAccount)
        #expect(try environment.managedUsers()[environment.key(1)]?.active == false)
    }
}
