extension PostgresAppStore {
    /// Creates SPEC §6's default schema, with the configured names, where it is missing,
    /// in one transaction, and returns a description of each change made:
    ///
    /// - the users table: `key TEXT PRIMARY KEY NOT NULL, ldap_managed INTEGER NOT NULL
    ///   DEFAULT 0, active INTEGER NOT NULL DEFAULT 1, updated_at TEXT`, then one column
    ///   per mapped attribute (TEXT for text and multi-valued (a JSON array as text),
    ///   BYTEA for binary);
    /// - an existing users table gets the columns it lacks (`ALTER TABLE ADD COLUMN`);
    /// - the memberships table: `group_name TEXT NOT NULL, user_key TEXT NOT NULL,
    ///   PRIMARY KEY(group_name, user_key)`, and an index on the user column unless an
    ///   index already starts with it.
    ///
    /// Names are quoted, so they are compared exactly (PostgreSQL folds only unquoted
    /// names to lower case); tables are looked up through the `search_path`.
    @discardableResult
    public func createDefaultSchemaReportingChanges() throws -> [String] {
        try entering {
            let operation = "create default schema"
            try mapped(operation) { try connection.execute("BEGIN", operation: operation) }
            do {
                let report = try mapped(operation) { try createDefaultSchemaInTransaction() }
                try mapped(operation) { try connection.execute("COMMIT", operation: operation) }
                return report
            } catch {
                if connection.inTransaction { try? connection.execute("ROLLBACK", operation: "roll back") }
                throw error
            }
        }
    }

    private func createDefaultSchemaInTransaction() throws -> [String] {
        var report: [String] = []
        let usersColumns: [(name: String, definition: String)] =
            [
                (schema.managedColumn, "INTEGER NOT NULL DEFAULT 0"),
                (schema.activeColumn, "INTEGER NOT NULL DEFAULT 1"),
            ]
            + (schema.updatedAtColumn.map { [($0, "TEXT")] } ?? [])
            + schema.columns.map { ($0.name, $0.kind == .blob ? "BYTEA" : "TEXT") }

        let existingUsers = try columns(of: schema.usersTable)
        if existingUsers.isEmpty {
            let definitions = ["\(sql.key) TEXT PRIMARY KEY NOT NULL"]
                + usersColumns.map { "\($0.name.quotedIdentifier) \($0.definition)" }
            try connection.execute("CREATE TABLE IF NOT EXISTS \(sql.users) (\(definitions.joined(separator: ", ")))",
                                   operation: "create table")
            report.append("created table \(sql.users)")
        } else {
            let present = Set(existingUsers.map(\.name))
            for column in usersColumns where !present.contains(column.name) {
                let definition = "\(column.name.quotedIdentifier) \(column.definition)"
                try connection.execute("ALTER TABLE \(sql.users) ADD COLUMN \(definition)", operation: "add column")
                report.append("added column \(definition) to table \(sql.users)")
            }
        }

        let existingMemberships = try columns(of: schema.membershipsTable)
        if existingMemberships.isEmpty {
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS \(sql.memberships) (\(sql.memberGroup) TEXT NOT NULL, \
                \(sql.memberUser) TEXT NOT NULL, PRIMARY KEY(\(sql.memberGroup), \(sql.memberUser)))
                """, operation: "create table")
            report.append("created table \(sql.memberships)")
        }
        let userColumnPresent = existingMemberships.isEmpty
            || existingMemberships.contains { $0.name == schema.membershipUserColumn }
        if userColumnPresent, try !hasIndex(startingWith: schema.membershipUserColumn, on: schema.membershipsTable) {
            let index = "\(schema.membershipsTable)_by_\(schema.membershipUserColumn)".quotedIdentifier
            try connection.execute("CREATE INDEX IF NOT EXISTS \(index) ON \(sql.memberships) (\(sql.memberUser))",
                                   operation: "create index")
            report.append("created index \(index) on table \(sql.memberships) (\(sql.memberUser))")
        }
        return report
    }

    /// Every problem that would make a run fail, as sentences.
    func schemaProblems() throws -> [String] {
        var problems: [String] = []
        let users = try columns(of: schema.usersTable)
        if users.isEmpty {
            problems.append("there is no table \(sql.users)")
        } else {
            let byName = Dictionary(users.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let required: [(name: String, types: Set<String>, expected: String)] =
                [
                    (schema.keyColumn, Self.textTypes, "text"),
                    (schema.managedColumn, Self.flagTypes, "integer or boolean"),
                    (schema.activeColumn, Self.flagTypes, "integer or boolean"),
                ]
                + (schema.updatedAtColumn.map { [($0, Self.textTypes.union(["timestamp", "timestamptz"]), "text or timestamptz")] } ?? [])
                + schema.columns.map { column in
                    switch column.kind {
                    case .text: (column.name, Self.textTypes, "text")
                    case .jsonArray: (column.name, Self.textTypes.union(["json", "jsonb"]), "text, json or jsonb")
                    case .blob: (column.name, ["bytea"], "bytea")
                    }
                }
            for column in required {
                guard let info = byName[column.name] else {
                    problems.append("table \(sql.users) has no column \(column.name.quotedIdentifier)")
                    continue
                }
                if !column.types.contains(info.baseType) {
                    problems.append(
                        "column \(column.name.quotedIdentifier) of table \(sql.users) is declared \(info.declared): "
                            + "declare it \(column.expected)"
                    )
                }
            }
            if let key = byName[schema.keyColumn], try !isUnique(attribute: key.number, of: schema.usersTable) {
                problems.append(
                    "column \(sql.key) of table \(sql.users) is neither the PRIMARY KEY nor UNIQUE: "
                        + "a key must identify one user"
                )
            }
        }

        let memberships = try columns(of: schema.membershipsTable)
        if memberships.isEmpty {
            problems.append("there is no table \(sql.memberships)")
        } else {
            let byName = Dictionary(memberships.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            for column in [schema.membershipGroupColumn, schema.membershipUserColumn] {
                guard let info = byName[column] else {
                    problems.append("table \(sql.memberships) has no column \(column.quotedIdentifier)")
                    continue
                }
                if !Self.textTypes.contains(info.baseType) {
                    problems.append(
                        "column \(column.quotedIdentifier) of table \(sql.memberships) is declared \(info.declared): declare it text"
                    )
                }
            }
        }
        return problems
    }

    static let textTypes: Set<String> = ["text", "varchar", "bpchar", "citext"]
    static let flagTypes: Set<String> = ["int2", "int4", "int8", "bool"]

    /// The columns of a table (empty when there is no such table), with their types
    /// (a domain's base type), found through the `search_path`.
    private func columns(of table: String) throws -> [(name: String, baseType: String, declared: String, number: Int)] {
        let rows = try connection.query("""
            SELECT a.attname::text, CASE WHEN t.typtype = 'd' THEN b.typname::text ELSE t.typname::text END,
                   format_type(a.atttypid, a.atttypmod), a.attnum
            FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid LEFT JOIN pg_type b ON b.oid = t.typbasetype
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """, [.text(table.quotedIdentifier)], operation: "read the columns of table \(table.quotedIdentifier)")
        return (0..<rows.rowCount).map { row in
            (name: rows.text(row, 0) ?? "", baseType: rows.text(row, 1) ?? "", declared: rows.text(row, 2) ?? "",
             number: Int(rows.text(row, 3) ?? "0") ?? 0)
        }
    }

    /// Whether a unique, non-partial index (a primary key is one) covers exactly this column.
    private func isUnique(attribute: Int, of table: String) throws -> Bool {
        try connection.query("""
            SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL
              AND i.indexprs IS NULL AND i.indnkeyatts = 1 AND i.indkey[0] = $2::smallint
            """, [.text(table.quotedIdentifier), .text(String(attribute))], operation: "read indexes").rowCount > 0
    }

    /// Whether an index of the memberships table starts with its group and user columns
    /// (in either order), as the primary key of the default table does: the look-up of
    /// present memberships while applying can then go by index.
    func membershipPairIsIndexed() throws -> Bool {
        try connection.query("""
            SELECT 1 FROM pg_index i
            JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[0]
            JOIN pg_attribute a2 ON a2.attrelid = i.indrelid AND a2.attnum = i.indkey[1]
            WHERE i.indrelid = to_regclass($1) AND i.indnkeyatts >= 2 AND i.indpred IS NULL
              AND ((a1.attname = $2 AND a2.attname = $3) OR (a1.attname = $3 AND a2.attname = $2))
            """, [.text(schema.membershipsTable.quotedIdentifier), .text(schema.membershipGroupColumn),
                  .text(schema.membershipUserColumn)], operation: "read indexes").rowCount > 0
    }

    /// Whether a unique index (or the primary key) of the memberships table has exactly its
    /// group and user columns, without a predicate: a pair written twice is then refused,
    /// never stored twice, so the attempt (``PostgresAppStore/tryApply(streaming:mark:)``)
    /// may write new memberships without looking them up first.
    func membershipPairIsUnique() throws -> Bool {
        try connection.query("""
            SELECT 1 FROM pg_index i
            JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[0]
            JOIN pg_attribute a2 ON a2.attrelid = i.indrelid AND a2.attnum = i.indkey[1]
            WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnkeyatts = 2 AND i.indpred IS NULL
              AND ((a1.attname = $2 AND a2.attname = $3) OR (a1.attname = $3 AND a2.attname = $2))
            """, [.text(schema.membershipsTable.quotedIdentifier), .text(schema.membershipGroupColumn),
                  .text(schema.membershipUserColumn)], operation: "read indexes").rowCount > 0
    }

    /// Whether an index of the memberships table starts with its user column (see the
    /// SQLite store's ``SQLiteAppStore/membershipsHaveUserIndex()``).
    public func membershipsHaveUserIndex() throws -> Bool {
        try entering {
            try mapped("read indexes") { try hasIndex(startingWith: schema.membershipUserColumn, on: schema.membershipsTable) }
        }
    }

    private func hasIndex(startingWith column: String, on table: String) throws -> Bool {
        try connection.query("""
            SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = to_regclass($1) AND a.attname = $2
            """, [.text(table.quotedIdentifier), .text(column)], operation: "read indexes").rowCount > 0
    }
}
