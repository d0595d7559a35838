import DirectoryModel
import Foundation
import SlapdSupport
import SyncConfig
@testable import SyncRunner
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The doctor's reach checks against real slapd servers, one per certificate variant:
/// each failure is named by the line an administrator reads.
@Suite struct DoctorReachTests {
    // MARK: Passing

    @Test func ldapsWithTheRightCAPasses() throws {
        let server = try ReachServers.valid.get()
        let url = try #require(server.ldapsURL)
        let port = try #require(URLComponents(string: url)?.port)
        let caFile = try #require(server.caFile)
        let (checks, reachable) = ReachChecks.run(directory(url: url, caFile: caFile))

        #expect(reachable)
        #expect(checks.map(\.status) == [.pass, .pass, .pass])
        #expect(checks.map(\.area) == ["resolve", "tcp", "tls"])
        #expect(checks[0].text == "PASS  corp  resolve: 127.0.0.1 is an IP address (no lookup needed)")
        #expect(checks[1].text == "PASS  corp  TCP: 127.0.0.1:\(port) accepts connections")
        let tls = checks[2].text
        #expect(tls.hasPrefix("PASS  corp  TLS: certificate for localhost, "))
        #expect(tls.contains(", 127.0.0.1, issued by CN=ldapsync test CA, valid until "))
        #expect(tls.hasSuffix(" UTC, trusted (CA file \(caFile)); ldaps on 127.0.0.1:\(port)"))
    }

    @Test func startTLSOnLocalhostPasses() throws {
        let server = try ReachServers.valid.get()
        let caFile = try #require(server.caFile)
        let (checks, reachable) = ReachChecks.run(directory(url: server.localhostURL, startTLS: true, caFile: caFile))

        #expect(reachable)
        #expect(checks.map(\.status) == [.pass, .pass, .pass])
        #expect(checks[0].summary == "resolved localhost to 127.0.0.1")
        #expect(checks[2].summary.hasPrefix("TLS: certificate for localhost, "))
        #expect(checks[2].summary.hasSuffix("trusted (CA file \(caFile)); StartTLS on \(server.localhostURL.dropFirst("ldap://".count))"))
    }

    @Test func plainLDAPToLoopbackNeedsNoTLS() throws {
        let server = try ReachServers.plain.get()
        let (checks, reachable) = ReachChecks.run(directory(url: server.url))
        #expect(reachable)
        let tls = try #require(checks.last)
        #expect(tls.area == "tls")
        #expect(tls.status == .pass)
        #expect(tls.summary == "TLS: not needed: ldap:// to a loopback address stays on this machine")
    }

    @Test func ldapiSocketIsReached() throws {
        let server = try ReachServers.plain.get()
        let (checks, reachable) = ReachChecks.run(directory(url: server.ldapiURL))
        #expect(reachable)
        #expect(checks.map(\.text) == [
            "PASS  corp  ldapi: socket \(server.ldapiSocketPath) accepts connections",
            "PASS  corp  TLS: not needed: ldapi:// is a local socket",
        ])
    }

    // MARK: Name resolution and TCP

    @Test func missingLdapiSocketFails() {
        let (checks, reachable) = ReachChecks.run(directory(url: "ldapi://%2Fnonexistent%2Fslapd%2Fldapi"))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.fail])
        #expect(checks[0].summary == "ldapi: socket /nonexistent/slapd/ldapi does not exist")
    }

    @Test func unresolvableHostFailsFast() {
        let started = ContinuousClock.now
        let (checks, reachable) = ReachChecks.run(directory(url: "ldaps://ldap.ldapsync-doctor.invalid:636"))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.fail, .skip, .skip])
        #expect(checks.map(\.area) == ["resolve", "tcp", "tls"])
        #expect(checks[0].summary.hasPrefix("cannot resolve ldap.ldapsync-doctor.invalid: "))
        #expect(checks[0].summary.count > "cannot resolve ldap.ldapsync-doctor.invalid: ".count, "the resolver's message follows")
        #expect(checks[1].advice == "ldap.ldapsync-doctor.invalid did not resolve")
    }

    @Test func stoppedServerIsConnectionRefused() throws {
        let server = try SlapdServer.start()
        let url = server.url
        try server.stop()
        let port = try #require(URLComponents(string: url)?.port)
        let (checks, reachable) = ReachChecks.run(directory(url: url))

        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .fail])
        #expect(checks[1].area == "tcp")
        #expect(checks[1].text == """
            FAIL  corp  TCP: connection refused by 127.0.0.1:\(port)
                  → nothing accepts connections there: is slapd (the LDAP server) running, is the port right (389 for ldap://, 636 for ldaps://), does a firewall reject it?
            """)
    }

    @Test func wrongPortIsConnectionRefusedAndTLSIsSkipped() throws {
        let port = try unusedPort()
        let (checks, reachable) = ReachChecks.run(directory(url: "ldaps://localhost:\(port)"))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .fail, .skip])
        #expect(checks[1].summary == "TCP: connection refused by localhost:\(port) (127.0.0.1)")
        #expect(checks[2].summary == "TLS: not checked")
        #expect(checks[2].advice == "no connection to localhost:\(port) (see above)")
    }

    @Test func serverThatNeverAnswersIsATimeout() throws {
        // A listener whose accept queue (backlog 0) is full: the kernel drops further
        // connection requests, as a firewall that drops packets would.
        let listener = try SilentListener(backlog: 0)
        let filler = try listener.fill()
        defer { close(filler) }
        let started = ContinuousClock.now
        let (checks, reachable) = ReachChecks.run(directory(url: "ldap://127.0.0.1:\(listener.port)", timeout: .seconds(1)))
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .fail])
        #expect(checks[1].summary == "TCP: no answer from 127.0.0.1:\(listener.port) within 1s: a firewall dropping packets?")
        #expect(checks[1].advice?.hasPrefix("the server never answered: a firewall") == true)
    }

    @Test func serverThatNeverAnswersTheTLSHandshakeFails() throws {
        // Connections complete in the kernel, but nothing ever reads or answers them.
        let listener = try SilentListener(backlog: 16)
        let started = ContinuousClock.now
        let (checks, reachable) = ReachChecks.run(directory(url: "ldaps://127.0.0.1:\(listener.port)", timeout: .seconds(1)))
        #expect(ContinuousClock.now - started < .seconds(6))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .pass, .fail])
        #expect(checks[2].summary == "TLS: no answer to the TLS handshake from 127.0.0.1:\(listener.port) within 1s")
    }

    // MARK: TLS failures

    @Test func expiredCertificateFails() throws {
        let server = try ReachServers.expired.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: server.caFile))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .pass, .fail])
        #expect(checks[2].summary.hasPrefix("TLS: certificate expired on 2021-01-01 00:00:00 UTC (certificate for localhost, "))
        #expect(checks[2].advice?.hasPrefix("install a renewed certificate on the server") == true)
    }

    @Test func notYetValidCertificateFails() throws {
        let server = try ReachServers.notYetValid.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: server.caFile))
        #expect(!reachable)
        #expect(checks[2].status == .fail)
        #expect(checks[2].summary.hasPrefix("TLS: certificate not yet valid: valid from 2099-01-01 00:00:00 UTC"))
    }

    @Test func certificateForAnotherHostIsAHostNameMismatch() throws {
        let server = try ReachServers.wrongHost.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: server.caFile))
        #expect(!reachable)
        #expect(checks[2].status == .fail)
        #expect(checks[2].summary == "TLS: host name mismatch: the certificate names wrong.example.com; the URL names 127.0.0.1")
    }

    @Test func certificateFromAnotherCAIsNotTrusted() throws {
        let server = try ReachServers.untrusted.get()
        let caFile = try #require(server.caFile)
        let url = try #require(server.ldapsURL)
        let (checks, reachable) = ReachChecks.run(directory(url: url, caFile: caFile))
        #expect(!reachable)
        #expect(checks[2].status == .fail)
        #expect(checks[2].summary == "TLS: certificate not trusted: issued by CN=ldapsync untrusted test CA, which is not in the CA file \(caFile)")

        // Without a CA file, the system's store is the one that lacks it.
        let (system, _) = ReachChecks.run(directory(url: url))
        #expect(system[2].summary == "TLS: certificate not trusted: issued by CN=ldapsync untrusted test CA, which is not in the system's trusted CAs (TLS_CACERT in ldap.conf)")
    }

    @Test func startTLSRefusedByAServerWithoutTLSFails() throws {
        let server = try ReachServers.plain.get()
        let (checks, reachable) = ReachChecks.run(directory(url: server.url, startTLS: true))
        #expect(!reachable)
        #expect(checks.map(\.status) == [.pass, .pass, .fail])
        #expect(checks[2].summary.hasPrefix("TLS: StartTLS refused by the server ("))
    }

    @Test func ldapsOnAPlainLDAPPortFailsTheHandshake() throws {
        let server = try ReachServers.plain.get()
        let port = try #require(URLComponents(string: server.url)?.port)
        let (checks, reachable) = ReachChecks.run(directory(url: "ldaps://127.0.0.1:\(port)"))
        #expect(!reachable)
        #expect(checks[2].status == .fail)
        #expect(checks[2].summary.hasPrefix("TLS: handshake with 127.0.0.1:\(port) failed"))
        #expect(checks[2].advice?.contains("use ldap:// with startTLS: true") == true)
    }

    @Test func unreadableCAFileFails() throws {
        let server = try ReachServers.valid.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: "/nonexistent/ca.pem"))
        #expect(!reachable)
        #expect(checks[2].summary == "TLS: cannot read the CA file /nonexistent/ca.pem: No such file or directory")
    }

    // MARK: Warnings

    @Test func certificateExpiringWithin30DaysWarns() throws {
        let server = try ReachServers.expiringSoon.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: server.caFile))
        #expect(reachable)
        #expect(checks[2].status == .warn)
        #expect(checks[2].summary.hasPrefix("TLS: certificate for localhost, "))
        // Made valid for 10 days a moment ago: 9 whole days and some hours remain.
        #expect(checks[2].summary.contains(" UTC, in 9 days; ldaps on 127.0.0.1:"))
    }

    @Test func verificationOffWarnsAndSaysWhatVerificationWouldFind() throws {
        let server = try ReachServers.expired.get()
        let (checks, reachable) = ReachChecks.run(directory(url: try #require(server.ldapsURL), caFile: server.caFile, verify: false))
        #expect(reachable)
        #expect(checks[2].status == .warn)
        #expect(checks[2].summary.hasPrefix("TLS: certificate verification is off (tls.verify: false); with it on: certificate expired on 2021-01-01 00:00:00 UTC"))
    }

    // MARK: Helpers

    private func directory(url: String, startTLS: Bool = false, caFile: String? = nil, verify: Bool = true,
                           timeout: Duration = .seconds(5)) -> DirectoryConfiguration {
        DirectoryConfiguration(
            name: "corp", type: .openldap, url: url, startTLS: startTLS, tls: TLSConfiguration(caFile: caFile, verify: verify),
            bind: BindConfiguration(dn: "cn=sync,ou=services,dc=example,dc=com", password: .environment("UNUSED")),
            timeout: timeout,
            users: UserScope(base: "ou=people,dc=example,dc=com", scope: .sub, filter: "(objectClass=inetOrgPerson)", id: "entryUUID", key: "uid"),
            groups: nil,
            timestamp: TimestampConfiguration(attribute: "modifyTimestamp", pattern: "openldap", overlap: .seconds(600)))
    }

    /// A loopback port nothing listens on: bound by the kernel's choice, then released.
    private func unusedPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        try #require(named == 0)
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// One server per certificate variant, started on first use and shared by the tests.
private enum ReachServers {
    static let plain = Result { try SlapdServer.start() }
    static let valid = start(.valid)
    static let expired = start(.expired)
    static let notYetValid = start(.notYetValid)
    static let expiringSoon = start(.expiringSoon)
    static let wrongHost = start(.wrongHost)
    static let untrusted = start(.untrustedCA)

    private static func start(_ certificate: SlapdServer.ServerCertificate) -> Result<SlapdServer, any Error> {
        Result {
            var configuration = SlapdServer.Configuration()
            configuration.tls = true
            configuration.serverCertificate = certificate
            return try SlapdServer.start(configuration)
        }
    }
}
