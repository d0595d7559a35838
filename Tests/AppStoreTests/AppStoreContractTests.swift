import Foundation
import Testing
@testable import AppStore

/// The app-store contract (SPEC §6), run against SQLite and PostgreSQL alike.
@Suite struct AppStoreContractTests {
    @Test(arguments: Backend.available)
    func createUpdateRenameAndMembershipsRoundTrip(backend: Backend) throws {
        try withStore(backend) { store, _ in
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
                .addMembership(user: "bob", group: "new"),
                .addMembership(user: "bob", group: "new"),
            ])
            #expect(try store.memberships(ofUsers: ["alice.smith", "bob"], in: groups.union(["new"])) == [
                "alice.smith": ["staff"], "bob": ["staff", "new"],
            ])
        }
    }

    @Test(arguments: Backend.available)
    func membershipsAreFilteredByTheGivenGroups(backend: Backend) throws {
        try withStore(backend) { store, _ in
            let manyGroups = (0..<1_200).map { "group-\($0)" }
            try store.apply(
                [.create(user("u"))] + manyGroups.map { .addMembership(user: "u", group: $0) }
                    + [.addMembership(user: "other", group: "group-1")]
            )
            #expect(try store.memberships(ofUsers: ["u"], in: []) == [:])
            #expect(try store.memberships(ofUsers: [], in: ["group-1"]) == [:])
            #expect(try store.memberships(ofUsers: ["u"], in: ["group-7", "nope"]) == ["u": ["group-7"]])
            let wide = Set(manyGroups.prefix(700)).union(["nope"])
            #expect(try store.memberships(ofUsers: ["u", "nobody"], in: wide) == ["u": Set(manyGroups.prefix(700))])
        }
    }

    @Test(arguments: Backend.available)
    func lookupsCrossBatchBoundaries(backend: Backend) throws {
        try withStore(backend) { store, _ in
            let keys = (0..<10_201).map { String(format: "user%05d", $0) }
            try store.apply(keys.map { .create(user($0)) } + keys.map { .addMembership(user: $0, group: "all") })
            let users = try store.users(withKeys: keys + ["missing"] + keys.prefix(3))
            #expect(users.count == keys.count)
            #expect(try store.memberships(ofUsers: keys, in: ["all"]).count == keys.count)
            #expect(try store.managedUserCount() == keys.count)
        }
    }

    /// `ldapsync init` (createDefaultSchema) makes the index the look-ups by user need, also
    /// again after it was dropped.
    @Test(arguments: Backend.available)
    func theMembershipsUserIndexIsFoundAndMadeAgain(backend: Backend) throws {
        try withStore(backend) { store, raw in
            #expect(try store.membershipsHaveUserIndex())
            try raw.execute("DROP INDEX group_members_by_user_key")
            #expect(try !store.membershipsHaveUserIndex())
            try store.createDefaultSchema()
            #expect(try store.membershipsHaveUserIndex())
        }
    }

    /// An unmanaged row counts: a first run must look it up (to adopt or refuse it).
    @Test(arguments: Backend.available)
    func aStoreHasNoUsersUntilItHoldsAnyRow(backend: Backend) throws {
        try withStore(backend) { store, raw in
            #expect(try store.hasNoUsers())
            try raw.execute("INSERT INTO users (key) VALUES ('local')")
            #expect(try !store.hasNoUsers())
            try raw.execute("DELETE FROM users")
            #expect(try store.hasNoUsers())
            try store.apply([.create(user("m"))])
            #expect(try !store.hasNoUsers())
        }
    }

    @Test(arguments: Backend.available)
    func untaggedUsersAreFoundButNeverListedOrTouched(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try raw.execute("""
                INSERT INTO users (key, email) VALUES ('local', 'local@example.com');
                INSERT INTO users (key, ldap_managed) VALUES ('zed', 7);
                """)
            try store.apply([.create(user("m1")), .create(user("m0"))])
            let local = try #require(try store.users(withKeys: ["local"])["local"])
            #expect(!local.managed)
            #expect(local.active)
            #expect(local.values["email"] == .text("local@example.com"))

            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == ["m0", "m1", "zed"])
            #expect(try store.managedUserCount() == 3)

            let before = try raw.dump()
            for change in [
                AppChange.update(key: "local", values: ["email": .text("x")]),
                .setActive(key: "local", false),
                .rename(from: "local", to: "other"),
            ] {
                let error = #expect(throws: AppStoreError.self) { try store.apply([change]) }
                #expect(error?.message.contains("not managed by ldapsync") == true)
            }
            #expect(try raw.dump() == before)

            try store.apply([.setManaged(key: "local", true), .update(key: "local", values: ["phone": .text("1")])])
            #expect(try store.users(withKeys: ["local"])["local"]?.managed == true)
        }
    }

    @Test(arguments: Backend.available)
    func changesToMissingUsersAreErrors(backend: Backend) throws {
        try withStore(backend) { store, _ in
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

    @Test(arguments: Backend.available)
    func forEachManagedUserStreamsInBytewiseKeyOrder(backend: Backend) throws {
        try withStore(backend) { store, _ in
            let keys = ["b", "a", "B", "é", "e", "a b", "Z", "aa", "10", "9", "ä", "_", "~"]
                + (0..<2_500).map { "bulk\($0)" }
            try store.apply(keys.map { .create(user($0)) })
            var listed: [String] = []
            try store.forEachManagedUser { listed.append($0.key) }
            #expect(listed == keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        }
    }

    /// `app.findEdits: updated-at`: only rows updated at or after the bound, whichever of
    /// the SPEC's two text forms the application wrote; NULL and older rows are left out.
    @Test(arguments: Backend.available)
    func managedUsersUpdatedSinceABoundAreThoseAtOrAfterIt(backend: Backend) throws {
        try withStore(backend) { store, raw in
            let rows: [(String, String?)] = [
                ("iso-before", "2026-11-21T15:29:59Z"), ("iso-same", "2026-11-21T15:30:00Z"),
                ("iso-after", "2026-11-21T15:30:01Z"), ("iso-fraction", "2026-11-21T15:30:00.250Z"),
                ("space-before", "2026-11-21 15:29:59"), ("space-same", "2026-11-21 15:30:00"), ("space-after", "2026-11-21 15:30:01"),
                ("iso-day-before", "2026-11-20T23:59:59Z"), ("space-day-before", "2026-11-20 23:59:59"),
                ("space-later-day", "2026-11-22 00:00:00"), ("older-year", "2025-12-31T23:59:59Z"),
                ("null", nil),
            ]
            try store.apply(rows.map { .create(user($0.0)) } + [.create(AppUser(key: "unmanaged", managed: false, values: [:]))])
            for (key, updatedAt) in rows + [("unmanaged", "2027-01-01T00:00:00Z")] {
                try raw.execute("UPDATE users SET updated_at = \(updatedAt.map { "'\($0)'" } ?? "NULL") WHERE key = '\(key)'")
            }
            var listed: [String] = []
            try store.forEachManagedUser(updatedSince: Timestamp(seconds: 1_795_275_000, nanoseconds: 500_000_000)) { listed.append($0.key) }
            #expect(listed == ["iso-after", "iso-fraction", "iso-same", "space-after", "space-later-day", "space-same"])
            var all: [String] = []
            try store.forEachManagedUser(updatedSince: nil) { all.append($0.key) }
            #expect(all.count == rows.count)
        }
    }

    @Test(arguments: Backend.available)
    func theStoreRefusesToBeCalledFromInsideItsOwnIteration(backend: Backend) throws {
        try withStore(backend) { store, _ in
            try store.apply([.create(user("a"))])
            let error = #expect(throws: AppStoreError.self) {
                try store.forEachManagedUser { _ in _ = try store.users(withKeys: ["a"]) }
            }
            #expect(error?.message.contains("not reentrant") == true)
            #expect(try store.users(withKeys: ["a"]).count == 1)
        }
    }

    @Test(arguments: Backend.available)
    func errorsThrownByTheBodyPassThroughUnchanged(backend: Backend) throws {
        struct Stop: Error, Equatable {}
        try withStore(backend) { store, _ in
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
            // The store is usable afterwards (its read transaction ended).
            try store.apply([.create(user("c"))])
            #expect(try store.managedUserCount() == 3)
        }
    }

    @Test(arguments: Backend.available)
    func keysAreComparedExactly(backend: Backend) throws {
        try withStore(backend) { store, _ in
            try store.apply([.create(user("Alice")), .create(user("alice "))])
            #expect(try store.users(withKeys: ["alice", "ALICE", " Alice"]).isEmpty)
            #expect(Set(try store.users(withKeys: ["Alice", "alice "]).keys) == ["Alice", "alice "])
        }
    }

    @Test(arguments: Backend.available)
    func aDuplicateCreateIsRefusedWhateverConstraintsTheTableHas(backend: Backend) throws {
        try withDatabase(backend) { database in
            let blob = backend == .sqlite ? "BLOB" : "BYTEA"
            try database.raw.execute("""
                CREATE TABLE users (key TEXT, ldap_managed INTEGER, active INTEGER, updated_at TEXT,
                                    email TEXT UNIQUE, phone TEXT, roles TEXT, photo \(blob));
                CREATE TABLE group_members (group_name TEXT, user_key TEXT);
                INSERT INTO users (key, email) VALUES ('taken', 'taken@example.com');
                """)
            let store = try database.open(testSchema())
            let before = try database.raw.dump()
            var error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("new")), .create(user("taken"))]) }
            #expect(error?.description == #"app store: create user "taken": a user with this key already exists (change 2 of 2; nothing was written)"#)
            error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("new")), .create(user("new"))])
            }
            #expect(error?.description == #"app store: create user "new": a user with this key already exists (change 2 of 2; nothing was written)"#)
            // The application's own constraint: the database's message, without the value,
            // naming the change that failed even inside a multi-row statement.
            error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("a1")), .create(user("other", email: "taken@example.com")), .create(user("a2"))])
            }
            #expect(error?.operation == #"create user "other""#)
            #expect(error?.message.hasSuffix("(change 2 of 3; nothing was written)") == true)
            switch backend {
            case .sqlite: #expect(error?.message.hasPrefix("UNIQUE constraint failed: users.email (SQLite result code 2067)") == true)
            case .postgres: #expect(error?.message.hasPrefix(#"duplicate key value violates unique constraint "users_email_key" (SQLSTATE 23505)"#) == true)
            }
            #expect(error?.description.contains("taken@") == false)
            #expect(try database.raw.dump() == before)
        }
    }

    @Test(arguments: Backend.available)
    func everyByteValueRoundTripsAsABlob(backend: Backend) throws {
        try withStore(backend) { store, raw in
            let bytes = Array(0...255) + [0, 0, 255, 0] as [UInt8]
            try store.apply([.create(user("photo", photo: bytes)), .create(user("empty", photo: []))])
            let users = try store.users(withKeys: ["photo", "empty"])
            #expect(users["photo"]?.values["photo"] == .blob(bytes))
            #expect(users["empty"]?.values["photo"] == .blob([]))
            #expect(try raw.rows("SELECT length(photo) FROM users ORDER BY key") == ["0", "260"])
            try store.apply([.update(key: "photo", values: ["photo": .blob([0])])])
            #expect(try store.users(withKeys: ["photo"])["photo"]?.values["photo"] == .blob([0]))
        }
    }

    /// The attempt writes creates that give every column in one statement (PostgreSQL:
    /// one `COPY` in its text format); every kind of value comes back as given: text with
    /// tabs, newlines, backslashes and quotes, JSON arrays, every byte, NULL, and keys
    /// that need escaping.
    @Test(arguments: Backend.available)
    func valuesWrittenByTheAttemptRoundTrip(backend: Backend) throws {
        try withStore(backend) { store, _ in
            let texts = ["plain", "tab\tnew\nline\rreturn", #"back\slash \N \\ "quoted""#, "ünïcödé ✓", "", " leading"]
            let users = texts.enumerated().map { index, text in
                var created = user("k\(index)\t\\\(text.prefix(3))", email: text, roles: [text, "r\\\"\(index)"],
                                   photo: index == 0 ? Array(0...255) : [UInt8(index), 0, 10, 92, 9])
                created.values["phone"] = index == 1 ? .null : .text("+1 \(index)")
                return created
            }
            var batches = [users.map { AppChange.create($0) }]
            try store.tryApply(streaming: { batches.isEmpty ? nil : batches.removeFirst() }, mark: nil)
            let read = try store.users(withKeys: users.map(\.key))
            #expect(read.count == users.count)
            for created in users {
                #expect(read[created.key]?.values == created.values, "\(created.key)")
            }
        }
    }

    static let misfits: [(String, AppValue)] = [
        ("email", .blob([1])), ("email", .integer(1)), ("photo", .text("x")),
        ("roles", .text("not json")), ("roles", .blob([])), ("nonexistent", .text("x")), ("key", .text("x")),
    ]

    @Test(arguments: Backend.available, misfits)
    func valuesThatDoNotFitTheirColumnAreRefused(backend: Backend, misfit: (String, AppValue)) throws {
        let (column, value) = misfit
        try withStore(backend) { store, raw in
            try store.apply([.create(user("u"))])
            let before = try raw.dump()
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.update(key: "u", values: [column: value])])
            }
            #expect(error?.operation == #"update user "u""#)
            #expect(error?.message.contains(column) == true)
            #expect(try raw.dump() == before)
        }
    }

    @Test(arguments: Backend.available)
    func renameRefusesATakenKeyAndInheritsNoOrphanedMemberships(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try store.apply([
                .create(user("a")), .create(user("b")),
                .addMembership(user: "a", group: "g"), .addMembership(user: "orphan", group: "admins"),
            ])
            let before = try raw.dump()
            var error = #expect(throws: AppStoreError.self) { try store.apply([.rename(from: "a", to: "b")]) }
            #expect(error?.description == #"app store: rename user "a" to "b": a user with key "b" already exists (change 1 of 1; nothing was written)"#)
            error = #expect(throws: AppStoreError.self) { try store.apply([.rename(from: "a", to: "orphan")]) }
            #expect(error?.message.contains("already has memberships") == true)
            #expect(try raw.dump() == before)

            try store.apply([.rename(from: "a", to: "a")])
            try store.apply([.rename(from: "a", to: "c"), .rename(from: "b", to: "a")])
            #expect(try store.memberships(ofUsers: ["a", "c"], in: ["g"]) == ["c": ["g"]])
        }
    }

    @Test(arguments: Backend.available)
    func updatedAtIsISO8601UTCOnEveryUsersRowWritten(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try raw.execute("INSERT INTO users (key, ldap_managed, updated_at) VALUES ('old', 1, '2000-01-01 00:00:00')")
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

    @Test(arguments: Backend.available)
    func updatedAtIsNotWrittenWhenTheSchemaHasNone(backend: Backend) throws {
        var schema = testSchema()
        schema.updatedAtColumn = nil
        try withStore(backend, schema: schema) { store, _ in
            try store.apply([.create(user("u")), .update(key: "u", values: [:])])
            #expect(try store.users(withKeys: ["u"])["u"]?.updatedAt == nil)
        }
    }

    /// Creates in one batch that set different columns: a column a create leaves out
    /// takes its default, even when the others of the batch set it.
    @Test(arguments: Backend.available)
    func aColumnACreateLeavesOutTakesItsDefault(backend: Backend) throws {
        try withDatabase(backend) { database in
            let blob = backend == .sqlite ? "BLOB" : "BYTEA"
            try database.raw.execute("""
                CREATE TABLE users (key TEXT PRIMARY KEY, ldap_managed INTEGER NOT NULL DEFAULT 0,
                                    active INTEGER NOT NULL DEFAULT 1, updated_at TEXT,
                                    email TEXT DEFAULT 'unset', phone TEXT DEFAULT 'no phone', roles TEXT, photo \(blob));
                CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL);
                """)
            let store = try database.open(testSchema())
            try store.apply((0..<10).map { index in
                index.isMultiple(of: 2)
                    ? .create(AppUser(key: "u\(index)", managed: true, values: ["email": .text("e\(index)"), "phone": .null]))
                    : .create(AppUser(key: "u\(index)", managed: true, values: ["roles": .text("[]")]))
            })
            let users = try store.users(withKeys: ["u0", "u1"])
            #expect(users["u0"]?.values["email"] == .text("e0"))
            #expect(users["u0"]?.values["phone"] == .null)
            #expect(users["u0"]?.values["roles"] == .null)
            #expect(users["u1"]?.values["email"] == .text("unset"))
            #expect(users["u1"]?.values["phone"] == .text("no phone"))
            #expect(users["u1"]?.values["roles"] == .text("[]"))
        }
    }

    @Test(arguments: Backend.available)
    func aUserCreatedInactiveIsInactive(backend: Backend) throws {
        try withStore(backend) { store, _ in
            try store.apply([
                .create(AppUser(key: "on", managed: true, active: true, values: ["email": .text("on@example.com")])),
                .create(AppUser(key: "off", managed: true, active: false, values: ["email": .text("off@example.com")])),
            ])
            let users = try store.users(withKeys: ["on", "off"])
            #expect(users["on"]?.active == true)
            #expect(users["off"]?.active == false)
            #expect(users["off"]?.managed == true)
        }
    }

    // MARK: Transactions

    @Test(arguments: Backend.available)
    func aBatchWhoseLastChangeFailsLeavesTheDatabaseExactlyAsBefore(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try store.apply([
                .create(user("existing", email: "e@example.com", photo: [1, 2, 3])),
                .create(user("other")),
                .addMembership(user: "existing", group: "g"),
            ])
            let before = try raw.dump()
            var batch: [AppChange] = [
                .update(key: "existing", values: ["email": .text("changed")]),
                .setActive(key: "other", false),
                .rename(from: "other", to: "renamed"),
                .removeMembership(user: "existing", group: "g"),
                .addMembership(user: "renamed", group: "h"),
            ]
            batch += (batch.count..<499).map { .create(user("new\($0)", roles: ["r\($0)"])) }
            batch.append(.create(user("existing")))
            #expect(batch.count == 500)

            let error = #expect(throws: AppStoreError.self) { try store.apply(batch) }
            #expect(error?.description == #"app store: create user "existing": a user with this key already exists (change 500 of 500; nothing was written)"#)
            #expect(try raw.dump() == before)
            #expect(try store.managedUserCount() == 2)
        }
    }

    @Test(arguments: Backend.available)
    func streamedBatchesAreOneTransaction(backend: Backend) throws {
        try withStore(backend) { store, raw in
            let before = try raw.dump()
            var batches: [[AppChange]] = [
                (0..<1_500).map { .create(user("s\($0)")) },
                (0..<1_500).map { .addMembership(user: "s\($0)", group: "g") },
                [.setActive(key: "nobody", false)],
            ]
            let error = #expect(throws: AppStoreError.self) {
                try store.apply(streaming: { batches.isEmpty ? nil : batches.removeFirst() })
            }
            #expect(error?.message.contains("no such user (change 3001; nothing was written)") == true)
            #expect(try raw.dump() == before)

            batches = [(0..<1_500).map { .create(user("s\($0)")) }, (0..<1_500).map { .addMembership(user: "s\($0)", group: "g") }]
            try store.apply(streaming: { batches.isEmpty ? nil : batches.removeFirst() })
            #expect(try store.managedUserCount() == 1_500)
        }
    }

    /// The attempt a first run makes while it reads (`tryApply`, without SQLite's
    /// statement journals or PostgreSQL's savepoints): a change refused in the middle of
    /// a multi-row statement leaves nothing written, and the careful apply of the same
    /// batches names it; without a refusal, the attempt commits everything.
    @Test(arguments: Backend.available)
    func aFailedAttemptLeavesNothingAndTheCarefulApplyNamesTheChange(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try raw.addRefusingTrigger("refuse", before: "INSERT", when: "NEW.key = 'u0700'",
                                       message: "refused by the application", backend: backend)
            let before = try raw.dump()
            let batches: [[AppChange]] = [
                (0..<500).map { .create(user(String(format: "u%04d", $0))) },
                (500..<1_000).map { .create(user(String(format: "u%04d", $0))) }
                    + (0..<1_000).map { .addMembership(user: String(format: "u%04d", $0), group: "g") },
            ]
            var remaining = batches
            let attempt = #expect(throws: AppStoreError.self) {
                try store.tryApply(streaming: { remaining.isEmpty ? nil : remaining.removeFirst() }, mark: nil)
            }
            // Without savepoints PostgreSQL cannot tell the row: the statement is named.
            if backend == .postgres { #expect(attempt?.operation == "write changes 501–1000", "\(attempt?.description ?? "")") }
            #expect(attempt?.message.contains("refused by the application") == true)
            #expect(try raw.dump() == before)
            let error = #expect(throws: AppStoreError.self) {
                try store.apply(replayable: { $0 < batches.count ? batches[$0] : nil }, mark: nil)
            }
            #expect(error?.operation == #"create user "u0700""#)
            #expect(error?.message.contains("refused by the application") == true)
            #expect(error?.message.contains("(change 701 of") == true || error?.message.contains("(change 701;") == true, "\(error?.message ?? "")")
            #expect(try raw.dump() == before)

            try raw.execute("DROP TRIGGER refuse" + (backend == .postgres ? " ON users" : ""))
            remaining = batches
            try store.tryApply(streaming: { remaining.isEmpty ? nil : remaining.removeFirst() }, mark: nil)
            #expect(try store.managedUserCount() == 1_000)
            #expect(try store.memberships(ofUsers: ["u0000", "u0999"], in: ["g"]) == ["u0000": ["g"], "u0999": ["g"]])
        }
    }

    @Test(arguments: Backend.available)
    func anApplicationTriggerRefusingAChangeNamesTheChangeButNoValue(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try raw.addRefusingTrigger("no_secrets", before: "UPDATE OF phone", when: "NEW.phone = 'forbidden'",
                                       message: "phone refused by the application", backend: backend)
            try store.apply([.create(user("u"))])
            let before = try raw.dump()
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("v", email: "v-secret@example.com")), .update(key: "u", values: ["phone": .text("forbidden")])])
            }
            #expect(error?.operation == #"update user "u""#)
            #expect(error?.message.hasPrefix("phone refused by the application (") == true)
            #expect(error?.description.contains("forbidden") == false)
            #expect(error?.description.contains("v-secret") == false)
            #expect(try raw.dump() == before)
        }
    }

    // MARK: Scale

    /// 100,000 creates and 150,000 memberships in one apply; prints the time (the
    /// figure of docs/performance.md's store comparison). The two stores run one after
    /// the other, not side by side.
    @Test(.serialized, arguments: Backend.available)
    func oneHundredThousandCreatesAndOneHundredFiftyThousandMembershipsInOneApply(backend: Backend) throws {
        try withStore(backend) { store, raw in
            let count = 100_000
            var changes: [AppChange] = (0..<count).map { index in
                .create(user(
                    String(format: "user%06d", index), email: "user\(index)@example.com",
                    roles: index.isMultiple(of: 3) ? ["staff", "r\(index % 7)"] : nil
                ))
            }
            changes += (0..<count).map { .addMembership(user: String(format: "user%06d", $0), group: "group\($0 % 1_000)") }
            changes += (0..<count / 2).map { .addMembership(user: String(format: "user%06d", $0 * 2), group: "all") }
            let clock = ContinuousClock()
            let elapsed = try clock.measure { try store.apply(changes) }
            print("\(backend.rawValue) app store: \(count) creates + \(count * 3 / 2) memberships in one apply: \(elapsed)")

            #expect(try store.managedUserCount() == count)
            var seen = 0
            var previous = ""
            try store.forEachManagedUser { user in
                #expect(user.key > previous)
                previous = user.key
                seen += 1
            }
            #expect(seen == count)
            let sample = try store.users(withKeys: ["user000000", "user099999", "user050002"])
            #expect(sample["user000000"]?.values["roles"] == .text(#"["staff","r0"]"#))
            #expect(sample["user099999"]?.values["email"] == .text("user99999@example.com"))
            #expect(sample["user050002"]?.values["roles"] == .null)
            #expect(try raw.rows("SELECT COUNT(DISTINCT updated_at) FROM users") == ["1"])
            #expect(try raw.rows("SELECT COUNT(*) FROM group_members") == ["150000"])
        }
    }

    /// A run stages each user's create and memberships together; a store may gather them
    /// into bulk statements (PostgreSQL does) but the result must be that of the order
    /// given: a pair removed and added again in one batch ends present, one added and
    /// removed ends absent.
    @Test(arguments: Backend.available)
    func interleavedCreatesAndMembershipChangesEndAsInTheirOrder(backend: Backend) throws {
        try withStore(backend) { store, _ in
            try store.apply([.create(user("old")), .addMembership(user: "old", group: "g1")])
            var batch: [AppChange] = []
            for index in 0..<300 {
                batch.append(.create(user("u\(index)", email: "u\(index)@example.com")))
                batch.append(.addMembership(user: "u\(index)", group: "g\(index % 3)"))
                if index == 100 { batch.append(.setActive(key: "old", false)) }
            }
            batch += [
                .removeMembership(user: "old", group: "g1"), .addMembership(user: "old", group: "g1"),
                .addMembership(user: "old", group: "g2"), .removeMembership(user: "old", group: "g2"),
            ]
            try store.apply(batch)
            #expect(try store.users(withKeys: (0..<300).map { "u\($0)" }).count == 300)
            #expect(try store.users(withKeys: ["old"])["old"]?.active == false)
            let memberships = try store.memberships(ofUsers: ["old", "u0", "u1", "u299"], in: ["g0", "g1", "g2"])
            #expect(memberships == ["old": ["g1"], "u0": ["g0"], "u1": ["g1"], "u299": ["g2"]])
        }
    }
}
