import Foundation
import Testing

/// A full run into an empty app store writes its app transaction while it reads the users
/// (`EarlyAppApply`): during the read it holds the app database's write lock and nobody
/// sees a row; it commits after the read, and a failure there is found again, change by
/// change, by the usual apply. A full run into a store that has users reads first and
/// writes after, as before.
@Suite struct AppWrittenWhileReadingTests {
    /// What another connection finds in app.db: the number of users, and whether it can
    /// take the write lock (`BEGIN IMMEDIATE`, no busy wait).
    private static func look(_ database: String) -> (users: String, writable: Bool) {
        func sqlite(_ query: String) -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = ["-bail", database, query]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            guard (try? process.run()) != nil else { return "" }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return (sqlite("SELECT count(*) FROM users"), sqlite("BEGIN IMMEDIATE; SELECT 'began'; ROLLBACK;") == "began")
    }

    /// The audit lines of the app changes, as the run's `side: app` lines: operation and key.
    private static func appLines(_ environment: FaultEnvironment) throws -> [(operation: String, key: String, outcome: String)] {
        let text = try String(contentsOf: environment.directory.appendingPathComponent("audit.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            guard object["side"] as? String == "app" else { return nil }
            return (object["op"] as? String ?? "", object["key"] as? String ?? "", object["outcome"] as? String ?? "")
        }
    }

    /// The file the transaction's thread writes the audit lines ahead to.
    private static func aheadFileExists(_ environment: FaultEnvironment) -> Bool {
        FileManager.default.fileExists(atPath: environment.directory.appendingPathComponent("state/staging/audit-ahead.jsonl").path)
    }

    @Test func aFirstRunWritesTheAppWhileReadingAndCommitsAfter() throws {
        // 12 people in pages of 5: the stall point comes after the first page.
        let environment = try FaultEnvironment(people: 12)
        let database = environment.directory.appendingPathComponent("app.db").path
        let seen = LockedBox<(users: String, writable: Bool)?>(nil)
        let first = try environment.run(stallAt: "mid-user-fetch") { _ in seen.value = Self.look(database) }
        #expect(first.status == 0, "\(first.errors)")
        #expect(seen.value?.users == "0")
        #expect(seen.value?.writable == false)
        #expect(try environment.sqlite("SELECT count(*) FROM users WHERE ldap_managed = 1") == "12\n")
        #expect(try environment.sqlite("SELECT count(*) FROM ldapsync_commits") == "1\n")
        // The audit lines written ahead by the transaction's thread are in the log, once
        // each, and their file is gone.
        let lines = try Self.appLines(environment)
        #expect(lines.filter { $0.operation == "create" }.map(\.key).sorted() == (1...12).map { String(format: "user%06d", $0) })
        #expect(lines.allSatisfy { $0.outcome == "success" })
        #expect(!Self.aheadFileExists(environment))

        // The store has users now: the next full run holds no lock while it reads.
        seen.value = nil
        let second = try environment.run(["run", "--full"], stallAt: "mid-user-fetch") { _ in seen.value = Self.look(database) }
        #expect(second.status == 0, "\(second.errors)")
        #expect(seen.value?.users == "12")
        #expect(seen.value?.writable == true)
    }

    /// Killed, stopped by SIGTERM, or cut off from slapd while the first run reads: the
    /// open app transaction is gone with it (nothing in the app, no commit mark), and the
    /// next run writes every user once.
    @Test(arguments: ["SIGKILL", "SIGTERM", "slapd"])
    func aFirstRunStoppedWhileReadingLeavesTheAppEmptyAndTheNextRunConverges(_ stop: String) throws {
        let environment = try FaultEnvironment(people: 12)
        let server = environment.server
        let result = try environment.run(stallAt: "mid-user-fetch") { pid in
            switch stop {
            case "SIGKILL": _ = kill(pid, SIGKILL)
            case "SIGTERM": _ = kill(pid, SIGTERM)
            default: server.kill()
            }
        }
        #expect(result.status != 0, "\(result.errors)")
        #expect(try environment.sqlite("SELECT count(*) FROM users") == "0\n")
        #expect(try environment.sqlite("SELECT count(*) FROM ldapsync_commits") == "")
        #expect(try Self.appLines(environment).isEmpty)
        if stop == "slapd" { try server.restart() }
        let next = try environment.run()
        #expect(next.status == 0, "\(next.errors)")
        #expect(try environment.sqlite("SELECT count(*), count(DISTINCT key) FROM users WHERE ldap_managed = 1") == "12|12\n")
        #expect(try environment.sqlite("SELECT count(*) FROM ldapsync_commits") == "1\n")
        // The lines a killed run wrote ahead never reach the log; the next run's do, once.
        let creates = try Self.appLines(environment).filter { $0.operation == "create" }
        #expect(creates.count == 12)
        #expect(Set(creates.map(\.key)).count == 12)
        #expect(!Self.aheadFileExists(environment))
    }

    /// Killed in the middle of its state commit, while its audit lines written ahead may
    /// still be being appended: the next run completes the commit, and every create is in
    /// the audit log (the recovery writes the lines again, saying so).
    @Test func aFirstRunKilledDuringItsStateCommitHasItsLinesWrittenByTheNext() throws {
        let environment = try FaultEnvironment(people: 12)
        let result = try environment.run(stallAt: "mid-state-commit") { pid in _ = kill(pid, SIGKILL) }
        #expect(result.status != 0, "\(result.errors)")
        let next = try environment.run()
        #expect(next.status == 0, "\(next.errors)")
        #expect(next.output.contains("completing the state commit of run"), "\(next.output)")
        #expect(try environment.sqlite("SELECT count(*), count(DISTINCT key) FROM users WHERE ldap_managed = 1") == "12|12\n")
        let created = Set(try Self.appLines(environment).filter { $0.operation == "create" && $0.outcome == "success" }.map(\.key))
        #expect(created == Set((1...12).map { String(format: "user%06d", $0) }))
        #expect(!Self.aheadFileExists(environment))
    }

    @Test func aFailureOfTheAppTransactionWrittenWhileReadingNamesTheChange() throws {
        let environment = try FaultEnvironment(people: 12)
        // The application refuses one name; the run's create of that user fails.
        _ = try environment.sqlite("""
            DROP TABLE users;
            CREATE TABLE users (key TEXT PRIMARY KEY NOT NULL, ldap_managed INTEGER NOT NULL DEFAULT 0,
                                active INTEGER NOT NULL DEFAULT 1, updated_at TEXT,
                                name TEXT CHECK (name IS NOT 'Refused Name'), email TEXT);
            """)
        try environment.server.modify(ldif: """
            dn: uid=user000007,ou=people,\(environment.suffix)
            changetype: modify
            replace: cn
            cn: Refused Name
            """)
        let run = try environment.run()
        #expect(run.status == 1, "\(run.status) \(run.errors)")
        // As the usual apply says it: the change, its position, SQLite's message.
        let failure = try #require(run.output.split(separator: "\n").first { $0.contains("app store transaction failed") })
        #expect(failure.contains(#"create user "user000007": CHECK constraint failed"#), "\(failure)")
        #expect(failure.contains("(change 7; nothing was written)"), "\(failure)")
        #expect(try environment.sqlite("SELECT count(*) FROM users") == "0\n")
        #expect(try environment.sqlite("SELECT count(*) FROM ldapsync_commits") == "")
        // The lines say what happened: every change failed, none succeeded.
        let lines = try Self.appLines(environment)
        #expect(lines.filter { $0.operation == "create" }.count == 12)
        #expect(lines.allSatisfy { $0.outcome == "failure" }, "\(lines.map(\.outcome))")
        #expect(!Self.aheadFileExists(environment))
    }
}
