import Foundation
import GRDB
import Testing
@testable import AppStore

@Suite struct SQLiteAppStoreTests {
    @Test func createUpdateRenameAndMembershipsRoundTrip() throws {
        try withStore { store, _ in
            try store.apply([
                .create(user("alice", email: "alice@example.com", roles: ["admin", "dev"])),
                .create(user("bob")),
                .addMembership(user: "alice", group: "staff"),
                .addMembership(user: "alice", group: "admins"),
                .addMembership(user: "bob", group: "staff"),
            ])
            var users = try store.users(withKeys: ["alice", "bob", "carol"])
            #expect(Set(users.keys) == ["alice", "bob"])
            let alice = try #require(users["alice"])
            #expect(alice.managed && alice.active)
            #expect(alice.values["email"] == .text("alice@example.com"))
            #expect(alice.values["roles"] == .text(#"["admin","dev"]"#))
            #expect(alice.values["phone"] == .null)
            #expect(alice.values["photo"] == .null)
            #expect(users["bob"]?.values["email"] == .null)

            try store.apply([
                .update(key: "alice", values: ["phone": .text("+1 555 0100"), "email": .null]),
                .setActive(key: "bob", false),
                .rename(from: "alice", to: "alice.smith"),
            ])
            users = try store.users(withKeys: ["alice", "alice.smith", "bob"])
            #expect(Set(users.keys) == ["alice.smith", "bob"])
            #expect(users["alice.smith"]?.values["phone"] == .text("+1 555 0100"))
            #expect(users["alice.smith"]?.values["email"] == .null)
            #expect(users["alice.smith"]?.values["roles"] == .text(#"["admin","dev"]"#))
            #expect(users["bob"]?.active == false)
            #expect(users["bob"]?.managed == true)

            let groups: Set<String> = ["staff", "admins", "unrelated"]
            #expect(try store.memberships(ofUsers: ["alice", "alice.smith", "bob"], in: groups) == [
                "alice.smith": ["staff", "admins"], "bob": ["staff"],
            ])
            try store.apply([
                .removeMembership(user: "alice.smith", group: "admins"),
                .removeMembership(user: "alice.smith", group: "admins"),
                .addMembership(user: "bob", group: "staff"),
            ])
            #expect(try store.memberships(ofUsers: ["alice.smith", "bob"], in: groups) == [
                "alice.smith": ["staff"], "bob": ["staff"],
            ])
        }
    }

    @Test func membershipsAreFilteredByTheGivenGroups() throws {
        try withStore { store, _ in
            let manyGroups = (0..<1_200).map { "group-\($0)" }
            try store.apply(
                [.create(user("u"))] + manyGroups.map { .addMembership(user: "u", group: $0) }
                    + [.addMembership(user: "other", group: "group-1")]
            )
            #expect(try store.memberships(ofUsers: ["u"], in: []) == [:])
            #expect(try store.memberships(ofUsers: [], in: ["group-1"]) == [:])
            #expect(try store.memberships(ofUsers: ["u"], in: ["group-7", "nope"]) == ["u": ["group-7"]])
            // More groups than one query binds: filtered after reading.
            let wide = Set(manyGroups.prefix(700)).union(["nope"])
            #expect(try store.memberships(ofUsers: ["u", "nobody"], in: wide) == ["u": Set(manyGroups.prefix(700))])
        }
    }

    @Test func lookupsCrossBatchBoundaries() throws {
        try withStore { store, _ in
            let keys = (0..<1_201).map { String(format: "user%05d", $0) }
            try store.apply(keys.map { .create(user($0)) } + keys.map { .addMembership(user: $0, group: "all") })
            let users = try store.users(withKeys: keys + ["missing"] + keys.prefix(3))
            #expect(users.count == keys.count)
            #expect(try store.memberships(ofUsers: keys, in: ["all"]).count == keys.count)
            #expect(try store.managedUserCount() == keys.count)
        }
    }

    @Test func untaggedUsersAreFoundButNeverListedOrTouched() throws {
        try withStore { store, path in
            try rawConnection(path).write { db in
                try db.execute(sql: "INSERT INTO users (key, email) VALUES ('local', 'local@example.com')")
                try db.execute(sql: "INSERT INTO users (key, ldap_managed) VALUES ('zed', 7)")
            }
            try store.apply([.create(user("m1")), .create(user("m0"))])
            let local = try #require(try store.users(withKeys: ["local"])["local"])
            #expect(!local.managed)
            #expect(local.active)
            #expect(local.values["email"] == .text("local@example.com"))

            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == ["m0", "m1", "zed"])
            #expect(try store.managedUserCount() == 3)

            let before = try dump(path)
            for change in [
                AppChange.update(key: "local", values: ["email": .text("x")]),
                .setActive(key: "local", false),
                .rename(from: "local", to: "other"),
            ] {
                let error = #expect(throws: AppStoreError.self) { try store.apply([change]) }
                #expect(error?.message.contains("not managed by ldapsync") == true)
            }
            #expect(try dump(path) == before)

            // Adoption: tag first, then update, in one batch.
            try store.apply([.setManaged(key: "local", true), .update(key: "local", values: ["phone": .text("1")])])
            #expect(try store.users(withKeys: ["local"])["local"]?.managed == true)
        }
    }

    @Test func changesToMissingUsersAreErrors() throws {
        try withStore { store, _ in
            for change in [
                AppChange.update(key: "ghost", values: [:]),
                .setManaged(key: "ghost", true),
                .setActive(key: "ghost", true),
                .rename(from: "ghost", to: "spirit"),
            ] {
                let error = #expect(throws: AppStoreError.self) { try store.apply([change]) }
                #expect(error?.message.contains("no such user") == true)
                #expect(error?.operation.contains("\"ghost\"") == true)
            }
        }
    }

    @Test func forEachManagedUserStreamsInBytewiseKeyOrder() throws {
        try withStore { store, _ in
            let keys = ["b", "a", "B", "é", "e", "a b", "Z", "aa", "10", "9"]
            try store.apply(keys.map { .create(user($0)) })
            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        }
    }

    @Test func theStoreRefusesToBeCalledFromInsideItsOwnIteration() throws {
        try withStore { store, _ in
            try store.apply([.create(user("a"))])
            let error = #expect(throws: AppStoreError.self) {
                try store.forEachManagedUser { _ in _ = try store.users(withKeys: ["a"]) }
            }
            #expect(error?.message.contains("not reentrant") == true)
            #expect(try store.users(withKeys: ["a"]).count == 1)
        }
    }

    @Test func errorsThrownByTheBodyPassThroughUnchanged() throws {
        struct Stop: Error, Equatable {}
        try withStore { store, _ in
            try store.apply([.create(user("a")), .create(user("b"))])
            var seen = 0
            #expect(throws: Stop()) {
                try store.forEachManagedUser { _ in
                    seen += 1
                    throw Stop()
                }
            }
            #expect(seen == 1)
            #expect(try store.managedUserCount() == 2)
        }
    }

    @Test func keysAreComparedExactly() throws {
        try withStore { store, _ in
            try store.apply([.create(user("Alice")), .create(user("alice "))])
            #expect(try store.users(withKeys: ["alice", "ALICE", " Alice"]).isEmpty)
            #expect(Set(try store.users(withKeys: ["Alice", "alice "]).keys) == ["Alice", "alice "])
        }
    }

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

    @Test func aDuplicateCreateIsRefusedWhateverConstraintsTheTableHas() throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TABLE users (key TEXT, ldap_managed INTEGER, active INTEGER, updated_at TEXT,
                                        email TEXT UNIQUE, phone TEXT, roles TEXT, photo BLOB);
                    CREATE TABLE group_members (group_name TEXT, user_key TEXT);
                    INSERT INTO users (key, email) VALUES ('taken', 'taken@example.com');
                    """)
            }
            let store = try SQLiteAppStore(path: path, schema: testSchema())
            let before = try dump(path)
            // No unique key: the store looks the key up itself.
            var error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("new")), .create(user("taken"))]) }
            #expect(error?.description == #"app store: create user "taken": a user with this key already exists (change 2 of 2; nothing was written)"#)
            // The application's own constraint: SQLite's message, without the value.
            error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("other", email: "taken@example.com"))]) }
            #expect(error?.message.hasPrefix("UNIQUE constraint failed: users.email (SQLite result code 2067)") == true)
            #expect(error?.description.contains("taken@") == false)
            #expect(try dump(path) == before)
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

    @Test func everyByteValueRoundTripsAsABlob() throws {
        try withStore { store, path in
            let bytes = Array(0...255) + [0, 0, 255, 0] as [UInt8]
            try store.apply([.create(user("photo", photo: bytes)), .create(user("empty", photo: []))])
            let users = try store.users(withKeys: ["photo", "empty"])
            #expect(users["photo"]?.values["photo"] == .blob(bytes))
            #expect(users["empty"]?.values["photo"] == .blob([]))
            let types = try rawConnection(path).read { db in
                try String.fetchAll(db, sql: "SELECT typeof(photo) || ':' || length(photo) FROM users ORDER BY key")
            }
            #expect(types == ["blob:0", "blob:260"])
            try store.apply([.update(key: "photo", values: ["photo": .blob([0])])])
            #expect(try store.users(withKeys: ["photo"])["photo"]?.values["photo"] == .blob([0]))
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
        ("email", AppValue.blob([1])), ("email", .integer(1)), ("photo", .text("x")),
        ("roles", .text("not json")), ("roles", .blob([])), ("nonexistent", .text("x")), ("key", .text("x")),
    ])
    func valuesThatDoNotFitTheirColumnAreRefused(column: String, value: AppValue) throws {
        try withStore { store, path in
            try store.apply([.create(user("u"))])
            let before = try dump(path)
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.update(key: "u", values: [column: value])])
            }
            #expect(error?.operation == #"update user "u""#)
            #expect(error?.message.contains(column) == true)
            #expect(try dump(path) == before)
        }
    }

    @Test func renameRefusesATakenKeyAndInheritsNoOrphanedMemberships() throws {
        try withStore { store, path in
            try store.apply([
                .create(user("a")), .create(user("b")),
                .addMembership(user: "a", group: "g"), .addMembership(user: "orphan", group: "admins"),
            ])
            let before = try dump(path)
            var error = #expect(throws: AppStoreError.self) { try store.apply([.rename(from: "a", to: "b")]) }
            #expect(error?.description == #"app store: rename user "a" to "b": a user with key "b" already exists (change 1 of 1; nothing was written)"#)
            error = #expect(throws: AppStoreError.self) { try store.apply([.rename(from: "a", to: "orphan")]) }
            #expect(error?.message.contains("already has memberships") == true)
            #expect(try dump(path) == before)

            try store.apply([.rename(from: "a", to: "a")])
            try store.apply([.rename(from: "a", to: "c"), .rename(from: "b", to: "a")])
            #expect(try store.memberships(ofUsers: ["a", "c"], in: ["g"]) == ["c": ["g"]])
        }
    }

    @Test func updatedAtIsISO8601UTCOnEveryUsersRowWritten() throws {
        try withStore { store, path in
            try rawConnection(path).write { db in
                try db.execute(sql: "INSERT INTO users (key, ldap_managed, updated_at) VALUES ('old', 1, '2000-01-01 00:00:00')")
            }
            let start = Int64(Date().timeIntervalSince1970)
            try store.apply([.create(user("new")), .setActive(key: "old", false), .addMembership(user: "old", group: "g")])
            let end = Int64(Date().timeIntervalSince1970)
            let users = try store.users(withKeys: ["new", "old"])
            let allowed = Set((start...end).map { SQLiteAppStore.iso8601UTC(secondsSince1970: $0) })
            #expect(allowed.contains(try #require(users["new"]?.updatedAt)))
            #expect(users["old"]?.updatedAt == users["new"]?.updatedAt)
            let pattern = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/#
            #expect(try #require(users["new"]?.updatedAt).wholeMatch(of: pattern) != nil)
        }
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"), (1_795_275_000, "2026-11-21T15:30:00Z"),
        (951_868_799, "2000-02-29T23:59:59Z"), (-1, "1969-12-31T23:59:59Z"),
    ])
    func timestampsAreFormattedInUTC(seconds: Int64, text: String) {
        #expect(SQLiteAppStore.iso8601UTC(secondsSince1970: seconds) == text)
    }

    @Test func updatedAtIsNotWrittenWhenTheSchemaHasNone() throws {
        var schema = testSchema()
        schema.updatedAtColumn = nil
        try withStore(schema: schema) { store, _ in
            try store.apply([.create(user("u")), .update(key: "u", values: [:])])
            #expect(try store.users(withKeys: ["u"])["u"]?.updatedAt == nil)
        }
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
