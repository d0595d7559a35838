import Foundation
import GRDB
import Testing
@testable import AppStore

@Suite struct TransactionTests {
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
}
