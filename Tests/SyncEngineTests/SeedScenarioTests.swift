import DirectoryModel
import SyncEngine
import Testing

/// One condition row of the seed document 003_cb6bdb0aa53671b1.txt (SPEC §7): the user's
/// situation on both sides, and what a run must leave behind.
///
/// The app groups are `GrpAE` and `GrpAE_B`, the LDAP groups `cn=GrpLDAP,…` and
/// `cn=GrpLDAP_B,…`. Whenever the app user exists, its mapped data differs from LDAP, so
/// "the user data is updated" and "is never updated, even when different" are both
/// observable.
struct SeedRow: Sendable, CustomTestStringConvertible {
    enum Scenario: String, Sendable {
        /// "Scenarios where no synchronization occurs".
        case preamble = "0"
        /// GrpAE ↔ GrpLDAP.
        case one = "I"
        /// GrpAE ↔ GrpLDAP, GrpAE_B ↔ GrpLDAP_B.
        case two = "II"
        /// GrpAE ↔ GrpLDAP; GrpAE_B is an app group that is not mapped.
        case three = "III"
        /// GrpAE → GrpLDAP and GrpAE_B → GrpLDAP.
        case four = "IV"
        /// GrpAE → GrpLDAP and GrpAE → GrpLDAP_B (a union in ldapsync; the seed refuses it).
        case five = "V"
    }

    /// Where the user is in LDAP.
    enum LDAP: Sendable {
        /// In LDAP, a member of these LDAP groups (by `cn`; empty: of none).
        case member(of: Set<String>)
        /// Not in LDAP at all (a complete listing no longer contains it).
        case absent
    }

    /// The app user before the run.
    enum App: Sendable {
        /// No app user with this key.
        case missing
        /// Tagged as LDAP user, a member of these app groups (mapped or not).
        case tagged(in: Set<String>)
        /// Not tagged as LDAP user, a member of these app groups.
        case untagged(in: Set<String>)
    }

    /// What happens to the user's mapped data.
    enum Data: Sendable {
        /// The app row is updated with exactly the columns that differ.
        case updated
        /// "AE user data is never updated, even when different": no update is written.
        case notUpdated
        /// Created from LDAP and tagged as LDAP user.
        case created
        /// Nothing at all is written for the user.
        case untouched
    }

    var scenario: Scenario
    /// The row within the scenario's table ("I.2"), with a letter for each variant.
    var row: String
    /// The seed's condition text.
    var condition: String
    var ldap: LDAP
    var app: App
    var autoDeactivate = false

    var action: UserPlan.Action
    var groupsAfter: Set<String>
    var data: Data
    var deactivated = false

    var testDescription: String { "\(row): \(condition)" }

    var rules: [(String, String)] {
        switch scenario {
        case .preamble, .one, .three: [("GrpAE", Fixture.groupLDAP)]
        case .two: [("GrpAE", Fixture.groupLDAP), ("GrpAE_B", Fixture.groupLDAPB)]
        case .four: [("GrpAE", Fixture.groupLDAP), ("GrpAE_B", Fixture.groupLDAP)]
        case .five: [("GrpAE", Fixture.groupLDAP), ("GrpAE", Fixture.groupLDAPB)]
        }
    }

    var groupsBefore: Set<String> {
        switch app {
        case .missing: []
        case .tagged(let groups), .untagged(let groups): groups
        }
    }
}

@Suite("Seed 003: group mapping scenario tables")
struct SeedScenarioTests {
    // MARK: - Scenarios where no synchronization occurs

    static let preamble: [SeedRow] = [
        SeedRow(scenario: .preamble, row: "0.1a",
                condition: "The AE user group to which the user belongs is not mapped to an LDAP user group.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE_B"]),
                action: .none, groupsAfter: ["GrpAE_B"], data: .untouched),
        SeedRow(scenario: .preamble, row: "0.1b",
                condition: "The AE user group to which the user belongs is not mapped to an LDAP user group (user also in a mapped LDAP group: only the mapped group is synchronized).",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .preamble, row: "0.2a",
                condition: "The AE user is not tagged as LDAP user (the \"LDAP connection\" checkbox is unchecked).",
                ldap: .member(of: ["GrpLDAP"]), app: .untagged(in: []),
                action: .skippedUntagged, groupsAfter: [], data: .untouched),
        SeedRow(scenario: .preamble, row: "0.2b",
                condition: "The AE user is not tagged as LDAP user (in GrpAE, no longer in GrpLDAP: not removed).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .untagged(in: ["GrpAE"]),
                action: .none, groupsAfter: ["GrpAE"], data: .untouched),
        SeedRow(scenario: .preamble, row: "0.2c",
                condition: "The AE user is not tagged as LDAP user (gone from LDAP, autoDeactivateUsers true: not deactivated).",
                ldap: .absent, app: .untagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .none, groupsAfter: ["GrpAE"], data: .untouched),
    ]

    @Test(arguments: preamble)
    func leavesUnmappedGroupsAndUntaggedUsersAlone(_ row: SeedRow) throws {
        try check(row)
    }

    // MARK: - Scenario I: one app group mapped to one LDAP group

    static let scenarioI: [SeedRow] = [
        SeedRow(scenario: .one, row: "I.1",
                condition: "The user exists in both groups (GrpAE and GrpLDAP)",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .one, row: "I.2a",
                condition: "The user exists in the GrpAE and is tagged as LDAP user in another LDAP group (e.g., GrpLDAP_B).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .one, row: "I.2b",
                condition: "The user exists in the GrpAE and is in another LDAP group (GrpLDAP_B); autoDeactivateUsers true: still in LDAP, so not deactivated.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .one, row: "I.2c",
                condition: "The user exists in the GrpAE and in LDAP in no group at all; autoDeactivateUsers true: not deactivated.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .one, row: "I.2d",
                condition: "If the user does not exist in the LDAP at all and the \"autoDeactivateUsers\" parameter is set to \"true\", the user will be deactivated in the AE.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .vanished, groupsAfter: [], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .one, row: "I.2e",
                condition: "The user does not exist in the LDAP at all and \"autoDeactivateUsers\" is false: removed from GrpAE, not deactivated.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]),
                action: .vanished, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .one, row: "I.3",
                condition: "The user exists in the AE and in the GrpLDAP but is not assigned to the GrpAE.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: []),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .one, row: "I.4",
                condition: "The user does not exist in the AE at all but is assigned to the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE"], data: .created),
        SeedRow(scenario: .one, row: "I.5a",
                condition: "In all other cases, no synchronization takes place (not in the AE, in LDAP only in GrpLDAP_B: not created).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .missing,
                action: .none, groupsAfter: [], data: .untouched),
        SeedRow(scenario: .one, row: "I.5b",
                condition: "In all other cases, no synchronization takes place (in the AE outside GrpAE, in LDAP only in GrpLDAP_B: not updated).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: []),
                action: .none, groupsAfter: [], data: .untouched),
    ]

    @Test(arguments: scenarioI)
    func mapsOneAppGroupToOneLDAPGroup(_ row: SeedRow) throws {
        try check(row)
    }

    // MARK: - Scenario II: two app groups mapped 1:1 to two LDAP groups

    static let scenarioII: [SeedRow] = [
        SeedRow(scenario: .two, row: "II.1",
                condition: "The user exists in the GrpAE and in the GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE_B"], data: .updated),
        SeedRow(scenario: .two, row: "II.2a",
                condition: "The user exists in one of the AE groups (e.g., in GrpAE) and in the GrpLDAP and GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .two, row: "II.2b",
                condition: "The user exists in one of the AE groups (GrpAE_B) and in the GrpLDAP and GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .two, row: "II.3a",
                condition: "The user exists in the GrpAE and in LDAP but not in one of the LDAP groups GrpLDAP or GrpLDAP_B.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .two, row: "II.3b",
                condition: "The user exists in the GrpAE and in LDAP but in neither LDAP group; autoDeactivateUsers true: still in LDAP, so not deactivated.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .two, row: "II.3c",
                condition: "If the user does not exist in the LDAP at all and the \"autoDeactivateUsers\" parameter is set to \"true\", the user will be deactivated in the AE.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .vanished, groupsAfter: [], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .two, row: "II.3d",
                condition: "The user does not exist in the LDAP at all and \"autoDeactivateUsers\" is false: removed from GrpAE, not deactivated.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]),
                action: .vanished, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .two, row: "II.4a",
                condition: "The user does not exist in the AE at all but the user is in the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE"], data: .created),
        SeedRow(scenario: .two, row: "II.4b",
                condition: "The user does not exist in the AE at all but the user is in the GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE_B"], data: .created),
        SeedRow(scenario: .two, row: "II.4c",
                condition: "The user does not exist in the AE at all but the user is in both GrpLDAP and GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE", "GrpAE_B"], data: .created),
        SeedRow(scenario: .two, row: "II.5a",
                condition: "The user exists in both AE groups (GrpAE and GrpAE_B) but only in one LDAP group (e.g., in GrpLDAP but not in GrpLDAP_B)",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .two, row: "II.5b",
                condition: "The user exists in both AE groups (GrpAE and GrpAE_B) but only in one LDAP group (GrpLDAP_B but not GrpLDAP)",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE_B"], data: .updated),
        SeedRow(scenario: .two, row: "II.6",
                condition: "The user exists in both AE groups and both LDAP groups.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
    ]

    @Test(arguments: scenarioII)
    func mapsTwoAppGroupsOneToOneToTwoLDAPGroups(_ row: SeedRow) throws {
        try check(row)
    }

    // MARK: - Scenario III: two app groups, only GrpAE mapped

    static let scenarioIII: [SeedRow] = [
        SeedRow(scenario: .three, row: "III.1",
                condition: "The user exists in the GrpAE and in both LDAP groups (GrpLDAP and GrpLDAP_B)",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .three, row: "III.2",
                condition: "The user exists in the GrpAE and in the GrpLDAP_B",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .three, row: "III.3a",
                condition: "The user exists in at least one of the AE groups (GrpAE) but it does not exist in LDAP at all; autoDeactivateUsers true.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .vanished, groupsAfter: [], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .three, row: "III.3b",
                condition: "The user exists in at least one of the AE groups (GrpAE_B) but it does not exist in LDAP at all; autoDeactivateUsers true.",
                ldap: .absent, app: .tagged(in: ["GrpAE_B"]), autoDeactivate: true,
                action: .vanished, groupsAfter: ["GrpAE_B"], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .three, row: "III.3c",
                condition: "The user exists in at least one of the AE groups (GrpAE and GrpAE_B) but it does not exist in LDAP at all; autoDeactivateUsers true.",
                ldap: .absent, app: .tagged(in: ["GrpAE", "GrpAE_B"]), autoDeactivate: true,
                action: .vanished, groupsAfter: ["GrpAE_B"], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .three, row: "III.3d",
                condition: "The user exists in at least one of the AE groups (GrpAE) but it does not exist in LDAP at all; autoDeactivateUsers false.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]),
                action: .vanished, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .three, row: "III.3e",
                condition: "The user exists in at least one of the AE groups (GrpAE_B) but it does not exist in LDAP at all; autoDeactivateUsers false.",
                ldap: .absent, app: .tagged(in: ["GrpAE_B"]),
                action: .none, groupsAfter: ["GrpAE_B"], data: .untouched),
        SeedRow(scenario: .three, row: "III.3f",
                condition: "The user exists in at least one of the AE groups (GrpAE and GrpAE_B) but it does not exist in LDAP at all; autoDeactivateUsers false.",
                ldap: .absent, app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .vanished, groupsAfter: ["GrpAE_B"], data: .notUpdated),
        SeedRow(scenario: .three, row: "III.3g",
                condition: "The user exists in GrpAE and GrpAE_B, in LDAP but in no LDAP group; autoDeactivateUsers true: not deactivated.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE", "GrpAE_B"]), autoDeactivate: true,
                action: .leftMappedGroups, groupsAfter: ["GrpAE_B"], data: .notUpdated),
        SeedRow(scenario: .three, row: "III.4a",
                condition: "The user exists in the GrpAE_B and the user is in GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .three, row: "III.4b",
                condition: "The user exists in the GrpAE_B and the user is in GrpLDAP and GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .three, row: "III.5",
                condition: "The user exists in both AE groups (GrpAE and GrpAE_B) and in the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .three, row: "III.6",
                condition: "The user exists in both AE groups GrpAE and GrpAE_B and in both LDAP groups (GrpLDAP and GrpLDAP_B).",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .three, row: "III.7",
                condition: "The user exists in both AE groups (GrpAE and GrpAE_B) and in the GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .leftMappedGroups, groupsAfter: ["GrpAE_B"], data: .notUpdated),
        SeedRow(scenario: .three, row: "III.8",
                condition: "The user does not exist in the AE at all but the user is in both LDAP groups (GrpLDAP and GrpLDAP_B).",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE"], data: .created),
    ]

    @Test(arguments: scenarioIII)
    func neverTouchesTheUnmappedAppGroupWhenOnlyOneIsMapped(_ row: SeedRow) throws {
        let plan = try check(row)
        #expect(!plan.addedGroups.contains("GrpAE_B"))
        #expect(!plan.removedGroups.contains("GrpAE_B"))
        #expect(row.groupsBefore.contains("GrpAE_B") == row.groupsAfter.contains("GrpAE_B"))
    }

    // MARK: - Scenario IV: two app groups mapped to one LDAP group

    static let scenarioIV: [SeedRow] = [
        SeedRow(scenario: .four, row: "IV.1a",
                condition: "The user exists at least in one of the AE groups (GrpAE) and in the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .four, row: "IV.1b",
                condition: "The user exists at least in one of the AE groups (GrpAE_B) and in the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .four, row: "IV.1c",
                condition: "The user exists at least in one of the AE groups (GrpAE and GrpAE_B) and in the GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .update, groupsAfter: ["GrpAE", "GrpAE_B"], data: .updated),
        SeedRow(scenario: .four, row: "IV.2a",
                condition: "The user exists at least in one of the AE groups (GrpAE) and it does not exist in the LDAP group.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .four, row: "IV.2b",
                condition: "The user exists at least in one of the AE groups (GrpAE_B) and it does not exist in the LDAP group (only in GrpLDAP_B).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE_B"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .four, row: "IV.2c",
                condition: "The user exists at least in one of the AE groups (GrpAE and GrpAE_B) and it does not exist in the LDAP group; autoDeactivateUsers true: still in LDAP, so not deactivated.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE", "GrpAE_B"]), autoDeactivate: true,
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .four, row: "IV.2d",
                condition: "If the user does not exist in the LDAP at all and the \"autoDeactivateUsers\" parameter is set to \"true\", the user will be deactivated in the AE.",
                ldap: .absent, app: .tagged(in: ["GrpAE", "GrpAE_B"]), autoDeactivate: true,
                action: .vanished, groupsAfter: [], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .four, row: "IV.2e",
                condition: "The user does not exist in the LDAP at all and \"autoDeactivateUsers\" is false: removed from the AE groups, not deactivated.",
                ldap: .absent, app: .tagged(in: ["GrpAE", "GrpAE_B"]),
                action: .vanished, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .four, row: "IV.3",
                condition: "If a user does not exist in the AE at all but the user exists in the LDAP group",
                ldap: .member(of: ["GrpLDAP"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE", "GrpAE_B"], data: .created),
    ]

    @Test(arguments: scenarioIV)
    func mapsTwoAppGroupsToOneLDAPGroup(_ row: SeedRow) throws {
        try check(row)
    }

    // MARK: - Scenario V: one app group mapped to two LDAP groups (union)

    static let scenarioV: [SeedRow] = [
        SeedRow(scenario: .five, row: "V.1",
                condition: "The user exists in the AE outside GrpAE and is in GrpLDAP.",
                ldap: .member(of: ["GrpLDAP"]), app: .tagged(in: []),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .five, row: "V.2",
                condition: "The user exists in the AE outside GrpAE and is in GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: []),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .five, row: "V.3a",
                condition: "The user exists in GrpAE and is in GrpLDAP_B only: it stays (member of either).",
                ldap: .member(of: ["GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .five, row: "V.3b",
                condition: "The user exists in GrpAE and is in both GrpLDAP and GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .tagged(in: ["GrpAE"]),
                action: .update, groupsAfter: ["GrpAE"], data: .updated),
        SeedRow(scenario: .five, row: "V.4a",
                condition: "The user exists in GrpAE and in LDAP but in neither GrpLDAP nor GrpLDAP_B.",
                ldap: .member(of: []), app: .tagged(in: ["GrpAE"]),
                action: .leftMappedGroups, groupsAfter: [], data: .notUpdated),
        SeedRow(scenario: .five, row: "V.4b",
                condition: "The user exists in GrpAE and not in LDAP at all; autoDeactivateUsers true.",
                ldap: .absent, app: .tagged(in: ["GrpAE"]), autoDeactivate: true,
                action: .vanished, groupsAfter: [], data: .notUpdated, deactivated: true),
        SeedRow(scenario: .five, row: "V.5a",
                condition: "The user does not exist in the AE at all but is in GrpLDAP_B.",
                ldap: .member(of: ["GrpLDAP_B"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE"], data: .created),
        SeedRow(scenario: .five, row: "V.5b",
                condition: "The user does not exist in the AE at all but is in both GrpLDAP and GrpLDAP_B: added to GrpAE once.",
                ldap: .member(of: ["GrpLDAP", "GrpLDAP_B"]), app: .missing,
                action: .create, groupsAfter: ["GrpAE"], data: .created),
    ]

    @Test(arguments: scenarioV)
    func mapsOneAppGroupToTheUnionOfTwoLDAPGroups(_ row: SeedRow) throws {
        try check(row)
    }

    // MARK: - Checking a row

    /// Evaluates the row's user and checks every outcome the row states; returns the plan
    /// for scenario-specific checks.
    @discardableResult
    private func check(_ row: SeedRow, sourceLocation: SourceLocation = #_sourceLocation) throws -> UserPlan {
        let policy = SyncPolicy(attributes: Fixture.attributes,
                                groups: .rules(try row.rules.map { try Fixture.rule($0.0, $0.1) }),
                                autoDeactivate: row.autoDeactivate)
        var members: (ldap: [String], ldapB: [String]) = ([Fixture.otherUserDN], [Fixture.otherUserDN])
        if case .member(let groups) = row.ldap {
            if groups.contains("GrpLDAP") { members.ldap.append(Fixture.userDN) }
            if groups.contains("GrpLDAP_B") { members.ldapB.append(Fixture.userDN) }
        }
        let index = MembershipIndex(policy: policy.groups,
                                    groups: try Fixture.groups((Fixture.groupLDAP, members.ldap), (Fixture.groupLDAPB, members.ldapB)))

        var model = AppModel()
        var appUser: AppUser?
        switch row.app {
        case .missing: break
        case .tagged(let groups), .untagged(let groups):
            var tagged = false
            if case .tagged = row.app { tagged = true }
            appUser = AppUser(key: Fixture.key, managed: tagged, active: true, values: Fixture.staleAppValues)
            model = AppModel(users: [appUser!], memberships: [Fixture.key: groups])
        }
        let before = row.groupsBefore
        var directory: DirectoryUser?
        if case .member = row.ldap { directory = try Fixture.user() }
        // A tagged user was synced before: the snapshot holds LDAP's values of then.
        let state = UserState(id: Fixture.userID, directory: directory,
                              snapshot: appUser?.managed == true ? Fixture.snapshot() : nil,
                              app: appUser,
                              // Only memberships of managed app groups are passed in.
                              appGroups: before.intersection(index.managedGroups))

        let plan = try UserEvaluation.evaluate(state, policy: policy, memberships: index)

        #expect(plan.action == row.action, sourceLocation: sourceLocation)

        // Memberships after the plan, exactly; only managed groups are written, and
        // never redundantly.
        model.apply(plan.changes)
        #expect(model.problems == [], sourceLocation: sourceLocation)
        #expect(model.groups(of: Fixture.key) == row.groupsAfter, sourceLocation: sourceLocation)
        #expect(Set(plan.addedGroups + plan.removedGroups).isSubset(of: index.managedGroups), sourceLocation: sourceLocation)
        #expect(Set(plan.addedGroups).count == plan.addedGroups.count, sourceLocation: sourceLocation)
        #expect(Set(plan.addedGroups).isDisjoint(with: before), sourceLocation: sourceLocation)
        #expect(Set(plan.removedGroups).isSubset(of: before), sourceLocation: sourceLocation)
        #expect(plan.membershipChanges.count == plan.addedGroups.count + plan.removedGroups.count, sourceLocation: sourceLocation)

        // The user's data.
        switch row.data {
        case .updated:
            #expect(plan.updatedValues == Fixture.expectedUpdate, sourceLocation: sourceLocation)
            #expect(Set(plan.attributeChanges.map(\.column)) == Set(Fixture.expectedUpdate.keys), sourceLocation: sourceLocation)
            #expect(plan.createdUser == nil, sourceLocation: sourceLocation)
            #expect(model.users[Fixture.key]?.values == Fixture.expectedCreatedValues, sourceLocation: sourceLocation)
        case .notUpdated:
            #expect(plan.updatedValues == nil, sourceLocation: sourceLocation)
            #expect(plan.attributeChanges.isEmpty, sourceLocation: sourceLocation)
            #expect(plan.createdUser == nil, sourceLocation: sourceLocation)
            #expect(model.users[Fixture.key]?.values == Fixture.staleAppValues, sourceLocation: sourceLocation)
        case .created:
            #expect(plan.createdUser == AppUser(key: Fixture.key, managed: true, active: true, values: Fixture.expectedCreatedValues),
                    sourceLocation: sourceLocation)
            #expect(plan.updatedValues == nil, sourceLocation: sourceLocation)
        case .untouched:
            #expect(plan.changes == [], sourceLocation: sourceLocation)
            #expect(plan.attributeChanges.isEmpty, sourceLocation: sourceLocation)
        }

        // Deactivation: only when gone from LDAP with autoDeactivate; never a reactivation,
        // never a change of the tag (no adoption here).
        #expect(plan.deactivated == row.deactivated, sourceLocation: sourceLocation)
        #expect(plan.activeChanges == (row.deactivated ? [false] : []), sourceLocation: sourceLocation)
        #expect(!plan.reactivated, sourceLocation: sourceLocation)
        #expect(plan.managedChanges == [], sourceLocation: sourceLocation)
        #expect(!plan.adopted, sourceLocation: sourceLocation)
        if let user = model.users[Fixture.key] {
            #expect(user.active == !row.deactivated, sourceLocation: sourceLocation)
        }
        if case .untagged = row.app {
            #expect(model.users[Fixture.key]?.managed == false, sourceLocation: sourceLocation)
        }
        return plan
    }
}
