import Foundation
import GRDB
import Testing
@testable import AppStore

@Suite struct TransactionTests {
    @Test func aBatchWhoseLastChangeFailsLeavesTheDatabaseExactlyAsBefore() throws {
        try withStore { store, path in
            try store.apply([
                .create(user("existing", email: "e@example.com", photo: [1, 2, 3])),
                .create(user("other")),
                .addMembership(user: "existing", group: "g"),
            ])
            let before = try dump(path)
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
            #expect(try dump(path) == before)
            #expect(try store.managedUserCount() == 2)
        }
    }

    @Test func sqliteConstraintFailuresNameTheOperationAndKeyButNoValue() throws {
        try withStore { store, path in
            try rawConnection(path).write { db in
                try db.execute(sql: """
                    CREATE TRIGGER no_secrets BEFORE UPDATE OF phone ON users
                    WHEN NEW.phone = 'forbidden' BEGIN SELECT RAISE(ABORT, 'phone refused by the application'); END
                    """)
            }
            try store.apply([.create(user("u"))])
            let before = try dump(path)
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("v", email: "v-secret@example.com")), .update(key: "u", values: ["phone": .text("forbidden")])])
            }
            #expect(error?.operation == #"update user "u""#)
            #expect(error?.message.hasPrefix("phone refused by the application (SQLite result code") == true)
            #expect(error?.description.contains("forbidden") == false)
            #expect(error?.description.contains("v-secret") == false)
            #expect(try dump(path) == before)
        }
    }

    @Test func aLockedDatabaseFailsAfterTheBusyTimeoutAndWritesNothing() throws {
        try withStore(busyTimeout: .milliseconds(300)) { store, path in
            try store.apply([.create(user("u"))])
            let before = try dump(path)

            let blocker = try rawConnection(path, allowsUnsafeTransactions: true)
            try blocker.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN IMMEDIATE; INSERT INTO users (key) VALUES ('held by the application')")
            }
            let clock = ContinuousClock()
            let start = clock.now
            let error = #expect(throws: AppStoreError.self) {
                try store.apply([.create(user("v")), .setActive(key: "u", false)])
            }
            let waited = clock.now - start
            try blocker.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }

            #expect(waited >= .milliseconds(250))
            #expect(waited < .seconds(5))
            #expect(error?.operation == "apply 2 changes")
            #expect(error?.message.contains("locked by another connection") == true)
            #expect(error?.message.contains("busy timeout (0.3 s)") == true)
            #expect(error?.message.contains("nothing was written") == true)
            #expect(try dump(path) == before)

            // The lock released, the same batch goes through.
            try store.apply([.create(user("v")), .setActive(key: "u", false)])
            #expect(try store.managedUserCount() == 2)
        }
    }

    @Test func aReadingApplicationDelaysTheCommitUntilTheBusyTimeoutInRollbackJournalMode() throws {
        try withStore(busyTimeout: .milliseconds(200)) { store, path in
            let before = try dump(path)
            let reader = try rawConnection(path, allowsUnsafeTransactions: true)
            try reader.writeWithoutTransaction { db in
                try db.execute(sql: "BEGIN DEFERRED")
                _ = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM users")
            }
            let error = #expect(throws: AppStoreError.self) { try store.apply([.create(user("v"))]) }
            try reader.writeWithoutTransaction { db in try db.execute(sql: "COMMIT") }
            #expect(error?.message.contains("locked by another connection") == true)
            #expect(try dump(path) == before)
        }
    }

    @Test func oneHundredThousandCreatesInOneApply() throws {
        try withStore { store, path in
            let count = 100_000
            let changes: [AppChange] = (0..<count).map { index in
                .create(user(
                    String(format: "user%06d", index), email: "user\(index)@example.com",
                    roles: index.isMultiple(of: 3) ? ["staff", "r\(index % 7)"] : nil
                ))
            }
            let clock = ContinuousClock()
            let cpuBefore = processCPUSeconds()
            let elapsed = try clock.measure { try store.apply(changes) }
            let cpu = processCPUSeconds() - cpuBefore
            print("SQLiteAppStore: \(count) creates in one apply: \(elapsed) wall, \(cpu) s CPU (whole process)")

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
            let distinctStamps = try rawConnection(path).read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(DISTINCT updated_at) FROM users")
            }
            #expect(distinctStamps == 1)
        }
    }
}

/// User plus system CPU time of the whole process: less noisy than wall time on a shared
/// machine (other tests running in parallel add to it).
private func processCPUSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
