import Foundation
import GRDB
import Testing
@testable import AppStore

@Suite struct SQLiteAppStoreTests {
    @Test func keysMatchingOnlyThroughANocaseCollationAreNotReturned() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE users (key TEXT PRIMARY KEY COLLATE NOCASE, ldap_managed INTEGER NOT NULL DEFAULT 0,
                                        active INTEGER NOT NULL DEFAULT 1, updated_at TEXT);
                    CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL);
                    INSERT INTO users (key, ldap_managed) VALUES ('Alice', 1);
                    """)
            }
            let store = try SQLiteAppStore(path: path, schema: AppSchema())
            #expect(try store.users(withKeys: ["alice"]).isEmpty)
            #expect(try store.users(withKeys: ["Alice"]).count == 1)
            let error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("alice"))]) }
            #expect(error?.message.contains("already exists") == true)
        }
    }

    @Test func anExistingApplicationTableWithOtherNamesIsUsedAndItsOtherColumnsAreUntouched() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE "App People" (
                        id INTEGER PRIMARY KEY,
                        login TEXT NOT NULL UNIQUE,
                        "is ldap" INTEGER NOT NULL DEFAULT 0,
                        enabled INTEGER NOT NULL DEFAULT 1,
                        modified TEXT,
                        "e-mail" TEXT,
                        "Quote""d" TEXT,
                        favourite_colour TEXT DEFAULT 'blue',
                        created_by TEXT NOT NULL DEFAULT 'app');
                    CREATE TABLE team_members (team TEXT NOT NULL, member TEXT NOT NULL, since TEXT DEFAULT '2020',
                                               UNIQUE (team, member));
                    INSERT INTO "App People" (login, "e-mail", favourite_colour, created_by)
                        VALUES ('local', 'l@example.com', 'green', 'admin');
                    INSERT INTO "App People" (login, "is ldap", favourite_colour) VALUES ('synced', 1, 'red');
                    INSERT INTO team_members (team, member, since) VALUES ('ops', 'synced', '2019');
                    """)
            }
            var schema = AppSchema()
            schema.usersTable = "App People"
            schema.keyColumn = "login"
            schema.managedColumn = "is ldap"
            schema.activeColumn = "enabled"
            schema.updatedAtColumn = "modified"
            schema.membershipsTable = "team_members"
            schema.membershipUserColumn = "member"
            schema.membershipGroupColumn = "team"
            schema.columns = [AppColumn(name: "e-mail", kind: .text), AppColumn(name: "Quote\"d", kind: .jsonArray)]
            let store = try SQLiteAppStore(path: path, schema: schema)
            try store.validateSchema()
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"created index "team_members_by_member" on table "team_members" ("member")"#,
            ])

            try store.apply([
                .create(AppUser(key: "new", managed: true, values: ["e-mail": .text("n@example.com")])),
                .update(key: "synced", values: ["Quote\"d": .text(#"["x"]"#)]),
                .rename(from: "synced", to: "synced2"),
                .addMembership(user: "new", group: "ops"),
                .addMembership(user: "synced2", group: "ops"),
                .setActive(key: "new", false),
            ])

            let rows = try rawConnection(path).read { db in
                try Row.fetchAll(db, sql: """
                    SELECT login, "is ldap", enabled, modified IS NOT NULL, "e-mail", "Quote""d", favourite_colour, created_by
                    FROM "App People" ORDER BY id
                    """)
            }
            #expect(rows.map { $0.description } == [
                #"[login:"local" is ldap:0 enabled:1 modified IS NOT NULL:0 e-mail:"l@example.com" Quote"d:NULL favourite_colour:"green" created_by:"admin"]"#,
                #"[login:"synced2" is ldap:1 enabled:1 modified IS NOT NULL:1 e-mail:NULL Quote"d:"[\"x\"]" favourite_colour:"red" created_by:"app"]"#,
                #"[login:"new" is ldap:1 enabled:0 modified IS NOT NULL:1 e-mail:"n@example.com" Quote"d:NULL favourite_colour:"blue" created_by:"app"]"#,
            ])
            let members = try rawConnection(path).read { db in
                try Row.fetchAll(db, sql: "SELECT team, member, since FROM team_members ORDER BY member")
                    .map { $0.description }
            }
            #expect(members == [#"[team:"ops" member:"new" since:"2020"]"#, #"[team:"ops" member:"synced2" since:"2019"]"#])
            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == ["new", "synced2"])
        }
    }

    @Test func valuesAreReadAsStoredNeverCoerced() throws {
        try withStore { store, path in
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    INSERT INTO users (key, ldap_managed, email, phone, roles, photo)
                    VALUES ('odd', 1, x'00ff', '0123', 'not json', 'text in a blob column');
                    INSERT INTO users (key, ldap_managed, photo) VALUES ('number', 1, 42);
                    """)
            }
            let users = try store.users(withKeys: ["odd", "number"])
            #expect(users["odd"]?.values == [
                "email": .blob([0, 255]), "phone": .text("0123"), "roles": .text("not json"),
                "photo": .text("text in a blob column"),
            ])
            #expect(users["number"]?.values["photo"] == .integer(42))
            try rawConnection(path).write { db in try db.execute(sql: "UPDATE users SET photo = 1.5 WHERE key = 'number'") }
            let error = #expect(throws: AppStoreError.self) { try store.users(withKeys: ["odd", "number"]) }
            #expect(error?.operation == #"read user "number""#)
            #expect(error?.message.contains("REAL") == true)
            #expect(error?.message.contains("\"photo\"") == true)
        }
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (1_795_275_000, "2026-11-21T15:30:00Z"),
        (951_868_799, "2000-02-29T23:59:59Z"), (-1, "1969-12-31T23:59:59Z"),
    ])
    func timestampsAreFormattedInUTC(seconds: Int64, text: String) {
        #expect(SQLiteAppStore.iso8601UTC(secondsSince1970: seconds) == text)
    }

    @Test func aNewDatabaseFileIsPrivateAndTheJournalModeIsLeftAlone() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/new.db"
            _ = try SQLiteAppStore(path: path, schema: testSchema())
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600)

            let walPath = directory + "/wal.db"
            _ = try rawConnection(walPath).writeWithoutTransaction { db in
                try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: walPath)
            let store = try SQLiteAppStore(path: walPath, schema: testSchema())
            try store.createDefaultSchema()
            try store.apply([.create(user("u"))])
            let journal = try rawConnection(walPath).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(journal == "wal")
            let walMode = try FileManager.default.attributesOfItem(atPath: walPath)[.posixPermissions] as? Int
            #expect(walMode == 0o640)

            let rollback = try SQLiteAppStore(path: path, schema: testSchema())
            try rollback.createDefaultSchema()
            let defaultJournal = try rawConnection(path).read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(defaultJournal == "delete")
        }
    }

    @Test func anUnopenablePathIsAClearError() throws {
        try withTemporaryDirectory { directory in
            let error = #expect(throws: AppStoreError.self) {
                try SQLiteAppStore(path: directory + "/missing/app.db", schema: testSchema())
            }
            #expect(error?.message.contains("No such file or directory") == true)

            let notADatabase = directory + "/notes.txt"
            try Data("hello, this is not SQLite at all, not even close............".utf8)
                .write(to: URL(fileURLWithPath: notADatabase))
            #expect(throws: AppStoreError.self) {
                let store = try SQLiteAppStore(path: notADatabase, schema: testSchema())
                try store.validateSchema()
            }
        }
    }

    @Test func aSchemaNamingAColumnTwiceIsRefused() {
        var schema = testSchema()
        schema.columns.append(AppColumn(name: "EMAIL", kind: .text))
        var error = #expect(throws: AppStoreError.self) { try SQLiteAppStore(path: ":memory:", schema: schema) }
        #expect(error?.message == #"column "EMAIL" of table "users" is configured more than once"#)
        schema = testSchema()
        schema.membershipsTable = "nul\u{0}"
        error = #expect(throws: AppStoreError.self) { try SQLiteAppStore(path: ":memory:", schema: schema) }
        #expect(error?.message.contains("NUL character") == true)
    }
}
