import DirectoryModel
import Foundation
@testable import LDAPClient
import Testing

/// Certificates made by the openssl CLI, read back with `PeerCertificate` and compared
/// with what openssl itself says about them.
@Suite struct PeerCertificateTests {
    @Test func readsNamesAndUTCTimeValidityOfARealCertificate() throws {
        let workshop = try OpenSSLWorkshop()
        let pem = try workshop.selfSigned(
            subject: "/C=US/O=Example, Inc./CN=ldap.example.com", days: 30,
            alternativeNames: "DNS:ldap.example.com,DNS:*.corp.example.com,IP:192.0.2.7,IP:2001:db8::1")
        let certificate = try #require(try PeerCertificate.certificates(pem: pem).first)

        #expect(certificate.subject == #"CN=ldap.example.com,O=Example\, Inc.,C=US"#)
        #expect(certificate.issuer == certificate.subject)
        #expect(certificate.isSelfIssued)
        #expect(certificate.subjectCommonName == "ldap.example.com")
        #expect(certificate.dnsNames == ["ldap.example.com", "*.corp.example.com"])
        #expect(certificate.ipAddresses.map(PeerCertificate.ipText) == ["192.0.2.7", "2001:db8::1"])
        #expect(certificate.hostNames == ["ldap.example.com", "*.corp.example.com", "192.0.2.7", "2001:db8::1"])
        let (notBefore, notAfter) = try workshop.dates(pem)
        #expect(certificate.notBefore == notBefore)
        #expect(certificate.notAfter == notAfter)
        #expect(certificate.notAfter - certificate.notBefore == .seconds(30 * 86_400))
    }

    @Test func readsGeneralizedTimeAfter2049() throws {
        let workshop = try OpenSSLWorkshop()
        // 100 years from now: RFC 5280 writes dates from 2050 on as GeneralizedTime.
        let pem = try workshop.selfSigned(subject: "/CN=far.example.com", days: 36_500, alternativeNames: nil)
        let certificate = try #require(try PeerCertificate.certificates(pem: pem).first)
        let (_, notAfter) = try workshop.dates(pem)
        #expect(certificate.notAfter == notAfter)
        #expect(certificate.notAfter.components.year >= 2_100)
        #expect(certificate.dnsNames.isEmpty)
        #expect(certificate.hostNames == ["far.example.com"])
    }

    @Test func readsTheIssuerOfACertificateSignedByACA() throws {
        let workshop = try OpenSSLWorkshop()
        let ca = try workshop.selfSigned(subject: "/O=Example/CN=Example Root CA", days: 10, alternativeNames: nil, name: "ca")
        let leaf = try workshop.signed(subject: "/CN=ldap.example.com", by: "ca", alternativeNames: "DNS:ldap.example.com")
        let authority = try #require(try PeerCertificate.certificates(pem: ca).first)
        let certificate = try #require(try PeerCertificate.certificates(pem: leaf).first)
        #expect(certificate.issuer == "CN=Example Root CA,O=Example")
        #expect(certificate.issuerCommonName == "Example Root CA")
        #expect(!certificate.isSelfIssued)
        #expect(certificate.issuerName == authority.subjectName)
        // A bundle: both certificates, in file order.
        #expect(try PeerCertificate.certificates(pem: ca + "\n" + leaf).map(\.subject) == ["CN=Example Root CA,O=Example", "CN=ldap.example.com"])
    }

    @Test func hostMatchingFollowsRFC6125() throws {
        let workshop = try OpenSSLWorkshop()
        let pem = try workshop.selfSigned(
            subject: "/CN=ignored.example.com", days: 1,
            alternativeNames: "DNS:ldap.example.com,DNS:*.corp.example.com,IP:192.0.2.7,IP:2001:db8::1")
        let certificate = try #require(try PeerCertificate.certificates(pem: pem).first)
        for host in ["ldap.example.com", "LDAP.Example.COM", "ldap.example.com.", "dc1.corp.example.com", "192.0.2.7", "2001:db8::1", "2001:0db8:0:0::1"] {
            #expect(certificate.names(host: host), "\(host)")
        }
        // The CN does not count when there are DNS names; a wildcard is one whole label.
        for host in ["ignored.example.com", "corp.example.com", "a.b.corp.example.com", "example.com", "192.0.2.8", "ldap.example.org", ""] {
            #expect(!certificate.names(host: host), "\(host)")
        }
        // An IP address never matches a DNS name that spells it.
        let spelled = try #require(try PeerCertificate.certificates(pem: workshop.selfSigned(subject: "/CN=x", days: 1, alternativeNames: "DNS:192.0.2.7")).first)
        #expect(!spelled.names(host: "192.0.2.7"))
    }

    @Test(arguments: [
        ("*.example.com", "a.example.com", true), ("*.example.com", "example.com", false),
        ("*.example.com", "a.b.example.com", false), ("*.com", "example.com", false),
        ("a.*.example.com", "a.b.example.com", false), ("*", "localhost", false),
        ("ldap.example.com", "LDAP.example.com", true), ("*.example.com", ".example.com", false),
    ])
    func wildcardRules(pattern: String, host: String, matches: Bool) {
        #expect(PeerCertificate.dnsName(pattern, matches: host) == matches)
    }

    @Test func withoutAlternativeNamesTheCommonNameIsTheHostName() throws {
        let workshop = try OpenSSLWorkshop()
        let pem = try workshop.selfSigned(subject: "/CN=legacy.example.com", days: 1, alternativeNames: nil)
        let certificate = try #require(try PeerCertificate.certificates(pem: pem).first)
        #expect(certificate.names(host: "legacy.example.com"))
        #expect(!certificate.names(host: "other.example.com"))
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let workshop = try OpenSSLWorkshop()
        let pem = try workshop.selfSigned(subject: "/CN=ldap.example.com", days: 1, alternativeNames: "DNS:ldap.example.com,IP:10.0.0.1")
        let der = try #require(try PeerCertificate.certificates(pem: pem).first).der
        for length in 0..<der.count {
            #expect(throws: CertificateError.self) { try PeerCertificate(der: Array(der.prefix(length))) }
        }
        #expect(throws: CertificateError.self) { try PeerCertificate(der: der + [0x00]) }
    }

    @Test func corruptedBytesAreAnErrorOrAReadingNeverACrash() throws {
        let workshop = try OpenSSLWorkshop()
        let pem = try workshop.selfSigned(subject: "/CN=ldap.example.com", days: 1, alternativeNames: "DNS:ldap.example.com,IP:10.0.0.1")
        let der = try #require(try PeerCertificate.certificates(pem: pem).first).der
        var generator = SystemRandomNumberGenerator()
        var errors = 0
        for _ in 0..<3_000 {
            var bytes = der
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            do { _ = try PeerCertificate(der: bytes) } catch { errors += 1 }
        }
        #expect(errors > 0)
    }

    @Test(arguments: [
        [UInt8](), [0x30], [0x30, 0x80, 0x00, 0x00], [0x30, 0x85, 1, 2, 3, 4, 5], [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        [0x1F, 0x01, 0x00], [0x30, 0x03, 0x02, 0x01], Array("-----BEGIN CERTIFICATE-----".utf8),
    ])
    func malformedDERIsRejectedWithAReason(bytes: [UInt8]) {
        let error = #expect(throws: CertificateError.self) { try PeerCertificate(der: bytes) }
        #expect(error?.description.hasPrefix("malformed certificate: ") == true)
    }

    @Test func pemWithInvalidBase64IsRejected() throws {
        let pem = "-----BEGIN CERTIFICATE-----\nMII!!!notbase64\n-----END CERTIFICATE-----\n"
        #expect(throws: CertificateError.self) { try PeerCertificate.certificates(pem: pem) }
        #expect(try PeerCertificate.certificates(pem: "no certificate here").isEmpty)
    }

    @Test func unreadableCAFileNamesThePathAndTheReason() {
        let error = #expect(throws: CertificateFileError.self) { try PeerCertificate.certificates(pemFile: "/nonexistent/ca.pem") }
        #expect(error?.description == "cannot read /nonexistent/ca.pem: No such file or directory")
    }
}

/// A temporary directory where the openssl CLI makes keys and certificates.
final class OpenSSLWorkshop {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("peer-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// A self-signed certificate (PEM); its key is kept as `<name>.key` for `signed`.
    func selfSigned(subject: String, days: Int, alternativeNames: String?, name: String = UUID().uuidString) throws -> String {
        var arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                         "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", String(days), "-subj", subject]
        if let alternativeNames { arguments += ["-addext", "subjectAltName=\(alternativeNames)"] }
        try openssl(arguments)
        return try String(contentsOfFile: path("\(name).pem"), encoding: .utf8)
    }

    /// A certificate signed by the CA made with `selfSigned(…, name: ca)`.
    func signed(subject: String, by ca: String, alternativeNames: String) throws -> String {
        let name = UUID().uuidString
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject])
        try "subjectAltName=\(alternativeNames)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                     "-set_serial", "7", "-days", "5", "-extfile", path("\(name).ext"), "-out", path("\(name).pem")])
        return try String(contentsOfFile: path("\(name).pem"), encoding: .utf8)
    }

    /// notBefore and notAfter as openssl prints them.
    func dates(_ pem: String) throws -> (Timestamp, Timestamp) {
        let file = path("\(UUID().uuidString).pem")
        try pem.write(toFile: file, atomically: true, encoding: .utf8)
        let output = try openssl(["x509", "-in", file, "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601"])
        // notBefore=2020-01-01 00:00:00Z
        var values: [String: Timestamp] = [:]
        for line in output.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            values[String(parts[0])] = try Timestamp(iso8601: parts[1].replacingOccurrences(of: " ", with: "T"))
        }
        return (try #require(values["notBefore"]), try #require(values["notAfter"]))
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    @discardableResult
    private func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailure(arguments: arguments, output: text)
        }
        return text
    }

    struct OpenSSLFailure: Error, CustomStringConvertible {
        let arguments: [String]
        let output: String
        var description: String { "openssl \(arguments.joined(separator: " ")) failed: \(output)" }
    }
}
