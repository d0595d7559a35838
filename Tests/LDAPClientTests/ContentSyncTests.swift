import DirectoryModel
import Foundation
@testable import LDAPClient
import SlapdSupport
import Testing

/// RFC 4533 values, checked byte by byte (the state and done values are ones slapd 2.5
/// sent), then refreshes against a slapd with and without the `syncprov` overlay.
@Suite struct ContentSyncTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    @Test func theRequestValueIsRefreshOnlyWithTheCookie() {
        #expect(ContentSync.requestValue(cookie: nil) == [0x30, 0x03, 0x0A, 0x01, 0x01])
        #expect(ContentSync.requestValue(cookie: Array("abc".utf8)) == [0x30, 0x08, 0x0A, 0x01, 0x01, 0x04, 0x03, 0x61, 0x62, 0x63])
        let long = [UInt8](repeating: 0x41, count: 200)
        #expect(Array(ContentSync.requestValue(cookie: long).prefix(8)) == [0x30, 0x81, 0xCE, 0x0A, 0x01, 0x01, 0x04, 0x81])
        #expect(ContentSync.requestValue(cookie: long).count == 3 + 3 + 3 + 200)
    }

    @Test func aStateControlFromSlapdNamesTheEntryAndItsUUID() throws {
        let state = try ContentSync.decodeState(Self.bytes("30150a01010410af2c884c7ade1041944857048ceea94e"))
        #expect(state.state == .add)
        let text = state.uuid.withUnsafeBytes { ContentSync.uuidText($0) }
        #expect(String(decoding: text, as: UTF8.self) == "af2c884c-7ade-1041-9448-57048ceea94e")
    }

    @Test func aDoneControlFromSlapdCarriesTheCookieAndTheDeletePhase() throws {
        let done = try ContentSync.decodeDone(Self.bytes(
            "303904347269643d3030302c63736e3d32303236313132323136333834382e3537373733335a2330303030303023303030233030303030300101ff"))
        #expect(done.cookie.map { String(decoding: $0, as: UTF8.self) } == "rid=000,csn=20261122163848.577733Z#000000#000#000000")
        #expect(done.refreshDeletes)
        let empty = try ContentSync.decodeDone([0x30, 0x00])
        #expect(empty.cookie == nil)
        #expect(!empty.refreshDeletes)
    }

    @Test func infoMessagesOfEveryKind() throws {
        #expect(try ContentSync.decodeInfo([0x80, 0x03, 0x61, 0x62, 0x63]) == .newCookie(Array("abc".utf8)))
        #expect(try ContentSync.decodeInfo([0xA2, 0x03, 0x01, 0x01, 0x00]) == .phaseEnd(present: true, cookie: nil, refreshDone: false))
        #expect(try ContentSync.decodeInfo([0xA1, 0x03, 0x04, 0x01, 0x63]) == .phaseEnd(present: false, cookie: [0x63], refreshDone: true))
        let one = [UInt8](repeating: 0x11, count: 16), two = [UInt8](repeating: 0x22, count: 16)
        let set: [UInt8] = [0x31, 36, 0x04, 16] + one + [0x04, 16] + two
        #expect(try ContentSync.decodeInfo([0xA3, UInt8(set.count)] + set) == .idSet(cookie: nil, deletes: false, uuids: one + two))
        let deletes: [UInt8] = [0x04, 0x01, 0x63, 0x01, 0x01, 0xFF] + set
        #expect(try ContentSync.decodeInfo([0xA3, UInt8(deletes.count)] + deletes) == .idSet(cookie: [0x63], deletes: true, uuids: one + two))
    }

    @Test func malformedValuesAreErrorsNotShortLists() {
        // A 15-byte UUID in a set, a set running past its message, an unknown choice,
        // an unknown state.
        let short: [UInt8] = [0x31, 17, 0x04, 15] + [UInt8](repeating: 0, count: 15)
        #expect(throws: CertificateError.self) { try ContentSync.decodeInfo([0xA3, UInt8(short.count)] + short) }
        #expect(throws: CertificateError.self) { try ContentSync.decodeInfo([0xA3, 0x05, 0x31, 0x12, 0x04, 0x10, 0x00]) }
        #expect(throws: CertificateError.self) { try ContentSync.decodeInfo([0xA4, 0x00]) }
        #expect(throws: CertificateError.self) { try ContentSync.decodeState(Self.bytes("30150a01070410af2c884c7ade1041944857048ceea94e")) }
    }

    @Test func uuidText() {
        let uuid: [UInt8] = Array(0..<16).map { UInt8($0 * 17) }
        let text = uuid.withUnsafeBytes { ContentSync.uuidText($0) }
        #expect(String(decoding: text, as: UTF8.self) == "00112233-4455-6677-8899-aabbccddeeff")
        #expect(ContentSync.isUUIDText(text))
        #expect(!ContentSync.isUUIDText(Array("00112233-4455-6677-8899-AABBCCDDEEFF".utf8)))
        #expect(!ContentSync.isUUIDText(Array("0011223344556677-8899-aabbccddeeff00".utf8)))
        #expect(!ContentSync.isUUIDText(Array("uid=1".utf8)))
    }

    /// Collects what a refresh names, as UUID text.
    func refresh(_ connection: LDAPConnection, base: String, cookie: [UInt8]?) throws
        -> (refresh: ContentSyncRefresh, present: Set<String>, changed: Set<String>, deleted: Set<String>) {
        var present: Set<String> = [], changed: Set<String> = [], deleted: Set<String> = []
        let result = try connection.contentSyncRefresh(base: base, scope: .subtree, filter: "(objectClass=inetOrgPerson)", cookie: cookie) { mention, uuid in
            let text = String(decoding: ContentSync.uuidText(uuid), as: UTF8.self)
            switch mention {
            case .present: present.insert(text)
            case .changed: changed.insert(text)
            case .deleted: deleted.insert(text)
            }
        }
        return (result, present, changed, deleted)
    }

    func entryUUIDs(_ connection: LDAPConnection, base: String) throws -> [String: String] {
        var uuids: [String: String] = [:]
        try connection.search(SearchRequest(base: base, filter: "(objectClass=inetOrgPerson)", attributes: ["entryUUID"])) { entry in
            uuids[entry.dn] = entry.firstValue(of: "entryUUID").map { String(decoding: $0, as: UTF8.self) }
        }
        return uuids
    }

    @Test func aRefreshFromACookieNamesTheUnchangedInSetsAndTheChangedAsEntries() throws {
        var configuration = SlapdServer.Configuration()
        configuration.syncProvider = .init()
        let server = try SlapdServer.start(configuration, ldif: Fixtures.people(count: 600))
        let connection = try server.syncConnection()
        let base = "ou=people,\(configuration.suffix)"
        let uuids = try entryUUIDs(connection, base: base)
        #expect(uuids.count == 600)

        // Without a cookie every entry comes whole, and the refresh ends with one.
        let first = try refresh(connection, base: base, cookie: nil)
        #expect(first.changed.count == 600)
        #expect(first.changed == Set(uuids.values), "every entry named whole")
        #expect(first.refresh.namesEveryEntry)
        let cookie = try #require(first.refresh.cookie)

        let changedDN = "uid=\(Fixtures.personUID(7)),\(base)", deletedDN = "uid=\(Fixtures.personUID(8)),\(base)"
        try server.modify(ldif: "dn: \(changedDN)\nchangetype: modify\nreplace: cn\ncn: Changed\n")
        try server.modify(ldif: "dn: \(deletedDN)\nchangetype: delete\n")
        let second = try refresh(connection, base: base, cookie: cookie)
        #expect(second.refresh.namesEveryEntry)
        #expect(second.refresh.idSets >= 3)  // 598 unchanged at 256 a set
        #expect(second.refresh.entries == 1)
        #expect(second.changed == [uuids[changedDN]!])
        // Every entry but the deleted one is named; slapd 2.5 names the changed one in an
        // id set too, which changes nothing for a listing.
        let unchanged = Set(uuids.values).subtracting([uuids[changedDN]!, uuids[deletedDN]!])
        #expect(unchanged.subtracting(second.present).isEmpty, "every unchanged entry named present")
        #expect(second.present.union(second.changed) == unchanged.union([uuids[changedDN]!]), "the deleted entry not named")
        #expect(second.refresh.cookie != nil && second.refresh.cookie != cookie)
    }

    @Test func withoutTheOverlayTheCriticalControlIsRefused() throws {
        let server = try TestServers.standard.get()
        let connection = try server.syncConnection()
        #expect(try !connection.readRootDSE().supportedControls.contains(ContentSync.requestControl))
        let error = #expect(throws: LDAPError.self) {
            try connection.contentSyncRefresh(base: "ou=people,\(server.configuration.suffix)", scope: .subtree,
                                              filter: "(objectClass=*)", cookie: nil) { _, _ in }
        }
        #expect(error?.code == .unavailableCriticalExtension)
    }
}
