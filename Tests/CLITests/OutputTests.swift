import Foundation
import SlapdSupport
import Testing

/// Reads a JSON object file written by ldapsync.
func jsonObject(_ url: URL) throws -> [String: Any] {
    let data = try Data(contentsOf: url)
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "not a JSON object: \(url.path)")
}

func fileMode(_ url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return try #require(attributes[.posixPermissions] as? Int)
}

/// The samples of a metrics file as Prometheus' own parser reads them
/// (python3-prometheus-client): `name` or `name{"label": "value", ...}` (labels sorted) → value.
func prometheusSamples(_ url: URL) throws -> [String: Double] {
    let script = """
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        samples = {}
        for family in text_string_to_metric_families(open(sys.argv[1]).read()):
            if family.type != "gauge":
                raise SystemExit("not a gauge: " + family.name)
            for sample in family.samples:
                key = sample.name + (json.dumps(sample.labels, sort_keys=True) if sample.labels else "")
                samples[key] = sample.value
        print(json.dumps(samples))
        """
    let process = Process()
    // The system python: pyenv's python3 on PATH lacks the Debian package.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["-c", script, url.path]
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    #expect(process.terminationStatus == 0, "the Prometheus parser rejects \(url.path): \(errorText)")
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Double])
}

func label(_ name: String, _ labels: [String: String]) -> String {
    name + "{" + labels.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ") + "}"
}

@Suite struct ReportFileTests {
    @Test func aRunsReportHoldsItsCountsCursorsRunIDAndExitCode() throws {
        let environment = try CLIEnvironment(people: 5)
        _ = try environment.ldapsync(["init"])
        let run = try environment.ldapsync(["run", "--report", "report.json"])
        #expect(run.status == 0, "\(run.errors)")
        let url = environment.directory.appendingPathComponent("report.json")
        let report = try jsonObject(url)
        #expect(report["version"] as? Int == 1)
        #expect(report["exitCode"] as? Int == 0)
        #expect(report["outcome"] as? String == "success")
        #expect(report["error"] is NSNull)
        #expect(report["dryRun"] as? Bool == false)
        let runID = try #require(report["run"] as? String)
        #expect(runID.count == 16)
        // The same id as the audit log's lines of this run.
        let audit = try String(contentsOf: environment.directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)
        #expect(audit.contains("\"run\":\"\(runID)\""))
        let started = try #require(report["started"] as? String)
        let finished = try #require(report["finished"] as? String)
        #expect(started.hasSuffix("Z") && finished.hasSuffix("Z") && started <= finished)
        #expect((report["durationSeconds"] as? Double ?? -1) >= 0)

        let directories = try #require(report["directories"] as? [[String: Any]])
        #expect(directories.count == 1)
        let corp = directories[0]
        #expect(corp["name"] as? String == "corp")
        #expect(corp["complete"] as? Bool == true)
        #expect(corp["full"] as? Bool == true)
        #expect((corp["fullReason"] as? String)?.contains("first run") == true)
        #expect(corp["cursorBefore"] is NSNull)
        let cursorAfter = try #require(corp["cursorAfter"] as? String)
        let counts = try #require(corp["counts"] as? [String: Int])
        #expect(counts["fetched"] == 5)
        #expect(counts["created"] == 5)
        #expect(counts["failures"] == 0)
        #expect(counts["pendingConflicts"] == 0)
        #expect((corp["failures"] as? [Any])?.isEmpty == true)
        let state = try #require(corp["state"] as? [String: Any])
        #expect(state["cursor"] as? String == cursorAfter)
        #expect(state["retrySet"] as? Int == 0)
        #expect(state["snapshotUsers"] as? Int == 5)
        #expect(try fileMode(url) == 0o640)
        // No temporary file is left beside it.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: environment.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)

        // The second run is incremental and changes nothing (I4): the report says so.
        #expect(try environment.ldapsync(["run", "--report", "report.json"]).status == 0)
        let second = try #require((try jsonObject(url))["directories"] as? [[String: Any]])[0]
        #expect(second["full"] as? Bool == false)
        #expect(second["fullReason"] is NSNull)
        #expect(second["cursorBefore"] as? String == cursorAfter)
        #expect((second["counts"] as? [String: Int])?["created"] == 0)
        #expect((try jsonObject(url))["run"] as? String != runID)
    }

    @Test func aWrongPasswordRunStillWritesAReportWithExit3AndTheError() throws {
        let environment = try CLIEnvironment(people: 2)
        try environment.write("sync.pw", "not-the-password", mode: 0o600)
        _ = try environment.ldapsync(["init"])
        let run = try environment.ldapsync(["run", "--report", "report.json"])
        #expect(run.status == 3)
        let report = try jsonObject(environment.directory.appendingPathComponent("report.json"))
        #expect(report["exitCode"] as? Int == 3)
        #expect(report["outcome"] as? String == "connection")
        let error = try #require(report["error"] as? String)
        #expect(error.contains("invalidCredentials (49)"), "\(error)")
        let directory = try #require((report["directories"] as? [[String: Any]])?.first)
        #expect(directory["complete"] as? Bool == false)
        #expect(directory["cursorAfter"] is NSNull)
    }

    @Test func aConfigurationThatDoesNotLoadStillWritesAReportWithExit2() throws {
        let environment = try CLIEnvironment(people: 1)
        try environment.write("ldapsync.yaml", "version: 1\nstate: s\nno_such_key: 1\n")
        let run = try environment.ldapsync(["run", "--report", "report.json", "--metrics", "ldapsync.prom"])
        #expect(run.status == 2)
        let report = try jsonObject(environment.directory.appendingPathComponent("report.json"))
        #expect(report["exitCode"] as? Int == 2)
        #expect(report["outcome"] as? String == "usage")
        #expect((report["error"] as? String)?.contains("no_such_key") == true)
        #expect((report["directories"] as? [Any])?.isEmpty == true)
        let metrics = try prometheusSamples(environment.directory.appendingPathComponent("ldapsync.prom"))
        #expect(metrics["ldapsync_last_run_exit_code"] == 2)
        #expect(metrics["ldapsync_last_success_timestamp_seconds"] == nil)
    }

    @Test func aReportPathInAMissingDirectoryIsAUsageErrorBeforeAnythingIsDone() throws {
        let environment = try CLIEnvironment(people: 2)
        _ = try environment.ldapsync(["init"])
        let run = try environment.ldapsync(["run", "--report", "no-such-dir/report.json"])
        #expect(run.status == 2)
        #expect(run.errors.contains("no-such-dir"), "\(run.errors)")
        #expect(try environment.sqlite("select count(*) from users;") == "0\n")
    }
}

@Suite struct MetricsFileTests {
    @Test func theMetricsHoldTheRunsValuesAndAFailedRunKeepsTheLastSuccess() throws {
        let environment = try CLIEnvironment(people: 6)
        _ = try environment.ldapsync(["init"])
        let url = environment.directory.appendingPathComponent("ldapsync.prom")
        let run = try environment.ldapsync(["run", "--metrics", "ldapsync.prom"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(try fileMode(url) == 0o644)
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(text.contains("# HELP ldapsync_last_run_timestamp_seconds "))
        #expect(text.contains("# TYPE ldapsync_cursor_lag_seconds gauge"))
        let samples = try prometheusSamples(url)
        #expect(samples.keys.allSatisfy { $0.hasPrefix("ldapsync_") })
        let corp = ["directory": "corp"]
        #expect(samples[label("ldapsync_last_run_entries", corp.merging(["operation": "created"]) { $1 })] == 6)
        #expect(samples[label("ldapsync_last_run_entries", corp.merging(["operation": "fetched"]) { $1 })] == 6)
        // OpenLDAP: no tombstones, no member ranges; the series exist for every directory.
        #expect(samples[label("ldapsync_last_run_entries", corp.merging(["operation": "tombstones_read"]) { $1 })] == 0)
        #expect(samples[label("ldapsync_last_run_entries", corp.merging(["operation": "range_requests"]) { $1 })] == 0)
        #expect(samples[label("ldapsync_last_run_failures", corp.merging(["class": "WRITE_FAILED"]) { $1 })] == 0)
        #expect(samples[label("ldapsync_pending_conflicts", corp)] == 0)
        #expect(samples[label("ldapsync_retry_set_entries", corp)] == 0)
        #expect(samples[label("ldapsync_snapshot_users", corp)] == 6)
        #expect(samples["ldapsync_last_run_exit_code"] == 0)
        let lag = try #require(samples[label("ldapsync_cursor_lag_seconds", corp)])
        #expect(lag >= 0 && lag < 3600)
        let lastRun = try #require(samples["ldapsync_last_run_timestamp_seconds"])
        let lastSuccess = try #require(samples["ldapsync_last_success_timestamp_seconds"])
        #expect(lastSuccess == lastRun)
        #expect(abs(lastRun - Date().timeIntervalSince1970) < 60)
        #expect(samples[label("ldapsync_directory_last_success_timestamp_seconds", corp)] != nil)

        // A failing run: a newer last run, exit 3, and the older last success.
        usleep(1_100_000)
        try environment.write("sync.pw", "not-the-password", mode: 0o600)
        #expect(try environment.ldapsync(["run", "--metrics", "ldapsync.prom"]).status == 3)
        let failed = try prometheusSamples(url)
        #expect(failed["ldapsync_last_run_exit_code"] == 3)
        #expect(try #require(failed["ldapsync_last_run_timestamp_seconds"]) > lastRun)
        #expect(failed["ldapsync_last_success_timestamp_seconds"] == lastSuccess)
        #expect(failed[label("ldapsync_last_run_complete", corp)] == 0)

        // Without the previous file, the run history in the state store still knows it.
        try FileManager.default.removeItem(at: url)
        #expect(try environment.ldapsync(["run", "--metrics", "ldapsync.prom"]).status == 3)
        let fromHistory = try #require(try prometheusSamples(url)["ldapsync_last_success_timestamp_seconds"])
        #expect(abs(fromHistory - lastSuccess) < 1)
    }
}

@Suite struct LogFormatTests {
    @Test func jsonLogsAreOneObjectPerLineWithTimeLevelLabelAndMessage() throws {
        let environment = try CLIEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        let run = try environment.ldapsync(["run", "--log-format", "json", "--log-level", "trace"])
        #expect(run.status == 0, "\(run.errors)")
        let lines = run.errors.split(separator: "\n")
        #expect(!lines.isEmpty)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            #expect((object["time"] as? String)?.hasSuffix("Z") == true)
            #expect(["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(object["level"] as? String ?? ""))
            #expect(object["label"] as? String == "ldapsync")
            #expect(object["message"] is String)
        }
        // Metadata flattened with dotted keys beside the message.
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let bound = try #require(objects.first { $0["message"] as? String == "bound" }, "\(run.errors)")
        #expect(bound["ldap.dn"] as? String == environment.server.configuration.syncDN)
        #expect(bound["sync.directory"] as? String == "corp")
        // Results still go to stdout, as text.
        #expect(run.output.contains("directory  fetched  created"))
    }
}

@Suite struct ProgressLineTests {
    @Test func onATerminalLongPhasesShowAProgressLineRedrawnWithCarriageReturns() throws {
        let environment = try CLIEnvironment(people: 50)
        _ = try environment.ldapsync(["init"])
        let executable = try ldapsyncExecutable()
        // script(1) gives the command a terminal and records what it wrote there.
        let typescript = environment.directory.appendingPathComponent("typescript")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-q", "-e", "-c", "\(executable.path) run", typescript.path]
        process.currentDirectoryURL = environment.directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let text = String(decoding: try Data(contentsOf: typescript), as: UTF8.self)
        #expect(text.contains("\r\u{1B}[Kcorp: fetching users: "), "\(text.debugDescription)")
        #expect(text.contains(" entries"))
        #expect(text.contains("corp: applying to the app: "))
    }

    @Test func withoutATerminalThereIsNoProgressLine() throws {
        let environment = try CLIEnvironment(people: 50)
        _ = try environment.ldapsync(["init"])
        let run = try environment.ldapsync(["run"])
        #expect(run.status == 0)
        #expect(!run.errors.contains("fetching users"))
        #expect(!run.errors.contains("\r"))
        #expect(!run.output.contains("\r"))
    }
}

/// The built executable beside the test bundle.
func ldapsyncExecutable() throws -> URL {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundleDirectory, bundleDirectory.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) })
}
