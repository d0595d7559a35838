import Foundation
import PostgresSupport
import Testing
@testable import AppStore

extension Trait where Self == ConditionTrait {
    /// Skips the test, saying why, when this machine cannot run a private PostgreSQL
    /// server (not root, postgresql not installed, or LDAPSYNC_SKIP_POSTGRES set).
    static var postgres: Self {
        .enabled(if: PostgresServer.availability() == nil,
                 Comment(rawValue: "needs a private PostgreSQL server: \(PostgresServer.availability() ?? "")"))
    }
}

/// What only the PostgreSQL store has: its schema checks, column types an application
/// may have chosen (boolean flags, timestamptz, jsonb), and its connection.
@Suite(.postgres) struct PostgresAppStoreTests {
    @Test func createDefaultSchemaCreatesSpecSixsTablesOnceAndIsIdempotent() throws {
        try withDatabase(.postgres) { database in
            let store = try #require(try database.open(testSchema()) as? PostgresAppStore)
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"created table "users""#,
                #"created table "group_members""#,
                #"created index "group_members_by_user_key" on table "group_members" ("user_key")"#,
            ])
            try store.validateSchema()
            #expect(try store.createDefaultSchemaReportingChanges() == [])
            let columns = try database.raw.rows("""
                SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
                FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position
                """)
            #expect(columns == [
                "group_members|group_name|text|NO|", "group_members|user_key|text|NO|",
                "users|key|text|NO|", "users|ldap_managed|integer|NO|0", "users|active|integer|NO|1",
                "users|updated_at|text|YES|", "users|email|text|YES|", "users|phone|text|YES|",
                "users|roles|text|YES|", "users|photo|bytea|YES|",
            ])
        }
    }

    /// The apply looks present memberships up by index (joins by nested loop) only where
    /// an index starts with the group and user columns; either way they are kept once.
    @Test func membershipLookUpsGoByIndexOnlyWhereThereIsOne() throws {
        let columns = "group_name TEXT NOT NULL, user_key TEXT NOT NULL"
        let cases: [(sql: String, indexed: Bool)] = [
            ("CREATE TABLE group_members (\(columns), PRIMARY KEY (group_name, user_key));", true),
            ("CREATE TABLE group_members (\(columns), since DATE); CREATE INDEX pair ON group_members (user_key, group_name, since);", true),
            ("CREATE TABLE group_members (\(columns));", false),
            ("CREATE TABLE group_members (\(columns)); CREATE INDEX only_user ON group_members (user_key);", false),
            ("CREATE TABLE group_members (\(columns)); CREATE INDEX partial ON group_members (group_name, user_key) WHERE user_key <> '';", false),
        ]
        for (sql, indexed) in cases {
            try withDatabase(.postgres) { database in
                try database.raw.execute(sql)
                let store = try #require(try database.open(testSchema()) as? PostgresAppStore)
                try store.createDefaultSchema()
                #expect(try store.membershipPairIsIndexed() == indexed, "\(sql)")
                try store.apply([.create(user("a")), .addMembership(user: "a", group: "g")])
                try store.apply([.addMembership(user: "a", group: "g"), .addMembership(user: "a", group: "h")])
                #expect(try database.raw.rows("SELECT group_name || '/' || user_key FROM group_members ORDER BY 1") == ["g/a", "h/a"], "\(sql)")
            }
        }
    }

    /// The attempt writes new memberships by COPY, without looking them up, only where a
    /// unique index has exactly the pair: a pair present already then fails the attempt
    /// (the careful apply keeps it once); elsewhere the attempt looks them up as the
    /// careful apply does. Either way each pair is stored once.
    @Test func theAttemptCopiesMembershipsOnlyWhereAPairCannotBeStoredTwice() throws {
        let columns = "group_name TEXT NOT NULL, user_key TEXT NOT NULL"
        let cases: [(sql: String, unique: Bool)] = [
            ("CREATE TABLE group_members (\(columns), PRIMARY KEY (group_name, user_key));", true),
            ("CREATE TABLE group_members (\(columns)); CREATE UNIQUE INDEX pair ON group_members (user_key, group_name);", true),
            ("CREATE TABLE group_members (\(columns), since DATE); CREATE UNIQUE INDEX wider ON group_members (user_key, group_name, since);", false),
            ("CREATE TABLE group_members (\(columns)); CREATE INDEX pair ON group_members (group_name, user_key);", false),
            ("CREATE TABLE group_members (\(columns)); CREATE UNIQUE INDEX partial ON group_members (group_name, user_key) WHERE user_key <> '';", false),
        ]
        for (sql, unique) in cases {
            try withDatabase(.postgres) { database in
                try database.raw.execute(sql)
                let store = try #require(try database.open(testSchema()) as? PostgresAppStore)
                try store.createDefaultSchema()
                #expect(try store.membershipPairIsUnique() == unique, "\(sql)")
                // An application's own row, for a user ldapsync has not created yet.
                try database.raw.execute("INSERT INTO group_members (group_name, user_key) VALUES ('g', 'a');")
                var batches: [[AppChange]] = [[.create(user("a")), .addMembership(user: "a", group: "g"), .addMembership(user: "a", group: "h")]]
                let replay = batches
                do {
                    try store.tryApply(streaming: { batches.isEmpty ? nil : batches.removeFirst() }, mark: nil)
                    #expect(!unique, "the attempt wrote a pair present already: \(sql)")
                } catch {
                    #expect(unique, "\(error): \(sql)")
                    try store.apply(replayable: { $0 < replay.count ? replay[$0] : nil }, mark: nil)
                }
                #expect(try database.raw.rows("SELECT group_name || '/' || user_key FROM group_members ORDER BY 1") == ["g/a", "h/a"], "\(sql)")
            }
        }
    }

    @Test func createDefaultSchemaAddsMissingColumnsToAnExistingUsersTable() throws {
        try withDatabase(.postgres) { database in
            try database.raw.execute("""
                CREATE TABLE users (key TEXT PRIMARY KEY, email TEXT, nickname TEXT);
                INSERT INTO users (key, email, nickname) VALUES ('local', 'l@example.com', 'lo');
                """)
            let store = try #require(try database.open(testSchema()) as? PostgresAppStore)
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"added column "ldap_managed" INTEGER NOT NULL DEFAULT 0 to table "users""#,
                #"added column "active" INTEGER NOT NULL DEFAULT 1 to table "users""#,
                #"added column "updated_at" TEXT to table "users""#,
                #"added column "phone" TEXT to table "users""#,
                #"added column "roles" TEXT to table "users""#,
                #"added column "photo" BYTEA to table "users""#,
                #"created table "group_members""#,
                #"created index "group_members_by_user_key" on table "group_members" ("user_key")"#,
            ])
            try store.validateSchema()
            let local = try #require(try store.users(withKeys: ["local"])["local"])
            #expect(!local.managed && local.active)
            #expect(try database.raw.rows("SELECT nickname FROM users") == ["lo"])
        }
    }

    @Test func validateSchemaNamesEverythingMissingOrOfTheWrongType() throws {
        try withDatabase(.postgres) { database in
            let store = try database.open(testSchema())
            var error = #expect(throws: AppStoreError.self) { try store.validateSchema() }
            #expect(error?.message.hasPrefix(#"there is no table "users"; there is no table "group_members" (`ldapsync init`"#) == true)

            try database.raw.execute("""
                CREATE TABLE users (key INTEGER, active TEXT, email TEXT, roles JSONB, photo TEXT, updated_at TIMESTAMPTZ);
                CREATE TABLE group_members (group_name TEXT, member TEXT);
                """)
            error = #expect(throws: AppStoreError.self) { try store.validateSchema() }
            #expect(error?.operation == "validate schema")
            #expect(error?.message == """
                column "key" of table "users" is declared integer: declare it text; \
                table "users" has no column "ldap_managed"; \
                column "active" of table "users" is declared text: declare it integer or boolean; \
                table "users" has no column "phone"; \
                column "photo" of table "users" is declared text: declare it bytea; \
                column "key" of table "users" is neither the PRIMARY KEY nor UNIQUE: a key must identify one user; \
                table "group_members" has no column "user_key" \
                (`ldapsync init` creates the default schema and adds missing columns to the users table)
                """)
        }
    }

    @Test func anExistingApplicationTableWithBooleanFlagsTimestamptzAndJsonbIsUsedAsIs() throws {
        try withDatabase(.postgres) { database in
            try database.raw.execute("""
                CREATE TABLE "App People" (
                    id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    login VARCHAR(64) NOT NULL UNIQUE,
                    "is ldap" BOOLEAN NOT NULL DEFAULT false,
                    enabled BOOLEAN NOT NULL DEFAULT true,
                    modified TIMESTAMPTZ,
                    "e-mail" TEXT,
                    "Quote""d" JSONB,
                    picture BYTEA,
                    favourite_colour TEXT DEFAULT 'blue',
                    created_by TEXT NOT NULL DEFAULT 'app');
                CREATE TABLE team_members (team TEXT NOT NULL, member TEXT NOT NULL, since TEXT DEFAULT '2020',
                                           UNIQUE (team, member));
                INSERT INTO "App People" (login, "e-mail", favourite_colour, created_by)
                    VALUES ('local', 'l@example.com', 'green', 'admin');
                INSERT INTO "App People" (login, "is ldap", favourite_colour, modified, "Quote""d")
                    VALUES ('synced', true, 'red', '2020-05-06 07:08:09.5+02', '["a",  "b"]');
                INSERT INTO team_members (team, member, since) VALUES ('ops', 'synced', '2019');
                """)
            var schema = AppSchema()
            schema.usersTable = "App People"
            schema.keyColumn = "login"
            schema.managedColumn = "is ldap"
            schema.activeColumn = "enabled"
            schema.updatedAtColumn = "modified"
            schema.membershipsTable = "team_members"
            schema.membershipUserColumn = "member"
            schema.membershipGroupColumn = "team"
            schema.columns = [
                AppColumn(name: "e-mail", kind: .text), AppColumn(name: "Quote\"d", kind: .jsonArray),
                AppColumn(name: "picture", kind: .blob),
            ]
            let store = try #require(try database.open(schema) as? PostgresAppStore)
            try store.validateSchema()
            #expect(try store.createDefaultSchemaReportingChanges() == [
                #"created index "team_members_by_member" on table "team_members" ("member")"#,
            ])
            // jsonb's own spacing and timestamptz come back in ldapsync's forms.
            let synced = try #require(try store.users(withKeys: ["synced"])["synced"])
            #expect(synced.managed && synced.active)
            #expect(synced.updatedAt == "2020-05-06T05:08:09Z")
            #expect(synced.values["Quote\"d"] == .text(#"["a","b"]"#))

            try store.apply([
                .create(AppUser(key: "new", managed: true, values: ["e-mail": .text("n@example.com"), "picture": .blob([0, 1])])),
                .update(key: "synced", values: ["Quote\"d": .text(#"["x"]"#)]),
                .rename(from: "synced", to: "synced2"),
                .addMembership(user: "new", group: "ops"),
                .addMembership(user: "synced2", group: "ops"),
                .setActive(key: "new", false),
            ])
            #expect(try database.raw.rows("""
                SELECT login, "is ldap", enabled, modified IS NOT NULL, "e-mail", "Quote""d", encode(picture, 'hex'),
                       favourite_colour, created_by FROM "App People" ORDER BY id
                """) == [
                "local|f|t|f|l@example.com|||green|admin",
                #"synced2|t|t|t||["x"]||red|app"#,
                "new|t|f|t|n@example.com||0001|blue|app",
            ])
            #expect(try database.raw.rows("SELECT team, member, since FROM team_members ORDER BY member") == [
                "ops|new|2020", "ops|synced2|2019",
            ])
            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == ["new", "synced2"])
            let new = try #require(try store.users(withKeys: ["new"])["new"])
            #expect(!new.active)
            #expect(new.updatedAt?.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/#) != nil)
        }
    }

    @Test func textWithANulCharacterIsRefusedByName() throws {
        try withStore(.postgres) { store, raw in
            try store.apply([.create(user("u"))])
            let before = try raw.dump()
            var error = #expect(throws: AppStoreError.self) {
                try store.apply([.update(key: "u", values: ["email": .text("a\u{0}b")])])
            }
            #expect(error?.message.contains(#"column "email" contains a NUL character"#) == true)
            error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("nul\u{0}key"))]) }
            #expect(error?.message.contains("NUL character") == true)
            #expect(try raw.dump() == before)
            #expect(try store.users(withKeys: ["nul\u{0}key"]).isEmpty)
        }
    }

    @Test func aValueTheColumnTypeRefusesIsNotQuotedInTheError() throws {
        try withDatabase(.postgres) { database in
            try database.raw.execute("""
                CREATE TABLE users (key TEXT PRIMARY KEY, ldap_managed INTEGER NOT NULL DEFAULT 0,
                                    active INTEGER NOT NULL DEFAULT 1, updated_at TEXT, phone VARCHAR(5));
                CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL);
                """)
            var schema = AppSchema()
            schema.columns = [AppColumn(name: "phone", kind: .text)]
            let store = try database.open(schema)
            try store.apply([.create(AppUser(key: "u", managed: true))])
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.update(key: "u", values: ["phone": .text("secret-too-long")])])
            }
            #expect(error?.operation == #"update user "u""#)
            #expect(error?.message.hasPrefix("value too long for type character varying(5) (SQLSTATE 22001)") == true)
            #expect(error?.description.contains("secret") == false)
        }
    }

    @Test func aLockHeldByTheApplicationFailsTheRunAfterTheLockTimeoutAndWritesNothing() throws {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let password = Secret(Array(try Data(contentsOf: URL(fileURLWithPath: server.passwordFile))))
        let url = server.url(database: database)
        let store = try PostgresAppStore(url: url, password: password, sslMode: "disable", schema: testSchema(),
                                         lockTimeout: .milliseconds(300))
        try store.createDefaultSchema()
        try store.apply([.create(user("u"))])

        // The application, on a connection of its own, holds a row lock.
        let application = try PostgresConnection(url: url, parameters: [("password", password.bytes), ("sslmode", Array("disable".utf8))])
        try application.execute("BEGIN; SELECT 1 FROM users WHERE key = 'u' FOR UPDATE", operation: "lock")
        let clock = ContinuousClock()
        let start = clock.now
        let error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("v")), .setActive(key: "u", false)]) }
        let waited = clock.now - start
        try application.execute("ROLLBACK", operation: "unlock")
        #expect(waited >= .milliseconds(250))
        #expect(waited < .seconds(5))
        #expect(error?.operation == #"deactivate user "u""#)
        #expect(error?.message.contains("lock timeout (SQLSTATE 55P03)") == true)
        #expect(try store.users(withKeys: ["v"]).isEmpty)
        // The lock released, the same batch goes through.
        try store.apply([.create(user("v")), .setActive(key: "u", false)])
        #expect(try store.managedUserCount() == 2)
    }

    @Test func aWrongPasswordIsAConnectionErrorWithoutThePassword() throws {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let error = #expect(throws: AppStoreError.self) {
            try PostgresAppStore(url: server.url(database: database), password: Secret("wrong-secret"), sslMode: "disable",
                                 schema: testSchema())
        }
        #expect(error?.operation == "connect to PostgreSQL")
        #expect(error?.message.contains("password authentication failed") == true)
        #expect(error?.description.contains("wrong-secret") == false)
    }

    /// TLS as configured: verify-full against the test CA connects over TLS; another CA
    /// is refused; disable connects in the clear.
    @Test func sslModeAndCAFileReachLibpq() throws {
        let server = try PostgresServer.shared()
        let database = try server.createDatabase()
        let url = server.url(database: database)
        let password = Secret(Array(try Data(contentsOf: URL(fileURLWithPath: server.passwordFile))))
        func usesTLS(_ store: PostgresAppStore) throws -> String? {
            try store.connection.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", operation: "test").text(0, 0)
        }
        let verified = try PostgresAppStore(url: url, password: password, sslMode: "verify-full", caFile: server.caFile,
                                            schema: testSchema())
        #expect(try usesTLS(verified) == "t")
        #expect(try usesTLS(PostgresAppStore(url: url, password: password, sslMode: "require", schema: testSchema())) == "t")
        #expect(try usesTLS(PostgresAppStore(url: url, password: password, sslMode: "disable", schema: testSchema())) == "f")

        let error = #expect(throws: AppStoreError.self) {
            try PostgresAppStore(url: url, password: password, sslMode: "verify-full",
                                 caFile: "/etc/ssl/certs/ca-certificates.crt", schema: testSchema())
        }
        #expect(error?.operation == "connect to PostgreSQL")
        #expect(error?.message.contains("certificate verify failed") == true, "\(String(describing: error))")
    }
}
