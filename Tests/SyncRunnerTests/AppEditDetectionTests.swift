import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import SyncConfig
import SyncRunner
import Testing

/// `app.findEdits: updated-at` (docs/configuration.md): incremental runs compare only the
/// app rows updated since the previous run started, so their cost follows the edits
/// (SPEC §13) instead of the number of app users.
@Suite struct AppEditDetectionTests {
    static let phoneBoth = ["{ ldap: cn, app: name }", "{ ldap: telephoneNumber, app: phone, direction: both }"]

    private func configure(_ environment: SyncEnvironment, findEdits: String, writeBack: Bool = true) throws {
        try environment.configure(environment.yaml(attributes: Self.phoneBoth)
            .replacingOccurrences(of: "app: { path: app.db }", with: "app: { path: app.db, findEdits: \(findEdits) }")
            + "\nwriteBack: { enabled: \(writeBack) }")
    }

    private func phone(_ environment: SyncEnvironment, _ number: Int) throws -> [String] {
        let entry = try environment.root().readEntry(dn: environment.personDN(number), attributes: ["telephoneNumber"])
        return (entry?["telephoneNumber"] ?? []).map { String(decoding: $0, as: UTF8.self) }
    }

    /// An application that edits a row without touching updated_at.
    private func editWithoutUpdatedAt(_ environment: SyncEnvironment, _ number: Int, _ value: String) throws {
        try environment.appStore().apply([.update(key: Fixtures.personUID(number), values: ["phone": .text(value)])])
        _ = try rawSQLite(environment.appPath, "UPDATE users SET updated_at = '2001-01-01T00:00:00Z' WHERE key = '\(Fixtures.personUID(number))'")
    }

    @Test func anIncrementalRunComparesOnlyRowsUpdatedSinceThePreviousRun() throws {
        let environment = try SyncEnvironment(people: 6, groups: 0)
        try configure(environment, findEdits: "updated-at")
        #expect(try environment.run().exitCode == 0)
        try environment.moveCursorPastTheFixture()
        // The store sets updated_at on the edit, as an application should.
        try environment.appStore().apply([.update(key: Fixtures.personUID(2), values: ["phone": .text("+1 555 0102")])])
        try editWithoutUpdatedAt(environment, 3, "+1 555 0103")

        let incremental = try environment.run()
        #expect(incremental.exitCode == 0)
        #expect(incremental.summaries[0].writtenBack == 1)
        #expect(try phone(environment, 2) == ["+1 555 0102"])
        // Not compared: its updated_at is older than the previous run.
        #expect(try phone(environment, 3) != ["+1 555 0103"])

        // A full run compares every row, and so finds it.
        var full = RunOptions()
        full.full = true
        let fullRun = try environment.run(full)
        #expect(fullRun.summaries[0].writtenBack == 1)
        #expect(try phone(environment, 3) == ["+1 555 0103"])
    }

    @Test func theScanFindsAnEditWhateverItsUpdatedAt() throws {
        let environment = try SyncEnvironment(people: 6, groups: 0)
        try configure(environment, findEdits: "scan")
        #expect(try environment.run().exitCode == 0)
        try environment.moveCursorPastTheFixture()
        try editWithoutUpdatedAt(environment, 3, "+1 555 0103")
        let incremental = try environment.run()
        #expect(incremental.summaries[0].writtenBack == 1)
        #expect(try phone(environment, 3) == ["+1 555 0103"])
    }

    /// An edit left pending while write-back was off flows once it is switched on,
    /// although its row was updated long before: the changed switches make the next run
    /// compare every row once.
    @Test func anEditPendingWhileWriteBackWasOffFlowsWhenItIsSwitchedOn() throws {
        let environment = try SyncEnvironment(people: 4, groups: 0)
        try configure(environment, findEdits: "updated-at", writeBack: false)
        #expect(try environment.run().exitCode == 0)
        // Past the fixture's second, so that LDAP's side no longer brings user 2 back.
        try environment.moveCursorPastTheFixture()
        try environment.appStore().apply([.update(key: Fixtures.personUID(2), values: ["phone": .text("+49 30 1234")])])
        for _ in 0..<2 {
            environment.waitForNextSecond()
            #expect(try environment.run().summaries[0].writtenBack == 0)
        }
        #expect(try phone(environment, 2) != ["+49 30 1234"])
        try configure(environment, findEdits: "updated-at", writeBack: true)
        let switched = try environment.run()
        #expect(switched.summaries[0].writtenBack == 1)
        #expect(try phone(environment, 2) == ["+49 30 1234"])
    }

    /// `cursor set` backfills the app side too: the next run compares every row.
    @Test func aCursorSetComparesEveryRowOnce() throws {
        let environment = try SyncEnvironment(people: 4, groups: 0)
        try configure(environment, findEdits: "updated-at")
        #expect(try environment.run().exitCode == 0)
        try environment.moveCursorPastTheFixture()
        try editWithoutUpdatedAt(environment, 3, "+1 555 0103")
        let configuration = try ConfigurationLoader.load(path: environment.configPath)
        _ = try StateCommands(configuration: configuration).setCursor(try environment.newestModifyTimestamp(), directory: nil)
        #expect(try environment.run().summaries[0].writtenBack == 1)
        #expect(try phone(environment, 3) == ["+1 555 0103"])
    }
}

/// Runs one statement on the SQLite file through the sqlite3 tool (the application's
/// own connection).
func rawSQLite(_ path: String, _ sql: String) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    process.arguments = [path, sql]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
