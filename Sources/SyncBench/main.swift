// Benchmark (not a test): a full `ldapsync run` of a large directory into a fresh SQLite
// app store, side by side with `ldapsearch` dumping the same entries, then incremental
// runs after 100 changes and with none.
//
//   swift run -c release --scratch-path .build-release SyncBench [path/to/ldapsync]
//       [--users 100000] [--groups 1000] [--members 150] [--changes 100] [--rounds 3]
//       [--writeback-users 10000] [--writeback-rounds 5] [--writeback-only | --no-writeback] [--window-sweep]
//
// Then, in slapds of its own (a freshly loaded one per round), the write-back of one changed attribute on every one of
// --writeback-users users (an UPDATE of the app store), side by side with ldapmodify
// applying as many changes from one LDIF file; --writeback-only runs just that part,
// --window-sweep adds pipeline windows 2 to 64 to the writes sent from this process.
//
// The ldapsync executable (default .build-release/release/ldapsync) runs as a child
// process, as cron would run it; its wall time, CPU time and peak RSS come from
// wait4(2), so they are its own, not this process's nor slapd's. slapd's CPU time is
// read from /proc. Each full run starts from an empty state directory and app store.
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// Prints at once (our children write to files, but the progress lines should not wait).
func say(_ text: String = "") {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

// MARK: Children, measured with wait4

/// How a child process ran: its own wall time, CPU time and peak resident set.
struct ChildRun {
    var status: Int32
    var signal: Int32
    var wall: Double
    var cpu: Double
    /// ru_maxrss: kilobytes on Linux.
    var maxRSSKilobytes: Int
    /// Lines the child wrote to stderr, each with the seconds since the launch.
    var stderrLines: [(seconds: Double, line: String)]
    var stdout: String
    /// With spawnMeasured(trace: true): VmRSS in kilobytes every 50 ms, seconds since the launch.
    var rssTrace: [RSSReading] = []

    var succeeded: Bool { status == 0 && signal == 0 }
    var megabytes: Double { Double(maxRSSKilobytes) / 1024 }
}

func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Starts `path` with posix_spawn, no signal blocked and SIGPIPE at its default; `files`
/// opens or duplicates descriptors 0–2 first (nil: inherit them).
func spawn(_ path: String, _ arguments: [String], files: ((inout posix_spawn_file_actions_t) -> Void)? = nil) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    files?(&actions)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard spawned == 0 else { throw BenchError(description: "cannot start \(path): \(String(cString: strerror(spawned)))") }
    return pid
}

/// Waits for `pid` and returns its status word and resource usage.
func reap(_ pid: pid_t) throws -> (status: Int32, usage: rusage) {
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError(description: "wait4: \(String(cString: strerror(errno)))") }
    }
    return (status, usage)
}

// Launcher mode: `SyncBench --launch STATS PROGRAM ARGS...` runs PROGRAM with this
// process's descriptors, reaps it with wait4 and writes "status signal wall cpu maxrss"
// to STATS. Why a separate small process: posix_spawn starts the child in its parent's
// address space (vfork), and Linux carries that address space's peak RSS into the
// child's ru_maxrss at exec. Spawned from this benchmark, which held the 40 MB fixture
// LDIF, every child would report at least its peak (over 120 MB); spawned from a fresh
// launcher it reports at least the launcher's few MB.
if CommandLine.arguments.count >= 4, CommandLine.arguments[1] == "--launch" {
    let statsPath = CommandLine.arguments[2]
    let start = ContinuousClock.now
    do {
        let pid = try spawn(CommandLine.arguments[3], Array(CommandLine.arguments.dropFirst(4)))
        // For the RSS sampler of spawnMeasured(trace: true): which process to read.
        try? "\(pid)".write(toFile: statsPath + ".pid", atomically: true, encoding: .utf8)
        let (status, usage) = try reap(pid)
        let wall = seconds(ContinuousClock.now - start)
        let signal = status & 0x7f
        let line = "\(signal == 0 ? (status >> 8) & 0xff : 0) \(signal) \(wall) \(seconds(usage.ru_utime) + seconds(usage.ru_stime)) \(usage.ru_maxrss)\n"
        try line.write(toFile: statsPath, atomically: true, encoding: .utf8)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("SyncBench --launch: \(error)\n".utf8))
        exit(125)
    }
}

/// Runs `path` with `arguments` through the launcher (above): stdin from /dev/null,
/// stdout to `stdoutPath` (read back unless it is /dev/null), stderr through a pipe whose
/// lines are timestamped as they arrive. Foundation's Process reaps only the pids it
/// started, so wait4 here does not race with it.
func spawnMeasured(_ path: String, _ arguments: [String], stdoutPath: String, trace: Bool = false) throws -> ChildRun {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { throw BenchError(description: "pipe: \(String(cString: strerror(errno)))") }
    // Neither end stays open in the child past exec (dup2 onto fd 2 clears the flag there).
    for end in pipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    let statsPath = NSTemporaryDirectory() + "syncbench-stats-\(getpid())-\(UUID().uuidString)"
    defer { unlink(statsPath); unlink(statsPath + ".pid") }
    let start = ContinuousClock.now
    let launcher: pid_t
    do {
        launcher = try spawn("/proc/self/exe", ["--launch", statsPath, path] + arguments) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, pipe[1], 2)
        }
    } catch {
        close(pipe[0])
        close(pipe[1])
        throw error
    }
    close(pipe[1])
    let sampler = trace ? RSSSampler(pidFile: statsPath + ".pid", start: start) : nil

    // Read stderr until the child and the launcher have closed it, then reap.
    var lines: [(Double, String)] = []
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(pipe[0], $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count <= 0 { break }
        let now = seconds(ContinuousClock.now - start)
        pending += buffer[..<count]
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append((now, String(decoding: pending[..<newline], as: UTF8.self)))
            pending.removeSubrange(...newline)
        }
    }
    if !pending.isEmpty { lines.append((seconds(ContinuousClock.now - start), String(decoding: pending, as: UTF8.self))) }
    close(pipe[0])
    let (launcherStatus, _) = try reap(launcher)
    let rssTrace = sampler?.stop() ?? []
    let stats = ((try? String(contentsOfFile: statsPath, encoding: .utf8)) ?? "").split(separator: " ")
    guard launcherStatus == 0, stats.count == 5, let status = Int32(stats[0]), let signal = Int32(stats[1]),
          let wall = Double(stats[2]), let cpu = Double(stats[3]), let maxRSS = Int(stats[4].trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw BenchError(description: "the launcher for \(path) failed (\(launcherStatus)): \(lines.map(\.1).joined(separator: "\n"))")
    }
    return ChildRun(
        status: status, signal: signal, wall: wall, cpu: cpu, maxRSSKilobytes: maxRSS, stderrLines: lines,
        stdout: stdoutPath == "/dev/null" ? "" : ((try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""),
        rssTrace: rssTrace)
}

// MARK: Arguments

var ldapsyncPath = ".build-release/release/ldapsync"
/// The directory sizes (people; groups are a hundredth of them), smallest first.
var sizes = [10_000, 100_000, 1_000_000]
var changeCount = 100
/// Rounds of the full runs below `largeSize` people, and at or above it. A 1M full run
/// takes about 20 s; one alone varied by 10% from run to run on the 2-core VM, so the
/// report takes the median of three there too.
var rounds = 3
var largeRounds = 3
let largeSize = 500_000
/// The app stores: "sqlite", "postgres", or "auto" (SQLite, and PostgreSQL when a private
/// server can be started here).
var storeNames = ["auto"]
/// Where the report goes (table.md, scale.csv, rss-*.csv); nil: printed only.
var resultsDirectory: String?
/// A command put in front of every ldapsync run (valgrind for the profile), comma-separated.
var wrapper: [String] = []
/// Only the full runs (for the profile): no incremental runs, no write-back.
var onlyFull = false
/// The write-back benchmark (one changed attribute on every user, against ldapmodify):
/// after the full and incremental part, or alone with --writeback-only; --no-writeback
/// leaves it out.
var writeBackUsers = 10_000
var writeBackRounds = 5
/// The windows of the pipelined writes sent from this process (32: ldapsync's).
var pipelineWindows = [1, 32]
var runWriteBack = true
var writeBackOnly = false
do {
    var arguments = CommandLine.arguments.dropFirst()[...]
    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("SyncBench: \(message)\n".utf8))
        exit(2)
    }
    func number(_ name: String) -> Int {
        guard let text = arguments.popFirst(), let value = Int(text), value > 0 else { fail("\(name) needs a positive number") }
        return value
    }
    func text(_ name: String) -> String {
        guard let text = arguments.popFirst() else { fail("\(name) needs a value") }
        return text
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--sizes":
            let list = text(argument).split(separator: ",").map(parseSize)
            guard !list.isEmpty, list.allSatisfy({ $0 != nil }) else { fail("--sizes takes sizes like 10k,100k,1M") }
            sizes = list.compactMap { $0 }.sorted()
        case "--users": sizes = [number(argument)]
        case "--changes": changeCount = number(argument)
        case "--rounds": rounds = number(argument)
        case "--large-rounds": largeRounds = number(argument)
        case "--stores":
            storeNames = text(argument).split(separator: ",").map(String.init)
            guard storeNames.allSatisfy({ ["auto", "sqlite", "postgres"].contains($0) }) else { fail("--stores takes auto, sqlite, postgres") }
        case "--results": resultsDirectory = text(argument)
        case "--wrap": wrapper = text(argument).split(separator: ",").map(String.init)
        case "--only-full": onlyFull = true
        case "--writeback-users": writeBackUsers = number(argument)
        case "--writeback-rounds": writeBackRounds = number(argument)
        case "--writeback-only": writeBackOnly = true
        case "--window-sweep": pipelineWindows = [1, 2, 4, 8, 16, 32, 64]
        case "--no-writeback": runWriteBack = false
        case "--serve":
            // The benchmark's directory of SIZE people alone, for profiling by hand: loads it,
            // prints the URL, the sync DN and a password file, and serves until stdin closes.
            guard let size = parseSize(Substring(text(argument))) else { fail("--serve takes a size like 1M") }
            do {
                try serveDirectory(users: size)
                exit(0)
            } catch {
                fail("--serve: \(error)")
            }
        case "--postgres-check":
            // The private PostgreSQL of the benchmark alone: start, log in over TCP with the
            // role's password (psql, PGPASSFILE), re-create the database, stop.
            do {
                try postgresCheck()
                exit(0)
            } catch {
                fail("--postgres-check: \(error)")
            }
        default: ldapsyncPath = argument
        }
    }
}
let ldapsync = URL(fileURLWithPath: ldapsyncPath).standardizedFileURL.path
guard FileManager.default.isExecutableFile(atPath: ldapsync) else {
    FileHandle.standardError.write(Data("SyncBench: \(ldapsync) is not there; build it with swift build -c release --scratch-path .build-release\n".utf8))
    exit(2)
}

/// slapd's user + system CPU seconds so far, from /proc/PID/stat.
@Sendable func slapdCPU(_ pid: pid_t?) -> Double {
    guard let pid, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return .nan }
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

struct Sample {
    var wall: Double
    var cpu: Double
    var slapdCPU: Double
    var megabytes: Double
}

struct SyncSample {
    var sample: Sample
    var counts: [Int]
    var run: ChildRun
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// The numbers of ldapsync's summary row: fetched, created, updated, deactivated,
/// members +, members -, written back, conflicts, failures.
func summaryCounts(_ run: ChildRun) -> [Int] {
    let lines = run.stdout.split(separator: "\n")
    guard let header = lines.firstIndex(where: { $0.hasPrefix("directory ") }), header + 1 < lines.count else { return [] }
    return lines[header + 1].split(separator: " ").dropFirst().compactMap { Int($0) }
}

/// Where the time of a run went, from the arrival times of its debug log lines on stderr
/// ("search complete" after each search): the phases between them.
func phases(_ run: ChildRun) -> String {
    var previous = 0.0
    var parts: [String] = []
    for (time, line) in run.stderrLines where line.contains("search complete") {
        let entries = line.range(of: "ldap.entries=").map { line[$0.upperBound...].prefix { $0.isNumber } } ?? "?"
        let base = line.range(of: "ldap.dn=").map { line[$0.upperBound...].prefix { $0 != "," && $0 != " " } } ?? "?"
        parts.append(String(format: "search %@ (%@ entries) until %.2f s (+%.2f)", String(base), String(entries), time, time - previous))
        previous = time
    }
    parts.append(String(format: "decide + write app + commit state until %.2f s (+%.2f)", run.wall, run.wall - previous))
    return parts.joined(separator: "\n    ")
}

// MARK: Write-back: one changed attribute on every user, against ldapmodify

/// Seconds since the epoch now (CLOCK_REALTIME, the clock of ldapsync's audit times).
@Sendable func realtimeNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The times (seconds since the epoch) of the `"side":"ldap"` records of an audit log
/// (JSON lines; `time` is ISO 8601 UTC with up to nine fractional digits), in file order.
func ldapAuditTimes(_ path: String) throws -> [Double] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let whole = ISO8601DateFormatter()
    var times: [Double] = []
    for line in text.split(separator: "\n") where line.contains(#""side":"ldap""#) {
        guard let open = line.range(of: #""time":""#),
              let close = line[open.upperBound...].firstIndex(of: "\"") else { continue }
        let stamp = line[open.upperBound..<close]  // 2026-11-22T10:00:01.123456789Z
        var fraction = 0.0
        var seconds = String(stamp)
        if let dot = stamp.firstIndex(of: ".") {
            fraction = Double("0" + stamp[dot...].dropLast()) ?? 0
            seconds = String(stamp[..<dot]) + "Z"
        }
        guard let date = whole.date(from: seconds) else { throw BenchError(description: "audit time \(stamp) not understood") }
        times.append(date.timeIntervalSince1970 + fraction)
    }
    return times
}

/// Samples a process's CPU time (`slapdCPU`) every 5 ms on a thread of its own, to tell
/// how much of it falls between two instants of the realtime clock.
final class CPUSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [(time: Double, cpu: Double)] = []  // guarded by lock
    private var stopped = false  // guarded by lock
    private let done = DispatchSemaphore(value: 0)

    init(pid: pid_t?) {
        Thread.detachNewThread { [self] in
            while true {
                let sample = (realtimeNow(), slapdCPU(pid))
                let stop = lock.withLock {
                    samples.append(sample)
                    return stopped
                }
                if stop { break }
                usleep(5_000)
            }
            done.signal()
        }
    }

    func stop() {
        lock.withLock { stopped = true }
        done.wait()
    }

    /// CPU seconds from the last sample at or before `start` to the first at or after `end`
    /// (so it covers the interval, with up to 5 ms and one clock tick to spare on each side).
    func cpu(from start: Double, to end: Double) -> Double {
        lock.withLock {
            guard let before = samples.last(where: { $0.time <= start }),
                  let after = samples.first(where: { $0.time >= end }) else { return .nan }
            return after.cpu - before.cpu
        }
    }
}

/// A measured write-back run: the run, and when (seconds after its launch) the answers
/// to its first and last LDAP writes arrived, from the audit log.
struct WriteBackSample {
    var sync: SyncSample
    var firstWrite: Double
    var lastWrite: Double
    /// slapd's CPU seconds between the first and the last answer.
    var writesSlapdCPU: Double
    /// The last "search complete" debug line, seconds after the launch.
    var searchesDone: Double
}

/// This process's user + system CPU seconds so far.
func ownCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Sends `count` modifies (replace telephoneNumber with `prefix` + uid) from this process
/// through LDAPClient's pipeline with `window` in flight on one connection: the writes of
/// a write-back run with nothing before or after them.
func pipelinedModifies(_ server: SlapdServer, count: Int, window: Int, prefix: String) throws -> Sample {
    let peopleBase = "ou=people,\(server.configuration.suffix)"
    let operations = (1...count).map { number in
        let uid = Fixtures.personUID(number)
        return WriteOperation.modify(dn: "uid=\(uid),\(peopleBase)",
                                     modifications: [Modification(.replace, "telephoneNumber", strings: [prefix + uid])])
    }
    let connection = try LDAPConnection(url: server.url)
    try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
    let slapdBefore = slapdCPU(server.pid)
    let cpuBefore = ownCPU()
    let start = ContinuousClock.now
    var failures = 0
    connection.pipeline(operations, window: window) { _, result in
        if case .failure = result { failures += 1 }
    }
    let wall = seconds(ContinuousClock.now - start)
    let sample = Sample(wall: wall, cpu: ownCPU() - cpuBefore, slapdCPU: slapdCPU(server.pid) - slapdBefore, megabytes: .nan)
    guard failures == 0 else { throw BenchError(description: "\(failures) of \(count) pipelined modifies (window \(window)) failed") }
    return sample
}

/// Per round, in a freshly loaded slapd of `writeBackUsers` people: a fresh state and app
/// store (`ldapsync init`, a full `ldapsync run`); one UPDATE of `phone` on every app row
/// with the sqlite3 shell; the timed `ldapsync run` that writes them back; then, on the
/// same server, the timed `ldapmodify` of as many changes (fresh values) from one LDIF
/// file, and from 4 files by 4 ldapmodify processes at once (slapd with several writes in
/// flight and next to no client work); the writes alone from this process through
/// LDAPClient's pipeline (`pipelineWindows`); then the same write-back with
/// `ldapsync run --full`.
///
/// Why a fresh slapd per round: an incremental run decides only the users it reads from
/// LDAP, so it sees an app edit only for users whose entry falls in its search window
/// (the edits of the others wait for a full run: a defect of ldapsync, not of this
/// benchmark). The first incremental run after a full one reads from (cursor − the full
/// run's read duration); slapadd stamps all 10,000 entries within that window, so that
/// run reads, and writes back, every user. On a server whose entries were modified over
/// more than a second (by the previous round's ldapmodify) it reads only the newest ones.
/// The run checks "written back" = the number of users, and LDAP's values, every round.
/// What the write-back part reports: its table and the target line.
struct WriteBackReport {
    var lines: [String]
    var ratio: Double
}

@MainActor func writeBackBenchmark() throws -> WriteBackReport {
    let count = writeBackUsers
    say("")
    say("Write-back: \(count) people (no groups), one changed attribute each, against ldapmodify; a freshly loaded slapd per round")
    let fixture = Fixtures.people(count: count)
    let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("syncbench-writeback-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: work) }
    func path(_ name: String) -> String { work.appendingPathComponent(name).path }
    let configPath = path("ldapsync.yaml")
    let ldapmodifyLDIF = path("changes.ldif")

    var plain: [WriteBackSample] = []
    var full: [WriteBackSample] = []
    var modifies: [Sample] = []
    var parallels: [Sample] = []
    var pipelined: [Int: [Sample]] = [:]
    for round in 1...writeBackRounds {
        let server = try SlapdServer.start(ldif: fixture)
        let peopleBase = "ou=people,\(server.configuration.suffix)"
        let passwordFile = try server.writePasswordFile(server.configuration.syncPassword)
        try """
            version: 1
            state: \(path("state"))
            directories:
              - name: bench
                url: "\(server.url)"
                bind: { dn: "\(server.configuration.syncDN)", passwordFile: \(passwordFile) }
                users: { base: "\(peopleBase)" }
                timestamp: { overlap: 0s }
            app: { kind: sqlite, path: \(path("app.db")) }
            attributes:
              - { ldap: cn, app: name }
              - { ldap: telephoneNumber, app: phone, direction: both }
            writeBack: { enabled: true }
            audit: { path: \(path("audit.jsonl")) }

            """.write(toFile: configPath, atomically: true, encoding: .utf8)

        func sync(_ arguments: [String] = []) throws -> SyncSample {
            let slapdBefore = slapdCPU(server.pid)
            let run = try spawnMeasured(ldapsync, ["run", "--config", configPath, "--log-level", "debug"] + arguments,
                                        stdoutPath: path("run.out"))
            let slapd = slapdCPU(server.pid) - slapdBefore
            guard run.succeeded else {
                throw BenchError(description: "ldapsync run exited \(run.status) (signal \(run.signal)):\n\(run.stdout)\n"
                                 + run.stderrLines.suffix(20).map(\.line).joined(separator: "\n"))
            }
            return SyncSample(sample: Sample(wall: run.wall, cpu: run.cpu, slapdCPU: slapd, megabytes: run.megabytes),
                              counts: summaryCounts(run), run: run)
        }

        /// How many people have a telephoneNumber starting with `prefix` (ldapsearch, untimed).
        func countPhones(prefix: String) throws -> Int {
            let run = try spawnMeasured("/usr/bin/ldapsearch", [
                "-x", "-LLL", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile,
                "-b", peopleBase, "-E", "pr=1000/noprompt", "(telephoneNumber=\(prefix)*)", "1.1",
            ], stdoutPath: path("count.ldif"))
            guard run.succeeded else { throw BenchError(description: "ldapsearch failed: \(run.stderrLines.map(\.line))") }
            return run.stdout.split(separator: "\n").filter { $0.hasPrefix("dn: ") }.count
        }

        /// Runs the sqlite3 shell on the app store (untimed).
        func sqlite(_ statement: String) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [path("app.db"), statement]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw BenchError(description: "sqlite3 \(statement) exited \(process.terminationStatus)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Edits `phone` of every app user, then times the run that writes the edits back
        /// and checks that every one of them is in LDAP.
        func writeBack(prefix: String, _ arguments: [String] = []) throws -> WriteBackSample {
            _ = try sqlite("UPDATE users SET phone = '\(prefix)' || key")
            let edited = try sqlite("SELECT count(*) FROM users WHERE phone LIKE '\(prefix)%'")
            guard edited == "\(count)" else { throw BenchError(description: "the UPDATE changed \(edited) rows, not \(count)") }
            try? FileManager.default.removeItem(atPath: path("audit.jsonl"))
            let sampler = CPUSampler(pid: server.pid)
            let launched = realtimeNow()
            let run: SyncSample
            do {
                defer { sampler.stop() }
                run = try sync(arguments)
            }
            let times = try ldapAuditTimes(path("audit.jsonl"))
            let written = run.counts.count >= 7 ? run.counts[6] : -1
            guard written == count, times.count == count else {
                throw BenchError(description: "ldapsync run \(arguments.joined(separator: " ")) wrote back \(written) users (\(times.count) LDAP audit lines), not \(count):\n\(run.run.stdout)")
            }
            let inLDAP = try countPhones(prefix: prefix)
            guard inLDAP == count else { throw BenchError(description: "after the write-back run \(inLDAP) people have the app's phone, not \(count)") }
            let first = times.min() ?? .nan
            let last = times.max() ?? .nan
            return WriteBackSample(sync: run, firstWrite: first - launched, lastWrite: last - launched,
                                   writesSlapdCPU: sampler.cpu(from: first, to: last),
                                   searchesDone: run.run.stderrLines.last { $0.line.contains("search complete") }?.seconds ?? .nan)
        }

        // A fresh state and app store, filled by a full run (untimed).
        for name in ["state", "app.db", "app.db-wal", "app.db-shm"] { try? FileManager.default.removeItem(atPath: path(name)) }
        let initRun = try spawnMeasured(ldapsync, ["init", "--config", configPath], stdoutPath: path("init.out"))
        guard initRun.succeeded else { throw BenchError(description: "ldapsync init exited \(initRun.status): \(initRun.stderrLines.map(\.line))") }
        let first = try sync()
        guard first.counts.count >= 7, first.counts[1] == count else {
            throw BenchError(description: "the full run did not create \(count) users:\n\(first.run.stdout)")
        }

        // Timed: `ldapsync run` writes back the app's edits.
        let sample = try writeBack(prefix: "w\(round)-")
        plain.append(sample)

        // Timed: ldapmodify applies as many changes (fresh values) from one file.
        let ldapPrefix = "m\(round)-"
        var changes = ""
        changes.reserveCapacity(count * 130)
        for number in 1...count {
            let uid = Fixtures.personUID(number)
            changes += "dn: uid=\(uid),\(peopleBase)\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: \(ldapPrefix)\(uid)\n-\n\n"
        }
        try changes.write(toFile: ldapmodifyLDIF, atomically: true, encoding: .utf8)
        let slapdBefore = slapdCPU(server.pid)
        let modify = try spawnMeasured("/usr/bin/ldapmodify", [
            "-x", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile, "-f", ldapmodifyLDIF,
        ], stdoutPath: "/dev/null")
        let modifySlapd = slapdCPU(server.pid) - slapdBefore
        guard modify.succeeded else {
            throw BenchError(description: "ldapmodify exited \(modify.status): \(modify.stderrLines.suffix(5).map(\.line).joined(separator: "\n"))")
        }
        let modified = try countPhones(prefix: ldapPrefix)
        guard modified == count else { throw BenchError(description: "after ldapmodify \(modified) people have its phone, not \(count)") }
        modifies.append(Sample(wall: modify.wall, cpu: modify.cpu, slapdCPU: modifySlapd, megabytes: modify.megabytes))

        // Timed: the same number of changes (fresh values) from 4 LDIF files, with 4
        // ldapmodify processes at once: how fast slapd takes these writes when several
        // are in flight, with no client work to speak of. One shell runs them and waits
        // for them, so its wait4 figures include theirs.
        let parallelPrefix = "p\(round)-"
        let parts = 4
        var script = ""
        for part in 0..<parts {
            var changes = ""
            for number in stride(from: part + 1, through: count, by: parts) {
                let uid = Fixtures.personUID(number)
                changes += "dn: uid=\(uid),\(peopleBase)\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: \(parallelPrefix)\(uid)\n-\n\n"
            }
            let file = path("changes-\(part).ldif")
            try changes.write(toFile: file, atomically: true, encoding: .utf8)
            script += "/usr/bin/ldapmodify -x -H '\(server.url)' -D '\(server.configuration.syncDN)' -y '\(passwordFile)' -f '\(file)' > /dev/null & pids=\"$pids $!\"; "
        }
        script += "for pid in $pids; do wait $pid || exit 1; done"
        let parallelBefore = slapdCPU(server.pid)
        let parallel = try spawnMeasured("/bin/sh", ["-c", script], stdoutPath: "/dev/null")
        let parallelSlapd = slapdCPU(server.pid) - parallelBefore
        guard parallel.succeeded else {
            throw BenchError(description: "\(parts) ldapmodify at once failed (\(parallel.status)): \(parallel.stderrLines.suffix(5).map(\.line).joined(separator: "\n"))")
        }
        let parallelModified = try countPhones(prefix: parallelPrefix)
        guard parallelModified == count else { throw BenchError(description: "after \(parts) ldapmodify at once \(parallelModified) people have their phone, not \(count)") }
        parallels.append(Sample(wall: parallel.wall, cpu: parallel.cpu, slapdCPU: parallelSlapd, megabytes: parallel.megabytes))

        // Timed: the writes alone, sent from this process through LDAPClient's pipeline on
        // one connection, one at a time (window 1, what ldapmodify does) and with
        // ldapsync's window.
        for window in pipelineWindows {
            let prefix = "s\(window)-"
            let sample = try pipelinedModifies(server, count: count, window: window, prefix: prefix)
            let applied = try countPhones(prefix: prefix)
            guard applied == count else { throw BenchError(description: "after the pipelined modifies (window \(window)) \(applied) people have their phone, not \(count)") }
            pipelined[window, default: []].append(sample)
        }

        // Timed: the same write-back with --full, after a --full run (untimed) has taken
        // ldapmodify's values into the app.
        let settle = try sync(["--full"])
        guard settle.counts.count >= 7, settle.counts[2] == count else {
            throw BenchError(description: "the --full run after ldapmodify did not update \(count) users:\n\(settle.run.stdout)")
        }
        let fullSample = try writeBack(prefix: "f\(round)-", ["--full"])
        full.append(fullSample)
        try server.stop()

        say(String(format: "  round %d: ldapsync run %.2f s (cpu %.2f s, slapd %.2f s, peak RSS %.0f MB; searches done %.2f s, writes answered %.2f–%.2f s, slapd %.2f s in them) | ldapmodify %.2f s (cpu %.2f s, slapd %.2f s) | ratio %.2f | 4 x ldapmodify %.2f s (slapd %.2f s) | run --full %.2f s (writes %.2f–%.2f s)",
                   round, sample.sync.sample.wall, sample.sync.sample.cpu, sample.sync.sample.slapdCPU, sample.sync.sample.megabytes,
                   sample.searchesDone, sample.firstWrite, sample.lastWrite, sample.writesSlapdCPU, modify.wall, modify.cpu, modifySlapd,
                   sample.sync.sample.wall / modify.wall, parallel.wall, parallelSlapd, fullSample.sync.sample.wall, fullSample.firstWrite, fullSample.lastWrite))
    }

    let middle = plain.sorted { $0.sync.sample.wall < $1.sync.sample.wall }[plain.count / 2]
    say("  phases of the median write-back run (debug log lines; the writes from the audit log's times):\n    " + phases(middle.sync.run))
    say(String(format: "    first write answered at %.2f s, last at %.2f s (writes %.2f s), then the audit flush and state commit until %.2f s",
                   middle.firstWrite, middle.lastWrite, middle.lastWrite - middle.firstWrite, middle.sync.sample.wall))

    let modifyWall = median(modifies.map(\.wall))
    func row(_ name: String, _ samples: [Sample]) -> String {
        let wall = median(samples.map(\.wall))
        let megabytes = samples.map(\.megabytes).max() ?? .nan
        return String(format: "| %@ | %.2f | %.2fx | %.2f | %.2f | %@ |", name, wall, wall / modifyWall, median(samples.map(\.cpu)),
                      median(samples.map(\.slapdCPU)), megabytes.isNaN ? "–" : String(format: "%.0f", megabytes))
    }
    func part(_ name: String, _ values: [Double], slapd: [Double]? = nil) -> String {
        let value = median(values)
        return String(format: "| %@ | %.2f | %.2fx | | %@ | |", name, value, value / modifyWall,
                      slapd.map { String(format: "%.2f", median($0)) } ?? "")
    }
    var lines: [String] = []
    func emit(_ line: String) {
        say(line)
        lines.append(line)
    }
    say("")
    emit("\(count) users, one changed attribute each (telephoneNumber ↔ phone, direction: both); median of \(writeBackRounds) rounds")
    emit("(wall: the whole process, slapd's work included; CPU: user+system of the client process alone; slapd CPU: the server's):")
    emit("| run | wall s | vs ldapmodify | client CPU s | slapd CPU s | peak RSS MB |")
    emit("|---|---|---|---|---|---|")
    emit(row("ldapmodify -f, \(count) modifies from one LDIF file", modifies))
    emit(row("4 x ldapmodify -f at once, \(count / 4) modifies each", parallels))
    for window in pipelineWindows {
        emit(row("writes alone: LDAPClient pipeline, one connection, window \(window)", pipelined[window] ?? []))
    }
    emit(row("ldapsync run, \(count) written back", plain.map(\.sync.sample)))
    emit(part("… until the first write is answered", plain.map(\.firstWrite)))
    emit(part("… the pipelined writes (first answer to last)", plain.map { $0.lastWrite - $0.firstWrite }, slapd: plain.map(\.writesSlapdCPU)))
    emit(part("… after the last write (audit flush, state commit, exit)", plain.map { $0.sync.sample.wall - $0.lastWrite }))
    emit(row("ldapsync run --full, \(count) written back", full.map(\.sync.sample)))
    emit(part("… the pipelined writes (first answer to last)", full.map { $0.lastWrite - $0.firstWrite }, slapd: full.map(\.writesSlapdCPU)))
    // The ratio of each round's pair (run back to back on one server), not of the medians:
    // the machine's speed drifts between rounds more than between the two halves of one.
    let ratios = zip(plain, modifies).map { $0.sync.sample.wall / $1.wall }
    let ratio = median(ratios)
    emit("")
    emit("ldapsync run / ldapmodify per round: " + ratios.map { String(format: "%.2f", $0) }.joined(separator: ", "))
    emit(String(format: "Target: the write-back run <= ldapmodify (median ratio <= 1.0): %.2fx  %@ (%d of %d rounds at or under 1.0)",
               ratio, ratio <= 1 ? "met" : "MISSED", ratios.filter { $0 <= 1 }.count, ratios.count))
    return WriteBackReport(lines: lines, ratio: ratio)
}

// Everything from here on runs in one block: a failure stops it with a message and
// exit(1), whose atexit handler (SlapdSupport) kills slapd; an uncaught error at top
// level would abort without running it.
do {
    if writeBackOnly {
        _ = try writeBackBenchmark()
        exit(0)
    }
    let benchStart = ContinuousClock.now
    if let resultsDirectory {
        try FileManager.default.createDirectory(atPath: resultsDirectory, withIntermediateDirectories: true)
    }
    let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("syncbench-stores-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: work) }
    var kinds = storeNames.contains("auto") || storeNames.contains("sqlite") ? ["sqlite"] : []
    if storeNames.contains("auto") || storeNames.contains("postgres") { kinds.append("postgres") }
    let stores = kinds.map { StoreTarget(kind: $0, work: work) }
    if storeNames == ["auto"], let postgres = stores.first(where: { $0.kind == "postgres" }), let reason = PostgresServer.unavailableReason {
        postgres.unavailable = reason
    }
    let machine = machineDescription()
    say("Machine: \(machine)")

    var results: [SizeResult] = []
    do {
        defer { stores.forEach { $0.stop() } }
        for users in sizes {
            results.append(try scaleBenchmark(users: users, stores: stores, roundCount: users >= largeSize ? largeRounds : rounds,
                                              results: resultsDirectory))
        }
    }
    let writeBack = runWriteBack && !onlyFull ? try writeBackBenchmark() : nil
    let total = seconds(ContinuousClock.now - benchStart)

    // MARK: Report

    var lines: [String] = []
    let date = ISO8601DateFormatter().string(from: Date())
    lines.append("Run \(date) on \(machine); SyncBench took \(String(format: "%.0f", total)) s.")
    lines.append("Seeded data: per size, people and a hundredth as many groups (about 1.5 groups per person; a few large groups).")
    lines.append("ldapsync maps 3 attributes, groups: mirror. Full runs: median of \(rounds) rounds below \(grouped(largeSize)) people, of \(largeRounds) at and above;")
    lines.append("incremental rows: the same rounds; wall: the whole process, slapd's work included; CPU: the client process alone; peak RSS: ru_maxrss.")
    lines.append("")
    lines.append("| people | groups | memberships | run | wall s | vs ldapsearch | vs full run | client CPU s | slapd CPU s | peak RSS MB |")
    lines.append("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    func row(_ result: SizeResult, _ name: String, _ sample: Sample?, full: Double?, note: String = "") -> String {
        let head = "| \(grouped(result.users)) | \(grouped(result.groups)) | \(grouped(result.memberships)) | \(name)"
        guard let sample else { return head + " | \(note) | | | | | |" }
        return head + String(format: " | %.2f | %.2fx | %@ | %.2f | %.2f | %.0f |", sample.wall, sample.wall / result.dump.wall,
                             full.map { String(format: "%.0f%%", 100 * sample.wall / $0) } ?? "", sample.cpu, sample.slapdCPU, sample.megabytes)
    }
    for result in results {
        lines.append(row(result, "ldapsearch users + groups > /dev/null", result.dump, full: nil))
        for (store, sample, note) in result.full {
            lines.append(row(result, "full run into \(store)", sample, full: nil, note: note))
        }
        for (store, rows) in result.incremental {
            let full = result.full.first { $0.store == store }?.sample?.wall
            for (name, sample, fetched) in rows {
                lines.append(row(result, "\(store): \(name) (\(grouped(fetched)) fetched)", sample, full: full))
            }
        }
    }
    // Targets (issue #8).
    lines.append("")
    lines.append("Targets (issue #8):")
    func target(_ text: String, _ met: Bool?) { lines.append("- \(text): \(met.map { $0 ? "met" : "**missed**" } ?? "not measured")") }
    for result in results {
        for (store, sample, _) in result.full {
            let limit = store == "SQLite" ? 2.0 : 3.0
            if let sample {
                let ratio = sample.wall / result.dump.wall
                target(String(format: "%@ people, full run into %@ <= %.1fx ldapsearch: %.2fx", sizeLabel(result.users), store, limit, ratio), ratio <= limit)
            } else {
                target("\(sizeLabel(result.users)) people, full run into \(store) <= \(limit)x ldapsearch", nil)
            }
        }
    }
    if let large = results.last, large.users >= largeSize {
        for (store, sample, _) in large.full {
            guard let sample else { continue }
            target(String(format: "peak RSS at %@ people (%@) <= 150 MB: %.0f MB", sizeLabel(large.users), store, sample.megabytes), sample.megabytes <= 150)
            if let smaller = results.first(where: { $0.users * 10 == large.users }),
               let base = smaller.full.first(where: { $0.store == store })?.sample {
                let growth = sample.megabytes / base.megabytes
                target(String(format: "peak RSS at %@ <= 1.5x that at %@ (%@): %.2fx", sizeLabel(large.users), sizeLabel(smaller.users), store, growth), growth <= 1.5)
            }
        }
        for (store, rows) in large.incremental {
            let full = large.full.first { $0.store == store }?.sample?.wall ?? .nan
            if let fullOnly = rows.first(where: { $0.name.hasPrefix("full-only, \(changeCount) changed") })?.sample {
                target(String(format: "%@: incremental, %d changes, full-only, %@ people <= 2 s: %.2f s", store, changeCount, sizeLabel(large.users), fullOnly.wall), fullOnly.wall <= 2)
            }
            if let everyRun = rows.first(where: { $0.name.hasPrefix("every-run, \(changeCount) changed") })?.sample {
                let share = everyRun.wall / full
                target(String(format: "%@: incremental, %d changes, every-run, %@ people <= 15%% of the full run: %.1f%% (%.2f s)", store, changeCount,
                              sizeLabel(large.users), 100 * share, everyRun.wall), share <= 0.15)
            }
        }
    }
    if let writeBack {
        target(String(format: "write-back of %@ changes at >= 1.0x ldapmodify's rate (time ratio <= 1.0): %.2fx", grouped(writeBackUsers), writeBack.ratio),
               writeBack.ratio <= 1)
        lines.append("")
        lines.append("Write-back, in slapds of \(grouped(writeBackUsers)) people (a fresh one per round):")
        lines.append("")
        lines.append(contentsOf: writeBack.lines.filter { !$0.isEmpty && !$0.hasPrefix("Target") })
    }
    say("")
    lines.forEach { say($0) }

    if let resultsDirectory {
        try (lines.joined(separator: "\n") + "\n").write(toFile: "\(resultsDirectory)/table.md", atomically: true, encoding: .utf8)
        var csv = "people,groups,memberships,series,wall_s,cpu_s,peak_rss_mb\n"
        for result in results {
            csv += String(format: "%d,%d,%d,ldapsearch,%.3f,%.3f,%.1f\n", result.users, result.groups, result.memberships,
                          result.dump.wall, result.dump.cpu, result.dump.megabytes)
            for (store, sample, _) in result.full {
                guard let sample else { continue }
                csv += String(format: "%d,%d,%d,full %@,%.3f,%.3f,%.1f\n", result.users, result.groups, result.memberships, store,
                              sample.wall, sample.cpu, sample.megabytes)
            }
            for (store, rows) in result.incremental {
                for (name, sample, _) in rows where name.contains("changed") && !name.contains("nothing") {
                    csv += String(format: "%d,%d,%d,%@ %@,%.3f,%.3f,%.1f\n", result.users, result.groups, result.memberships, store,
                                  name.components(separatedBy: ",")[0], sample.wall, sample.cpu, sample.megabytes)
                }
            }
        }
        try csv.write(toFile: "\(resultsDirectory)/scale.csv", atomically: true, encoding: .utf8)
        say("")
        say("Wrote \(resultsDirectory)/table.md and scale.csv.")
    }
} catch {
    FileHandle.standardError.write(Data("SyncBench failed: \(error)\n".utf8))
    exit(1)
}
