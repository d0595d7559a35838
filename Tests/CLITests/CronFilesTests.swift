import Foundation
import SlapdSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The files of `cron/` (SPEC §11), checked with the real tools: `systemd-analyze verify`
/// for the units, `logrotate` for the rotation, and `/bin/sh` running the crontab command
/// against a private slapd.
@Suite struct CronFilesTests {
    // MARK: systemd

    @Test func systemdAnalyzeVerifyAcceptsTheServiceAndTheTimer() throws {
        let directory = try ScratchDirectory()
        // verify fails when ExecStart's program is not installed: point it at the binary
        // just built. The unit names stay the same (the timer starts ldapsync.service).
        let service = try CronFile.text("ldapsync.service")
        let installed = CronFile.installedBinary
        #expect(service.contains("ExecStart=\(installed) "))
        try directory.write("ldapsync.service", service.replacingOccurrences(of: "ExecStart=\(installed) ", with: "ExecStart=\(try builtLDAPSync().path) "))
        try directory.write("ldapsync.timer", try CronFile.text("ldapsync.timer"))

        let result = try ExternalTool.run("systemd-analyze", ["verify", directory.path("ldapsync.timer"), directory.path("ldapsync.service")])
        #expect(result.status == 0, "\(result.errors)")
        // Unknown keys and bad values are warnings with status 0: none may name our units.
        let ours = result.errors.split(separator: "\n").filter { $0.contains("ldapsync") || $0.contains(directory.url.path) }
        #expect(ours.isEmpty, "\(ours.joined(separator: "\n"))")
    }

    @Test func theTimerStartsTheOneshotServiceEveryFifteenMinutes() throws {
        let timer = try UnitFile(CronFile.text("ldapsync.timer"))
        // systemd-analyze does not notice a timer whose unit is missing: check it here.
        let unit = timer.value("Timer", "Unit") ?? "ldapsync.service"
        #expect(unit == "ldapsync.service")
        let service = try UnitFile(CronFile.text(unit))
        #expect(service.value("Service", "Type") == "oneshot")
        #expect(service.value("Service", "User") == "ldapsync")
        #expect(timer.value("Timer", "Persistent") == "true")
        #expect(timer.value("Install", "WantedBy") == "timers.target")

        let calendar = try #require(timer.value("Timer", "OnCalendar"))
        let elapses = try ExternalTool.run("systemd-analyze", ["calendar", "--iterations=5", calendar])
        #expect(elapses.status == 0, "\(elapses.errors)")
        let minutes = elapses.output.split(separator: "\n")
            .filter { $0.contains("Next elapse:") || $0.contains("Iter. #") }
            .compactMap { line in line.split(separator: " ").first { $0.count == 8 && $0.filter { $0 == ":" }.count == 2 } }
            .compactMap { Int($0.split(separator: ":")[1]) }
        #expect(minutes.count == 5, "\(elapses.output)")
        #expect(minutes.allSatisfy { $0 % 15 == 0 }, "\(elapses.output)")
        #expect(Set(minutes).count == 4, "\(elapses.output)")
    }

    /// The choice documented in the unit: exit 1 (failed entries, pending conflicts) leaves
    /// the unit failed, so that an administrator sees it; 130 (a clean stop) does not.
    @Test func onlyACleanStopCountsAsSuccessBesidesExit0() throws {
        let service = try UnitFile(CronFile.text("ldapsync.service"))
        let success = service.values("Service", "SuccessExitStatus").flatMap { $0.split(separator: " ").map(String.init) }
        #expect(success == ["130"])
    }

    @Test func theServiceWritesOnlyWhereLDAPSyncKeepsItsFilesAndIsSandboxed() throws {
        let service = try UnitFile(CronFile.text("ldapsync.service"))
        #expect(service.value("Service", "ProtectSystem") == "strict")
        let writable = service.values("Service", "ReadWritePaths").flatMap { $0.split(separator: " ").map(String.init) }
        #expect(Set(writable) == ["/var/lib/ldapsync", "/var/log/ldapsync", "-/var/lib/prometheus/node-exporter"])
        // The paths the run writes must be among them.
        let arguments = try CronFile.serviceArguments()
        for option in ["--report", "--metrics"] {
            let path = try #require(arguments.argument(after: option))
            let directory = (path as NSString).deletingLastPathComponent
            #expect(writable.contains(directory) || writable.contains("-" + directory), "\(option) \(path) is not writable under ProtectSystem=strict")
        }
        #expect(service.value("Service", "UMask") == "0077")
        #expect(service.value("Service", "CapabilityBoundingSet") == "")
        #expect(service.value("Service", "RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6")
        #expect(service.value("Service", "SystemCallFilter") == "@system-service")

        // systemd's own score of the sandbox, from 0 (tight) to 10 (none); 2.0 and below is "OK".
        let directory = try ScratchDirectory()
        try directory.write("ldapsync.service", try CronFile.text("ldapsync.service"))
        let security = try ExternalTool.run("systemd-analyze", ["security", "--offline=true", "--threshold=20", directory.path("ldapsync.service")])
        #expect(security.status == 0, "\(security.output.split(separator: "\n").last ?? "")\n\(security.errors)")
    }

    // MARK: logrotate

    @Test func logrotateAcceptsTheFileAndConsidersTheAuditLog() throws {
        let directory = try ScratchDirectory()
        let log = directory.path("audit.jsonl")
        try directory.write("audit.jsonl", "{\"run\":\"0\"}\n", mode: 0o600)
        let configuration = try CronFile.logrotate(for: log)
        try directory.write("logrotate.conf", configuration)
        let result = try ExternalTool.run("logrotate", ["-d", "-s", directory.path("logrotate.status"), directory.path("logrotate.conf")])
        let output = result.output + result.errors
        #expect(result.status == 0, "\(output)")
        #expect(output.contains("considering log \(log)"), "\(output)")
        #expect(!output.lowercased().contains("error"), "\(output)")
    }

    /// Why the file needs no copytruncate nor postrotate: each run opens the log afresh,
    /// and the file logrotate creates (0600) is one that ldapsync accepts.
    @Test func afterARotationTheNextRunWritesTheNewAuditLog() throws {
        let environment = try CLIEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        let first = try environment.ldapsync(["run"])
        #expect(first.status == 0, "\(first.errors)")
        let log = environment.directory.appendingPathComponent("audit.jsonl").path
        let firstLines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(!firstLines.isEmpty)

        try environment.write("logrotate.conf", try CronFile.logrotate(for: log))
        let status = environment.directory.appendingPathComponent("logrotate.status").path
        let rotation = try ExternalTool.run("logrotate", ["-f", "-s", status, environment.directory.appendingPathComponent("logrotate.conf").path])
        #expect(rotation.status == 0, "\(rotation.output)\(rotation.errors)")
        let rotated = try FileManager.default.contentsOfDirectory(atPath: environment.directory.path).filter { $0.hasPrefix("audit.jsonl-") }
        #expect(rotated.count == 1, "\(rotated)")
        #expect(try String(contentsOfFile: environment.directory.appendingPathComponent(rotated[0]).path, encoding: .utf8) == firstLines)
        #expect(try fileMode(log) == 0o600)
        #expect(try String(contentsOfFile: log, encoding: .utf8).isEmpty)

        try environment.server.modify(ldif: """
            dn: uid=\(Fixtures.personUID(1)),ou=people,\(environment.server.configuration.suffix)
            changetype: modify
            replace: cn
            cn: Renamed After Rotation
            """)
        let second = try environment.ldapsync(["run"])
        #expect(second.status == 0, "\(second.errors)")
        let newLines = try String(contentsOfFile: log, encoding: .utf8)
        #expect(newLines.contains("Renamed After Rotation"), "\(newLines)")
        #expect(try String(contentsOfFile: environment.directory.appendingPathComponent(rotated[0]).path, encoding: .utf8) == firstLines)
    }

    // MARK: crontab

    @Test func theCrontabLineHasFiveTimeFieldsAUserAndAnLDAPSyncRunWithKnownOptions() throws {
        let job = try CronFile.job()
        let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
        for (field, range) in zip(job.time, ranges) {
            #expect(CronField.isValid(field, range), "time field \(field) is not valid for \(range)")
        }
        #expect(job.time[0] == "*/15")
        #expect(job.user == "ldapsync")
        // cron ends the command at an unescaped % (the rest becomes its standard input).
        #expect(!job.command.replacingOccurrences(of: "\\%", with: "").contains("%"), "\(job.command)")

        let arguments = try CronFile.cronArguments()
        #expect(arguments.first == "run")
        let help = try runLDAPSync(["run", "--help"])
        #expect(help.status == 0)
        let options = arguments.filter { $0.hasPrefix("-") }
        #expect(options.contains("--config"))
        for option in options {
            #expect(help.output.contains(" \(option) ") || help.output.contains(" \(option)\n"), "run --help does not list \(option)")
        }
        // Both schedulers run the same command.
        #expect(arguments == (try CronFile.serviceArguments()))
        let environment = try CronFile.variables()
        #expect(environment["SHELL"] == "/bin/sh")
        #expect(environment["MAILTO"] != nil)
    }

    /// The command of the crontab line, run by /bin/sh as cron would, with its paths moved
    /// into a test directory: what it prints is what MAILTO receives.
    @Test
    func theCrontabCommandMailsNothingOnSuccessOrOverlapAndTheOutputOnFailure() throws {
        let environment = try CLIEnvironment(people: 4)
        #expect(try environment.ldapsync(["init"]).status == 0)
        let job = try CronFile.job()
        // What cron hands /bin/sh: each \\% becomes %.
        var command = job.command.replacingOccurrences(of: "\\%", with: "%")
            .replacingOccurrences(of: CronFile.installedBinary, with: try builtLDAPSync().path)
        let arguments = try CronFile.cronArguments()
        var moved: [String: String] = [:]
        for (option, name) in [("--config", "ldapsync.yaml"), ("--report", "last-run.json"), ("--metrics", "ldapsync.prom")] {
            let path = try #require(arguments.argument(after: option))
            moved[option] = environment.directory.appendingPathComponent(name).path
            command = command.replacingOccurrences(of: path, with: moved[option]!)
        }
        let shell = { () throws -> (status: Int32, output: String, errors: String) in
            try ExternalTool.run("/bin/sh", ["-c", command], in: environment.directory, environment: ["PATH": "/usr/bin:/bin", "HOME": environment.directory.path])
        }

        let success = try shell()
        #expect(success.status == 0)
        #expect(success.output.isEmpty && success.errors.isEmpty, "\(success.output)\(success.errors)")
        #expect(FileManager.default.fileExists(atPath: moved["--report"]!))
        #expect(FileManager.default.fileExists(atPath: moved["--metrics"]!))

        // Another run holds the lock: ldapsync exits 4 naming it, the cron line stays quiet.
        let lock = try HeldRunLock(environment.directory.appendingPathComponent("state/ldapsync.lock").path)
        let direct = try environment.ldapsync(["run"])
        #expect(direct.status == 4)
        #expect(direct.errors.contains("pid \(getpid())"), "\(direct.errors)")
        let overlapping = try shell()
        #expect(overlapping.output.isEmpty && overlapping.errors.isEmpty, "\(overlapping.output)\(overlapping.errors)")
        lock.release()

        try environment.write("sync.pw", "not-the-password", mode: 0o600)
        let failure = try shell()
        #expect(failure.output.hasPrefix("ldapsync run exited 3\n"), "\(failure.output)")
        #expect(failure.output.contains("invalidCredentials"), "\(failure.output)")
        #expect(!failure.output.contains("not-the-password"))
    }
}

// MARK: - The files

enum CronFile {
    /// Where the files expect the binary.
    static let installedBinary = "/usr/local/bin/ldapsync"

    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cron")
    }

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    /// The logrotate file for a log at `path`, rotated as the user running the test.
    static func logrotate(for path: String) throws -> String {
        let text = try text("ldapsync.logrotate")
        let original = "/var/log/ldapsync/audit.jsonl"
        #expect(text.contains("\n\(original) {"))
        let user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        let group = String(cString: getgrgid(getegid()).pointee.gr_name)
        return text.replacingOccurrences(of: original, with: path)
            .replacingOccurrences(of: "ldapsync ldapsync", with: "\(user) \(group)")
    }

    /// The lines of the crontab that are neither comments nor blank.
    static func entries() throws -> [Substring] {
        try text("ldapsync.cron").split(separator: "\n").filter { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            return !trimmed.isEmpty && !trimmed.hasPrefix("#")
        }
    }

    static func variables() throws -> [String: String] {
        var variables: [String: String] = [:]
        for entry in try entries() where !(entry.first?.isNumber ?? false) && !entry.hasPrefix("*") && !entry.hasPrefix("@") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            #expect(parts.count == 2 && !parts[0].contains(" "), "not a job nor a variable: \(entry)")
            if parts.count == 2 { variables[String(parts[0])] = String(parts[1]) }
        }
        return variables
    }

    struct Job {
        var time: [String]
        var user: String
        var command: String
    }

    /// The one job line: five time fields, the user, the command (the rest of the line).
    static func job() throws -> Job {
        let jobs = try entries().filter { ($0.first?.isNumber ?? false) || $0.hasPrefix("*") }
        try #require(jobs.count == 1, "expected one job line, found \(jobs.count)")
        var rest = jobs[0][...]
        var fields: [String] = []
        for _ in 0..<6 {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            let field = rest.prefix { $0 != " " && $0 != "\t" }
            fields.append(String(field))
            rest = rest.dropFirst(field.count)
        }
        let command = String(rest.drop { $0 == " " || $0 == "\t" })
        try #require(!command.isEmpty, "the job line has no command")
        return Job(time: Array(fields[0..<5]), user: fields[5], command: command)
    }

    /// The arguments the crontab command gives ldapsync (it has no quoted arguments):
    /// from after the binary to the first shell redirection or parenthesis.
    static func cronArguments() throws -> [String] {
        let words = try job().command.split(separator: " ").map(String.init)
        let start = try #require(words.firstIndex { $0.hasSuffix(installedBinary) }, "the command does not run \(installedBinary)")
        return Array(words[(start + 1)...].prefix { !$0.contains(">") && !$0.contains(")") && !$0.contains(";") })
    }

    static func serviceArguments() throws -> [String] {
        let execStart = try #require(UnitFile(text("ldapsync.service")).value("Service", "ExecStart"))
        let words = execStart.split(separator: " ").map(String.init)
        try #require(words.first == installedBinary, "ExecStart does not run \(installedBinary)")
        return Array(words.dropFirst())
    }
}

extension [String] {
    /// The word after `option`.
    func argument(after option: String) -> String? {
        guard let index = firstIndex(of: option), index + 1 < count else { return nil }
        return self[index + 1]
    }
}

/// One crontab time field: `*`, numbers, ranges and lists, each with an optional `/step`.
enum CronField {
    static func isValid(_ field: String, _ range: ClosedRange<Int>) -> Bool {
        field.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { item in
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count) else { return false }
            if parts.count == 2 {
                guard let step = Int(parts[1]), step > 0, step <= range.upperBound else { return false }
            }
            if parts[0] == "*" { return true }
            let bounds = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(bounds.count), bounds.allSatisfy({ $0.map(range.contains) ?? false }) else { return false }
            return bounds.count == 1 ? parts.count == 1 : bounds[0]! <= bounds[1]!
        }
    }
}

/// A systemd unit file's `Key=value` lines by section (comments and blank lines skipped;
/// no continuation lines, which our files do not use).
struct UnitFile {
    private var entries: [(section: String, key: String, value: String)] = []

    init(_ text: String) {
        var section = ""
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if trimmed.hasPrefix("["), trimmed.hasSuffix("]") {
                section = String(trimmed.dropFirst().dropLast())
                continue
            }
            guard let equals = trimmed.firstIndex(of: "=") else { continue }
            entries.append((section, trimmed[..<equals].trimmingCharacters(in: .whitespaces),
                            trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)))
        }
    }

    func values(_ section: String, _ key: String) -> [String] {
        entries.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    /// The last assignment, as systemd reads it.
    func value(_ section: String, _ key: String) -> String? {
        values(section, key).last
    }
}

// MARK: - Support

/// The `ldapsync` executable SwiftPM built beside the test bundle (as `runLDAPSync` finds it).
func builtLDAPSync() throws -> URL {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [bundleDirectory, bundleDirectory.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
    return try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) },
                        "ldapsync not found beside \(bundleDirectory.path)")
}

/// Runs an external program, killing it if it takes longer than `timeout`.
enum ExternalTool {
    static func run(_ program: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String]? = nil,
                    timeout: Duration = .seconds(60)) throws -> (status: Int32, output: String, errors: String) {
        let path = program.hasPrefix("/") ? program : try #require(
            ["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map { $0 + "/" + program }.first { FileManager.default.isExecutableFile(atPath: $0) },
            "\(program) is not installed (make deps)")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? FileManager.default.temporaryDirectory
        if let environment { process.environment = environment }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: watchdog)
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }
}

/// A private temporary directory, removed with its contents at deinit.
final class ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-cron-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        try #require(FileManager.default.createFile(atPath: path(name), contents: Data(text.utf8), attributes: [.posixPermissions: mode]))
    }
}

/// An exclusive `flock` on a run lock file, with this process's pid in it, as a running
/// ldapsync holds it.
final class HeldRunLock {
    private var descriptor: Int32

    init(_ path: String) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(descriptor >= 0, "cannot open \(path): \(String(cString: strerror(errno)))")
        try #require(flock(descriptor, LOCK_EX | LOCK_NB) == 0, "cannot lock \(path)")
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// The permission bits of a file or directory.
func fileMode(_ path: String) throws -> Int {
    var status = stat()
    try #require(stat(path, &status) == 0, "cannot stat \(path)")
    return Int(status.st_mode & 0o7777)
}
