import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway CA and a server certificate for `localhost` / `127.0.0.1`, made with
/// the openssl command-line tool (P-256 keys: about 50 ms for all three steps).
/// Valid for two days from now; each server gets its own.
///
/// The certificate also names this machine's host name: libldap checks a connection
/// to `localhost` against the local host's canonical name instead (its
/// `ldap_int_hostname`), so `ldaps://localhost` fails with "hostname (vm) does not
/// match common name in certificate (localhost)" unless that name is present.
struct TestCertificates {
    let caCertificate: URL
    let caKey: URL
    let serverCertificate: URL
    let serverKey: URL

    static func make(in directory: URL) throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let file = { (name: String) in directory.appendingPathComponent(name) }
        let certificates = TestCertificates(
            caCertificate: file("ca.pem"), caKey: file("ca.key"),
            serverCertificate: file("server.pem"), serverKey: file("server.key")
        )
        // Our own request configs, so the machine's openssl.cnf cannot add or clash
        // with extensions.
        let caConfig = file("ca.cnf")
        try writePrivateFile(caConfig, """
            [req]
            distinguished_name = dn
            prompt = no
            x509_extensions = v3_ca
            [dn]
            CN = ldapsync test CA
            [v3_ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash

            """)
        let serverConfig = file("server.cnf")
        try writePrivateFile(serverConfig, """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = localhost
            [v3_server]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = \(subjectAlternativeNames())
            authorityKeyIdentifier = keyid

            """)
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let environment: [String: String?] = ["OPENSSL_CONF": caConfig.path]
        try ExternalCommand.runChecked("openssl", [
            "req", "-x509", "-config", caConfig.path,
        ] + newKey + [
            "-keyout", certificates.caKey.path, "-out", certificates.caCertificate.path, "-days", "2",
        ], environment: environment, timeout: .seconds(60))
        let request = file("server.csr")
        try ExternalCommand.runChecked("openssl", [
            "req", "-new", "-config", serverConfig.path,
        ] + newKey + [
            "-keyout", certificates.serverKey.path, "-out", request.path,
        ], environment: environment, timeout: .seconds(60))
        let serial = "0x" + String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16)
        try ExternalCommand.runChecked("openssl", [
            "x509", "-req", "-in", request.path,
            "-CA", certificates.caCertificate.path, "-CAkey", certificates.caKey.path, "-set_serial", serial,
            "-days", "2", "-extfile", serverConfig.path, "-extensions", "v3_server",
            "-out", certificates.serverCertificate.path,
        ], environment: environment, timeout: .seconds(60))
        return certificates
    }

    /// `DNS:localhost`, the local host name and its canonical name, and `IP:127.0.0.1`.
    static func subjectAlternativeNames() -> String {
        var names = ["localhost"]
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count - 1) == 0 {
            let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            names.append(host)
            var hints = addrinfo()
            hints.ai_flags = AI_CANONNAME
            var info: UnsafeMutablePointer<addrinfo>?
            if getaddrinfo(host, nil, &hints, &info) == 0, let info {
                if let canonical = info.pointee.ai_canonname { names.append(String(cString: canonical)) }
                freeaddrinfo(info)
            }
        }
        // Only plain DNS names: anything else would break the openssl config line.
        let valid = names.filter { name in
            !name.isEmpty && name.utf8.allSatisfy { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || isalnum(Int32($0)) != 0 }
        }
        var unique: [String] = []
        for name in valid where !unique.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) {
            unique.append(name)
        }
        return (unique.map { "DNS:" + $0 } + ["IP:127.0.0.1"]).joined(separator: ",")
    }
}
