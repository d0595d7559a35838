import DirectoryModel
@testable import LDAPClient
import Testing

/// The AD range retrieval loop against scripted server answers (slapd has no ranges; the
/// Samba tests in SyncRunnerTests run it against a real DC).
@Suite struct RangeRetrievalTests {
    /// A server holding `count` values that answers like Samba: a requested range is
    /// clamped to the values there are, its high bound becomes `*` at the end, and
    /// `cap` (Windows' MaxValRange) limits any one answer.
    struct Server {
        var count: Int
        var cap: Int?
        var requested: [String] = []

        func value(_ index: Int) -> [UInt8] { Array("cn=user\(index),dc=x".utf8) }

        mutating func answer(_ name: AttributeName) -> RangeAnswer {
            requested.append(name.description)
            let range = name.range!
            var end = range.high ?? Int.max
            if let cap { end = min(end, range.low + cap - 1) }
            let last = end >= count - 1
            if last { end = count - 1 }
            let values = range.low <= end ? (range.low...end).map(value) : []
            return RangeAnswer(found: true, range: ValueRange(low: range.low, high: last ? nil : end), values: values)
        }
    }

    @Test func asksRangeAfterRangeOfTheConfiguredSizeUntilTheLastOne() throws {
        var server = Server(count: 3_000)
        let loop = RangeLoop(dn: "cn=big,dc=x", type: "member", rangeSize: 1_000)
        let result = try loop.run(from: 1_000) { server.answer($0) }
        #expect(server.requested == ["member;range=1000-1999", "member;range=2000-2999"])
        #expect(result.requests == 2)
        #expect(result.values == (1_000..<3_000).map(server.value))
    }

    @Test func withoutASizeAsksForEverythingLeftAndFollowsTheServersCap() throws {
        var server = Server(count: 3_200, cap: 1_500)
        let loop = RangeLoop(dn: "cn=big,dc=x", type: "member", rangeSize: nil)
        let result = try loop.run(from: 1_500) { server.answer($0) }
        #expect(server.requested == ["member;range=1500-*", "member;range=3000-*"])
        #expect(result.values == (1_500..<3_200).map(server.value))
    }

    @Test func aServerCappingBelowTheSizeLosesNothing() throws {
        var server = Server(count: 2_500, cap: 700)
        let loop = RangeLoop(dn: "cn=big,dc=x", type: "member", rangeSize: 1_000)
        let result = try loop.run(from: 0) { server.answer($0) }
        #expect(server.requested == ["member;range=0-999", "member;range=700-1699", "member;range=1400-2399", "member;range=2100-3099"])
        #expect(result.values == (0..<2_500).map(server.value))
    }

    @Test func aListThatEndsExactlyAtARangeBoundaryEndsWithAnEmptyLastRange() throws {
        // Samba answers member;range=2000-* with no values when 2,000 values were read.
        var server = Server(count: 2_000)
        let result = try RangeLoop(dn: "cn=g,dc=x", type: "member", rangeSize: 1_000).run(from: 1_000) { server.answer($0) }
        #expect(server.requested == ["member;range=1000-1999"])
        #expect(result.values.count == 1_000)
    }

    @Test func aServerIgnoringTheRangeOptionGivesTheRemainingPlainValues() throws {
        let all = (0..<10).map { [UInt8($0)] }
        let result = try RangeLoop(dn: "cn=g,dc=x", type: "member", rangeSize: 4).run(from: 4) { _ in
            RangeAnswer(found: true, range: nil, values: [], plainValues: all)
        }
        #expect(result.values == Array(all[4...]))
    }

    @Test func anAnswerForAnotherRangeIsAnErrorNotAShortList() {
        let error = #expect(throws: LDAPError.self) {
            try RangeLoop(dn: "cn=g,dc=x", type: "member", rangeSize: nil).run(from: 1_500) { _ in
                RangeAnswer(found: true, range: ValueRange(low: 0, high: nil), values: [[1]])
            }
        }
        #expect(error?.dn == "cn=g,dc=x")
        #expect(error?.description.contains("member;range=1500-*") == true)
        #expect(error?.description.contains("incomplete") == true)
    }

    @Test func aRangeWithFewerValuesThanItNamesIsAnError() {
        let error = #expect(throws: LDAPError.self) {
            try RangeLoop(dn: "cn=g,dc=x", type: "member", rangeSize: nil).run(from: 10) { _ in
                RangeAnswer(found: true, range: ValueRange(low: 10, high: 19), values: [[1], [2]])
            }
        }
        #expect(error?.description.contains("with 2 values") == true)
    }

    @Test func aGroupGoneDuringTheReadIsNoSuchObject() {
        let error = #expect(throws: LDAPError.self) {
            try RangeLoop(dn: "cn=g,dc=x", type: "member", rangeSize: nil).run(from: 10) { _ in RangeAnswer() }
        }
        #expect(error?.code == .noSuchObject)
    }
}
