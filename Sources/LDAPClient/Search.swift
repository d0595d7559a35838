internal import CLDAP
import DirectoryModel
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// RFC 4511 search scopes.
public enum SearchScope: Sendable, Hashable {
    case base, oneLevel, subtree
    /// The OpenLDAP `children` (subordinate) extension: everything below the base.
    case children

    var rawValue: Int32 {
        switch self {
        case .base: LDAP_SCOPE_BASE
        case .oneLevel: LDAP_SCOPE_ONELEVEL
        case .subtree: LDAP_SCOPE_SUBTREE
        case .children: LDAP_SCOPE_CHILDREN
        }
    }
}

/// A request control (RFC 4511 §4.1.11), such as AD's Show Deleted control.
public struct LDAPControlRequest: Sendable, Hashable {
    public var oid: String
    public var value: [UInt8]?
    public var isCritical: Bool

    public init(oid: String, value: [UInt8]? = nil, isCritical: Bool = true) {
        self.oid = oid
        self.value = value
        self.isCritical = isCritical
    }
}

/// What to search for.
public struct SearchRequest: Sendable {
    public var base: String
    public var scope: SearchScope
    /// An RFC 4515 filter string; build values into it with ``Filter`` escaping.
    public var filter: String
    /// The attributes to return; empty means all user attributes, `["1.1"]` none.
    public var attributes: [String]
    /// Entries per page (RFC 2696 paged results), or nil for an unpaged search (root DSE,
    /// schema, one entry). Paged searches are the default: a directory's size limit
    /// would otherwise cut a large result short.
    public var pageSize: Int?
    /// Client-requested size limit (0: none). Hitting it is an error, never a short result.
    public var sizeLimit: Int
    /// Client-requested server time limit in seconds (0: none).
    public var timeLimit: Int
    /// Further request controls.
    public var controls: [LDAPControlRequest]

    /// A request whose filter is built from a ``Filter`` value, so every value in it is
    /// escaped (RFC 4515).
    public init(base: String, scope: SearchScope = .subtree, filter: Filter,
                attributes: [String] = [], pageSize: Int? = 1000, sizeLimit: Int = 0, timeLimit: Int = 0,
                controls: [LDAPControlRequest] = []) {
        self.init(base: base, scope: scope, filter: filter.description, attributes: attributes, pageSize: pageSize,
                  sizeLimit: sizeLimit, timeLimit: timeLimit, controls: controls)
    }

    public init(base: String, scope: SearchScope = .subtree, filter: String = "(objectClass=*)",
                attributes: [String] = [], pageSize: Int? = 1000, sizeLimit: Int = 0, timeLimit: Int = 0,
                controls: [LDAPControlRequest] = []) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.attributes = attributes
        self.pageSize = pageSize
        self.sizeLimit = sizeLimit
        self.timeLimit = timeLimit
        self.controls = controls
    }
}

/// What a completed search returned besides its entries. A search that returns a summary
/// read every page to the end: incomplete searches throw instead.
public struct SearchSummary: Sendable, Hashable {
    /// Entries handed to the body.
    public var entries = 0
    /// Pages requested (1 for an unpaged search).
    public var pages = 0
    /// Continuation references the server returned (AD returns these for
    /// `CN=Configuration` and other partitions below a domain root); not followed.
    public var references: [String] = []
}

/// One attribute collected from an entry during the zero-copy walk.
struct RawAttribute {
    var name: berval
    /// The values array from `ldap_get_attribute_ber` (terminated by a NULL `bv_val`);
    /// the values point into the message buffer. Freed with `ber_memfree`.
    var values: UnsafeMutablePointer<berval>?
    var count: Int
}

/// A search result entry, valid only inside the search body: its DN and values point
/// into libldap's message buffer, which is freed when the body returns. Copy out what you
/// keep (``makeEntry()``, ``values(at:)``); it cannot be stored (it is not copyable).
public struct EntryView: ~Copyable {
    let dnValue: berval
    let attributes: UnsafeBufferPointer<RawAttribute>

    /// The DN's bytes as the server sent them.
    public var dnBytes: [UInt8] { Array(Self.bytes(dnValue)) }

    /// The DN as text. A DN that is not valid UTF-8 (servers should never send one) keeps
    /// its bad bytes as RFC 4514 `\xx` escapes, so nothing is lost or replaced.
    public var dn: String { Self.text(Self.bytes(dnValue)) }

    /// How many attributes the entry carries.
    public var attributeCount: Int { attributes.count }

    /// The name of the attribute at `index`, as the server spelled it, with options.
    public func name(at index: Int) -> AttributeName {
        AttributeName(Self.text(Self.bytes(attributes[index].name)))
    }

    /// The index of the attribute named `name` (case-insensitive; options included), if
    /// the entry has it. Compares bytes without allocating.
    public func index(of name: AttributeName) -> Int? {
        let wanted = name.folded.utf8
        // A native String lends its bytes: compare them in place (the common case).
        let found: Int?? = wanted.withContiguousStorageIfAvailable { wanted in
            for position in 0..<attributes.count {
                let bytes = Self.bytes(attributes[position].name)
                guard bytes.count == wanted.count else { continue }
                var same = true
                for offset in 0..<bytes.count where Self.asciiLower(bytes[offset]) != wanted[offset] {
                    same = false
                    break
                }
                if same { return position }
            }
            return nil
        }
        if let found { return found }
        return attributes.firstIndex { attribute in
            let bytes = Self.bytes(attribute.name)
            guard bytes.count == wanted.count else { return false }
            return zip(bytes, wanted).allSatisfy { Self.asciiLower($0) == $1 }
        }
    }

    /// The number of values of the attribute at `index`.
    public func valueCount(at index: Int) -> Int { attributes[index].count }

    /// Calls `body` with each value of the attribute at `index`, without copying it.
    public func forEachValue(at index: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let attribute = attributes[index]
        guard let values = attribute.values else { return }
        for position in 0..<attribute.count { try body(Self.bytes(values[position])) }
    }

    /// Copies of the values of the attribute at `index`.
    public func values(at index: Int) -> [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(valueCount(at: index))
        forEachValue(at: index) { result.append(Array($0)) }
        return result
    }

    /// Copies of the values of `name`, or nil when the entry lacks it.
    public func values(of name: AttributeName) -> [[UInt8]]? {
        index(of: name).map { values(at: $0) }
    }

    /// A copy of the first value of `name` (`values(of: name)?.first` without copying the
    /// others), or nil when the entry lacks it or it has no value.
    public func firstValue(of name: AttributeName) -> [UInt8]? {
        guard let index = index(of: name) else { return nil }
        let attribute = attributes[index]
        guard let values = attribute.values, attribute.count > 0 else { return nil }
        return Array(Self.bytes(values[0]))
    }

    /// A copy of the whole entry.
    public func makeEntry() -> Entry {
        var entry = Entry(dn: dn)
        entry.attributes.reserveCapacity(attributeCount)
        for index in 0..<attributeCount {
            entry.attributes.append(Attribute(name(at: index), values: values(at: index)))
        }
        return entry
    }

    static func bytes(_ value: berval) -> UnsafeRawBufferPointer {
        guard let base = value.bv_val else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base, count: Int(value.bv_len))
    }

    static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        if let valid = UTF8Text.string(bytes) { return valid }
        // Keep every byte: valid UTF-8 sequences as text, the others as \xx escapes.
        var result = ""
        var index = 0
        while index < bytes.count {
            let length = utf8SequenceLength(bytes, at: index)
            if length > 0, let scalar = String(validating: bytes[index..<index + length], as: UTF8.self) {
                result += scalar
                index += length
            } else {
                let hex = String(bytes[index], radix: 16)
                result += hex.count == 1 ? "\\0" + hex : "\\" + hex
                index += 1
            }
        }
        return result
    }

    /// The length of the UTF-8 sequence its lead byte announces, if it fits.
    private static func utf8SequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int {
        let lead = bytes[index]
        let length = switch lead {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
        return index + length <= bytes.count ? length : 0
    }

    static func asciiLower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }
}

extension LDAPConnection {
    /// Runs a search and hands each entry to `body` as it arrives, page by page, without
    /// building the whole result in memory.
    ///
    /// Returns only after every page was read. A `sizeLimitExceeded`,
    /// `timeLimitExceeded` or `adminLimitExceeded` result, a paged search answered
    /// without a paged-results control, or a lost connection throws ``LDAPError``: the
    /// caller must never take a partial read for the whole scope (SPEC I5). When `body`
    /// throws, the search is abandoned and the error rethrown.
    ///
    /// `afterNextPageRequest` runs each time the request for a page after the first has
    /// been sent, before its entries are read: while the server prepares the page, the
    /// caller can work on what the previous page brought (the server's work per page is
    /// otherwise time the caller spends waiting). `afterFirstRequest` runs once, when the
    /// first request has been sent: work the caller can do while the server starts.
    @discardableResult
    public func search(_ request: SearchRequest, afterFirstRequest: (() throws -> Void)? = nil,
                       afterNextPageRequest: (() throws -> Void)? = nil,
                       _ body: (borrowing EntryView) throws -> Void) throws -> SearchSummary {
        var summary = SearchSummary()
        var cookie = berval(bv_len: 0, bv_val: nil)
        defer { ber_memfree(cookie.bv_val) }
        var scratch: [RawAttribute] = []
        repeat {
            summary.pages += 1
            let messageID = try sendSearch(request, cookie: &cookie)
            let work: (() throws -> Void)?
            if summary.pages == 1 {
                addReadAhead()
                work = afterFirstRequest
            } else {
                work = afterNextPageRequest
            }
            if let work {
                do { try work() } catch {
                    ldap_abandon_ext(handle, messageID, nil, nil)
                    throw error
                }
            }
            let next = try readPage(messageID, request: request, summary: &summary, scratch: &scratch, body)
            ber_memfree(cookie.bv_val)
            cookie = next
        } while cookie.bv_len > 0
        logger.debug("search complete", metadata: [
            "ldap.dn": "\(request.base)", "ldap.entries": "\(summary.entries)", "ldap.pages": "\(summary.pages)",
            "ldap.references": "\(summary.references.count)",
        ])
        return summary
    }

    /// Sends one search request (one page) and returns its message id.
    private func sendSearch(_ request: SearchRequest, cookie: inout berval) throws(LDAPError) -> Int32 {
        let arena = CArena()
        var controls: [UnsafeMutablePointer<LDAPControl>?] = request.controls.map { makeControl($0, arena: arena) }
        var pageControl: UnsafeMutablePointer<LDAPControl>?
        defer { if let pageControl { ldap_control_free(pageControl) } }
        if let pageSize = request.pageSize {
            clearHandleDiagnostics()
            let rc = ldap_create_page_control(handle, ber_int_t(pageSize), &cookie, 1, &pageControl)
            try checkSynchronous(rc, operation: "search", dn: request.base)
            controls.append(pageControl)
        }
        controls.append(nil)
        let attributes = request.attributes.isEmpty ? nil : arena.cStringArray(request.attributes)
        let timeLimit: UnsafeMutablePointer<timeval>? = request.timeLimit > 0 ? arena.allocate(timeval.self, count: 1) : nil
        timeLimit?.pointee = timeval(tv_sec: request.timeLimit, tv_usec: 0)
        var messageID: Int32 = 0
        clearHandleDiagnostics()
        let rc = controls.withUnsafeMutableBufferPointer { serverControls in
            ldap_search_ext(handle, request.base, request.scope.rawValue, request.filter, attributes, 0,
                            serverControls.baseAddress, nil, timeLimit, Int32(request.sizeLimit), &messageID)
        }
        try checkSynchronous(rc, operation: "search", dn: request.base)
        return messageID
    }

    /// Reads one page's messages; returns the next cookie (empty when done).
    private func readPage(_ messageID: Int32, request: SearchRequest, summary: inout SearchSummary,
                          scratch: inout [RawAttribute], _ body: (borrowing EntryView) throws -> Void) throws -> berval {
        while true {
            let message = try nextMessage(messageID, operation: "search", dn: request.base)
            defer { ldap_msgfree(message) }
            switch UInt(ldap_msgtype(message)) {
            case UInt(LDAP_RES_SEARCH_ENTRY):
                do {
                    try walkEntry(message, scratch: &scratch, body)
                } catch {
                    ldap_abandon_ext(handle, messageID, nil, nil)
                    throw error
                }
                summary.entries += 1
            case UInt(LDAP_RES_SEARCH_REFERENCE):
                summary.references += parseReference(message)
            case UInt(LDAP_RES_SEARCH_RESULT):
                return try finishPage(message, request: request, summary: summary)
            default:
                continue  // intermediate responses: not used by the searches we make
            }
        }
    }

    /// Checks a page's final result and extracts the next cookie.
    private func finishPage(_ message: OpaquePointer, request: SearchRequest, summary: SearchSummary) throws(LDAPError) -> berval {
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let result = try parseResult(message, controls: &controls, operation: "search", dn: request.base)
        defer { ldap_controls_free(controls) }
        guard result.code == .success else {
            if result.code.meansConnectionLost { markDead() }
            var diagnostic = result.diagnostic ?? result.code.message
            if result.code == .referral {
                // The base itself is held by another server (or partition): the search
                // read nothing of it. Referrals are never chased (the bind would go to a
                // server nobody configured); say where the server points instead.
                let targets = result.referrals.isEmpty ? "no referral URL" : result.referrals.joined(separator: ", ")
                diagnostic += "; the server does not hold this base and refers the search to \(targets): "
                    + "use a base in one of the server's naming contexts, or the url of the server that holds it"
            }
            diagnostic += " (after \(summary.entries) entries in \(summary.pages) pages: the result is incomplete)"
            throw LDAPError(operation: "search", dn: request.base, code: result.code,
                            diagnostic: diagnostic, matchedDN: result.matchedDN)
        }
        guard request.pageSize != nil else { return berval(bv_len: 0, bv_val: nil) }
        guard let control = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nil) else {
            throw LDAPError(operation: "search", dn: request.base, code: .controlNotFound,
                            diagnostic: "the server answered a paged search without a paged-results control; the result may be incomplete")
        }
        var estimate: ber_int_t = 0
        var next = berval(bv_len: 0, bv_val: nil)
        let rc = ldap_parse_pageresponse_control(handle, control, &estimate, &next)
        guard rc == LDAP_SUCCESS else {
            ber_memfree(next.bv_val)
            throw LDAPError(operation: "search", dn: request.base, code: LDAPResultCode(rawValue: rc),
                            diagnostic: "cannot decode the paged-results control")
        }
        return next
    }

    /// The zero-copy walk: DN and attributes are read in place from the message buffer.
    private func walkEntry(_ message: OpaquePointer, scratch: inout [RawAttribute], _ body: (borrowing EntryView) throws -> Void) throws {
        var ber: OpaquePointer?
        var dn = berval(bv_len: 0, bv_val: nil)
        scratch.removeAll(keepingCapacity: true)
        defer {
            for attribute in scratch { ber_memfree(attribute.values) }
            if let ber { ber_free(ber, 0) }
        }
        var rc = ldap_get_dn_ber(handle, message, &ber, &dn)
        guard rc == LDAP_SUCCESS, let ber else {
            throw LDAPError(operation: "search", code: LDAPResultCode(rawValue: rc), diagnostic: "cannot decode an entry's DN")
        }
        while true {
            var name = berval(bv_len: 0, bv_val: nil)
            var values: UnsafeMutablePointer<berval>?
            rc = ldap_get_attribute_ber(handle, message, ber, &name, &values)
            guard rc == LDAP_SUCCESS else {
                ber_memfree(values)
                throw LDAPError(operation: "search", dn: EntryView.text(EntryView.bytes(dn)), code: LDAPResultCode(rawValue: rc),
                                diagnostic: "cannot decode an attribute of the entry")
            }
            guard name.bv_val != nil else { break }
            var count = 0
            if let values { while values[count].bv_val != nil { count += 1 } }
            scratch.append(RawAttribute(name: name, values: values, count: count))
        }
        try scratch.withUnsafeBufferPointer { attributes in
            try body(EntryView(dnValue: dn, attributes: attributes))
        }
    }

    private func parseReference(_ message: OpaquePointer) -> [String] {
        var references: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        guard ldap_parse_reference(handle, message, &references, nil, 0) == LDAP_SUCCESS, let references else { return [] }
        defer { ldap_memvfree(UnsafeMutableRawPointer(references).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)) }
        var urls: [String] = []
        var index = 0
        while let url = references[index] {
            urls.append(String(cString: url))
            index += 1
        }
        return urls
    }

    func makeControl(_ request: LDAPControlRequest, arena: CArena) -> UnsafeMutablePointer<LDAPControl> {
        let control = arena.allocate(LDAPControl.self, count: 1)
        control.pointee.ldctl_oid = arena.cString(request.oid)
        if let value = request.value {
            control.pointee.ldctl_value = berval(bv_len: ber_len_t(value.count), bv_val: arena.bytes(value))
        }
        control.pointee.ldctl_iscritical = request.isCritical ? 1 : 0
        return control
    }
}
