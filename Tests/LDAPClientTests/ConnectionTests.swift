import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport
import Testing

@Suite struct ConnectionTests {
    @Test func wrongPasswordIsInvalidCredentials() throws {
        let server = try TestServers.standard.get()
        let connection = try LDAPConnection(url: server.url)
        let error = #expect(throws: LDAPError.self) {
            try connection.bind(dn: server.configuration.syncDN, password: Secret("not-the-password"))
        }
        #expect(error?.code == .invalidCredentials)
        #expect(error?.code.rawValue == 49)
        #expect(error?.operation == "bind")
        #expect(error?.description.contains("Invalid credentials") == true)
        #expect(error?.description.contains("not-the-password") == false)
    }

    @Test func emptyPasswordIsRefusedNotAnAnonymousBind() throws {
        let server = try TestServers.standard.get()
        let connection = try LDAPConnection(url: server.url)
        let error = #expect(throws: LDAPError.self) {
            try connection.bind(dn: server.configuration.syncDN, password: Secret(""))
        }
        #expect(error?.code == .paramError)
    }

    @Test func ldapiWithSASLExternal() throws {
        let server = try TestServers.standard.get()
        let connection = try LDAPConnection(url: server.ldapiURL)
        try connection.bindExternal()
        let entry = try connection.readEntry(dn: server.configuration.suffix, attributes: ["objectClass"])
        #expect(entry != nil)
    }

    @Test func staleDiagnosticIsNotReportedForTheNextError() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        let first = #expect(throws: LDAPError.self) {
            try connection.perform(.add(dn: "uid=stale,\(server.peopleBase)", attributes: [
                Attribute("objectClass", strings: ["inetOrgPerson"]), Attribute("uid", strings: ["stale"]),
            ]))
        }
        #expect(first?.diagnostic?.isEmpty == false)
        let second = #expect(throws: LDAPError.self) {
            try connection.readEntry(dn: "ou=nowhere,\(server.configuration.suffix)")
        }
        #expect(second?.code == .noSuchObject)
        #expect(second?.diagnostic != first?.diagnostic)
    }

    @Test func unreachableServerIsServerDown() throws {
        var options = ConnectionOptions()
        options.networkTimeout = .seconds(2)
        let connection = try LDAPConnection(url: "ldap://127.0.0.1:1", options: options)
        let error = #expect(throws: LDAPError.self) { try connection.bind(dn: "cn=x", password: Secret("x")) }
        #expect(error?.code == .serverDown)
        #expect(connection.isAlive == false)
    }

    @Test func serverKilledMidSearchIsServerDownAndReconnectWorks() throws {
        let server = try SlapdServer.start(ldif: Fixtures.people(count: 3_000))
        let connection = try server.syncConnection()
        var delivered = 0
        let error = #expect(throws: LDAPError.self) {
            try connection.search(SearchRequest(base: server.peopleBase, attributes: ["uid"], pageSize: 100)) { _ in
                delivered += 1
                if delivered == 250 { server.kill() }
            }
        }
        #expect(error?.code == .serverDown)
        #expect(delivered < 3_000)
        #expect(connection.isAlive == false)

        try server.restart()
        try connection.reconnect()
        let summary = try connection.search(SearchRequest(base: server.peopleBase, filter: "(objectClass=inetOrgPerson)",
                                                         attributes: ["1.1"], pageSize: 1000)) { _ in }
        #expect(summary.entries == 3_000)
    }

    @Test func stoppedServerTimesOut() throws {
        let server = try SlapdServer.start()
        var options = ConnectionOptions()
        options.operationTimeout = .milliseconds(500)
        let connection = try LDAPConnection(url: server.url, options: options)
        try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        let pid = try #require(server.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        // SIGSTOP takes effect asynchronously: wait until the process state says stopped.
        let deadline = ContinuousClock.now + .seconds(2)
        while !isStopped(pid), ContinuousClock.now < deadline { usleep(1_000) }
        #expect(isStopped(pid))
        let started = ContinuousClock.now
        let error = #expect(throws: LDAPError.self) { try connection.readRootDSE() }
        #expect(error?.code == .timeout)
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    /// libldap's ldaps:// handshake reads a blocking socket: without the receive timeout
    /// the connection sets, a server that accepts and never answers hangs the caller.
    @Test func aServerSilentDuringTheTLSHandshakeIsATimelyError() throws {
        let listener = try SilentListener(backlog: 16)
        var options = ConnectionOptions()
        options.networkTimeout = .seconds(1)
        options.operationTimeout = .seconds(1)
        let started = ContinuousClock.now
        let error = #expect(throws: LDAPError.self) {
            let connection = try LDAPConnection(url: "ldaps://127.0.0.1:\(listener.port)", options: options)
            try connection.bind(dn: "cn=sync", password: Secret("secret"))
        }
        #expect(error?.code == .timeout)
        #expect(error?.diagnostic == "TLS: no answer to the TLS handshake from 127.0.0.1:\(listener.port) within 1s")
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func ldapsVerifiesTheCertificateWithTheGivenCA() throws {
        let server = try TestServers.tls.get()
        let url = try #require(server.ldapsURL)
        var options = ConnectionOptions()
        options.caFile = server.caFile
        let connection = try LDAPConnection(url: url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), options: options)
        try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        #expect(try connection.readRootDSE().supportsPagedResults)
    }

    @Test func ldapsWithAnUntrustedCertificateFailsToConnect() throws {
        let server = try TestServers.tls.get()
        let url = try #require(server.ldapsURL)
        var options = ConnectionOptions()
        // A CA file that does not contain the server's CA: verification must fail.
        options.caFile = "/etc/ssl/certs/ca-certificates.crt"
        let connection = try LDAPConnection(url: url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), options: options)
        let error = #expect(throws: LDAPError.self) {
            try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        }
        #expect(error?.code == .serverDown || error?.code == .connectError)
        // libldap's placeholder text is replaced by the code's own message.
        #expect(error?.diagnostic?.contains("unknown error code") == false)
    }

    @Test func startTLSUpgradesAPlainConnection() throws {
        let server = try TestServers.tls.get()
        var options = ConnectionOptions()
        options.caFile = server.caFile
        options.startTLS = true
        let connection = try LDAPConnection(url: server.url.replacingOccurrences(of: "127.0.0.1", with: "localhost"), options: options)
        try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        #expect(try connection.readEntry(dn: server.configuration.suffix) != nil)
    }
}

/// Whether /proc says the process is stopped (state T).
private func isStopped(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    return stat[close...].dropFirst(2).first == "T"
}
