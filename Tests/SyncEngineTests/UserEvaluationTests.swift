import DirectoryModel
import SyncEngine
import Testing

/// The LDAP → app decision for one user beyond the group rules: creation, the per-attribute
/// merge of SPEC §5's first rows, value comparison, identity, activation and redaction.
@Suite struct UserEvaluationTests {
    /// An index in which `jdoe` is a member of GrpLDAP, mapped to GrpAE.
    static func index() throws -> MembershipIndex {
        MembershipIndex(policy: .rules([try Fixture.rule("GrpAE", Fixture.groupLDAP)]),
                        groups: try Fixture.groups((Fixture.groupLDAP, [Fixture.userDN])))
    }

    static func policy(_ attributes: [MappedAttribute] = Fixture.attributes, autoDeactivate: Bool = false,
                       adoptExisting: Bool = false) throws -> SyncPolicy {
        SyncPolicy(attributes: attributes, groups: try index().policy, autoDeactivate: autoDeactivate, adoptExisting: adoptExisting)
    }

    /// Evaluates a user already in GrpAE whose app row holds `app`.
    static func evaluate(app values: [String: AppValue], ldap: [AttributeName: [[UInt8]]], snapshot: [AttributeName: [[UInt8]]]?,
                         attributes: [MappedAttribute]) throws -> UserPlan {
        let state = UserState(id: Fixture.userID, directory: try Fixture.user(values: ldap),
                              snapshot: snapshot.map { Fixture.snapshot(values: $0) },
                              app: AppUser(key: Fixture.key, managed: true, values: values), appGroups: ["GrpAE"])
        return try UserEvaluation.evaluate(state, policy: try policy(attributes), memberships: try index())
    }

    // MARK: - Creation

    @Test func createsTheUserWithEveryMappedAttributeAndTheManagedTag() throws {
        let attributes = Fixture.attributes + [MappedAttribute(ldap: "telephoneNumber", column: "phone")]
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: nil),
            policy: try Self.policy(attributes), memberships: try Self.index())
        #expect(plan.action == .create)
        var expected = Fixture.expectedCreatedValues
        expected["phone"] = .null
        #expect(plan.changes == [
            .create(AppUser(key: Fixture.key, managed: true, active: true, values: expected)),
            .addMembership(user: Fixture.key, group: "GrpAE"),
        ])
        #expect(Set(plan.attributeChanges.map(\.column)) == ["email", "first_name", "last_name"])
        #expect(plan.attributeChanges.allSatisfy { $0.old == "(none)" && !$0.isReset })
    }

    // MARK: - SPEC §5, from-ldap attributes

    @Test func resetsAnAppEditOfAFromLDAPAttributeWhenLDAPIsUnchanged() throws {
        var app = Fixture.expectedCreatedValues
        app["first_name"] = .text("Jonathan")
        let plan = try Self.evaluate(app: app, ldap: Fixture.ldapValues, snapshot: Fixture.ldapValues, attributes: Fixture.attributes)
        #expect(plan.action == .update)
        #expect(plan.updatedValues == ["first_name": .text("John")])
        let change = try #require(plan.attributeChanges.only)
        #expect(change.attribute == "givenName")
        #expect(change.column == "first_name")
        #expect(change.old == #""Jonathan""#)
        #expect(change.new == #""John""#)
        #expect(change.isReset)
    }

    @Test func updatesWithoutResetWhenLDAPChanged() throws {
        let plan = try Self.evaluate(app: Fixture.staleAppValues, ldap: Fixture.ldapValues, snapshot: Fixture.previousLDAPValues,
                                     attributes: Fixture.attributes)
        #expect(plan.updatedValues == Fixture.expectedUpdate)
        #expect(plan.attributeChanges.count == 2)
        #expect(plan.attributeChanges.allSatisfy { !$0.isReset })
    }

    @Test func writesNothingWhenBothSidesMadeTheSameChange() throws {
        let plan = try Self.evaluate(app: Fixture.expectedCreatedValues, ldap: Fixture.ldapValues, snapshot: Fixture.previousLDAPValues,
                                     attributes: Fixture.attributes)
        #expect(plan.action == .none)
        #expect(plan.changes == [])
    }

    // MARK: - Comparison by the attribute's equality rule

    @Test func ignoresACaseOnlyDifferenceInACaseInsensitiveAttribute() throws {
        var app = Fixture.expectedCreatedValues
        app["email"] = .text("John.Doe@EXAMPLE.com")
        let plan = try Self.evaluate(app: app, ldap: Fixture.ldapValues, snapshot: Fixture.ldapValues, attributes: Fixture.attributes)
        #expect(plan.action == .none)
        #expect(plan.changes == [])
    }

    @Test func updatesACaseOnlyDifferenceInACaseSensitiveAttribute() throws {
        var app = Fixture.expectedCreatedValues
        app["first_name"] = .text("JOHN")
        let plan = try Self.evaluate(app: app, ldap: Fixture.ldapValues, snapshot: Fixture.ldapValues, attributes: Fixture.attributes)
        #expect(plan.action == .update)
        #expect(plan.updatedValues == ["first_name": .text("John")])
    }

    static let emails = MappedAttribute(ldap: "mail", column: "emails", kind: .multiText, caseInsensitive: true)

    /// App column text for a multi-valued attribute whose LDAP values are
    /// `a@example.com`, `b@example.com`, and whether it already holds them.
    static let multiValued: [(app: String, matches: Bool)] = [
        (#"["a@example.com","b@example.com"]"#, true),
        (#"["b@example.com","a@example.com"]"#, true),
        (#"[ "b@example.com" , "a@example.com" ]"#, true),
        (#"["A@Example.com","b@example.com"]"#, true),
        (#"["a@example.com","b@example.com","a@example.com"]"#, true),
        (#"["a@example.com"]"#, false),
        (#"["a@example.com","b@example.com","c@example.com"]"#, false),
        (#"["a@example.com","c@example.com"]"#, false),
        ("[]", false),
    ]

    @Test(arguments: multiValued)
    func comparesMultiValuedAttributesAsSets(_ app: String, _ matches: Bool) throws {
        let ldap: [AttributeName: [[UInt8]]] = ["mail": [Fixture.bytes("a@example.com"), Fixture.bytes("b@example.com")]]
        let plan = try Self.evaluate(app: ["emails": .text(app)], ldap: ldap, snapshot: ldap, attributes: [Self.emails])
        if matches {
            #expect(plan.changes == [])
        } else {
            #expect(plan.updatedValues == ["emails": .text(#"["a@example.com","b@example.com"]"#)])
        }
    }

    @Test func treatsAnEmptyJSONArrayAsNoValues() throws {
        let plan = try Self.evaluate(app: ["emails": .text("[]")], ldap: [:], snapshot: [:], attributes: [Self.emails])
        #expect(plan.changes == [])
    }

    static let photo = MappedAttribute(ldap: "jpegPhoto", column: "photo", kind: .binary)
    /// Not valid UTF-8: a binary value must never be decoded as text.
    static let jpeg: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x80, 0xC3]

    @Test func createsABinaryValueByteForByte() throws {
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(values: ["jpegPhoto": [Self.jpeg]]), snapshot: nil, app: nil),
            policy: try Self.policy([Self.photo]), memberships: try Self.index())
        #expect(plan.createdUser?.values == ["photo": .blob(Self.jpeg)])
        #expect(plan.attributeChanges.map(\.new) == ["<13 bytes>"])
    }

    static let photos: [(app: [UInt8], matches: Bool)] = [
        (jpeg, true),
        (Array(jpeg.dropLast()) + [0xC4], false),
        (jpeg + [0x00], false),
        (Array(jpeg.dropLast()), false),
    ]

    @Test(arguments: photos)
    func comparesBinaryValuesByteForByte(_ app: [UInt8], _ matches: Bool) throws {
        let ldap: [AttributeName: [[UInt8]]] = ["jpegPhoto": [Self.jpeg]]
        let plan = try Self.evaluate(app: ["photo": .blob(app)], ldap: ldap, snapshot: ldap, attributes: [Self.photo])
        if matches {
            #expect(plan.changes == [])
        } else {
            #expect(plan.updatedValues == ["photo": .blob(Self.jpeg)])
        }
    }

    @Test(arguments: [false, true])
    func failsTheEntryNamingTheAttributeWhenTextIsNotUTF8(_ appExists: Bool) throws {
        var ldap = Fixture.ldapValues
        ldap["givenName"] = [[0x4A, 0xC3, 0x28, 0x6E]]
        let state = UserState(id: Fixture.userID, directory: try Fixture.user(values: ldap), snapshot: nil,
                              app: appExists ? AppUser(key: Fixture.key, managed: true, values: Fixture.staleAppValues) : nil,
                              appGroups: appExists ? ["GrpAE"] : [])
        let policy = try Self.policy()
        let index = try Self.index()
        let failure = #expect(throws: EntryFailure.self) {
            try UserEvaluation.evaluate(state, policy: policy, memberships: index)
        }
        #expect(failure?.key == Fixture.key)
        #expect(failure?.dn == Fixture.userDN)
        #expect(failure?.message.contains("givenName") == true)
        #expect(failure?.description.contains("givenName") == true)
    }

    // MARK: - Redaction

    static let badge = MappedAttribute(ldap: "employeeNumber", column: "badge", sensitive: true)

    @Test func redactsSensitiveValuesInAttributeChanges() throws {
        let update = try Self.evaluate(app: ["badge": .text("100234")], ldap: ["employeeNumber": [Fixture.bytes("100987")]],
                                       snapshot: ["employeeNumber": [Fixture.bytes("100234")]], attributes: [Self.badge])
        #expect(update.updatedValues == ["badge": .text("100987")])
        #expect(update.attributeChanges.map(\.old) == ["<redacted>"])
        #expect(update.attributeChanges.map(\.new) == ["<redacted>"])

        let create = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(values: ["employeeNumber": [Fixture.bytes("100987")]]),
                      snapshot: nil, app: nil),
            policy: try Self.policy([Self.badge]), memberships: try Self.index())
        #expect(create.attributeChanges.map(\.new) == ["<redacted>"])
        #expect(!create.attributeChanges.map { "\($0.old) \($0.new)" }.joined().contains("100987"))
    }

    // MARK: - Identity (SPEC I6)

    @Test func followsAKeyRenameWithoutLosingMemberships() throws {
        let index = try MembershipIndex(policy: .rules([Fixture.rule("GrpAE", Fixture.groupLDAP)]),
                                        groups: Fixture.groups((Fixture.groupLDAP, [Fixture.userDN])))
        let renamed = try Fixture.user(key: "john.doe")
        let previous = AppUser(key: "jdoe", managed: true, values: Fixture.expectedCreatedValues)
        var model = AppModel(users: [previous], memberships: ["jdoe": ["GrpAE", "Local"]])
        let state = UserState(id: Fixture.userID, directory: renamed, snapshot: UserSnapshot(try Fixture.user()), app: nil,
                              appUnderPreviousKey: previous, appGroups: ["GrpAE"])
        let plan = try UserEvaluation.evaluate(state, policy: try Self.policy(), memberships: index)

        #expect(plan.changes == [.rename(from: "jdoe", to: "john.doe")])
        #expect(plan.renamedFrom == "jdoe")
        #expect(plan.removedGroups.isEmpty)
        #expect(plan.createdUser == nil)
        model.apply(plan.changes)
        #expect(model.problems == [])
        #expect(model.users["jdoe"] == nil)
        #expect(model.users["john.doe"]?.managed == true)
        #expect(model.groups(of: "john.doe") == ["GrpAE", "Local"])
    }

    // MARK: - Activation

    @Test func reactivatesAUserThatLdapsyncDeactivatedWhenBackInScope() throws {
        let app = AppUser(key: Fixture.key, managed: true, active: false, values: Fixture.expectedCreatedValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: UserSnapshot(try Fixture.user()), app: app,
                      appGroups: [], deactivatedBySync: true),
            policy: try Self.policy(autoDeactivate: true), memberships: try Self.index())
        #expect(plan.reactivated)
        #expect(plan.activeChanges == [true])
        #expect(plan.addedGroups == ["GrpAE"])
        #expect(plan.action == .update)
    }

    @Test func leavesAUserDeactivatedBySomeoneElseInactive() throws {
        let app = AppUser(key: Fixture.key, managed: true, active: false, values: Fixture.staleAppValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["GrpAE"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: Fixture.snapshot(), app: app,
                      appGroups: ["GrpAE"], deactivatedBySync: false),
            policy: try Self.policy(autoDeactivate: true), memberships: try Self.index())
        #expect(!plan.reactivated)
        #expect(plan.activeChanges == [])
        model.apply(plan.changes)
        #expect(model.users[Fixture.key]?.active == false)
    }

    @Test func doesNotDeactivateAnAlreadyInactiveVanishedUserAgain() throws {
        let app = AppUser(key: Fixture.key, managed: true, active: false, values: Fixture.expectedCreatedValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: nil, snapshot: UserSnapshot(try Fixture.user()), app: app, appGroups: []),
            policy: try Self.policy(autoDeactivate: true), memberships: try Self.index())
        #expect(plan.action == .none)
        #expect(plan.changes == [])
    }

    // MARK: - Untagged users (SPEC §6)

    @Test func skipsAnUntaggedUserWithoutWritingAnything() throws {
        let app = AppUser(key: Fixture.key, managed: false, values: Fixture.staleAppValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: app),
            policy: try Self.policy(), memberships: try Self.index())
        #expect(plan.action == .skippedUntagged)
        #expect(plan.changes == [])
        #expect(!plan.adopted)
    }

    @Test func adoptsAnUntaggedUserWhenAdoptExistingIsOn() throws {
        let app = AppUser(key: Fixture.key, managed: false, values: Fixture.staleAppValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Local"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: app),
            policy: try Self.policy(adoptExisting: true), memberships: try Self.index())
        #expect(plan.action == .update)
        #expect(plan.adopted)
        #expect(plan.managedChanges == [true])
        #expect(plan.updatedValues == Fixture.expectedUpdate)
        #expect(plan.addedGroups == ["GrpAE"])
        model.apply(plan.changes)
        #expect(model.problems == [])
        #expect(model.users[Fixture.key]?.managed == true)
        #expect(model.users[Fixture.key]?.values == Fixture.expectedCreatedValues)
        #expect(model.groups(of: Fixture.key) == ["GrpAE", "Local"])
    }

    @Test func doesNotAdoptAnUntaggedUserOutsideTheMappedGroups() throws {
        let index = try MembershipIndex(policy: .rules([Fixture.rule("GrpAE", Fixture.groupLDAP)]),
                                        groups: Fixture.groups((Fixture.groupLDAP, [Fixture.otherUserDN])))
        let app = AppUser(key: Fixture.key, managed: false, values: Fixture.staleAppValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: app),
            policy: try Self.policy(adoptExisting: true), memberships: index)
        #expect(plan.changes == [])
        #expect(!plan.adopted)
    }

    // MARK: - Idempotence (SPEC I4)

    /// A first run's situation; the second run sees the app as the first plan left it.
    enum FirstRun: String, CaseIterable, Sendable {
        case create
        case createMultiValuedAndBinary
        case updateStaleData
        case resetAppEdit
        case adopt
        case reactivate
        case leaveMappedGroups
        case rename
        case mirrorWithRetiredGroup
    }

    @Test(arguments: FirstRun.allCases)
    func writesNothingOnASecondRunWithNothingChanged(_ firstRun: FirstRun) throws {
        var attributes = Fixture.attributes
        var ldap = Fixture.ldapValues
        var groups: GroupPolicy = .rules([try Fixture.rule("GrpAE", Fixture.groupLDAP)])
        var members = [Fixture.userDN]
        var retired: Set<String> = []
        var key = Fixture.key
        var model = AppModel()
        var snapshot: UserSnapshot? = Fixture.snapshot()
        var previous: AppUser?
        var deactivatedBySync = false
        var adopt = false

        switch firstRun {
        case .create:
            snapshot = nil
        case .createMultiValuedAndBinary:
            snapshot = nil
            attributes += [Self.photo, MappedAttribute(ldap: "mailAlternateAddress", column: "aliases", kind: .multiText)]
            ldap["jpegPhoto"] = [Self.jpeg]
            ldap["mailAlternateAddress"] = [Fixture.bytes("jd@example.com"), Fixture.bytes("doe@example.com")]
        case .updateStaleData:
            model = AppModel(users: [AppUser(key: key, managed: true, values: Fixture.staleAppValues)], memberships: [key: ["Local"]])
        case .resetAppEdit:
            snapshot = Fixture.snapshot(values: ldap)
            var edited = Fixture.expectedCreatedValues
            edited["email"] = .text("mine@example.net")
            model = AppModel(users: [AppUser(key: key, managed: true, values: edited)], memberships: [key: ["GrpAE"]])
        case .adopt:
            snapshot = nil
            adopt = true
            model = AppModel(users: [AppUser(key: key, managed: false, values: Fixture.staleAppValues)])
        case .reactivate:
            deactivatedBySync = true
            model = AppModel(users: [AppUser(key: key, managed: true, active: false, values: Fixture.staleAppValues)])
        case .leaveMappedGroups:
            members = [Fixture.otherUserDN]
            model = AppModel(users: [AppUser(key: key, managed: true, values: Fixture.staleAppValues)], memberships: [key: ["GrpAE"]])
        case .rename:
            key = "john.doe"
            snapshot = UserSnapshot(try Fixture.user())
            previous = AppUser(key: Fixture.key, managed: true, values: Fixture.expectedCreatedValues)
            model = AppModel(users: [previous!], memberships: [Fixture.key: ["GrpAE"]])
        case .mirrorWithRetiredGroup:
            groups = .mirror
            retired = ["Contractors"]
            model = AppModel(users: [AppUser(key: key, managed: true, values: Fixture.staleAppValues)],
                             memberships: [key: ["Contractors", "Local"]])
        }

        let index = MembershipIndex(policy: groups, groups: try Fixture.groups((Fixture.groupLDAP, members)), retiredGroupNames: retired)
        let policy = SyncPolicy(attributes: attributes, groups: groups, adoptExisting: adopt)
        let user = try Fixture.user(key: key, values: ldap)
        let first = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: user, snapshot: snapshot, app: model.users[key],
                      appUnderPreviousKey: previous, appGroups: model.groups(of: previous?.key ?? key).intersection(index.managedGroups),
                      deactivatedBySync: deactivatedBySync),
            policy: policy, memberships: index)
        #expect(first.writes)
        model.apply(first.changes)
        #expect(model.problems == [])

        // The runner commits the snapshot as LDAP's state of this run.
        let second = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: user, snapshot: UserSnapshot(user), app: model.users[key],
                      appGroups: model.groups(of: key).intersection(index.managedGroups),
                      deactivatedBySync: deactivatedBySync && model.users[key]?.active == false),
            policy: policy, memberships: index)
        #expect(second.action == .none)
        #expect(second.changes == [])
        #expect(second.attributeChanges == [])
    }
}
