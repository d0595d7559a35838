import DirectoryModel
import Testing

@Suite struct ValueRangeTests {
    @Test func readsTheRangeOptionOfAnAttributeName() {
        #expect(AttributeName("member;range=0-1499").range == ValueRange(low: 0, high: 1499))
        #expect(AttributeName("member;range=1500-*").range == ValueRange(low: 1500, high: nil))
        #expect(AttributeName("Member;Range=3000-*").range?.isLast == true)
        #expect(AttributeName("member;x-option;range=5-9").range == ValueRange(low: 5, high: 9))
        #expect(AttributeName("member").range == nil)
        #expect(AttributeName("userCertificate;binary").range == nil)
    }

    @Test(arguments: ["range=", "range=-5", "range=5-", "range=a-9", "range=9-5", "range=1-2-3", "range=0x10-*",
                      "range=99999999999-*", "ranges=0-9"])
    func rejectsMalformedRanges(_ option: String) {
        #expect(ValueRange(option: option) == nil)
    }

    @Test func printsTheOptionAsADExpectsIt() {
        #expect(AttributeName("member").withRange(ValueRange(low: 0, size: 1000)).description == "member;range=0-999")
        #expect(AttributeName("member;range=0-999").withRange(ValueRange(low: 1000, size: 1000)).description == "member;range=1000-1999")
        #expect(AttributeName("member").withRange(ValueRange(low: 1500, size: nil)).description == "member;range=1500-*")
    }

    @Test func aRangedNameIsStillItsType() {
        #expect(AttributeName("member;range=0-1499").type == AttributeName("MEMBER"))
    }
}
