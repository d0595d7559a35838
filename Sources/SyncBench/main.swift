// Benchmark (not a test): a full `ldapsync run` of a large directory into a fresh SQLite
// app store, side by side with `ldapsearch` dumping the same entries, then incremental
// runs after 100 changes and with none.
//
//   swift run -c release --scratch-path .build-release SyncBench [path/to/ldapsync]
//       [--users 100000] [--groups 1000] [--members 150] [--changes 100] [--rounds 3]
//
// The ldapsync executable (default .build-release/release/ldapsync) runs as a child
// process, as cron would run it; its wall time, CPU time and peak RSS come from
// wait4(2), so they are its own, not this process's nor slapd's. slapd's CPU time is
// read from /proc. Each full run starts from an empty state directory and app store.
import Foundation
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
func spawnMeasured(_ path: String, _ arguments: [String], stdoutPath: String) throws -> ChildRun {
    var pipe: [Int32] = [0, 0]
    guard Glibc.pipe(&pipe) == 0 else { throw BenchError(description: "pipe: \(String(cString: strerror(errno)))") }
    // Neither end stays open in the child past exec (dup2 onto fd 2 clears the flag there).
    for end in pipe { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
    let statsPath = NSTemporaryDirectory() + "syncbench-stats-\(getpid())-\(UUID().uuidString)"
    defer { unlink(statsPath) }
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
    let stats = ((try? String(contentsOfFile: statsPath, encoding: .utf8)) ?? "").split(separator: " ")
    guard launcherStatus == 0, stats.count == 5, let status = Int32(stats[0]), let signal = Int32(stats[1]),
          let wall = Double(stats[2]), let cpu = Double(stats[3]), let maxRSS = Int(stats[4].trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw BenchError(description: "the launcher for \(path) failed (\(launcherStatus)): \(lines.map(\.1).joined(separator: "\n"))")
    }
    return ChildRun(
        status: status, signal: signal, wall: wall, cpu: cpu, maxRSSKilobytes: maxRSS, stderrLines: lines,
        stdout: stdoutPath == "/dev/null" ? "" : ((try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? ""))
}

// MARK: Arguments

var ldapsyncPath = ".build-release/release/ldapsync"
var userCount = 100_000
var groupCount = 1_000
var membersPerGroup = 150
var changeCount = 100
var rounds = 3
do {
    var arguments = CommandLine.arguments.dropFirst()[...]
    func number(_ name: String) -> Int {
        guard let text = arguments.popFirst(), let value = Int(text), value > 0 else {
            FileHandle.standardError.write(Data("SyncBench: \(name) needs a positive number\n".utf8))
            exit(2)
        }
        return value
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--users": userCount = number(argument)
        case "--groups": groupCount = number(argument)
        case "--members": membersPerGroup = number(argument)
        case "--changes": changeCount = number(argument)
        case "--rounds": rounds = number(argument)
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
func slapdCPU(_ pid: pid_t?) -> Double {
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

// Everything from here on runs in one block: a failure stops it with a message and
// exit(1), whose atexit handler (SlapdSupport) kills slapd; an uncaught error at top
// level would abort without running it.
do {
    // MARK: The directory

    let memberships = groupCount * min(membersPerGroup, userCount)
    say("Generating \(userCount) people and \(groupCount) groups (\(memberships) memberships) and loading them with slapadd -q ...")
    let loadStart = ContinuousClock.now
    var ldif = Fixtures.people(count: userCount)
    ldif += Fixtures.groups(count: groupCount, membersPerGroup: membersPerGroup, peopleCount: userCount)
    let server = try SlapdServer.start(ldif: ldif)
    ldif = ""
    say(String(format: "  slapd ready in %.1f s (%@)", seconds(ContinuousClock.now - loadStart), server.url))
    let suffix = server.configuration.suffix
    let peopleBase = "ou=people,\(suffix)"
    let groupsBase = "ou=groups,\(suffix)"
    let passwordFile = try server.writePasswordFile(server.configuration.syncPassword)

    let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("syncbench-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: work) }
    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    // MARK: Baseline: ldapsearch

    let ldapsearch = "/usr/bin/ldapsearch"
    let userAttributes = ["cn", "mail", "telephoneNumber", "entryUUID", "uid", "modifyTimestamp"]
    func ldapsearchArguments(base: String, filter: String, attributes: [String]) -> [String] {
        ["-x", "-LLL", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile,
         "-b", base, "-E", "pr=1000/noprompt", filter] + attributes
    }
    let userSearch = ldapsearchArguments(base: peopleBase, filter: "(objectClass=inetOrgPerson)", attributes: userAttributes)
    let groupSearch = ldapsearchArguments(base: groupsBase, filter: "(objectClass=groupOfNames)", attributes: ["cn", "member"])

    func dump() throws -> Sample {
        let slapdBefore = slapdCPU(server.pid)
        var total = Sample(wall: 0, cpu: 0, slapdCPU: 0, megabytes: 0)
        for arguments in [userSearch, groupSearch] {
            let run = try spawnMeasured(ldapsearch, arguments, stdoutPath: "/dev/null")
            guard run.succeeded else {
                throw BenchError(description: "ldapsearch failed (\(run.status)): \(run.stderrLines.map(\.line).joined(separator: "\n"))")
            }
            total.wall += run.wall
            total.cpu += run.cpu
            total.megabytes = max(total.megabytes, run.megabytes)
        }
        total.slapdCPU = slapdCPU(server.pid) - slapdBefore
        return total
    }

    // What any child reports at least (the launcher's own resident set, see --launch).
    let floor = try spawnMeasured("/bin/true", [], stdoutPath: "/dev/null")
    say(String(format: "  peak RSS a child reports at least (/bin/true through the launcher): %.1f MB", floor.megabytes))
    say("Warming slapd up with one ldapsearch dump ...")
    _ = try dump()

    // MARK: ldapsync

    let configPath = path("ldapsync.yaml")
    try """
        version: 1
        state: \(path("state"))
        directories:
          - name: bench
            url: "\(server.url)"
            bind: { dn: "\(server.configuration.syncDN)", passwordFile: \(passwordFile) }
            users: { base: "\(peopleBase)" }
            groups: { base: "\(groupsBase)" }
            timestamp: { overlap: 0s }
        app: { kind: sqlite, path: \(path("app.db")) }
        attributes:
          - { ldap: cn, app: name }
          - { ldap: mail, app: email, multiValued: true }
          - { ldap: telephoneNumber, app: phone }
        groups: mirror
        audit: { path: \(path("audit.jsonl")) }

        """.write(toFile: configPath, atomically: true, encoding: .utf8)

    /// The numbers of ldapsync's summary row: fetched, created, updated, deactivated,
    /// members +, members -, written back, conflicts, failures.
    func summaryCounts(_ run: ChildRun) -> [Int] {
        let lines = run.stdout.split(separator: "\n")
        guard let header = lines.firstIndex(where: { $0.hasPrefix("directory ") }), header + 1 < lines.count else { return [] }
        return lines[header + 1].split(separator: " ").dropFirst().compactMap { Int($0) }
    }

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

    func initTables() throws {
        for name in ["state", "app.db", "app.db-wal", "app.db-shm"] { try? FileManager.default.removeItem(atPath: path(name)) }
        let run = try spawnMeasured(ldapsync, ["init", "--config", configPath], stdoutPath: path("init.out"))
        guard run.succeeded else { throw BenchError(description: "ldapsync init exited \(run.status): \(run.stderrLines.map(\.line))") }
    }

    var dumps: [Sample] = []
    var fulls: [SyncSample] = []
    for round in 1...rounds {
        let baseline = try dump()
        dumps.append(baseline)
        try initTables()
        let full = try sync()
        fulls.append(full)
        say(String(format: "  round %d: ldapsearch %.2f s (cpu %.2f s, slapd %.2f s) | full sync %.2f s (cpu %.2f s, slapd %.2f s, peak RSS %.0f MB) counts %@",
                   round, baseline.wall, baseline.cpu, baseline.slapdCPU, full.sample.wall, full.sample.cpu, full.sample.slapdCPU,
                   full.sample.megabytes, full.counts.map(String.init).joined(separator: " ")))
        guard full.counts.count >= 9, full.counts[0] == userCount, full.counts[1] == userCount, full.counts[4] == memberships else {
            throw BenchError(description: "the full run did not create \(userCount) users and \(memberships) memberships:\n\(full.run.stdout)")
        }
    }
    let medianFull = fulls.sorted { $0.sample.wall < $1.sample.wall }[fulls.count / 2]
    say("  phases of the median full run (from ldapsync's debug log):\n    " + phases(medianFull.run))

    // MARK: Incremental runs (on the state of the last full run)

    /// Changes the telephoneNumber of `changeCount` users spread over the directory.
    func modifyUsers(batch: Int) throws {
        var changes = ""
        for k in 0..<changeCount {
            let number = (k * (userCount / changeCount) + batch * 7) % userCount + 1
            changes += "dn: uid=\(Fixtures.personUID(number)),\(peopleBase)\nchangetype: modify\n"
            changes += "replace: telephoneNumber\ntelephoneNumber: +1 555 9\(batch)\(String(format: "%06d", k))\n\n"
        }
        try server.modify(ldif: changes)
    }

    func describe(_ name: String, _ sync: SyncSample) -> String {
        String(format: "  %@: %.2f s (cpu %.2f s, slapd %.2f s, peak RSS %.0f MB), fetched %d, updated %d",
               name, sync.sample.wall, sync.sample.cpu, sync.sample.slapdCPU, sync.sample.megabytes,
               sync.counts.first ?? -1, sync.counts.count > 2 ? sync.counts[2] : -1)
    }

    say("Incremental runs (\(changeCount) users' telephoneNumber changed, 2 s after the previous run):")
    // The first incremental run after a full one reads from (cursor − the full run's read
    // duration): the fixture, stamped by slapadd within a few seconds, falls in that window.
    Thread.sleep(forTimeInterval: 2)
    try modifyUsers(batch: 0)
    let firstIncremental = try sync()
    say(describe("first after the full run", firstIncremental))
    let firstUnchanged = try sync()
    say(describe("no change", firstUnchanged))
    var incrementals: [SyncSample] = []
    var unchanged: [SyncSample] = [firstUnchanged]
    for round in 1...rounds {
        Thread.sleep(forTimeInterval: 2)
        try modifyUsers(batch: round)
        let incremental = try sync()
        incrementals.append(incremental)
        say(describe("round \(round), \(changeCount) changes", incremental))
        guard incremental.counts.count > 2, incremental.counts[2] == changeCount else {
            throw BenchError(description: "the incremental run did not update \(changeCount) users:\n\(incremental.run.stdout)")
        }
        let none = try sync()
        unchanged.append(none)
        say(describe("round \(round), no change", none))
    }
    let medianIncremental = incrementals.sorted { $0.sample.wall < $1.sample.wall }[incrementals.count / 2]
    say("  phases of the median incremental run:\n    " + phases(medianIncremental.run))
    try server.stop()

    // MARK: Report

    let dumpWall = median(dumps.map(\.wall))
    let fullWall = median(fulls.map(\.sample.wall))
    func row(_ name: String, _ samples: [Sample]) -> String {
        let wall = median(samples.map(\.wall))
        return String(format: "| %@ | %.2f | %.2fx | %.0f%% | %.2f | %.2f | %.0f |", name, wall, wall / dumpWall, 100 * wall / fullWall,
                      median(samples.map(\.cpu)), median(samples.map(\.slapdCPU)), samples.map(\.megabytes).max() ?? .nan)
    }
    say("")
    say("\(userCount) users, \(groupCount) groups, \(memberships) memberships; 3 mapped attributes, groups: mirror; median of \(rounds) rounds")
    say("(wall: the whole process, slapd's work included; CPU: user+system of the client process alone; slapd CPU: the server's):")
    say("| run | wall s | vs ldapsearch | vs full sync | client CPU s | slapd CPU s | peak RSS MB |")
    say("|---|---|---|---|---|---|---|")
    say(row("ldapsearch users + groups > /dev/null", dumps))
    say(row("ldapsync run, full, into an empty app store", fulls.map(\.sample)))
    say(row("ldapsync run, first incremental after the full run", [firstIncremental.sample]))
    say(row("ldapsync run, incremental, \(changeCount) users changed", incrementals.map(\.sample)))
    say(row("ldapsync run, incremental, nothing changed", unchanged.map(\.sample)))

    let fullRatio = fullWall / dumpWall
    let peak = fulls.map(\.sample.megabytes).max() ?? .nan
    let incrementalShare = median(incrementals.map(\.sample.wall)) / fullWall
    say("")
    say("Targets:")
    say(String(format: "  full sync <= 2x the ldapsearch dump:     %.2fx  %@", fullRatio, fullRatio <= 2 ? "met" : "MISSED"))
    say(String(format: "  peak RSS of ldapsync < 100 MB:           %.0f MB  %@", peak, peak < 100 ? "met" : "MISSED"))
    say(String(format: "  incremental (%d changes) < 25%% of full: %.1f%%  %@", changeCount, 100 * incrementalShare, incrementalShare < 0.25 ? "met" : "MISSED"))
} catch {
    FileHandle.standardError.write(Data("SyncBench failed: \(error)\n".utf8))
    exit(1)
}
