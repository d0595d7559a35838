import DirectoryModel
import SyncEngine
import Testing

/// `users.accountState`: the AD account's disabled bit (userAccountControl 0x2) and the
/// app's active flag, merged three ways like an attribute (SPEC §5 with a boolean).
@Suite struct AccountStateTests {
    static let uac: AttributeName = "userAccountControl"
    /// NORMAL_ACCOUNT; with ACCOUNTDISABLE; NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD, and the same disabled.
    static let enabled = "512", disabled = "514", enabledNoExpiry = "66048", disabledNoExpiry = "66050"

    static func policy(_ mode: AccountStatePolicy?, writeBack: Bool = false) -> SyncPolicy {
        var policy = SyncPolicy(attributes: Fixture.attributes)
        policy.accountState = mode
        policy.writeBackEnabled = writeBack
        return policy
    }

    static let fromLDAP = AccountStatePolicy(writesBack: false)
    static let both = AccountStatePolicy(writesBack: true)

    /// The directory user with `flags` as its userAccountControl (nil: none).
    static func user(_ flags: String?) throws -> DirectoryUser {
        var values = Fixture.ldapValues
        if let flags { values[uac] = [Fixture.bytes(flags)] }
        return try Fixture.user(values: values)
    }

    /// Evaluates `jdoe`, already in the app with the current data and `active`, whose
    /// snapshot agreed on `agreed` (nil: no snapshot state).
    static func evaluate(ldap: String?, agreed: String?, active: Bool, policy: SyncPolicy) throws -> UserPlan {
        var snapshotValues = Fixture.ldapValues
        if let agreed { snapshotValues[uac] = [Fixture.bytes(agreed)] }
        let state = UserState(id: Fixture.userID, directory: try user(ldap), snapshot: Fixture.snapshot(values: snapshotValues),
                              app: AppUser(key: Fixture.key, managed: true, active: active, values: Fixture.expectedCreatedValues))
        return try UserEvaluation.evaluate(state, policy: policy, memberships: MembershipIndex(policy: .none, groups: [:]))
    }

    // MARK: Creation

    @Test func aDisabledAccountIsCreatedInactive() throws {
        let state = UserState(id: Fixture.userID, directory: try Self.user(Self.disabled), snapshot: nil, app: nil)
        let plan = try UserEvaluation.evaluate(state, policy: Self.policy(Self.fromLDAP), memberships: MembershipIndex(policy: .none, groups: [:]))
        #expect(plan.changes == [.create(AppUser(key: Fixture.key, managed: true, active: false, values: Fixture.expectedCreatedValues))])
        #expect(plan.agreed[Self.uac] == [Fixture.bytes(Self.disabled)])
        #expect(!plan.deactivated)
    }

    @Test func anEnabledAccountIsCreatedActive() throws {
        let state = UserState(id: Fixture.userID, directory: try Self.user(Self.enabledNoExpiry), snapshot: nil, app: nil)
        let plan = try UserEvaluation.evaluate(state, policy: Self.policy(Self.fromLDAP), memberships: MembershipIndex(policy: .none, groups: [:]))
        #expect(plan.changes == [.create(AppUser(key: Fixture.key, managed: true, active: true, values: Fixture.expectedCreatedValues))])
    }

    @Test func withAccountStateOffADisabledAccountIsCreatedActive() throws {
        let state = UserState(id: Fixture.userID, directory: try Self.user(Self.disabled), snapshot: nil, app: nil)
        let plan = try UserEvaluation.evaluate(state, policy: Self.policy(nil), memberships: MembershipIndex(policy: .none, groups: [:]))
        #expect(plan.changes == [.create(AppUser(key: Fixture.key, managed: true, active: true, values: Fixture.expectedCreatedValues))])
    }

    // MARK: LDAP changed

    struct Row: CustomTestStringConvertible, Sendable {
        var name: String
        var ldap: String
        var agreed: String?
        var active: Bool
        var writesBack: Bool
        var writeBack: Bool
        /// The app change expected (nil: none).
        var setActive: Bool?
        /// The LDAP value written (nil: none).
        var written: String?
        var pending = false
        var reset = false
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "disabled in LDAP → inactive", ldap: disabled, agreed: enabled, active: true, writesBack: false, writeBack: false, setActive: false),
        Row(name: "enabled again in LDAP → active", ldap: enabledNoExpiry, agreed: disabledNoExpiry, active: false, writesBack: false, writeBack: false, setActive: true),
        Row(name: "other flags changed only → nothing", ldap: enabledNoExpiry, agreed: enabled, active: true, writesBack: true, writeBack: true),
        Row(name: "both sides agree already → nothing", ldap: disabled, agreed: enabled, active: false, writesBack: true, writeBack: true),
        Row(name: "no agreed state yet → LDAP's", ldap: disabled, agreed: nil, active: true, writesBack: true, writeBack: true, setActive: false),
        Row(name: "from-ldap: app deactivation reset", ldap: enabled, agreed: enabled, active: false, writesBack: false, writeBack: true, setActive: true, reset: true),
        Row(name: "from-ldap: app activation reset", ldap: disabled, agreed: disabled, active: true, writesBack: false, writeBack: true, setActive: false, reset: true),
        Row(name: "both: app deactivation sets the bit", ldap: enabledNoExpiry, agreed: enabledNoExpiry, active: false, writesBack: true, writeBack: true, written: disabledNoExpiry),
        Row(name: "both: app activation clears the bit", ldap: disabledNoExpiry, agreed: disabled, active: true, writesBack: true, writeBack: true, written: enabledNoExpiry),
        Row(name: "both, write-back off: pending", ldap: enabled, agreed: enabled, active: false, writesBack: true, writeBack: false, pending: true),
    ]

    @Test(arguments: rows)
    func mergesTheActiveFlag(_ row: Row) throws {
        let plan = try Self.evaluate(ldap: row.ldap, agreed: row.agreed, active: row.active,
                                     policy: Self.policy(row.writesBack ? Self.both : Self.fromLDAP, writeBack: row.writeBack))
        #expect(plan.changes == (row.setActive.map { [.setActive(key: Fixture.key, $0)] } ?? []))
        #expect(plan.deactivated == (row.setActive == false))
        #expect(plan.reactivated == (row.setActive == true))
        #expect(plan.activeReset == row.reset)
        #expect(plan.pending.map(\.attribute) == (row.pending ? [Self.uac] : []))
        if let written = row.written {
            // Read-modify-write as a compare-and-swap: delete the value read, add the new one.
            #expect(plan.ldapChanges.count == 1)
            #expect(plan.ldapChanges.first?.attribute == Self.uac)
            #expect(plan.ldapChanges.first?.replace == nil)
            #expect(plan.ldapChanges.first?.delete == [Fixture.bytes(row.ldap)])
            #expect(plan.ldapChanges.first?.add == [Fixture.bytes(written)])
            #expect(plan.agreed[Self.uac] == [Fixture.bytes(written)])
        } else {
            #expect(plan.ldapChanges.isEmpty)
            // A pending edit keeps the last agreed state; anything else agrees on LDAP's value.
            let agreed = row.pending ? row.agreed : row.ldap
            #expect(plan.agreed[Self.uac] == agreed.map { [Fixture.bytes($0)] })
        }
    }

    @Test func aVanishedUserIsStillDeactivatedByAutoDeactivate() throws {
        var policy = Self.policy(Self.fromLDAP)
        policy.autoDeactivate = true
        var values = Fixture.ldapValues
        values[Self.uac] = [Fixture.bytes(Self.enabled)]
        let state = UserState(id: Fixture.userID, directory: nil, snapshot: Fixture.snapshot(values: values),
                              app: AppUser(key: Fixture.key, managed: true, active: true))
        let plan = try UserEvaluation.evaluate(state, policy: policy, memberships: MembershipIndex(policy: .none, groups: [:]))
        #expect(plan.action == .vanished)
        #expect(plan.changes == [.setActive(key: Fixture.key, false)])
    }

    @Test func anAccountWithoutUserAccountControlIsAnEntryFailure() throws {
        #expect(throws: EntryFailure.self) {
            try Self.evaluate(ldap: nil, agreed: Self.enabled, active: true, policy: Self.policy(Self.fromLDAP))
        }
        #expect(throws: EntryFailure.self) {
            try Self.evaluate(ldap: "five-twelve", agreed: Self.enabled, active: true, policy: Self.policy(Self.fromLDAP))
        }
    }

    @Test func appEditOfTheActiveFlagIsSeenAsAnAppEdit() throws {
        var values = Fixture.ldapValues
        values[Self.uac] = [Fixture.bytes(Self.enabled)]
        let snapshot = Fixture.snapshot(values: values)
        let edited = AppUser(key: Fixture.key, managed: true, active: false, values: Fixture.expectedCreatedValues)
        #expect(UserEvaluation.appDiffers(edited, from: snapshot, policy: Self.policy(Self.both)))
        #expect(!UserEvaluation.appDiffers(edited, from: snapshot, policy: Self.policy(nil)))
        var unchanged = edited
        unchanged.active = true
        #expect(!UserEvaluation.appDiffers(unchanged, from: snapshot, policy: Self.policy(Self.both)))
    }

    // MARK: Flags

    @Test func setsAndClearsOnlyTheDisabledBit() {
        #expect(AccountControl.flags([Fixture.bytes("66048")]) == 0x10200)
        #expect(AccountControl.value(0x10200, disabled: true) == Fixture.bytes("66050"))
        #expect(AccountControl.value(0x10202, disabled: false) == Fixture.bytes("66048"))
        #expect(AccountControl.value(0x202, disabled: true) == Fixture.bytes("514"))
        // The INTEGER syntax is signed: a value with the top bit set is written negative.
        #expect(AccountControl.flags([Fixture.bytes("-2147483134")]) == 0x8000_0202)
        #expect(AccountControl.value(0x8000_0202, disabled: false) == Fixture.bytes("-2147483136"))
        #expect(AccountControl.flags([]) == nil)
        #expect(AccountControl.flags([Fixture.bytes("512"), Fixture.bytes("514")]) == nil)
    }
}
