import DirectoryModel
import StateStore
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

/// The state store of SPEC §1: snapshots, cursors, the retry set and the run history, in
/// one LMDB environment. Keys of per-directory databases start with the directory name
/// and a NUL byte.
///
/// During a run, new snapshots and app changes are *staged* batch by batch (so memory
/// stays bounded) in a separate scratch environment, `<state>/staging`, whose commits are
/// not flushed to disk: staged data is thrown away after any crash anyway.
/// ``commit(_:)`` then moves the snapshots into place together with the cursor, the group
/// snapshots and the retry set in ONE durable write transaction (SPEC I1).
final class SyncState {
    let environment: Environment
    private let users: Database
    private let userDNs: Database
    private let userKeys: Database
    private let groups: Database
    private let cursors: Database
    private let retry: Database
    private let deactivated: Database
    private let runs: Database
    private let conflicts: Database
    /// The scratch environment of a run (nil for the commands that only read or set the
    /// cursor).
    private let staging: Environment?
    private let pending: Database?
    private let pendingApp: Database?

    /// - Parameter staging: open the scratch environment a run stages into.
    init(path: String, staging: Bool = false) throws {
        environment = try Environment(path: path, maxDatabases: 16)
        users = try environment.database(named: "users")
        userDNs = try environment.database(named: "userDNs")
        userKeys = try environment.database(named: "userKeys")
        groups = try environment.database(named: "groups")
        cursors = try environment.database(named: "cursors")
        retry = try environment.database(named: "retry")
        deactivated = try environment.database(named: "deactivated")
        runs = try environment.database(named: "runs")
        conflicts = try environment.database(named: "conflicts")
        if staging {
            let scratch = try SyncState.openStaging(path + "/staging")
            self.staging = scratch
            pending = try scratch.database(named: "pending")
            pendingApp = try scratch.database(named: "pendingApp")
        } else {
            self.staging = nil
            pending = nil
            pendingApp = nil
        }
    }

    /// Opens the scratch environment; one a system crash damaged is removed and made anew.
    private static func openStaging(_ path: String) throws -> Environment {
        do {
            return try Environment(path: path, maxDatabases: 4, durable: false)
        } catch {
            for file in ["data.mdb", "lock.mdb"] { unlink(path + "/" + file) }
            return try Environment(path: path, maxDatabases: 4, durable: false)
        }
    }

    private func scratch() throws -> (Environment, Database, Database) {
        guard let staging, let pending, let pendingApp else {
            throw StateCorruption(what: "the staging area", reason: "not opened for this command")
        }
        return (staging, pending, pendingApp)
    }

    static func prefix(_ directory: String) -> [UInt8] { Array(directory.utf8) + [0] }
    private static func key(_ directory: String, _ bytes: [UInt8]) -> [UInt8] { prefix(directory) + bytes }
    private static func key(_ directory: String, _ text: String) -> [UInt8] { prefix(directory) + Array(text.utf8) }

    // MARK: Reading

    func cursor(_ directory: String) throws -> CursorRecord? {
        try environment.read { txn in
            try txn.get(Self.key(directory, ""), in: cursors).map { bytes in try decode("cursor of \(directory)") { try StateRecords.decodeCursor(bytes) } }
        }
    }

    func user(_ directory: String, id: [UInt8]) throws -> UserSnapshot? {
        try environment.read { txn in try user(directory, id: id, txn) }
    }

    private func user<A>(_ directory: String, id: [UInt8], _ txn: borrowing Transaction<A>) throws -> UserSnapshot? {
        try txn.get(Self.key(directory, id), in: users).map { bytes in try decode("user snapshot") { try StateRecords.decodeUser(bytes) } }
    }

    /// The snapshots of these users (those that have one), read in one transaction.
    func users(_ directory: String, ids: [[UInt8]]) throws -> [[UInt8]: UserSnapshot] {
        try environment.read { txn in
            var result: [[UInt8]: UserSnapshot] = [:]
            for id in ids {
                if let snapshot = try user(directory, id: id, txn) { result[id] = snapshot }
            }
            return result
        }
    }

    /// The snapshot users with these app keys, with their ids, read in one transaction.
    func users(_ directory: String, appKeys: [String]) throws -> [String: ([UInt8], UserSnapshot)] {
        try environment.read { txn in
            var result: [String: ([UInt8], UserSnapshot)] = [:]
            for key in appKeys {
                guard let id = try txn.get(Self.key(directory, key), in: userKeys), let snapshot = try user(directory, id: id, txn) else { continue }
                result[key] = (id, snapshot)
            }
            return result
        }
    }

    /// Which of these app keys ldapsync itself deactivated.
    func deactivatedBySync(_ directory: String, appKeys: some Sequence<String>) throws -> Set<String> {
        try environment.read { txn in
            var result: Set<String> = []
            for key in appKeys where try txn.get(Self.key(directory, key), in: deactivated) != nil { result.insert(key) }
            return result
        }
    }

    /// The id of the snapshot user with this DN key, or with this app key.
    func userID(_ directory: String, dnKey: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.get(Self.key(directory, dnKey), in: userDNs) }
    }

    func userID(_ directory: String, appKey: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.get(Self.key(directory, appKey), in: userKeys) }
    }

    /// Every snapshot user of the directory, in id order.
    func forEachUser(_ directory: String, _ body: ([UInt8], UserSnapshot) throws -> Void) throws {
        let prefix = Self.prefix(directory)
        try environment.read { txn in
            try txn.forEach(in: users, range: .prefix(prefix)) { key, value in
                try body(Array(key.dropFirst(prefix.count)), try decode("user snapshot") { try StateRecords.decodeUser(value) })
                return .continue
            }
        }
    }

    /// Every snapshot user's id, in order, without decoding the snapshots.
    func forEachUserID(_ directory: String, _ body: ([UInt8]) throws -> Void) throws {
        let prefix = Self.prefix(directory)
        try environment.read { txn in
            try txn.forEach(in: users, range: .prefix(prefix)) { key, _ in
                try body(Array(key.dropFirst(prefix.count)))
                return .continue
            }
        }
    }

    func userCount(_ directory: String) throws -> Int {
        var count = 0
        try environment.read { txn in
            try txn.forEach(in: users, range: .prefix(Self.prefix(directory))) { _, _ in count += 1; return .continue }
        }
        return count
    }

    /// The group snapshots of the directory, by id.
    func groups(_ directory: String) throws -> [[UInt8]: GroupRecord] {
        let prefix = Self.prefix(directory)
        var result: [[UInt8]: GroupRecord] = [:]
        try environment.read { txn in
            try txn.forEach(in: groups, range: .prefix(prefix)) { key, value in
                result[Array(key.dropFirst(prefix.count))] = try decode("group snapshot") { try StateRecords.decodeGroup(value) }
                return .continue
            }
        }
        return result
    }

    func retrySet(_ directory: String) throws -> [[UInt8]: RetryRecord] {
        let prefix = Self.prefix(directory)
        var result: [[UInt8]: RetryRecord] = [:]
        try environment.read { txn in
            try txn.forEach(in: retry, range: .prefix(prefix)) { key, value in
                result[Array(key.dropFirst(prefix.count))] = try decode("retry record") { try StateRecords.decodeRetry(value) }
                return .continue
            }
        }
        return result
    }

    /// The last `limit` runs, newest first.
    func recentRuns(limit: Int) throws -> [RunRecord] {
        var result: [RunRecord] = []
        try environment.read { txn in
            try txn.forEach(in: runs) { _, value in
                result.append(try decode("run record") { try StateRecords.decodeRun(value) })
                return .continue
            }
        }
        return Array(result.reversed().prefix(limit))
    }

    /// Per directory, its newest run and its newest run that ended with exit 0, from the
    /// whole history (at most 1,000 runs): the metrics' last-success times survive a lost
    /// metrics file and any number of failed runs in between.
    func lastRuns() throws -> [String: (last: RunRecord, lastSuccess: RunRecord?)] {
        var result: [String: (last: RunRecord, lastSuccess: RunRecord?)] = [:]
        try environment.read { txn in
            // Chronological: each record replaces the one before it.
            try txn.forEach(in: runs) { _, value in
                let run = try decode("run record") { try StateRecords.decodeRun(value) }
                let previousSuccess = result[run.directory]?.lastSuccess
                result[run.directory] = (run, run.exitCode == 0 ? run : previousSuccess)
                return .continue
            }
        }
        return result
    }

    // MARK: Manual conflicts

    /// The pending manual conflicts of a directory.
    func conflicts(_ directory: String) throws -> [ConflictRecord] {
        let prefix = Self.prefix(directory)
        var result: [ConflictRecord] = []
        try environment.read { txn in
            try txn.forEach(in: conflicts, range: .prefix(prefix)) { _, value in
                result.append(try decode("conflict record") { try StateRecords.decodeConflict(value) })
                return .continue
            }
        }
        return result
    }

    static func conflictKey(_ directory: String, key: String, attribute: String) -> [UInt8] {
        prefix(directory) + Array(key.utf8) + [0] + Array(attribute.lowercased().utf8)
    }

    /// Records an administrator's decision for a pending conflict; false when there is none.
    func resolveConflict(_ directory: String, key: String, attribute: String, takeLDAP: Bool) throws -> Bool {
        try environment.write { txn in
            let recordKey = Self.conflictKey(directory, key: key, attribute: attribute)
            guard let bytes = try txn.get(recordKey, in: conflicts) else { return false }
            var record = try decode("conflict record") { try StateRecords.decodeConflict(bytes) }
            record.resolution = takeLDAP
            try txn.put(StateRecords.encode(record), forKey: recordKey, in: conflicts)
            return true
        }
    }

    // MARK: Staging and committing

    /// Stages new snapshots (nil: the user is gone) for the commit.
    func stage(_ directory: String, users staged: [([UInt8], UserSnapshot?)]) throws {
        guard !staged.isEmpty else { return }
        let (staging, pending, _) = try scratch()
        try staging.write { txn in
            for (id, snapshot) in staged {
                let record: [UInt8] = snapshot.map { [1] + StateRecords.encode($0) } ?? [0]
                try txn.put(record, forKey: Self.key(directory, id), in: pending)
            }
        }
    }

    /// Stages a batch of app changes (numbered `sequence`) until the run's one app
    /// transaction reads them back with ``stagedAppChanges(_:from:)``.
    func stageAppChanges(_ directory: String, _ changes: [AppChange], sequence: UInt64) throws {
        guard !changes.isEmpty else { return }
        let (staging, _, pendingApp) = try scratch()
        try staging.write { txn in
            try txn.put(AppChangeRecords.encode(changes), forKey: Self.prefix(directory) + Self.bigEndian(sequence), in: pendingApp)
        }
    }

    /// The staged app-change batch numbered `sequence`, or nil past the last one.
    func stagedAppChanges(_ directory: String, sequence: UInt64) throws -> [AppChange]? {
        let (staging, _, pendingApp) = try scratch()
        return try staging.read { txn in
            try txn.get(Self.prefix(directory) + Self.bigEndian(sequence), in: pendingApp).map { bytes in
                try decode("staged app changes") { try AppChangeRecords.decode(bytes) }
            }
        }
    }

    private static func bigEndian(_ number: UInt64) -> [UInt8] {
        withUnsafeBytes(of: number.bigEndian) { Array($0) }
    }

    /// Drops what an earlier run staged but never committed.
    func discardStaged(_ directory: String) throws {
        let (staging, pending, pendingApp) = try scratch()
        try staging.write { txn in
            _ = try txn.removeAll(in: pending, range: .prefix(Self.prefix(directory)))
            _ = try txn.removeAll(in: pendingApp, range: .prefix(Self.prefix(directory)))
        }
    }

    /// Everything a run changes besides the staged users.
    struct Commit {
        var directory: String
        /// nil: leave the cursor record as it is (a dry run never commits at all).
        var cursor: CursorRecord?
        var groups: [[UInt8]: GroupRecord?] = [:]
        var retry: [[UInt8]: RetryRecord?] = [:]
        var deactivated: [String: Bool] = [:]
        /// Manual conflicts to store (or, nil, to forget), by user key and attribute.
        var conflicts: [[UInt8]: ConflictRecord?] = [:]
        var run: RunRecord?
    }

    /// Moves the staged users into place and writes the cursor, groups, retry set,
    /// deactivation marks and the run record, all in one transaction (SPEC I1).
    func commit(_ commit: Commit) throws {
        let directory = commit.directory
        let prefix = Self.prefix(directory)
        let (staging, pending, _) = try scratch()
        // Leftovers are harmless: every run discards what is staged before it starts.
        defer { try? discardStaged(directory) }
        try environment.write { txn in
            // In chunks, so memory holds 1,000 staged records at a time, not the run's.
            let all = KeyRange.prefix(prefix)
            var from = all.lowerBound
            while true {
                let staged: [([UInt8], [UInt8])] = try staging.read { scratchTxn in
                    var chunk: [([UInt8], [UInt8])] = []
                    try scratchTxn.forEach(in: pending, range: KeyRange(from: from, to: all.upperBound)) { key, value in
                        chunk.append((key, value))
                        return chunk.count < 1_000 ? .continue : .stop
                    }
                    return chunk
                }
                for (key, record) in staged {
                    try applyStaged(directory, id: Array(key.dropFirst(prefix.count)), record: record, &txn)
                }
                guard let last = staged.last?.0, staged.count == 1_000 else { break }
                from = last + [0]
            }
            for (id, group) in commit.groups {
                if let group { try txn.put(StateRecords.encode(group), forKey: Self.key(directory, id), in: groups) }
                else { _ = try txn.delete(Self.key(directory, id), in: groups) }
            }
            for (id, record) in commit.retry {
                if let record { try txn.put(StateRecords.encode(record), forKey: Self.key(directory, id), in: retry) }
                else { _ = try txn.delete(Self.key(directory, id), in: retry) }
            }
            for (appKey, isDeactivated) in commit.deactivated {
                if isDeactivated { try txn.put([1], forKey: Self.key(directory, appKey), in: deactivated) }
                else { _ = try txn.delete(Self.key(directory, appKey), in: deactivated) }
            }
            for (recordKey, record) in commit.conflicts {
                if let record { try txn.put(StateRecords.encode(record), forKey: recordKey, in: conflicts) }
                else { _ = try txn.delete(recordKey, in: conflicts) }
            }
            if let cursor = commit.cursor {
                try txn.put(StateRecords.encode(cursor), forKey: Self.key(directory, ""), in: cursors)
            }
            if let run = commit.run {
                // Keyed by start time (big-endian) so iteration is chronological.
                var key = withUnsafeBytes(of: UInt64(bitPattern: run.started.seconds).bigEndian) { Array($0) }
                key += withUnsafeBytes(of: UInt32(bitPattern: run.started.nanoseconds).bigEndian) { Array($0) }
                try txn.put(StateRecords.encode(run), forKey: key + Array(directory.utf8), in: runs)
                // Keep the last 1,000 runs.
                let count = try txn.count(in: runs)
                if count > 1000 {
                    var excess = count - 1000
                    _ = try txn.removeAll(in: runs, range: .all) { _, _ in
                        defer { excess -= 1 }
                        return excess > 0
                    }
                }
            }
        }
    }

    private func applyStaged(_ directory: String, id: [UInt8], record: [UInt8], _ txn: inout WriteTransaction) throws {
        let old = try user(directory, id: id, txn)
        if let old {
            _ = try txn.delete(Self.key(directory, old.dnKey), in: userDNs)
            _ = try txn.delete(Self.key(directory, old.key), in: userKeys)
        }
        guard record.first == 1 else {
            _ = try txn.delete(Self.key(directory, id), in: users)
            return
        }
        let body = Array(record.dropFirst())
        let snapshot = try decode("staged user snapshot") { try StateRecords.decodeUser(body) }
        try txn.put(body, forKey: Self.key(directory, id), in: users)
        try txn.put(id, forKey: Self.key(directory, snapshot.dnKey), in: userDNs)
        try txn.put(id, forKey: Self.key(directory, snapshot.key), in: userKeys)
    }

    /// Sets or clears a directory's cursor (`ldapsync cursor set|clear`).
    func setCursor(_ directory: String, to timestamp: Timestamp?) throws {
        try environment.write { txn in
            let key = Self.key(directory, "")
            var record = try txn.get(key, in: cursors).map { bytes in try decode("cursor of \(directory)") { try StateRecords.decodeCursor(bytes) } }
                ?? CursorRecord(cursor: nil, lastReadDuration: .zero, mappingItems: [])
            record.cursor = timestamp
            record.lastReadDuration = .zero
            try txn.put(StateRecords.encode(record), forKey: key, in: cursors)
        }
    }
}

/// A state-store record that cannot be decoded: the store is damaged.
public struct StateCorruption: Error, CustomStringConvertible {
    public var what: String
    public var reason: String
    public var description: String { "state store damaged: cannot read \(what) (\(reason)); see docs/operations.md, recovery" }
}

/// A state-store error as text; when LMDB says its file is damaged (a wrong page, a page
/// not found, not an LMDB file, truncated), with the recovery step.
func describeStateError(_ error: any Error) -> String {
    let damaged: Set<ResultCode> = [.corrupted, .pageNotFound, .invalid, .panic]
    guard let error = error as? LMDBError, damaged.contains(error.code) else { return "\(error)" }
    return "\(error); the state store is damaged: see docs/operations.md, recovery"
}

private func decode<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as RecordDecodingError { throw StateCorruption(what: what, reason: error.description) }
}
