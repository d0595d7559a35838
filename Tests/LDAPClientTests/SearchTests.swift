import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct SearchTests {
    @Test func pagedSearchReturnsEveryEntryExactlyOnce() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        #expect(!connection.readsAhead)
        var seen: [String: Int] = [:]
        let summary = try connection.search(SearchRequest(
            // Other tests add entries beside the fixture: count the fixture's people only.
            base: server.peopleBase, filter: "(&(objectClass=inetOrgPerson)(uid=user*))", attributes: ["uid"], pageSize: 100
        )) { entry in
            let uid = try #require(entry.values(of: "uid")?.first)
            seen[String(decoding: uid, as: UTF8.self), default: 0] += 1
        }
        #expect(summary.entries == TestServers.people)
        #expect(seen.count == TestServers.people)
        #expect(seen.values.allSatisfy { $0 == 1 })
        #expect(Set(seen.keys) == Set((1...TestServers.people).map(Fixtures.personUID)))
        // 5,200 entries at 100 per page: 52 full pages and a last, empty-cookie page.
        #expect(summary.pages >= 52)
        // Read through liblber's read-ahead buffer from the first page on.
        #expect(connection.readsAhead)
    }

    enum Transport: String, CaseIterable { case ldap, ldaps, startTLS, ldapi }

    /// The read-ahead buffer sits under TLS and works on every kind of connection: a paged
    /// search returns every entry, in pages smaller and larger than the buffer's 64 KB.
    @Test(arguments: Transport.allCases) func pagedSearchReadsAheadOnEveryTransport(_ transport: Transport) throws {
        // The standard server's 5,200 people over plain LDAP; the TLS server's 10 otherwise
        // (SASL EXTERNAL over ldapi has the default size limit of 500).
        let server = try (transport == .ldap ? TestServers.standard : TestServers.tls).get()
        var options = ConnectionOptions()
        options.caFile = server.caFile
        let connection: LDAPConnection
        switch transport {
        case .ldap:
            connection = try server.syncConnection()
        case .ldaps:
            let url = try #require(server.ldapsURL)
            connection = try LDAPConnection(url: url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), options: options)
        case .startTLS:
            options.startTLS = true
            connection = try LDAPConnection(url: server.url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), options: options)
        case .ldapi:
            connection = try LDAPConnection(url: server.ldapiURL)
        }
        if transport == .ldapi {
            try connection.bindExternal()
        } else if transport != .ldap {
            try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        }
        let expected = transport == .ldap ? TestServers.people : 10
        for pageSize in [3, 1_000] {
            var uids: Set<String> = []
            let summary = try connection.search(SearchRequest(
                base: server.peopleBase, filter: "(&(objectClass=inetOrgPerson)(uid=user*))",
                attributes: ["uid", "cn", "mail"], pageSize: pageSize
            )) { entry in
                uids.insert(String(decoding: try #require(entry.values(of: "uid")?.first), as: UTF8.self))
            }
            #expect(summary.entries == expected)
            #expect(uids == Set((1...expected).map(Fixtures.personUID)))
            #expect(connection.readsAhead)
        }
        // Other operations on the connection go on working after the search.
        #expect(try connection.readEntry(dn: server.configuration.suffix) != nil)
    }

    @Test func sizeLimitOfTheAccountIsAnErrorNotAShortResult() throws {
        let server = try TestServers.standard.get()
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.limitedDN, password: Secret(server.configuration.limitedPassword))
        var delivered = 0
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, attributes: ["uid"], pageSize: 100)) { _ in delivered += 1 }
        }
        #expect(error?.code == .sizeLimitExceeded)
        #expect(error?.description.contains("incomplete") == true)
        #expect(delivered <= server.configuration.sizeLimit)
    }

    @Test func clientSizeLimitIsAnError() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, attributes: ["1.1"], pageSize: nil, sizeLimit: 10)) { _ in }
        }
        #expect(error?.code == .sizeLimitExceeded)
    }

    @Test func attributeNamesAreCaseInsensitiveAndOptionsKept() throws {
        let server = try TestServers.standard.get()
        let root = try server.rootConnection()
        let dn = "uid=options-test,\(server.peopleBase)"
        try root.perform(.add(dn: dn, attributes: [
            Attribute("objectClass", strings: ["inetOrgPerson"]), Attribute("uid", strings: ["options-test"]),
            Attribute("cn", strings: ["Options Test"]), Attribute("sn", strings: ["Test"]),
            Attribute("description;lang-fr", strings: ["bonjour"]), Attribute("description", strings: ["hello"]),
        ]))
        let entry = try #require(try root.readEntry(dn: dn, attributes: ["description", "SN"]))
        #expect(entry["DESCRIPTION;LANG-FR"] == [Array("bonjour".utf8)])
        #expect(entry["description"] == [Array("hello".utf8)])
        #expect(entry.attributes.map(\.name.description).contains("description;lang-fr"))
        #expect(entry["sn"] == [Array("Test".utf8)])
    }

    @Test func bodyErrorAbandonsTheSearchAndKeepsTheConnectionUsable() throws {
        struct Stop: Error {}
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        var delivered = 0
        #expect(throws: Stop.self) {
            try connection.search(SearchRequest(base: server.peopleBase, attributes: ["uid"], pageSize: 100)) { _ in
                delivered += 1
                if delivered == 150 { throw Stop() }
            }
        }
        #expect(delivered == 150)
        let root = try connection.readRootDSE()
        #expect(root.namingContexts.contains(server.configuration.suffix))
    }

    @Test func theHookAfterEachNextPageRequestRunsBeforeThatPagesEntries() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        var delivered = 0
        var deliveredAtHook: [Int] = []
        let summary = try connection.search(SearchRequest(base: server.peopleBase, filter: "(&(objectClass=inetOrgPerson)(uid=user*))",
                                                          attributes: ["uid"], pageSize: 1000),
                                            afterNextPageRequest: { deliveredAtHook.append(delivered) }) { _ in delivered += 1 }
        #expect(delivered == TestServers.people)
        // Once for each page after the first, when every entry of the pages before it is in.
        #expect(deliveredAtHook == Array(1..<summary.pages).map { $0 * 1000 })
    }

    @Test func anErrorOfTheHookAbandonsTheSearchAndKeepsTheConnectionUsable() throws {
        struct Stop: Error {}
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        var delivered = 0
        #expect(throws: Stop.self) {
            try connection.search(SearchRequest(base: server.peopleBase, attributes: ["uid"], pageSize: 100),
                                  afterNextPageRequest: { if delivered >= 200 { throw Stop() } }) { _ in delivered += 1 }
        }
        #expect(delivered == 200)
        let root = try connection.readRootDSE()
        #expect(root.namingContexts.contains(server.configuration.suffix))
    }

    @Test func rootDSEAdvertisesPagedResults() throws {
        let server = try TestServers.standard.get()
        let rootDSE = try server.syncConnection().readRootDSE()
        #expect(rootDSE.supportsPagedResults)
        #expect(rootDSE.subschemaSubentry?.lowercased() == "cn=subschema")
        #expect(!rootDSE.isActiveDirectory)
    }

    @Test func schemaListsMailAsMultiValuedCaseIgnore() throws {
        let server = try TestServers.standard.get()
        let schema = try server.syncConnection().readSchema()
        let mail = try #require(schema.attributeType("MAIL"))
        #expect(!mail.isSingleValued)
        // OpenLDAP defines mail with caseIgnoreIA5Match, the IA5 form of caseIgnoreMatch.
        #expect(mail.equality == "caseIgnoreIA5Match")
        #expect(mail.isCaseInsensitive)
        #expect(mail.names.contains("rfc822Mailbox"))
        // cn states no EQUALITY of its own: it inherits caseIgnoreMatch from name.
        #expect(schema.attributeType("cn")?.equality == "caseIgnoreMatch")
        #expect(schema.attributeType("jpegPhoto")?.isCaseInsensitive == false)
        #expect(schema.attributeType("entryUUID")?.isNoUserModification == true)
        let allowed = schema.allowedAttributes(forObjectClasses: ["inetOrgPerson"])
        #expect(allowed.contains("telephonenumber"))  // from organizationalPerson
        #expect(allowed.contains("objectclass"))      // from top
        #expect(!allowed.contains("memberuid"))
        #expect(schema.objectClass("inetOrgPerson")?.kind == .structural)
    }
}

@Suite struct SearchLimitTests {
    @Test func serverTimeLimitIsAnErrorNotAShortResult() throws {
        // A one-second time limit and a reader that stalls: the page (about 10 MB) fills
        // the socket buffers, slapd waits, the page takes longer than the limit, and
        // slapd ends it with timeLimitExceeded.
        let people = 30_000
        let server = try SlapdServer.start(ldif: Fixtures.people(count: people))
        let connection = try server.syncConnection()
        var delivered = 0
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, filter: "(uid=user*)", pageSize: people, timeLimit: 1)) { _ in
                delivered += 1
                if delivered == 1 { usleep(2_500_000) }
            }
        }
        #expect(error?.code == .timeLimitExceeded)
        #expect(delivered < people)
    }

    @Test func adminLimitIsAnErrorNotAShortResult() throws {
        var configuration = SlapdServer.Configuration()
        configuration.limitedAccountLimits = "size.unchecked=100"
        let server = try SlapdServer.start(configuration, ldif: Fixtures.people(count: 300))
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: configuration.limitedDN, password: Secret(configuration.limitedPassword))
        // description is not indexed: the search would examine all 300 entries.
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, filter: "(description=Fixture*)", pageSize: 100)) { _ in }
        }
        #expect(error?.code == .adminLimitExceeded)
    }

    @Test func serverRefusingPagedResultsIsAnError() throws {
        var configuration = SlapdServer.Configuration()
        configuration.limitedAccountLimits = "size.prtotal=disabled"
        let server = try SlapdServer.start(configuration, ldif: Fixtures.people(count: 50))
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: configuration.limitedDN, password: Secret(configuration.limitedPassword))
        var delivered = 0
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, pageSize: 10)) { _ in delivered += 1 }
        }
        #expect(error?.code == .adminLimitExceeded)
        #expect(error?.diagnostic?.contains("pagedResults") == true)
        #expect(delivered == 0)
    }
}
