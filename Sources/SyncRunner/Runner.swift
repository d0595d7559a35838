import AppStore
import DirectoryModel
import LDAPClient
import Logging
import StateStore
import SyncConfig
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

/// Options of one `ldapsync run` / `plan`.
public struct RunOptions: Sendable {
    /// Compute and print the plan; write nothing anywhere, not even the state store.
    public var dryRun = false
    /// Read the whole scope (the stored cursor is not cleared).
    public var full = false
    /// Read entries modified since this time for this run (a backfill).
    public var since: Timestamp?
    /// Apply even when a safety limit trips.
    public var force = false
    /// Limit the run to these user keys ("test with one user first"): they are read in
    /// full, nothing else is decided, nobody is deactivated, and the cursor stays.
    public var only: [String] = []
    /// A dry run also writes the LDAP-side changes to this file as LDIF (`plan --ldif`).
    public var ldifPath: String?
    public init() {}
}

/// The result of a run: what each directory did and the exit code of SPEC §9.
public struct RunOutcome: Sendable {
    public var summaries: [DirectorySummary]
    /// 0, or 1 when entries failed or conflicts are pending.
    public var exitCode: Int32 { summaries.contains { !$0.failures.isEmpty || $0.pendingConflicts > 0 } ? 1 : 0 }
}

/// One run: for each directory, read the cursor, fetch what changed, decide with the
/// engine, write the app store in one transaction, then commit snapshots and cursor in one
/// LMDB transaction (SPEC §1, I1–I8).
public final class SyncRunner {
    public let configuration: Configuration
    private let logger: Logger
    /// Receives result lines for stdout (the plan, the summary); logs go to the logger.
    private let output: (String) -> Void
    /// Polled at batch boundaries: SIGINT/SIGTERM received.
    private let isInterrupted: () -> Bool

    public init(configuration: Configuration, logger: Logger, output: @escaping (String) -> Void,
                isInterrupted: @escaping () -> Bool = { false }) {
        self.configuration = configuration
        self.logger = logger
        self.output = output
        self.isInterrupted = isInterrupted
    }

    /// Runs every configured directory. Throws ``RunError`` for the outcomes that stop a
    /// run (exit codes 2–6, 130); per-entry failures are in the summaries (exit 1).
    public func run(_ options: RunOptions) throws(RunError) -> RunOutcome {
        let stateExists = directoryExists(configuration.statePath)
        if options.dryRun, !stateExists {
            // A plan writes nothing anywhere: with no state yet, every directory is new.
            return try runAll(options, state: nil, lock: nil)
        }
        try makeStateDirectory()
        let lock = options.dryRun ? nil : try RunLock(directory: configuration.statePath)
        let state: SyncState
        do {
            state = try SyncState(path: configuration.statePath, staging: !options.dryRun)
        } catch {
            throw .stateStore("cannot open \(configuration.statePath): \(error)")
        }
        return try runAll(options, state: state, lock: lock)
    }

    private func runAll(_ options: RunOptions, state: SyncState?, lock: RunLock?) throws(RunError) -> RunOutcome {
        let app = try openAppStore()
        var summaries: [DirectorySummary] = []
        let runID = AuditLog.newRunID()
        for directory in configuration.directories {
            let run = DirectoryRun(configuration: configuration, directory: directory, state: state, app: app,
                                   options: options, runID: runID, logger: logger, output: output, isInterrupted: isInterrupted)
            summaries.append(try run.execute())
        }
        withExtendedLifetime(lock) {}
        return RunOutcome(summaries: summaries)
    }

    func openAppStore() throws(RunError) -> any AppStore {
        switch configuration.app.kind {
        case .sqlite(let path):
            do {
                let store = try SQLiteAppStore(path: path, schema: AppSchemaBuilder.schema(configuration))
                try store.validateSchema()
                return store
            } catch {
                throw .configuration("app store \(path): \(error)")
            }
        case .postgres:
            throw .configuration("app.kind postgres is not available in this build yet (planned in issue #8)")
        }
    }

    private func makeStateDirectory() throws(RunError) {
        guard !directoryExists(configuration.statePath) else { return }
        guard mkdir(configuration.statePath, 0o700) == 0 || errno == EEXIST else {
            throw .stateStore("cannot create the state directory \(configuration.statePath): \(String(cString: strerror(errno)))")
        }
    }
}

func directoryExists(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
}

/// The wall clock, for run records and audit lines only: cursors come from the server (I2).
func wallClock() -> Timestamp {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Timestamp(seconds: Int64(now.tv_sec), nanoseconds: Int32(now.tv_nsec))
}

/// Table and column names from the configuration.
public enum AppSchemaBuilder {
    public static func schema(_ configuration: Configuration) -> AppSchema {
        var schema = AppSchema()
        let users = configuration.app.users
        schema.usersTable = users.table
        schema.keyColumn = users.key
        schema.managedColumn = users.managed
        schema.activeColumn = users.active
        schema.updatedAtColumn = users.updatedAt
        schema.membershipsTable = configuration.app.memberships.table
        schema.membershipUserColumn = configuration.app.memberships.user
        schema.membershipGroupColumn = configuration.app.memberships.group
        schema.columns = configuration.attributes.map { mapping in
            // A json transform keeps a JSON array of objects: text, not an array of strings.
            let kind: AppColumnKind = mapping.binary ? .blob : (mapping.multiValued && mapping.transform == nil) ? .jsonArray : .text
            return AppColumn(name: mapping.app, kind: kind)
        }
        return schema
    }
}
