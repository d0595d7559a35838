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

/// Everything known about a run when it ended, whatever the outcome: what `--report` and
/// `--metrics` write.
public struct RunResult: Sendable {
    /// The run id the audit log's lines carry.
    public var runID: String
    public var started: Timestamp
    public var finished: Timestamp
    public var durationSeconds: Double
    public var dryRun: Bool
    /// One per directory the run reached: complete ones, then (``DirectorySummary/complete``
    /// false) the one that stopped with ``error``.
    public var summaries: [DirectorySummary]
    /// Why the run stopped (exit 2–6, 130); nil when it finished.
    public var error: RunError?
    /// A message for a run that stopped before the runner existed (a configuration file
    /// that does not load, a bad `--since`): used when ``error`` is nil.
    public var stopMessage: String?
    /// The process exit code of SPEC §9.
    public var exitCode: Int32

    public init(runID: String, started: Timestamp, finished: Timestamp, durationSeconds: Double, dryRun: Bool,
                summaries: [DirectorySummary], error: RunError?, stopMessage: String? = nil, exitCode: Int32) {
        self.runID = runID
        self.started = started
        self.finished = finished
        self.durationSeconds = durationSeconds
        self.dryRun = dryRun
        self.summaries = summaries
        self.error = error
        self.stopMessage = stopMessage
        self.exitCode = exitCode
    }

    /// A run that stopped before it started: only the times, the message and the code.
    public static func stoppedBeforeStart(started: Timestamp, dryRun: Bool, message: String, exitCode: Int32) -> RunResult {
        let finished = wallClock()
        let duration = Double(finished.seconds - started.seconds) + Double(finished.nanoseconds - started.nanoseconds) / 1e9
        return RunResult(runID: AuditLog.newRunID(), started: started, finished: finished, durationSeconds: max(0, duration),
                         dryRun: dryRun, summaries: [], error: nil, stopMessage: message, exitCode: exitCode)
    }

    /// The message of a run that stopped, if it did.
    public var errorMessage: String? { error.map { "\($0)" } ?? stopMessage }

    /// Finished with exit 0, and wrote (not a dry run): what "last success" means in the
    /// metrics.
    public var succeeded: Bool { exitCode == 0 && !dryRun }
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
    private let progress: ProgressHandler?

    /// - Parameter progress: told where each directory is in its long phases (fetching,
    ///   listing for deletions, applying to the app, write-back); nil reports nothing.
    public init(configuration: Configuration, logger: Logger, output: @escaping (String) -> Void,
                isInterrupted: @escaping () -> Bool = { false }, progress: ProgressHandler? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.output = output
        self.isInterrupted = isInterrupted
        self.progress = progress
    }

    /// Runs every configured directory. Throws ``RunError`` for the outcomes that stop a
    /// run (exit codes 2–6, 130); per-entry failures are in the summaries (exit 1).
    public func run(_ options: RunOptions) throws(RunError) -> RunOutcome {
        let result = execute(options)
        if let error = result.error { throw error }
        return RunOutcome(summaries: result.summaries)
    }

    /// Runs every configured directory and returns everything known at the end, also when
    /// the run stopped (``RunResult/error``): the report and the metrics of every outcome.
    public func execute(_ options: RunOptions) -> RunResult {
        let started = wallClock()
        let clock = ContinuousClock()
        let start = clock.now
        let runID = AuditLog.newRunID()
        var summaries: [DirectorySummary] = []
        var stop: RunError?
        do {
            try runAll(options, runID: runID, summaries: &summaries)
        } catch {
            stop = error
        }
        let exitCode = stop?.exitCode ?? RunOutcome(summaries: summaries).exitCode
        return RunResult(runID: runID, started: started, finished: wallClock(), durationSeconds: seconds(clock.now - start),
                         dryRun: options.dryRun, summaries: summaries, error: stop, exitCode: exitCode)
    }

    private func runAll(_ options: RunOptions, runID: String, summaries: inout [DirectorySummary]) throws(RunError) {
        let stateExists = directoryExists(configuration.statePath)
        var state: SyncState?
        var lock: RunLock?
        // A plan writes nothing anywhere: with no state yet, every directory is new.
        if !options.dryRun || stateExists {
            try makeStateDirectory()
            lock = options.dryRun ? nil : try RunLock(directory: configuration.statePath)
            do {
                state = try SyncState(path: configuration.statePath, staging: !options.dryRun)
            } catch {
                throw .stateStore("cannot open \(configuration.statePath): \(describeStateError(error))")
            }
        }
        let app = try openAppStore()
        for directory in configuration.directories {
            let run = DirectoryRun(configuration: configuration, directory: directory, state: state, app: app,
                                   options: options, runID: runID, logger: logger, output: output,
                                   isInterrupted: isInterrupted, progress: progress)
            do {
                summaries.append(try run.execute())
            } catch {
                summaries.append(run.partialSummary)
                throw error
            }
        }
        withExtendedLifetime(lock) {}
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
        case .postgres(let url, let password, let tls):
            do {
                let store = try PostgresAppStoreOpening.open(configuration, url: url, password: password, tls: tls)
                try store.validateSchema()
                return store
            } catch {
                throw .configuration("app store (PostgreSQL): \(error)")
            }
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
