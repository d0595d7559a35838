import DirectoryModel
import Testing

@Suite struct ObjectGUIDTests {
    /// Microsoft's GUID layout: Data1, Data2 and Data3 are stored little-endian.
    static let knownBytes: [UInt8] = [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66,
                                      0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF]
    static let knownText = "00112233-4455-6677-8899-aabbccddeeff"

    @Test func showsTheFirstThreeFieldsLittleEndian() throws {
        let guid = try #require(ObjectGUID(bytes: Self.knownBytes))
        #expect(guid.description == Self.knownText)
    }

    /// The bytes ldapsearch prints as base64 `Sg4SC0D5Q0CsnN/TZCzkGw==`; Samba's own GUID
    /// decoder (`ndr_unpack(samba.dcerpc.misc.GUID, ...)`) prints them as
    /// `0b120e4a-f940-4043-ac9c-dfd3642ce41b`.
    @Test func showsARealObjectGUIDAsSambaDoes() throws {
        let bytes: [UInt8] = [0x4A, 0x0E, 0x12, 0x0B, 0x40, 0xF9, 0x43, 0x40, 0xAC, 0x9C, 0xDF, 0xD3, 0x64, 0x2C, 0xE4, 0x1B]
        #expect(ObjectGUID(bytes: bytes)?.description == "0b120e4a-f940-4043-ac9c-dfd3642ce41b")
    }

    @Test(arguments: [knownText, "{00112233-4455-6677-8899-AABBCCDDEEFF}", "00112233-4455-6677-8899-AaBbCcDdEeFf"])
    func parsesTheStringFormBackToTheServersBytes(_ text: String) {
        #expect(ObjectGUID(text)?.bytes == Self.knownBytes)
    }

    @Test(arguments: ["", "00112233445566778899aabbccddeeff", "{00112233-4455-6677-8899-aabbccddeeff",
                      "00112233-4455-6677-8899-aabbccddeefg", "0011223-34455-6677-8899-aabbccddeeff",
                      "00112233-4455-6677-8899-aabbccddeeff0"])
    func rejectsAnythingElse(_ text: String) {
        #expect(ObjectGUID(text) == nil)
    }

    @Test func needsExactlySixteenBytes() {
        #expect(ObjectGUID(bytes: Array(Self.knownBytes.dropLast())) == nil)
        #expect(ObjectGUID(bytes: Self.knownBytes + [0]) == nil)
    }

    @Test func roundTripsEveryByte() throws {
        for start in 0..<16 {
            let bytes = (0..<16).map { UInt8((start * 16 + $0 * 17) & 0xFF) }
            let text = try #require(ObjectGUID(bytes: bytes)).description
            #expect(ObjectGUID(text)?.bytes == bytes)
        }
    }

    @Test func displaysIdsByTheirAttribute() {
        #expect(EntryIDDisplay.text(Self.knownBytes, attribute: "objectGUID") == Self.knownText)
        #expect(EntryIDDisplay.text(Self.knownBytes, attribute: "OBJECTGUID") == Self.knownText)
        let uuid = "5e3c4a2e-1d9b-103f-8e4c-8d1f3a3b2c1d"
        #expect(EntryIDDisplay.text(Array(uuid.utf8), attribute: "entryUUID") == uuid)
        // 16 bytes under another attribute are not taken for a GUID; binary shows as hex.
        #expect(EntryIDDisplay.text(Self.knownBytes, attribute: "nsUniqueId") == "33221100554477668899aabbccddeeff")
    }
}
