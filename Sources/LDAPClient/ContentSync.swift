internal import CLDAP
import Logging

/// RFC 4533 (LDAP Content Synchronization), the refreshOnly mode only: which entries of a
/// scope the server holds, relative to a cookie from an earlier refresh. OpenLDAP's
/// `syncprov` overlay answers it; with a cookie it sends the unchanged entries' UUIDs in
/// sets of 256 a message (a present phase), or, from its session log, only the UUIDs
/// of entries deleted, moved out of the scope or no longer matching the filter (a delete
/// phase), instead of one search result entry each.
public enum ContentSync {
    /// The Sync Request control, as the root DSE lists it under `supportedControl`.
    public static let requestControl = "1.3.6.1.4.1.4203.1.9.1.1"
    static let stateControl = "1.3.6.1.4.1.4203.1.9.1.2"
    static let doneControl = "1.3.6.1.4.1.4203.1.9.1.3"
    static let infoMessage = "1.3.6.1.4.1.4203.1.9.1.4"
    /// `e-syncRefreshRequired`: the cookie is too old or unknown; a refresh without it is needed.
    public static let refreshRequired = LDAPResultCode(rawValue: 4096)

    /// The Sync Request control's value: `SEQUENCE { mode ENUMERATED refreshOnly(1), cookie OCTET STRING OPTIONAL }`.
    static func requestValue(cookie: [UInt8]?) -> [UInt8] {
        var content: [UInt8] = [0x0A, 0x01, 0x01]
        if let cookie { content += [DERTag.octetString] + berLength(cookie.count) + cookie }
        return [DERTag.sequence] + berLength(content.count) + content
    }

    static func berLength(_ length: Int) -> [UInt8] {
        if length < 0x80 { return [UInt8(length)] }
        var bytes: [UInt8] = []
        var rest = length
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    /// What a Sync State control says of one entry.
    enum EntryState: UInt8 {
        case present = 0, add = 1, modify = 2, delete = 3
    }

    /// `syncStateValue ::= SEQUENCE { state ENUMERATED, entryUUID OCTET STRING (16), cookie OPTIONAL }`.
    static func decodeState(_ bytes: [UInt8]) throws(CertificateError) -> (state: EntryState, uuid: [UInt8]) {
        var outer = DERReader(bytes)
        let sequence = try outer.read(DERTag.sequence, "syncStateValue")
        var reader = outer.contents(of: sequence)
        let stateElement = try reader.read(0x0A, "state")
        let stateBytes = reader.slice(stateElement.content)
        guard stateBytes.count == 1, let state = EntryState(rawValue: stateBytes[0]) else {
            throw CertificateError(reason: "unknown sync state \(stateBytes)", offset: stateElement.content.lowerBound)
        }
        let uuid = try reader.read(DERTag.octetString, "entryUUID")
        guard uuid.content.count == 16 else {
            throw CertificateError(reason: "an entryUUID of \(uuid.content.count) bytes", offset: uuid.content.lowerBound)
        }
        return (state, reader.slice(uuid.content))
    }

    /// One Sync Info message (an intermediate response).
    enum Info: Equatable {
        case newCookie([UInt8])
        /// The end of a delete phase (refreshDelete) or of a present phase (refreshPresent).
        case phaseEnd(present: Bool, cookie: [UInt8]?, refreshDone: Bool)
        /// UUIDs (16 bytes each, one after the other): deleted ones when `deletes`, else present ones.
        case idSet(cookie: [UInt8]?, deletes: Bool, uuids: [UInt8])
    }

    /// `syncInfoValue ::= CHOICE { newcookie [0], refreshDelete [1], refreshPresent [2], syncIdSet [3] }`.
    static func decodeInfo(_ bytes: [UInt8]) throws(CertificateError) -> Info {
        var outer = DERReader(bytes)
        let element = try outer.readElement()
        var reader = outer.contents(of: element)
        switch element.tag {
        case DERTag.implicit(0):
            return .newCookie(outer.slice(element.content))
        case DERTag.explicit(1), DERTag.explicit(2):
            let cookie = try reader.readIfPresent(DERTag.octetString).map { reader.slice($0.content) }
            let done = try readBoolean(&reader) ?? true
            return .phaseEnd(present: element.tag == DERTag.explicit(2), cookie: cookie, refreshDone: done)
        case DERTag.explicit(3):
            let cookie = try reader.readIfPresent(DERTag.octetString).map { reader.slice($0.content) }
            let deletes = try readBoolean(&reader) ?? false
            let set = try reader.read(DERTag.set, "syncUUIDs")
            var uuids = reader.contents(of: set)
            var flat: [UInt8] = []
            while !uuids.isAtEnd {
                let uuid = try uuids.read(DERTag.octetString, "syncUUID")
                guard uuid.content.count == 16 else {
                    throw CertificateError(reason: "a syncUUID of \(uuid.content.count) bytes", offset: uuid.content.lowerBound)
                }
                flat += uuids.slice(uuid.content)
            }
            return .idSet(cookie: cookie, deletes: deletes, uuids: flat)
        default:
            throw CertificateError(reason: "unknown syncInfoValue choice (tag 0x\(String(element.tag, radix: 16)))", offset: 0)
        }
    }

    /// `syncDoneValue ::= SEQUENCE { cookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE }`.
    static func decodeDone(_ bytes: [UInt8]) throws(CertificateError) -> (cookie: [UInt8]?, refreshDeletes: Bool) {
        var outer = DERReader(bytes)
        let sequence = try outer.read(DERTag.sequence, "syncDoneValue")
        var reader = outer.contents(of: sequence)
        let cookie = try reader.readIfPresent(DERTag.octetString).map { reader.slice($0.content) }
        return (cookie, try readBoolean(&reader) ?? false)
    }

    private static func readBoolean(_ reader: inout DERReader) throws(CertificateError) -> Bool? {
        guard let element = try reader.readIfPresent(DERTag.boolean) else { return nil }
        let content = reader.slice(element.content)
        guard content.count == 1 else { throw CertificateError(reason: "a BOOLEAN of \(content.count) bytes", offset: element.content.lowerBound) }
        return content[0] != 0
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The RFC 4122 text form of a 16-byte UUID, lowercase, as OpenLDAP writes `entryUUID`.
    public static func uuidText(_ uuid: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(uuid.count == 16)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for index in 0..<16 {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(0x2D) }
            text.append(hexDigits[Int(uuid[index] >> 4)])
            text.append(hexDigits[Int(uuid[index] & 0x0F)])
        }
        return text
    }

    /// Whether `id` is a UUID in the form ``uuidText(_:)`` makes (36 bytes, lowercase hex).
    public static func isUUIDText(_ id: some Collection<UInt8>) -> Bool {
        guard id.count == 36 else { return false }
        for (offset, byte) in id.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                if byte != 0x2D { return false }
            } else if !((0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)) {
                return false
            }
        }
        return true
    }
}

/// How an entry's UUID was named by a content-synchronization refresh.
public enum ContentSyncMention: Sendable {
    /// In the scope and unchanged since the cookie (a present phase).
    case present
    /// Added or changed since the cookie: in the scope.
    case changed
    /// Deleted, moved out of the scope or no longer matching the filter since the cookie.
    case deleted
}

/// The end of a complete refresh.
public struct ContentSyncRefresh: Sendable, Equatable {
    /// The cookie to send next time (nil if the server sent none).
    public var cookie: [UInt8]?
    /// true: the server named every entry in the scope (present or changed); those it did
    /// not name are gone. false: it named only the entries gone since the cookie (a delete
    /// phase, from its session log).
    public var namesEveryEntry: Bool
    /// Search result entries and Sync Info messages received.
    public var entries = 0
    public var idSets = 0
}

extension LDAPConnection {
    /// A refreshOnly content synchronization (RFC 4533) of a scope, naming each entry's
    /// UUID (16 bytes) to `body` as it arrives. Unpaged (the protocol has its own
    /// batching): the server's size limit for the bind applies to the entries it sends in
    /// full, which with a recent cookie are the changed ones only.
    ///
    /// Returns only after the server ended the refresh with a Sync Done control; any
    /// other end throws ``LDAPError`` (``ContentSync/refreshRequired`` when the cookie is
    /// no longer usable), so a refresh cut short is never taken for the whole scope.
    public func contentSyncRefresh(base: String, scope: SearchScope, filter: String, cookie: [UInt8]?,
                                   _ body: (ContentSyncMention, UnsafeRawBufferPointer) throws -> Void) throws -> ContentSyncRefresh {
        let arena = CArena()
        let control = makeControl(LDAPControlRequest(oid: ContentSync.requestControl,
                                                     value: ContentSync.requestValue(cookie: cookie), isCritical: true), arena: arena)
        var controls: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
        let attributes = arena.cStringArray(["1.1"])
        var messageID: Int32 = 0
        clearHandleDiagnostics()
        let rc = controls.withUnsafeMutableBufferPointer { serverControls in
            ldap_search_ext(handle, base, scope.rawValue, filter, attributes, 0, serverControls.baseAddress, nil, nil, 0, &messageID)
        }
        try checkSynchronous(rc, operation: "content sync", dn: base)
        addReadAhead()
        var refresh = ContentSyncRefresh(cookie: cookie, namesEveryEntry: false)
        var presentPhaseEnded = false
        func malformed(_ what: String, _ error: CertificateError) -> LDAPError {
            LDAPError(operation: "content sync", dn: base, code: .decodingError,
                      diagnostic: "the server sent a malformed \(what): \(error.reason) (at byte \(error.offset)); the refresh is incomplete")
        }
        do {
            while true {
                let message = try nextMessage(messageID, operation: "content sync", dn: base)
                defer { ldap_msgfree(message) }
                switch UInt(ldap_msgtype(message)) {
                case UInt(LDAP_RES_SEARCH_ENTRY):
                    refresh.entries += 1
                    var entryControls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
                    guard ldap_get_entry_controls(handle, message, &entryControls) == LDAP_SUCCESS else {
                        throw LDAPError(operation: "content sync", dn: base, code: .decodingError, diagnostic: "cannot decode an entry's controls")
                    }
                    defer { ldap_controls_free(entryControls) }
                    guard let state = ldap_control_find(ContentSync.stateControl, entryControls, nil) else {
                        throw LDAPError(operation: "content sync", dn: base, code: .controlNotFound,
                                        diagnostic: "the server sent an entry without a Sync State control; the refresh cannot be used")
                    }
                    let decoded: (state: ContentSync.EntryState, uuid: [UInt8])
                    do { decoded = try ContentSync.decodeState(Self.controlValue(state.pointee)) } catch { throw malformed("Sync State control", error) }
                    let mention: ContentSyncMention = switch decoded.state {
                    case .present: .present
                    case .add, .modify: .changed
                    case .delete: .deleted
                    }
                    try decoded.uuid.withUnsafeBytes { try body(mention, $0) }
                case UInt(LDAP_RES_INTERMEDIATE):
                    var oid: UnsafeMutablePointer<CChar>?
                    var data: UnsafeMutablePointer<berval>?
                    guard ldap_parse_intermediate(handle, message, &oid, &data, nil, 0) == LDAP_SUCCESS else {
                        throw LDAPError(operation: "content sync", dn: base, code: .decodingError, diagnostic: "cannot decode an intermediate response")
                    }
                    defer { ldap_memfree(oid); ber_bvfree(data) }
                    guard let oid, String(cString: oid) == ContentSync.infoMessage, let data else { continue }
                    let info: ContentSync.Info
                    do { info = try ContentSync.decodeInfo(Array(EntryView.bytes(data.pointee))) } catch { throw malformed("Sync Info message", error) }
                    switch info {
                    case .newCookie(let next):
                        refresh.cookie = next
                    case .phaseEnd(let present, let next, _):
                        if present { presentPhaseEnded = true }
                        if let next { refresh.cookie = next }
                    case .idSet(let next, let deletes, let uuids):
                        refresh.idSets += 1
                        if let next { refresh.cookie = next }
                        try uuids.withUnsafeBytes { all in
                            for start in stride(from: 0, to: all.count, by: 16) {
                                try body(deletes ? .deleted : .present, UnsafeRawBufferPointer(rebasing: all[start..<start + 16]))
                            }
                        }
                    }
                case UInt(LDAP_RES_SEARCH_RESULT):
                    var resultControls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
                    let result = try parseResult(message, controls: &resultControls, operation: "content sync", dn: base)
                    defer { ldap_controls_free(resultControls) }
                    guard result.code == .success else {
                        if result.code.meansConnectionLost { markDead() }
                        throw LDAPError(operation: "content sync", dn: base, code: result.code,
                                        diagnostic: (result.diagnostic ?? result.code.message)
                                            + " (after \(refresh.entries) entries and \(refresh.idSets) id sets: the refresh is incomplete)",
                                        matchedDN: result.matchedDN)
                    }
                    guard let done = ldap_control_find(ContentSync.doneControl, resultControls, nil) else {
                        throw LDAPError(operation: "content sync", dn: base, code: .controlNotFound,
                                        diagnostic: "the server ended the refresh without a Sync Done control; the refresh cannot be used")
                    }
                    let decoded: (cookie: [UInt8]?, refreshDeletes: Bool)
                    do { decoded = try ContentSync.decodeDone(Self.controlValue(done.pointee)) } catch { throw malformed("Sync Done control", error) }
                    if let next = decoded.cookie { refresh.cookie = next }
                    // A present phase names every entry; a delete phase after one
                    // (ended by refreshPresent) only adds deletions to it.
                    // Without a cookie the server sends the whole content (RFC 4533 §3.3.1).
                    refresh.namesEveryEntry = cookie == nil || !decoded.refreshDeletes || presentPhaseEnded
                    logger.debug("content sync refresh complete", metadata: [
                        "ldap.dn": "\(base)", "ldap.entries": "\(refresh.entries)", "ldap.idSets": "\(refresh.idSets)",
                        "ldap.namesEveryEntry": "\(refresh.namesEveryEntry)",
                    ])
                    return refresh
                default:
                    continue
                }
            }
        } catch {
            ldap_abandon_ext(handle, messageID, nil, nil)
            throw error
        }
    }

    static func controlValue(_ control: LDAPControl) -> [UInt8] {
        Array(EntryView.bytes(control.ldctl_value))
    }
}
