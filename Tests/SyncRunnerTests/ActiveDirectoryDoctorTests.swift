import Foundation
import SambaSupport
@testable import SyncRunner
import Testing

/// The doctor and `run` against a real Samba AD DC: bind failures named by AD's
/// `data XXX` sub-code (SPEC §8), and a timestamp pattern that does not fit AD.
@Suite struct ActiveDirectoryDoctorTests {
    static let password = "Sync-Acc0unt-Pass"

    private func skipped() -> Bool {
        guard let reason = ADStateEnvironment.unavailable else { return false }
        print("ActiveDirectoryDoctorTests skipped: \(reason)")
        return true
    }

    /// An environment whose user 1 is the sync account, with a password; the
    /// configuration binds as it with `sync.pw` holding `filePassword`.
    private func syncAccountEnvironment(filePassword: String) throws -> ADStateEnvironment {
        let environment = try ADStateEnvironment(users: 1)
        try environment.dc.setPassword(dn: environment.userDN(1), password: Self.password)
        try environment.writeFile("sync.pw", filePassword)
        try environment.configure(environment.yaml(bindDN: environment.userDN(1), passwordFile: "sync.pw"))
        return environment
    }

    @Test func aWrongPasswordIsNamedBySubCode52e() throws {
        if skipped() { return }
        let environment = try syncAccountEnvironment(filePassword: "Not-The-Passw0rd")
        let report = environment.doctor()
        let failure = try #require(report.lines(.fail).first { $0.area == "bind" }, "\(report.dump)")
        #expect(failure.summary == "bind: invalid credentials (AD data 52e) for \(environment.userDN(1))", "\(report.dump)")
        #expect(failure.advice?.contains("is not the account's password") == true)
    }

    @Test func aDisabledSyncAccountIsNamedBySubCode533InDoctorAndRun() throws {
        if skipped() { return }
        let environment = try syncAccountEnvironment(filePassword: Self.password)
        // The account binds while enabled: the failure below is the disabling alone.
        let before = environment.doctor()
        #expect(before.checks.contains { $0.area == "bind" && $0.status == .pass }, "\(before.dump)")
        try environment.dc.disable(dn: environment.userDN(1))

        let report = environment.doctor()
        let failure = try #require(report.lines(.fail).first { $0.area == "bind" }, "\(report.dump)")
        #expect(failure.summary == "bind: account disabled (AD data 533) for \(environment.userDN(1))", "\(report.dump)")
        #expect(failure.advice?.contains("enable the account") == true)

        let error = try #require(throws: RunError.self) { try environment.run() }
        #expect(error.exitCode == 3)
        #expect(error.description.contains("bind as \"\(environment.userDN(1))\" failed: account disabled (AD data 533): enable the account"),
                "\(error)")
        #expect(!error.description.contains(Self.password))
    }

    /// `deletions: tombstones` needs the right to list deleted objects: the
    /// Administrator has it.
    @Test func theRightToReadTombstonesIsChecked() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 1)
        try environment.configure(environment.yaml())
        let report = environment.doctor()
        let check = try #require(report.checks.first { $0.area == "tombstones" }, "\(report.dump)")
        #expect(check.status == .pass, "\(report.dump)")
        #expect(check.summary.hasPrefix("tombstones: deleted objects under \(environment.dc.baseDN) can be read with the Show Deleted control"))
    }

    @Test func anOpenLDAPTimestampPatternOnADIsAFailThatSaysUseAD() throws {
        if skipped() { return }
        let environment = try ADStateEnvironment(users: 2)
        try environment.configure(environment.yaml(timestampPattern: "openldap"))
        let report = environment.doctor()
        let failure = try #require(report.lines(.fail).first { $0.area == "timestamp" }, "\(report.dump)")
        #expect(failure.summary.hasPrefix("server timestamps look like 20"), "\(report.dump)")
        #expect(failure.summary.contains(".0Z but the pattern is openldap: use ad"), "\(report.dump)")
        #expect(failure.advice?.contains("set timestamp.pattern: ad for directory ad") == true, "\(String(describing: failure.advice))")
    }
}
