import AppStore
import DirectoryModel
import Foundation
import Logging
import SlapdSupport
import SyncRunner
import Testing

@Suite struct ReportTests {
    /// A write-back the ACL denies, on a sensitive attribute: the report and the metrics
    /// carry the failure with its class, and never the value.
    @Test func aDeniedWriteIsReportedWithItsClassAndWithoutTheSensitiveValue() throws {
        var slapd = SlapdServer.Configuration()
        let denied = "uid=\(Fixtures.personUID(2)),ou=people,\(slapd.suffix)"
        var access = SlapdServer.defaultAccess(for: slapd)
        access.insert(#"to dn.exact="\#(denied)" attrs=telephoneNumber by dn.exact="\#(slapd.syncDN)" read by * break"#, at: 1)
        slapd.access = access
        let environment = try SyncEnvironment(people: 3, groups: 0, slapd: slapd)
        let configuration = try environment.configure(environment.yaml(
            attributes: ["{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone, direction: both, sensitive: true }"])
            + "\nwriteBack: { enabled: true }")
        _ = try environment.run()
        let value = "+1 555 0199 unique-value"
        try environment.appStore().apply([.update(key: Fixtures.personUID(2), values: ["phone": .text(value)])])

        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var events: [ProgressEvent] = []
        let runner = SyncRunner(configuration: configuration, logger: logger, output: { _ in }, progress: { events.append($0) })
        let result = runner.execute(RunOptions())
        #expect(result.exitCode == 1)
        #expect(result.error == nil)
        let failure = try #require(result.summaries.first?.failures.first)
        #expect(failure.kind == .writeFailed)
        #expect(failure.dn == denied)

        let state = try StateCommands(configuration: configuration).status().directories
        let report = String(decoding: RunReport.json(result, state: state), as: UTF8.self)
        #expect(!report.contains(value))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Any])
        #expect(object["outcome"] as? String == "partial")
        let directory = try #require((object["directories"] as? [[String: Any]])?.first)
        let failures = try #require(directory["failures"] as? [[String: Any]])
        #expect(failures.count == 1)
        #expect(failures.first?["class"] as? String == "WRITE_FAILED")
        #expect(failures.first?["key"] as? String == Fixtures.personUID(2))
        #expect((failures.first?["message"] as? String)?.contains("insufficientAccessRights (50)") == true)
        #expect((directory["failuresByClass"] as? [String: Int]) == ["WRITE_FAILED": 1])
        #expect((directory["state"] as? [String: Any])?["retrySet"] as? Int == 1)

        let metrics = MetricsFile.text(result, directories: ["test"], state: state, previousLastSuccess: nil, now: result.finished)
        #expect(metrics.contains(#"ldapsync_last_run_failures{directory="test",class="WRITE_FAILED"} 1"#))
        #expect(metrics.contains(#"ldapsync_retry_set_entries{directory="test"} 1"#))
        #expect(!metrics.contains(value))
        // Exit 1 is not a success: the last success is the first run's, from the run history.
        #expect(metrics.contains("ldapsync_last_success_timestamp_seconds "))

        // The write-back phase reported its progress against a known total, then ended.
        let writeBack = events.filter { $0.phase == .writingBack }
        #expect(writeBack.first == ProgressEvent(directory: "test", phase: .writingBack, done: 0, total: 1))
        #expect(writeBack.last?.finished == true)
        #expect(writeBack.last?.done == 1)
        #expect(events.contains { $0.phase == .fetchingUsers && $0.done > 0 })
    }

    /// Label values with quotes, backslashes and line feeds stay valid exposition text.
    @Test func labelValuesAreEscaped() throws {
        let name = "we\"ird\\name\nx"
        var summary = DirectorySummary(directory: name, full: true)
        summary.created = 2
        let result = RunResult(runID: "0123456789abcdef", started: Timestamp(seconds: 1_700_000_000), finished: Timestamp(seconds: 1_700_000_001),
                               durationSeconds: 1, dryRun: false, summaries: [summary], error: nil, exitCode: 0)
        let text = MetricsFile.text(result, directories: [name], state: nil, previousLastSuccess: nil, now: result.finished)
        #expect(text.contains(#"ldapsync_last_run_entries{directory="we\"ird\\name\nx",operation="created"} 2"#))
        #expect(text.contains("ldapsync_last_success_timestamp_seconds 1700000001\n"))
        #expect(MetricsFile.lastSuccess(inPrevious: text) == 1_700_000_001)
    }
}
