import Foundation
@testable import SyncRunner
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The doctor's checks of the app store and the state store: reported, never created.
@Suite struct DoctorLocalTests {
    @Test func aMissingAppStoreIsReportedAndNotCreated() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.writeFile("ldapsync.yaml", environment.yaml(), mode: 0o644)
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "app")
        #expect(failure.summary == "app store \(environment.appPath) does not exist")
        #expect(failure.advice?.hasPrefix("run ldapsync init --sqlite \(environment.appPath)") == true)
        #expect(!FileManager.default.fileExists(atPath: environment.appPath))
    }

    @Test func anAppStoreWithoutAMappedColumnNamesIt() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        try environment.writeFile("ldapsync.yaml", environment.yaml(attributes: SyncEnvironment.defaultAttributes + ["{ ldap: title, app: job_title }"]), mode: 0o644)
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "app")
        #expect(failure.summary.contains("job_title"), "\(failure.summary)")
    }

    /// Runs look memberships up by user: without an index on that column each look-up
    /// reads the whole table, which the doctor says (a warning: the run still works).
    @Test func aMembershipsTableWithoutAUserIndexWarnsUntilInitAddsIt() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        #expect(environment.doctor().lines(.warn).allSatisfy { $0.area != "app" })

        _ = try rawSQLite(environment.appPath, "DROP INDEX group_members_by_user_key")
        let report = environment.doctor()
        let warning = try #require(report.lines(.warn).first { $0.area == "app" }, "\(report.dump)")
        #expect(warning.summary == "app store: no index of table group_members starts with user_key; every membership look-up of a run reads the whole table")
        #expect(warning.advice?.hasPrefix("run ldapsync init") == true)
        #expect(report.exitCode == 0)

        try environment.configure(environment.yaml())
        #expect(environment.doctor().lines(.warn).allSatisfy { $0.area != "app" })
    }

    @Test func aStateStoreLockedByARunIsReportedWithoutWaiting() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        try FileManager.default.createDirectory(atPath: environment.statePath, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        // Hold the lock as a run does (RunLock: flock LOCK_EX on <state>/ldapsync.lock).
        let lock = try RunLock(directory: environment.statePath)
        let report = environment.doctor()
        withExtendedLifetime(lock) {}

        let warning = try #require(report.lines(.warn).first { $0.area == "state" }, "\(report.dump)")
        #expect(warning.summary == "state store \(environment.statePath) is locked by a running ldapsync (pid \(getpid())): a run started now would exit 4")
        #expect(report.exitCode == 0)
    }

    @Test func aFreeStateStoreAfterARunPassesAndAnOpenModeWarns() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        let passing = environment.doctor()
        #expect(!passing.lines(containing: "state store \(environment.statePath) is writable and not locked").isEmpty, "\(passing.dump)")

        chmod(environment.statePath, 0o755)
        let report = environment.doctor()
        let warning = try #require(report.lines(.warn).first, "\(report.dump)")
        #expect(warning.summary == "state store \(environment.statePath) is mode 0755: other users may read the snapshots")
        #expect(warning.advice == "chmod 700 \(environment.statePath)")
    }
}
