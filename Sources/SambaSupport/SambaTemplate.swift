import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// The domain every test DC serves: provisioned once per test process by `samba-tool
/// domain provision` (the slow part: 5–7 s here), then copied for each DC (a copy and a
/// start take about 1.5 s). All DCs of one process are therefore copies of one domain:
/// same domain SID, same GUIDs for the built-in objects, same Administrator password.
struct SambaTemplate: Sendable {
    static let realm = "EXAMPLE.TEST"
    static let domain = "EXAMPLE"
    static let hostName = "dc1"
    static let baseDN = "DC=example,DC=test"

    /// The provisioned tree (smb.conf, private/, state/, …).
    let directory: URL
    /// The Administrator password `samba-tool` generated (read from its output).
    let adminPassword: String
    /// The CA that signs each DC's server certificate (`tls/ca.pem`, `tls/ca.key`).
    let caCertificate: URL
    let caKey: URL
    /// How long `samba-tool domain provision` took.
    let provisionDuration: Duration

    /// The process's template, provisioned on first use; a failure is kept and
    /// rethrown to every later caller rather than retried.
    static let shared: Result<SambaTemplate, SambaError> = Result { () throws(SambaError) in try provision() }

    /// The subdirectories smb.conf points every path option at.
    static let subdirectories = ["private", "lock", "state", "cache", "binddns", "pid", "ncalrpc", "winbindd", "ntp", "log", "tls"]

    private static func provision() throws(SambaError) -> SambaTemplate {
        let clock = ContinuousClock()
        let started = clock.now
        let directory = try makeDirectory(prefix: "samba-template.")
        ProcessRegistry.register(directory: directory)
        do {
            for name in subdirectories {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(name), withIntermediateDirectories: false)
            }
            // provision reads every path from this file (options given with --option
            // are not applied to all of them), so it is written first.
            let configuration = directory.appendingPathComponent("smb.conf")
            try writePrivateFile(configuration, SambaConfigurationFile.text(directory: directory, address: "127.0.0.1", tls: nil))
            // No --adminpass: it would show in `ps` and in error messages. samba-tool
            // then generates one and prints it on its last lines.
            let result = try runChecked("samba-tool", [
                "domain", "provision", "-s", configuration.path, "--targetdir=\(directory.path)",
                "--realm=\(realm)", "--domain=\(domain)", "--host-name=\(hostName)", "--server-role=dc",
                "--dns-backend=NONE", "--use-rfc2307",
            ], timeout: .seconds(300), redactingAfter: "Admin password:")
            guard let password = generatedPassword(in: result.combinedOutput) else {
                throw SambaError.commandFailed(command: "samba-tool domain provision", status: 0,
                                               output: "its output names no generated Admin password")
            }
            let tls = directory.appendingPathComponent("tls")
            let ca = try TLSFiles.makeAuthority(in: tls)
            return SambaTemplate(directory: directory, adminPassword: password, caCertificate: ca.certificate, caKey: ca.key,
                                 provisionDuration: clock.now - started)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            ProcessRegistry.unregister(directory: directory)
            throw SambaError.wrap(error)
        }
    }

    /// The value on samba-tool's `Admin password:        …` line.
    private static func generatedPassword(in output: String) -> String? {
        for line in output.split(separator: "\n") {
            guard let range = line.range(of: "Admin password:") else { continue }
            let value = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { return value }
        }
        return nil
    }

    /// A fresh 0700 directory, under `$TMPDIR` when its path is short enough for the
    /// Unix sockets Samba makes below it (ncalrpc, winbindd: 108 bytes at most), else /tmp.
    static func makeDirectory(prefix: String) throws(SambaError) -> URL {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        do {
            return try makeTemporaryDirectory(prefix: prefix, base: tmp.utf8.count <= 40 ? tmp : "/tmp")
        } catch {
            throw SambaError.wrap(error)
        }
    }
}

/// The smb.conf of a test DC: every path inside its directory, only the LDAP, CLDAP and
/// KDC services, listening on one loopback address.
enum SambaConfigurationFile {
    struct TLS {
        let certificate: URL
        let key: URL
        let authority: URL
    }

    static func text(directory: URL, address: String, tls: TLS?) -> String {
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        var text = """
            [global]
            \tnetbios name = \(SambaTemplate.hostName.uppercased())
            \trealm = \(SambaTemplate.realm)
            \tworkgroup = \(SambaTemplate.domain)
            \tserver role = active directory domain controller
            \tserver services = ldap, cldap, kdc
            \tinterfaces = \(address)/8
            \tbind interfaces only = yes
            \tdisable netbios = yes
            \t# Plain ldap:// simple binds (the default demands TLS or signing).
            \tldap server require strong auth = no
            \tprivate dir = \(path("private"))
            \tlock directory = \(path("lock"))
            \tstate directory = \(path("state"))
            \tcache directory = \(path("cache"))
            \tbinddns dir = \(path("binddns"))
            \tpid directory = \(path("pid"))
            \tncalrpc dir = \(path("ncalrpc"))
            \twinbindd socket directory = \(path("winbindd"))
            \tntp signd socket directory = \(path("ntp"))
            \tlog file = \(path("log"))/log.%m
            \tmax log size = 0
            \t# No fsync per transaction: a throwaway DC loads users 8 times faster
            \t# (3,000 users: 186 s with fsync, 23 s without, on a busy 2-core machine).
            \tldb:nosync = true
            \tdns forwarder = none

            """
        if let tls {
            text += """
                \ttls enabled = yes
                \ttls certfile = \(tls.certificate.path)
                \ttls keyfile = \(tls.key.path)
                \ttls cafile = \(tls.authority.path)

                """
        }
        return text
    }
}

/// The test CA and each DC's server certificate, made with the openssl tool (P-256).
/// Samba's own self-signed certificate names only `DC1.example.test` and no IP address,
/// so no client could verify `ldaps://127.0.0.N` against it; ours names the address.
enum TLSFiles {
    static func makeAuthority(in directory: URL) throws(SambaError) -> (certificate: URL, key: URL) {
        let certificate = directory.appendingPathComponent("ca.pem")
        let key = directory.appendingPathComponent("ca.key")
        let config = directory.appendingPathComponent("ca.cnf")
        do {
            try writePrivateFile(config, """
                [req]
                distinguished_name = dn
                prompt = no
                x509_extensions = v3_ca
                [dn]
                CN = ldapsync Samba test CA
                [v3_ca]
                basicConstraints = critical,CA:TRUE
                keyUsage = critical,keyCertSign,cRLSign
                subjectKeyIdentifier = hash

                """)
        } catch {
            throw SambaError.wrap(error)
        }
        try runChecked("openssl", [
            "req", "-x509", "-config", config.path, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key.path, "-out", certificate.path, "-days", "365",
        ], environment: ["OPENSSL_CONF": config.path], timeout: .seconds(60))
        return (certificate, key)
    }

    /// A server certificate for `address` (IP SAN) and the DC's DNS name, signed by the CA.
    static func makeServer(in directory: URL, address: String, authority: (certificate: URL, key: URL)) throws(SambaError) -> (certificate: URL, key: URL) {
        let certificate = directory.appendingPathComponent("server.pem")
        let key = directory.appendingPathComponent("server.key")
        let request = directory.appendingPathComponent("server.csr")
        let config = directory.appendingPathComponent("server.cnf")
        let dnsName = "\(SambaTemplate.hostName).\(SambaTemplate.realm.lowercased())"
        do {
            try writePrivateFile(config, """
                [req]
                distinguished_name = dn
                prompt = no
                [dn]
                CN = \(dnsName)
                [v3_server]
                basicConstraints = critical,CA:FALSE
                keyUsage = critical,digitalSignature,keyEncipherment
                extendedKeyUsage = serverAuth
                subjectAltName = IP:\(address),DNS:\(dnsName)
                authorityKeyIdentifier = keyid

                """)
        } catch {
            throw SambaError.wrap(error)
        }
        let environment: [String: String?] = ["OPENSSL_CONF": config.path]
        try runChecked("openssl", [
            "req", "-new", "-config", config.path, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key.path, "-out", request.path,
        ], environment: environment, timeout: .seconds(60))
        try runChecked("openssl", [
            "x509", "-req", "-in", request.path, "-CA", authority.certificate.path, "-CAkey", authority.key.path,
            "-set_serial", "0x" + String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16),
            "-days", "365", "-extfile", config.path, "-extensions", "v3_server", "-out", certificate.path,
        ], environment: environment, timeout: .seconds(60))
        // Samba refuses a key file that others can read.
        chmod(key.path, 0o600)
        return (certificate, key)
    }
}

/// Runs a tool and throws `SambaError.commandFailed` unless it exits with 0.
///
/// - Parameter redactingAfter: when the output holds a line with this marker (a
///   generated secret), the rest of that line is replaced in error messages.
@discardableResult
func runChecked(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String?] = [:],
    timeout: Duration = .seconds(120),
    redactingAfter marker: String? = nil
) throws(SambaError) -> ExternalCommand.Result {
    let result: ExternalCommand.Result
    do {
        result = try ExternalCommand.run(executable, arguments, environment: environment, timeout: timeout)
    } catch {
        throw SambaError.wrap(error)
    }
    guard result.status == 0, !result.terminatedBySignal else {
        var output = result.combinedOutput
        if let marker {
            output = output.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                guard let range = line.range(of: marker) else { return String(line) }
                return line[..<range.upperBound] + " (redacted)"
            }.joined(separator: "\n")
        }
        throw SambaError.commandFailed(command: ([executable] + arguments).joined(separator: " "), status: result.status,
                                       output: tail(output))
    }
    return result
}

extension SambaError {
    /// A `SambaError` as is; anything else (a `SlapdError` from the shared command
    /// runner, a Foundation file error) as `harness` quoting its description.
    static func wrap(_ error: any Error) -> SambaError {
        if let error = error as? SambaError { return error }
        return .harness("\(error)")
    }
}
