import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension SlapdServer {
    /// Which certificate slapd presents on ldaps:// and after StartTLS when
    /// `Configuration.tls` is true. Every variant but `valid` is wrong in one way, for
    /// testing how clients explain TLS failures; `SlapdServer.caFile` is always the CA
    /// that signed the `valid` one.
    public enum ServerCertificate: Sendable, Equatable {
        /// Signed by the test CA for `localhost`, this host's name and `127.0.0.1`;
        /// valid from now for 365 days.
        case valid
        /// As `valid`, but valid only from 2020-01-01 00:00:00 to 2021-01-01 00:00:00 UTC.
        case expired
        /// As `valid`, but valid only from 2099-01-01 00:00:00 to 2100-01-01 00:00:00 UTC
        /// (GeneralizedTime: years from 2050 cannot be written as UTCTime).
        case notYetValid
        /// As `valid`, but valid from now for 10 days only.
        case expiringSoon
        /// Signed by the test CA, valid, but for `wrong.example.com` only (CN and SAN).
        case wrongHost
        /// For the right names and dates, but signed by a second CA,
        /// `CN=ldapsync untrusted test CA`, which `caFile` does not hold.
        case untrustedCA
    }
}

/// A throwaway CA and a server certificate for `localhost` / `127.0.0.1`, made with
/// the openssl command-line tool (P-256 keys: about 50 ms for all three steps).
/// Each server gets its own; `SlapdServer.ServerCertificate` says which variant.
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

    static func make(in directory: URL, variant: SlapdServer.ServerCertificate = .valid) throws -> TestCertificates {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let file = { (name: String) in directory.appendingPathComponent(name) }
        let certificates = TestCertificates(
            caCertificate: file("ca.pem"), caKey: file("ca.key"),
            serverCertificate: file("server.pem"), serverKey: file("server.key")
        )
        let hostName = variant == .wrongHost ? "wrong.example.com" : "localhost"
        let alternativeNames = variant == .wrongHost ? "DNS:wrong.example.com" : subjectAlternativeNames()
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
            CN = \(hostName)
            [v3_server]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = \(alternativeNames)
            authorityKeyIdentifier = keyid

            """)
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let environment: [String: String?] = ["OPENSSL_CONF": caConfig.path]
        let openssl = { (arguments: [String]) in
            try ExternalCommand.runChecked("openssl", arguments, environment: environment, timeout: .seconds(60))
        }
        try openssl(["req", "-x509", "-config", caConfig.path] + newKey + [
            "-keyout", certificates.caKey.path, "-out", certificates.caCertificate.path, "-days", "365",
        ])
        var signer = (certificate: certificates.caCertificate, key: certificates.caKey)
        if variant == .untrustedCA {
            let untrustedConfig = file("untrusted-ca.cnf")
            try writePrivateFile(untrustedConfig, try String(contentsOf: caConfig, encoding: .utf8)
                .replacingOccurrences(of: "CN = ldapsync test CA", with: "CN = ldapsync untrusted test CA"))
            signer = (file("untrusted-ca.pem"), file("untrusted-ca.key"))
            try openssl(["req", "-x509", "-config", untrustedConfig.path] + newKey + [
                "-keyout", signer.key.path, "-out", signer.certificate.path, "-days", "365",
            ])
        }
        let request = file("server.csr")
        try openssl(["req", "-new", "-config", serverConfig.path] + newKey + [
            "-keyout", certificates.serverKey.path, "-out", request.path,
        ])
        switch variant {
        case .expired, .notYetValid:
            // `openssl x509 -req` of OpenSSL 3.0 cannot set dates in the past or far
            // future; `openssl ca` can, given a database and a policy.
            let (start, end) = variant == .expired ? ("20200101000000Z", "20210101000000Z") : ("20990101000000Z", "21000101000000Z")
            let database = file("ca-db")
            try FileManager.default.createDirectory(at: database, withIntermediateDirectories: false)
            try writePrivateFile(database.appendingPathComponent("index.txt"), "")
            // A fresh database per server: serial 01 is unique within the test CA.
            try writePrivateFile(database.appendingPathComponent("serial"), "01\n")
            let signingConfig = file("ca-sign.cnf")
            try writePrivateFile(signingConfig, """
                [ca]
                default_ca = test
                [test]
                database = \(database.path)/index.txt
                new_certs_dir = \(database.path)
                serial = \(database.path)/serial
                default_md = sha256
                policy = any
                unique_subject = no
                copy_extensions = none
                [any]
                commonName = supplied

                """)
            try openssl([
                "ca", "-batch", "-config", signingConfig.path, "-cert", signer.certificate.path, "-keyfile", signer.key.path,
                "-in", request.path, "-out", certificates.serverCertificate.path, "-startdate", start, "-enddate", end,
                "-extfile", serverConfig.path, "-extensions", "v3_server", "-notext",
            ])
        case .valid, .expiringSoon, .wrongHost, .untrustedCA:
            let serial = "0x" + String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16)
            try openssl([
                "x509", "-req", "-in", request.path,
                "-CA", signer.certificate.path, "-CAkey", signer.key.path, "-set_serial", serial,
                "-days", variant == .expiringSoon ? "10" : "365", "-extfile", serverConfig.path, "-extensions", "v3_server",
                "-out", certificates.serverCertificate.path,
            ])
        }
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
