import DirectoryModel

/// Everything known about one user at decision time.
public struct UserState: Sendable {
    /// The immutable id.
    public var id: [UInt8]
    /// The user as the directory holds it now; nil when a complete listing of the scope
    /// no longer contains it (never after a partial read: SPEC I5).
    public var directory: DirectoryUser?
    /// The merge base: the last agreed state; nil for a user never synced.
    public var snapshot: UserSnapshot?
    /// The app row under the user's current key (the directory's key, or for a vanished
    /// user the snapshot's).
    public var app: AppUser?
    /// The app row under the snapshot's key when the key attribute changed (a rename).
    public var appUnderPreviousKey: AppUser?
    /// The user's current memberships among the managed app groups.
    public var appGroups: Set<String>
    /// ldapsync itself deactivated this app user earlier (so it may reactivate it).
    public var deactivatedBySync: Bool
    /// Manual conflicts an administrator settled (`ldapsync conflicts resolve`): per
    /// attribute, true to take LDAP's value, false to take the app's.
    public var resolutions: [AttributeName: Bool] = [:]

    public init(id: [UInt8], directory: DirectoryUser?, snapshot: UserSnapshot?, app: AppUser?,
                appUnderPreviousKey: AppUser? = nil, appGroups: Set<String> = [], deactivatedBySync: Bool = false) {
        self.id = id
        self.directory = directory
        self.snapshot = snapshot
        self.app = app
        self.appUnderPreviousKey = appUnderPreviousKey
        self.appGroups = appGroups
        self.deactivatedBySync = deactivatedBySync
    }
}

/// One attribute's change in a plan.
public struct AttributeChange: Sendable, Hashable {
    public var attribute: AttributeName
    public var column: String
    /// Display forms (redacted for sensitive attributes).
    public var old: String
    public var new: String
    /// The app had changed a from-ldap attribute and is reset to the LDAP value.
    public var isReset: Bool
}

/// What the run does to one user, and the app changes that do it.
public struct UserPlan: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// Nothing to change.
        case none
        /// Created in the app (tagged as managed).
        case create
        /// Mapped attributes and/or memberships updated.
        case update
        /// An untagged app user whose key matches an in-scope LDAP user: never touched.
        case skippedUntagged
        /// In LDAP but in no mapped group: removed from the mapped groups, data not updated.
        case leftMappedGroups
        /// No longer in LDAP: removed from the managed groups (and deactivated when
        /// `autoDeactivate`).
        case vanished
    }

    public var key: String
    public var dn: String?
    public var action: Action
    public var attributeChanges: [AttributeChange] = []
    public var addedGroups: [String] = []
    public var removedGroups: [String] = []
    public var renamedFrom: String?
    public var adopted = false
    public var reactivated = false
    public var deactivated = false
    /// With `users.accountState`: the app's edit of the active flag was reset to the
    /// directory account's state.
    public var activeReset = false
    /// The app changes, in order.
    public var changes: [AppChange] = []
    /// Write-back: the LDAP changes for this user's entry (empty unless both switches
    /// are on for an attribute).
    public var ldapChanges: [LDAPAttributeChange] = []
    /// App edits held back by a switch, with the reason (`plan` lists them).
    public var pending: [PendingEdit] = []
    /// Conflicts and how they were settled (every one is audited).
    public var conflicts: [AttributeConflict] = []
    /// The new agreed values (the snapshot's merge base) of the mapped attributes; an
    /// attribute without an agreed value is absent.
    public var agreed: [AttributeName: [[UInt8]]] = [:]

    /// Whether anything is written for this user, on either side.
    public var writes: Bool { !changes.isEmpty || !ldapChanges.isEmpty }
}

/// One attribute's change on the LDAP entry: value deltas for multi-valued attributes,
/// replace for single-valued ones (SPEC §8).
public struct LDAPAttributeChange: Sendable, Hashable {
    public var attribute: AttributeName
    /// nil: a delta (add/delete); otherwise replace all values with these.
    public var replace: [[UInt8]]?
    public var add: [[UInt8]]
    public var delete: [[UInt8]]
    /// Display forms for plans and the audit log (redacted for sensitive attributes).
    public var old: String
    public var new: String
    /// LDAP had changed a to-ldap attribute and is reset to the app's value.
    public var isReset: Bool
}

/// An app edit that is not written to LDAP, and why.
public struct PendingEdit: Sendable, Hashable {
    public var attribute: AttributeName
    public var reason: String
}

/// A conflict: both sides changed an attribute differently since they last agreed.
public struct AttributeConflict: Sendable, Hashable {
    public var attribute: AttributeName
    public var ldap: String
    public var app: String
    public var policy: ConflictPolicy
    /// true: LDAP's value was taken; false: the app's; nil: `manual`, nothing written.
    public var ldapWon: Bool?
}

/// A user that cannot be synced this run; reported, counted, and kept for a retry (I3).
public struct EntryFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String?
    public var dn: String?
    public var message: String

    public init(key: String?, dn: String?, message: String) {
        self.key = key
        self.dn = dn
        self.message = message
    }

    public var description: String {
        var subject = dn.map { "\"\($0)\"" } ?? ""
        if let key { subject += subject.isEmpty ? "key \(key)" : " (key \(key))" }
        return "\(subject): \(message)"
    }
}

/// The LDAP → app decision for one user (SPEC §5 first rows, §6, §7).
public enum UserEvaluation {
    public static func evaluate(_ state: UserState, policy: SyncPolicy, memberships: MembershipIndex) throws(EntryFailure) -> UserPlan {
        guard let user = state.directory else { return vanished(state, policy: policy, memberships: memberships) }
        let desired = memberships.desiredGroups(dnKey: user.dnKey, key: user.key, memberOf: user.memberOf)
        var plan = UserPlan(key: user.key, dn: user.dn, action: .none)
        // Until a merge says otherwise, the snapshot keeps what LDAP holds.
        plan.agreed = user.values

        // A renamed key: the app row follows (SPEC I6), memberships with it.
        var app = state.app
        if app == nil, let previous = state.appUnderPreviousKey, previous.managed, let snapshot = state.snapshot, snapshot.key != user.key {
            plan.changes.append(.rename(from: snapshot.key, to: user.key))
            plan.renamedFrom = snapshot.key
            app = previous
            app?.key = user.key
        }

        guard memberships.isSynced(desired: desired) else {
            // In LDAP, but in no mapped group: leave the mapped groups, keep the data.
            guard let app, app.managed else { return plan }
            removeGroups(state.appGroups, from: &plan, key: user.key)
            plan.action = plan.writes ? .leftMappedGroups : .none
            return plan
        }

        guard var existing = app else {
            try create(user, desired: desired, policy: policy, plan: &plan)
            return plan
        }
        if !existing.managed {
            guard policy.adoptExisting else {
                plan.action = .skippedUntagged
                return plan
            }
            plan.changes.append(.setManaged(key: user.key, true))
            plan.adopted = true
            existing.managed = true
        }
        try update(existing, user: user, snapshot: state.snapshot, policy: policy, resolutions: state.resolutions, plan: &plan)
        if policy.accountState != nil {
            // The account's state decides the flag, whoever deactivated the app user.
            try mergeAccountState(existing, user: user, snapshot: state.snapshot, policy: policy, plan: &plan)
        } else if !existing.active, state.deactivatedBySync {
            plan.changes.append(.setActive(key: user.key, true))
            plan.reactivated = true
        }
        if let desired {
            addGroups(desired.subtracting(state.appGroups), to: &plan, key: user.key)
            removeGroups(state.appGroups.subtracting(desired), from: &plan, key: user.key)
        }
        if plan.writes { plan.action = .update }
        return plan
    }

    private static func create(_ user: DirectoryUser, desired: Set<String>?, policy: SyncPolicy, plan: inout UserPlan) throws(EntryFailure) {
        var values = [String: AppValue](minimumCapacity: policy.attributes.count)
        plan.attributeChanges.reserveCapacity(policy.attributes.count)
        for attribute in policy.attributes where attribute.direction.flowsToApp {
            let ldapValues = user.values[attribute.ldap]
            let value: AppValue
            do { value = try ValueMapping.appValue(ldapValues, for: attribute) } catch {
                throw EntryFailure(key: user.key, dn: user.dn, message: error.description)
            }
            values[attribute.column] = value
            // plan.agreed starts as user.values: only an absent attribute needs its entry.
            if ldapValues == nil { plan.agreed[attribute.ldap] = [] }
            if value != .null {
                plan.attributeChanges.append(AttributeChange(attribute: attribute.ldap, column: attribute.column, old: "(none)",
                                                             new: policy.explain ? ValueMapping.display(value, for: attribute) : "",
                                                             isReset: false))
            }
        }
        plan.changes.append(.create(AppUser(key: user.key, managed: true, active: try createdActive(user, policy: policy), values: values)))
        for attribute in policy.attributes where !attribute.direction.flowsToApp { plan.agreed[attribute.ldap] = nil }
        plan.action = .create
        if let desired { addGroups(desired, to: &plan, key: user.key) }
    }

    /// The three-way merge of every mapped attribute (SPEC §5): app updates, LDAP
    /// changes (write-back), resets, pending edits, conflicts, and the new agreed values.
    private static func update(_ app: AppUser, user: DirectoryUser, snapshot: UserSnapshot?, policy: SyncPolicy,
                               resolutions: [AttributeName: Bool] = [:], plan: inout UserPlan) throws(EntryFailure) {
        var updates: [String: AppValue] = [:]
        let appTime = app.updatedAt.flatMap { try? Timestamp(iso8601: $0) }
        plan.agreed = [:]
        for attribute in policy.attributes {
            let have = app.values[attribute.column] ?? .null
            let rawLDAP = user.values[attribute.ldap] ?? []
            // With a transform, both LDAP sides are compared in the transform's canonical
            // form, so a value another tool wrote in another spelling is no change (I7).
            let ldap = comparable(rawLDAP, attribute)
            let base = snapshot?.values[attribute.ldap].map { comparable($0, attribute) }
            let appValues: [[UInt8]]
            do { appValues = try ValueMapping.ldapValues(have, for: attribute) } catch {
                throw EntryFailure(key: user.key, dn: user.dn, message: error.description)
            }
            let resolved = resolutions[attribute.ldap].map { $0 ? ConflictPolicy.ldapWins : .appWins }
            let settings = AttributeMerge.Settings(direction: attribute.direction, conflict: resolved ?? attribute.conflict,
                                                   multiValued: attribute.kind == .multiText,
                                                   caseInsensitive: attribute.caseInsensitive, writeBackEnabled: policy.writeBackEnabled)
            let input = AttributeMerge.Input(base: base, ldap: ldap, app: appValues, ldapTime: user.timestamp, appTime: appTime)
            let result = AttributeMerge.merge(input, settings)
            if let agreed = result.base ?? base { plan.agreed[attribute.ldap] = agreed }
            record(result.event, attribute: attribute, ldap: ldap, app: have, policy: policy, plan: &plan)
            if let target = result.app {
                let want = try appValue(target, attribute, user)
                if !ValueMapping.appValue(have, matches: want, for: attribute) {
                    updates[attribute.column] = want
                    plan.attributeChanges.append(AttributeChange(
                        attribute: attribute.ldap, column: attribute.column,
                        old: policy.explain ? ValueMapping.display(have, for: attribute) : "",
                        new: policy.explain ? ValueMapping.display(want, for: attribute) : "",
                        isReset: result.event == .appReset))
                }
            }
            if let target = result.ldap {
                // A both attribute's transform must round-trip (SPEC §5): a value that
                // would come back changed would bounce between the sides forever.
                if attribute.direction == .both, let transform = attribute.transform,
                   !Transforms.roundTrips(app: have, transform: transform, multiValued: attribute.kind == .multiText) {
                    throw EntryFailure(key: user.key, dn: user.dn,
                                       message: "attribute \(attribute.ldap): the \(transform) transform does not round-trip the app's value (it would not come back unchanged); nothing was written for this user")
                }
                plan.ldapChanges.append(ldapChange(attribute, from: rawLDAP, to: target, isReset: result.event == .ldapReset, policy: policy))
            }
        }
        if !updates.isEmpty { plan.changes.append(.update(key: user.key, values: updates)) }
    }

    /// Whether the app row holds other values than the snapshot agreed on, for any mapped
    /// attribute: an app-side edit, which the run must merge although LDAP did not
    /// change (SPEC §5; the app side is compared with the snapshot every run).
    public static func appDiffers(_ app: AppUser, from snapshot: UserSnapshot, policy: SyncPolicy) -> Bool {
        if activeDiffers(app, from: snapshot, policy: policy) { return true }
        for attribute in policy.attributes {
            guard let appValues = try? ValueMapping.ldapValues(app.values[attribute.column] ?? .null, for: attribute) else { return true }
            guard let base = snapshot.values[attribute.ldap] else {
                if !appValues.isEmpty { return true }
                continue
            }
            let agreed = comparable(base, attribute)
            let settings = AttributeMerge.Settings(multiValued: attribute.kind == .multiText, caseInsensitive: attribute.caseInsensitive)
            if !AttributeMerge.equal(appValues, agreed, settings) { return true }
        }
        return false
    }

    /// Whether LDAP's `values` of `attribute` are `agreed` (values in the snapshot's form):
    /// how the run after a crash tells whether a write-back reached LDAP.
    public static func ldapHolds(_ values: [[UInt8]], agreed: [[UInt8]], attribute: AttributeName, policy: SyncPolicy) -> Bool {
        guard let mapped = policy.attributes.first(where: { $0.ldap == attribute }) else { return values == agreed }
        let settings = AttributeMerge.Settings(multiValued: mapped.kind == .multiText, caseInsensitive: mapped.caseInsensitive)
        return AttributeMerge.equal(comparable(values, mapped), agreed, settings)
    }

    /// The LDAP values as the app can hold them: through the transform's canonical form,
    /// and for a single-valued mapping only the first value (the one the app gets), so a
    /// second value in LDAP is never taken for an app edit.
    private static func comparable(_ values: [[UInt8]], _ attribute: MappedAttribute) -> [[UInt8]] {
        if attribute.transform != nil { return canonical(values, attribute) }
        return attribute.kind == .multiText ? values : Array(values.prefix(1))
    }

    /// LDAP values through the transform and back: their canonical spelling (values the
    /// transform cannot read are kept as they are, and reported when written).
    private static func canonical(_ values: [[UInt8]], _ attribute: MappedAttribute) -> [[UInt8]] {
        guard let appValue = try? ValueMapping.appValue(values, for: attribute),
              let back = try? ValueMapping.ldapValues(appValue, for: attribute) else { return values }
        return back
    }

    private static func record(_ event: AttributeMerge.Event, attribute: MappedAttribute, ldap: [[UInt8]], app: AppValue,
                               policy: SyncPolicy, plan: inout UserPlan) {
        switch event {
        case .pending(let reason):
            plan.pending.append(PendingEdit(attribute: attribute.ldap, reason: reason))
        case .conflict(let conflictPolicy, let ldapWon):
            let ldapText = (try? ValueMapping.appValue(ldap, for: attribute)).map { ValueMapping.display($0, for: attribute) } ?? "<\(ldap.count) values>"
            plan.conflicts.append(AttributeConflict(attribute: attribute.ldap, ldap: ldapText,
                                                    app: ValueMapping.display(app, for: attribute), policy: conflictPolicy, ldapWon: ldapWon))
        default:
            break
        }
    }

    /// Value deltas for multi-valued attributes, replace for single-valued ones.
    private static func ldapChange(_ attribute: MappedAttribute, from current: [[UInt8]], to target: [[UInt8]], isReset: Bool,
                                   policy: SyncPolicy) -> LDAPAttributeChange {
        let display = { (values: [[UInt8]]) -> String in
            guard policy.explain else { return "" }
            return (try? ValueMapping.appValue(values, for: attribute)).map { ValueMapping.display($0, for: attribute) } ?? "<\(values.count) values>"
        }
        guard attribute.kind == .multiText else {
            guard current.count > 1, attribute.transform == nil else {
                return LDAPAttributeChange(attribute: attribute.ldap, replace: target, add: [], delete: [],
                                           old: display(current), new: display(target), isReset: isReset)
            }
            // A single-valued mapping of an attribute holding several values: change the
            // first value only, keep the others (replace would delete them).
            return LDAPAttributeChange(attribute: attribute.ldap, replace: nil, add: target, delete: Array(current.prefix(1)),
                                       old: display(current), new: display(target), isReset: isReset)
        }
        let fold = { (value: [UInt8]) -> [UInt8] in
            guard attribute.caseInsensitive, let text = UTF8Text.string(value) else { return value }
            return Array(text.lowercased().utf8)
        }
        let currentKeys = Set(current.map(fold))
        let targetKeys = Set(target.map(fold))
        return LDAPAttributeChange(attribute: attribute.ldap, replace: nil,
                                   add: target.filter { !currentKeys.contains(fold($0)) },
                                   delete: current.filter { !targetKeys.contains(fold($0)) },
                                   old: display(current), new: display(target), isReset: isReset)
    }

    private static func appValue(_ values: [[UInt8]], _ attribute: MappedAttribute, _ user: DirectoryUser) throws(EntryFailure) -> AppValue {
        do {
            return try ValueMapping.appValue(values, for: attribute)
        } catch {
            throw EntryFailure(key: user.key, dn: user.dn, message: error.description)
        }
    }

    private static func vanished(_ state: UserState, policy: SyncPolicy, memberships: MembershipIndex) -> UserPlan {
        let key = state.app?.key ?? state.snapshot?.key ?? ""
        var plan = UserPlan(key: key, dn: state.snapshot?.dn, action: .none)
        guard let app = state.app, app.managed else { return plan }
        removeGroups(state.appGroups, from: &plan, key: key)
        if policy.autoDeactivate, app.active {
            plan.changes.append(.setActive(key: key, false))
            plan.deactivated = true
        }
        if plan.writes { plan.action = .vanished }
        return plan
    }

    private static func addGroups(_ groups: Set<String>, to plan: inout UserPlan, key: String) {
        for group in groups.sorted() {
            plan.changes.append(.addMembership(user: key, group: group))
            plan.addedGroups.append(group)
        }
    }

    private static func removeGroups(_ groups: Set<String>, from plan: inout UserPlan, key: String) {
        for group in groups.sorted() {
            plan.changes.append(.removeMembership(user: key, group: group))
            plan.removedGroups.append(group)
        }
    }
}
