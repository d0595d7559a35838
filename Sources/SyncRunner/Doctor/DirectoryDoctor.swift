import DirectoryModel
import LDAPClient
import Logging
import SyncConfig

/// The doctor's checks of one configured directory: reach and TLS (``ReachChecks``),
/// the plaintext rule, each principal's password and bind, then with a bound connection
/// what the server holds (``ServerChecks``) and, when asked, the write test.
struct DirectoryDoctor {
    let configuration: Configuration
    let directory: DirectoryConfiguration
    let logger: Logger
    let writeTestKey: String?
    private(set) var checks: [DoctorCheck] = []

    init(configuration: Configuration, directory: DirectoryConfiguration, logger: Logger, writeTestKey: String?) {
        self.configuration = configuration
        self.directory = directory
        self.logger = logger
        self.writeTestKey = writeTestKey
    }

    /// A principal the directory binds as.
    struct Principal {
        enum Role { case read, write }
        let role: Role
        let bind: BindConfiguration

        /// The configuration key: `bind` or `writeBind`.
        var key: String { role == .read ? "bind" : "writeBind" }
        /// What follows the DN in a bind line: nothing for the read principal.
        var label: String { role == .read ? "" : " (write principal, writeBind)" }
    }

    mutating func add(_ status: DoctorCheck.Status, _ area: String, _ summary: String, advice: String? = nil) {
        checks.append(DoctorCheck(status, directory: directory.name, area: area, summary, advice: advice))
    }

    mutating func run() -> [DoctorCheck] {
        let reach = ReachChecks.run(directory)
        checks += reach.checks

        let refusal = DirectorySession.plaintextRefusal(directory)
        if refusal != nil {
            add(.fail, "bind", "bind: refused to send the password of \(directory.bind.dn) over plain ldap:// to \(directory.url); no password was sent",
                advice: "use ldaps://, or set startTLS: true, or (on a trusted network only) allowPlaintext: true for directory \(directory.name)")
        }

        var principals = [Principal(role: .read, bind: directory.bind)]
        if let writeBind = directory.writeBind { principals.append(Principal(role: .write, bind: writeBind)) }
        var readSession: LDAPConnection?
        var writeSession: LDAPConnection?
        for principal in principals {
            guard let password = readPassword(principal), refusal == nil else { continue }
            guard reach.reachable else {
                add(.skip, "bind", "bind: not attempted for \(principal.bind.dn)\(principal.label)",
                    advice: "the server cannot be reached (see the lines above)")
                continue
            }
            guard let session = bind(principal, password: password) else { continue }
            switch principal.role {
            case .read: readSession = session
            case .write: writeSession = session
            }
        }

        let session: LDAPConnection
        let account: String
        if let readSession {
            session = readSession
            account = directory.bind.dn
        } else if let writeSession, let writeBind = directory.writeBind {
            add(.warn, "bind", "the checks below run as the write principal \(writeBind.dn), because the read principal \(directory.bind.dn) cannot bind",
                advice: "fix the read principal's bind (above); its access rights and limits are checked once it binds")
            session = writeSession
            account = writeBind.dn
        } else {
            let reason = refusal != nil ? "no bind was attempted: the password would travel unencrypted (see the bind line above)"
                : !reach.reachable ? "the server cannot be reached (see the lines above)"
                : "no principal could bind (see the bind lines above)"
            skipServerChecks(because: reason)
            if writeTestKey != nil { add(.skip, "writeTest", "write test: not run", advice: reason) }
            return checks
        }

        var server = ServerChecks(directory: directory, configuration: configuration, connection: session, account: account)
        server.run()
        checks += server.checks

        if let writeTestKey {
            let writer = directory.writeBind == nil ? readSession : writeSession
            var test = WriteTest(configuration: configuration, directory: directory, key: writeTestKey)
            if let writer {
                test.run(finder: session, writer: writer, principal: directory.writeBind ?? directory.bind)
            } else {
                test.skip(because: "the write principal \(directory.writeBind?.dn ?? directory.bind.dn) cannot bind (see the bind lines above)")
            }
            checks += test.checks
        }
        return checks
    }

    /// The checks a bound connection would have made, each as SKIP.
    private mutating func skipServerChecks(because reason: String) {
        for (area, what) in ServerChecks.areas {
            add(.skip, area, "\(what): not checked", advice: reason)
        }
    }

    // MARK: Passwords and binds

    /// The principal's password, or nil after a FAIL naming the file or variable and what
    /// to do (SPEC §12: a group- or world-readable file is refused).
    private mutating func readPassword(_ principal: Principal) -> Secret? {
        do {
            return try DirectorySession.password(principal.bind, role: principal.key, directory: directory,
                                                 configurationFile: configuration.sourcePath)
        } catch {
            let advice: String
            switch principal.bind.password {
            case .file(let path):
                if error.message.contains("readable by") {
                    advice = "chmod 600 \(path), and make it owned by the user ldapsync runs as"
                } else if error.message.contains("is empty") {
                    advice = "write the password of \(principal.bind.dn) into \(path) (one line, mode 0600)"
                } else {
                    advice = "create \(path) holding the password of \(principal.bind.dn) (mode 0600, owned by the user ldapsync runs as), or correct \(principal.key).passwordFile of directory \(directory.name)"
                }
            case .environment(let name):
                advice = "set \(name) in the environment ldapsync runs in (the cron line, or the systemd unit's EnvironmentFile=)"
            }
            add(.fail, "bind", "bind: cannot use the password of \(principal.bind.dn)\(principal.label): \(error.message)", advice: advice)
            return nil
        }
    }

    /// Connects and binds with the password-policy control; reports PASS (or WARN for an
    /// expiry warning) or a FAIL that names the cause.
    private mutating func bind(_ principal: Principal, password: Secret) -> LDAPConnection? {
        let connection: LDAPConnection
        do {
            connection = try DirectorySession.open(directory, logger: logger)
        } catch {
            add(.fail, "bind", "bind: cannot connect to \(directory.url) as \(principal.bind.dn)\(principal.label): \(error)",
                advice: BindDiagnosis.connectionAdvice(error, directory: directory))
            return nil
        }
        do {
            let policy = try connection.bindReportingPasswordPolicy(dn: principal.bind.dn, password: password)
            if let seconds = policy?.secondsUntilExpiration {
                add(.warn, "bind", "bind: \(principal.bind.dn)\(principal.label) bound, but its password expires in \(BindDiagnosis.duration(seconds))",
                    advice: "set a new password for \(principal.bind.dn) before then and put it where \(principal.key) reads it")
            } else if let grace = policy?.graceLoginsRemaining {
                add(.warn, "bind", "bind: \(principal.bind.dn)\(principal.label) bound with an expired password (\(count(grace, "grace login", "grace logins")) left)",
                    advice: "set a new password for \(principal.bind.dn) now and put it where \(principal.key) reads it")
            } else {
                add(.pass, "bind", "bind: \(principal.bind.dn)\(principal.label) bound")
            }
            return connection
        } catch {
            let diagnosis = BindDiagnosis(error, dn: principal.bind.dn, source: principal.bind.password, directory: directory)
            add(.fail, "bind", "bind: \(diagnosis.summary)\(principal.label)", advice: diagnosis.advice)
            return nil
        }
    }
}
