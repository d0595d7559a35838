internal import CLDAP
import DirectoryModel
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// How to reach and trust a server.
public struct ConnectionOptions: Sendable {
    /// Time allowed to establish the TCP (and TLS) connection.
    public var networkTimeout: Duration = .seconds(10)
    /// Time allowed for each server answer (one bind result, one search entry or page
    /// result, one write result). A server slower than this is a `timeout` error.
    public var operationTimeout: Duration = .seconds(30)
    /// Upgrade an `ldap://` connection with the StartTLS extended operation.
    public var startTLS = false
    /// PEM file of the certificate authorities to trust; nil uses the system's
    /// (`TLS_CACERT` in ldap.conf).
    public var caFile: String?
    /// Verify the server certificate and its host name (on by default; turning it off is
    /// for tests with throwaway certificates only).
    public var verifyCertificate = true

    public init() {}
}

/// A result from a finished operation: the code and what the server said with it.
struct OperationResult {
    var code: LDAPResultCode
    var diagnostic: String?
    var matchedDN: String?
    var referrals: [String]
}

/// One connection to an LDAP server, owning a libldap handle.
///
/// libldap handles are not thread-safe and their calls block: use a connection from one
/// thread at a time, outside Swift's cooperative thread pool. A connection whose server
/// went away (`serverDown`) stays dead; ``reconnect()`` builds a new handle and binds
/// again with the same credentials.
public final class LDAPConnection {
    public let url: String
    public let options: ConnectionOptions
    /// Receives debug-level records of binds and searches (`ldap.url`, `ldap.dn`,
    /// `ldap.entries`, `ldap.pages`); never values or credentials.
    public var logger: Logger
    var handle: OpaquePointer
    private var credentials: Credentials?
    /// False once an operation found the connection lost.
    public private(set) var isAlive = true

    enum Credentials {
        case simple(dn: String, password: Secret)
        case external
    }

    /// Creates a handle for `url` (`ldap://host:port`, `ldaps://`, `ldapi://%2Fpath`) and
    /// applies the options. The TCP connection itself is made by the first operation,
    /// usually ``bind(dn:password:)``; with `startTLS` it is made here.
    public init(url: String, options: ConnectionOptions = .init(), logger: Logger = Logger(label: "ldapsync.ldap")) throws(LDAPError) {
        LDAPConnection.ignoreSIGPIPE
        self.url = url
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "ldap.url"] = "\(url)"
        self.handle = try LDAPConnection.makeHandle(url: url, options: options)
        if options.startTLS {
            try startTLS()
        }
    }

    deinit {
        ldap_unbind_ext(handle, nil, nil)
    }

    /// liblber writes with write(2): without this, a server that closes the connection
    /// kills the process with SIGPIPE instead of producing a `serverDown` error.
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN); () }()

    private static func makeHandle(url: String, options: ConnectionOptions) throws(LDAPError) -> OpaquePointer {
        try guardTLSHandshake(url: url, timeout: options.networkTimeout)
        var handle: OpaquePointer?
        let rc = ldap_initialize(&handle, url)
        guard rc == LDAP_SUCCESS, let handle else {
            throw LDAPError(operation: "connect", dn: nil, code: LDAPResultCode(rawValue: rc),
                            diagnostic: "cannot use URL \(url)")
        }
        do {
            try configure(handle, url: url, options: options)
        } catch {
            ldap_unbind_ext(handle, nil, nil)
            throw error
        }
        return handle
    }

    private static func configure(_ handle: OpaquePointer, url: String, options: ConnectionOptions) throws(LDAPError) {
        var version = Int32(LDAP_VERSION3)
        try setOption(handle, LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version")
        // Referrals are reported, never chased with our credentials to another server.
        try setOption(handle, LDAP_OPT_REFERRALS, cldap_opt_off(), "referrals")
        try setOption(handle, LDAP_OPT_RESTART, cldap_opt_on(), "restart")
        var network = timeval(options.networkTimeout)
        try setOption(handle, LDAP_OPT_NETWORK_TIMEOUT, &network, "network timeout")
        var operation = timeval(options.operationTimeout)
        try setOption(handle, LDAP_OPT_TIMEOUT, &operation, "operation timeout")

        let usesTLS = options.startTLS || url.lowercased().hasPrefix("ldaps:")
        guard usesTLS else { return }
        var requireCert = options.verifyCertificate ? Int32(LDAP_OPT_X_TLS_DEMAND) : Int32(LDAP_OPT_X_TLS_NEVER)
        try setOption(handle, LDAP_OPT_X_TLS_REQUIRE_CERT, &requireCert, "TLS certificate verification")
        if let caFile = options.caFile {
            let rc = caFile.withCString { ldap_set_option(handle, LDAP_OPT_X_TLS_CACERTFILE, $0) }
            try checkOption(rc, "TLS CA file \(caFile)")
        }
        // Per-handle TLS options take effect only in a new TLS context.
        var isServer: Int32 = 0
        try setOption(handle, LDAP_OPT_X_TLS_NEWCTX, &isServer, "TLS context")
    }

    /// libldap 2.5 (with GnuTLS, as Debian builds it) retries the ldaps:// handshake
    /// without waiting or timing out when the server accepts the TCP connection and never
    /// answers (a hung slapd, a half-configured load balancer): the caller would spin at
    /// full CPU for ever. So before libldap connects, one TLS ClientHello goes to the
    /// server's first reachable address, and silence for the network timeout is a
    /// `timeout` error. (A server that stops answering between this probe and libldap's
    /// handshake is not covered.)
    private static func guardTLSHandshake(url: String, timeout: Duration) throws(LDAPError) {
        guard let target = try? NetworkProbe.target(url: url), target.scheme == .ldaps,
              case .success(let addresses) = NetworkProbe.resolve(host: target.host, port: target.port) else {
            return  // not ldaps, or a URL/name libldap itself will report on
        }
        for address in addresses {
            switch NetworkProbe.answersTLS(at: address, timeout: timeout) {
            case .connected:
                return
            case .timedOut:
                throw LDAPError(operation: "connect", code: .timeout,
                                diagnostic: "TLS: no answer to the TLS handshake from \(address) within \(timeout.components.seconds > 0 ? "\(timeout.components.seconds)s" : "\(timeout.components.attoseconds / 1_000_000_000_000_000)ms")")
            case .refused, .missing, .notASocket, .failed:
                continue  // libldap tries the next address too and reports what it finds
            }
        }
    }

    /// Every `ldap_set_option` return code goes through here.
    private static func setOption(_ handle: OpaquePointer, _ option: Int32, _ value: UnsafeRawPointer?, _ what: String) throws(LDAPError) {
        try checkOption(ldap_set_option(handle, option, value), what)
    }

    private static func checkOption(_ rc: Int32, _ what: String) throws(LDAPError) {
        guard rc == LDAP_OPT_SUCCESS else {
            throw LDAPError(operation: "set option", code: LDAPResultCode(rawValue: rc), diagnostic: "cannot set \(what)")
        }
    }

    // MARK: - Binding

    /// Simple bind with a DN and password.
    public func bind(dn: String, password: Secret) throws(LDAPError) {
        try simpleBind(dn: dn, password: password)
        credentials = .simple(dn: dn, password: password)
        logger.debug("bound", metadata: ["ldap.dn": "\(dn)"])
    }

    /// SASL EXTERNAL bind: over `ldapi://` the server maps the process's uid/gid to an
    /// identity; over TLS, the client certificate.
    public func bindExternal() throws(LDAPError) {
        try externalBind()
        credentials = .external
        logger.debug("bound with SASL EXTERNAL")
    }

    private func simpleBind(dn: String, password: Secret) throws(LDAPError) {
        // An empty password would be an unauthenticated bind (RFC 4513 §5.1.2), which
        // servers accept as anonymous: never send one.
        guard !password.bytes.isEmpty else {
            throw LDAPError(operation: "bind", dn: dn, code: .paramError, diagnostic: "empty password refused (it would bind anonymously)")
        }
        clearHandleDiagnostics()
        let rc = password.bytes.withUnsafeBytes { buffer -> Int32 in
            var credential = berval(bv_len: ber_len_t(buffer.count),
                                    bv_val: UnsafeMutablePointer(mutating: buffer.baseAddress!.assumingMemoryBound(to: CChar.self)))
            return ldap_sasl_bind_s(handle, dn, nil, &credential, nil, nil, nil)
        }
        try checkSynchronous(rc, operation: "bind", dn: dn)
    }

    private func externalBind() throws(LDAPError) {
        clearHandleDiagnostics()
        // A NULL bv_val makes libldap answer saslBindInProgress: pass an empty, non-NULL berval.
        var empty: CChar = 0
        let rc = withUnsafeMutablePointer(to: &empty) { pointer -> Int32 in
            var credential = berval(bv_len: 0, bv_val: pointer)
            return ldap_sasl_bind_s(handle, nil, "EXTERNAL", &credential, nil, nil, nil)
        }
        try checkSynchronous(rc, operation: "bind", dn: "SASL EXTERNAL")
    }

    /// Upgrades the connection with StartTLS (RFC 4513 §3), verifying the certificate as
    /// configured.
    public func startTLS() throws(LDAPError) {
        clearHandleDiagnostics()
        let rc = ldap_start_tls_s(handle, nil, nil)
        try checkSynchronous(rc, operation: "startTLS", dn: nil)
    }

    /// Opens the connection now, without an operation: TCP, and for `ldaps://` the TLS
    /// handshake (with `startTLS`, ``init(url:options:logger:)`` already did both).
    /// `ldap doctor` uses it to test reach and TLS before any bind.
    public func connect() throws(LDAPError) {
        clearHandleDiagnostics()
        try checkSynchronous(ldap_connect(handle), operation: "connect", dn: nil)
    }

    /// The DER encoding of the certificate the server presented, once a TLS session is
    /// up (after ``connect()`` on `ldaps://`, or StartTLS); nil without TLS.
    public func peerCertificate() -> [UInt8]? {
        var certificate = berval(bv_len: 0, bv_val: nil)
        guard ldap_get_option(handle, LDAP_OPT_X_TLS_PEERCERT, &certificate) == LDAP_OPT_SUCCESS,
              let bytes = certificate.bv_val else { return nil }
        defer { ber_memfree(bytes) }
        return Array(UnsafeRawBufferPointer(start: bytes, count: Int(certificate.bv_len)))
    }

    /// Reads the connection's socket through a 64 KB read-ahead buffer from now on
    /// (`cldap_add_read_ahead`): a search result of many small entries then costs one
    /// read(2) per buffer instead of two per entry plus a poll(2). Called once a search
    /// was sent, so the connection is open; a handle it cannot be added to reads as before.
    func addReadAhead() {
        _ = cldap_add_read_ahead(handle, 65_536)
    }

    /// Whether the connection reads through the read-ahead buffer (``addReadAhead()``).
    public var readsAhead: Bool { cldap_has_read_ahead(handle) == 1 }

    /// Replaces a dead handle with a new one and binds again with the last credentials.
    public func reconnect() throws(LDAPError) {
        let fresh = try LDAPConnection.makeHandle(url: url, options: options)
        ldap_unbind_ext(handle, nil, nil)
        handle = fresh
        isAlive = true
        if options.startTLS { try startTLS() }
        switch credentials {
        case .simple(let dn, let password): try simpleBind(dn: dn, password: password)
        case .external: try externalBind()
        case nil: break
        }
        logger.debug("reconnected")
    }

    // MARK: - Result checking

    /// Records that the connection is gone; ``reconnect()`` revives it.
    func markDead() { isAlive = false }

    /// libldap keeps the diagnostic message and matched DN of the previous operation on
    /// the handle; clear them before each synchronous call so an error never shows a stale
    /// message.
    func clearHandleDiagnostics() {
        ldap_set_option(handle, LDAP_OPT_DIAGNOSTIC_MESSAGE, nil)
        ldap_set_option(handle, LDAP_OPT_MATCHED_DN, nil)
    }

    /// Checks the return code of a synchronous call (or of sending an asynchronous one),
    /// taking the diagnostic and matched DN from the handle.
    func checkSynchronous(_ rc: Int32, operation: String, dn: String?) throws(LDAPError) {
        guard rc != LDAP_SUCCESS else { return }
        let code = LDAPResultCode(rawValue: rc)
        if code.meansConnectionLost { isAlive = false }
        throw LDAPError(operation: operation, dn: dn, code: code,
                        diagnostic: handleString(LDAP_OPT_DIAGNOSTIC_MESSAGE) ?? code.message,
                        matchedDN: handleString(LDAP_OPT_MATCHED_DN))
    }

    /// The error of a failed `ldap_result` call (-1): the code is on the handle.
    func handleError(operation: String, dn: String?) -> LDAPError {
        var rc: Int32 = LDAP_OTHER
        ldap_get_option(handle, LDAP_OPT_RESULT_CODE, &rc)
        let code = LDAPResultCode(rawValue: rc)
        if code.meansConnectionLost { isAlive = false }
        return LDAPError(operation: operation, dn: dn, code: code,
                         diagnostic: handleString(LDAP_OPT_DIAGNOSTIC_MESSAGE) ?? code.message)
    }

    /// A string option of the handle (diagnostic message, matched DN); nil when unset,
    /// empty, or libldap's placeholder `(unknown error code)`, which says nothing.
    private func handleString(_ option: Int32) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard ldap_get_option(handle, option, &value) == LDAP_OPT_SUCCESS, let value else { return nil }
        defer { ldap_memfree(value) }
        let text = String(cString: value)
        return text.isEmpty || text == "(unknown error code)" ? nil : text
    }

    /// Waits for the next message of `messageID` (or of any operation for `LDAP_RES_ANY`).
    /// The caller owns the returned message and frees it with `ldap_msgfree`.
    func nextMessage(_ messageID: Int32, operation: String, dn: String?) throws(LDAPError) -> OpaquePointer {
        var message: OpaquePointer?
        var wait = timeval(options.operationTimeout)
        let rc = ldap_result(handle, messageID, LDAP_MSG_ONE, &wait, &message)
        switch rc {
        case -1:
            if let message { ldap_msgfree(message) }
            throw handleError(operation: operation, dn: dn)
        case 0:
            if let message { ldap_msgfree(message) }
            if messageID != LDAP_RES_ANY { ldap_abandon_ext(handle, messageID, nil, nil) }
            throw LDAPError(operation: operation, dn: dn, code: .timeout,
                            diagnostic: "no answer from the server within \(options.operationTimeout)")
        default:
            guard let message else {
                throw LDAPError(operation: operation, dn: dn, code: .decodingError, diagnostic: "libldap returned no message")
            }
            return message
        }
    }

    /// Parses a result message (without freeing it): code, diagnostic, matched DN,
    /// referrals, and the response controls, which the caller frees with
    /// `ldap_controls_free`.
    func parseResult(_ message: OpaquePointer, controls: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?>?,
                     operation: String, dn: String?) throws(LDAPError) -> OperationResult {
        var code: Int32 = LDAP_SUCCESS
        var matched: UnsafeMutablePointer<CChar>?
        var diagnostic: UnsafeMutablePointer<CChar>?
        var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let rc = ldap_parse_result(handle, message, &code, &matched, &diagnostic, &referrals, controls, 0)
        defer {
            ldap_memfree(matched)
            ldap_memfree(diagnostic)
            ldap_memvfree(UnsafeMutableRawPointer(referrals)?.assumingMemoryBound(to: UnsafeMutableRawPointer?.self))
        }
        guard rc == LDAP_SUCCESS else {
            throw LDAPError(operation: operation, dn: dn, code: LDAPResultCode(rawValue: rc), diagnostic: "cannot parse the server's result")
        }
        var urls: [String] = []
        if let referrals {
            var index = 0
            while let url = referrals[index] {
                urls.append(String(cString: url))
                index += 1
            }
        }
        return OperationResult(code: LDAPResultCode(rawValue: code),
                               diagnostic: diagnostic.map { String(cString: $0) },
                               matchedDN: matched.map { String(cString: $0) },
                               referrals: urls)
    }
}

@available(*, unavailable)
extension LDAPConnection: Sendable {}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
