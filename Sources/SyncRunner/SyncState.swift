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
    let groups: Database
    private let cursors: Database
    private let retry: Database
    private let deactivated: Database
    private let runs: Database
    private let conflicts: Database
    /// A run that prepared its commit and has not committed yet, by directory (SPEC I1).
    private let inflight: Database
    /// Write-back values of a run that died before its commit (``InDoubtRecord``).
    private let inDoubt: Database
    /// Which groups hold a member, and each group's DN and name: the group snapshots
    /// turned around, so that an incremental run reads only its users' groups
    /// (SyncState+MemberIndex.swift).
    let memberIndex: Database
    let groupHeads: Database
    /// The scratch environment of a run (nil for the commands that only read or set the
    /// cursor).
    let staging: Environment?
    private let pending: Database?
    private let pendingApp: Database?
    /// The rest of the commit (cursor, groups, retry set, marks, conflicts, run record).
    private let pendingCommit: Database?
    /// The members of the groups a run changed, indexed like ``memberIndex`` until the
    /// commit brings that up to date (SyncState+MemberIndex.swift).
    let pendingMembers: Database?

    /// - Parameter staging: open the scratch environment a run stages into.
    init(path: String, staging: Bool = false) throws {
        environment = try Environment(path: path, maxDatabases: 16)
        let databases = try environment.databases(named: [
            "users", "userDNs", "userKeys", "groups", "cursors", "retry", "deactivated", "runs", "conflicts",
            "inflight", "inDoubt", "memberIndex", "groupHeads",
        ])
        (users, userDNs, userKeys, groups, cursors, retry, deactivated) =
            (databases[0], databases[1], databases[2], databases[3], databases[4], databases[5], databases[6])
        (runs, conflicts, inflight, inDoubt, memberIndex, groupHeads) =
            (databases[7], databases[8], databases[9], databases[10], databases[11], databases[12])
        if staging {
            let scratch = try SyncState.openStaging(path + "/staging")
            self.staging = scratch
            let scratchDatabases = try scratch.databases(named: ["pending", "pendingApp", "pendingCommit", "pendingMembers"])
            pending = scratchDatabases[0]
            pendingApp = scratchDatabases[1]
            pendingCommit = scratchDatabases[2]
            pendingMembers = scratchDatabases[3]
        } else {
            self.staging = nil
            pending = nil
            pendingApp = nil
            pendingCommit = nil
            pendingMembers = nil
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
        let (staging, pending, pendingApp, _) = try scratchAll()
        return (staging, pending, pendingApp)
    }

    private func scratchAll() throws -> (Environment, Database, Database, Database) {
        guard let staging, let pending, let pendingApp, let pendingCommit else {
            throw StateCorruption(what: "the staging area", reason: "not opened for this command")
        }
        return (staging, pending, pendingApp, pendingCommit)
    }

    /// Drops the pages of both memory maps from this process's resident set (they stay in
    /// the page cache): called between batches of a long run, so that reading every
    /// snapshot does not make the whole state file resident (SPEC §13, bounded memory).
    func releaseMappedPages() {
        environment.releaseMappedPages()
        staging?.releaseMappedPages()
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

    /// Whether the snapshot holds any user of the directory.
    func hasUsers(_ directory: String) throws -> Bool {
        try environment.read { txn in try Self.hasKeys(txn, users, prefix: Self.prefix(directory)) }
    }

    /// Whether ldapsync remembers deactivating any app user of the directory.
    func hasDeactivations(_ directory: String) throws -> Bool {
        try environment.read { txn in try Self.hasKeys(txn, deactivated, prefix: Self.prefix(directory)) }
    }

    private static func hasKeys(_ txn: borrowing ReadTransaction, _ db: Database, prefix: [UInt8]) throws -> Bool {
        var found = false
        try txn.forEachKey(in: db, range: .prefix(prefix)) { _ in
            found = true
            return .stop
        }
        return found
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
        var count = 0
        try environment.read { txn in
            try txn.forEachKey(in: users, range: .prefix(prefix)) { key in
                try body(Array(key.dropFirst(prefix.count)))
                // Walking every snapshot would otherwise leave the whole map resident
                // (SPEC §13); the pages stay in the page cache. Every 5,000: with the
                // kernel's fault-around, 50,000 made 100 MB resident at 1M.
                count += 1
                if count % 5_000 == 0 { environment.releaseMappedPages() }
                return .continue
            }
        }
    }

    /// The first snapshot user's id in key order, nil when the snapshot has none.
    func firstUserID(_ directory: String) throws -> [UInt8]? {
        let prefix = Self.prefix(directory)
        var first: [UInt8]?
        try environment.read { txn in
            try txn.forEachKey(in: users, range: .prefix(prefix)) { key in
                first = Array(key.dropFirst(prefix.count))
                return .stop
            }
        }
        return first
    }

    func userCount(_ directory: String) throws -> Int {
        var count = 0
        try environment.read { txn in
            try txn.forEachKey(in: users, range: .prefix(Self.prefix(directory))) { _ in count += 1; return .continue }
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
        let prefix = Self.prefix(directory)
        try staging.write { txn in
            var key = prefix
            for (id, snapshot) in staged {
                let record: [UInt8] = snapshot.map { StateRecords.encodeStaged($0) } ?? [0]
                key.removeSubrange(prefix.count...)
                key += id
                try txn.put(record, forKey: key, in: pending)
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

    /// How many records the staging area holds for the directory, over all its parts.
    func stagedRecordCount(_ directory: String) throws -> Int {
        let (staging, pending, pendingApp, pendingCommit) = try scratchAll()
        return try staging.read { txn in
            var count = 0
            for db in [pending, pendingApp, pendingCommit] + (pendingMembers.map { [$0] } ?? []) {
                try txn.forEachKey(in: db, range: .prefix(Self.prefix(directory))) { _ in
                    count += 1
                    return .continue
                }
            }
            return count
        }
    }

    /// Drops what an earlier run staged but never committed (or what a finished commit
    /// has moved into place).
    ///
    /// The records go a few a transaction, with the mapped pages released between them:
    /// deleting touches each leaf and each large value's first page through the map, and
    /// the kernel maps up to 64 KB of cached file around every page touched
    /// (fault-around), so that deleting 2,000 staged app-change batches at once made 128
    /// MB of the map resident at the end of a 1M run. Small records go 5,000 at a time,
    /// the large ones (app-change batches, group snapshots) 100.
    ///
    /// A small database that holds only this directory's records and no large values is
    /// emptied at once with `mdb_drop`, which then reads only its branch pages (a
    /// tenth of the time at 10,000 users). Only a small one: through fault-around, the
    /// branch pages of the staged users at 1,000,000 made 85 MB resident.
    func discardStaged(_ directory: String) throws {
        let (staging, pending, pendingApp, pendingCommit) = try scratchAll()
        let range = KeyRange.prefix(Self.prefix(directory))
        let databases = [(pending, 5_000), (pendingApp, 100), (pendingCommit, 100)] + (pendingMembers.map { [($0, 5_000)] } ?? [])
        for (db, limit) in databases {
            let emptied = try staging.write { txn in
                guard try txn.overflowPages(in: db) == 0, try txn.branchPages(in: db) <= Self.droppedBranchPages,
                      try txn.holdsOnly(range, in: db) else { return false }
                try txn.empty(db)
                return true
            }
            if emptied { continue }
            while true {
                let removed = try staging.write { txn in
                    try txn.removeAll(in: db, range: range, limit: limit)
                }
                staging.releaseMappedPages()
                if removed < limit { break }
            }
        }
        staging.releaseMappedPages()
    }

    /// The most branch pages of a staged database that ``discardStaged(_:)`` empties at
    /// once: with 64 KB mapped around each, at most 16 MB.
    static let droppedBranchPages = 256

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
    ///
    /// The commit is made in several LMDB transactions (so that memory holds one chunk's
    /// dirty pages, not the run's), under the in-flight record: a crash part-way leaves
    /// the record, and the next run completes the commit from the staging area.
    /// - Parameter unsettled: in-doubt write-back values this run did not settle (an
    ///   `--only` run decides only the users it names); they stay for the next run.
    /// - Parameter beforeFinishing: called before the last transaction, which removes the
    ///   in-flight record; an error it throws leaves the commit for the next run to
    ///   complete, as a crash there would.
    func commit(_ commit: Commit, inflight: InflightRecord, unsettled: [[UInt8]: InDoubtRecord] = [:],
                beforeFinishing: () throws -> Void = {}) throws {
        try stageCommit(commit, inDoubt: unsettled)
        let (staging, _, _, _) = try scratchAll()
        try staging.sync()
        if try inflightRun(commit.directory) == nil { try prepare(commit.directory, inflight) }
        try commitStaged(commit.directory, recovering: nil, beforeFinishing: beforeFinishing)
    }

    // MARK: Two-phase commit (SPEC I1)
    //
    // A run that writes the app store or LDAP first stages everything it will commit
    // (``stageCommit(_:inDoubt:)``), flushes the staging area and records itself as in
    // flight (``prepare(_:_:)``, durable); its app transaction records its run id
    // (`CommitMark`). If it dies before its state commit, the next run finds the record:
    // the app transaction committed → the dead run's commit is completed from the staging
    // area (``commitStaged(_:recovering:)``), with its write-back values in doubt;
    // otherwise nothing was written anywhere and the staged data is dropped.

    /// Tags of the commit parts in `pendingCommit` (after the directory prefix).
    private enum Part: UInt8 {
        case cursor = 0x63, group = 0x67, retry = 0x72, deactivated = 0x64, conflict = 0x78, run = 0x6E, inDoubt = 0x69, complete = 0x7A
    }

    private static func partKey(_ directory: String, _ part: Part, _ bytes: [UInt8] = []) -> [UInt8] {
        prefix(directory) + [part.rawValue] + bytes
    }

    /// The key ranges of a directory's staged commit without its group snapshots (each
    /// holds a group's whole member list: they are written and read on their own).
    private static func rangesBesideGroups(_ directory: String) -> [KeyRange] {
        let all = KeyRange.prefix(prefix(directory)), groups = KeyRange.prefix(partKey(directory, .group))
        return [KeyRange(from: all.lowerBound, to: groups.lowerBound)] + (groups.upperBound.map { [KeyRange(from: $0, to: all.upperBound)] } ?? [])
    }

    /// Stages the commit's parts and the write-back values that will be in doubt until
    /// the commit, replacing whatever parts were staged before.
    func stageCommit(_ commit: Commit, inDoubt records: [[UInt8]: InDoubtRecord]) throws {
        let directory = commit.directory
        let (staging, _, _, pendingCommit) = try scratchAll()
        func optional(_ bytes: [UInt8]?) -> [UInt8] { bytes.map { [1] + $0 } ?? [0] }
        try staging.write { txn in
            // Group snapshots staged early (``stageGroups(_:_:)``) stay: only the ranges
            // around them are cleared (visiting them would read every member list).
            for range in Self.rangesBesideGroups(directory) { _ = try txn.removeAll(in: pendingCommit, range: range) }
            if let cursor = commit.cursor {
                try txn.put(StateRecords.encode(cursor), forKey: Self.partKey(directory, .cursor), in: pendingCommit)
            }
            for (id, group) in commit.groups {
                try txn.put(optional(group.map(StateRecords.encode)), forKey: Self.partKey(directory, .group, id), in: pendingCommit)
            }
            for (id, record) in commit.retry {
                try txn.put(optional(record.map(StateRecords.encode)), forKey: Self.partKey(directory, .retry, id), in: pendingCommit)
            }
            for (appKey, isDeactivated) in commit.deactivated {
                try txn.put([isDeactivated ? 1 : 0], forKey: Self.partKey(directory, .deactivated, Array(appKey.utf8)), in: pendingCommit)
            }
            for (recordKey, record) in commit.conflicts {
                try txn.put(optional(record.map(StateRecords.encode)), forKey: Self.partKey(directory, .conflict, recordKey), in: pendingCommit)
            }
            if let run = commit.run {
                try txn.put(StateRecords.encode(run), forKey: Self.partKey(directory, .run), in: pendingCommit)
            }
            for (id, record) in records {
                try txn.put(StateRecords.encode(record), forKey: Self.partKey(directory, .inDoubt, id), in: pendingCommit)
            }
            try txn.put([1], forKey: Self.partKey(directory, .complete), in: pendingCommit)
        }
    }

    /// Stages new group snapshots (nil: the group is gone) as soon as they are read, so
    /// that the run does not hold every group's members until its commit (SPEC §13).
    func stageGroups(_ directory: String, _ records: [[UInt8]: GroupRecord?]) throws {
        try stageGroups(packed: Self.stagedGroups(directory, records))
    }

    /// A group to stage (nil: gone) under its key in the staging area, its record not
    /// yet made (``stagedGroups(_:_:)``).
    struct StagedGroup: Sendable {
        var key: [UInt8]
        var group: StateRecords.PackedGroup?
    }

    /// The groups of ``stageGroups(_:_:)`` as bytes in a few buffers each: for
    /// ``stageGroups(packed:)`` on another thread, which makes their records.
    static func stagedGroups(_ directory: String, _ records: [[UInt8]: GroupRecord?]) -> [StagedGroup] {
        records.map { id, group in StagedGroup(key: partKey(directory, .group, id), group: group.map { StateRecords.PackedGroup($0) }) }
    }

    /// Stages what ``stagedGroups(_:_:)`` made.
    func stageGroups(packed records: [StagedGroup]) throws {
        guard !records.isEmpty else { return }
        let (staging, _, _, pendingCommit) = try scratchAll()
        try staging.write { txn in
            for var record in records {
                let value: [UInt8] = record.group == nil ? [0] : StateRecords.encode(&record.group!, tag: 1)
                try txn.put(value, forKey: record.key, in: pendingCommit)
            }
        }
    }

    /// Flushes the staging area to disk, then records the run as in flight (durably):
    /// from here on, a crash leaves what the next run needs to finish or drop it.
    func prepare(_ directory: String, _ record: InflightRecord) throws {
        let (staging, _, _, _) = try scratchAll()
        try staging.sync()
        try environment.write { txn in
            try txn.put(StateRecords.encode(record), forKey: Self.key(directory, ""), in: inflight)
        }
    }

    /// The run of this directory that prepared its commit and never made it, if any.
    func inflightRun(_ directory: String) throws -> InflightRecord? {
        try environment.read { txn in
            try txn.get(Self.key(directory, ""), in: inflight).map { bytes in
                try decode("in-flight run of \(directory)") { try StateRecords.decodeInflight(bytes) }
            }
        }
    }

    /// Forgets an in-flight run whose app transaction never committed (nothing of it was
    /// written anywhere), with what it staged.
    func dropInflight(_ directory: String) throws {
        try environment.write { txn in _ = try txn.delete(Self.key(directory, ""), in: inflight) }
        try discardStaged(directory)
    }

    /// Whether the staging area holds a complete commit of this directory.
    func hasStagedCommit(_ directory: String) throws -> Bool {
        let (staging, _, _, pendingCommit) = try scratchAll()
        return try staging.read { txn in try txn.get(Self.partKey(directory, .complete), in: pendingCommit) != nil }
    }

    /// The directory's cursor record as stored (its bytes), nil when there is none.
    func cursorBytes(_ directory: String) throws -> [UInt8]? {
        try environment.read { txn in try txn.get(Self.key(directory, ""), in: cursors) }
    }

    /// Write-back values a dead run may have written, by user id.
    func inDoubtWrites(_ directory: String) throws -> [[UInt8]: InDoubtRecord] {
        let prefix = Self.prefix(directory)
        var result: [[UInt8]: InDoubtRecord] = [:]
        try environment.read { txn in
            try txn.forEach(in: inDoubt, range: .prefix(prefix)) { key, value in
                result[Array(key.dropFirst(prefix.count))] = try decode("in-doubt write") { try StateRecords.decodeInDoubt(value) }
                return .continue
            }
        }
        return result
    }

    /// Moves the staged users and commit parts into place in one durable transaction.
    ///
    /// - A normal commit (`recovering` nil): the run's write-back is over, so every value
    ///   in doubt is settled (this run decided every in-doubt user again).
    /// - Completing a dead run's commit (`recovering` its record): its staged write-back
    ///   values are in doubt. Each such attribute keeps its previous agreed value in the
    ///   snapshot, and the values go to the in-doubt records, so the next decision takes
    ///   them as agreed only if LDAP holds them. Its cursor is taken only if the cursor is
    ///   still the one it started from.
    func commitStaged(_ directory: String, recovering: InflightRecord?, beforeFinishing: () throws -> Void = {}) throws {
        let prefix = Self.prefix(directory)
        let (staging, pending, _, pendingCommit) = try scratchAll()
        guard try hasStagedCommit(directory) else {
            throw StateCorruption(what: "the staging area of \(directory)", reason: "the staged commit is missing or incomplete")
        }
        // The in-doubt values staged with the commit (few: one per write-back). They
        // replace the stored ones: the run settled those it decided.
        var stagedInDoubt: [[UInt8]: InDoubtRecord] = [:]
        let inDoubtPrefix = Self.partKey(directory, .inDoubt)
        try staging.read { txn in
            try txn.forEach(in: pendingCommit, range: .prefix(inDoubtPrefix)) { key, value in
                stagedInDoubt[Array(key.dropFirst(inDoubtPrefix.count))] = try decode("staged in-doubt write") { try StateRecords.decodeInDoubt(value) }
                return .continue
            }
        }
        // Users, then the other parts, in transactions of `commitChunk` records each; the
        // cursor, the in-doubt records and the in-flight record's removal come last, in
        // one transaction: until then the in-flight record says the commit is unfinished.
        // The parts are committed without waiting for each commit's meta page: a system
        // crash meanwhile leaves the in-flight record, and the next run redoes the commit.
        var cursor: [UInt8]?
        // A first run's commit (not one completed after a crash, which may have put some
        // snapshots already): each staged user is new, nothing to look up or replace.
        let firstSnapshots = try recovering == nil && !hasUsers(directory)
        // The snapshots go in id order, the staging area's: appended while each sorts
        // after every key of the database (a first run's, the last directory's).
        var appending = firstSnapshots
        var indexKey: [UInt8] = []
        try environment.withoutMetaSync {
            try copyStaged(staging, pending, range: .prefix(prefix), chunk: Self.commitChunk) { key, record, txn in
                // Completing a dead run: what it wrote back may not have reached LDAP.
                if recovering != nil, let keeping = stagedInDoubt[Array(key[prefix.count...])].map({ Set($0.values.keys) }),
                   !keeping.isEmpty {
                    try applyStaged(directory, id: Array(key[prefix.count...]), record: Array(record), keepingPrevious: keeping, &txn)
                    return
                }
                try applyStaged(prefix, key: key, record: record, firstSnapshots: firstSnapshots, appending: &appending,
                                indexKey: &indexKey, &txn)
            }
            CrashPoint.reach("mid-state-commit")
            try commitStagedGroups(directory, staging, pendingCommit)
            // ``commitStagedGroups`` wrote the group snapshots: their member lists are not read again.
            try forEachChunk(staging, pendingCommit, ranges: Self.rangesBesideGroups(directory), chunk: Self.commitChunk) { records in
                try environment.write { txn in
                    for (key, value) in records {
                        guard let tag = key.dropFirst(prefix.count).first, let part = Part(rawValue: tag) else {
                            throw StateCorruption(what: "the staged commit of \(directory)", reason: "unknown part")
                        }
                        let rest = Array(key.dropFirst(prefix.count + 1))
                        let body: [UInt8]? = value.first == 1 ? Array(value.dropFirst()) : nil
                        switch part {
                        case .cursor:
                            cursor = value
                        case .group:
                            break  // ``commitStagedGroups``

                        case .retry:
                            if let body { try txn.put(body, forKey: Self.key(directory, rest), in: retry) }
                            else { _ = try txn.delete(Self.key(directory, rest), in: retry) }
                        case .deactivated:
                            if value == [1] { try txn.put([1], forKey: Self.key(directory, rest), in: deactivated) }
                            else { _ = try txn.delete(Self.key(directory, rest), in: deactivated) }
                        case .conflict:
                            if let body { try txn.put(body, forKey: rest, in: conflicts) }
                            else { _ = try txn.delete(rest, in: conflicts) }
                        case .run:
                            try putRun(value, directory: directory, &txn)
                        case .inDoubt, .complete:
                            break
                        }
                    }
                }
                environment.releaseMappedPages()
            }
        }
        try beforeFinishing()
        try environment.write { txn in
            if let cursor {
                let current = try txn.get(Self.key(directory, ""), in: cursors)
                if recovering == nil || current == recovering?.cursorBefore {
                    try txn.put(cursor, forKey: Self.key(directory, ""), in: cursors)
                }
            }
            _ = try txn.removeAll(in: inDoubt, range: .prefix(prefix))
            for (id, record) in stagedInDoubt {
                try txn.put(StateRecords.encode(record), forKey: Self.key(directory, id), in: inDoubt)
            }
            _ = try txn.delete(Self.key(directory, ""), in: inflight)
        }
        // Only now: after a failure part-way, the next run completes the commit from it.
        try? discardStaged(directory)
    }

    /// Calls `body` with each record of `db` in `range` of the staging area, lent (not
    /// copied), and a write transaction of the state store, `chunk` records per
    /// transaction. Puts in id order touch pages all over the map: they are released as
    /// the copy goes (clean pages of the read-only map; dirty ones are LMDB's copies).
    func copyStaged(_ staging: Environment, _ db: Database, range: KeyRange, chunk: Int,
                    _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, inout WriteTransaction) throws -> Void) throws {
        var from = range.lowerBound
        while true {
            var next: [UInt8]?
            try environment.write { txn in
                next = nil
                try staging.read { stagingTxn in
                    var count = 0
                    try stagingTxn.forEachLent(in: db, range: KeyRange(from: from, to: range.upperBound)) { key, value in
                        guard count < chunk else {
                            next = Array(key)
                            return .stop
                        }
                        count += 1
                        if count % 2_000 == 0 { environment.releaseMappedPages() }
                        try body(key, value, &txn)
                        return .continue
                    }
                }
            }
            environment.releaseMappedPages()
            staging.releaseMappedPages()
            guard let next else { return }
            from = next
        }
    }

    /// Records per transaction of a commit: about 10 MB of dirty pages for snapshots.
    static let commitChunk = 20_000

    /// The staged group snapshots, each with its member index entries in the same
    /// transaction, in transactions of about 50,000 members (a group's record holds
    /// about 32 bytes per member): a first run's 1.5M memberships are not one
    /// transaction's dirty pages. Idempotent, like the rest of the commit.
    private func commitStagedGroups(_ directory: String, _ staging: Environment, _ pendingCommit: Database) throws {
        let groupPrefix = Self.partKey(directory, .group)
        // Staged with their groups: the new members' entries are put after, in order.
        let membersStaged = try hasStagedMembers(directory)
        try forEachChunk(staging, pendingCommit, prefix: groupPrefix, chunk: Self.commitChunk, maxBytes: 50_000 * 32) { batch in
            try environment.write { txn in
                for (index, (key, value)) in batch.enumerated() {
                    if index % 20 == 19 { environment.releaseMappedPages() }
                    let id = Array(key.dropFirst(groupPrefix.count))
                    let body: [UInt8]? = value.first == 1 ? Array(value.dropFirst()) : nil
                    try updateMemberIndex(directory, id: id, old: txn.get(Self.key(directory, id), in: groups), new: body,
                                          addingMembers: !membersStaged, &txn)
                    if let body { try txn.put(body, forKey: Self.key(directory, id), in: groups) }
                    else { _ = try txn.delete(Self.key(directory, id), in: groups) }
                }
            }
            environment.releaseMappedPages()
            staging.releaseMappedPages()
        }
        if membersStaged { try putStagedMembers(directory) }
    }


    /// Calls `body` with the records under `prefix` in `db` of `environment`, `chunk` at a
    /// time or fewer when their values reach `maxBytes`, read 1,000 at a time (memory
    /// holds a chunk, not the run).
    func forEachChunk(_ environment: Environment, _ db: Database, prefix: [UInt8], chunk size: Int,
                      maxBytes: Int = 16 << 20, _ body: ([([UInt8], [UInt8])]) throws -> Void) throws {
        try forEachChunk(environment, db, ranges: [.prefix(prefix)], chunk: size, maxBytes: maxBytes, body)
    }

    /// ``forEachChunk(_:_:prefix:chunk:maxBytes:_:)`` over the records in `ranges`, in order.
    func forEachChunk(_ environment: Environment, _ db: Database, ranges: [KeyRange], chunk size: Int,
                      maxBytes: Int = 16 << 20, _ body: ([([UInt8], [UInt8])]) throws -> Void) throws {
        var pending: [([UInt8], [UInt8])] = []
        var pendingBytes = 0
        for all in ranges {
            var from = all.lowerBound
            while true {
                let chunk: [([UInt8], [UInt8])] = try environment.read { scratchTxn in
                    var chunk: [([UInt8], [UInt8])] = []
                    try scratchTxn.forEach(in: db, range: KeyRange(from: from, to: all.upperBound)) { key, value in
                        chunk.append((key, value))
                        return chunk.count < 1_000 ? .continue : .stop
                    }
                    return chunk
                }
                for record in chunk {
                    pending.append(record)
                    pendingBytes += record.1.count
                    // Group records can be megabytes each: a chunk is also cut by bytes.
                    if pending.count >= size || pendingBytes >= maxBytes {
                        try body(pending)
                        pending.removeAll(keepingCapacity: true)
                        pendingBytes = 0
                    }
                }
                guard let last = chunk.last?.0, chunk.count == 1_000 else { break }
                from = last + [0]
            }
        }
        if !pending.isEmpty { try body(pending) }
    }

    private func putRun(_ encoded: [UInt8], directory: String, _ txn: inout WriteTransaction) throws {
        let run = try decode("staged run record") { try StateRecords.decodeRun(encoded) }
        // Keyed by start time (big-endian) so iteration is chronological.
        var key = withUnsafeBytes(of: UInt64(bitPattern: run.started.seconds).bigEndian) { Array($0) }
        key += withUnsafeBytes(of: UInt32(bitPattern: run.started.nanoseconds).bigEndian) { Array($0) }
        try txn.put(encoded, forKey: key + Array(directory.utf8), in: runs)
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

    /// - Parameter keepingPrevious: attributes whose agreed values stay those of the
    ///   snapshot being replaced (write-back values in doubt).
    /// - Parameter firstSnapshots: the directory had no user snapshot when the commit
    ///   began (a first run): there is none to replace, and none is looked up.
    /// Puts a staged user's snapshot (or removes it) with its DN and key index entries,
    /// from the staged record as lent by the staging area: its key is the snapshot's, and
    /// its bytes are the snapshot record itself, checked as decoding would and stored as
    /// they are; only the two index keys are read from it. With `firstSnapshots` (the
    /// directory had none when the commit began) there is no old snapshot to replace.
    private func applyStaged(_ prefix: [UInt8], key: UnsafeRawBufferPointer, record: UnsafeRawBufferPointer, firstSnapshots: Bool,
                             appending: inout Bool, indexKey: inout [UInt8], _ txn: inout WriteTransaction) throws {
        let id = UnsafeRawBufferPointer(rebasing: key[prefix.count...])
        func putIndex(_ range: Range<Int>, of record: [UInt8], in db: Database, _ txn: inout WriteTransaction) throws {
            indexKey.removeAll(keepingCapacity: true)
            indexKey += prefix
            indexKey += record[range]
            try indexKey.withUnsafeBytes { indexKey in try txn.put(id, forKey: indexKey, in: db) }
        }
        if !firstSnapshots, let old = try txn.get(Array(key), in: users) {
            let keys = try decode("user snapshot") { try StateRecords.userIndexKeys(old) }
            _ = try txn.delete(prefix + old[keys.dnKey], in: userDNs)
            _ = try txn.delete(prefix + old[keys.key], in: userKeys)
        }
        guard record.first == 1 else {
            _ = try txn.delete(Array(key), in: users)
            return
        }
        let snapshot = UnsafeRawBufferPointer(rebasing: record[1...])
        let body = Array(snapshot)
        let keys = try decode("staged user snapshot") { try StateRecords.userIndexKeys(body) }
        if appending { appending = try txn.append(snapshot, forKey: key, in: users) }
        if !appending { try txn.put(snapshot, forKey: key, in: users) }
        try putIndex(keys.dnKey, of: body, in: userDNs, &txn)
        try putIndex(keys.key, of: body, in: userKeys, &txn)
    }

    /// Completing a dead run's commit for a user with values in doubt (rare): the staged
    /// snapshot keeps the previous agreed values of `keepingPrevious`, so the whole
    /// snapshots are decoded.
    private func applyStaged(_ directory: String, id: [UInt8], record: [UInt8], keepingPrevious: Set<AttributeName>,
                             _ txn: inout WriteTransaction) throws {
        let userKey = Self.key(directory, id)
        let old = try user(directory, id: id, txn)
        if let old {
            _ = try txn.delete(Self.key(directory, old.dnKey), in: userDNs)
            _ = try txn.delete(Self.key(directory, old.key), in: userKeys)
        }
        guard record.first == 1 else {
            _ = try txn.delete(userKey, in: users)
            return
        }
        var snapshot = try decode("staged user snapshot") { try StateRecords.decodeUser(Array(record.dropFirst())) }
        snapshot = snapshot.keepingAgreed(keepingPrevious, from: old)
        try txn.put(StateRecords.encode(snapshot), forKey: userKey, in: users)
        try txn.put(id, forKey: Self.key(directory, snapshot.dnKey), in: userDNs)
        try txn.put(id, forKey: Self.key(directory, snapshot.key), in: userKeys)
    }

    /// Replaces a directory's cursor record as a whole (tests put a record in a given state).
    func putCursorRecord(_ record: CursorRecord, for directory: String) throws {
        try environment.write { txn in try txn.put(StateRecords.encode(record), forKey: Self.key(directory, ""), in: cursors) }
    }

    /// Sets or clears a directory's cursor (`ldapsync cursor set|clear`).
    func setCursor(_ directory: String, to timestamp: Timestamp?) throws {
        try environment.write { txn in
            let key = Self.key(directory, "")
            var record = try txn.get(key, in: cursors).map { bytes in try decode("cursor of \(directory)") { try StateRecords.decodeCursor(bytes) } }
                ?? CursorRecord(cursor: nil, lastReadDuration: .zero, mappingItems: [])
            record.cursor = timestamp
            record.lastReadDuration = .zero
            // A backfill compares every app row again, too.
            record.appEditsSince = nil
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
    guard let error = error as? LMDBError else { return "\(error)" }
    if damaged.contains(error.code) { return "\(error); the state store is damaged: see docs/operations.md, recovery" }
    // LMDB reports a write cut short (a full disk part-way through) as EIO: say which.
    if error.code == .ioError || error.code == .noSpace, let path = error.path, let free = freeBytes(path), free < 1 << 20 {
        return "\(error); the filesystem holding \(path) is full (No space left on device: \(free) bytes free)"
    }
    return "\(error)"
}

/// The bytes an unprivileged writer can still use on the filesystem holding `path`.
private func freeBytes(_ path: String) -> Int? {
    var info = statvfs()
    guard statvfs(path, &info) == 0 else { return nil }
    return Int(info.f_bavail) * Int(info.f_frsize)
}

func decode<T>(_ what: String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as RecordDecodingError { throw StateCorruption(what: what, reason: error.description) }
}
