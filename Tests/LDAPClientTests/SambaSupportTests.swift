import DirectoryModel
import Foundation
import LDAPClient
import SambaSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Trait where Self == ConditionTrait {
    /// Skips the test, saying why in the test output, when this machine cannot run a
    /// Samba AD DC (not root, samba not installed, or LDAPSYNC_SKIP_SAMBA set).
    static var sambaDC: Self {
        .enabled(if: SambaDC.availability() == nil, Comment(rawValue: "needs a Samba AD DC: \(SambaDC.availability() ?? "")"))
    }
}

/// The Samba DC test support itself: a DC starts, speaks LDAP and LDAPS as Active
/// Directory does, takes fixtures and changes, and leaves nothing behind when stopped.
@Suite(.sambaDC) struct SambaSupportTests {
    private func administrator(_ dc: SambaDC, url: String? = nil, caFile: String? = nil) throws -> LDAPConnection {
        var options = ConnectionOptions()
        options.caFile = caFile
        let connection = try LDAPConnection(url: url ?? dc.url, options: options)
        try connection.bind(dn: dc.adminDN, password: Secret(dc.adminPassword))
        return connection
    }

    /// Whether a base search finds `dn` (AD answers noSuchObject for a missing base).
    private func exists(_ dn: String, on connection: LDAPConnection) throws -> Bool {
        do {
            return try connection.readEntry(dn: dn, attributes: ["1.1"]) != nil
        } catch let error as LDAPError where error.code == .noSuchObject {
            return false
        }
    }

    @Test func rootDSEIdentifiesActiveDirectoryOverPlainLDAP() throws {
        let dc = try SambaDC.shared()
        let rootDSE = try administrator(dc).readRootDSE()
        #expect(rootDSE.isActiveDirectory)
        #expect(rootDSE.defaultNamingContext == dc.baseDN)
        let currentTime = try #require(rootDSE.currentTime)
        #expect(currentTime.hasSuffix("Z"))
        #expect(rootDSE.supportsPagedResults)
    }

    @Test func ldapsVerifiesTheDCCertificateAgainstCAFile() throws {
        let dc = try SambaDC.shared()
        let rootDSE = try administrator(dc, url: dc.ldapsURL, caFile: dc.caFile).readRootDSE()
        #expect(rootDSE.isActiveDirectory)
        // Without our CA the same certificate is not trusted.
        #expect(throws: LDAPError.self) {
            _ = try administrator(dc, url: dc.ldapsURL, caFile: "/etc/ssl/certs/ca-certificates.crt")
        }
    }

    @Test func populationLoadsAndPagedSearchFindsEveryUser() throws {
        let dc = try SambaDC.shared()
        let ouName = ADFixtures.uniqueName("paged")
        let ou = ADFixtures.organizationalUnitDN(ouName, in: dc.baseDN)
        let population = ADFixtures.population(users: 250, groups: 4, largeGroupMembers: 300, in: ou)
        try dc.add(ldif: ADFixtures.organizationalUnit(ouName, in: dc.baseDN) + "\n" + population.ldif)

        let connection = try administrator(dc)
        var names: Set<String> = []
        let summary = try connection.search(SearchRequest(
            base: population.peopleDN, filter: "(&(objectClass=user)(objectCategory=person))",
            attributes: ["sAMAccountName", "objectGUID", "whenChanged", "userAccountControl"], pageSize: 100
        )) { entry in
            let name = try #require(entry.values(of: "sAMAccountName")?.first)
            names.insert(String(decoding: name, as: UTF8.self))
            #expect(entry.values(of: "objectGUID")?.first?.count == 16)
            #expect(entry.values(of: "userAccountControl")?.first == Array("512".utf8))
        }
        #expect(names == Set((1...250).map { ADFixtures.userName($0) }))
        #expect(summary.pages >= 3)

        let large = try #require(try connection.readEntry(dn: population.largeGroupDN, attributes: ["member"]))
        #expect(large["member"]?.count == 300)
        for dn in population.groupDNs.dropFirst() {
            let group = try #require(try connection.readEntry(dn: dn, attributes: ["member"]))
            #expect(group["member"]?.count == population.members[dn]?.count)
        }
    }

    @Test func passwordDisableEnableRenameAndDeleteChangeWhatTheDCAnswers() throws {
        let dc = try SambaDC.shared()
        let ouName = ADFixtures.uniqueName("changes")
        let ou = ADFixtures.organizationalUnitDN(ouName, in: dc.baseDN)
        try dc.add(ldif: ADFixtures.organizationalUnit(ouName, in: dc.baseDN) + "\n"
                   + ADFixtures.user(ADFixtures.numberedUser(1, prefix: "bind"), in: ou))
        let dn = ADFixtures.commonNameDN(ADFixtures.userName(1, prefix: "bind"), in: ou)
        let password = "Sync-Test-Passw0rd"
        try dc.setPassword(dn: dn, password: password)
        try LDAPConnection(url: dc.url).bind(dn: dn, password: Secret(password))

        try dc.disable(dn: dn)
        let refused = #expect(throws: LDAPError.self) {
            try LDAPConnection(url: dc.url).bind(dn: dn, password: Secret(password))
        }
        #expect(refused?.activeDirectoryCode == .accountDisabled)
        try dc.enable(dn: dn)
        try LDAPConnection(url: dc.url).bind(dn: dn, password: Secret(password))

        let moved = ADFixtures.commonNameDN("renamed", in: ou)
        try dc.rename(dn: dn, newRDN: "CN=renamed")
        let connection = try administrator(dc)
        #expect(try !exists(dn, on: connection))
        #expect(try connection.readEntry(dn: moved, attributes: ["cn"])?["cn"] == [Array("renamed".utf8)])

        try dc.delete(dn: ou, recursive: true)
        #expect(try !exists(moved, on: connection))
        #expect(try !exists(ou, on: connection))
    }

    @Test func acceptancePopulationLoadsOnceAndLaterDCsStartFromItsSnapshot() throws {
        let population = ADFixtures.acceptancePopulation
        let first = try SambaDC.start(ldif: population.ldif, snapshot: true)
        let second = try SambaDC.start(ldif: population.ldif, snapshot: true)
        print("SambaDC: provision \(first.provisionDuration), start \(first.startDuration), "
              + "acceptance population load \(first.loadDuration); from its snapshot: start \(second.startDuration)")
        #expect(second.loadDuration == .zero)
        for dc in [first, second] {
            let connection = try administrator(dc)
            let summary = try connection.search(SearchRequest(
                base: population.peopleDN, filter: "(objectClass=user)", attributes: ["1.1"], pageSize: 1000
            )) { _ in }
            #expect(summary.entries == 2_000)
            let large = try #require(try connection.readEntry(dn: population.largeGroupDN, attributes: ["member"]))
            // Samba returns all 3,000 values at once: it does not enforce MaxValRange (1,500) as Windows does.
            #expect(large["member"]?.count == 3_000)
        }
        let clock = ContinuousClock()
        let stopping = clock.now
        try second.stop()
        print("SambaDC: stop \(clock.now - stopping)")
    }

    @Test func dataWrittenBeforeAKillIsThereAfterRestart() throws {
        let ou = ADFixtures.organizationalUnitDN("Kept", in: "DC=example,DC=test")
        let dc = try SambaDC.start(ldif: ADFixtures.organizationalUnit("Kept", in: "DC=example,DC=test"))
        let pid = try #require(dc.pid)
        dc.kill()
        #expect(dc.pid == nil)
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        try dc.restart()
        #expect(dc.pid != nil && dc.pid != pid)
        #expect(try exists(ou, on: administrator(dc)))
    }

    @Test func stopEndsTheProcessAndReleasingRemovesTheDirectory() throws {
        var dc: SambaDC? = try SambaDC.start()
        let pid = try #require(dc?.pid)
        let directory = try #require(dc?.directory)
        let shared = try SambaDC.shared()
        #expect(dc?.address != shared.address)
        try dc?.stop()
        #expect(dc?.pid == nil)
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        #expect(throws: LDAPError.self) { _ = try LDAPConnection(url: dc!.url).readRootDSE() }
        dc = nil
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }
}
