import Testing
@testable import SyncConfig

@Suite struct ValueSyntaxTests {
    static let durations: [(String, Duration)] = [
        ("30s", .seconds(30)), ("10m", .seconds(600)), ("1h", .seconds(3600)), ("2h30m", .seconds(9000)),
        ("500ms", .milliseconds(500)), ("1m30s", .seconds(90)), ("1h0m5s250ms", .milliseconds(3_605_250)),
        ("0", .zero), ("0s", .zero), ("48h", .seconds(172_800)),
    ]

    @Test(arguments: durations) func readsDuration(_ text: String, _ expected: Duration) throws {
        #expect(try ValueSyntax.duration(text).get() == expected)
    }

    static let badDurations: [(String, String)] = [
        ("30", "needs a unit"), ("", "expected a duration"), ("s", "expected a duration"), ("1.5h", "expected a duration"),
        ("-5m", "expected a duration"), ("30sec", "unknown unit \"sec\""), ("1d", "unknown unit \"d\""), ("30m2h", "largest first"),
        ("1m1m", "largest first"), ("2h 30m", "expected a duration"), ("99999999999999999999h", "too long"),
        ("9999999999h", "too long"),
    ]

    @Test(arguments: badDurations) func rejectsDuration(_ text: String, _ message: String) {
        guard case .failure(let problem) = ValueSyntax.duration(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(problem.message.contains(message), "\(problem.message)")
    }

    static let limits: [(String, Limit)] = [
        ("5%", .percent(5)), ("0.5%", .percent(0.5)), ("100%", .percent(100)), ("0%", .percent(0)),
        ("50", .count(50)), ("0", .count(0)), ("12.25%", .percent(12.25)),
    ]

    @Test(arguments: limits) func readsLimit(_ text: String, _ expected: Limit) throws {
        #expect(try ValueSyntax.limit(text).get() == expected)
    }

    static let badLimits: [(String, String)] = [
        ("101%", "from 0% to 100%"), ("-1", "cannot be negative"), ("-1%", "expected a count"), ("5.5", "expected a count"),
        ("%", "expected a count"), ("5 %", "expected a count"), (".5%", "expected a count"), ("5.%", "expected a count"),
        ("five", "expected a count"), ("1e2%", "expected a count"),
    ]

    @Test(arguments: badLimits) func rejectsLimit(_ text: String, _ message: String) {
        guard case .failure(let problem) = ValueSyntax.limit(text) else {
            Issue.record("\(text) was accepted")
            return
        }
        #expect(problem.message.contains(message), "\(problem.message)")
    }

    @Test func limitsAndDurationsAreReadFromTheFile() throws {
        let configuration = try load(minimalYAML + """
                timeout: 1m30s
                timestamp: { overlap: "500ms" }
            safety: { maxDeactivations: "25", maxGroupRemovals: 2.5% }

            """)
        #expect(configuration.directories[0].timeout == .seconds(90))
        #expect(configuration.directories[0].timestamp.overlap == .milliseconds(500))
        #expect(configuration.safety.maxDeactivations == .count(25))
        #expect(configuration.safety.maxGroupRemovals == .percent(2.5))
    }

    static let patterns = [
        "openldap", "ad", "yyyyMMddHHmmssZ", "yyyyMMddHHmmss.Z", "yyyyMMddHHmmss'Z'", "yyyyMMddHHmmss'.0Z'",
        "yyyyMMddHHmmss.SSSZ", "yyyyMMddHH'00'", "yyyyMMddHHmmss'''Z'",
    ]

    @Test(arguments: patterns) func acceptsTimestampPattern(_ pattern: String) throws {
        #expect(ValueSyntax.checkDatePattern(pattern, presets: true) == nil)
        let quoted = "'" + pattern.replacingOccurrences(of: "'", with: "''") + "'"
        let configuration = try load(minimalYAML + "    timestamp: { pattern: \(quoted) }\n")
        #expect(configuration.directories[0].timestamp.pattern == pattern)
    }

    static let badPatterns: [(String, String)] = [
        ("open-ldap", "not a pattern letter"), ("yyyyMMdd", "missing HH"), ("ddMMyy HH", "'yy' at offset 4 is not a field"),
        ("yyyyMMddHHmmssX", "'X' at offset 14 is not a pattern letter"), ("yyyyMMddHHmmss'Z", "is not closed"),
        ("yyyyMMddhhmmss", "hours are HH"), ("MMddHHmmss", "missing yyyy"), ("yyyyMMMddHH", "'MMM' at offset 4 is not a field"),
        ("", "missing yyyy, MM, dd, HH"),
    ]

    @Test(arguments: badPatterns) func rejectsTimestampPattern(_ pattern: String, _ message: String) throws {
        let problem = try #require(ValueSyntax.checkDatePattern(pattern, presets: true))
        #expect(problem.message.contains(message), "\(problem.message)")
    }

    @Test func invalidPatternInTheFileNamesItsLine() throws {
        let error = try #require(loadError(minimalYAML + "    timestamp:\n      pattern: yyyyMMddHHmmssX\n"))
        #expect(error.line == 9)
        #expect(error.keyPath == "directories[0].timestamp.pattern")
        #expect(error.message.contains("is not a usable pattern: expected a timestamp pattern"))
    }

    @Test func displayPatternsHaveNoPresets() {
        #expect(ValueSyntax.checkDatePattern("dd-MM-yyyy HH:mm:ss", presets: false) == nil)
        #expect(ValueSyntax.checkDatePattern("openldap", presets: false) != nil)
    }

    static let identifiers = ["users", "_x", "updated_at", "Column9"]
    static let badIdentifiers = ["", "9lives", "e-mail", "a b", "users\"", "naïve", String(repeating: "a", count: 64)]

    @Test(arguments: identifiers) func acceptsIdentifier(_ name: String) {
        #expect(ValueSyntax.checkIdentifier(name) == nil)
    }

    @Test(arguments: badIdentifiers) func rejectsIdentifier(_ name: String) {
        #expect(ValueSyntax.checkIdentifier(name) != nil)
    }

    static let attributeNames: [(String, Bool)] = [
        ("mail", true), ("userCertificate;binary", true), ("2.5.4.3", true), ("x-custom-1", true), ("member;range=0-1499", false),
        ("", false), ("1mail", false), ("mail;", false), ("2.5.04", false), ("mail address", false), ("2", false),
    ]

    @Test(arguments: attributeNames) func attributeDescriptionSyntax(_ name: String, _ valid: Bool) {
        #expect(ValueSyntax.isAttributeDescription(name) == valid)
    }

    static let suggestions: [(String, [String], String?)] = [
        ("usres", ["name", "users", "url"], "users"),
        ("pagesize", ["pageSize", "timeout"], "pageSize"),
        ("passwrodFile", ["dn", "passwordFile", "passwordEnv"], "passwordFile"),
        ("colour", ["version", "state", "users"], nil),
        ("x", ["ad", "sub"], nil),
    ]

    @Test(arguments: suggestions) func suggestsTheClosestKey(_ word: String, _ candidates: [String], _ expected: String?) {
        #expect(Suggestion.closest(to: word, among: candidates) == expected)
    }
}
