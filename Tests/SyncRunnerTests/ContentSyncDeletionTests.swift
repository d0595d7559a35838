import AppStore
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import StateStore
@testable import SyncRunner
import Testing

/// `deletions: every-run` against a slapd with the `syncprov` overlay: the listing is an
/// RFC 4533 refresh from the cookie of the previous run, and it must find exactly what the
/// page-by-page listing finds.
@Suite struct ContentSyncDeletionTests {
    /// Users leave the scope three ways: deleted, moved out of the base, and changed so
    /// that they no longer match the filter.
    static let filter = "(&(objectClass=inetOrgPerson)(!(description=gone)))"

    func environment(sessionLog: Int?, people: Int = 10) throws -> SyncEnvironment {
        var slapd = SlapdServer.Configuration()
        slapd.syncProvider = .init(sessionLog: sessionLog)
        let environment = try SyncEnvironment(people: people, groups: 0, slapd: slapd)
        try environment.configure(environment.yaml().replacingOccurrences(
            of: "users: { base: \"\(environment.peopleBase)\" }",
            with: "users: { base: \"\(environment.peopleBase)\", filter: \"\(Self.filter)\" }"))
        return environment
    }

    func removeThreeFromTheScope(_ environment: SyncEnvironment) throws {
        let root = try environment.root()
        try root.perform(.delete(dn: environment.personDN(5)))
        try root.perform(.rename(dn: environment.personDN(6), newRDN: "uid=\(Fixtures.personUID(6))",
                                 newSuperior: "ou=services,\(environment.server.configuration.suffix)"))
        try root.perform(.modify(dn: environment.personDN(7), modifications: [Modification(.replace, "description", strings: ["gone"])]))
    }

    func inactive(_ environment: SyncEnvironment) throws -> Set<String> {
        Set(try environment.managedUsers().values.filter { !$0.active }.map(\.key))
    }

    @Test(arguments: [nil, 1000] as [Int?])
    func usersLeavingTheScopeAreDeactivatedFromTheRefresh(sessionLog: Int?) throws {
        let environment = try environment(sessionLog: sessionLog)
        let full = try environment.run()
        #expect(full.exitCode == 0)
        #expect(full.summaries[0].deletionListing == nil)
        environment.waitForNextSecond()
        try removeThreeFromTheScope(environment)

        let run = try environment.run()
        #expect(run.exitCode == 0)
        let phase = sessionLog == nil ? "present" : "delete"
        #expect(run.summaries[0].deletionListing == "content sync (\(phase) phase)")
        #expect(run.summaries[0].deactivated == 3)
        #expect(try inactive(environment) == Set([5, 6, 7].map(Fixtures.personUID)))
        if sessionLog == nil { #expect(run.summaries[0].listedForDeletions == 7) }

        // Nothing changed: nothing more goes, from the next cookie. (With nothing changed
        // since the cookie slapd answers with an empty delete phase, session log or not.)
        let again = try environment.run()
        #expect(again.summaries[0].deletionListing == "content sync (delete phase)")
        #expect(again.summaries[0].deactivated == 0)
        #expect(again.summaries[0].changes == 0)
        // And one more deletion after that.
        try environment.root().perform(.delete(dn: environment.personDN(2)))
        let third = try environment.run()
        #expect(third.summaries[0].deactivated == 1)
        #expect(try inactive(environment) == Set([2, 5, 6, 7].map(Fixtures.personUID)))
    }

    @Test func withoutTheOverlayTheScopeIsListedPageByPage() throws {
        let environment = try SyncEnvironment(people: 8, groups: 0)
        try environment.configure(environment.yaml())
        _ = try environment.run()
        try environment.root().perform(.delete(dn: environment.personDN(3)))
        let run = try environment.run()
        #expect(run.summaries[0].deletionListing == "paged search")
        #expect(run.summaries[0].listedForDeletions == 7)
        #expect(try inactive(environment) == [Fixtures.personUID(3)])
    }

    @Test func aCookieTheServerNoLongerKnowsFallsBackToTheListingAndTakesANewOne() throws {
        let environment = try environment(sessionLog: nil)
        _ = try environment.run()
        // Another server with the same data behind the same URL would not know the cookie:
        // here the stored cookie is replaced by one whose CSN no entry carries.
        try environment.replaceContentSyncCookie(with: Array("rid=000,csn=20000101000000.000000Z#000000#000#000000".utf8))
        try environment.root().perform(.delete(dn: environment.personDN(4)))
        let run = try environment.run()
        #expect(run.exitCode == 0)
        #expect(run.summaries[0].deactivated == 1)
        #expect(try inactive(environment) == [Fixtures.personUID(4)])
        let listing = try #require(run.summaries[0].deletionListing)
        #expect(listing.hasPrefix("content sync (present phase)") || listing.hasPrefix("paged search (content sync:"), "\(listing)")
        // The next run refreshes from the new cookie.
        try environment.root().perform(.delete(dn: environment.personDN(8)))
        let next = try environment.run()
        #expect(next.summaries[0].deletionListing == "content sync (present phase)")
        #expect(try inactive(environment) == Set([4, 8].map(Fixtures.personUID)))
    }

    @Test func aFullRunOverASnapshotKeepsTheCookieItTookBeforeItsRead() throws {
        let environment = try environment(sessionLog: nil)
        _ = try environment.run()
        var full = RunOptions()
        full.full = true
        let forced = try environment.run(full)
        #expect(forced.summaries[0].full)
        try environment.root().perform(.delete(dn: environment.personDN(3)))
        let next = try environment.run()
        #expect(next.summaries[0].deletionListing == "content sync (present phase)")
        #expect(try inactive(environment) == [Fixtures.personUID(3)])
    }

    /// A run that lists nothing (`deletions: full-only`) keeps the cookie it found: when
    /// the directory goes back to `every-run`, the refresh from it names what left the
    /// scope since, without a listing page by page.
    @Test func aRunThatListsNothingKeepsTheCookie() throws {
        let environment = try environment(sessionLog: nil)
        _ = try environment.run()
        let everyRun = try String(contentsOfFile: environment.configPath, encoding: .utf8)
        let fullOnly = everyRun.replacingOccurrences(of: "    timestamp: { overlap: 0s }", with: "    timestamp: { overlap: 0s }\n    deletions: full-only")
        #expect(fullOnly != everyRun)
        try fullOnly.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        try environment.root().perform(.modify(dn: environment.personDN(2), modifications: [Modification(.replace, "telephoneNumber", strings: ["+1 555 0100"])]))
        let quiet = try environment.run()
        #expect(quiet.summaries[0].deletionListing == nil)
        #expect(quiet.summaries[0].updated == 1)
        try everyRun.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        try environment.root().perform(.delete(dn: environment.personDN(3)))
        let next = try environment.run()
        #expect(next.summaries[0].deletionListing == "content sync (present phase)")
        #expect(try inactive(environment) == [Fixtures.personUID(3)])
    }

    @Test func aCookieOfAnotherSearchIsNotUsed() throws {
        let environment = try environment(sessionLog: 1000)
        _ = try environment.run()
        // The same server under another URL spelling: the cookie belongs to the old one.
        let url = environment.server.url
        let yaml = try String(contentsOfFile: environment.configPath, encoding: .utf8)
            .replacingOccurrences(of: "url: \"\(url)\"", with: "url: \"\(url)/\"")
        try yaml.write(toFile: environment.configPath, atomically: true, encoding: .utf8)
        try environment.root().perform(.delete(dn: environment.personDN(1)))
        let run = try environment.run()
        #expect(run.summaries[0].deletionListing == "paged search")
        #expect(try inactive(environment) == [Fixtures.personUID(1)])
        let next = try environment.run()
        #expect(next.summaries[0].deletionListing == "content sync (delete phase)")
    }
}

extension SyncEnvironment {
    /// Replaces the stored content-sync cookie of the directory `test`, keeping its search.
    func replaceContentSyncCookie(with cookie: [UInt8]) throws {
        let state = try SyncState(path: statePath)
        var record = try #require(try state.cursor("test"))
        let stored = try #require(record.contentSync)
        record.contentSync = ContentSyncCookie(search: stored.search, cookie: cookie)
        try state.putCursorRecord(record, for: "test")
    }
}

extension ContentSyncDeletionTests {
    /// A refused deactivation rolls back the app transaction, and nothing of the run is
    /// committed, its cookie neither: the next refresh names the deletion again.
    @Test func aRefusedDeactivationIsRetriedAfterADeletePhase() throws {
        let environment = try environment(sessionLog: 1000)
        _ = try environment.run()
        let key = Fixtures.personUID(5)
        try environment.sqlite("CREATE TRIGGER refuse BEFORE UPDATE OF active ON users WHEN NEW.key = '\(key)' AND NEW.active = 0 BEGIN SELECT RAISE(ABORT, 'refused by the application'); END;")
        try environment.root().perform(.delete(dn: environment.personDN(5)))
        let cursor = try environment.status().cursor
        let refused = try environment.run()
        #expect(refused.exitCode == 1)
        #expect(refused.summaries[0].deletionListing == "content sync (delete phase)")
        #expect(try inactive(environment).isEmpty)
        #expect(try environment.status().cursor == cursor)

        try environment.sqlite("DROP TRIGGER refuse;")
        let retried = try environment.run()
        #expect(retried.exitCode == 0)
        #expect(retried.summaries[0].deletionListing == "content sync (delete phase)")
        #expect(try inactive(environment) == [key])
        #expect(try environment.status().retry.isEmpty)
    }
}

extension SyncEnvironment {
    /// Runs SQL on the app database with the sqlite3 shell, as the application would.
    func sqlite(_ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [appPath, sql]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "sqlite3 \(sql)")
    }
}

@Suite struct ContentSyncCookieRecordTests {
    @Test func theCookieRoundTripsWithTheCursorAndOlderRecordsHaveNone() throws {
        var record = CursorRecord(cursor: Timestamp(seconds: 1_700_000_000, nanoseconds: 0), lastReadDuration: .seconds(3),
                                  mappingItems: ["id:entryuuid"], appEditsSince: Timestamp(seconds: 1_700_000_100, nanoseconds: 0),
                                  appEditsConfiguration: "x")
        let older = StateRecords.encode(record)
        #expect(try StateRecords.decodeCursor(older) == record)
        #expect(try StateRecords.decodeCursor(older).contentSync == nil)
        record.contentSync = ContentSyncCookie(search: "ldap://h\nou=people\nsub\n(objectClass=*)", cookie: Array("rid=000,csn=1".utf8) + [0, 255])
        let encoded = StateRecords.encode(record)
        #expect(try StateRecords.decodeCursor(encoded) == record)
        // Without the app-edit bound the cookie still follows.
        record.appEditsSince = nil
        record.appEditsConfiguration = ""
        #expect(try StateRecords.decodeCursor(StateRecords.encode(record)) == record)
        // A flag byte other than 1 is a damaged record, not a cookie.
        var damaged = encoded
        damaged[older.count] = 2
        #expect(throws: RecordDecodingError.self) { try StateRecords.decodeCursor(damaged) }
    }
}
