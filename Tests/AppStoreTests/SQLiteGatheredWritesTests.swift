import Foundation
import GRDB
import Testing
@testable import AppStore

/// The SQLite store writes runs of creates and addMemberships several rows to a statement
/// where that is the same as writing them one by one: these databases are where it is not
/// obviously the same, and the outcome must be what writing them in order gives.
@Suite struct SQLiteGatheredWritesTests {
    private func store(_ sql: String, _ body: (SQLiteAppStore, String) throws -> Void) throws {
        try withTemporaryDirectory { directory in
            let path = directory + "/app.db"
            try rawConnection(path).write { db in try db.execute(sql: sql) }
            try body(try SQLiteAppStore(path: path, schema: AppSchema()), path)
        }
    }

    private static let users = """
        CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, ldap_managed INTEGER NOT NULL DEFAULT 0,
                            active INTEGER NOT NULL DEFAULT 1, updated_at TEXT);
        """

    @Test func aMembershipTwiceInOneApplyIsOneRowInATableWithoutKey() throws {
        try store(Self.users + "CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL);") { store, path throws in
            try store.apply([
                .create(user("a")), .addMembership(user: "a", group: "g"), .addMembership(user: "b", group: "g"),
                .addMembership(user: "a", group: "g"), .create(user("b")), .addMembership(user: "b", group: "g"),
            ])
            #expect(try dump(path).filter { $0.hasPrefix("group_members") } == [
                "group_members: 'g'|'a'", "group_members: 'g'|'b'",
            ])
        }
    }

    @Test func membershipsEqualOnlyThroughTheirCollationAreOneRow() throws {
        try store(Self.users + "CREATE TABLE group_members (group_name TEXT NOT NULL COLLATE NOCASE, user_key TEXT NOT NULL);") { store, path throws in
            try store.apply([.addMembership(user: "a", group: "Staff"), .addMembership(user: "a", group: "staff")])
            #expect(try dump(path).filter { $0.hasPrefix("group_members") } == ["group_members: 'Staff'|'a'"])
        }
    }

    @Test func aForeignKeyFailsAMembershipBeforeItsUsersCreateAsInOrder() throws {
        let schema = Self.users + """
            CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL REFERENCES users(key),
                                        PRIMARY KEY (group_name, user_key));
            """
        try store(schema) { store, path throws in
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("a")), .addMembership(user: "b", group: "g"), .create(user("b"))])
            }
            #expect(error?.description.hasPrefix(#"app store: add user "b" to group "g": FOREIGN KEY constraint failed"#) == true)
            #expect(error?.description.hasSuffix("(change 2 of 3; nothing was written)") == true)
            #expect(try dump(path).isEmpty)
            try store.apply([.create(user("a")), .addMembership(user: "a", group: "g"), .create(user("b")), .addMembership(user: "b", group: "g")])
            #expect(try dump(path).filter { $0.hasPrefix("group_members") }.count == 2)
        }
    }

    @Test func aUniqueKeyThatFailsWithoutUndoingNamesTheFirstDuplicate() throws {
        // ON CONFLICT FAIL keeps the rows a failing statement wrote before the failure.
        let schema = """
            CREATE TABLE users (key TEXT NOT NULL UNIQUE ON CONFLICT FAIL, ldap_managed INTEGER NOT NULL DEFAULT 0,
                                active INTEGER NOT NULL DEFAULT 1, updated_at TEXT);
            CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (group_name, user_key));
            """
        try store(schema) { store, path throws in
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("a")), .create(user("b")), .addMembership(user: "a", group: "g"), .create(user("a")), .create(user("c"))])
            }
            #expect(error?.description == #"app store: create user "a": a user with this key already exists (change 4 of 5; nothing was written)"#)
            #expect(try dump(path).isEmpty)
        }
    }

    @Test func aTriggerSeesEveryEarlierRow() throws {
        let schema = Self.users + """
            CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (group_name, user_key));
            CREATE TABLE counts (n INTEGER, seen INTEGER);
            CREATE TRIGGER count_users AFTER INSERT ON users BEGIN
                INSERT INTO counts VALUES ((SELECT COUNT(*) FROM counts) + 1, (SELECT COUNT(*) FROM users));
            END;
            """
        try store(schema) { store, path throws in
            try store.apply((1...5).map { .create(user("u\($0)")) })
            #expect(try dump(path).filter { $0.hasPrefix("counts") } == (1...5).map { "counts: \($0)|\($0)" })
        }
    }

    @Test func manyCreatesAndMembershipsInOneApplyAreAllWritten() throws {
        try store(Self.users + "CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (group_name, user_key));") { store, path throws in
            var changes: [AppChange] = []
            for index in 0..<1_000 {
                changes.append(.create(user("user\(index)")))
                changes.append(.addMembership(user: "user\(index)", group: "g\(index % 3)"))
                if index % 10 == 0 { changes.append(.addMembership(user: "user\(index)", group: "g\(index % 3)")) }
            }
            try store.apply(changes)
            let lines = try dump(path)
            #expect(lines.filter { $0.hasPrefix("users") }.count == 1_000)
            #expect(lines.filter { $0.hasPrefix("group_members") }.count == 1_000)
        }
    }

    /// Replayable batches are written once when nothing fails (a first attempt without
    /// savepoints); a failure makes the apply again from batch 0, whose error names the
    /// failing change, and leaves nothing written; a failure of the batches themselves
    /// is not retried.
    @Test func replayableBatchesAreReadAgainOnlyToNameAFailure() throws {
        let schema = Self.users + "CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (group_name, user_key));"
        let batches: [[AppChange]] = (0..<4).map { part in
            (0..<300).flatMap { index -> [AppChange] in
                let key = "u\(part)-\(index)"
                return [.create(user(key)), .addMembership(user: key, group: "g\(index % 7)")]
            }
        }
        try store(schema) { store, path throws in
            var asked: [Int] = []
            try store.apply(replayable: { sequence in
                asked.append(sequence)
                return sequence < batches.count ? batches[sequence] : nil
            }, mark: nil)
            #expect(asked == [0, 1, 2, 3, 4])
            let lines = try dump(path)
            #expect(lines.filter { $0.hasPrefix("users") }.count == 1_200)
            #expect(lines.filter { $0.hasPrefix("group_members") }.count == 1_200)
        }
        try store(schema) { store, path throws in
            // The third batch creates a user of the first again, in the middle of its rows.
            var failing = batches
            failing[2][301] = .create(user("u0-7"))
            var asked: [Int] = []
            let error = #expect(throws: AppStoreError.self) {
                try store.apply(replayable: { sequence in
                    asked.append(sequence)
                    return sequence < failing.count ? failing[sequence] : nil
                }, mark: CommitMark(directory: "d", runID: "r"))
            }
            #expect(error?.description == #"app store: create user "u0-7": a user with this key already exists (change 1502; nothing was written)"#)
            #expect(asked == [0, 1, 2, 0, 1, 2])
            #expect(try dump(path).isEmpty)
            #expect(try store.committedRun(of: "d") == nil)
        }
        try store(schema) { store, path throws in
            struct Unreadable: Error {}
            var asked: [Int] = []
            #expect(throws: (any Error).self) {
                try store.apply(replayable: { sequence in
                    asked.append(sequence)
                    if sequence == 1 { throw Unreadable() }
                    return batches[sequence]
                }, mark: nil)
            }
            #expect(asked == [0, 1])
            #expect(try dump(path).isEmpty)
        }
    }

    @Test func aJSONArrayTakenWithoutDecodingIsOneThatDecodes() throws {
        let samples = [
            "[]", #"[""]"#, #"["a"]"#, #"["a@example.org","b@example.org"]"#, #"["]","[",","]"#, #"["é 👩‍💻"]"#,
            "", "[", "]", "[,]", #"["a",]"#, #"["a""b"]"#, #"["a"] "#, #" ["a"]"#, #"["a\"b"]"#, #"["a"#, #"["a]"#,
            "[\"tab\there\"]", #"["a"],"b"]"#, #"[1]"#, #"[null]"#, #"{"a":1}"#, #"["a",,"b"]"#,
        ]
        for sample in samples where SQLiteAppStore.isPlainJSONStringArray(sample) {
            #expect(throws: Never.self, "\(sample)") { _ = try AppValue.decodeJSONArray(sample) }
        }
        for values in [[], [""], ["a"], ["a@example.org", "b@example.org"], ["x, y", "[z]"]] {
            #expect(SQLiteAppStore.isPlainJSONStringArray(AppValue.encodeJSONArray(values)))
        }
        #expect(!SQLiteAppStore.isPlainJSONStringArray(#"["a\"b"]"#))
        #expect(!SQLiteAppStore.isPlainJSONStringArray(#"["a"] "#))
    }

    @Test func presentMembershipsAreSkippedWhetherTheKeyIsTheTableOrNot() throws {
        // The key is the whole table: written with ON CONFLICT DO NOTHING.
        try store(Self.users + "CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL, PRIMARY KEY (user_key, group_name));") { store, path throws in
            try store.apply([.addMembership(user: "a", group: "g"), .addMembership(user: "b", group: "g")])
            try store.apply([.addMembership(user: "a", group: "g"), .addMembership(user: "c", group: "g"), .addMembership(user: "c", group: "g")])
            #expect(try dump(path).filter { $0.hasPrefix("group_members") } == [
                "group_members: 'g'|'a'", "group_members: 'g'|'b'", "group_members: 'g'|'c'",
            ])
        }
        // A CHECK that a present row fails (written with the checks off): the present
        // membership is skipped, as one by one, not checked again.
        let checked = Self.users + """
            CREATE TABLE group_members (group_name TEXT NOT NULL, user_key TEXT NOT NULL CHECK (length(user_key) < 3),
                                        PRIMARY KEY (group_name, user_key));
            PRAGMA ignore_check_constraints = ON;
            INSERT INTO group_members VALUES ('g', 'long');
            PRAGMA ignore_check_constraints = OFF;
            """
        try store(checked) { store, path throws in
            try store.apply([.addMembership(user: "long", group: "g"), .addMembership(user: "b", group: "g")])
            #expect(try dump(path).filter { $0.hasPrefix("group_members") } == ["group_members: 'g'|'b'", "group_members: 'g'|'long'"])
        }
    }
}
