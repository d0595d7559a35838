/// Which app groups each user should be in, from the LDAP groups and the group policy:
/// `desired(u)` of SPEC §7.
public struct MembershipIndex: Sendable {
    public let policy: GroupPolicy
    /// The app groups whose membership ldapsync manages: the rules' app groups, or in
    /// `mirror` mode the names of the LDAP groups (also those deleted since the last run,
    /// whose members must leave them). Membership of other app groups is never touched.
    public let managedGroups: Set<String>
    private var byMemberDN: [String: Set<String>] = [:]
    private var byMemberKey: [String: Set<String>] = [:]
    private var byGroupDN: [String: Set<String>] = [:]

    /// - Parameters:
    ///   - groups: the current LDAP groups in scope, by DN key.
    ///   - retiredGroupNames: in `mirror` mode, names of groups that disappeared from LDAP.
    public init(policy: GroupPolicy, groups: [String: GroupRecord], retiredGroupNames: Set<String> = []) {
        self.policy = policy
        switch policy {
        case .none:
            managedGroups = []
        case .mirror:
            managedGroups = Set(groups.values.map(\.name)).union(retiredGroupNames)
        case .rules(let rules):
            managedGroups = Set(rules.map(\.appGroup))
        }
        for (dnKey, group) in groups {
            let appGroups = Self.appGroups(forGroup: dnKey, record: group, policy: policy)
            guard !appGroups.isEmpty else { continue }
            byGroupDN[dnKey, default: []].formUnion(appGroups)
            // Nearly always one app group (mirror mode): inserted, not merged as a set.
            let only = appGroups.count == 1 ? appGroups.first : nil
            for member in group.members {
                switch member {
                case .dn(let key):
                    if let only { byMemberDN[key, default: []].insert(only) } else { byMemberDN[key, default: []].formUnion(appGroups) }
                case .key(let key):
                    if let only { byMemberKey[key, default: []].insert(only) } else { byMemberKey[key, default: []].formUnion(appGroups) }
                }
            }
        }
        if case .rules(let rules) = policy {
            // memberOf names groups by DN; a rule's group need not be in the group scope.
            for rule in rules { byGroupDN[rule.ldapGroup, default: []].insert(rule.appGroup) }
        }
    }

    /// The app groups the LDAP group with this DN key maps to (nil: none).
    public func appGroups(ofGroup dnKey: String) -> Set<String>? { byGroupDN[dnKey] }

    /// This index with more members: the app groups of each member DN key and member key,
    /// each a union of ``appGroups(ofGroup:)`` sets. An incremental run builds the index of
    /// its groups without members once, then adds for each batch only the memberships of
    /// the users it decides.
    public func adding(byMemberDN: [String: Set<String>], byMemberKey: [String: Set<String>]) -> MembershipIndex {
        var index = self
        // A batch's index starts from one without members: taken whole, not merged.
        if index.byMemberDN.isEmpty { index.byMemberDN = byMemberDN } else {
            index.byMemberDN.merge(byMemberDN) { $0.union($1) }
        }
        if index.byMemberKey.isEmpty { index.byMemberKey = byMemberKey } else {
            index.byMemberKey.merge(byMemberKey) { $0.union($1) }
        }
        return index
    }

    private static func appGroups(forGroup dnKey: String, record: GroupRecord, policy: GroupPolicy) -> Set<String> {
        switch policy {
        case .none: []
        case .mirror: [record.name]
        case .rules(let rules): Set(rules.filter { $0.ldapGroup == dnKey }.map(\.appGroup))
        }
    }

    /// `desired(u)`: the managed app groups whose LDAP group contains the user (by DN,
    /// by key, or through the user's `memberOf`); nil when no membership is managed.
    public func desiredGroups(dnKey: String, key: String, memberOf: [String]) -> Set<String>? {
        if case .none = policy { return nil }
        var desired = byMemberDN[dnKey] ?? []
        if let byKey = byMemberKey[key] { desired.formUnion(byKey) }
        for group in memberOf {
            if let appGroups = byGroupDN[group] { desired.formUnion(appGroups) }
        }
        return desired
    }

    /// Whether a user with these groups is synced at all: with rules, only members of a
    /// mapped group are (SPEC §7); otherwise every user in scope.
    public func isSynced(desired: Set<String>?) -> Bool {
        if case .rules = policy { return !(desired ?? []).isEmpty }
        return true
    }
}
