import DirectoryModel
import SyncEngine
import Testing

/// SPEC §7: which users are synced and which memberships are managed, for each value of
/// the `groups` key.
@Suite struct GroupModeTests {
    static let staff = "cn=Staff,ou=groups,dc=example,dc=com"
    static let admins = "cn=Admins,ou=groups,dc=example,dc=com"

    // MARK: - groups absent

    @Test func syncsEveryUserWithoutManagingMembershipWhenGroupsAreAbsent() throws {
        let index = MembershipIndex(policy: .none, groups: try Fixture.groups((Self.staff, [Fixture.userDN])))
        #expect(index.managedGroups.isEmpty)
        let policy = SyncPolicy(attributes: Fixture.attributes)

        // A user in no group at all is created, without memberships.
        let outsider = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(dn: Fixture.otherUserDN, key: "asmith"), snapshot: nil, app: nil),
            policy: policy, memberships: index)
        #expect(outsider.action == .create)
        #expect(outsider.createdUser?.key == "asmith")
        #expect(outsider.membershipChanges.isEmpty)

        // A member of an LDAP group is created without joining any app group.
        let member = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: nil),
            policy: policy, memberships: index)
        #expect(member.action == .create)
        #expect(member.membershipChanges.isEmpty)
        #expect(member.addedGroups.isEmpty)
    }

    @Test func updatesDataButNeverMembershipWhenGroupsAreAbsent() throws {
        let index = MembershipIndex(policy: .none, groups: try Fixture.groups((Self.staff, [])))
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.staleAppValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Staff", "Local"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: Fixture.snapshot(), app: app,
                      appGroups: model.groups(of: Fixture.key).intersection(index.managedGroups)),
            policy: SyncPolicy(attributes: Fixture.attributes), memberships: index)
        #expect(plan.action == .update)
        #expect(plan.updatedValues == Fixture.expectedUpdate)
        #expect(plan.membershipChanges.isEmpty)
        model.apply(plan.changes)
        #expect(model.groups(of: Fixture.key) == ["Staff", "Local"])
    }

    @Test func deactivatesAVanishedUserWithoutMembershipChangesWhenGroupsAreAbsent() throws {
        let index = MembershipIndex(policy: .none, groups: [:])
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.staleAppValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: nil, snapshot: Fixture.snapshot(), app: app),
            policy: SyncPolicy(attributes: Fixture.attributes, autoDeactivate: true), memberships: index)
        #expect(plan.action == .vanished)
        #expect(plan.deactivated)
        #expect(plan.changes == [.setActive(key: Fixture.key, false)])
    }

    // MARK: - groups: mirror

    static func mirrorIndex(staff: [String], admins: [String], retired: Set<String> = []) throws -> MembershipIndex {
        MembershipIndex(policy: .mirror, groups: try Fixture.groups((Self.staff, staff), (Self.admins, admins)),
                        retiredGroupNames: retired)
    }

    @Test func mirrorManagesAnAppGroupPerLDAPGroupNamedByItsCN() throws {
        let index = try Self.mirrorIndex(staff: [Fixture.userDN], admins: [], retired: ["Contractors"])
        #expect(index.managedGroups == ["Staff", "Admins", "Contractors"])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: nil, app: nil),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror), memberships: index)
        #expect(plan.action == .create)
        #expect(plan.changes.last == .addMembership(user: Fixture.key, group: "Staff"))
        #expect(plan.addedGroups == ["Staff"])
    }

    @Test func mirrorSyncsAUserInNoLDAPGroup() throws {
        let index = try Self.mirrorIndex(staff: [], admins: [])
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.staleAppValues)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: Fixture.snapshot(), app: app),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror), memberships: index)
        #expect(plan.action == .update)
        #expect(plan.updatedValues == Fixture.expectedUpdate)
        #expect(plan.membershipChanges.isEmpty)
    }

    @Test func mirrorRemovesAUserWhoLeftTheLDAPGroupFromTheAppGroup() throws {
        let index = try Self.mirrorIndex(staff: [Fixture.userDN], admins: [Fixture.otherUserDN])
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.expectedCreatedValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Staff", "Admins"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: UserSnapshot(try Fixture.user()), app: app,
                      appGroups: model.groups(of: Fixture.key).intersection(index.managedGroups)),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror), memberships: index)
        #expect(plan.action == .update)
        #expect(plan.changes == [.removeMembership(user: Fixture.key, group: "Admins")])
        model.apply(plan.changes)
        #expect(model.groups(of: Fixture.key) == ["Staff"])
    }

    @Test func mirrorRemovesMembersOfARetiredGroup() throws {
        let index = try Self.mirrorIndex(staff: [Fixture.userDN], admins: [], retired: ["Contractors"])
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.expectedCreatedValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Staff", "Contractors"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: UserSnapshot(try Fixture.user()), app: app,
                      appGroups: model.groups(of: Fixture.key).intersection(index.managedGroups)),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror), memberships: index)
        #expect(plan.removedGroups == ["Contractors"])
        model.apply(plan.changes)
        #expect(model.problems == [])
        #expect(model.groups(of: Fixture.key) == ["Staff"])
    }

    @Test func mirrorNeverTouchesAppGroupsThatDoNotComeFromLDAP() throws {
        let index = try Self.mirrorIndex(staff: [], admins: [Fixture.userDN])
        #expect(!index.managedGroups.contains("Local"))
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.expectedCreatedValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Local", "Staff"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(), snapshot: UserSnapshot(try Fixture.user()), app: app,
                      appGroups: model.groups(of: Fixture.key).intersection(index.managedGroups)),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror), memberships: index)
        #expect(!(plan.addedGroups + plan.removedGroups).contains("Local"))
        model.apply(plan.changes)
        #expect(model.problems == [])
        #expect(model.groups(of: Fixture.key) == ["Local", "Admins"])
    }

    @Test func mirrorRemovesAVanishedUserFromMirroredGroupsOnly() throws {
        let index = try Self.mirrorIndex(staff: [], admins: [])
        let app = AppUser(key: Fixture.key, managed: true, values: Fixture.expectedCreatedValues)
        var model = AppModel(users: [app], memberships: [Fixture.key: ["Local", "Staff"]])
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: nil, snapshot: UserSnapshot(try Fixture.user()), app: app,
                      appGroups: model.groups(of: Fixture.key).intersection(index.managedGroups)),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: .mirror, autoDeactivate: true), memberships: index)
        #expect(plan.action == .vanished)
        #expect(plan.deactivated)
        model.apply(plan.changes)
        #expect(model.groups(of: Fixture.key) == ["Local"])
        #expect(model.users[Fixture.key]?.active == false)
    }

    // MARK: - How a group names its members

    enum Reference: String, CaseIterable, Sendable {
        /// `member: <DN>` spelled differently from the user's DN.
        case memberDNInOtherCase
        /// `memberUid: <key>`.
        case memberUid
        /// The user's `memberOf: <group DN>`.
        case memberOf
    }

    @Test(arguments: Reference.allCases)
    func findsAMembershipHoweverTheDirectoryExpressesIt(_ reference: Reference) throws {
        var members: Set<MemberReference> = [.dn(try DNKey.make(Fixture.otherUserDN))]
        var memberOf: [String] = []
        switch reference {
        case .memberDNInOtherCase: members.insert(.dn(try DNKey.make("UID=JDoe, OU=People,DC=Example,DC=com")))
        case .memberUid: members.insert(.key(Fixture.key))
        case .memberOf: memberOf = [try DNKey.make("CN=grpldap,ou=Groups,dc=example,dc=com")]
        }
        let groups = [try DNKey.make(Fixture.groupLDAP): GroupRecord(dn: Fixture.groupLDAP, name: "GrpLDAP", members: members)]
        let index = MembershipIndex(policy: .rules([try Fixture.rule("GrpAE", Fixture.groupLDAP)]), groups: groups)
        let plan = try UserEvaluation.evaluate(
            UserState(id: Fixture.userID, directory: try Fixture.user(memberOf: memberOf), snapshot: nil, app: nil),
            policy: SyncPolicy(attributes: Fixture.attributes, groups: index.policy), memberships: index)
        #expect(plan.action == .create)
        #expect(plan.addedGroups == ["GrpAE"])
    }
}
