import DirectoryModel

/// The directory account's enabled state and the app's active flag (Active Directory:
/// the ACCOUNTDISABLE bit, 0x2, of `userAccountControl`).
public struct AccountStatePolicy: Sendable, Hashable {
    /// The attribute holding the flags (`userAccountControl`).
    public var attribute: AttributeName
    /// `both`: an app (de)activation is written to the directory when write-back is on;
    /// otherwise (`from-ldap`) an app edit of the flag is reset to the directory's state.
    public var writesBack: Bool

    public init(attribute: AttributeName = "userAccountControl", writesBack: Bool) {
        self.attribute = attribute
        self.writesBack = writesBack
    }
}

/// `userAccountControl` values: a decimal 32-bit integer of flags.
public enum AccountControl {
    /// ADS_UF_ACCOUNTDISABLE.
    public static let disabledFlag: UInt32 = 0x2

    /// The flags of the attribute's one value; nil when there is no value, several, or
    /// one that is not a decimal integer (AD writes the INTEGER syntax, which may be
    /// negative when the top bit is set).
    public static func flags(_ values: [[UInt8]]) -> UInt32? {
        guard values.count == 1, let text = UTF8Text.string(values[0]),
              let number = Int64(text), number >= Int64(Int32.min), number <= Int64(UInt32.max) else { return nil }
        return UInt32(truncatingIfNeeded: number)
    }

    public static func isDisabled(_ flags: UInt32) -> Bool { flags & disabledFlag != 0 }

    /// The value with the disabled flag set or cleared and every other flag kept, written
    /// as AD writes it (a signed decimal when the top bit is set).
    public static func value(_ flags: UInt32, disabled: Bool) -> [UInt8] {
        let changed = disabled ? flags | disabledFlag : flags & ~disabledFlag
        return Array(String(Int32(bitPattern: changed)).utf8)
    }

    /// `enabled (512)`, `disabled (514)`.
    public static func display(_ flags: UInt32) -> String {
        "\(isDisabled(flags) ? "disabled" : "enabled") (\(Int32(bitPattern: flags)))"
    }
}

extension UserEvaluation {
    /// The LDAP state a new app user takes: active unless the account is disabled.
    static func createdActive(_ user: DirectoryUser, policy: SyncPolicy) throws(EntryFailure) -> Bool {
        guard let accountState = policy.accountState else { return true }
        return !AccountControl.isDisabled(try flags(user, accountState))
    }

    /// The three-way merge of the active flag (SPEC §5 with a boolean): L is "the account
    /// is enabled", A is the app's active flag, B the state both last agreed on, kept in
    /// the snapshot as the agreed `userAccountControl` value.
    ///
    /// - L changed, A not: A follows L (the account was disabled or enabled in LDAP).
    /// - A changed, L not: with `both` and write-back on, the disabled bit is set or
    ///   cleared in LDAP by a delete-and-add of the exact value read (a compare-and-swap:
    ///   a concurrent change of the flags fails the write instead of being overwritten);
    ///   with `both` and write-back off the edit stays pending; with `from-ldap` A is reset
    ///   to L.
    /// - no B (the first run that sees the state): A follows L.
    static func mergeAccountState(_ app: AppUser, user: DirectoryUser, snapshot: UserSnapshot?, policy: SyncPolicy,
                                  plan: inout UserPlan) throws(EntryFailure) {
        guard let accountState = policy.accountState else { return }
        let current = try flags(user, accountState)
        let ldapActive = !AccountControl.isDisabled(current)
        let agreedValues = snapshot?.values[accountState.attribute]
        let baseActive = agreedValues.flatMap(AccountControl.flags).map { !AccountControl.isDisabled($0) }
        plan.agreed[accountState.attribute] = user.values[accountState.attribute]
        guard app.active != ldapActive else { return }
        if let baseActive, baseActive == ldapActive {
            // Only the app changed the flag.
            if accountState.writesBack {
                guard policy.writeBackEnabled else {
                    plan.pending.append(PendingEdit(attribute: accountState.attribute, reason: "writeBack.enabled is false"))
                    plan.agreed[accountState.attribute] = agreedValues
                    return
                }
                let target = AccountControl.value(current, disabled: !app.active)
                plan.ldapChanges.append(LDAPAttributeChange(
                    attribute: accountState.attribute, replace: nil, add: [target], delete: user.values[accountState.attribute] ?? [],
                    old: AccountControl.display(current), new: AccountControl.display(AccountControl.flags([target]) ?? current),
                    isReset: false))
                plan.agreed[accountState.attribute] = [target]
                return
            }
            plan.activeReset = true
        }
        plan.changes.append(.setActive(key: user.key, ldapActive))
        if ldapActive { plan.reactivated = true } else { plan.deactivated = true }
    }

    /// Whether the app's active flag differs from the state the snapshot agreed on.
    static func activeDiffers(_ app: AppUser, from snapshot: UserSnapshot, policy: SyncPolicy) -> Bool {
        guard let accountState = policy.accountState,
              let agreed = snapshot.values[accountState.attribute].flatMap(AccountControl.flags) else { return false }
        return app.active == AccountControl.isDisabled(agreed)
    }

    private static func flags(_ user: DirectoryUser, _ accountState: AccountStatePolicy) throws(EntryFailure) -> UInt32 {
        let values = user.values[accountState.attribute] ?? []
        guard let flags = AccountControl.flags(values) else {
            let found = values.isEmpty ? "the entry has none (may the bind account read it?)" : "found \(values.count) values that are not one decimal integer"
            throw EntryFailure(key: user.key, dn: user.dn,
                               message: "users.accountState needs the account's \(accountState.attribute): \(found); nothing was written for this user")
        }
        return flags
    }
}
