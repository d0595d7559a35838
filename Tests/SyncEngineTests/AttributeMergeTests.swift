import DirectoryModel
import SyncEngine
import Testing

/// SPEC §5's merge table, row by row, for each direction and conflict policy.
@Suite struct AttributeMergeTests {
    private static func v(_ strings: String...) -> [[UInt8]] { strings.map { Array($0.utf8) } }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var base: [[UInt8]]?
        var ldap: [[UInt8]]
        var app: [[UInt8]]
        var settings: AttributeMerge.Settings
        var expectedApp: [[UInt8]]?
        var expectedLDAP: [[UInt8]]?
        var expectedBase: [[UInt8]]?
        var expectedEvent: AttributeMerge.Event
        var testDescription: String { name }
    }

    static let both = AttributeMerge.Settings(direction: .both, writeBackEnabled: true)
    static let bothOff = AttributeMerge.Settings(direction: .both, writeBackEnabled: false)
    static let fromLDAP = AttributeMerge.Settings(direction: .fromLDAP, writeBackEnabled: true)
    static let toLDAP = AttributeMerge.Settings(direction: .toLDAP, writeBackEnabled: true)
    static let toLDAPOff = AttributeMerge.Settings(direction: .toLDAP, writeBackEnabled: false)

    static func policy(_ policy: ConflictPolicy) -> AttributeMerge.Settings {
        AttributeMerge.Settings(direction: .both, conflict: policy, writeBackEnabled: true)
    }

    static let rows: [Row] = [
        // L same, A same → nothing.
        Row(name: "same/same", base: v("a"), ldap: v("a"), app: v("a"), settings: both,
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil, expectedEvent: .unchanged),
        // L changed, A same → L flows to the app if the direction allows.
        Row(name: "L changed, both", base: v("a"), ldap: v("b"), app: v("a"), settings: both,
            expectedApp: v("b"), expectedLDAP: nil, expectedBase: v("b"), expectedEvent: .ldapToApp),
        Row(name: "L changed, from-ldap", base: v("a"), ldap: v("b"), app: v("a"), settings: fromLDAP,
            expectedApp: v("b"), expectedLDAP: nil, expectedBase: v("b"), expectedEvent: .ldapToApp),
        // ... a to-ldap attribute changed in LDAP is reset to A when write-back is on.
        Row(name: "L changed, to-ldap, write-back on", base: v("a"), ldap: v("b"), app: v("a"), settings: toLDAP,
            expectedApp: nil, expectedLDAP: v("a"), expectedBase: v("a"), expectedEvent: .ldapReset),
        Row(name: "L changed, to-ldap, write-back off", base: v("a"), ldap: v("b"), app: v("a"), settings: toLDAPOff,
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil, expectedEvent: .pending(reason: "writeBack.enabled is false")),
        // L same, A changed → A flows to LDAP if the direction allows and write-back is on.
        Row(name: "A changed, both", base: v("a"), ldap: v("a"), app: v("c"), settings: both,
            expectedApp: nil, expectedLDAP: v("c"), expectedBase: v("c"), expectedEvent: .appToLDAP),
        Row(name: "A changed, both, write-back off: pending", base: v("a"), ldap: v("a"), app: v("c"), settings: bothOff,
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil, expectedEvent: .pending(reason: "writeBack.enabled is false")),
        // ... a from-ldap attribute changed in the app is reset to L.
        Row(name: "A changed, from-ldap: reset", base: v("a"), ldap: v("a"), app: v("c"), settings: fromLDAP,
            expectedApp: v("a"), expectedLDAP: nil, expectedBase: v("a"), expectedEvent: .appReset),
        Row(name: "A changed, to-ldap", base: v("a"), ldap: v("a"), app: v("c"), settings: toLDAP,
            expectedApp: nil, expectedLDAP: v("c"), expectedBase: v("c"), expectedEvent: .appToLDAP),
        // Both changed, equal → nothing to write; the snapshot takes the value.
        Row(name: "both changed, equal", base: v("a"), ldap: v("d"), app: v("d"), settings: both,
            expectedApp: nil, expectedLDAP: nil, expectedBase: v("d"), expectedEvent: .agreed),
        // Both changed, different → conflict, by policy.
        Row(name: "conflict, ldap-wins", base: v("a"), ldap: v("l"), app: v("p"), settings: policy(.ldapWins),
            expectedApp: v("l"), expectedLDAP: nil, expectedBase: v("l"), expectedEvent: .conflict(.ldapWins, ldapWon: true)),
        Row(name: "conflict, app-wins", base: v("a"), ldap: v("l"), app: v("p"), settings: policy(.appWins),
            expectedApp: nil, expectedLDAP: v("p"), expectedBase: v("p"), expectedEvent: .conflict(.appWins, ldapWon: false)),
        Row(name: "conflict, manual", base: v("a"), ldap: v("l"), app: v("p"), settings: policy(.manual),
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil, expectedEvent: .conflict(.manual, ldapWon: nil)),
        Row(name: "conflict, from-ldap resets the app", base: v("a"), ldap: v("l"), app: v("p"), settings: fromLDAP,
            expectedApp: v("l"), expectedLDAP: nil, expectedBase: v("l"), expectedEvent: .appReset),
        // Case-insensitive equality: a case-only difference is no change.
        Row(name: "case-only change of a caseIgnore attribute", base: v("A@x.org"), ldap: v("a@X.org"), app: v("A@x.org"),
            settings: AttributeMerge.Settings(direction: .both, caseInsensitive: true, writeBackEnabled: true),
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil, expectedEvent: .unchanged),
    ]

    @Test(arguments: rows)
    func singleValuedRowsOfTheMergeTable(row: Row) {
        let result = AttributeMerge.merge(.init(base: row.base, ldap: row.ldap, app: row.app), row.settings)
        #expect(result.event == row.expectedEvent)
        #expect(result.app == row.expectedApp)
        #expect(result.ldap == row.expectedLDAP)
        #expect(result.base == row.expectedBase)
    }

    @Test(arguments: [
        (Timestamp(seconds: 200), Timestamp(seconds: 100), true),
        (Timestamp(seconds: 100), Timestamp(seconds: 200), false),
    ])
    func newestTakesTheLaterSide(ldapTime: Timestamp, appTime: Timestamp, ldapWins: Bool) {
        let result = AttributeMerge.merge(.init(base: Self.v("a"), ldap: Self.v("l"), app: Self.v("p"), ldapTime: ldapTime, appTime: appTime),
                                          Self.policy(.newest))
        #expect(result.event == .conflict(.newest, ldapWon: ldapWins))
        #expect(result.base == (ldapWins ? Self.v("l") : Self.v("p")))
    }

    @Test func multiValuedEditsOfDifferentValuesOnBothSidesNeverConflict() {
        let settings = AttributeMerge.Settings(direction: .both, multiValued: true, writeBackEnabled: true)
        // LDAP added x and removed b; the app added y.
        let result = AttributeMerge.merge(.init(base: Self.v("a", "b"), ldap: Self.v("a", "x"), app: Self.v("a", "b", "y")), settings)
        #expect(result.event == .merged)
        #expect(Set(result.base ?? []) == Set(Self.v("a", "x", "y")))
        #expect(Set(result.app ?? []) == Set(Self.v("a", "x", "y")))
        #expect(Set(result.ldap ?? []) == Set(Self.v("a", "x", "y")))
    }

    @Test func multiValuedRemovalOnEitherSideRemoves() {
        let settings = AttributeMerge.Settings(direction: .both, multiValued: true, writeBackEnabled: true)
        let result = AttributeMerge.merge(.init(base: Self.v("a", "b", "c"), ldap: Self.v("a", "b"), app: Self.v("b", "c")), settings)
        #expect(Set(result.base ?? []) == Set(Self.v("b")))
    }

    @Test func multiValuedWithWriteBackOffTakesLDAPChangesAndKeepsTheAppEditPending() {
        let settings = AttributeMerge.Settings(direction: .both, multiValued: true, writeBackEnabled: false)
        let result = AttributeMerge.merge(.init(base: Self.v("a"), ldap: Self.v("a", "x"), app: Self.v("a", "y")), settings)
        #expect(result.event == .pending(reason: "writeBack.enabled is false"))
        #expect(result.ldap == nil)
        #expect(result.base == nil)
        #expect(Set(result.app ?? []) == Set(Self.v("a", "x", "y")))
    }

    @Test func withoutABaseEqualSidesAgreeAndDifferentSidesFollowTheAuthoritativeSide() {
        #expect(AttributeMerge.merge(.init(base: nil, ldap: Self.v("a"), app: Self.v("a")), Self.both).event == .agreed)
        let stale = AttributeMerge.merge(.init(base: nil, ldap: Self.v("new"), app: Self.v("stale")), Self.both)
        #expect(stale.event == .conflict(.ldapWins, ldapWon: true))
        #expect(stale.app == Self.v("new"))
        #expect(stale.ldap == nil)
        let owned = AttributeMerge.merge(.init(base: nil, ldap: Self.v("old"), app: Self.v("app")), Self.toLDAP)
        #expect(owned.ldap == Self.v("app"))
    }
}

/// The same table for multi-valued attributes: values merge as sets.
@Suite struct MultiValuedMergeTableTests {
    private static func v(_ strings: String...) -> [[UInt8]] { strings.map { Array($0.utf8) } }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var base: [[UInt8]]
        var ldap: [[UInt8]]
        var app: [[UInt8]]
        var direction: SyncDirection
        var writeBack: Bool
        var expectedApp: Set<[UInt8]>?
        var expectedLDAP: Set<[UInt8]>?
        var expectedBase: Set<[UInt8]>?
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "same/same", base: v("a", "b"), ldap: v("b", "a"), app: v("a", "b"), direction: .both, writeBack: true,
            expectedApp: nil, expectedLDAP: nil, expectedBase: nil),
        Row(name: "LDAP added a value", base: v("a"), ldap: v("a", "x"), app: v("a"), direction: .both, writeBack: true,
            expectedApp: Set(v("a", "x")), expectedLDAP: nil, expectedBase: Set(v("a", "x"))),
        Row(name: "app removed a value", base: v("a", "b"), ldap: v("a", "b"), app: v("a"), direction: .both, writeBack: true,
            expectedApp: nil, expectedLDAP: Set(v("a")), expectedBase: Set(v("a"))),
        Row(name: "app edit of a from-ldap attribute is reset", base: v("a"), ldap: v("a"), app: v("a", "y"), direction: .fromLDAP, writeBack: true,
            expectedApp: Set(v("a")), expectedLDAP: nil, expectedBase: Set(v("a"))),
        Row(name: "both changed the same way", base: v("a"), ldap: v("a", "z"), app: v("z", "a"), direction: .both, writeBack: true,
            expectedApp: nil, expectedLDAP: nil, expectedBase: Set(v("a", "z"))),
        Row(name: "both changed differently: set merge, no conflict", base: v("a", "b"), ldap: v("a", "b", "x"), app: v("a"), direction: .both, writeBack: true,
            expectedApp: Set(v("a", "x")), expectedLDAP: Set(v("a", "x")), expectedBase: Set(v("a", "x"))),
        Row(name: "to-ldap changed in LDAP is reset to the app", base: v("a"), ldap: v("a", "q"), app: v("a"), direction: .toLDAP, writeBack: true,
            expectedApp: nil, expectedLDAP: Set(v("a")), expectedBase: Set(v("a"))),
    ]

    @Test(arguments: rows)
    func multiValuedRowsOfTheMergeTable(row: Row) {
        let settings = AttributeMerge.Settings(direction: row.direction, multiValued: true, writeBackEnabled: row.writeBack)
        let result = AttributeMerge.merge(.init(base: row.base, ldap: row.ldap, app: row.app), settings)
        #expect(result.app.map(Set.init) == row.expectedApp)
        #expect(result.ldap.map(Set.init) == row.expectedLDAP)
        #expect(result.base.map(Set.init) == row.expectedBase)
    }
}

@Suite struct RoundTripGuardTests {
    @Test func aBothAttributeWhoseTransformDoesNotRoundTripTheAppValueFailsThatUser() throws {
        let attribute = MappedAttribute(ldap: "description", column: "note", direction: .both, transform: .lowercase)
        var policy = SyncPolicy(attributes: [attribute])
        policy.writeBackEnabled = true
        let dn = "uid=jdoe,ou=people,dc=example,dc=com"
        let user = DirectoryUser(id: [1], dn: dn, dnKey: try DNKey.make(dn), key: "jdoe", values: ["description": [Array("old".utf8)]])
        let snapshot = UserSnapshot(user)
        let app = AppUser(key: "jdoe", managed: true, values: ["note": .text("MiXed Case")])
        let state = UserState(id: [1], directory: user, snapshot: snapshot, app: app)
        let failure = #expect(throws: EntryFailure.self) {
            try UserEvaluation.evaluate(state, policy: policy, memberships: MembershipIndex(policy: .none, groups: [:]))
        }
        #expect(failure?.message.contains("does not round-trip") == true)

        let fine = UserState(id: [1], directory: user, snapshot: snapshot, app: AppUser(key: "jdoe", managed: true, values: ["note": .text("lower")]))
        let plan = try UserEvaluation.evaluate(fine, policy: policy, memberships: MembershipIndex(policy: .none, groups: [:]))
        #expect(plan.ldapChanges.first?.replace == [Array("lower".utf8)])
    }
}
