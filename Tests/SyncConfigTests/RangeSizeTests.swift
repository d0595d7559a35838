import Testing
@testable import SyncConfig

/// `rangeSize`: values per Active Directory range request.
@Suite struct RangeSizeTests {
    static func ad(_ line: String) -> String {
        minimalYAML.replacingOccurrences(of: "  - name: corp\n", with: "  - name: corp\n    type: ad\n") + line + "\n"
    }

    @Test func letsTheServerDecideByDefault() throws {
        #expect(try load(minimalYAML).directories[0].rangeSize == nil)
        #expect(try load(Self.ad("")).directories[0].rangeSize == nil)
        #expect(try load(Self.ad("    rangeSize: null")).directories[0].rangeSize == nil)
    }

    @Test func takesAnExplicitSizeForActiveDirectory() throws {
        #expect(try load(Self.ad("    rangeSize: 1000")).directories[0].rangeSize == 1000)
    }

    @Test func refusesItOutsideActiveDirectory() {
        ErrorCase("rangeSize on openldap", minimalYAML + "    rangeSize: 1000\n", line: 8, "directories[0].rangeSize", "needs type: ad").check()
    }

    @Test(arguments: ["0", "-1", "2147483648"])
    func refusesSizesOutOfRange(_ value: String) {
        ErrorCase("rangeSize \(value)", Self.ad("    rangeSize: \(value)"), line: 9, "directories[0].rangeSize", "must be from 1 to 2147483647").check()
    }

    @Test func refusesANonNumber() {
        ErrorCase("rangeSize many", Self.ad("    rangeSize: many"), line: 9, "directories[0].rangeSize", "expected an integer").check()
    }
}
