import Foundation
import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing

/// Server and local faults during `ldapsync run` (issue #7): each test asserts the exit
/// code, the message, what was (not) written, and that a following normal run converges to
/// the model's state: every user in LDAP is in the app, active, with LDAP's values, once;
/// every user gone from LDAP is inactive; and one more run changes nothing.
///
/// The faults are timed with the debug-only stall points of `CrashPoint`
/// (`LDAPSYNC_STALL_AT=NAME` waits 3 s at NAME): the test breaks things during the stall.
final class FaultEnvironment {
    let cli: CLIEnvironment
    var server: SlapdServer { cli.server }
    var directory: URL { cli.directory }
    var suffix: String { cli.server.configuration.suffix }

    static let readOnlyMail = "  - { ldap: mail, app: email, multiValued: true }"
    static let writtenBackMail = "  - { ldap: mail, app: email, multiValued: true, direction: both }\nwriteBack: { enabled: true }"

    init(people: Int, state: String = "state", directoryExtra: String = "", extra: String = FaultEnvironment.readOnlyMail) throws {
        cli = try CLIEnvironment(people: people)
        try configure(state: state, directoryExtra: directoryExtra, extra: extra)
        let initialized = try cli.ldapsync(["init"])
        #expect(initialized.status == 0, "\(initialized.errors)")
    }

    /// The checks below for an environment configured elsewhere (RunCommandTests).
    init(wrapping cli: CLIEnvironment) { self.cli = cli }

    func configure(state: String = "state", directoryExtra: String = "", extra: String = FaultEnvironment.readOnlyMail) throws {
        try cli.write("ldapsync.yaml", """
            version: 1
            state: "\(state)"
            directories:
              - name: corp
                url: "\(server.url)"
                bind: { dn: "\(server.configuration.syncDN)", passwordFile: sync.pw }
                users: { base: "ou=people,\(suffix)" }
                pageSize: 5
            \(directoryExtra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            app: { path: app.db }
            audit: { path: audit.jsonl }
            users: { autoDeactivate: true }
            safety: { maxDeactivations: 100% }
            attributes:
              - { ldap: cn, app: name }
            \(extra)
            """)
    }

    func run(_ arguments: [String] = ["run"], stallAt point: String? = nil) throws -> (status: Int32, output: String, errors: String) {
        var environment = ProcessInfo.processInfo.environment
        if let point { environment["LDAPSYNC_STALL_AT"] = point }
        return try cli.ldapsync(arguments, environment: environment)
    }

    /// Starts `ldapsync run` stalled at `point` and calls `fault` with the child's pid
    /// shortly after the 3 s stall began; returns when the run has ended.
    func run(_ arguments: [String] = ["run"], stallAt point: String, during fault: @escaping @Sendable (pid_t) -> Void) throws -> (status: Int32, output: String, errors: String) {
        let child = try LDAPSyncChild(arguments, in: directory, stallAt: point)
        let faultThread = Thread {
            child.waitForStall()
            fault(child.pid)
        }
        faultThread.start()
        return child.wait()
    }

    func cursor() throws -> String { try cli.ldapsync(["cursor", "show"]).output }
    func sqlite(_ query: String) throws -> String { try cli.sqlite(query) }

    /// Changes LDAP after a first run: one user deleted, one renamed (cn), two added.
    /// The server's modifyTimestamp has one-second resolution: wait so the changes are
    /// newer than the cursor.
    func changeLDAP(deleted: Int, modified: Int, addedFrom: Int) throws {
        usleep(1_100_000)
        try server.modify(ldif: """
            dn: uid=\(Fixtures.personUID(deleted)),ou=people,\(suffix)
            changetype: delete

            dn: uid=\(Fixtures.personUID(modified)),ou=people,\(suffix)
            changetype: modify
            replace: cn
            cn: Renamed During A Fault
            """)
        try server.add(ldif: Fixtures.people(count: 2, base: "ou=people,\(suffix)", startIndex: addedFrom))
    }

    /// The cursor and the app's rows are as the first run of a fault test left them: 12
    /// active users, the renamed one not renamed.
    func expectNothingApplied(cursor: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try self.cursor() == cursor, sourceLocation: sourceLocation)
        #expect(try sqlite("select count(*) from users where active = 1;") == "12\n", sourceLocation: sourceLocation)
        #expect(try sqlite("select name from users where key = '\(Fixtures.personUID(2))';") != "Renamed During A Fault\n", sourceLocation: sourceLocation)
    }

    /// The model's state, read from LDAP: uid → (cn, sorted mail).
    func ldapUsers() throws -> [String: (name: String, mail: [String])] {
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.rootDN, password: Secret(server.configuration.rootPassword))
        var users: [String: (name: String, mail: [String])] = [:]
        try connection.search(SearchRequest(base: "ou=people,\(suffix)", filter: "(uid=*)", attributes: ["uid", "cn", "mail"])) { entry in
            func text(_ values: [[UInt8]]?) -> [String] { (values ?? []).map { String(decoding: $0, as: UTF8.self) } }
            guard let uid = text(entry.values(of: "uid")).first else { return }
            users[uid] = (text(entry.values(of: "cn")).first ?? "", text(entry.values(of: "mail")).sorted())
        }
        return users
    }

    /// A normal run after the fault exits 0 and leaves LDAP and the app in agreement; a
    /// second run finds nothing to do. `gone` are the users deleted from LDAP.
    func expectConvergence(gone: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rerun = try run()
        #expect(rerun.status == 0, "the run after the fault: \(rerun.errors)", sourceLocation: sourceLocation)
        try expectAgreement(gone: gone, sourceLocation: sourceLocation)
        let again = try run()
        #expect(again.status == 0, "\(again.errors)", sourceLocation: sourceLocation)
        let row = try #require(again.output.split(separator: "\n").first { $0.hasPrefix("corp ") }, sourceLocation: sourceLocation)
        // fetched, created, updated, deactivated: nothing left to do.
        let columns = row.split(separator: " ")
        #expect(columns[2] == "0" && columns[3] == "0" && columns[4] == "0", "\(again.output)", sourceLocation: sourceLocation)
        #expect(!(try cursor().contains("(none")), sourceLocation: sourceLocation)
    }

    /// `except`: a user whose app edit is not written back yet (checked by the caller).
    /// `names`: whether cn is mapped to the app's name (otherwise the column is absent).
    func expectAgreement(gone: [String], except: String? = nil, names: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ldap = try ldapUsers()
        #expect(try sqlite("select count(*) - count(distinct key) from users;") == "0\n", "duplicated keys", sourceLocation: sourceLocation)
        let rows = try sqlite("select key, \(names ? "name" : "''"), email, active from users where ldap_managed = 1 order by key;")
        var app: [String: (name: String, mail: [String], active: Bool)] = [:]
        for line in rows.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4 else { Issue.record("unexpected row \(line)", sourceLocation: sourceLocation); continue }
            let mail = (try? JSONDecoder().decode([String].self, from: Data(fields[2].utf8))) ?? []
            app[fields[0]] = (fields[1], mail.sorted(), fields[3] == "1")
        }
        for (uid, user) in ldap where uid != except {
            guard let row = app[uid] else { Issue.record("\(uid) is in LDAP, not in the app", sourceLocation: sourceLocation); continue }
            #expect(row.active && (!names || row.name == user.name) && row.mail == user.mail, "\(uid): app \(row), LDAP \(user)", sourceLocation: sourceLocation)
        }
        for uid in gone {
            #expect(ldap[uid] == nil, sourceLocation: sourceLocation)
            #expect(app[uid]?.active == false, "\(uid) was deleted from LDAP: \(String(describing: app[uid]))", sourceLocation: sourceLocation)
        }
        #expect(Set(app.keys) == Set(ldap.keys).union(gone), "app \(app.keys.sorted()), LDAP \(ldap.keys.sorted())", sourceLocation: sourceLocation)
    }
}

/// The ldapsync binary as a child process the test can signal.
final class LDAPSyncChild: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private let marker: String

    init(_ arguments: [String], in directory: URL, stallAt point: String) throws {
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundleDirectory, bundleDirectory.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
        let executable = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) })
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["LDAPSYNC_STALL_AT"] = point
        marker = directory.appendingPathComponent("stalled-\(UUID().uuidString)").path
        environment["LDAPSYNC_STALL_MARKER"] = marker
        process.environment = environment
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    var pid: pid_t { process.processIdentifier }

    /// Until the child has reached its stall point (the marker file exists; at most 20 s),
    /// then a little longer, well inside the 3 s stall.
    func waitForStall() {
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: marker), process.isRunning, Date() < deadline { usleep(20_000) }
        try? FileManager.default.removeItem(atPath: marker)
        usleep(300_000)
    }

    func wait() -> (status: Int32, output: String, errors: String) {
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }
}

/// The user every fault test deletes from LDAP while the run is broken (see `changeLDAP`).
private let deleted = Fixtures.personUID(1)

@Suite(.serialized) struct ServerFaultTests {
    private func prepared(directoryExtra: String = "", extra: String = FaultEnvironment.readOnlyMail, state: String = "state") throws -> (FaultEnvironment, String) {
        let environment = try FaultEnvironment(people: 12, state: state, directoryExtra: directoryExtra, extra: extra)
        let first = try environment.run()
        #expect(first.status == 0, "\(first.errors)")
        let cursor = try environment.cursor()
        try environment.changeLDAP(deleted: 1, modified: 2, addedFrom: 20)
        return (environment, cursor)
    }

    @Test func slapdStoppedMidSearchExits3WritesNothingAndTheNextRunConverges() throws {
        let (environment, cursor) = try prepared()
        let server = environment.server
        // A full run reads the users in pages of 5; slapd dies after the first page.
        let result = try environment.run(["run", "--full"], stallAt: "mid-user-fetch") { _ in server.kill() }
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("directory corp (\(server.url))"), "\(result.errors)")
        #expect(result.errors.contains("nothing was written and the cursor was not moved"), "\(result.errors)")
        try environment.expectNothingApplied(cursor: cursor)

        try server.restart()
        try environment.expectConvergence(gone: [deleted])
    }

    @Test func slapdStoppedBetweenRunsExits3AndTheNextRunConverges() throws {
        let (environment, cursor) = try prepared()
        environment.server.kill()
        let result = try environment.run()
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("directory corp (\(environment.server.url))"), "\(result.errors)")
        #expect(result.errors.contains("nothing was written and the cursor was not moved"), "\(result.errors)")
        try environment.expectNothingApplied(cursor: cursor)

        try environment.server.restart()
        try environment.expectConvergence(gone: [deleted])
    }

    @Test func slapdRestartedMidRunExits3KeepsTheCursorAndTheNextRunConverges() throws {
        let (environment, cursor) = try prepared()
        let server = environment.server
        // The changes are read; slapd restarts before the deletion listing, which would
        // run on the read connection that the restart broke.
        let result = try environment.run(stallAt: "before-deletion-listing") { _ in
            server.kill()
            try? server.restart()
        }
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("nothing was written and the cursor was not moved"), "\(result.errors)")
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
    }

    @Test func aServerSlowerThanTheTimeoutExits3NamingTheTimeoutAndTheNextRunConverges() throws {
        let (environment, cursor) = try prepared(directoryExtra: "timeout: 1s")
        let pid = try #require(environment.server.pid)
        defer { kill(pid, SIGCONT) }
        let started = ContinuousClock.now
        // slapd stops answering (SIGSTOP) between two pages of the users.
        let result = try environment.run(["run", "--full"], stallAt: "mid-user-fetch") { _ in _ = kill(pid, SIGSTOP) }
        kill(pid, SIGCONT)
        #expect(result.status == 3, "\(result.errors)")
        #expect(result.errors.contains("timeout"), "\(result.errors)")
        #expect(result.errors.contains("nothing was written and the cursor was not moved"), "\(result.errors)")
        // The 3 s stall, then the 1 s timeout (a retry or two at most), not a hang.
        #expect(ContinuousClock.now - started < .seconds(20))
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
    }

    @Test func slapdStoppedMidWriteBackLeavesTheWriteToTheRetrySetAndTheNextRunConverges() throws {
        let (environment, _) = try prepared(extra: FaultEnvironment.writtenBackMail)
        let key = Fixtures.personUID(3)
        _ = try environment.sqlite("update users set email = '[\"\(key)@example.com\",\"extra@example.com\"]' where key = '\(key)';")
        let server = environment.server
        let cursor = try environment.cursor()
        // The app changes are committed; slapd dies before the write-back.
        let result = try environment.run(stallAt: "after-app-commit") { _ in server.kill() }
        #expect(result.status == 1, "\(result.errors)")
        #expect(result.output.contains("(key \(key)): TRANSIENT: LDAP modify \"uid=\(key),ou=people,\(environment.suffix)\" failed: serverDown (-1)"), "\(result.output)")
        // What was committed stays committed: the app has LDAP's changes, the cursor moved
        // on, and the write waits in the retry set (SPEC I3).
        #expect(try environment.cursor() != cursor)
        let status = try environment.cli.ldapsync(["status"])
        #expect(status.output.contains("retry set:      1"), "\(status.output)")
        try server.restart()
        try environment.expectAgreement(gone: [deleted], except: key)

        try environment.expectConvergence(gone: [deleted])
        let ldap = try environment.ldapUsers()
        #expect(ldap[key]?.mail == ["\(key)@example.com", "extra@example.com"].sorted())
    }
}

/// A tmpfs of `size` mounted on a new directory (root only; the sandbox must allow mounts).
final class SmallFilesystem {
    let path: String

    /// Whether this machine lets the tests mount a tmpfs: tried once.
    static let available: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-mount-probe-\(UUID().uuidString)").path
        guard mkdir(probe, 0o700) == 0 else { return false }
        defer { rmdir(probe) }
        guard command("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", probe]) == 0 else { return false }
        return command("/bin/umount", [probe]) == 0
    }()

    init(at path: String, size: String) throws {
        self.path = path
        #expect(mkdir(path, 0o700) == 0)
        try #require(Self.command("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700", "tmpfs", path]) == 0, "mount tmpfs on \(path)")
    }

    deinit {
        _ = Self.command("/bin/umount", [path])
        rmdir(path)
    }

    func remount(readOnly: Bool) throws {
        try #require(Self.command("/bin/mount", ["-o", readOnly ? "remount,ro" : "remount,rw", path]) == 0)
    }

    /// Fills the filesystem: a file `filler` written until ENOSPC.
    func fill() throws {
        let descriptor = open(path + "/filler", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let chunk = [UInt8](repeating: 0xA5, count: 4096)
        while chunk.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        #expect(errno == ENOSPC)
    }

    func unfill() { unlink(path + "/filler") }

    @discardableResult
    static func command(_ executable: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// The sqlite3 shell holding an exclusive transaction on the app database, as another
/// writer of the application would.
final class ExclusiveLockHolder: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    init(database: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [database]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nSELECT 'held';\n".utf8))
        // The lock is held once the shell has answered.
        var answer = Data()
        while !String(decoding: answer, as: UTF8.self).contains("held") {
            let more = output.fileHandleForReading.availableData
            try #require(!more.isEmpty, "sqlite3 ended before taking the lock")
            answer.append(more)
        }
    }

    func release() {
        guard process.isRunning else { return }
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}

@Suite(.serialized) struct LocalFaultTests {
    private func prepared(state: String = "state", change: Bool = true) throws -> (FaultEnvironment, String) {
        let environment = try FaultEnvironment(people: 12, state: state)
        let first = try environment.run()
        #expect(first.status == 0, "\(first.errors)")
        let cursor = try environment.cursor()
        if change { try environment.changeLDAP(deleted: 1, modified: 2, addedFrom: 20) }
        return (environment, cursor)
    }

    @Test func sigtermExits130AtABatchBoundaryKeepsTheCursorAndTheNextRunConverges() throws {
        let (environment, cursor) = try prepared()
        let result = try environment.run(stallAt: "before-deletion-listing") { pid in _ = kill(pid, SIGTERM) }
        #expect(result.status == 130, "\(result.errors)")
        #expect(result.errors.contains("interrupted: stopped before writing; the cursor was not advanced"), "\(result.errors)")
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
    }

    @Test(.enabled(if: SmallFilesystem.available, "needs root and a sandbox that allows mounting a tmpfs"))
    func aFullStateFilesystemExits6LosesNothingAndTheNextRunConverges() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-full-\(UUID().uuidString)").path
        let filesystem = try SmallFilesystem(at: scratch, size: "1m")
        let (environment, cursor) = try prepared(state: scratch + "/state", change: false)
        // More changes than the store's free pages hold: 400 new users.
        try environment.changeLDAP(deleted: 1, modified: 2, addedFrom: 20)
        try environment.server.add(ldif: Fixtures.people(count: 400, base: "ou=people,\(environment.suffix)", startIndex: 100))
        try filesystem.fill()
        let result = try environment.run()
        #expect(result.status == 6, "\(result.errors)")
        #expect(result.errors.contains("state store:"), "\(result.errors)")
        #expect(result.errors.contains("No space left on device") || result.errors.contains("MDB_MAP_FULL"), "\(result.errors)")
        filesystem.unfill()
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
        withExtendedLifetime(filesystem) {}  // mounted until here
    }

    @Test(.enabled(if: SmallFilesystem.available, "needs root and a sandbox that allows mounting a tmpfs"))
    func aReadOnlyStateFilesystemExits6AndTheNextRunConverges() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-ro-\(UUID().uuidString)").path
        let filesystem = try SmallFilesystem(at: scratch, size: "4m")
        let (environment, cursor) = try prepared(state: scratch + "/state")
        try filesystem.remount(readOnly: true)
        let result = try environment.run()
        #expect(result.status == 6, "\(result.errors)")
        #expect(result.errors.contains("Read-only file system"), "\(result.errors)")
        try filesystem.remount(readOnly: false)
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
        withExtendedLifetime(filesystem) {}  // mounted until here
    }

    @Test(arguments: ["truncated", "overwritten"])
    func aDamagedStateFileExits6NamingTheRecoveryAndTheRecoveredRunConverges(damage: String) throws {
        let (environment, _) = try prepared()
        let file = environment.directory.appendingPathComponent("state/data.mdb").path
        let handle = try #require(FileHandle(forUpdatingAtPath: file))
        let size = try handle.seekToEnd()
        if damage == "truncated" {
            try handle.truncate(atOffset: size / 2)
        } else {
            // Everything after the two meta pages: garbage.
            try handle.seek(toOffset: 8192)
            handle.write(Data((0..<Int(size) - 8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 13) }))
        }
        try handle.close()
        let result = try environment.run()
        #expect(result.status == 6, "\(result.errors)")
        #expect(result.errors.hasPrefix("ldapsync: state store: "), "\(result.errors)")
        if damage == "truncated" {
            #expect(result.errors.contains("the file was truncated; the state store is damaged: see docs/operations.md, recovery"), "\(result.errors)")
        } else {
            // LMDB follows a garbage page number out of the file: SIGBUS, caught.
            #expect(result.errors.contains("(SIGBUS): the file is damaged or truncated; the run stopped and committed nothing more; see docs/operations.md, recovery"), "\(result.errors)")
        }
        #expect(try environment.sqlite("select count(*) from users where active = 1;") == "12\n")

        // The recovery step of docs/operations.md: move the damaged directory aside.
        try FileManager.default.moveItem(atPath: environment.directory.appendingPathComponent("state").path,
                                         toPath: environment.directory.appendingPathComponent("state.damaged").path)
        try environment.expectConvergence(gone: [deleted])
    }
}

/// The app database locked by another writer (an exclusive transaction held by the sqlite3
/// shell) before the run, during its reads, or just before it applies its changes: each
/// waits out the busy timeout (10 s), then fails naming the lock; nothing is applied, the
/// cursor stays, and the run after the lock is gone converges.
@Suite struct AppDatabaseLockedTests {
    @Test(arguments: [
        (nil, Int32(2), "configuration: app store "),
        ("before-deletion-listing", Int32(6), "state store: app store: read users: "),
        ("before-app-apply", Int32(1), "the app store transaction failed and was rolled back: "),
    ] as [(String?, Int32, String)])
    func aLockedAppDatabaseIsAClearErrorAfterTheBusyTimeoutAndTheNextRunConverges(lockedAt point: String?, status: Int32, context: String) throws {
        let environment = try FaultEnvironment(people: 12)
        let first = try environment.run()
        #expect(first.status == 0, "\(first.errors)")
        let cursor = try environment.cursor()
        try environment.changeLDAP(deleted: 1, modified: 2, addedFrom: 20)
        let database = environment.directory.appendingPathComponent("app.db").path
        let holder = LockedBox<ExclusiveLockHolder?>(nil)
        let started = ContinuousClock.now
        let result: (status: Int32, output: String, errors: String)
        if let point {
            result = try environment.run(stallAt: point) { _ in holder.value = try? ExclusiveLockHolder(database: database) }
        } else {
            holder.value = try ExclusiveLockHolder(database: database)
            result = try environment.run()
        }
        let waited = ContinuousClock.now - started
        #expect(holder.value != nil, "the lock was taken")
        holder.value?.release()
        #expect(result.status == status, "\(result.errors)")
        let said = result.errors + result.output
        #expect(said.contains(context), "\(said)")
        #expect(said.contains("the database is locked by another connection and stayed locked for the whole busy timeout (10 s)"), "\(said)")
        #expect(waited >= .seconds(10))
        try environment.expectNothingApplied(cursor: cursor)

        try environment.expectConvergence(gone: [deleted])
    }
}

final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
