import Foundation
import Testing

/// `ldapsync doctor` as an administrator runs it: text or JSON on stdout, exit 0 without
/// a FAIL, 1 with one.
@Suite struct DoctorCommandTests {
    @Test func aWorkingSetupPassesAndExits0() throws {
        let environment = try CLIEnvironment()
        _ = try environment.ldapsync(["init", "--sqlite", "app.db"])
        try environment.write("ldapsync.yaml", environment.configuration())
        let result = try environment.ldapsync(["doctor"])

        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.contains("PASS  corp  bind: \(environment.server.configuration.syncDN) bound\n"))
        #expect(result.output.contains("SKIP  corp  clock skew: not checked\n      → the server does not report its time"))
        let tally = try #require(result.output.split(separator: "\n").last)
        #expect(tally.hasPrefix("doctor: PASS ("))
        #expect(tally.hasSuffix(" passed, 0 warnings, 0 failed, 1 skipped)"))
    }

    @Test func aWrongPasswordIsAFailLineAndExit1() throws {
        let environment = try CLIEnvironment()
        _ = try environment.ldapsync(["init", "--sqlite", "app.db"])
        try environment.write("ldapsync.yaml", environment.configuration(password: "wrong.pw"))
        try environment.write("wrong.pw", "wrong-password", mode: 0o600)
        let result = try environment.ldapsync(["doctor"])

        #expect(result.status == 1)
        #expect(result.output.contains("FAIL  corp  bind: invalid credentials for \(environment.server.configuration.syncDN)\n      → "))
        #expect(result.output.hasSuffix("failed, 7 skipped)\n"), "\(result.output)")
        #expect(!result.output.contains("wrong-password"))
        #expect(!result.errors.contains("wrong-password"))
    }

    @Test func jsonOutputIsOneObjectForMonitoring() throws {
        let environment = try CLIEnvironment()
        try environment.write("ldapsync.yaml", environment.configuration())
        // No app.db: that check fails; the others pass.
        let result = try environment.ldapsync(["doctor", "--format", "json"])

        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect(object["status"] as? String == "FAIL")
        #expect(object["fail"] as? Int == 1)
        let checks = try #require(object["checks"] as? [[String: Any]])
        let failure = try #require(checks.first { $0["status"] as? String == "FAIL" })
        #expect(failure["area"] as? String == "app")
        #expect((failure["summary"] as? String)?.hasSuffix("app.db does not exist") == true)
        #expect(failure["advice"] is String)
        let bind = try #require(checks.first { $0["area"] as? String == "bind" })
        #expect(bind["directory"] as? String == "corp")
        #expect(!FileManager.default.fileExists(atPath: environment.directory.appendingPathComponent("app.db").path))
    }

    @Test func aConfigurationErrorIsReportedByTheDoctorWithExit1() throws {
        let environment = try CLIEnvironment()
        try environment.write("ldapsync.yaml", environment.configuration(extra: "colour: blue"))
        let result = try environment.ldapsync(["doctor"])

        #expect(result.status == 1)
        #expect(result.output.hasPrefix("FAIL  configuration: ./ldapsync.yaml:"), "\(result.output)")
        #expect(result.output.contains("colour"))
    }
}
