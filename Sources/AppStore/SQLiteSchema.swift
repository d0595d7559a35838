internal import GRDB

extension SQLiteAppStore {
    /// Creates SPEC §6's default schema, with the configured names, where it is missing,
    /// in one transaction, and returns a description of each change made (empty when
    /// there was nothing to do):
    ///
    /// - the users table: `key TEXT PRIMARY KEY NOT NULL, ldap_managed INTEGER NOT NULL
    ///   DEFAULT 0, active INTEGER NOT NULL DEFAULT 1, updated_at TEXT`, then one column
    ///   per mapped attribute (TEXT for text and jsonArray, BLOB for blob);
    /// - an existing users table gets the managed, active, updatedAt and mapped columns it
    ///   lacks (`ALTER TABLE ADD COLUMN`); its other columns are left alone (a missing key
    ///   column cannot be added: ``validateSchema()`` reports it);
    /// - the memberships table: `group_name TEXT NOT NULL, user_key TEXT NOT NULL,
    ///   PRIMARY KEY(group_name, user_key)`, and an index on the user column unless an
    ///   index already starts with it.
    @discardableResult
    public func createDefaultSchemaReportingChanges() throws -> [String] {
        try entering {
            do {
                var report: [String] = []
                try queue.inTransaction(.immediate) { db in
                    report = try createDefaultSchema(db)
                    return .commit
                }
                return report
            } catch let error as AppStoreError {
                throw error
            } catch {
                throw mapError(error, operation: "create default schema", busyTimeout: busyTimeout)
            }
        }
    }

    private func createDefaultSchema(_ db: Database) throws -> [String] {
        var report: [String] = []
        let usersColumns: [(name: String, definition: String)] =
            [
                (schema.managedColumn, "INTEGER NOT NULL DEFAULT 0"),
                (schema.activeColumn, "INTEGER NOT NULL DEFAULT 1"),
            ]
            + (schema.updatedAtColumn.map { [($0, "TEXT")] } ?? [])
            + schema.columns.map { ($0.name, $0.kind == .blob ? "BLOB" : "TEXT") }

        let existingUsers = try columnInfo(of: schema.usersTable, in: db)
        if existingUsers.isEmpty {
            let definitions = ["\(sql.key) TEXT PRIMARY KEY NOT NULL"]
                + usersColumns.map { "\($0.name.quotedIdentifier) \($0.definition)" }
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(sql.users) (\(definitions.joined(separator: ", ")))")
            report.append("created table \(sql.users)")
        } else {
            let present = Set(existingUsers.map { $0.name.lowercased() })
            for column in usersColumns where !present.contains(column.name.lowercased()) {
                let definition = "\(column.name.quotedIdentifier) \(column.definition)"
                try db.execute(sql: "ALTER TABLE \(sql.users) ADD COLUMN \(definition)")
                report.append("added column \(definition) to table \(sql.users)")
            }
        }

        let existingMemberships = try columnInfo(of: schema.membershipsTable, in: db)
        if existingMemberships.isEmpty {
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS \(sql.memberships) (\(sql.memberGroup) TEXT NOT NULL, \
                \(sql.memberUser) TEXT NOT NULL, PRIMARY KEY(\(sql.memberGroup), \(sql.memberUser)))
                """)
            report.append("created table \(sql.memberships)")
        }
        let userColumnPresent = existingMemberships.isEmpty
            || existingMemberships.contains { $0.name.lowercased() == schema.membershipUserColumn.lowercased() }
        if userColumnPresent, try !hasIndex(startingWith: schema.membershipUserColumn, on: schema.membershipsTable, in: db) {
            let index = "\(schema.membershipsTable)_by_\(schema.membershipUserColumn)".quotedIdentifier
            try db.execute(sql: "CREATE INDEX IF NOT EXISTS \(index) ON \(sql.memberships) (\(sql.memberUser))")
            report.append("created index \(index) on table \(sql.memberships) (\(sql.memberUser))")
        }
        return report
    }

    /// Every problem that would make a run fail, as sentences.
    func schemaProblems(_ db: Database) throws -> [String] {
        var problems: [String] = []

        let users = try columnInfo(of: schema.usersTable, in: db)
        if users.isEmpty {
            problems.append("there is no table \(sql.users)")
        } else {
            let byName = Dictionary(users.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { first, _ in first })
            let required: [(name: String, holdsText: Bool)] =
                [(schema.keyColumn, true), (schema.managedColumn, false), (schema.activeColumn, false)]
                + (schema.updatedAtColumn.map { [($0, false)] } ?? [])
                + schema.columns.map { ($0.name, $0.kind != .blob) }
            for column in required {
                guard let info = byName[column.name.lowercased()] else {
                    problems.append("table \(sql.users) has no column \(column.name.quotedIdentifier)")
                    continue
                }
                // INTEGER, REAL and NUMERIC affinity turn text such as "0123" or "1e3"
                // into numbers, and INTEGER PRIMARY KEY refuses text altogether.
                if column.holdsText, let affinity = Self.numericAffinity(ofDeclaredType: info.type) {
                    problems.append(
                        "column \(column.name.quotedIdentifier) of table \(sql.users) is declared "
                            + "\(info.type.debugDescription) (\(affinity) affinity), which stores text such as "
                            + "\"0123\" as a number: declare it TEXT"
                    )
                }
            }
            if let key = byName[schema.keyColumn.lowercased()], try !isUnique(key.name, in: users, db: db) {
                problems.append(
                    "column \(sql.key) of table \(sql.users) is neither the PRIMARY KEY nor UNIQUE: "
                        + "a key must identify one user"
                )
            }
        }

        let memberships = try columnInfo(of: schema.membershipsTable, in: db)
        if memberships.isEmpty {
            problems.append("there is no table \(sql.memberships)")
        } else {
            let names = Set(memberships.map { $0.name.lowercased() })
            for column in [schema.membershipGroupColumn, schema.membershipUserColumn]
            where !names.contains(column.lowercased()) {
                problems.append("table \(sql.memberships) has no column \(column.quotedIdentifier)")
            }
        }
        return problems
    }

    /// Whether the users table's key column is its primary key or has a unique index.
    func keyIsUnique(_ db: Database) throws -> Bool {
        let columns = try columnInfo(of: schema.usersTable, in: db)
        guard let key = columns.first(where: { $0.name.lowercased() == schema.keyColumn.lowercased() }) else {
            return false
        }
        return try isUnique(key.name, in: columns, db: db)
    }

    /// `PRAGMA table_info` of a table (empty when there is no such table), read directly
    /// rather than from GRDB's schema cache, which another process's changes bypass.
    private func columnInfo(of table: String, in db: Database) throws -> [(name: String, type: String, pk: Int)] {
        let tableExists = try Int.fetchOne(
            db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE", arguments: [table]
        ) != nil
        guard tableExists else { return [] }
        return try Row.fetchAll(db, sql: "SELECT name, type, pk FROM pragma_table_info(?)", arguments: [table]).map {
            (name: $0[0], type: $0[1] ?? "", pk: $0[2])
        }
    }

    /// Whether `column` alone is the primary key or has a unique index of its own.
    private func isUnique(_ column: String, in columns: [(name: String, type: String, pk: Int)], db: Database) throws -> Bool {
        let primaryKey = columns.filter { $0.pk > 0 }
        if primaryKey.count == 1, primaryKey[0].name.lowercased() == column.lowercased() {
            return true
        }
        let uniqueIndexes = try String.fetchAll(
            db, sql: "SELECT name FROM pragma_index_list(?) WHERE \"unique\" AND NOT partial", arguments: [schema.usersTable]
        )
        for index in uniqueIndexes {
            let indexed = try String?.fetchAll(db, sql: "SELECT name FROM pragma_index_info(?)", arguments: [index])
            if indexed.count == 1, let name = indexed[0], name.lowercased() == column.lowercased() {
                return true
            }
        }
        return false
    }

    /// Whether an index of the memberships table starts with its user column: the runs
    /// look memberships up by user (``memberships(ofUsers:in:)``), and without one every
    /// look-up reads the whole table. `ldapsync init` adds one; `doctor` warns without.
    public func membershipsHaveUserIndex() throws -> Bool {
        try entering {
            try queue.read { db in try hasIndex(startingWith: schema.membershipUserColumn, on: schema.membershipsTable, in: db) }
        }
    }

    private func hasIndex(startingWith column: String, on table: String, in db: Database) throws -> Bool {
        let indexes = try String.fetchAll(db, sql: "SELECT name FROM pragma_index_list(?)", arguments: [table])
        for index in indexes {
            let first = try String.fetchOne(
                db, sql: "SELECT name FROM pragma_index_info(?) WHERE seqno = 0", arguments: [index]
            )
            if let first, first.lowercased() == column.lowercased() { return true }
        }
        return false
    }

    /// SQLite's affinity rules (§3.1 of "Datatypes In SQLite") for a declared type, when
    /// the affinity is INTEGER, REAL or NUMERIC.
    static func numericAffinity(ofDeclaredType type: String) -> String? {
        let upper = type.uppercased()
        if upper.contains("INT") { return "INTEGER" }
        if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") { return nil }
        if upper.contains("BLOB") || upper.isEmpty { return nil }
        if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") { return "REAL" }
        return "NUMERIC"
    }
}
