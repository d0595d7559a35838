internal import CLDAP
#if canImport(Glibc)
import Glibc
#endif

/// The steps below an LDAP connection, one at a time, so that a failure can be named
/// precisely: parse the URL, resolve the host, open a TCP connection (or reach the ldapi
/// socket), establish TLS. `ldapsync doctor` runs them before any bind.
public enum NetworkProbe {
    /// Where an LDAP URL points.
    public struct Target: Sendable, Equatable {
        public enum Scheme: String, Sendable { case ldap, ldaps, ldapi }
        public var scheme: Scheme
        /// The host name or IP literal (without brackets); empty for `ldapi://`.
        public var host: String
        /// The TCP port, the scheme's default (389, 636) when the URL has none; 0 for ldapi.
        public var port: Int
        /// The Unix socket path of an `ldapi://` URL, percent-decoded; libldap's default
        /// when the URL names none.
        public var socketPath: String?
    }

    /// libldap's ldapi socket when the URL names none (its compiled-in `LDAPI_SOCK`, as
    /// Debian builds it).
    public static let defaultSocketPath = "/var/run/slapd/ldapi"

    /// Parses `url` as libldap does.
    /// - Throws: `LDAPError` (`connect`, `paramError`) for a URL libldap rejects or a
    ///   scheme other than ldap, ldaps and ldapi.
    public static func target(url: String) throws(LDAPError) -> Target {
        var description: UnsafeMutablePointer<LDAPURLDesc>?
        let rc = ldap_url_parse(url, &description)
        guard rc == LDAP_URL_SUCCESS, let description else {
            throw LDAPError(operation: "connect", code: .paramError, diagnostic: "\(url) is not a valid LDAP URL (ldap_url_parse error \(rc))")
        }
        defer { ldap_free_urldesc(description) }
        let schemeText = description.pointee.lud_scheme.map { String(cString: $0).lowercased() } ?? ""
        guard let scheme = Target.Scheme(rawValue: schemeText) else {
            throw LDAPError(operation: "connect", code: .paramError, diagnostic: "\(url): scheme \(schemeText) is not ldap, ldaps or ldapi")
        }
        let host = description.pointee.lud_host.map { String(cString: $0) } ?? ""
        switch scheme {
        case .ldapi:
            return Target(scheme: scheme, host: "", port: 0, socketPath: host.isEmpty ? defaultSocketPath : host)
        case .ldap, .ldaps:
            var port = Int(description.pointee.lud_port)
            if port == 0 { port = scheme == .ldaps ? 636 : 389 }
            return Target(scheme: scheme, host: host.isEmpty ? "localhost" : host, port: port, socketPath: nil)
        }
    }

    // MARK: - Name resolution

    /// One resolved IPv4 or IPv6 address with the port to connect to.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        /// 4 bytes (IPv4) or 16 (IPv6).
        public let bytes: [UInt8]
        public let port: Int

        /// `192.0.2.7`, `2001:db8::7`.
        public var ip: String { PeerCertificate.ipText(bytes) }
        /// `192.0.2.7:389`, `[2001:db8::7]:389`.
        public var description: String { bytes.count == 4 ? "\(ip):\(port)" : "[\(ip)]:\(port)" }
    }

    /// A host name that did not resolve: the resolver's message.
    public struct ResolutionError: Error, Sendable, Equatable, CustomStringConvertible {
        public var host: String
        /// `Name or service not known`, `Temporary failure in name resolution`.
        public var message: String
        public var description: String { "cannot resolve \(host): \(message)" }
    }

    /// The addresses of `host` in the resolver's order (the order libldap tries them),
    /// without duplicates. An IP literal resolves to itself without a lookup.
    public static func resolve(host: String, port: Int) -> Result<[Address], ResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0 else {
            let message = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            return .failure(ResolutionError(host: host, message: message))
        }
        defer { freeaddrinfo(list) }
        var addresses: [Address] = []
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ai_next }
            guard let socketAddress = current.pointee.ai_addr else { continue }
            let bytes: [UInt8]
            switch Int32(socketAddress.pointee.sa_family) {
            case AF_INET:
                bytes = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                }
            case AF_INET6:
                bytes = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                }
            default:
                continue
            }
            let address = Address(bytes: bytes, port: port)
            if !addresses.contains(address) { addresses.append(address) }
        }
        guard !addresses.isEmpty else {
            return .failure(ResolutionError(host: host, message: "no IPv4 or IPv6 address"))
        }
        return .success(addresses)
    }

    /// The name libldap checks a certificate against when the URL's host is `localhost`
    /// (its `ldap_int_hostname`: this machine's host name, canonicalized by the resolver).
    public static var localHostName: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var hints = addrinfo()
        hints.ai_flags = AI_CANONNAME
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &info) == 0, let info else { return name }
        defer { freeaddrinfo(info) }
        return info.pointee.ai_canonname.map { String(cString: $0) } ?? name
    }

    // MARK: - Connecting

    /// What a connection attempt found.
    public enum ConnectOutcome: Sendable, Equatable {
        case connected
        /// The peer answered with a reset: nothing listens there (or a firewall rejects).
        case refused
        /// No answer within the timeout: packets dropped on the way, or a host that is down.
        case timedOut
        /// The socket file of an `ldapi://` URL does not exist.
        case missing
        /// Something other than a socket is at the `ldapi://` path.
        case notASocket
        /// Any other error, with the system's message (`No route to host`, `Permission denied`).
        case failed(String)
    }

    /// Opens and closes a TCP connection to `address`, waiting at most `timeout` for
    /// the handshake (a non-blocking connect and poll, as libldap's network timeout does).
    public static func connect(to address: Address, timeout: Duration) -> ConnectOutcome {
        withConnectedSocket(to: address, timeout: timeout) { _ in .connected }
    }

    /// Connects a non-blocking TCP socket to `address` within `timeout`, then runs `body`
    /// with it; the socket is closed on return.
    private static func withConnectedSocket(to address: Address, timeout: Duration,
                                            _ body: (Int32) -> ConnectOutcome) -> ConnectOutcome {
        let family = address.bytes.count == 4 ? AF_INET : AF_INET6
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(descriptor) }

        var rc: Int32
        if family == AF_INET {
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(address.port).bigEndian)
            withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address.bytes) }
            rc = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } else {
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address.bytes) }
            rc = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        if rc == 0 { return body(descriptor) }
        guard errno == EINPROGRESS else { return outcome(errno) }

        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return .timedOut }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, milliseconds(remaining))
            if ready < 0 {
                if errno == EINTR { continue }
                return .failed(String(cString: strerror(errno)))
            }
            if ready == 0 { continue }  // the loop head decides whether time is up
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                return .failed(String(cString: strerror(errno)))
            }
            return error == 0 ? body(descriptor) : outcome(error)
        }
    }

    /// Checks that `path` is a Unix socket and that something accepts connections on it.
    public static func connect(socketPath path: String) -> ConnectOutcome {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? .missing : .failed(String(cString: strerror(errno)))
        }
        guard (UInt32(info.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFSOCK) else { return .notASocket }
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else { return .failed("path longer than \(capacity - 1) bytes") }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failed(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        let rc = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0 ? .connected : outcome(errno)
    }

    /// Whether a TLS server answers at `address`: sends a TLS ClientHello and waits at
    /// most `timeout` for any reply (a ServerHello, an alert, or the connection closed).
    /// `.connected` means something answered; `.timedOut` means nothing did.
    ///
    /// libldap 2.5 does the ldaps handshake on a blocking socket without a timeout: a
    /// server that accepts TCP connections but never speaks (a half-configured load
    /// balancer, a hung slapd) would make it wait forever. This check runs first.
    public static func answersTLS(at address: Address, timeout: Duration) -> ConnectOutcome {
        let deadline = ContinuousClock.now + timeout
        return withConnectedSocket(to: address, timeout: timeout) { descriptor in
            let sent = clientHello.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent == clientHello.count else { return .failed(String(cString: strerror(errno))) }
            while true {
                let remaining = ContinuousClock.now.duration(to: deadline)
                guard remaining > .zero else { return .timedOut }
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, milliseconds(remaining))
                if ready < 0 {
                    if errno == EINTR { continue }
                    return .failed(String(cString: strerror(errno)))
                }
                if ready > 0 { return .connected }
            }
        }
    }

    /// A TLS 1.2 ClientHello (RFC 5246 §7.4.1.2) offering common ECDHE and RSA suites
    /// and the TLS 1.3 suites; enough for any TLS server to answer, if only with an alert.
    private static let clientHello: [UInt8] = {
        let suites: [UInt16] = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x009D, 0x002F, 0x0035, 0x1301, 0x1302, 0x1303]
        let groups: [UInt16] = [0x001D, 0x0017, 0x0018]
        let signatures: [UInt16] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
        func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
        func list(_ values: [UInt16]) -> [UInt8] { u16(values.count * 2) + values.flatMap { u16(Int($0)) } }
        func fixedRandom() -> [UInt8] { (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) } }
        let extensions = u16(0x000A) + u16(groups.count * 2 + 2) + list(groups)
            + u16(0x000B) + u16(2) + [0x01, 0x00]
            + u16(0x000D) + u16(signatures.count * 2 + 2) + list(signatures)
        let body: [UInt8] = [0x03, 0x03] + fixedRandom() + [0x00] + list(suites) + [0x01, 0x00] + u16(extensions.count) + extensions
        let handshake: [UInt8] = [0x01, 0x00] + u16(body.count) + body
        return [0x16, 0x03, 0x01] + u16(handshake.count) + handshake
    }()

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
    }

    private static func outcome(_ code: Int32) -> ConnectOutcome {
        switch code {
        case ECONNREFUSED: .refused
        case ETIMEDOUT: .timedOut
        default: .failed(String(cString: strerror(code)))
        }
    }

    // MARK: - TLS

    /// Connects to `url` as `options` say (TLS verification, CA file, StartTLS) without
    /// binding, and returns the server's certificate (DER; nil when the connection uses
    /// no TLS).
    /// - Throws: `LDAPError` from `connect` (the TCP connection or the TLS handshake
    ///   failed: `connectError`, `serverDown`, `timeout`) or from `startTLS` (a
    ///   non-negative code is the server's refusal of the StartTLS request).
    public static func establishTLS(url: String, options: ConnectionOptions) throws(LDAPError) -> [UInt8]? {
        let connection = try LDAPConnection(url: url, options: options)
        if !options.startTLS { try connection.connect() }
        return connection.peerCertificate()
    }
}
