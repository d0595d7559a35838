import Foundation
internal import GRDB

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

    /// Users are looked up in batches of ``lookupBatchSize``; up to that many groups are
    /// bound in the query, a larger group set is filtered after reading.
    public func memberships(ofUsers keys: [String], in groups: Set<String>) throws -> [String: Set<String>] {
        let wanted = Set(keys)
        guard !wanted.isEmpty, !groups.isEmpty else { return [:] }
        let unique = Array(wanted)
        let boundGroups = groups.count <= Self.lookupBatchSize ? Array(groups) : nil
        return try reading("read memberships") { db in
            var result: [String: Set<String>] = [:]
            for start in stride(from: 0, to: unique.count, by: Self.lookupBatchSize) {
                let chunk = unique[start..<min(start + Self.lookupBatchSize, unique.count)]
                var query = "SELECT \(sql.memberUser), \(sql.memberGroup) FROM \(sql.memberships)"
                    + " WHERE \(sql.memberUser) IN (\(Self.placeholders(chunk.count)))"
                var arguments = StatementArguments(chunk)
                if let boundGroups {
                    query += " AND \(sql.memberGroup) IN (\(Self.placeholders(boundGroups.count)))"
                    arguments += StatementArguments(boundGroups)
                }
                let cursor = try Row.fetchCursor(db.cachedStatement(sql: query), arguments: arguments)
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
        var delivered = false
        try apply(streaming: {
            defer { delivered = true }
            return delivered ? nil : changes
        }, count: changes.count, mark: nil)
    }

    public func apply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws {
        try apply(streaming: next, count: nil, mark: mark)
    }

    public func committedRun(of directory: String) throws -> String? {
        try reading("read \(CommitMark.table)") { db in
            guard try db.tableExists(CommitMark.table) else { return nil }
            return try String.fetchOne(db, sql: "SELECT run_id FROM \(CommitMark.table) WHERE directory = ?", arguments: [directory])
        }
    }

    /// One transaction over every batch `next` returns until it returns nil.
    private func apply(streaming next: () throws -> [AppChange]?, count: Int?, mark: CommitMark?) throws {
        let now = Self.iso8601UTC(secondsSince1970: Int64(Date().timeIntervalSince1970.rounded(.down)))
        var applied = 0
        try entering {
            do {
                try queue.inTransaction(.immediate) { db in
                    var batch = Batch(now: now, keyIsUnique: try keyIsUnique(db))
                    while let changes = try next() {
                        for change in changes {
                            do {
                                try write(change, batch: &batch, in: db)
                            } catch {
                                throw describeFailure(of: change, offset: applied, count: count, error: error)
                            }
                            applied += 1
                        }
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

    /// What one `apply` computes once: its timestamp, and its INSERT and UPDATE
    /// statements by set of mapped columns (building the SQL and looking it up in GRDB's
    /// statement cache for each of 100,000 creates costs more than the inserts).
    private struct Batch {
        let now: String
        /// When the key column is the primary key or UNIQUE, SQLite refuses a duplicate
        /// create by itself; otherwise each create looks the key up first.
        let keyIsUnique: Bool
        var inserts: [[Int]: Statement] = [:]
        var updates: [[Int]: Statement] = [:]
    }

    private func write(_ change: AppChange, batch: inout Batch, in db: Database) throws {
        let now = batch.now
        switch change {
        case .create(let user):
            if !batch.keyIsUnique, try keyExists(user.key, in: db) {
                throw ChangeFailure("a user with this key already exists")
            }
            let (indices, values) = try mappedColumns(user.values)
            let statement: Statement
            if let cached = batch.inserts[indices] {
                statement = cached
            } else {
                let names = [sql.key, sql.managed, sql.active] + (sql.updatedAt.map { [$0] } ?? [])
                    + indices.map { schema.columns[$0].name.quotedIdentifier }
                statement = try db.makeStatement(
                    sql: "INSERT INTO \(sql.users) (\(names.joined(separator: ", "))) VALUES (\(Self.placeholders(names.count)))"
                )
                batch.inserts[indices] = statement
            }
            var arguments: [DatabaseValue] = [user.key.databaseValue, (user.managed ? 1 : 0).databaseValue, (user.active ? 1 : 0).databaseValue]
            if sql.updatedAt != nil { arguments.append(now.databaseValue) }
            arguments += values
            statement.setUncheckedArguments(StatementArguments(arguments))
            do {
                try statement.execute()
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                // Which constraint failed: ours, or one of the application's own?
                if try keyExists(user.key, in: db) { throw ChangeFailure("a user with this key already exists") }
                throw error
            }

        case .update(let key, let values):
            let (indices, values) = try mappedColumns(values)
            if indices.isEmpty && sql.updatedAt == nil {
                try requireUser(key, managed: true, in: db)
                return
            }
            let statement: Statement
            if let cached = batch.updates[indices] {
                statement = cached
            } else {
                let assignments = indices.map { "\(schema.columns[$0].name.quotedIdentifier) = ?" }
                    + (sql.updatedAt.map { ["\($0) = ?"] } ?? [])
                statement = try db.makeStatement(
                    sql: "UPDATE \(sql.users) SET \(assignments.joined(separator: ", "))"
                        + " WHERE \(sql.key) = ? AND \(sql.isManaged)"
                )
                batch.updates[indices] = statement
            }
            try updateUser(
                key, managed: true, statement: statement,
                arguments: values + sql.updatedAtArgument(now) + [key.databaseValue], in: db
            )

        case .setManaged(let key, let managed):
            try updateUser(
                key, managed: false,
                sql: "UPDATE \(sql.users) SET \(sql.managed) = ?\(sql.setUpdatedAt) WHERE \(sql.key) = ?",
                arguments: [(managed ? 1 : 0).databaseValue] + sql.updatedAtArgument(now) + [key.databaseValue],
                in: db
            )

        case .setActive(let key, let active):
            try updateUser(
                key, managed: true,
                sql: "UPDATE \(sql.users) SET \(sql.active) = ?\(sql.setUpdatedAt) WHERE \(sql.key) = ? AND \(sql.isManaged)",
                arguments: [(active ? 1 : 0).databaseValue] + sql.updatedAtArgument(now) + [key.databaseValue],
                in: db
            )

        case .rename(let from, let to):
            if from != to {
                if try keyExists(to, in: db) {
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
            try updateUser(
                from, managed: true,
                sql: "UPDATE \(sql.users) SET \(sql.key) = ?\(sql.setUpdatedAt) WHERE \(sql.key) = ? AND \(sql.isManaged)",
                arguments: [to.databaseValue] + sql.updatedAtArgument(now) + [from.databaseValue],
                in: db
            )
            try db.cachedStatement(
                sql: "UPDATE \(sql.memberships) SET \(sql.memberUser) = ? WHERE \(sql.memberUser) = ?"
            ).execute(arguments: [to, from])

        case .addMembership(let user, let group):
            // Not INSERT OR IGNORE: that would also ignore NOT NULL and CHECK failures,
            // and it needs a unique key that an existing application table may lack.
            try db.cachedStatement(
                sql: "INSERT INTO \(sql.memberships) (\(sql.memberGroup), \(sql.memberUser)) SELECT ?, ?"
                    + " WHERE NOT EXISTS (SELECT 1 FROM \(sql.memberships)"
                    + " WHERE \(sql.memberGroup) = ? AND \(sql.memberUser) = ?)"
            ).execute(arguments: [group, user, group, user])

        case .removeMembership(let user, let group):
            try db.cachedStatement(
                sql: "DELETE FROM \(sql.memberships) WHERE \(sql.memberGroup) = ? AND \(sql.memberUser) = ?"
            ).execute(arguments: [group, user])
        }
    }

    /// Runs an UPDATE of one users row; no row changed is an error that says why.
    private func updateUser(
        _ key: String, managed: Bool, sql query: String, arguments: [DatabaseValue], in db: Database
    ) throws {
        try updateUser(key, managed: managed, statement: db.cachedStatement(sql: query), arguments: arguments, in: db)
    }

    private func updateUser(
        _ key: String, managed: Bool, statement: Statement, arguments: [DatabaseValue], in db: Database
    ) throws {
        statement.setUncheckedArguments(StatementArguments(arguments))
        try statement.execute()
        if db.changesCount == 0 {
            try requireUser(key, managed: managed, in: db)
            // The row exists (and is managed) but the UPDATE did not count it: a trigger
            // or a view is in the way.
            throw ChangeFailure("no row was changed")
        }
    }

    private func keyExists(_ key: String, in db: Database) throws -> Bool {
        try Int.fetchOne(db.cachedStatement(sql: sql.selectKey), arguments: [key]) != nil
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

    /// The positions in `schema.columns` of the given values, in schema order, and the
    /// values, checked against the column kinds.
    private func mappedColumns(_ values: [String: AppValue]) throws -> (indices: [Int], values: [DatabaseValue]) {
        var indices: [Int] = []
        var result: [DatabaseValue] = []
        indices.reserveCapacity(values.count)
        result.reserveCapacity(values.count)
        for (index, column) in schema.columns.enumerated() {
            guard let value = values[column.name] else { continue }
            indices.append(index)
            switch (column.kind, value) {
            case (_, .null):
                result.append(.null)
            case (.text, .text(let text)):
                result.append(text.databaseValue)
            case (.jsonArray, .text(let text)):
                do {
                    _ = try AppValue.decodeJSONArray(text)
                } catch let error as AppStoreError {
                    throw ChangeFailure("value for column \(column.name.quotedIdentifier): \(error.message)")
                }
                result.append(text.databaseValue)
            case (.blob, .blob(let bytes)):
                result.append(Data(bytes).databaseValue)
            case (.text, _), (.jsonArray, _), (.blob, _):
                throw ChangeFailure(
                    "column \(column.name.quotedIdentifier) holds \(column.kind) values, not \(Self.valueKind(value))"
                )
            }
        }
        if indices.count < values.count {
            for name in values.keys where !schema.columns.contains(where: { $0.name == name }) {
                throw ChangeFailure("\(name.quotedIdentifier) is not a mapped column")
            }
        }
        return (indices, result)
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
