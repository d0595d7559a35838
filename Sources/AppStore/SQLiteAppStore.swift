import Foundation
internal import GRDB
internal import GRDBSQLite

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The embedded app store: the application's SQLite database, through one GRDB
/// `DatabaseQueue` used synchronously.
///
/// The database belongs to the application, so this store changes nothing about how it
/// is set up: the journal mode (rollback journal or WAL) is left as the application
/// chose it, and only the busy timeout and GRDB's per-connection defaults (foreign keys
/// enforced, double-quoted string literals refused) apply, to this connection only.
///
/// Every identifier comes from the ``AppSchema`` and is quoted; every value is a bound
/// argument. Not thread-safe: one run uses it from one thread.
public final class SQLiteAppStore: AppStore {
    /// The file given to `init`.
    public let path: String
    public let schema: AppSchema
    public let busyTimeout: Duration

    let queue: DatabaseQueue
    /// Set while a method runs: GRDB's database methods are not reentrant, and a call
    /// from inside `forEachManagedUser`'s body would otherwise stop the process.
    private var isBusy = false

    /// The quoted identifiers, computed once.
    let sql: QuotedSchema

    /// Opens (and creates when missing) the SQLite database at `path`.
    ///
    /// - A missing file is created with mode 0600 (owner read/write only) before SQLite
    ///   opens it; SQLite gives its journal and WAL files the same mode. An existing
    ///   file keeps its mode and owner.
    /// - A connection that finds the database locked by another writer retries for
    ///   `busyTimeout`, then fails with an error that says so.
    /// - No table is read or created here: see ``validateSchema()`` and
    ///   ``createDefaultSchema()``.
    /// - The configured names must be non-empty, without NUL, and the users table's
    ///   columns distinct (SQLite compares names case-insensitively).
    public init(path: String, schema: AppSchema, busyTimeout: Duration = .seconds(10)) throws {
        self.path = path
        self.schema = schema
        self.busyTimeout = busyTimeout
        if let problem = Self.configurationProblem(in: schema) {
            throw AppStoreError(operation: "open app store \(path.debugDescription)", message: problem)
        }
        self.sql = QuotedSchema(schema)
        try Self.createPrivateFileIfMissing(path)
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout.timeInterval)
        configuration.label = "ldapsync.appstore"
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw mapError(error, operation: "open app store \(path.debugDescription)", busyTimeout: busyTimeout)
        }
    }

    // MARK: Reading

    /// Keys are looked up in batches of at most ``lookupBatchSize`` (`IN (?, …)`), and
    /// compared exactly: a row whose key matches only through the column's collation
    /// (`COLLATE NOCASE`) is not returned.
    public func users(withKeys keys: [String]) throws -> [String: AppUser] {
        let wanted = Set(keys)
        guard !wanted.isEmpty else { return [:] }
        let unique = Array(wanted)
        return try reading("read users") { db in
            var result: [String: AppUser] = [:]
            result.reserveCapacity(unique.count)
            for start in stride(from: 0, to: unique.count, by: Self.lookupBatchSize) {
                let chunk = unique[start..<min(start + Self.lookupBatchSize, unique.count)]
                let statement = try db.cachedStatement(
                    sql: "\(sql.selectUsers) WHERE \(sql.key) IN (\(Self.placeholders(chunk.count)))"
                )
                let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(chunk))
                while let row = try cursor.next() {
                    let user = try decodeUser(row)
                    if wanted.contains(user.key) { result[user.key] = user }
                }
            }
            return result
        }
    }

    /// Streams the managed users (`managed <> 0`) from one read transaction, ordered by
    /// key bytewise (SQLite's BINARY collation of the UTF-8 text).
    ///
    /// The read transaction lasts until `body` has seen the last user. In rollback-journal
    /// mode it holds a shared lock meanwhile, so the application's writers wait (up to
    /// their own busy timeout); in WAL mode they do not. A call to this store from `body`
    /// is an error; an error thrown by `body` ends the iteration and is rethrown as is.
    ///
    /// `updatedSince` compares the column's text bytewise (``UpdatedAtBound``).
    public func forEachManagedUser(updatedSince: Timestamp?, _ body: (AppUser) throws -> Void) throws {
        try reading("list managed users") { db in
            var condition = sql.isManaged
            var arguments = StatementArguments()
            if let updatedSince, let updatedAt = sql.updatedAt {
                let bound = UpdatedAtBound(updatedSince)
                condition += " AND \(bound.condition(column: "\(updatedAt) COLLATE BINARY", placeholders: ("?", "?", "?")))"
                arguments = StatementArguments([bound.spaceForm, bound.dayEnd, bound.isoForm])
            }
            let statement = try db.cachedStatement(
                sql: "\(sql.selectUsers) WHERE \(condition) ORDER BY \(sql.key) COLLATE BINARY"
            )
            let cursor = try Row.fetchCursor(statement, arguments: arguments)
            while let row = try cursor.next() {
                let user = try decodeUser(row)
                do {
                    try body(user)
                } catch {
                    throw BodyError(error: error)
                }
            }
        }
    }

    public func managedUserCount() throws -> Int {
        try reading("count managed users") { db in
            let statement = try db.cachedStatement(sql: "SELECT COUNT(*) FROM \(sql.users) WHERE \(sql.isManaged)")
            return try Int.fetchOne(statement) ?? 0
        }
    }

    public func hasNoUsers() throws -> Bool {
        try reading("look for any user") { db in
            try Bool.fetchOne(db, sql: "SELECT NOT EXISTS (SELECT 1 FROM \(sql.users))") ?? true
        }
    }

    /// Users are looked up in batches of ``lookupBatchSize``, by the user column alone
    /// (its index); the groups are filtered after reading. Binding the groups too made
    /// SQLite probe the primary key (group, user) once per user and group: 500 × 200
    /// probes a batch, 70% of a run that re-reads 20,000 users.
    public func memberships(ofUsers keys: [String], in groups: Set<String>) throws -> [String: Set<String>] {
        let wanted = Set(keys)
        guard !wanted.isEmpty, !groups.isEmpty else { return [:] }
        let unique = Array(wanted)
        return try reading("read memberships") { db in
            var result: [String: Set<String>] = [:]
            for start in stride(from: 0, to: unique.count, by: Self.lookupBatchSize) {
                let chunk = unique[start..<min(start + Self.lookupBatchSize, unique.count)]
                let query = "SELECT \(sql.memberUser), \(sql.memberGroup) FROM \(sql.memberships)"
                    + " WHERE \(sql.memberUser) IN (\(Self.placeholders(chunk.count)))"
                let cursor = try Row.fetchCursor(db.cachedStatement(sql: query), arguments: StatementArguments(chunk))
                while let row = try cursor.next() {
                    // Only text (or, in a column of numeric affinity, an integer) can
                    // equal a bound text argument; the sets check the exact text.
                    guard let user = Self.text(row[0]), let group = Self.text(row[1]),
                          wanted.contains(user), groups.contains(group)
                    else { continue }
                    result[user, default: []].insert(group)
                }
            }
            return result
        }
    }

    // MARK: Writing

    /// Applies `changes` in one IMMEDIATE write transaction: all or nothing.
    ///
    /// - `create` inserts the key, managed = 1, active = 1, `updatedAt` and the given
    ///   mapped columns (the others take their defaults); an existing key is an error.
    /// - `update`, `setActive` and `rename` only touch a *managed* user (adopt with
    ///   `setManaged` first, in the same batch); `setManaged` any existing user. A key
    ///   that matches no such row is an error, never a silent no-op.
    /// - `rename` moves the key in the users table and in memberships; a target key that
    ///   is taken, in either table, is an error (memberships left by a deleted user are
    ///   never inherited).
    /// - `addMembership` and `removeMembership` are idempotent and do not check the user.
    /// - `updatedAt`, when configured, is set on every users row written, to the time
    ///   `apply` was called (UTC, `2026-11-21T15:30:00Z`), the same for the whole batch.
    ///
    /// Values must fit their column's kind (`.text` or `.null` for text, `.text` holding
    /// a JSON array of strings or `.null` for jsonArray, `.blob` or `.null` for blob).
    /// On the first failure everything is rolled back and the error names the change,
    /// its key, its position in the batch and SQLite's message, never a value.
    public func apply(_ changes: [AppChange]) throws {
        guard !changes.isEmpty else { return }
        try applyReplaying(batch: { $0 == 0 ? changes : nil }, count: changes.count, mark: nil)
    }

    public func apply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws {
        try apply(streaming: next, count: nil, mark: mark, fast: false)
    }

    public func apply(replayable batch: (Int) throws -> [AppChange]?, mark: CommitMark?) throws {
        try applyReplaying(batch: batch, count: nil, mark: mark)
    }

    /// The first attempt of ``applyReplaying(batch:count:mark:)`` alone.
    public func tryApply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws {
        try apply(streaming: next, count: nil, mark: mark, fast: true)
    }

    /// The batches in one transaction, first without savepoints: each multi-row statement
    /// is `INSERT OR ROLLBACK`, so SQLite keeps no statement journal for it (at 1,000,000
    /// users, 2 GB of pages copied to a temporary file, one write per page). A failure
    /// there rolls the whole transaction back, and the apply is made again from the first
    /// batch, the careful way (a savepoint around each run of gathered rows, rows written
    /// one by one after a failure): its error names the change that fails, as if there
    /// had been no first attempt. A failure of `batch` itself is not retried.
    private func applyReplaying(batch: (Int) throws -> [AppChange]?, count: Int?, mark: CommitMark?) throws {
        var sourceFailed = false
        func pass(fast: Bool) throws {
            var sequence = 0
            try apply(streaming: {
                defer { sequence += 1 }
                do {
                    return try batch(sequence)
                } catch {
                    sourceFailed = true
                    throw error
                }
            }, count: count, mark: mark, fast: fast)
        }
        do {
            try pass(fast: true)
        } catch {
            if sourceFailed { throw error }
            try pass(fast: false)
        }
    }

    public func committedRun(of directory: String) throws -> String? {
        try reading("read \(CommitMark.table)") { db in
            guard try db.tableExists(CommitMark.table) else { return nil }
            return try String.fetchOne(db, sql: "SELECT run_id FROM \(CommitMark.table) WHERE directory = ?", arguments: [directory])
        }
    }

    /// One transaction over every batch `next` returns until it returns nil.
    private func apply(streaming next: () throws -> [AppChange]?, count: Int?, mark: CommitMark?, fast: Bool) throws {
        let now = Self.iso8601UTC(secondsSince1970: Int64(Date().timeIntervalSince1970.rounded(.down)))
        var applied = 0
        try entering {
            do {
                try queue.inTransaction(.immediate) { db in
                    let keyIsUnique = try keyIsUnique(db)
                    var batch = Batch(now: now, keyIsUnique: keyIsUnique, gathering: try gathering(db, keyIsUnique: keyIsUnique),
                                      fast: fast)
                    while let changes = try next() {
                        for change in changes {
                            try gather(change, offset: applied, count: count, batch: &batch, in: db)
                            applied += 1
                        }
                        // Before the next batch is asked for: a failure among these is
                        // reported as the first failure.
                        try flushGathered(count: count, batch: &batch, in: db)
                    }
                    if let mark {
                        try db.execute(sql: """
                            CREATE TABLE IF NOT EXISTS \(CommitMark.table) (directory TEXT PRIMARY KEY NOT NULL, \
                            run_id TEXT NOT NULL, committed_at TEXT NOT NULL)
                            """)
                        try db.execute(sql: """
                            INSERT INTO \(CommitMark.table) (directory, run_id, committed_at) VALUES (?, ?, ?) \
                            ON CONFLICT(directory) DO UPDATE SET run_id = excluded.run_id, committed_at = excluded.committed_at
                            """, arguments: [mark.directory, mark.runID, now])
                    }
                    return .commit
                }
            } catch let error as AppStoreError {
                throw error
            } catch {
                throw mapError(
                    error, operation: "apply \(count.map(String.init) ?? "\(applied)+") changes", busyTimeout: busyTimeout,
                    suffix: "nothing was written"
                )
            }
        }
    }

    // MARK: Schema

    public func validateSchema() throws {
        try entering {
            do {
                let problems = try queue.read { db in try schemaProblems(db) }
                guard problems.isEmpty else {
                    throw AppStoreError(
                        operation: "validate schema",
                        message: problems.joined(separator: "; ")
                            + " (`ldapsync init` creates the default schema and adds missing columns to the users table)"
                    )
                }
            } catch let error as AppStoreError {
                throw error
            } catch {
                throw mapError(error, operation: "validate schema", busyTimeout: busyTimeout)
            }
        }
    }

    public func createDefaultSchema() throws {
        try createDefaultSchemaReportingChanges()
    }

    /// The number of keys (or users) bound in one lookup query.
    public static let lookupBatchSize = 500
}

@available(*, unavailable)
extension SQLiteAppStore: Sendable {}

// MARK: - Internals

extension SQLiteAppStore {
    /// Runs `body` unless another method of this store is running (a call from inside
    /// `forEachManagedUser`'s body).
    func entering<T>(_ body: () throws -> T) throws -> T {
        guard !isBusy else {
            throw AppStoreError(
                operation: "app store",
                message: "called from inside forEachManagedUser: the store is not reentrant"
            )
        }
        isBusy = true
        defer { isBusy = false }
        return try body()
    }

    private func reading<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        try entering {
            do {
                return try queue.read(body)
            } catch let error as BodyError {
                throw error.error
            } catch let error as AppStoreError {
                throw error
            } catch {
                throw mapError(error, operation: operation, busyTimeout: busyTimeout)
            }
        }
    }

    /// Row layout of `sql.selectUsers`: key, managed, active, updatedAt, mapped columns.
    private func decodeUser(_ row: Row) throws -> AppUser {
        let keyValue: DatabaseValue = row[0]
        let key: String
        switch keyValue.storage {
        case .string(let text): key = text
        case .int64(let number): key = String(number)
        case .null, .double, .blob:
            throw AppStoreError(
                operation: "read users",
                message: "a row of table \(sql.users) has a key that is not text (\(Self.storageClass(keyValue)))"
            )
        }
        let managed: Int64 = row[1]
        let active: Int64 = row[2]
        let updatedAtValue: DatabaseValue = row[3]
        let updatedAt: String?
        switch updatedAtValue.storage {
        case .null: updatedAt = nil
        case .string(let text): updatedAt = text
        case .int64(let number): updatedAt = String(number)
        case .double, .blob:
            throw AppStoreError(
                operation: "read user \(key.debugDescription)",
                message: "column \(sql.updatedAt ?? "") holds \(Self.storageClass(updatedAtValue)), not ISO 8601 text"
            )
        }
        var values: [String: AppValue] = [:]
        values.reserveCapacity(schema.columns.count)
        for (offset, column) in schema.columns.enumerated() {
            let value: DatabaseValue = row[4 + offset]
            switch value.storage {
            case .null: values[column.name] = .null
            case .string(let text): values[column.name] = .text(text)
            case .int64(let number): values[column.name] = .integer(number)
            case .blob(let data): values[column.name] = .blob([UInt8](data))
            case .double:
                // AppValue has no floating-point case, and turning the number into text
                // would be a silent coercion.
                throw AppStoreError(
                    operation: "read user \(key.debugDescription)",
                    message: "column \(column.name.quotedIdentifier) holds a REAL number, "
                        + "which ldapsync cannot represent (text, integer, blob or NULL)"
                )
            }
        }
        return AppUser(key: key, managed: managed != 0, active: active != 0, updatedAt: updatedAt, values: values)
    }

    /// What one `apply` computes once: its timestamp, and its prepared statements (the
    /// INSERT and UPDATE statements by set of mapped columns). Building the SQL and
    /// looking it up in GRDB's statement cache, or binding through GRDB's arguments, for
    /// each of 100,000 creates costs more than the inserts, so the statements are
    /// prepared once per `apply` and their values bound with SQLite's C API.
    private struct Batch {
        let now: String
        /// When the key column is the primary key or UNIQUE, SQLite refuses a duplicate
        /// create by itself; otherwise each create looks the key up first.
        let keyIsUnique: Bool
        var inserts: [ColumnSet: Statement] = [:]
        var updates: [ColumnSet: Statement] = [:]
        var addMembership: Statement?
        var removeMembership: Statement?
        var setManaged: Statement?
        var setActive: Statement?
        var selectKey: Statement?
        /// The mapped values of the change being written, in schema order (reused).
        var values: [AppValue] = []

        /// What may be written several rows to a statement (see `gather`).
        let gathering: Gathering
        /// Gathered rows are written without a savepoint, by statements that roll the
        /// whole transaction back when they fail (``applyReplaying(batch:count:mark:)``).
        let fast: Bool
        /// Consecutive creates and addMemberships not written yet, in order; the first
        /// is change `gatheredOffset` of the apply.
        var gathered: [AppChange] = []
        var gatheredOffset = 0
        /// The column set of the gathered creates.
        var gatheredColumns: ColumnSet?
        var gatheredCreates = 0
        /// The gathered memberships.
        var gatheredPairs: Set<MembershipPair> = []
        /// Multi-row statements by column set and number of rows (a power of two).
        var multiInserts: [ColumnSet: [Int: Statement]] = [:]
        var multiMemberships: [Int: Statement] = [:]
        var savepoint: Statement?
        var release: Statement?
        var rollbackToSavepoint: Statement?
    }

    /// Which changes are written several to a statement: only where that is the same as
    /// writing them one by one, in order.
    struct Gathering {
        /// Creates: the key is unique (a duplicate fails by itself) and the users table
        /// has no trigger.
        var creates = false
        /// addMemberships: the memberships table has no trigger and both columns compare
        /// text bytewise (TEXT or no affinity, BINARY collation), so that the rows of one
        /// statement, which do not see each other, are duplicates exactly when their
        /// strings are equal (those are never gathered together).
        var memberships = false
        /// Creates may be written before the addMemberships gathered ahead of them: no
        /// foreign key and no trigger on either table relates the two.
        var reorder = false
        /// Gathered addMemberships may be written as `INSERT … ON CONFLICT DO NOTHING` on
        /// the memberships key rather than `INSERT … SELECT … WHERE NOT EXISTS` (one
        /// look-up less a row): the table is the two columns alone, with no CHECK, and
        /// its primary key or a unique index is the two with BINARY collation, so the
        /// conflict is exactly the existing row (no foreign key or trigger either:
        /// ``reorder``).
        var membershipsUpsert = false
        /// SQLite's limit on the parameters of one statement.
        var maxParameters = 999
    }

    struct MembershipPair: Hashable {
        var user: String
        var group: String
    }

    /// Which mapped columns a change sets: a bit per position in `schema.columns`, or the
    /// positions themselves for a schema of more than 64 mapped columns.
    private enum ColumnSet: Hashable {
        case mask(UInt64)
        case positions([Int])

        var isEmpty: Bool {
            switch self {
            case .mask(let mask): mask == 0
            case .positions(let positions): positions.isEmpty
            }
        }
    }

    /// A prepared statement of this apply: `slot`'s, or a new one from `sql`.
    private func statement(
        _ slot: WritableKeyPath<Batch, Statement?>, in batch: inout Batch, db: Database, sql: () -> String
    ) throws -> Statement {
        if let statement = batch[keyPath: slot] { return statement }
        let statement = try db.makeStatement(sql: sql())
        batch[keyPath: slot] = statement
        return statement
    }

    /// What this database allows to gather (see ``Gathering``), read once per apply.
    private func gathering(_ db: Database, keyIsUnique: Bool) throws -> Gathering {
        var gathering = Gathering()
        func hasTrigger(_ table: String) throws -> Bool {
            try Int.fetchOne(
                db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE LIMIT 1",
                arguments: [table]
            ) != nil
        }
        func hasForeignKey(_ table: String) throws -> Bool {
            try Int.fetchOne(db, sql: "SELECT 1 FROM pragma_foreign_key_list(?) LIMIT 1", arguments: [table]) != nil
        }
        /// TEXT or no affinity (SQLite's rules on the declared type) and BINARY collation.
        func comparesBytes(_ table: String, _ column: String) -> Bool {
            var declaredType: UnsafePointer<CChar>?
            var collation: UnsafePointer<CChar>?
            var notNull: Int32 = 0
            var primaryKey: Int32 = 0
            var autoincrement: Int32 = 0
            guard sqlite3_table_column_metadata(
                db.sqliteConnection, "main", table, column, &declaredType, &collation, &notNull, &primaryKey, &autoincrement
            ) == SQLITE_OK else { return false }
            let type = declaredType.map { String(cString: $0).uppercased() } ?? ""
            let textual = !type.contains("INT")
                && (type.contains("CHAR") || type.contains("CLOB") || type.contains("TEXT") || type.contains("BLOB") || type.isEmpty)
            return textual && collation.map { String(cString: $0).uppercased() == "BINARY" } ?? true
        }
        let usersTrigger = try hasTrigger(schema.usersTable)
        let membershipsTrigger = try hasTrigger(schema.membershipsTable)
        gathering.creates = keyIsUnique && !usersTrigger
        gathering.memberships = !membershipsTrigger
            && comparesBytes(schema.membershipsTable, schema.membershipGroupColumn)
            && comparesBytes(schema.membershipsTable, schema.membershipUserColumn)
        gathering.reorder = try !usersTrigger && !membershipsTrigger
            && !hasForeignKey(schema.usersTable) && !hasForeignKey(schema.membershipsTable)
        if gathering.memberships && gathering.reorder {
            gathering.membershipsUpsert = try membershipsKeyIsTheTable(db)
        }
        gathering.maxParameters = Int(sqlite3_limit(db.sqliteConnection, SQLITE_LIMIT_VARIABLE_NUMBER, -1))
        return gathering
    }

    /// Whether the memberships table has exactly its group and user columns (no hidden
    /// or generated ones), no CHECK in its definition, and a primary key or unique,
    /// non-partial index on exactly those two with BINARY collation.
    private func membershipsKeyIsTheTable(_ db: Database) throws -> Bool {
        let table = schema.membershipsTable
        let wanted: Set<String> = [schema.membershipGroupColumn.lowercased(), schema.membershipUserColumn.lowercased()]
        let columns = try Row.fetchAll(db, sql: "SELECT name, hidden FROM pragma_table_xinfo(?)", arguments: [table])
        guard columns.count == 2,
              Set(columns.map { (($0[0] as String?) ?? "").lowercased() }) == wanted,
              columns.allSatisfy({ ($0[1] as Int?) == 0 })
        else { return false }
        let definition = try String.fetchOne(
            db, sql: "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", arguments: [table]
        ) ?? ""
        guard !definition.uppercased().contains("CHECK") else { return false }
        let indexes = try String.fetchAll(
            db, sql: "SELECT name FROM pragma_index_list(?) WHERE \"unique\" AND NOT partial", arguments: [table]
        )
        for index in indexes {
            let keyColumns = try Row.fetchAll(
                db, sql: "SELECT name, coll FROM pragma_index_xinfo(?) WHERE key", arguments: [index]
            )
            if keyColumns.count == 2,
               Set(keyColumns.map { (($0[0] as String?) ?? "").lowercased() }) == wanted,
               keyColumns.allSatisfy({ (($0[1] as String?) ?? "").uppercased() == "BINARY" }) {
                return true
            }
        }
        return false
    }

    /// Writes `change`, or gathers it with the creates and addMemberships before it to be
    /// written several rows to a statement by ``flushGathered(count:batch:in:)``. Anything
    /// else first writes what is gathered, so the changes are written in order (creates
    /// may go before gathered addMemberships where ``Gathering/reorder`` allows).
    ///
    /// Errors are described (change and position) here.
    private func gather(_ change: AppChange, offset: Int, count: Int?, batch: inout Batch, in db: Database) throws {
        switch change {
        case .create(let user) where batch.gathering.creates:
            let columns: ColumnSet
            do {
                columns = try collectMapped(user.values, into: &batch.values)
            } catch {
                try flushGathered(count: count, batch: &batch, in: db)
                throw describeFailure(of: change, offset: offset, count: count, error: error)
            }
            if let gathered = batch.gatheredColumns, gathered != columns {
                try flushGathered(count: count, batch: &batch, in: db)
            }
            if !batch.gathering.reorder && batch.gatheredCreates < batch.gathered.count {
                try flushGathered(count: count, batch: &batch, in: db)
            }
            if batch.gathered.isEmpty { batch.gatheredOffset = offset }
            batch.gathered.append(change)
            batch.gatheredColumns = columns
            batch.gatheredCreates += 1

        case .addMembership(let user, let group) where batch.gathering.memberships:
            let pair = MembershipPair(user: user, group: group)
            if batch.gatheredPairs.contains(pair) || (!batch.gathering.reorder && batch.gatheredCreates > 0) {
                try flushGathered(count: count, batch: &batch, in: db)
            }
            if batch.gathered.isEmpty { batch.gatheredOffset = offset }
            batch.gathered.append(change)
            batch.gatheredPairs.insert(pair)

        default:
            try flushGathered(count: count, batch: &batch, in: db)
            do {
                try write(change, batch: &batch, in: db)
            } catch {
                throw describeFailure(of: change, offset: offset, count: count, error: error)
            }
        }
    }

    /// Writes the gathered changes: their creates, then their addMemberships, in
    /// statements of up to 64 rows, inside a savepoint. When one fails, the savepoint is
    /// rolled back and they are written again one by one, in order, so that the failure
    /// is the same as without gathering: the first failing change, its own error.
    private func flushGathered(count: Int?, batch: inout Batch, in db: Database) throws {
        guard !batch.gathered.isEmpty else { return }
        let gathered = batch.gathered
        let firstOffset = batch.gatheredOffset
        let columns = batch.gatheredColumns
        batch.gathered.removeAll(keepingCapacity: true)
        batch.gatheredColumns = nil
        batch.gatheredCreates = 0
        batch.gatheredPairs.removeAll(keepingCapacity: true)

        func oneByOne(_ batch: inout Batch) throws {
            for (index, change) in gathered.enumerated() {
                do {
                    try write(change, batch: &batch, in: db)
                } catch {
                    throw describeFailure(of: change, offset: firstOffset + index, count: count, error: error)
                }
            }
        }
        guard gathered.count > 1 else { return try oneByOne(&batch) }
        if batch.fast {
            if let columns { try insertGatheredCreates(gathered, columns: columns, batch: &batch, in: db) }
            try insertGatheredMemberships(gathered, batch: &batch, in: db)
            return
        }
        let savepoint = try statement(\.savepoint, in: &batch, db: db) { "SAVEPOINT ldapsync_rows" }
        let release = try statement(\.release, in: &batch, db: db) { "RELEASE ldapsync_rows" }
        let rollback = try statement(\.rollbackToSavepoint, in: &batch, db: db) { "ROLLBACK TO ldapsync_rows" }
        try step(savepoint, in: db)
        do {
            if let columns { try insertGatheredCreates(gathered, columns: columns, batch: &batch, in: db) }
            try insertGatheredMemberships(gathered, batch: &batch, in: db)
        } catch {
            guard sqlite3_get_autocommit(db.sqliteConnection) == 0 else {
                // SQLite ended the transaction itself (a full disk, an I/O error): the
                // rows cannot be written again to find the failing one.
                throw describeFailure(of: gathered[0], offset: firstOffset, count: count, error: error)
            }
            try step(rollback, in: db)
            try step(release, in: db)
            try oneByOne(&batch)
            return
        }
        try step(release, in: db)
    }

    /// The number of rows of the next multi-row statement for `remaining` rows of
    /// `parameters` each: a power of two up to 64 within SQLite's parameter limit.
    private static func rowsPerStatement(remaining: Int, parameters: Int, limit: Int) -> Int {
        var rows = 64
        while rows > 1 && (rows > remaining || rows * parameters > limit) { rows /= 2 }
        return rows
    }

    private func insertGatheredCreates(_ gathered: [AppChange], columns: ColumnSet, batch: inout Batch, in db: Database) throws {
        let names = [sql.key, sql.managed, sql.active] + (sql.updatedAt.map { [$0] } ?? [])
            + positions(of: columns).map { schema.columns[$0].name.quotedIdentifier }
        var users: [AppUser] = []
        users.reserveCapacity(gathered.count)
        for case .create(let user) in gathered { users.append(user) }
        var start = 0
        while start < users.count {
            let rows = Self.rowsPerStatement(remaining: users.count - start, parameters: names.count, limit: batch.gathering.maxParameters)
            let statement: Statement
            if let cached = batch.multiInserts[columns]?[rows] {
                statement = cached
            } else {
                let row = "(\(Self.placeholders(names.count)))"
                statement = try db.makeStatement(
                    sql: "INSERT \(batch.fast ? "OR ROLLBACK " : "")INTO \(sql.users) (\(names.joined(separator: ", "))) VALUES "
                        + Array(repeating: row, count: rows).joined(separator: ", ")
                )
                batch.multiInserts[columns, default: [:]][rows] = statement
            }
            var binder = Binder(statement)
            for user in users[start..<(start + rows)] {
                binder.bind(user.key)
                binder.bind(user.managed ? 1 : 0)
                binder.bind(user.active ? 1 : 0)
                if sql.updatedAt != nil { binder.bind(batch.now) }
                // Checked when gathered: the same columns, of the right kinds.
                for column in schema.columns {
                    if let value = user.values[column.name] { binder.bind(value) }
                }
            }
            try step(statement, in: db)
            start += rows
        }
    }

    private func insertGatheredMemberships(_ gathered: [AppChange], batch: inout Batch, in db: Database) throws {
        var pairs: [(user: String, group: String)] = []
        for case .addMembership(let user, let group) in gathered { pairs.append((user, group)) }
        var start = 0
        while start < pairs.count {
            let rows = Self.rowsPerStatement(remaining: pairs.count - start, parameters: 2, limit: batch.gathering.maxParameters)
            let statement: Statement
            if let cached = batch.multiMemberships[rows] {
                statement = cached
            } else {
                // As addMembership's statement, for several rows: NOT EXISTS is
                // evaluated before any of them is inserted, hence no duplicates among
                // them (see `gather`); or, where the two columns are the key and the
                // whole table, the same as a conflict on the key that does nothing.
                let values = Array(repeating: "(?, ?)", count: rows).joined(separator: ", ")
                statement = try batch.gathering.membershipsUpsert ? db.makeStatement(
                    sql: "INSERT \(batch.fast ? "OR ROLLBACK " : "")INTO \(sql.memberships) (\(sql.memberGroup), \(sql.memberUser)) VALUES \(values)"
                        + " ON CONFLICT (\(sql.memberGroup), \(sql.memberUser)) DO NOTHING"
                ) : db.makeStatement(
                    sql: "INSERT \(batch.fast ? "OR ROLLBACK " : "")INTO \(sql.memberships) (\(sql.memberGroup), \(sql.memberUser))"
                        + " SELECT ldapsync_new.column1, ldapsync_new.column2 FROM (VALUES "
                        + values + ") AS ldapsync_new"
                        + " WHERE NOT EXISTS (SELECT 1 FROM \(sql.memberships) AS ldapsync_old"
                        + " WHERE ldapsync_old.\(sql.memberGroup) = ldapsync_new.column1"
                        + " AND ldapsync_old.\(sql.memberUser) = ldapsync_new.column2)"
                )
                batch.multiMemberships[rows] = statement
            }
            var binder = Binder(statement)
            for pair in pairs[start..<(start + rows)] {
                binder.bind(pair.group)
                binder.bind(pair.user)
            }
            try step(statement, in: db)
            start += rows
        }
    }

    private func write(_ change: AppChange, batch: inout Batch, in db: Database) throws {
        switch change {
        case .create(let user):
            if !batch.keyIsUnique, try keyExists(user.key, batch: &batch, in: db) {
                throw ChangeFailure("a user with this key already exists")
            }
            let columns = try collectMapped(user.values, into: &batch.values)
            let statement: Statement
            if let cached = batch.inserts[columns] {
                statement = cached
            } else {
                let names = [sql.key, sql.managed, sql.active] + (sql.updatedAt.map { [$0] } ?? [])
                    + positions(of: columns).map { schema.columns[$0].name.quotedIdentifier }
                statement = try db.makeStatement(
                    sql: "INSERT INTO \(sql.users) (\(names.joined(separator: ", "))) VALUES (\(Self.placeholders(names.count)))"
                )
                batch.inserts[columns] = statement
            }
            var binder = Binder(statement)
            binder.bind(user.key)
            binder.bind(user.managed ? 1 : 0)
            binder.bind(user.active ? 1 : 0)
            if sql.updatedAt != nil { binder.bind(batch.now) }
            for value in batch.values { binder.bind(value) }
            do {
                try step(statement, in: db)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                // Which constraint failed: ours, or one of the application's own?
                if try keyExists(user.key, batch: &batch, in: db) { throw ChangeFailure("a user with this key already exists") }
                throw error
            }

        case .update(let key, let values):
            let columns = try collectMapped(values, into: &batch.values)
            if columns.isEmpty && sql.updatedAt == nil {
                try requireUser(key, managed: true, in: db)
                return
            }
            let statement: Statement
            if let cached = batch.updates[columns] {
                statement = cached
            } else {
                let assignments = positions(of: columns).map { "\(schema.columns[$0].name.quotedIdentifier) = ?" }
                    + (sql.updatedAt.map { ["\($0) = ?"] } ?? [])
                statement = try db.makeStatement(
                    sql: "UPDATE \(sql.users) SET \(assignments.joined(separator: ", "))"
                        + " WHERE \(sql.key) = ? AND \(sql.isManaged)"
                )
                batch.updates[columns] = statement
            }
            var binder = Binder(statement)
            for value in batch.values { binder.bind(value) }
            if sql.updatedAt != nil { binder.bind(batch.now) }
            binder.bind(key)
            try updateUser(key, managed: true, statement: statement, in: db)

        case .setManaged(let key, let managed):
            try setFlag(\.setManaged, column: sql.managed, to: managed, key: key, managedOnly: false, batch: &batch, in: db)

        case .setActive(let key, let active):
            try setFlag(\.setActive, column: sql.active, to: active, key: key, managedOnly: true, batch: &batch, in: db)

        case .rename(let from, let to):
            if from != to {
                if try keyExists(to, batch: &batch, in: db) {
                    throw ChangeFailure("a user with key \(to.debugDescription) already exists")
                }
                let memberships = try db.cachedStatement(
                    sql: "SELECT 1 FROM \(sql.memberships) WHERE \(sql.memberUser) = ? LIMIT 1"
                )
                if try Int.fetchOne(memberships, arguments: [to]) != nil {
                    throw ChangeFailure(
                        "table \(sql.memberships) already has memberships for \(to.debugDescription), "
                            + "which is not a user: remove them first"
                    )
                }
            }
            let statement = try db.cachedStatement(
                sql: "UPDATE \(sql.users) SET \(sql.key) = ?\(sql.setUpdatedAt) WHERE \(sql.key) = ? AND \(sql.isManaged)"
            )
            statement.setUncheckedArguments(StatementArguments([to.databaseValue] + sql.updatedAtArgument(batch.now) + [from.databaseValue]))
            try statement.execute()
            try checkUpdated(from, managed: true, in: db)
            try db.cachedStatement(
                sql: "UPDATE \(sql.memberships) SET \(sql.memberUser) = ? WHERE \(sql.memberUser) = ?"
            ).execute(arguments: [to, from])

        case .addMembership(let user, let group):
            // Not INSERT OR IGNORE: that would also ignore NOT NULL and CHECK failures,
            // and it needs a unique key that an existing application table may lack.
            let statement = try statement(\.addMembership, in: &batch, db: db) {
                "INSERT INTO \(sql.memberships) (\(sql.memberGroup), \(sql.memberUser)) SELECT ?1, ?2"
                    + " WHERE NOT EXISTS (SELECT 1 FROM \(sql.memberships)"
                    + " WHERE \(sql.memberGroup) = ?1 AND \(sql.memberUser) = ?2)"
            }
            var binder = Binder(statement)
            binder.bind(group)
            binder.bind(user)
            try step(statement, in: db)

        case .removeMembership(let user, let group):
            let statement = try statement(\.removeMembership, in: &batch, db: db) {
                "DELETE FROM \(sql.memberships) WHERE \(sql.memberGroup) = ? AND \(sql.memberUser) = ?"
            }
            var binder = Binder(statement)
            binder.bind(group)
            binder.bind(user)
            try step(statement, in: db)
        }
    }

    /// Sets a 0/1 column of one users row (with `managedOnly`, only of a managed row).
    private func setFlag(_ slot: WritableKeyPath<Batch, Statement?>, column: String, to value: Bool, key: String,
                         managedOnly: Bool, batch: inout Batch, in db: Database) throws {
        let statement = try statement(slot, in: &batch, db: db) {
            "UPDATE \(sql.users) SET \(column) = ?\(sql.setUpdatedAt) WHERE \(sql.key) = ?" + (managedOnly ? " AND \(sql.isManaged)" : "")
        }
        var binder = Binder(statement)
        binder.bind(value ? 1 : 0)
        if sql.updatedAt != nil { binder.bind(batch.now) }
        binder.bind(key)
        try updateUser(key, managed: managedOnly, statement: statement, in: db)
    }

    /// Runs an UPDATE of one users row, its values bound; no row changed is an error that
    /// says why.
    private func updateUser(_ key: String, managed: Bool, statement: Statement, in db: Database) throws {
        try step(statement, in: db)
        try checkUpdated(key, managed: managed, in: db)
    }

    private func checkUpdated(_ key: String, managed: Bool, in db: Database) throws {
        if db.changesCount == 0 {
            try requireUser(key, managed: managed, in: db)
            // The row exists (and is managed) but the UPDATE did not count it: a trigger
            // or a view is in the way.
            throw ChangeFailure("no row was changed")
        }
    }

    /// Steps a statement of this apply whose values are bound, to its end, and resets it.
    /// A failure is a `DatabaseError` with SQLite's message and extended result code, as
    /// GRDB reports it (never the values).
    private func step(_ statement: Statement, in db: Database) throws {
        let handle = statement.sqliteStatement
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_ROW { continue }
            if code == SQLITE_DONE {
                sqlite3_reset(handle)
                return
            }
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
    }

    private func keyExists(_ key: String, batch: inout Batch, in db: Database) throws -> Bool {
        let statement = try statement(\.selectKey, in: &batch, db: db) { sql.selectKey }
        var binder = Binder(statement)
        binder.bind(key)
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code:
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }

    private func requireUser(_ key: String, managed: Bool, in db: Database) throws {
        let statement = try db.cachedStatement(
            sql: "SELECT IFNULL(\(sql.isManaged), 0) FROM \(sql.users) WHERE \(sql.key) = ? LIMIT 1"
        )
        guard let isManaged = try Int.fetchOne(statement, arguments: [key]) else {
            throw ChangeFailure("no such user")
        }
        if managed && isManaged == 0 {
            throw ChangeFailure("the user is not managed by ldapsync (column \(sql.managed) is 0)")
        }
    }

    /// Collects the given values into `collected` in schema order and returns which
    /// columns they are, after checking them against the column kinds (the first wrong
    /// kind in schema order, then a name that is no mapped column, is an error).
    private func collectMapped(_ values: [String: AppValue], into collected: inout [AppValue]) throws -> ColumnSet {
        collected.removeAll(keepingCapacity: true)
        var mask: UInt64 = 0
        var positions: [Int] = []
        let small = schema.columns.count <= 64
        for (index, column) in schema.columns.enumerated() {
            guard let value = values[column.name] else { continue }
            if small { mask |= 1 << UInt64(index) } else { positions.append(index) }
            switch (column.kind, value) {
            case (_, .null), (.text, .text), (.blob, .blob):
                break
            case (.jsonArray, .text(let text)):
                guard !Self.isPlainJSONStringArray(text) else { break }
                do {
                    _ = try AppValue.decodeJSONArray(text)
                } catch let error as AppStoreError {
                    throw ChangeFailure("value for column \(column.name.quotedIdentifier): \(error.message)")
                }
            case (.text, _), (.jsonArray, _), (.blob, _):
                throw ChangeFailure(
                    "column \(column.name.quotedIdentifier) holds \(column.kind) values, not \(Self.valueKind(value))"
                )
            }
            collected.append(value)
        }
        if collected.count < values.count {
            for name in values.keys where !schema.columns.contains(where: { $0.name == name }) {
                throw ChangeFailure("\(name.quotedIdentifier) is not a mapped column")
            }
        }
        return small ? .mask(mask) : .positions(positions)
    }

    /// Whether `text` is a JSON array of strings without escapes or whitespace
    /// (`["a@example.org","b@example.org"]`, as ldapsync writes them): valid without
    /// decoding it. Anything else is decoded to be checked.
    static func isPlainJSONStringArray(_ text: String) -> Bool {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        let open = UInt8(ascii: "["), close = UInt8(ascii: "]"), comma = UInt8(ascii: ",")
        return text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard bytes.count >= 2, bytes[0] == open, bytes[bytes.count - 1] == close else { return false }
            if bytes.count == 2 { return true }
            var index = 1
            while true {
                guard index < bytes.count, bytes[index] == quote else { return false }
                index += 1
                while index < bytes.count, bytes[index] != quote {
                    if bytes[index] < 0x20 || bytes[index] == backslash { return false }
                    index += 1
                }
                index += 1
                guard index < bytes.count else { return false }
                if bytes[index] == close { return index == bytes.count - 1 }
                guard bytes[index] == comma else { return false }
                index += 1
            }
        } ?? false
    }

    private func positions(of columns: ColumnSet) -> [Int] {
        switch columns {
        case .mask(let mask): schema.columns.indices.filter { mask & (1 << UInt64($0)) != 0 }
        case .positions(let positions): positions
        }
    }

    private func describeFailure(of change: AppChange, offset: Int, count: Int?, error: any Error) -> AppStoreError {
        let operation = change.operationDescription
        let suffix = "change \(offset + 1)\(count.map { " of \($0)" } ?? ""); nothing was written"
        if let failure = error as? ChangeFailure {
            return AppStoreError(operation: operation, message: "\(failure.message) (\(suffix))")
        }
        return mapError(error, operation: operation, busyTimeout: busyTimeout, suffix: suffix)
    }

    /// A TEXT value, or an INTEGER as its decimal text.
    static func text(_ value: DatabaseValue) -> String? {
        switch value.storage {
        case .string(let text): text
        case .int64(let number): String(number)
        case .null, .double, .blob: nil
        }
    }

    /// `?, ?, …`
    static func placeholders(_ count: Int) -> String {
        var text = "?"
        text.reserveCapacity(count * 3)
        for _ in 1..<max(count, 1) { text += ", ?" }
        return text
    }

    static func storageClass(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64: "an INTEGER"
        case .double: "a REAL"
        case .string: "TEXT"
        case .blob: "a BLOB"
        }
    }

    static func valueKind(_ value: AppValue) -> String {
        switch value {
        case .null: "NULL"
        case .text: "text"
        case .integer: "an integer"
        case .blob: "a blob"
        }
    }

    /// A name SQLite cannot take, or a users column named twice.
    private static func configurationProblem(in schema: AppSchema) -> String? {
        let userColumns = [schema.keyColumn, schema.managedColumn, schema.activeColumn]
            + (schema.updatedAtColumn.map { [$0] } ?? []) + schema.columns.map(\.name)
        let names = userColumns + [
            schema.usersTable, schema.membershipsTable, schema.membershipUserColumn, schema.membershipGroupColumn,
        ]
        if let bad = names.first(where: { $0.isEmpty || $0.utf8.contains(0) }) {
            return "the table or column name \(bad.debugDescription) is empty or contains a NUL character"
        }
        var seen = Set<String>()
        // SQLite compares identifiers ASCII case-insensitively.
        if let duplicate = userColumns.first(where: { !seen.insert($0.lowercased()).inserted }) {
            return "column \(duplicate.quotedIdentifier) of table \(schema.usersTable.quotedIdentifier) "
                + "is configured more than once"
        }
        if schema.membershipUserColumn.lowercased() == schema.membershipGroupColumn.lowercased() {
            return "the memberships table's user and group columns are both "
                + "\(schema.membershipUserColumn.quotedIdentifier)"
        }
        return nil
    }

    /// Creates an empty file with mode 0600 when `path` does not exist yet (an empty
    /// file is an empty SQLite database). Nothing happens to an existing file.
    private static func createPrivateFileIfMissing(_ path: String) throws {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            return
        }
        let code = errno
        guard code == EEXIST else {
            throw AppStoreError(
                operation: "create app store \(path.debugDescription)",
                message: String(cString: strerror(code))
            )
        }
    }

    /// `2026-11-21T15:30:00Z`
    static func iso8601UTC(secondsSince1970 seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil inverse).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
            + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))Z"
    }
}

/// Binds values to a prepared statement's parameters in order, with SQLite's C API
/// (SQLite copies text and blobs). The caller binds every parameter before each step.
private struct Binder {
    private let handle: SQLiteStatement
    private var index: Int32 = 0

    init(_ statement: Statement) {
        handle = statement.sqliteStatement
    }

    mutating func bind(_ number: Int64) {
        index += 1
        sqlite3_bind_int64(handle, index, number)
    }

    mutating func bind(_ text: String) {
        index += 1
        var text = text
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { characters in
                // An empty buffer may have no address, which SQLite would bind as NULL.
                _ = sqlite3_bind_text(handle, index, characters.baseAddress ?? Binder.empty, Int32(characters.count), Binder.transient)
            }
        }
    }

    mutating func bind(_ value: AppValue) {
        switch value {
        case .null:
            index += 1
            sqlite3_bind_null(handle, index)
        case .text(let text):
            bind(text)
        case .integer(let number):
            bind(number)
        case .blob(let bytes):
            index += 1
            // As GRDB bound it (through `Data`), an empty blob included.
            if bytes.isEmpty {
                Data().withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(handle, index, raw.baseAddress, Int32(raw.count), Binder.transient)
                }
            } else {
                bytes.withUnsafeBytes { raw in
                    _ = sqlite3_bind_blob(handle, index, raw.baseAddress, Int32(raw.count), Binder.transient)
                }
            }
        }
    }

    /// SQLite's `SQLITE_TRANSIENT`: it copies the value before the bind returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    nonisolated(unsafe) private static let empty: UnsafePointer<CChar> = {
        let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return UnsafePointer(pointer)
    }()
}

/// An error thrown by the caller's closure, passed through unchanged.
private struct BodyError: Error {
    var error: any Error
}

/// A change that cannot be applied for a reason of ours, not SQLite's.
private struct ChangeFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// The schema's identifiers, quoted once, and the SQL fragments built from them.
struct QuotedSchema {
    let users: String
    let key: String
    let managed: String
    let active: String
    let updatedAt: String?
    let memberships: String
    let memberUser: String
    let memberGroup: String
    /// `"ldap_managed" <> 0`: the managed test, the same wherever it is used.
    let isManaged: String
    /// key, managed and active as 0/1, updatedAt (or NULL), then the mapped columns.
    let selectUsers: String
    let selectKey: String
    /// `, "updated_at" = ?` or nothing.
    let setUpdatedAt: String

    init(_ schema: AppSchema) {
        users = schema.usersTable.quotedIdentifier
        key = schema.keyColumn.quotedIdentifier
        managed = schema.managedColumn.quotedIdentifier
        active = schema.activeColumn.quotedIdentifier
        updatedAt = schema.updatedAtColumn?.quotedIdentifier
        memberships = schema.membershipsTable.quotedIdentifier
        memberUser = schema.membershipUserColumn.quotedIdentifier
        memberGroup = schema.membershipGroupColumn.quotedIdentifier
        isManaged = "\(managed) <> 0"
        let mapped = schema.columns.map { ", \($0.name.quotedIdentifier)" }.joined()
        selectUsers = "SELECT \(key), IFNULL(\(managed) <> 0, 0), IFNULL(\(active) <> 0, 0), \(updatedAt ?? "NULL")"
            + "\(mapped) FROM \(users)"
        selectKey = "SELECT 1 FROM \(users) WHERE \(key) = ? LIMIT 1"
        setUpdatedAt = updatedAt.map { ", \($0) = ?" } ?? ""
    }

    func updatedAtArgument(_ now: String) -> [DatabaseValue] {
        updatedAt == nil ? [] : [now.databaseValue]
    }
}

/// An AppStoreError from a GRDB or SQLite error: SQLite's message and result code, never
/// the statement's arguments.
func mapError(_ error: any Error, operation: String, busyTimeout: Duration, suffix: String? = nil) -> AppStoreError {
    var message: String
    if let error = error as? DatabaseError {
        let sqliteMessage = error.message ?? "SQLite error"
        let code = error.extendedResultCode.rawValue
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            message = "the database is locked by another connection and stayed locked for the whole busy timeout"
                + " (\(busyTimeout.secondsText)) (SQLite: \(sqliteMessage), result code \(code))"
        default:
            message = "\(sqliteMessage) (SQLite result code \(code))"
        }
    } else {
        message = String(describing: error)
    }
    if let suffix { message += " (\(suffix))" }
    return AppStoreError(operation: operation, message: message)
}

extension Duration {
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    /// `10 s`, `0.25 s`
    var secondsText: String {
        let value = timeInterval
        return value == value.rounded() ? "\(Int64(value)) s" : "\(value) s"
    }
}

extension String {
    /// The SQL identifier `"name"`, with every `"` doubled. (GRDB's
    /// `quotedDatabaseIdentifier` does not double embedded quotes, so a configured name
    /// such as `a"b` would end the identifier early.)
    var quotedIdentifier: String {
        var result = "\""
        result.reserveCapacity(utf8.count + 2)
        for character in unicodeScalars {
            if character == "\"" { result.unicodeScalars.append("\"") }
            result.unicodeScalars.append(character)
        }
        result.unicodeScalars.append("\"")
        return result
    }
}
