import AppStore
import SyncConfig
#if canImport(Glibc)
import Glibc
#endif

/// The doctor's checks of this machine's side: the app store and the state store. They
/// create nothing: a missing database or state directory is reported, not made.
enum LocalChecks {
    // MARK: App store

    static func appStore(_ configuration: Configuration) -> [DoctorCheck] {
        switch configuration.app.kind {
        case .postgres(let url, let password, let tls):
            let store: PostgresAppStore
            do {
                store = try PostgresAppStoreOpening.open(configuration, url: url, password: password, tls: tls)
            } catch {
                return [DoctorCheck(.fail, area: "app", "app store (PostgreSQL): \(error)",
                                    advice: "check app.url, the password (app.passwordFile or app.passwordEnv), app.sslMode and app.caFile, and that the server accepts this host (pg_hba.conf)")]
            }
            do {
                try store.validateSchema()
            } catch {
                return [DoctorCheck(.fail, area: "app", "app store (PostgreSQL): \(error)",
                                    advice: "add what is missing (ldapsync init creates the default tables and adds missing mapped columns), or correct the table and column names under app")]
            }
            let users = configuration.app.users
            let memberships = configuration.app.memberships
            return [DoctorCheck(.pass, area: "app",
                                "app store (PostgreSQL): table \(users.table) with \(users.key), \(users.managed), \(users.active)\(users.updatedAt.map { ", \($0)" } ?? "") and \(count(configuration.attributes.count, "mapped column", "mapped columns")), and table \(memberships.table), are present")]
                + membershipIndexCheck(configuration) { try store.membershipsHaveUserIndex() }
        case .sqlite(let path):
            guard let kind = fileKind(path) else {
                return [DoctorCheck(.fail, area: "app", "app store \(path) does not exist",
                                    advice: "run ldapsync init --sqlite \(path) to create it with the default tables, or correct app.path")]
            }
            guard kind == S_IFREG else {
                return [DoctorCheck(.fail, area: "app", "app store \(path) is not a regular file", advice: "correct app.path")]
            }
            guard access(path, R_OK | W_OK) == 0 else {
                return [DoctorCheck(.fail, area: "app", "app store \(path) is not readable and writable by this user (uid \(geteuid())): \(String(cString: strerror(errno)))",
                                    advice: "run ldapsync as the database file's owner, or give that user read and write access to it and its directory")]
            }
            let store: SQLiteAppStore
            do {
                store = try SQLiteAppStore(path: path, schema: AppSchemaBuilder.schema(configuration))
                try store.validateSchema()
            } catch {
                return [DoctorCheck(.fail, area: "app", "app store \(path): \(error)",
                                    advice: "add what is missing (ldapsync init creates the default tables and adds missing mapped columns), or correct the table and column names under app")]
            }
            let users = configuration.app.users
            let memberships = configuration.app.memberships
            return [DoctorCheck(.pass, area: "app",
                                "app store \(path): table \(users.table) with \(users.key), \(users.managed), \(users.active)\(users.updatedAt.map { ", \($0)" } ?? "") and \(count(configuration.attributes.count, "mapped column", "mapped columns")), and table \(memberships.table), are present")]
                + membershipIndexCheck(configuration) { try store.membershipsHaveUserIndex() }
        }
    }

    /// A warning when no index of the memberships table starts with its user column: runs
    /// look memberships up by user, 500 users a query.
    private static func membershipIndexCheck(_ configuration: Configuration, _ hasIndex: () throws -> Bool) -> [DoctorCheck] {
        let memberships = configuration.app.memberships
        do {
            guard try !hasIndex() else { return [] }
            return [DoctorCheck(.warn, area: "app", "app store: no index of table \(memberships.table) starts with \(memberships.user); every membership look-up of a run reads the whole table",
                                advice: "run ldapsync init (it adds the index), or CREATE INDEX ON \(memberships.table) (\(memberships.user))")]
        } catch {
            return [DoctorCheck(.warn, area: "app", "app store: cannot read the indexes of table \(memberships.table): \(error)")]
        }
    }

    // MARK: State store

    static func stateStore(_ configuration: Configuration) -> [DoctorCheck] {
        let path = configuration.statePath
        guard let kind = fileKind(path) else {
            let parent = parentDirectory(path)
            guard access(parent, W_OK | X_OK) == 0 else {
                return [DoctorCheck(.fail, area: "state", "state store \(path) does not exist, and this user (uid \(geteuid())) cannot create it in \(parent)",
                                    advice: "create it for the user ldapsync runs as: install -d -m 0700 -o USER \(path)")]
            }
            return [DoctorCheck(.pass, area: "state", "state store \(path) does not exist yet; the first run creates it (mode 0700) in \(parent), which is writable")]
        }
        guard kind == S_IFDIR else {
            return [DoctorCheck(.fail, area: "state", "state store \(path) is not a directory", advice: "correct state in the configuration")]
        }
        guard access(path, R_OK | W_OK | X_OK) == 0 else {
            return [DoctorCheck(.fail, area: "state", "state store \(path) is not writable by this user (uid \(geteuid())): \(String(cString: strerror(errno)))",
                                advice: "run ldapsync as the directory's owner, or chown -R that user \(path)")]
        }
        var checks: [DoctorCheck] = []
        for file in ["data.mdb", "lock.mdb"] where fileKind(path + "/" + file) != nil && access(path + "/" + file, R_OK | W_OK) != 0 {
            checks.append(DoctorCheck(.fail, area: "state", "state store file \(path)/\(file) is not writable by this user (uid \(geteuid()))",
                                      advice: "chown -R the user ldapsync runs as \(path)"))
        }
        if let mode = permissions(path), mode & 0o077 != 0 {
            checks.append(DoctorCheck(.warn, area: "state", "state store \(path) is mode 0\(String(mode, radix: 8)): other users may read the snapshots",
                                      advice: "chmod 700 \(path)"))
        }
        switch lockHolder(path + "/ldapsync.lock") {
        case .free:
            checks.append(DoctorCheck(.pass, area: "state", "state store \(path) is writable and not locked"))
        case .held(let pid):
            checks.append(DoctorCheck(.warn, area: "state", "state store \(path) is locked by a running ldapsync\(pid.map { " (pid \($0))" } ?? ""): a run started now would exit 4",
                                      advice: "wait for that run to finish; if it hangs, look at it (ps -p \(pid.map(String.init) ?? "PID")) before stopping it"))
        case .unknown(let reason):
            checks.append(DoctorCheck(.warn, area: "state", "state store \(path): cannot tell whether a run holds the lock: \(reason)",
                                      advice: "check that the lock file \(path)/ldapsync.lock is readable by this user"))
        }
        return checks
    }

    enum LockState {
        case free
        case held(pid: Int32?)
        case unknown(String)
    }

    /// Whether a run holds the `flock` of `path`, without taking it and without waiting.
    ///
    /// On Linux `/proc/locks` lists every `flock` with its file's device and inode, so
    /// nothing is locked to find out; elsewhere a shared lock is tried (non-blocking) and
    /// released at once. A missing lock file is free.
    static func lockHolder(_ path: String) -> LockState {
        var info = stat()
        guard stat(path, &info) == 0 else { return .free }
        if let locks = readSmallFile("/proc/locks") {
            for line in locks.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                // `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; a waiter's line has `->`.
                guard fields.count >= 6, fields[1] == "FLOCK", !fields.contains("->") else { continue }
                let place = fields[5].split(separator: ":")
                guard place.count == 3, let inode = UInt64(place[2]), inode == UInt64(info.st_ino),
                      let major = UInt32(place[0], radix: 16), let minor = UInt32(place[1], radix: 16),
                      (major, minor) == deviceNumbers(UInt64(info.st_dev)) else { continue }
                return .held(pid: Int32(fields[4]))
            }
            return .free
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .unknown(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_SH | LOCK_NB) == 0 else {
            return errno == EWOULDBLOCK ? .held(pid: nil) : .unknown(String(cString: strerror(errno)))
        }
        flock(descriptor, LOCK_UN)
        return .free
    }

    /// glibc's `major()` and `minor()` (macros Swift cannot import) of a `dev_t`.
    private static func deviceNumbers(_ device: UInt64) -> (UInt32, UInt32) {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    // MARK: Files

    /// The file type bits (`S_IFREG`, `S_IFDIR`) of `path`, following links; nil when it
    /// does not exist.
    private static func fileKind(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    private static func permissions(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o777
    }

    private static func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            contents += buffer[..<count]
        }
        return String(decoding: contents, as: UTF8.self)
    }
}
