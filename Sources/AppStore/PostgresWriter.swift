/// Writes one `apply`'s changes inside its transaction.
///
/// Consecutive creates, membership additions and membership removals are written as
/// multi-row statements of up to ``rowsPerStatement`` rows (fewer when a row has many
/// columns: PostgreSQL takes at most 65,535 parameters), each under a savepoint: when a
/// chunk fails (an application constraint, a trigger), it is rolled back to the
/// savepoint and its rows are written one at a time, so that the error names the change
/// that fails, as the SQLite store's does. The checks that the SQLite store makes per
/// row (a create's key must be new) are made per run with one query. Without `careful`
/// (``PostgresAppStore/tryApply(streaming:mark:)``) there are no savepoints: a failing
/// statement fails the transaction, which the caller applies again carefully.
struct PostgresWriter {
    let store: PostgresAppStore
    let now: String
    let count: Int?
    /// A savepoint around each multi-row statement.
    let careful: Bool
    /// Without `careful` and with a unique index on the memberships' pair: new memberships
    /// are written by `COPY`, not looked up first (a pair present already fails the
    /// attempt, and the careful apply skips it).
    var copiesMemberships = false
    /// Changes of earlier batches.
    private var applied = 0
    /// `placeholders(rows:columns:)` by shape: the same few shapes recur for every chunk.
    private var placeholderCache: [[Int]: String] = [:]

    static let rowsPerStatement = 1_000
    static let rowsPerArrayStatement = 10_000
    static let parametersPerStatement = 30_000

    init(store: PostgresAppStore, now: String, count: Int?, careful: Bool = true) {
        self.store = store
        self.now = now
        self.count = count
        self.careful = careful
    }

    private var sql: PostgresSQL { store.sql }
    private var schema: AppSchema { store.schema }
    private var connection: PostgresConnection { store.connection }

    /// Writes one batch. Creates and membership changes are gathered into multi-row
    /// statements: between two changes of another kind (update, tag, activation, rename),
    /// the creates go first, then the membership additions, then the removals. A run
    /// stages each user's create and memberships together, so without the gathering the
    /// statements would be of one or two rows each. Reordering them is safe: a membership
    /// change does not check the user, and an addition and a removal of the same pair are
    /// never reordered (the gathered ones are written first).
    mutating func write(_ changes: [AppChange]) throws {
        var creates: [(offset: Int, change: AppChange)] = []
        var additions: [(offset: Int, change: AppChange)] = []
        var removals: [(offset: Int, change: AppChange)] = []
        var added = Set<[String]>()
        var removed = Set<[String]>()
        func flush() throws {
            if !creates.isEmpty { try createUsers(creates) }
            if !additions.isEmpty { try addMemberships(additions) }
            if !removals.isEmpty { try removeMemberships(removals) }
            creates.removeAll(keepingCapacity: true)
            additions.removeAll(keepingCapacity: true)
            removals.removeAll(keepingCapacity: true)
            added.removeAll(keepingCapacity: true)
            removed.removeAll(keepingCapacity: true)
        }
        for (index, change) in changes.enumerated() {
            let offset = applied + index
            switch change {
            case .create:
                creates.append((offset, change))
            case .addMembership(let user, let group):
                if removed.contains([group, user]) { try flush() }
                additions.append((offset, change))
                added.insert([group, user])
            case .removeMembership(let user, let group):
                if added.contains([group, user]) { try flush() }
                removals.append((offset, change))
                removed.insert([group, user])
            default:
                try flush()
                do {
                    try writeOne(change)
                } catch {
                    throw describeFailure(of: change, offset: offset, error: error)
                }
            }
        }
        try flush()
        applied += changes.count
    }

    // MARK: Runs

    private struct Row {
        var offset: Int
        var change: AppChange
        /// nil: the column's DEFAULT (a create that gives no value for a column that
        /// another create of the same statement sets).
        var parameters: [PostgresConnection.Parameter?]
    }

    private mutating func createUsers(_ changes: [(offset: Int, change: AppChange)]) throws {
        let users = changes.map { item -> AppUser in
            let change = item.change
            guard case .create(let user) = change else { preconditionFailure("a run of creates") }
            return user
        }
        // Which keys exist already: one query per lookup batch, compared exactly.
        let keys = Array(Set(users.lazy.map(\.key).filter { !$0.containsNUL })).sorted()
        var existing = Set<String>()
        for start in stride(from: 0, to: keys.count, by: PostgresAppStore.lookupBatchSize) {
            let chunk = Array(keys[start..<min(start + PostgresAppStore.lookupBatchSize, keys.count)])
            let rows = try store.mapped("look up \(chunk.count) keys to create", suffix: "nothing was written") {
                try connection.query("SELECT \(sql.key)::text FROM \(sql.users) WHERE \(sql.key) = ANY($1)",
                                     [.textArray(chunk)], operation: "look up keys")
            }
            for row in 0..<rows.rowCount { if let key = rows.text(row, 0) { existing.insert(key) } }
        }

        // One column list for the whole run: the union of the mapped columns the creates
        // set; a create without a value for one of them gives DEFAULT there, as its own
        // INSERT would. (Grouping by column set instead would cut a run whose creates
        // alternate between two sets into statements of one row.)
        var seen = Set<String>()
        var prepared: [(offset: Int, change: AppChange, user: AppUser, values: [Int: PostgresConnection.Parameter])] = []
        prepared.reserveCapacity(users.count)
        var used = Set<Int>()
        for (position, user) in users.enumerated() {
            let (offset, change) = changes[position]
            do {
                guard !user.key.containsNUL else {
                    throw PostgresChangeFailure("the key contains a NUL character, which PostgreSQL text cannot hold")
                }
                let (indices, values) = try mappedColumns(user.values)
                if existing.contains(user.key) || !seen.insert(user.key).inserted {
                    throw PostgresChangeFailure("a user with this key already exists")
                }
                used.formUnion(indices)
                prepared.append((offset, change, user, Dictionary(uniqueKeysWithValues: zip(indices, values))))
            } catch {
                throw describeFailure(of: change, offset: offset, error: error)
            }
        }
        let indices = used.sorted()
        let rows = prepared.map { item -> Row in
            var parameters: [PostgresConnection.Parameter?] = [
                .text(item.user.key), .text(item.user.managed ? "1" : "0"), .text(item.user.active ? "1" : "0"),
            ]
            if sql.updatedAt != nil { parameters.append(.text(now)) }
            for index in indices { parameters.append(item.values[index]) }
            return Row(offset: item.offset, change: item.change, parameters: parameters)
        }
        let names = [sql.key, sql.managed, sql.active] + (sql.updatedAt.map { [$0] } ?? [])
            + indices.map { schema.columns[$0].name.quotedIdentifier }
        // The attempt (no savepoints): one COPY when every row gives every column (COPY
        // has no DEFAULT), which the server neither parses nor plans per row.
        if !careful, !rows.isEmpty, rows.allSatisfy({ row in row.parameters.allSatisfy { $0 != nil } }) {
            try copyRows(rows, into: "\(sql.users) (\(names.joined(separator: ", ")))")
            return
        }
        let prefix = "INSERT INTO \(sql.users) (\(names.joined(separator: ", "))) VALUES "
        try writeChunked(rows, columns: names.count) { values in prefix + values }
    }

    /// `COPY target FROM STDIN` with `rows` (every parameter given). Without savepoints
    /// the failing row is not known: the error names the rows' changes, and the careful
    /// apply that follows names the change.
    private func copyRows(_ rows: [Row], into target: String) throws {
        var data: [UInt8] = []
        data.reserveCapacity(rows.count * 96)
        for row in rows {
            for (index, parameter) in row.parameters.enumerated() {
                if index > 0 { data.append(UInt8(ascii: "\t")) }
                if let parameter { PostgresConnection.copyText(parameter, to: &data) }
            }
            data.append(UInt8(ascii: "\n"))
        }
        do {
            try connection.copy("COPY \(target) FROM STDIN", rows: data, operation: "write")
        } catch {
            let message = (error as? PostgresServerError)?.description ?? String(describing: error)
            throw AppStoreError(operation: "write changes \(rows.first!.offset + 1)–\(rows.last!.offset + 1)",
                                message: "\(message) (one COPY; nothing was written)")
        }
    }

    private mutating func addMemberships(_ changes: [(offset: Int, change: AppChange)]) throws {
        var seen = Set<[String]>()
        var rows: [Row] = []
        for (offset, change) in changes {
            guard case .addMembership(let user, let group) = change else { preconditionFailure("a run of additions") }
            guard seen.insert([group, user]).inserted else { continue }
            rows.append(Row(offset: offset, change: change, parameters: [.text(group), .text(user)]))
        }
        if copiesMemberships, !careful, !rows.isEmpty {
            try copyRows(rows, into: "\(sql.memberships) (\(sql.memberGroup), \(sql.memberUser))")
            return
        }
        // Not ON CONFLICT DO NOTHING: that would also ignore the application's own unique
        // constraints, and it needs a unique key that an existing table may lack.
        // Two text arrays (unnest) rather than a VALUES list: two parameters to parse
        // instead of 2,000, and 10,000 pairs per statement.
        let statement = "INSERT INTO \(sql.memberships) (\(sql.memberGroup), \(sql.memberUser))"
            + " SELECT v.g, v.u FROM unnest($1::text[], $2::text[]) AS v(g, u) WHERE NOT EXISTS"
            + " (SELECT 1 FROM \(sql.memberships) AS m WHERE m.\(sql.memberGroup) = v.g AND m.\(sql.memberUser) = v.u)"
        try writeChunked(rows, columns: 2, asArrays: true) { _ in statement }
    }

    private mutating func removeMemberships(_ changes: [(offset: Int, change: AppChange)]) throws {
        let rows = changes.map { offset, change -> Row in
            guard case .removeMembership(let user, let group) = change else { preconditionFailure("a run of removals") }
            return Row(offset: offset, change: change, parameters: [.text(group), .text(user)])
        }
        let statement = "DELETE FROM \(sql.memberships) AS m USING unnest($1::text[], $2::text[]) AS v(g, u)"
            + " WHERE m.\(sql.memberGroup) = v.g AND m.\(sql.memberUser) = v.u"
        try writeChunked(rows, columns: 2, asArrays: true) { _ in statement }
    }

    /// Runs `statement(values)` (values: `($1, $2), ($3, $4)`) over chunks of `rows`, each
    /// under a savepoint; a failing chunk is written again row by row to name the change.
    /// With `asArrays`, the statement takes one `text[]` parameter per column instead
    /// (every parameter must then be text).
    private mutating func writeChunked(
        _ rows: [Row], columns: Int, asArrays: Bool = false, statement: (String) -> String
    ) throws {
        let perStatement = asArrays
            ? Self.rowsPerArrayStatement
            : max(1, min(Self.rowsPerStatement, Self.parametersPerStatement / max(columns, 1)))
        func values(_ rows: some Collection<Row>) -> (String, [PostgresConnection.Parameter]) {
            guard asArrays else { return valuesList(rows, columns: columns) }
            let arrays = (0..<columns).map { column in
                PostgresConnection.Parameter.textArray(rows.map { row in
                    guard case .text(let text)? = row.parameters[column] else { preconditionFailure("text only") }
                    return text
                })
            }
            return ("", arrays)
        }
        var start = 0
        while start < rows.count {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            start += chunk.count
            do {
                try checkNUL(chunk)
                let savepoint = careful && chunk.count > 1
                if savepoint { try connection.execute("SAVEPOINT ldapsync_chunk", operation: "savepoint") }
                let (list, parameters) = values(chunk)
                try connection.query(statement(list), parameters, operation: "write")
                if savepoint { try connection.execute("RELEASE SAVEPOINT ldapsync_chunk", operation: "savepoint") }
            } catch let error as PostgresServerError where careful && chunk.count > 1 {
                try store.mapped("roll back to savepoint", suffix: "nothing was written") {
                    try connection.execute("ROLLBACK TO SAVEPOINT ldapsync_chunk", operation: "roll back to savepoint")
                }
                for row in chunk {
                    do {
                        let (list, parameters) = values([row])
                        try connection.query(statement(list), parameters, operation: "write")
                    } catch {
                        throw describeFailure(of: row.change, offset: row.offset, error: error)
                    }
                }
                throw describeFailure(of: chunk.first!.change, offset: chunk.first!.offset, error: error)
            } catch let failure as RowFailure {
                throw describeFailure(of: failure.row.change, offset: failure.row.offset, error: failure.error)
            } catch where !careful && chunk.count > 1 {
                // Without a savepoint the failing row is not known: the statement is named,
                // and the careful apply that follows names the change.
                let message = (error as? PostgresServerError)?.description ?? String(describing: error)
                throw AppStoreError(operation: "write changes \(chunk.first!.offset + 1)–\(chunk.last!.offset + 1)",
                                    message: "\(message) (one statement; nothing was written)")
            } catch {
                throw describeFailure(of: chunk.first!.change, offset: chunk.first!.offset, error: error)
            }
        }
    }

    private struct RowFailure: Error {
        var row: Row
        var error: any Error
    }

    /// The first row with a text parameter that PostgreSQL cannot hold (values were
    /// checked by `mappedColumns`; keys and group names here).
    private func checkNUL(_ rows: ArraySlice<Row>) throws {
        for row in rows {
            for case .text(let text)? in row.parameters.prefix(2) where text.containsNUL {
                throw RowFailure(row: row, error: PostgresChangeFailure("a key or group name contains a NUL character, which PostgreSQL text cannot hold"))
            }
        }
    }

    /// The `VALUES` list of `rows` and its parameters: `($1, $2), ($3, DEFAULT)`.
    private mutating func valuesList(
        _ rows: some Collection<Row>, columns: Int
    ) -> (String, [PostgresConnection.Parameter]) {
        var parameters: [PostgresConnection.Parameter] = []
        parameters.reserveCapacity(rows.count * columns)
        var complete = true
        for row in rows {
            for parameter in row.parameters {
                if let parameter { parameters.append(parameter) } else { complete = false }
            }
        }
        if complete { return (placeholders(rows: rows.count, columns: columns), parameters) }
        var text = ""
        text.reserveCapacity(rows.count * columns * 7)
        var number = 1
        for (rowIndex, row) in rows.enumerated() {
            text += rowIndex == 0 ? "(" : ", ("
            for (column, parameter) in row.parameters.enumerated() {
                if column > 0 { text += ", " }
                if parameter == nil {
                    text += "DEFAULT"
                } else {
                    text += "$"
                    text += String(number)
                    number += 1
                }
            }
            text += ")"
        }
        return (text, parameters)
    }

    private mutating func placeholders(rows: Int, columns: Int) -> String {
        if let cached = placeholderCache[[rows, columns]] { return cached }
        let text = Self.placeholders(rows: rows, columns: columns)
        placeholderCache[[rows, columns]] = text
        return text
    }

    /// `($1, $2), ($3, $4)`
    static func placeholders(rows: Int, columns: Int) -> String {
        var text = ""
        text.reserveCapacity(rows * columns * 7)
        var number = 1
        for row in 0..<rows {
            text += row == 0 ? "(" : ", ("
            for column in 0..<columns {
                if column > 0 { text += ", " }
                text += "$\(number)"
                number += 1
            }
            text += ")"
        }
        return text
    }

    // MARK: One change

    private func writeOne(_ change: AppChange) throws {
        switch change {
        case .update(let key, let values):
            let (indices, parameters) = try mappedColumns(values)
            if indices.isEmpty && sql.updatedAt == nil {
                try requireUser(key, managed: true)
                return
            }
            var assignments = indices.map { schema.columns[$0].name.quotedIdentifier }
            var arguments = parameters
            if let updatedAt = sql.updatedAt {
                assignments.append(updatedAt)
                arguments.append(.text(now))
            }
            let set = assignments.enumerated().map { "\($1) = $\($0 + 1)" }.joined(separator: ", ")
            try updateUser(
                key, managed: true,
                "UPDATE \(sql.users) SET \(set) WHERE \(sql.key) = $\(arguments.count + 1) AND \(sql.isManaged)",
                arguments + [.text(key)]
            )

        case .setManaged(let key, let managed):
            let (set, arguments) = assignment(sql.managed, managed)
            try updateUser(key, managed: false, "UPDATE \(sql.users) SET \(set) WHERE \(sql.key) = $\(arguments.count + 1)",
                           arguments + [.text(key)])

        case .setActive(let key, let active):
            let (set, arguments) = assignment(sql.active, active)
            try updateUser(key, managed: true,
                           "UPDATE \(sql.users) SET \(set) WHERE \(sql.key) = $\(arguments.count + 1) AND \(sql.isManaged)",
                           arguments + [.text(key)])

        case .rename(let from, let to):
            if from != to {
                if try keyExists(to) {
                    throw PostgresChangeFailure("a user with key \(to.debugDescription) already exists")
                }
                let memberships = try connection.query(
                    "SELECT 1 FROM \(sql.memberships) WHERE \(sql.memberUser) = $1 LIMIT 1", [.text(to)], operation: "rename"
                )
                if memberships.rowCount > 0 {
                    throw PostgresChangeFailure(
                        "table \(sql.memberships) already has memberships for \(to.debugDescription), "
                            + "which is not a user: remove them first"
                    )
                }
            }
            var set = "\(sql.key) = $1"
            var arguments: [PostgresConnection.Parameter] = [.text(to)]
            if let updatedAt = sql.updatedAt {
                set += ", \(updatedAt) = $2"
                arguments.append(.text(now))
            }
            try updateUser(from, managed: true,
                           "UPDATE \(sql.users) SET \(set) WHERE \(sql.key) = $\(arguments.count + 1) AND \(sql.isManaged)",
                           arguments + [.text(from)])
            try connection.query("UPDATE \(sql.memberships) SET \(sql.memberUser) = $1 WHERE \(sql.memberUser) = $2",
                                 [.text(to), .text(from)], operation: "rename")

        case .create, .addMembership, .removeMembership:
            preconditionFailure("written in runs")
        }
    }

    /// `"col" = $1[, "updated_at" = $2]` and its arguments.
    private func assignment(_ column: String, _ flag: Bool) -> (String, [PostgresConnection.Parameter]) {
        var set = "\(column) = $1"
        var arguments: [PostgresConnection.Parameter] = [.text(flag ? "1" : "0")]
        if let updatedAt = sql.updatedAt {
            set += ", \(updatedAt) = $2"
            arguments.append(.text(now))
        }
        return (set, arguments)
    }

    private func updateUser(_ key: String, managed: Bool, _ statement: String, _ arguments: [PostgresConnection.Parameter]) throws {
        let result = try connection.query(statement, arguments, operation: "update")
        if result.affectedRows == 0 {
            try requireUser(key, managed: managed)
            throw PostgresChangeFailure("no row was changed")
        }
    }

    private func keyExists(_ key: String) throws -> Bool {
        try connection.query("SELECT 1 FROM \(sql.users) WHERE \(sql.key) = $1 LIMIT 1", [.text(key)], operation: "look up")
            .rowCount > 0
    }

    private func requireUser(_ key: String, managed: Bool) throws {
        let rows = try connection.query(
            "SELECT COALESCE(\(sql.isManaged), false) FROM \(sql.users) WHERE \(sql.key) = $1 LIMIT 1", [.text(key)],
            operation: "look up"
        )
        guard rows.rowCount > 0 else { throw PostgresChangeFailure("no such user") }
        if managed && rows.text(0, 0) != "t" {
            throw PostgresChangeFailure("the user is not managed by ldapsync (column \(sql.managed) is 0)")
        }
    }

    /// The positions in `schema.columns` of the given values, in schema order, and the
    /// values as parameters, checked against the column kinds.
    private func mappedColumns(_ values: [String: AppValue]) throws -> (indices: [Int], values: [PostgresConnection.Parameter]) {
        var indices: [Int] = []
        var result: [PostgresConnection.Parameter] = []
        indices.reserveCapacity(values.count)
        result.reserveCapacity(values.count)
        for (index, column) in schema.columns.enumerated() {
            guard let value = values[column.name] else { continue }
            indices.append(index)
            switch (column.kind, value) {
            case (_, .null):
                result.append(.null)
            case (.text, .text(let text)), (.jsonArray, .text(let text)):
                if column.kind == .jsonArray {
                    do {
                        _ = try AppValue.decodeJSONArray(text)
                    } catch let error as AppStoreError {
                        throw PostgresChangeFailure("value for column \(column.name.quotedIdentifier): \(error.message)")
                    }
                }
                guard !text.containsNUL else {
                    throw PostgresChangeFailure(
                        "the value for column \(column.name.quotedIdentifier) contains a NUL character, which PostgreSQL text cannot hold"
                    )
                }
                result.append(.text(text))
            case (.blob, .blob(let bytes)):
                result.append(.bytea(bytes))
            case (.text, _), (.jsonArray, _), (.blob, _):
                throw PostgresChangeFailure(
                    "column \(column.name.quotedIdentifier) holds \(column.kind) values, not \(SQLiteAppStore.valueKind(value))"
                )
            }
        }
        if indices.count < values.count {
            for name in values.keys where !schema.columns.contains(where: { $0.name == name }) {
                throw PostgresChangeFailure("\(name.quotedIdentifier) is not a mapped column")
            }
        }
        return (indices, result)
    }

    private func describeFailure(of change: AppChange, offset: Int, error: any Error) -> AppStoreError {
        if let error = error as? AppStoreError { return error }
        let operation = change.operationDescription
        let suffix = "change \(offset + 1)\(count.map { " of \($0)" } ?? ""); nothing was written"
        let message: String
        switch error {
        case let failure as PostgresChangeFailure: message = failure.message
        case let failure as PostgresServerError: message = failure.description
        case PostgresValueError.nulCharacter: message = "a key or value contains a NUL character, which PostgreSQL text cannot hold"
        default: message = String(describing: error)
        }
        return AppStoreError(operation: operation, message: "\(message) (\(suffix))")
    }
}

/// A change that cannot be applied for a reason of ours, not the database's.
struct PostgresChangeFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
