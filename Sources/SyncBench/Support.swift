// The parts of SyncBench the scale report needs besides the children of main.swift: sizes,
// the seeded group generator, the RSS sampler and the private PostgreSQL server.
import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

// MARK: Sizes

/// "10k" → 10,000, "1M" → 1,000,000, "2500" → 2,500; nil if not a positive size.
func parseSize(_ text: Substring) -> Int? {
    var digits = text.trimmingCharacters(in: .whitespaces).lowercased()
    var factor = 1
    if digits.hasSuffix("k") {
        factor = 1_000
        digits.removeLast()
    } else if digits.hasSuffix("m") {
        factor = 1_000_000
        digits.removeLast()
    }
    guard let value = Int(digits), value > 0 else { return nil }
    return value * factor
}

/// 10000 → "10k", 1000000 → "1M".
func sizeLabel(_ count: Int) -> String {
    if count % 1_000_000 == 0 { return "\(count / 1_000_000)M" }
    if count % 1_000 == 0 { return "\(count / 1_000)k" }
    return "\(count)"
}

/// Thousands separated by commas: 1000000 → "1,000,000".
func grouped(_ value: Int) -> String {
    let digits = String(value)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { result += "," }
        result.append(digit)
    }
    return result
}

// MARK: Seeded groups

/// SplitMix64: a small seeded generator, the same sequence on every machine.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0 ..< bound.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }
}

/// Groups as a site has them: on average each person is in 1.5 groups; a few large groups
/// (one per 1,000 groups, at least one: the largest holds 5% of the people, the next
/// half as many, and so on), the others of about equal size (0.25–1.75 times their mean,
/// drawn from `seed`). A group's members are distinct: a run of consecutive people from a
/// random start, for the large groups every 7th person (7 is prime to 10^k).
struct GroupFixture {
    var ldif: String
    var memberships: Int
    var largest: Int

    init(count: Int, peopleCount: Int, seed: UInt64 = 8) {
        var random = SplitMix64(state: seed)
        let large = min(count, max(1, count / 1_000))
        var sizes = (0..<large).map { max(1, peopleCount / (20 << $0)) }
        let others = count - large
        let rest = max(others, peopleCount * 3 / 2 - sizes.reduce(0, +))
        let mean = others > 0 ? Double(rest) / Double(others) : 0
        for _ in 0..<others {
            sizes.append(min(peopleCount, max(1, Int((mean * (0.25 + 1.5 * random.unit())).rounded()))))
        }
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let wideStep = gcd(7, peopleCount) == 1 ? 7 : 1
        var ldif = ""
        ldif.reserveCapacity(sizes.reduce(0, +) * 45 + count * 120)
        for (index, size) in sizes.enumerated() {
            let cn = Fixtures.groupCN(index + 1)
            ldif += "dn: cn=\(cn),ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: \(cn)\n"
            ldif += "description: Bench group \(index + 1) of \(size) members\n"
            let start = random.below(peopleCount)
            let step = index < large ? wideStep : 1
            for k in 0..<size {
                ldif += "member: uid=\(Fixtures.personUID((start + k * step) % peopleCount + 1)),ou=people,dc=example,dc=com\n"
            }
            ldif += "\n"
        }
        self.ldif = ldif
        memberships = sizes.reduce(0, +)
        largest = sizes.max() ?? 0
    }
}

// MARK: RSS over time

/// One reading of /proc/PID/status: the resident set, and its anonymous part (the heap,
/// malloc's arenas) and its file-backed part (mapped files: LMDB's maps, the binary).
struct RSSReading {
    var seconds: Double
    var kilobytes: Int
    var anonymousKilobytes: Int
    var fileKilobytes: Int
}

/// Reads /proc/PID/status of the process whose pid the launcher writes to `pidFile`,
/// every 50 ms on a thread of its own, until `stop`.
final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var samples: [RSSReading] = []  // guarded by lock
    private var stopped = false  // guarded by lock
    private let done = DispatchSemaphore(value: 0)

    init(pidFile: String, start: ContinuousClock.Instant) {
        Thread.detachNewThread { [self] in
            var pid: String?
            while !lock.withLock({ stopped }) {
                if pid == nil { pid = try? String(contentsOfFile: pidFile, encoding: .utf8) }
                if let pid, let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
                    var values: [String: Int] = [:]
                    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") || line.hasPrefix("RssAnon:") || line.hasPrefix("RssFile:") {
                        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                        if fields.count >= 2, let kilobytes = Int(fields[1]) { values[String(fields[0].dropLast())] = kilobytes }
                    }
                    if let total = values["VmRSS"] {
                        let reading = RSSReading(seconds: seconds(ContinuousClock.now - start), kilobytes: total,
                                                 anonymousKilobytes: values["RssAnon"] ?? 0, fileKilobytes: values["RssFile"] ?? 0)
                        lock.withLock { samples.append(reading) }
                    }
                }
                usleep(50_000)
            }
            done.signal()
        }
    }

    func stop() -> [RSSReading] {
        lock.withLock { stopped = true }
        done.wait()
        return lock.withLock { samples }
    }
}

// MARK: A private PostgreSQL 15

/// A PostgreSQL server of this benchmark's own, in a temporary directory owned by the
/// `postgres` user (initdb and pg_ctl refuse to run as root), listening on 127.0.0.1 and
/// a socket in that directory. The role's password is set with SQL on psql's standard
/// input and handed to ldapsync in a 0600 file: never on a command line.
final class PostgresServer {
    static let bin = "/usr/lib/postgresql/15/bin"
    let directory: URL
    let port: Int
    let role = "ldapsync"
    let database = "ldapsync_bench"
    let passwordFile: String
    private var running = false

    var url: String { "postgres://\(role)@127.0.0.1:\(port)/\(database)" }
    private var dataDirectory: String { directory.appendingPathComponent("data").path }

    /// Why a private server cannot run here, or nil if it can.
    static var unavailableReason: String? {
        guard FileManager.default.isExecutableFile(atPath: bin + "/initdb") else { return "\(bin)/initdb not installed (Debian postgresql-15)" }
        guard getpwnam("postgres") != nil else { return "no postgres user" }
        guard getuid() == 0 else { return "needs root to run initdb as the postgres user (runuser)" }
        return nil
    }

    /// initdb, start, a login role with a random password and an empty database.
    init(passwordFile: String) throws {
        guard let account = getpwnam("postgres") else { throw BenchError(description: "no postgres user") }
        directory = URL(fileURLWithPath: "/tmp/syncbench-pg-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        guard chown(directory.path, account.pointee.pw_uid, account.pointee.pw_gid) == 0 else {
            throw BenchError(description: "chown \(directory.path): \(String(cString: strerror(errno)))")
        }
        port = try Self.freePort()
        self.passwordFile = passwordFile
        try Self.run(["\(Self.bin)/initdb", "-D", dataDirectory, "-U", "postgres", "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--no-sync"])
        try Self.run(["\(Self.bin)/pg_ctl", "-D", dataDirectory, "-l", directory.appendingPathComponent("log").path, "-w",
                      "-o", "-k \(directory.path) -p \(port) -c listen_addresses=127.0.0.1", "start"])
        running = true
        let password = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
        try Data(password.utf8).write(to: URL(fileURLWithPath: passwordFile))
        chmod(passwordFile, 0o600)
        try psql("CREATE ROLE \(role) LOGIN PASSWORD '\(password)';\nCREATE DATABASE \(database) OWNER \(role);\n")
    }

    deinit { stop() }

    /// An empty database for the next full run.
    func resetDatabase() throws {
        try psql("DROP DATABASE IF EXISTS \(database);\nCREATE DATABASE \(database) OWNER \(role);\n")
    }

    func stop() {
        guard running else { return }
        running = false
        try? Self.run(["\(Self.bin)/pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "stop"])
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs SQL as the superuser over the socket, the statements on standard input.
    private func psql(_ sql: String) throws {
        try Self.run(["\(Self.bin)/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", directory.path, "-p", "\(port)",
                      "-d", "postgres", "-f", "-"], input: sql)
    }

    /// `runuser -u postgres -- ARGUMENTS`, `input` on its standard input (from a 0600
    /// file of this process, removed at once: it may hold the role's password), output to a
    /// file. posix_spawn and wait4, not Foundation's Process: the server pg_ctl starts
    /// inherits the descriptors, so a pipe would never reach end-of-file, and Process's
    /// wait did not return here once pg_ctl had started the server.
    private static func run(_ arguments: [String], input: String = "") throws {
        let base = NSTemporaryDirectory() + "syncbench-pg-\(getpid())-\(UUID().uuidString)"
        let inputPath = base + ".in"
        let outputPath = base + ".out"
        defer {
            unlink(inputPath)
            unlink(outputPath)
        }
        let created = FileManager.default.createFile(atPath: inputPath, contents: Data(input.utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw BenchError(description: "cannot write \(inputPath)") }
        let pid = try spawn("/usr/sbin/runuser", ["-u", "postgres", "--"] + arguments) { actions in
            posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        let (status, _) = try reap(pid)
        guard status == 0 else {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            throw BenchError(description: "\(arguments[0]) exited with status \(status): \(text)")
        }
    }

    /// A loopback port nobody listens on now.
    private static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw BenchError(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
            }
        }
        guard bound else { throw BenchError(description: "bind: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// `SyncBench --postgres-check`: the private server's whole life once, with a login as
/// ldapsync would make it (TCP, scram password from the password file).
func postgresCheck() throws {
    if let reason = PostgresServer.unavailableReason { throw BenchError(description: reason) }
    let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("syncbench-pgcheck-\(getpid())")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: work) }
    let passwordFile = work.appendingPathComponent("pg.pw").path
    let server = try PostgresServer(passwordFile: passwordFile)
    defer { server.stop() }
    func login() throws -> String {
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8)
        let passFile = work.appendingPathComponent("pgpass").path
        try Data("127.0.0.1:\(server.port):\(server.database):\(server.role):\(password)\n".utf8).write(to: URL(fileURLWithPath: passFile))
        chmod(passFile, 0o600)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-X", "-A", "-t", "-w", "-h", "127.0.0.1", "-p", "\(server.port)", "-U", server.role, "-d", server.database,
                             "-c", "SELECT current_user || ' ' || current_database()"]
        process.environment = ["PGPASSFILE": passFile, "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError(description: "psql login failed: \(text)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    say("  \(server.url): logged in as \(try login())")
    try server.resetDatabase()
    say("  database re-created: logged in as \(try login())")
    server.stop()
    guard !FileManager.default.fileExists(atPath: server.directory.path) else {
        throw BenchError(description: "\(server.directory.path) is still there after stop")
    }
    say("  stopped, \(server.directory.path) removed")
}

// MARK: The machine

/// One line about the machine: CPU model and count, memory, OS, and the versions of the
/// servers and libraries the figures depend on.
func machineDescription() -> String {
    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    func output(_ path: String, _ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return "?" }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }
    let cpu = read("/proc/cpuinfo").split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?" } ?? "?"
    let memory = read("/proc/meminfo").split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
        .flatMap { $0.split(whereSeparator: { $0 == " " }).dropFirst().first }.flatMap { Int($0) } ?? 0
    let os = read("/etc/os-release").split(separator: "\n").first { $0.hasPrefix("PRETTY_NAME=") }
        .map { $0.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } ?? "?"
    var slapd = "?"
    if let line = output("/usr/sbin/slapd", ["-VV"]).split(separator: "\n").first(where: { $0.contains("slapd ") }),
       let range = line.range(of: "slapd ") {
        slapd = String(line[range.upperBound...].prefix { $0 != " " })
    }
    let sqlite = output("/usr/bin/sqlite3", ["--version"]).split(separator: " ").first ?? "?"
    let postgres = FileManager.default.isExecutableFile(atPath: PostgresServer.bin + "/postgres")
        ? output(PostgresServer.bin + "/postgres", ["--version"]).trimmingCharacters(in: .whitespacesAndNewlines) : "no PostgreSQL"
    return "\(ProcessInfo.processInfo.activeProcessorCount) cores (\(cpu)), \(memory / 1_048_576) GiB, \(os), "
        + "OpenLDAP slapd \(slapd), SQLite \(sqlite), \(postgres)"
}
