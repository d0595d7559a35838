import GRDB
import Testing
@testable import AppStore

@Suite struct SchemaTests {
    @Test func createDefaultSchemaCreatesSpecSixsTablesOnceAndIsIdempotent() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            let store = try SQLiteAppStore(path: path, schema: testSchema())
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"created table "users""#,
                #"created table "group_members""#,
                #"created index "group_members_by_user_key" on table "group_members" ("user_key")"#,
            ])
            try store.validateSchema()
            #expect(try store.createDefaultSchemaReportingChanges() == [])
            try store.createDefaultSchema()

            let sql = try rawConnection(path).read { db in
                try String.fetchAll(db, sql: "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            }
            #expect(sql == [
                #"CREATE TABLE "group_members" ("group_name" TEXT NOT NULL, "user_key" TEXT NOT NULL, PRIMARY KEY("group_name", "user_key"))"#,
                #"CREATE INDEX "group_members_by_user_key" ON "group_members" ("user_key")"#,
                #"CREATE TABLE "users" ("key" TEXT PRIMARY KEY NOT NULL, "ldap_managed" INTEGER NOT NULL DEFAULT 0, "active" INTEGER NOT NULL DEFAULT 1, "updated_at" TEXT, "email" TEXT, "phone" TEXT, "roles" TEXT, "photo" BLOB)"#,
            ])
        }
    }

    @Test func createDefaultSchemaAddsMissingColumnsToAnExistingUsersTable() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE users (key TEXT PRIMARY KEY, email TEXT, nickname TEXT);
                    INSERT INTO users (key, email, nickname) VALUES ('local', 'l@example.com', 'lo');
                    """)
            }
            let store = try SQLiteAppStore(path: path, schema: testSchema())
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"added column "ldap_managed" INTEGER NOT NULL DEFAULT 0 to table "users""#,
                #"added column "active" INTEGER NOT NULL DEFAULT 1 to table "users""#,
                #"added column "updated_at" TEXT to table "users""#,
                #"added column "phone" TEXT to table "users""#,
                #"added column "roles" TEXT to table "users""#,
                #"added column "photo" BLOB to table "users""#,
                #"created table "group_members""#,
                #"created index "group_members_by_user_key" on table "group_members" ("user_key")"#,
            ])
            try store.validateSchema()
            #expect(try store.createDefaultSchemaReportingChanges() == [])
            let local = try #require(try store.users(withKeys: ["local"])["local"])
            #expect(!local.managed && local.active)
            #expect(local.values["email"] == .text("l@example.com"))
            let nickname = try rawConnection(path).read { db in try String.fetchOne(db, sql: "SELECT nickname FROM users") }
            #expect(nickname == "lo")
        }
    }

    @Test func validateSchemaNamesEverythingMissing() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE users (key TEXT, active INTEGER, email TEXT, roles TEXT);
                    CREATE TABLE group_members (group_name TEXT, member TEXT);
                    """)
            }
            let store = try SQLiteAppStore(path: path, schema: testSchema())
            let error = #expect(throws: AppStoreError.self) { try store.validateSchema() }
            #expect(error?.operation == "validate schema")
            #expect(error?.message == """
                table "users" has no column "ldap_managed"; table "users" has no column "updated_at"; \
                table "users" has no column "phone"; table "users" has no column "photo"; \
                column "key" of table "users" is neither the PRIMARY KEY nor UNIQUE: a key must identify one user; \
                table "group_members" has no column "user_key" \
                (`ldapsync init` creates the default schema and adds missing columns to the users table)
                """)
        }
    }

    @Test func validateSchemaNamesMissingTables() throws {
        try withTemporaryDirectory { directory in
            let store = try SQLiteAppStore(path: directory + "/app.db", schema: testSchema())
            let error = #expect(throws: AppStoreError.self) { try store.validateSchema() }
            #expect(error?.message.hasPrefix(#"there is no table "users"; there is no table "group_members" (`ldapsync init`"#) == true)
        }
    }

    @Test(arguments: [
        ("INTEGER", "INTEGER"), ("VARCHAR(20)", nil), ("", nil), ("NUMERIC", "NUMERIC"),
        ("DOUBLE PRECISION", "REAL"), ("BLOB", nil), ("DATETIME", "NUMERIC"), ("CHARINT", "INTEGER"),
    ] as [(String, String?)])
    func numericAffinityFollowsSQLiteRules(type: String, affinity: String?) {
        #expect(SQLiteAppStore.numericAffinity(ofDeclaredType: type) == affinity)
    }

    @Test func validateSchemaRefusesTextColumnsThatSQLiteWouldTurnIntoNumbers() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE users (key INTEGER PRIMARY KEY, ldap_managed INT, active INT, updated_at DATETIME,
                                        email TEXT, phone NUMERIC, roles VARCHAR, photo INTEGER);
                    CREATE TABLE group_members (group_name TEXT, user_key TEXT);
                    """)
            }
            let store = try SQLiteAppStore(path: path, schema: testSchema())
            let error = #expect(throws: AppStoreError.self) { try store.validateSchema() }
            let message = try #require(error?.message)
            #expect(message.contains(#"column "key" of table "users" is declared "INTEGER" (INTEGER affinity)"#))
            #expect(message.contains(#"column "phone" of table "users" is declared "NUMERIC" (NUMERIC affinity)"#))
            #expect(!message.contains(#"column "photo""#))
            #expect(!message.contains(#"column "updated_at""#))
            #expect(!message.contains("PRIMARY KEY nor UNIQUE"))
        }
    }
}
