import DirectoryModel
import LDAPClient
import SyncConfig

/// Name resolution, TCP reach and TLS (handshake, chain, expiry, host name) of one
/// directory's URL: the checks that run before any bind.
///
/// Each step runs on its own (getaddrinfo, a TCP connect per address, then libldap's
/// TLS as configured), so a failure names the step that failed. libldap reports a
/// refused certificate with little more than "connect error"; when the TLS connection
/// fails, a second one without certificate verification fetches the certificate and
/// the reason is worked out from it: expired, not yet valid, another host's, or an
/// issuer that is not trusted.
enum ReachChecks {
    /// Returns the checks in order and whether an LDAP connection can be attempted; when
    /// it cannot, the directory's later checks print SKIP naming this failure.
    static func run(_ directory: DirectoryConfiguration) -> (checks: [DoctorCheck], reachable: Bool) {
        var probe = ReachProbe(directory: directory, now: wallClock())
        let reachable = probe.run()
        return (probe.checks, reachable)
    }

    /// A certificate whose expiry is closer than this is a WARN.
    static let expiryWarning: Duration = .seconds(30 * 86_400)
}

/// The checks of one directory, in the order they run.
private struct ReachProbe {
    let directory: DirectoryConfiguration
    let now: Timestamp
    private(set) var checks: [DoctorCheck] = []
    /// The address the TCP check connected to.
    private var connected: NetworkProbe.Address?

    init(directory: DirectoryConfiguration, now: Timestamp) {
        self.directory = directory
        self.now = now
    }

    /// How long a TCP connect may take: the per-operation timeout, at most 30 s, as the
    /// sync's own connections use.
    private var networkTimeout: Duration { min(directory.timeout, .seconds(30)) }

    private mutating func add(_ status: DoctorCheck.Status, _ area: String, _ summary: String, advice: String? = nil) {
        checks.append(DoctorCheck(status, directory: directory.name, area: area, summary, advice: advice))
    }

    mutating func run() -> Bool {
        let target: NetworkProbe.Target
        do {
            target = try NetworkProbe.target(url: directory.url)
        } catch {
            add(.fail, "resolve", "cannot use the URL \(directory.url): \(error.diagnostic ?? error.code.message)",
                advice: "write it as ldap://host:389, ldaps://host:636 or ldapi://%2Fpath%2Fto%2Fsocket")
            return false
        }
        let usesTLS = target.scheme == .ldaps || directory.startTLS
        guard reach(target) else {
            if usesTLS {
                add(.skip, "tls", "TLS: not checked", advice: "no connection to \(place(target)) (see above)")
            }
            return false
        }
        return checkTLS(target, usesTLS: usesTLS)
    }

    // MARK: - Resolution and TCP

    /// `ldap.example.com:636`, `[2001:db8::1]:389`, or the ldapi socket path.
    private func place(_ target: NetworkProbe.Target) -> String {
        if let path = target.socketPath { return path }
        return (target.host.contains(":") ? "[\(target.host)]" : target.host) + ":\(target.port)"
    }

    private mutating func reach(_ target: NetworkProbe.Target) -> Bool {
        if let path = target.socketPath {
            return reachSocket(path)
        }
        let addresses: [NetworkProbe.Address]
        switch NetworkProbe.resolve(host: target.host, port: target.port) {
        case .failure(let error):
            add(.fail, "resolve", "cannot resolve \(target.host): \(error.message)",
                advice: "check the host name in url (directories.\(directory.name).url); this machine's resolver (DNS servers in /etc/resolv.conf, /etc/hosts) does not know it")
            add(.skip, "tcp", "TCP: not checked", advice: "\(target.host) did not resolve")
            return false
        case .success(let found):
            addresses = found
        }
        let isLiteral = PeerCertificate.ipBytes(target.host) != nil
        let resolvedName = isLiteral ? nil : target.host
        if isLiteral {
            add(.pass, "resolve", "resolve: \(target.host) is an IP address (no lookup needed)")
        } else {
            add(.pass, "resolve", "resolved \(target.host) to \(addresses.map(\.ip).joined(separator: ", "))")
        }

        var failures: [(address: NetworkProbe.Address, outcome: NetworkProbe.ConnectOutcome)] = []
        for address in addresses {
            let outcome = NetworkProbe.connect(to: address, timeout: networkTimeout)
            if outcome == .connected {
                connected = address
                var summary = "TCP: \(named(address, host: resolvedName)) accepts connections"
                if !failures.isEmpty {
                    summary += " (after " + failures.map { "\($0.address): \(describe($0.outcome))" }.joined(separator: "; ") + ")"
                }
                // libldap tries the addresses in the same order: an address that times
                // out first delays every connection by the timeout.
                if failures.contains(where: { $0.outcome == .timedOut }) {
                    add(.warn, "tcp", summary, advice: "connections wait \(seconds(networkTimeout)) for the addresses that do not answer before one that does; remove them from DNS or fix the route")
                } else {
                    add(.pass, "tcp", summary)
                }
                return true
            }
            failures.append((address, outcome))
        }
        let texts = failures.map { failure -> String in
            let where_ = named(failure.address, host: resolvedName)
            switch failure.outcome {
            case .refused: return "connection refused by \(where_)"
            case .timedOut: return "no answer from \(where_) within \(seconds(networkTimeout)): a firewall dropping packets?"
            default: return "cannot connect to \(where_): \(describe(failure.outcome))"
            }
        }
        let advice: String
        switch failures.first?.outcome {
        case .refused?:
            advice = "nothing accepts connections there: is slapd (the LDAP server) running, is the port right (389 for ldap://, 636 for ldaps://), does a firewall reject it?"
        case .timedOut?:
            advice = "the server never answered: a firewall between here and the server may drop the packets, or the host is down; check the route and the firewall rules for port \(target.port)"
        default:
            advice = "check the network path from this machine to \(target.host) (routes, firewall) and the port in url"
        }
        add(.fail, "tcp", "TCP: " + texts.joined(separator: "; "), advice: advice)
        return false
    }

    /// `127.0.0.1:389`, or `ldap.example.com:389 (192.0.2.7)` when a name was resolved.
    private func named(_ address: NetworkProbe.Address, host: String?) -> String {
        guard let host else { return address.description }
        return "\(host):\(address.port) (\(address.ip))"
    }

    private func describe(_ outcome: NetworkProbe.ConnectOutcome) -> String {
        switch outcome {
        case .connected: "connected"
        case .refused: "connection refused"
        case .timedOut: "no answer within \(seconds(networkTimeout))"
        case .missing: "no such file"
        case .notASocket: "not a socket"
        case .failed(let message): message
        }
    }

    private mutating func reachSocket(_ path: String) -> Bool {
        switch NetworkProbe.connect(socketPath: path) {
        case .connected:
            add(.pass, "tcp", "ldapi: socket \(path) accepts connections")
            return true
        case .missing:
            add(.fail, "tcp", "ldapi: socket \(path) does not exist",
                advice: "is slapd running and listening on ldapi (slapd -h \"… ldapi:///\")? is the path in url right (percent-encoded, %2F for each /)?")
        case .notASocket:
            add(.fail, "tcp", "ldapi: \(path) is not a socket", advice: "url must name slapd's ldapi socket")
        case .refused:
            add(.fail, "tcp", "ldapi: connection refused on socket \(path)",
                advice: "the socket is left over from a slapd that no longer runs: is slapd running?")
        case let outcome:
            add(.fail, "tcp", "ldapi: cannot connect to socket \(path): \(describe(outcome))",
                advice: "run ldapsync as a user that may open the socket (check the permissions of the socket and its directory)")
        }
        return false
    }

    // MARK: - TLS

    private mutating func checkTLS(_ target: NetworkProbe.Target, usesTLS: Bool) -> Bool {
        guard usesTLS else {
            if target.scheme == .ldapi {
                add(.pass, "tls", "TLS: not needed: ldapi:// is a local socket")
            } else if LDAPURL.isLocal(directory.url) {
                add(.pass, "tls", "TLS: not needed: ldap:// to a loopback address stays on this machine")
            } else {
                add(.skip, "tls", "TLS: not used: ldap:// without startTLS",
                    advice: "everything, passwords included, crosses the network unencrypted; use ldaps:// or startTLS: true unless the network is trusted")
            }
            return true
        }
        let caFile = directory.tls.caFile
        var trusted: [PeerCertificate]?
        if let caFile {
            do {
                trusted = try PeerCertificate.certificates(pemFile: caFile)
            } catch {
                add(.fail, "tls", "TLS: cannot read the CA file \(caFile): \(error.reason)",
                    advice: "tls.caFile must be a readable PEM file of the CA certificates that sign the server's certificate")
                return false
            }
            if trusted?.isEmpty == true {
                add(.fail, "tls", "TLS: the CA file \(caFile) holds no certificate",
                    advice: "tls.caFile must hold PEM certificates (-----BEGIN CERTIFICATE-----)")
                return false
            }
        }

        // libldap would wait forever for a server that never answers the handshake.
        if target.scheme == .ldaps, let connected {
            switch NetworkProbe.answersTLS(at: connected, timeout: networkTimeout) {
            case .connected:
                break
            case .timedOut:
                add(.fail, "tls", "TLS: no answer to the TLS handshake from \(place(target)) within \(seconds(networkTimeout))",
                    advice: "the server accepts connections but does not speak TLS on them: is \(place(target)) an ldaps port (a plain LDAP port waits for an LDAP request), or is a load balancer or proxy in front of it broken?")
                return false
            case let outcome:
                add(.fail, "tls", "TLS: handshake with \(place(target)) failed: \(describe(outcome))",
                    advice: "the server went away between the TCP check and the handshake: is it restarting?")
                return false
            }
        }

        let mode = directory.startTLS ? "StartTLS on \(place(target))" : "ldaps on \(place(target))"
        let configured = options(verify: directory.tls.verify)
        let certificate: PeerCertificate?
        do {
            certificate = try NetworkProbe.establishTLS(url: directory.url, options: configured).flatMap { try? PeerCertificate(der: $0) }
        } catch {
            let (summary, advice) = diagnose(error, target: target, trusted: trusted)
            add(.fail, "tls", summary, advice: advice)
            return false
        }

        guard directory.tls.verify else {
            // Working, but unverified: say whether it would pass verification.
            var summary = "TLS: certificate verification is off (tls.verify: false)"
            do {
                let verified = try NetworkProbe.establishTLS(url: directory.url, options: options(verify: true))
                    .flatMap { try? PeerCertificate(der: $0) }
                summary += "; the certificate would pass" + (verified.map { ": " + describe($0) } ?? "")
            } catch {
                summary += "; with it on: " + diagnose(error, target: target, trusted: trusted).summary.dropFirst("TLS: ".count)
            }
            add(.warn, "tls", summary + "; " + mode,
                advice: "anyone on the network path can pose as the server and read the bind password; fix the certificate and set tls.verify: true (the default)")
            return true
        }

        guard let certificate else {
            add(.pass, "tls", "TLS: handshake verified; \(mode) (the certificate could not be read for details)")
            return true
        }
        let remaining = certificate.notAfter - now
        if remaining < ReachChecks.expiryWarning {
            let days = Int(remaining.components.seconds / 86_400)
            add(.warn, "tls", "TLS: certificate for \(certificate.hostNames.joined(separator: ", ")) expires on \(utc(certificate.notAfter)), in \(days) day\(days == 1 ? "" : "s"); \(mode)",
                advice: "renew the server's certificate before then: from that date every connection fails")
        } else {
            add(.pass, "tls", "TLS: \(describe(certificate)), trusted (\(caFile.map { "CA file \($0)" } ?? "system CA store")); \(mode)")
        }
        return true
    }

    private func options(verify: Bool) -> ConnectionOptions {
        var options = ConnectionOptions()
        options.networkTimeout = networkTimeout
        options.operationTimeout = directory.timeout
        options.startTLS = directory.startTLS
        options.caFile = directory.tls.caFile
        options.verifyCertificate = verify
        return options
    }

    /// `certificate for localhost, 127.0.0.1, issued by CN=Example CA, valid until 2027-01-01 00:00:00 UTC`
    private func describe(_ certificate: PeerCertificate) -> String {
        "certificate for \(certificate.hostNames.joined(separator: ", ")), issued by \(certificate.issuer), valid until \(utc(certificate.notAfter))"
    }

    /// Why the TLS connection failed, as precisely as can be found out.
    private func diagnose(_ error: LDAPError, target: NetworkProbe.Target, trusted: [PeerCertificate]?) -> (summary: String, advice: String) {
        let detail = error.diagnostic.map { "\(error.code.name): \($0)" } ?? error.code.name
        // A non-negative code is the server's answer to the StartTLS request; libldap's
        // own failures (handshake, connection) are negative.
        if error.operation == "startTLS" && error.code.rawValue >= 0 {
            return ("TLS: StartTLS refused by the server (\(detail))",
                    "the server does not offer TLS on \(place(target)): give slapd a certificate (olcTLSCertificateFile, olcTLSCertificateKeyFile), or for Active Directory install one on the domain controller; or use ldaps:// if the server offers it")
        }
        if error.code == .timeout {
            return ("TLS: no answer to the TLS handshake from \(place(target)) within \(seconds(directory.timeout))",
                    target.scheme == .ldaps ? "is \(place(target)) an ldaps port? a plain LDAP port waits for an LDAP request and never answers a TLS handshake" : "the server accepted StartTLS but did not complete the handshake; see its log")
        }

        let certificate: PeerCertificate
        do {
            guard let der = try NetworkProbe.establishTLS(url: directory.url, options: options(verify: false)) else {
                return ("TLS: handshake with \(place(target)) failed (\(detail))", "see the server's log for its side of the handshake")
            }
            certificate = try PeerCertificate(der: der)
        } catch let unverified as LDAPError {
            let unverifiedDetail = unverified.diagnostic.map { "\(unverified.code.name): \($0)" } ?? unverified.code.name
            return ("TLS: handshake with \(place(target)) failed (\(unverifiedDetail))",
                    target.scheme == .ldaps
                        ? "is \(place(target)) an ldaps port? on a plain LDAP port (389) use ldap:// with startTLS: true; otherwise see the server's log for its side of the handshake"
                        : "the server accepted StartTLS but the handshake failed: check its TLS configuration (certificate, key, protocol versions) and its log")
        } catch {
            return ("TLS: certificate rejected (\(detail)), and it cannot be read: \(error)", "inspect the server's certificate with: openssl s_client -connect \(place(target))")
        }

        let about = "certificate for \(certificate.hostNames.joined(separator: ", ")), issued by \(certificate.issuer)"
        if certificate.notAfter < now {
            return ("TLS: certificate expired on \(utc(certificate.notAfter)) (\(about))",
                    "install a renewed certificate on the server (this machine's clock says \(utc(now)))")
        }
        if now < certificate.notBefore {
            return ("TLS: certificate not yet valid: valid from \(utc(certificate.notBefore)) (\(about))",
                    "check the clocks here and on the server (this machine says \(utc(now))), or the certificate was issued with a future start date")
        }
        let names = certificate.hostNames.isEmpty ? "no host name" : certificate.hostNames.joined(separator: ", ")
        if !certificate.names(host: target.host) {
            return ("TLS: host name mismatch: the certificate names \(names); the URL names \(target.host)",
                    "put a name the certificate holds in url, or have a certificate issued whose subjectAltName names \(target.host)")
        }
        if target.host.lowercased() == "localhost", let local = NetworkProbe.localHostName, !certificate.names(host: local) {
            return ("TLS: host name mismatch: libldap checks connections to localhost against this machine's name \(local), which the certificate does not name (it names \(names))",
                    "use a URL with an address or name the certificate holds (ldaps://127.0.0.1 if it names that address), or add \(local) to the certificate")
        }
        let store = directory.tls.caFile.map { "the CA file \($0)" } ?? "the system's trusted CAs (TLS_CACERT in ldap.conf)"
        let issuer = certificate.issuer + (certificate.isSelfIssued ? " (self-signed)" : "")
        if let trusted, trusted.contains(where: { $0.subjectName == certificate.issuerName }) {
            return ("TLS: certificate not trusted: issued by \(issuer); a CA of that name is in \(store) but does not verify it (\(detail))",
                    "the CA in the file may be an older one with the same name, or an intermediate CA is missing: put the issuing CA's current certificate and any intermediates in \(directory.tls.caFile ?? "the CA file")")
        }
        return ("TLS: certificate not trusted: issued by \(issuer), which is not in \(store)",
                directory.tls.caFile == nil
                    ? "set tls.caFile to a PEM file holding the certificate of the CA that issued the server's certificate"
                    : "add the certificate of the CA that issued the server's certificate to \(directory.tls.caFile!) (PEM), or point tls.caFile at the right file")
    }

    /// `2021-01-01 00:00:00 UTC`
    private func utc(_ time: Timestamp) -> String {
        let c = time.components
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let year = String(c.year)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)) + year)-\(two(c.month))-\(two(c.day)) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) UTC"
    }

    /// `10s`, `2.5s`
    private func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        let tenths = fraction / 100_000_000_000_000_000
        return tenths == 0 ? "\(whole)s" : "\(whole).\(tenths)s"
    }
}
