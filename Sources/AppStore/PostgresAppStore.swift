import Foundation

/// The server app store: the application's PostgreSQL database, through one libpq
/// connection used synchronously. The same semantics as ``SQLiteAppStore``; what differs
/// is said here.
///
/// - Types: the key and text columns are `text` (or `varchar`, `char`, `citext`);
///   managed and active are an integer type or `boolean`; `updatedAt` is text, or
///   `timestamp`/`timestamptz` (read back as ISO 8601 UTC); binary columns are `bytea`;
///   multi-valued columns hold a JSON array as `text` (the default schema: the canonical
///   form round-trips byte for byte) or as `json`/`jsonb` (an existing application's
///   choice: read back in the canonical form).
/// - Values are sent as parameters with no declared type, so the server converts them to
///   the column's own type (`'1'` is a valid integer and boolean); bytes go in binary as
///   `bytea`. PostgreSQL text cannot hold U+0000: such a value is refused by name.
/// - Writes: consecutive creates go in multi-row `INSERT`s, consecutive membership
///   additions and removals in one statement per chunk (a `VALUES` list), so a full
///   import is not a round trip per row. Updates, tag and active changes and renames are
///   one statement each (an incremental run has few of them).
/// - One transaction per ``apply(_:)``; a failure rolls it back and the error names the
///   change, its position and PostgreSQL's message and SQLSTATE, never a value.
///
/// Not thread-safe: one run uses it from one thread.
public final class PostgresAppStore: AppStore {
    public let schema: AppSchema
    let connection: PostgresConnection
    let sql: PostgresSQL
    private var isBusy = false

    /// Connects to the database.
    ///
    /// - Parameters:
    ///   - url: `postgres://USER@HOST:PORT/DATABASE` (libpq's URL syntax; never printed).
    ///   - password: sent in libpq's `password` parameter, never in a connection string.
    ///   - sslMode: libpq's `sslmode` (`disable`, `require`, `verify-ca`, `verify-full`, …);
    ///     nil leaves libpq's choice (the URL's `sslmode`, else `prefer`).
    ///   - caFile: libpq's `sslrootcert`, the CA certificates that verify the server.
    ///   - lockTimeout: how long a statement waits for a row or table lock held by the
    ///     application before the run fails and writes nothing (`lock_timeout`).
    public init(url: String, password: Secret? = nil, sslMode: String? = nil, caFile: String? = nil,
                schema: AppSchema, lockTimeout: Duration = .seconds(10)) throws {
        self.schema = schema
        if let problem = Self.configurationProblem(in: schema) {
            throw AppStoreError(operation: "open app store", message: problem)
        }
        sql = PostgresSQL(schema)
        var parameters: [(String, [UInt8])] = []
        if let password { parameters.append(("password", password.bytes)) }
        if let sslMode { parameters.append(("sslmode", Array(sslMode.utf8))) }
        if let caFile { parameters.append(("sslrootcert", Array(caFile.utf8))) }
        connection = try PostgresConnection(url: url, parameters: parameters, lockTimeout: lockTimeout)
    }

    // MARK: Reading

    public func users(withKeys keys: [String]) throws -> [String: AppUser] {
        let wanted = Set(keys)
        // PostgreSQL text cannot hold NUL: no stored key has one.
        let unique = wanted.filter { !$0.utf8.contains(0) }.sorted()
        guard !unique.isEmpty else { return [:] }
        return try entering {
            var result: [String: AppUser] = [:]
            result.reserveCapacity(unique.count)
            for start in stride(from: 0, to: unique.count, by: Self.lookupBatchSize) {
                let chunk = Array(unique[start..<min(start + Self.lookupBatchSize, unique.count)])
                let rows = try mapped("read users") {
                    try connection.query("\(sql.selectUsers) WHERE \(sql.key) = ANY($1)", [.textArray(chunk)],
                                         operation: "read users")
                }
                for row in 0..<rows.rowCount {
                    let user = try decodeUser(rows, row)
                    if wanted.contains(user.key) { result[user.key] = user }
                }
            }
            return result
        }
    }

    /// Streams the managed users in key order (bytewise: `COLLATE "C"` over UTF-8) from a
    /// cursor in one read-only, repeatable-read transaction, 1,000 rows at a time.
    ///
    /// `updatedSince` is compared bytewise (`COLLATE "C"`) with the column as text
    /// (``UpdatedAtBound``): a `timestamp(tz)` column's text is the space form in UTC (the
    /// session's DateStyle is ISO and its TimeZone UTC).
    public func forEachManagedUser(updatedSince: Timestamp?, _ body: (AppUser) throws -> Void) throws {
        var condition = sql.isManaged
        if let updatedSince, let updatedAt = sql.updatedAt {
            // Digits, '-', ':', 'T' and a space only: made here, never from input.
            let bound = UpdatedAtBound(updatedSince)
            condition += " AND " + bound.condition(column: "(\(updatedAt))::text COLLATE \"C\"",
                                                   placeholders: ("'\(bound.spaceForm)'", "'\(bound.dayEnd)'", "'\(bound.isoForm)'"))
        }
        try entering {
            let operation = "list managed users"
            try mapped(operation) {
                try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", operation: operation)
            }
            do {
                try mapped(operation) {
                    try connection.execute(
                        "DECLARE ldapsync_managed NO SCROLL CURSOR FOR \(sql.selectUsers) WHERE \(condition)"
                            + " ORDER BY \(sql.key) COLLATE \"C\"",
                        operation: operation
                    )
                }
                while true {
                    let rows = try mapped(operation) {
                        try connection.query("FETCH FORWARD 1000 FROM ldapsync_managed", operation: operation)
                    }
                    if rows.rowCount == 0 { break }
                    for row in 0..<rows.rowCount {
                        let user = try decodeUser(rows, row)
                        try body(user)
                    }
                }
                try mapped(operation) { try connection.execute("COMMIT", operation: operation) }
            } catch {
                try? connection.execute("ROLLBACK", operation: operation)
                throw error
            }
        }
    }

    public func managedUserCount() throws -> Int {
        try entering {
            let rows = try mapped("count managed users") {
                try connection.query("SELECT count(*) FROM \(sql.users) WHERE \(sql.isManaged)", operation: "count managed users")
            }
            return Int(rows.text(0, 0) ?? "0") ?? 0
        }
    }

    public func hasNoUsers() throws -> Bool {
        try entering {
            let rows = try mapped("look for any user") {
                try connection.query("SELECT NOT EXISTS (SELECT 1 FROM \(sql.users))", operation: "look for any user")
            }
            return rows.text(0, 0) == "t"
        }
    }

    public func memberships(ofUsers keys: [String], in groups: Set<String>) throws -> [String: Set<String>] {
        let wanted = Set(keys)
        let unique = wanted.filter { !$0.utf8.contains(0) }.sorted()
        guard !unique.isEmpty, !groups.isEmpty else { return [:] }
        return try entering {
            var result: [String: Set<String>] = [:]
            let operation = "read memberships"
            for start in stride(from: 0, to: unique.count, by: Self.lookupBatchSize) {
                let chunk = Array(unique[start..<min(start + Self.lookupBatchSize, unique.count)])
                let rows = try mapped(operation) {
                    try connection.query(
                        // By user only (the user column's index); the groups are filtered
                        // below, as with SQLite, where binding them cost a primary-key probe
                        // per user and group.
                        "SELECT \(sql.memberUser)::text, \(sql.memberGroup)::text FROM \(sql.memberships)"
                            + " WHERE \(sql.memberUser) = ANY($1)",
                        [.textArray(chunk)], operation: operation
                    )
                }
                for row in 0..<rows.rowCount {
                    guard let user = rows.text(row, 0), let group = rows.text(row, 1),
                          wanted.contains(user), groups.contains(group)
                    else { continue }
                    result[user, default: []].insert(group)
                }
            }
            return result
        }
    }

    // MARK: Writing

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

    /// Without a savepoint around each multi-row statement: a failure rolls the whole
    /// transaction back, and the caller applies the changes again with
    /// ``apply(replayable:mark:)``, whose error names the change.
    public func tryApply(streaming next: () throws -> [AppChange]?, mark: CommitMark?) throws {
        try apply(streaming: next, count: nil, mark: mark, careful: false)
    }

    public func committedRun(of directory: String) throws -> String? {
        try entering {
            let operation = "read \(CommitMark.table)"
            let exists = try mapped(operation) {
                try connection.query("SELECT to_regclass($1) IS NOT NULL", [.text(CommitMark.table)], operation: operation)
            }
            guard exists.text(0, 0) == "t" else { return nil }
            let rows = try mapped(operation) {
                try connection.query("SELECT run_id FROM \(CommitMark.table) WHERE directory = $1", [.text(directory)], operation: operation)
            }
            return rows.rowCount > 0 ? rows.text(0, 0) : nil
        }
    }

    /// - Parameter careful: a savepoint around each multi-row statement, so that a failing
    ///   one is written again row by row to name the failing change (``PostgresWriter``).
    private func apply(streaming next: () throws -> [AppChange]?, count: Int?, mark: CommitMark?, careful: Bool = true) throws {
        let now = SQLiteAppStore.iso8601UTC(secondsSince1970: Int64(Date().timeIntervalSince1970.rounded(.down)))
        try entering {
            let operation = "apply \(count.map(String.init) ?? "") changes"
            try mapped(operation) { try connection.execute("BEGIN", operation: operation) }
            do {
                // The planner's picture of the tables is from before this transaction (a
                // first run: empty tables, never analyzed), and the look-ups of each batch
                // (keys to create, memberships present) take a few thousand rows: it
                // scanned the whole growing table for each batch (hashed), an apply of
                // 1,000,000 users quadratic. Within this transaction only: by index. The
                // joins only where an index can serve the membership look-up: without
                // one, a hash join is the least bad plan.
                try mapped(operation, suffix: "nothing was written") {
                    let settings = try ["enable_seqscan"]
                        + (membershipPairIsIndexed() ? ["enable_hashjoin", "enable_mergejoin"] : [])
                    for setting in settings {
                        try connection.execute("SET LOCAL \(setting) = off", operation: operation)
                    }
                }
                var writer = PostgresWriter(store: self, now: now, count: count, careful: careful)
                if !careful {
                    writer.copiesMemberships = try mapped(operation, suffix: "nothing was written") { try membershipPairIsUnique() }
                }
                while let changes = try next() {
                    try writer.write(changes)
                }
                if let mark {
                    // In the same transaction: the next run can tell whether this one committed.
                    try mapped(operation, suffix: "nothing was written") {
                        try connection.execute("""
                            CREATE TABLE IF NOT EXISTS \(CommitMark.table) (directory TEXT PRIMARY KEY NOT NULL, \
                            run_id TEXT NOT NULL, committed_at TEXT NOT NULL)
                            """, operation: operation)
                        try connection.query("""
                            INSERT INTO \(CommitMark.table) (directory, run_id, committed_at) VALUES ($1, $2, $3) \
                            ON CONFLICT (directory) DO UPDATE SET run_id = excluded.run_id, committed_at = excluded.committed_at
                            """, [.text(mark.directory), .text(mark.runID), .text(now)], operation: operation)
                    }
                }
                try mapped(operation, suffix: "nothing was written") {
                    try connection.execute("COMMIT", operation: operation)
                }
            } catch {
                if connection.inTransaction { try? connection.execute("ROLLBACK", operation: "roll back") }
                throw error
            }
        }
    }

    // MARK: Schema

    public func validateSchema() throws {
        try entering {
            let problems = try mapped("validate schema") { try schemaProblems() }
            guard problems.isEmpty else {
                throw AppStoreError(
                    operation: "validate schema",
                    message: problems.joined(separator: "; ")
                        + " (`ldapsync init` creates the default schema and adds missing columns to the users table)"
                )
            }
        }
    }

    public func createDefaultSchema() throws {
        try createDefaultSchemaReportingChanges()
    }

    /// The number of keys bound (as one array) in one lookup query.
    public static let lookupBatchSize = 10_000
}

@available(*, unavailable)
extension PostgresAppStore: Sendable {}

// MARK: - Internals

extension PostgresAppStore {
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

    /// Runs `body`, turning a server error into an AppStoreError for `operation`.
    func mapped<T>(_ operation: String, suffix: String? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresServerError {
            var message = error.description
            if let suffix { message += " (\(suffix))" }
            throw AppStoreError(operation: operation, message: message)
        } catch PostgresValueError.nulCharacter {
            throw AppStoreError(operation: operation, message: "a value contains a NUL character, which PostgreSQL text cannot hold")
        }
    }

    /// Row layout of `sql.selectUsers`: key, managed, active, updatedAt, mapped columns.
    func decodeUser(_ rows: PostgresResult, _ row: Int) throws -> AppUser {
        guard let key = rows.text(row, 0) else {
            throw AppStoreError(operation: "read users", message: "a row of table \(sql.users) has a NULL key")
        }
        let managed = rows.text(row, 1) == "t"
        let active = rows.text(row, 2) == "t"
        var updatedAt = rows.text(row, 3)
        if let text = updatedAt, [PostgresConnection.timestampOID, PostgresConnection.timestampTZOID].contains(rows.type(ofColumn: 3)) {
            updatedAt = Self.iso8601(fromTimestamp: text)
        }
        var values: [String: AppValue] = [:]
        values.reserveCapacity(schema.columns.count)
        for (offset, column) in schema.columns.enumerated() {
            let index = 4 + offset
            guard let text = rows.text(row, index) else {
                values[column.name] = .null
                continue
            }
            switch rows.type(ofColumn: index) {
            case PostgresConnection.byteaOID:
                guard let bytes = Self.decodeHexBytea(rows.bytes(row, index)!) else {
                    throw AppStoreError(operation: "read user \(key.debugDescription)",
                                        message: "column \(column.name.quotedIdentifier) came back in an unexpected bytea format")
                }
                values[column.name] = .blob(bytes)
            case PostgresConnection.int2OID, PostgresConnection.int4OID, PostgresConnection.int8OID:
                values[column.name] = Int64(text).map(AppValue.integer) ?? .text(text)
            case PostgresConnection.jsonOID, PostgresConnection.jsonbOID:
                // jsonb keeps its own spacing: give the canonical form, as a text column holds it.
                if column.kind == .jsonArray, let elements = try? AppValue.decodeJSONArray(text) {
                    values[column.name] = .text(AppValue.encodeJSONArray(elements))
                } else {
                    values[column.name] = .text(text)
                }
            default:
                values[column.name] = .text(text)
            }
        }
        return AppUser(key: key, managed: managed, active: active, updatedAt: updatedAt, values: values)
    }

    /// `2026-11-21 15:30:00+00` or `2026-11-21 15:30:00.25` (DateStyle ISO, UTC) →
    /// `2026-11-21T15:30:00Z`; anything else as it is.
    static func iso8601(fromTimestamp text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19, bytes[10] == UInt8(ascii: " "), bytes[4] == UInt8(ascii: "-") else { return text }
        return String(decoding: bytes[0..<10], as: UTF8.self) + "T" + String(decoding: bytes[11..<19], as: UTF8.self) + "Z"
    }

    /// bytea's hex output, `\x0aff…`.
    static func decodeHexBytea(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else {
            return nil
        }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var result: [UInt8] = []
        result.reserveCapacity((text.count - 2) / 2)
        var index = 2
        while index < text.count {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    /// A name PostgreSQL cannot take, or a users column named twice.
    static func configurationProblem(in schema: AppSchema) -> String? {
        let userColumns = [schema.keyColumn, schema.managedColumn, schema.activeColumn]
            + (schema.updatedAtColumn.map { [$0] } ?? []) + schema.columns.map(\.name)
        let names = userColumns + [
            schema.usersTable, schema.membershipsTable, schema.membershipUserColumn, schema.membershipGroupColumn,
        ]
        if let bad = names.first(where: { $0.isEmpty || $0.utf8.contains(0) }) {
            return "the table or column name \(bad.debugDescription) is empty or contains a NUL character"
        }
        var seen = Set<String>()
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
}

/// The schema's identifiers, quoted once, and the SQL fragments built from them.
struct PostgresSQL {
    let users: String
    let key: String
    let managed: String
    let active: String
    let updatedAt: String?
    let memberships: String
    let memberUser: String
    let memberGroup: String
    /// Managed: non-zero (an integer column) or true (a boolean one).
    let isManaged: String
    /// key as text, managed and active as booleans, updatedAt (or NULL), then the mapped
    /// columns as stored.
    let selectUsers: String

    init(_ schema: AppSchema) {
        users = schema.usersTable.quotedIdentifier
        key = schema.keyColumn.quotedIdentifier
        managed = schema.managedColumn.quotedIdentifier
        active = schema.activeColumn.quotedIdentifier
        updatedAt = schema.updatedAtColumn?.quotedIdentifier
        memberships = schema.membershipsTable.quotedIdentifier
        memberUser = schema.membershipUserColumn.quotedIdentifier
        memberGroup = schema.membershipGroupColumn.quotedIdentifier
        isManaged = "\(managed)::integer <> 0"
        let mapped = schema.columns.map { ", \($0.name.quotedIdentifier)" }.joined()
        selectUsers = "SELECT \(key)::text, COALESCE(\(managed)::integer <> 0, false), COALESCE(\(active)::integer <> 0, false), "
            + "\(updatedAt ?? "NULL")\(mapped) FROM \(users)"
    }
}
