import DirectoryModel
import Foundation
import LDAPClient
import Logging
import SlapdSupport
import SyncConfig
@testable import SyncRunner
import Testing

/// Runs the doctor on an environment's configuration file.
extension SyncEnvironment {
    func doctor(writeTest key: String? = nil) -> DoctorReport {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return DoctorReport(checks: Doctor(configurationPath: configPath, logger: logger, writeTestKey: key).run())
    }

    /// Replaces a file in the environment's directory (mode 0600 unless told).
    func writeFile(_ name: String, _ contents: String, mode: Int = 0o600) throws {
        let path = directory.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: mode]) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    var syncDN: String { server.configuration.syncDN }
}

extension DoctorReport {
    func lines(_ status: DoctorCheck.Status) -> [DoctorCheck] { checks.filter { $0.status == status } }

    /// The checks whose summary contains `text`.
    func lines(containing text: String) -> [DoctorCheck] { checks.filter { $0.summary.contains(text) } }

    /// Every line, for failure messages.
    var dump: String { text }
}

/// The doctor against a working setup: every check passes, and it writes nothing.
@Suite struct DoctorTests {
    @Test func everythingPassesOnAWorkingSetup() throws {
        let environment = try SyncEnvironment()
        try environment.configure(environment.yaml())
        let report = environment.doctor()

        #expect(report.lines(.fail).isEmpty, "\(report.dump)")
        #expect(report.lines(.warn).isEmpty, "\(report.dump)")
        #expect(report.exitCode == 0)
        #expect(report.status == .pass)
        for expected in [
            "configuration: \(environment.configPath) is valid (1 directory, 3 mapped attributes)",
            "bind: \(environment.syncDN) bound",
            "base DN \(environment.peopleBase) exists (users.base)",
            "base DN \(environment.groupsBase) exists (groups.base)",
            "root DSE: paged results (1.2.840.113556.1.4.319) supported; vendor OpenLDAP",
            "attribute mail is in the server's schema",
            "timestamps: server values look like ",
            "and match the pattern openldap",
            "size limit: id-only listings read every entry without hitting a limit (user scope 20 entries in 1 page, group scope 2 entries in 1 page)",
            "app store \(environment.appPath): table users",
            "state store \(environment.statePath) does not exist yet; the first run creates it",
        ] {
            #expect(!report.lines(containing: expected).isEmpty, "no line contains \(expected):\n\(report.dump)")
        }
        // OpenLDAP does not publish its clock in the root DSE: that check cannot run.
        let clock = try #require(report.checks.first { $0.area == "clock" })
        #expect(clock.status == .skip)
        #expect(clock.advice == "the server does not report its time (no currentTime in the root DSE)")
        // The doctor never writes: no state directory appeared.
        #expect(!FileManager.default.fileExists(atPath: environment.statePath))
        #expect(report.text.hasSuffix("doctor: PASS (\(report.lines(.pass).count) passed, 0 warnings, 0 failed, 1 skipped)"))
    }

    @Test func aConfigurationErrorIsAFailLineWithFileLineAndKeyPath() throws {
        let environment = try SyncEnvironment(people: 1, groups: 0)
        try environment.writeFile("ldapsync.yaml", environment.yaml().replacingOccurrences(of: "users: { base:", with: "usres: { base:"), mode: 0o644)
        let report = environment.doctor()

        let failure = try #require(report.lines(.fail).first, "\(report.dump)")
        #expect(failure.area == "configuration")
        #expect(failure.summary.hasPrefix("configuration: \(environment.configPath):7:"), "\(failure.summary)")
        #expect(failure.summary.contains("directories[0].usres"))
        #expect(report.exitCode == 1)
        #expect(report.lines(.skip).count == 1)
    }

    @Test func theReportRendersAsJSONForMonitoring() throws {
        let report = DoctorReport(checks: [
            DoctorCheck(.pass, area: "configuration", "configuration: a.yaml is valid"),
            DoctorCheck(.fail, directory: "corp", area: "bind", "bind: invalid credentials for cn=\"x\"", advice: "fix\nit"),
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "FAIL")
        #expect(object["pass"] as? Int == 1)
        #expect(object["fail"] as? Int == 1)
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.count == 2)
        #expect(checks[0]["directory"] == nil)
        #expect(checks[0]["advice"] == nil)
        #expect(checks[1]["directory"] as? String == "corp")
        #expect(checks[1]["area"] as? String == "bind")
        #expect(checks[1]["summary"] as? String == "bind: invalid credentials for cn=\"x\"")
        #expect(checks[1]["advice"] as? String == "fix\nit")
    }
}
