import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private OpenLDAP slapd for tests and benchmarks: its own temporary directory,
/// `cn=config` and MDB database, listening on free loopback ports and an ldapi socket.
///
/// ```swift
/// let server = try SlapdServer.start(ldif: Fixtures.people(count: 1200))
/// // connect to server.url as server.configuration.syncDN …
/// ```
///
/// The data is loaded with `slapadd -q` before slapd starts (5,000 entries in a
/// fraction of a second), so a test pays for a running server only once it is ready.
/// slapd runs in the foreground (`-d`), so `pid` is slapd's own pid; its stderr and
/// debug log go to `logFile`, and every error about starting it quotes that log.
///
/// Releasing the last reference kills slapd and removes the directory. A process
/// that exits while servers are still referenced kills them from an `atexit` handler.
///
/// Thread safety: the class is `@unchecked Sendable` because its only mutable state,
/// the running slapd and its ports, is guarded by a lock, and the lifecycle methods
/// (`stop`, `kill`, `restart`) are serialized by a second lock; everything else is
/// immutable. A test may share one server across concurrent tests, but should not
/// stop it while they use it.
public final class SlapdServer: @unchecked Sendable {
    /// The configuration the server was started with.
    public let configuration: Configuration
    private let layout: Layout
    private let certificates: TestCertificates?

    /// Serializes start, stop, kill and restart; held while waiting for slapd.
    private let lifecycle = NSLock()
    /// Guards `running` and `ports`; held only briefly.
    private let state = NSLock()
    private var running: Running?  // guarded by state
    private var ports = Ports(ldap: 0, ldaps: nil)  // guarded by state

    private struct Ports {
        var ldap: Int
        var ldaps: Int?
    }

    private struct Running {
        let process: Process
        let pid: pid_t
        let watch: ExitWatch
    }

    /// slapd reported that a port was taken between our probe and its bind.
    private struct PortConflict: Error {
        let status: Int32
        let log: String

        var asSlapdError: SlapdError { .exitedDuringStartup(status: status, log: log) }
    }

    // MARK: Addresses

    /// `ldap://127.0.0.1:PORT`. With `tls`, StartTLS works here too.
    public var url: String { "ldap://127.0.0.1:\(state.withLock { ports.ldap })" }

    /// `ldap://localhost:PORT`, the same listener under the name in the certificate.
    public var localhostURL: String { "ldap://localhost:\(state.withLock { ports.ldap })" }

    /// `ldaps://127.0.0.1:PORT2` when `tls` (the certificate also names 127.0.0.1).
    public var ldapsURL: String? { state.withLock { ports.ldaps }.map { "ldaps://127.0.0.1:\($0)" } }

    /// `ldaps://localhost:PORT2` when `tls`, for clients that check the host name.
    public var ldapsLocalhostURL: String? { state.withLock { ports.ldaps }.map { "ldaps://localhost:\($0)" } }

    /// `ldapi://` with the percent-encoded socket path (under 108 bytes).
    public var ldapiURL: String { Loopback.ldapiURL(socketPath: layout.socketPath) }

    /// The ldapi socket's path, unencoded.
    public var ldapiSocketPath: String { layout.socketPath }

    /// The PEM file of the test CA when `tls` (for `LDAPTLS_CACERT` or a client's CA option).
    public var caFile: String? { certificates?.caCertificate.path }

    /// The server's private temporary directory (mode 0700), removed on deinit.
    public var directory: URL { layout.directory }

    /// slapd's stderr and debug log, appended to across restarts.
    public var logFile: URL { layout.logFile }

    /// The current contents of `logFile`.
    public var log: String {
        readTextFile(layout.logFile.path)
    }

    /// slapd's pid while it runs; nil after `stop` or `kill`, or if it died on its own.
    public var pid: pid_t? {
        state.withLock {
            guard let running, running.watch.ending == nil else { return nil }
            return running.pid
        }
    }

    // MARK: Lifecycle

    /// Creates a directory, loads `cn=config` and the data with `slapadd`, and starts
    /// slapd on free loopback ports; returns once every listener accepts connections.
    ///
    /// - Parameters:
    ///   - configuration: the directory to make.
    ///   - ldif: entries to load after the base entries (the suffix, `ou=people`,
    ///     `ou=groups`, `ou=services` and the two service accounts, which it must not
    ///     repeat), e.g. `Fixtures.people(count: 5000)`. Parents must come before children.
    ///     Operational attributes (`entryUUID`, timestamps) are computed by slapadd.
    /// - Throws: `SlapdError`, quoting slapadd's output or slapd's log.
    public static func start(_ configuration: Configuration = .init(), ldif: String = "") throws -> SlapdServer {
        ProcessRegistry.installExitHandler()
        let layout = try Layout.create()
        ProcessRegistry.register(directory: layout.directory)
        let certificates: TestCertificates?
        do {
            guard layout.socketPath.utf8.count <= Loopback.maximumSocketPathLength else {
                throw SlapdError.invalidConfiguration("ldapi socket path \(layout.socketPath) is too long")
            }
            certificates = configuration.tls ? try TestCertificates.make(in: layout.tlsDirectory, variant: configuration.serverCertificate) : nil
            try writePrivateFile(layout.rootPasswordFile, configuration.rootPassword)
            try writePrivateFile(layout.configLDIF, ConfigurationLDIF.config(configuration, layout: layout, tls: certificates)
                                 + "\n" + ConfigurationLDIF.passwordPolicyConfig(configuration)
                                 + "\n" + ConfigurationLDIF.syncProviderConfig(configuration))
            try ExternalCommand.runChecked("slapadd", ["-n0", "-F", layout.configDirectory.path, "-l", layout.configLDIF.path])
            let data = try ConfigurationLDIF.baseEntries(configuration) + "\n"
                + ConfigurationLDIF.passwordPolicyEntry(configuration) + "\n" + ldif
            try writePrivateFile(layout.dataLDIF, data)
            try ExternalCommand.runChecked("slapadd", [
                "-q", "-F", layout.configDirectory.path, "-b", configuration.suffix, "-l", layout.dataLDIF.path,
            ] + (configuration.syncProvider != nil ? ["-w"] : []), timeout: .seconds(600))
            // The data now lives in MDB; a 100k-entry LDIF (30 MB) is not worth keeping.
            try? FileManager.default.removeItem(at: layout.dataLDIF)
        } catch {
            try? FileManager.default.removeItem(at: layout.directory)
            ProcessRegistry.unregister(directory: layout.directory)
            throw error
        }
        // From here on the server owns the directory: deinit removes it.
        let server = SlapdServer(configuration: configuration, layout: layout, certificates: certificates)
        try server.lifecycle.withLock {
            var attempt = 1
            while true {
                let free = try Loopback.freePorts(configuration.tls ? 2 : 1)
                server.state.withLock { server.ports = Ports(ldap: free[0], ldaps: configuration.tls ? free[1] : nil) }
                do {
                    return try server.launch()
                } catch let conflict as PortConflict {
                    guard attempt < 10 else { throw conflict.asSlapdError }
                    attempt += 1
                }
            }
        }
        return server
    }

    private init(configuration: Configuration, layout: Layout, certificates: TestCertificates?) {
        self.configuration = configuration
        self.layout = layout
        self.certificates = certificates
    }

    /// Stops slapd cleanly: SIGTERM, then waits for it to exit (5–60 ms measured here
    /// with up to 100k entries; `stopTimeout` allows for a slow machine).
    /// The data stays in `directory` for `restart`. Does nothing when not running.
    /// - Throws: `SlapdError.stopTimedOut` if it had to be killed after `stopTimeout`.
    public func stop() throws {
        try lifecycle.withLock {
            guard let running = state.withLock({ self.running }) else { return }
            defer { forget(running) }
            guard running.watch.ending == nil else { return }
            Glibc.kill(running.pid, SIGTERM)
            let timeout = configuration.stopTimeout.seconds
            if !running.watch.wait(seconds: timeout) {
                Glibc.kill(running.pid, SIGKILL)
                _ = running.watch.wait(seconds: 10)
                throw SlapdError.stopTimedOut(seconds: timeout, log: tail(log))
            }
        }
    }

    /// Kills slapd with SIGKILL and waits for it to be gone, as a crash or a lost
    /// server would. Committed data survives (`restart` finds it). Does nothing when
    /// not running.
    public func kill() {
        lifecycle.withLock {
            guard let running = state.withLock({ self.running }) else { return }
            defer { forget(running) }
            guard running.watch.ending == nil else { return }
            Glibc.kill(running.pid, SIGKILL)
            _ = running.watch.wait(seconds: 10)
        }
    }

    /// Starts slapd again on the same ports with the same data, after `stop` or `kill`.
    /// A port taken meanwhile by another process is waited for, up to about 2 s.
    /// - Throws: `SlapdError.alreadyRunning` when it still runs, or a start error.
    public func restart() throws {
        try lifecycle.withLock {
            if let running = state.withLock({ self.running }) {
                guard running.watch.ending != nil else { throw SlapdError.alreadyRunning(pid: running.pid) }
                forget(running)
            }
            var attempt = 1
            while true {
                do {
                    return try launch()
                } catch let conflict as PortConflict {
                    guard attempt < 20 else { throw conflict.asSlapdError }
                    attempt += 1
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }
        }
    }

    deinit {
        if let running {
            if running.watch.ending == nil {
                Glibc.kill(running.pid, SIGKILL)
                _ = running.watch.wait(seconds: 10)
            }
            forget(running)
        }
        try? FileManager.default.removeItem(at: layout.directory)
        ProcessRegistry.unregister(directory: layout.directory)
    }

    // MARK: Changes while running

    /// Adds entries with `ldapadd -x` bound as the root DN (password passed in a file).
    public func add(ldif: String) throws {
        try runAsRoot("ldapadd", ldif: ldif)
    }

    /// Applies an LDIF change record set with `ldapmodify -x` bound as the root DN.
    public func modify(ldif: String) throws {
        try runAsRoot("ldapmodify", ldif: ldif)
    }

    /// Writes `password` to a new 0600 file in `directory` and returns its path, for
    /// tools that read a password from a file (`ldapsearch -y FILE`); secrets must not
    /// appear in process arguments. The file holds the password without a newline.
    public func writePasswordFile(_ password: String) throws -> String {
        let url = layout.directory.appendingPathComponent("password-\(UUID().uuidString).pw")
        try writePrivateFile(url, password)
        return url.path
    }

    /// The pids of the slapd processes this test process started and that still run.
    public static var runningPIDs: Set<pid_t> { ProcessRegistry.runningPIDs }

    // MARK: Internals

    private func runAsRoot(_ tool: String, ldif: String) throws {
        guard pid != nil else { throw SlapdError.notRunning }
        let input = layout.directory.appendingPathComponent("change-\(UUID().uuidString).ldif")
        try writePrivateFile(input, ldif)
        defer { try? FileManager.default.removeItem(at: input) }
        try ExternalCommand.runChecked(tool, [
            "-x", "-H", url, "-D", configuration.rootDN, "-y", layout.rootPasswordFile.path,
            "-o", "nettimeout=10", "-f", input.path,
        ], environment: ["LDAPNOINIT": "1"], timeout: .seconds(120))
    }

    /// Clears `running` and the pid registration once slapd is known to be gone.
    private func forget(_ gone: Running) {
        state.withLock {
            if running?.pid == gone.pid { running = nil }
        }
        ProcessRegistry.unregister(pid: gone.pid)
        if gone.watch.ending != nil { releaseExited(gone.process) }
    }

    /// Launches slapd on the current ports and waits until it accepts connections.
    /// Caller holds `lifecycle`.
    private func launch() throws {
        let ports = state.withLock { self.ports }
        // ldapi last: slapd binds every listener first and calls listen() on them in
        // order only after the databases are open, so once the ldapi socket accepts,
        // slapd is ready and no other process answered on a TCP port in its place.
        var listeners = ["ldap://127.0.0.1:\(ports.ldap)/"]
        if let ldaps = ports.ldaps { listeners.append("ldaps://127.0.0.1:\(ldaps)/") }
        listeners.append(ldapiURL)
        var arguments: [String] = ["-d", "none"]
        for level in configuration.logLevels { arguments += ["-d", level] }
        arguments += ["-F", layout.configDirectory.path, "-h", listeners.joined(separator: " ")]

        guard let slapd = ExternalCommand.resolve("slapd") else {
            throw SlapdError.launchFailed(command: "slapd", reason: "slapd not found in PATH or /usr/sbin")
        }
        if !FileManager.default.fileExists(atPath: layout.logFile.path) {
            try writePrivateFile(layout.logFile, "")
        }
        let logHandle = try FileHandle(forWritingTo: layout.logFile)
        defer { try? logHandle.close() }
        let logOffset = try logHandle.seekToEnd()

        let process = Process()
        process.executableURL = URL(fileURLWithPath: slapd)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = logHandle
        process.standardError = logHandle
        let watch = ExitWatch()
        process.terminationHandler = { watch.markExited($0) }
        do {
            try runWithEmptySignalMask(process)
        } catch {
            throw SlapdError.launchFailed(command: ([slapd] + arguments).joined(separator: " "), reason: "\(error)")
        }
        let started = Running(process: process, pid: process.processIdentifier, watch: watch)
        ProcessRegistry.register(pid: started.pid)
        state.withLock { running = started }

        let timeout = configuration.startTimeout.seconds
        let deadline = Date(timeIntervalSinceNow: timeout)
        var pause: UInt32 = 1_000
        while true {
            if let ending = watch.ending {
                forget(started)
                let output = logSince(logOffset)
                if output.contains("Address already in use") {
                    throw PortConflict(status: ending.status, log: tail(output))
                }
                throw SlapdError.exitedDuringStartup(status: ending.status, log: tail(output))
            }
            if Loopback.accepts(unixSocket: layout.socketPath),
                Loopback.accepts(port: ports.ldap),
                ports.ldaps.map(Loopback.accepts(port:)) ?? true
            {
                return
            }
            if Date() > deadline {
                Glibc.kill(started.pid, SIGKILL)
                _ = watch.wait(seconds: 10)
                forget(started)
                throw SlapdError.startTimedOut(seconds: timeout, log: tail(logSince(logOffset)))
            }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    private func logSince(_ offset: UInt64) -> String {
        readTextFile(layout.logFile.path, from: offset)
    }
}

// MARK: Password policy

extension SlapdServer {
    /// The default policy of the `ppolicy` overlay (`Configuration.passwordPolicy`): a
    /// bind with a wrong password counts as a failure, and after `maxFailures` of them
    /// in a row the account is locked; a bind with the password-policy request control
    /// then learns `accountLocked` in the response control.
    public struct PasswordPolicy: Sendable {
        /// `pwdMaxFailure`: failed binds in a row that lock the account.
        public var maxFailures = 3
        /// `pwdLockoutDuration`: how long a lockout lasts; zero locks until an
        /// administrator removes `pwdAccountLockedTime`.
        public var lockoutDuration: Duration = .zero

        public init(maxFailures: Int = 3, lockoutDuration: Duration = .zero) {
            self.maxFailures = maxFailures
            self.lockoutDuration = lockoutDuration
        }
    }

    /// The entry holding the default password policy: `cn=password-policy,ou=services,<suffix>`.
    public static func passwordPolicyDN(for configuration: Configuration) -> String {
        "cn=password-policy,ou=services,\(configuration.suffix)"
    }
}

extension ConfigurationLDIF {
    /// The `cn=config` entries that load the `ppolicy` module and put the overlay on the
    /// data database (`{1}mdb`); appended after ``config(_:layout:tls:)``, whose last
    /// entry is that database.
    static func passwordPolicyConfig(_ configuration: SlapdServer.Configuration) -> String {
        guard configuration.passwordPolicy != nil else { return "" }
        let module = """
            dn: cn=module{1},cn=config
            objectClass: olcModuleList
            cn: module{1}
            olcModulePath: /usr/lib/ldap
            olcModuleLoad: ppolicy
            """
        // UseLockout: a bind to a locked account answers accountLocked in the response
        // control, not only invalidCredentials.
        var overlay = """
            dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
            objectClass: olcOverlayConfig
            objectClass: olcPPolicyConfig
            olcOverlay: {0}ppolicy
            olcPPolicyUseLockout: TRUE

            """
        overlay += LDIF.line("olcPPolicyDefault", SlapdServer.passwordPolicyDN(for: configuration))
        return LDIF.join([module, overlay])
    }

    /// The `cn=config` entries that load `syncprov` and put it on the data database, after
    /// the password policy overlay if there is one.
    static func syncProviderConfig(_ configuration: SlapdServer.Configuration) -> String {
        guard let provider = configuration.syncProvider else { return "" }
        let moduleIndex = configuration.passwordPolicy == nil ? 1 : 2
        let overlayIndex = configuration.passwordPolicy == nil ? 0 : 1
        let module = """
            dn: cn=module{\(moduleIndex)},cn=config
            objectClass: olcModuleList
            cn: module{\(moduleIndex)}
            olcModulePath: /usr/lib/ldap
            olcModuleLoad: syncprov
            """
        var overlay = """
            dn: olcOverlay={\(overlayIndex)}syncprov,olcDatabase={1}mdb,cn=config
            objectClass: olcOverlayConfig
            objectClass: olcSyncProvConfig
            olcOverlay: {\(overlayIndex)}syncprov

            """
        if let size = provider.sessionLog { overlay += LDIF.line("olcSpSessionlog", String(size)) }
        return LDIF.join([module, overlay])
    }

    /// The default policy entry, for the data LDIF after the base entries.
    static func passwordPolicyEntry(_ configuration: SlapdServer.Configuration) -> String {
        guard let policy = configuration.passwordPolicy else { return "" }
        var entry = LDIF.line("dn", SlapdServer.passwordPolicyDN(for: configuration))
        entry += "objectClass: device\nobjectClass: pwdPolicy\ncn: password-policy\n"
        entry += "pwdAttribute: userPassword\npwdLockout: TRUE\n"
        entry += "pwdMaxFailure: \(policy.maxFailures)\n"
        entry += "pwdLockoutDuration: \(policy.lockoutDuration.components.seconds)\n"
        return LDIF.join([entry])
    }
}
