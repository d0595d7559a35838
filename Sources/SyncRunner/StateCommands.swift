import DirectoryModel
import SyncConfig

/// What `ldapsync status` and `ldapsync cursor` read and change in the state store.
public struct StateCommands {
    public let configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// One directory's state for `status` and `cursor show`.
    public struct DirectoryStatus: Sendable {
        public var directory: String
        public var cursor: Timestamp?
        public var snapshotUsers: Int
        public var retry: [(key: String?, dn: String?, message: String, attempts: Int)]
        public var conflicts = 0
        /// The directory's newest committed run, and its newest one that ended with exit 0.
        public var lastRun: RunRecord?
        public var lastSuccess: RunRecord?
        /// A run that stopped after preparing its commit and before finishing it (killed,
        /// crashed): the next run completes or drops it first (docs/operations.md).
        public var unfinishedRun: String?
    }

    /// The state of each configured directory; an absent state store reads as empty.
    public func status() throws(RunError) -> (directories: [DirectoryStatus], runs: [RunRecord]) {
        guard directoryExists(configuration.statePath) else {
            return (configuration.directories.map { DirectoryStatus(directory: $0.name, cursor: nil, snapshotUsers: 0, retry: []) }, [])
        }
        do {
            let state = try SyncState(path: configuration.statePath)
            let history = try state.lastRuns()
            let directories = try configuration.directories.map { directory in
                DirectoryStatus(
                    directory: directory.name, cursor: try state.cursor(directory.name)?.cursor,
                    snapshotUsers: try state.userCount(directory.name),
                    retry: try state.retrySet(directory.name).values.map { ($0.key, $0.dn, $0.message, $0.attempts) },
                    conflicts: try state.conflicts(directory.name).filter { $0.resolution == nil }.count,
                    lastRun: history[directory.name]?.last, lastSuccess: history[directory.name]?.lastSuccess,
                    unfinishedRun: try state.inflightRun(directory.name)?.runID)
            }
            return (directories, try state.recentRuns(limit: 10))
        } catch {
            throw .stateStore("\(configuration.statePath): \(describeStateError(error))")
        }
    }

    /// Sets (a backfill from `timestamp`) or clears (nil: a full run next) the cursor of
    /// the named directory, or of every directory. Takes the run lock: never while a run
    /// is in progress.
    public func setCursor(_ timestamp: Timestamp?, directory name: String?) throws(RunError) -> [String] {
        let names = configuration.directories.map(\.name)
        if let name, !names.contains(name) {
            throw .configuration("no directory named \(name) in \(configuration.sourcePath) (directories: \(names.joined(separator: ", ")))")
        }
        if !directoryExists(configuration.statePath) {
            try makeDirectory(configuration.statePath)
        }
        let lock = try RunLock(directory: configuration.statePath)
        defer { withExtendedLifetime(lock) {} }
        let targets = name.map { [$0] } ?? names
        do {
            let state = try SyncState(path: configuration.statePath)
            for target in targets { try state.setCursor(target, to: timestamp) }
        } catch {
            throw .stateStore("\(configuration.statePath): \(describeStateError(error))")
        }
        return targets
    }

    /// The pending manual conflicts, by directory.
    public func conflicts() throws(RunError) -> [(directory: String, conflicts: [ConflictRecord])] {
        guard directoryExists(configuration.statePath) else { return [] }
        do {
            let state = try SyncState(path: configuration.statePath)
            return try configuration.directories.map { ($0.name, try state.conflicts($0.name)) }
        } catch {
            throw .stateStore("\(configuration.statePath): \(describeStateError(error))")
        }
    }

    /// Settles a pending conflict; the next run applies it. The attribute may be named by
    /// its LDAP name or its app column. Returns the directories where it was found.
    public func resolveConflict(key: String, attribute: String, takeLDAP: Bool) throws(RunError) -> [String] {
        let mapping = configuration.attributes.first { $0.ldap == AttributeName(attribute) || $0.app == attribute }
        guard let mapping else {
            throw .configuration("\(attribute) is not a mapped attribute (LDAP name or app column) in \(configuration.sourcePath)")
        }
        guard directoryExists(configuration.statePath) else { return [] }
        let lock = try RunLock(directory: configuration.statePath)
        defer { withExtendedLifetime(lock) {} }
        do {
            let state = try SyncState(path: configuration.statePath)
            return try configuration.directories.map(\.name).filter { name in
                try state.resolveConflict(name, key: key, attribute: mapping.ldap.description, takeLDAP: takeLDAP)
            }
        } catch {
            throw .stateStore("\(configuration.statePath): \(describeStateError(error))")
        }
    }

    private func makeDirectory(_ path: String) throws(RunError) {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw .stateStore("cannot create the state directory \(path): \(String(cString: strerror(errno)))")
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
