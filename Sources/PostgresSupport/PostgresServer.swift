import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// A private PostgreSQL 15 server (Debian's `postgresql-15`) for tests: a cluster in a
/// temporary directory, listening on 127.0.0.1 and a free port, and on a Unix socket in
/// a directory only its owner can enter.
///
/// `initdb` and `postgres` refuse to run as root, so they run as the `postgres` system
/// user (`runuser -u postgres`), which owns the cluster's directory. The superuser
/// `postgres` connects over the socket (trust: only root and postgres can reach it);
/// the test role ``role`` connects over TCP with a password (SCRAM), set by SQL fed to
/// `psql` on its standard input, never on a command line, and kept in ``passwordFile``
/// (mode 0600).
///
/// One server per test process (``shared()``), a fresh database per test
/// (``createDatabase()``); the server is stopped by its pid when the process exits.
public final class PostgresServer: @unchecked Sendable {
    public let host = "127.0.0.1"
    public let port: Int
    /// The login role tests connect as; it owns the databases ``createDatabase()`` makes.
    public let role = "ldapsync_test"
    /// A file holding ``role``'s password (mode 0600).
    public let passwordFile: String
    /// The postmaster's pid.
    public let pid: pid_t
    /// The CA certificate (PEM) that signed the server's certificate, which names
    /// 127.0.0.1 and localhost: clients verify the server with it (`sslmode=verify-full`).
    public var caFile: String { directory + "/tls/ca.pem" }
    let directory: String
    var dataDirectory: String { directory + "/data" }
    var socketDirectory: String { directory + "/socket" }
    private let lock = NSLock()
    private var databases = 0  // guarded by lock
    private var stopped = false  // guarded by lock

    public static let binaries = "/usr/lib/postgresql/15/bin"

    /// Nil when this machine can run the server; otherwise why not.
    public static func availability() -> String? { availabilityReason }

    private static let availabilityReason: String? = {
        if let skip = ProcessInfo.processInfo.environment["LDAPSYNC_SKIP_POSTGRES"], !skip.isEmpty, skip != "0" {
            return "LDAPSYNC_SKIP_POSTGRES is set"
        }
        guard geteuid() == 0 else {
            return "needs root: the server runs as the postgres system user through runuser; run the tests as root"
        }
        let tools = ["\(binaries)/initdb", "\(binaries)/postgres", "\(binaries)/psql"]
        let missing = tools.filter { !FileManager.default.isExecutableFile(atPath: $0) }
        guard missing.isEmpty else {
            return "missing \(missing.joined(separator: ", ")) (install with `make deps`: postgresql, libpq-dev)"
        }
        guard ExternalCommand.resolve("runuser") != nil else { return "missing runuser (util-linux)" }
        guard getpwnam("postgres") != nil else { return "there is no postgres system user (install postgresql)" }
        return nil
    }()

    /// The process's server, started on first use. Tests use a database of their own.
    public static func shared() throws -> PostgresServer {
        try sharedServer.get()
    }

    private static let sharedServer: Result<PostgresServer, any Error> = Result {
        let server = try start()
        sharedForExit = server
        atexit { PostgresServer.sharedForExit?.stop() }
        return server
    }
    nonisolated(unsafe) private static var sharedForExit: PostgresServer?

    /// Creates a cluster in a new temporary directory and starts it; returns once it
    /// accepts connections.
    public static func start() throws -> PostgresServer {
        if let reason = availability() { throw PostgresSupportError(reason) }
        guard let account = getpwnam("postgres") else { throw PostgresSupportError("no postgres user") }
        let (uid, gid) = (account.pointee.pw_uid, account.pointee.pw_gid)

        var template = Array((NSTemporaryDirectory() + "/ldapsync-postgres-XXXXXX").utf8CString)
        guard let directory = template.withUnsafeMutableBufferPointer({ buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }) else { throw PostgresSupportError("cannot create a temporary directory: \(String(cString: strerror(errno)))") }
        do {
            let data = directory + "/data", socket = directory + "/socket"
            for path in [data, socket] {
                guard mkdir(path, 0o700) == 0 else { throw PostgresSupportError("mkdir \(path): \(String(cString: strerror(errno)))") }
                chown(path, uid, gid)
            }
            chmod(directory, 0o755)

            try makeCertificates(in: directory + "/tls", owner: (uid, gid))
            try run(["\(binaries)/initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                     "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], as: "postgres")

            var lastError: (any Error)?
            for _ in 0..<3 {
                let port = try freePort()
                let options = ["-k", socket, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                               "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
                               "-c", "ssl=on", "-c", "ssl_cert_file=\(directory)/tls/server.pem",
                               "-c", "ssl_key_file=\(directory)/tls/server.key"]
                let pid: pid_t
                do {
                    // The postmaster runs in the foreground under runuser, a child of this
                    // process: pg_ctl's daemon keeps the descriptors Foundation's Process
                    // watches open, so a `runuser … pg_ctl start` never seems to end
                    // (measured: the command hung until its timeout, the server ready).
                    pid = try launch(data: data, options: options, log: directory + "/server.log")
                } catch {
                    let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
                    lastError = PostgresSupportError("\(error); server log: \(log.suffix(1500))")
                    continue
                }
                let passwordFile = directory + "/role.pw"
                let password = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
                FileManager.default.createFile(atPath: passwordFile, contents: Data(password.utf8),
                                               attributes: [.posixPermissions: 0o600])
                let server = PostgresServer(port: port, pid: pid, directory: directory, passwordFile: passwordFile)
                // The password goes on psql's standard input, never on its command line.
                _ = try server.psql("CREATE ROLE \(server.role) LOGIN CREATEDB PASSWORD '\(password)';")
                return server
            }
            throw lastError ?? PostgresSupportError("the server did not start")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private init(port: Int, pid: pid_t, directory: String, passwordFile: String) {
        self.port = port
        self.pid = pid
        self.directory = directory
        self.passwordFile = passwordFile
    }

    /// `postgres://ldapsync_test@127.0.0.1:PORT/DATABASE` (no password: see ``passwordFile``).
    public func url(database: String) -> String {
        "postgres://\(role)@\(host):\(port)/\(database)"
    }

    /// A new, empty database owned by ``role``; returns its name.
    public func createDatabase() throws -> String {
        let number = lock.withLock {
            databases += 1
            return databases
        }
        let name = "test_\(number)"
        _ = try psql("CREATE DATABASE \(name) OWNER \(role);")
        return name
    }

    /// Runs SQL as the superuser over the socket (`psql -X -A -t -v ON_ERROR_STOP=1`,
    /// the SQL on standard input) and returns its output: one line per row, columns
    /// separated by `|`.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") throws -> String {
        let result = try ExternalCommand.run(
            "runuser",
            ["-u", "postgres", "--", "\(Self.binaries)/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", socketDirectory, "-p", String(port), "-d", database],
            standardInput: sql
        )
        guard result.status == 0, !result.terminatedBySignal else {
            throw PostgresSupportError("psql failed (status \(result.status)): \(result.standardError)")
        }
        return result.standardOutput
    }

    /// Stops the server (fast shutdown, by pid) and removes its directory.
    public func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        if kill(pid, SIGINT) == 0 {
            for _ in 0..<200 {
                if kill(pid, 0) != 0 { break }
                usleep(50_000)
            }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A test CA and a server certificate for 127.0.0.1 and localhost, signed by it; the
    /// server's key belongs to the postgres user (mode 0600), as the server requires.
    private static func makeCertificates(in directory: String, owner: (uid_t, gid_t)) throws {
        guard mkdir(directory, 0o755) == 0 else { throw PostgresSupportError("mkdir \(directory): \(String(cString: strerror(errno)))") }
        let extensions = directory + "/server.ext"
        try "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n"
            .write(toFile: extensions, atomically: true, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for arguments in [
            ["req", "-x509"] + key + ["-keyout", "\(directory)/ca.key", "-out", "\(directory)/ca.pem", "-days", "30",
                                     "-subj", "/CN=ldapsync PostgreSQL test CA"],
            ["req", "-new"] + key + ["-keyout", "\(directory)/server.key", "-out", "\(directory)/server.csr",
                                    "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "\(directory)/server.csr", "-CA", "\(directory)/ca.pem", "-CAkey", "\(directory)/ca.key",
             "-set_serial", "0x\(String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16))", "-days", "30",
             "-extfile", extensions, "-out", "\(directory)/server.pem"],
        ] {
            let result = try ExternalCommand.run("openssl", arguments, timeout: .seconds(60))
            guard result.status == 0, !result.terminatedBySignal else {
                throw PostgresSupportError("openssl \(arguments[0]) failed: \(result.combinedOutput.suffix(1000))")
            }
        }
        for file in ["server.key", "server.pem"] {
            chown("\(directory)/\(file)", owner.0, owner.1)
            chmod("\(directory)/\(file)", 0o600)
        }
    }

    /// Starts `postgres` as the postgres user and returns the postmaster's pid once its
    /// postmaster.pid file says "ready".
    private static func launch(data: String, options: [String], log: String) throws -> pid_t {
        FileManager.default.createFile(atPath: log, contents: nil, attributes: [.posixPermissions: 0o600])
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? logHandle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ExternalCommand.resolve("runuser") ?? "/usr/sbin/runuser")
        process.arguments = ["-u", "postgres", "--", "\(binaries)/postgres", "-D", data] + options
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logHandle
        process.standardError = logHandle
        let exited = NSLock()
        nonisolated(unsafe) var ended = false
        process.terminationHandler = { _ in exited.withLock { ended = true } }
        try runWithEmptySignalMask(process)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while clock.now < deadline {
            if exited.withLock({ ended }) { throw PostgresSupportError("postgres exited during startup") }
            if let text = try? String(contentsOfFile: data + "/postmaster.pid", encoding: .utf8) {
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                if lines.count > 7, lines[7].trimmingCharacters(in: .whitespaces) == "ready", let pid = pid_t(lines[0]) {
                    return pid
                }
            }
            usleep(20_000)
        }
        process.terminate()
        throw PostgresSupportError("the server was not ready within 60 s")
    }

    private static func run(_ arguments: [String], as user: String) throws {
        let result = try ExternalCommand.run("runuser", ["-u", user, "--"] + arguments, timeout: .seconds(120))
        guard result.status == 0, !result.terminatedBySignal else {
            throw PostgresSupportError("\(arguments[0]) failed (status \(result.status)): \(result.combinedOutput.suffix(2000))")
        }
    }

    /// A TCP port on 127.0.0.1 that the kernel reports free.
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresSupportError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 ? getsockname(fd, pointer, &length) : -1
            }
        }
        guard bound == 0 else { throw PostgresSupportError("bind 127.0.0.1:0: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct PostgresSupportError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
