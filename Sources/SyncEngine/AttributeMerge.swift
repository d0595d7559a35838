import DirectoryModel

/// Which way an attribute flows (SPEC §3 `direction`).
public enum SyncDirection: Sendable, Hashable {
    case fromLDAP, toLDAP, both

    var flowsToApp: Bool { self != .toLDAP }
    var flowsToLDAP: Bool { self != .fromLDAP }
}

/// How a conflict (both sides changed the same single-valued attribute differently) is
/// settled (SPEC §5).
public enum ConflictPolicy: Sendable, Hashable {
    case ldapWins, appWins, newest, manual
}

/// The three-way merge of one attribute (SPEC §5): base B (the snapshot), L (LDAP now)
/// and A (the app now, converted to LDAP values), all as value lists compared by the
/// attribute's equality rule.
public enum AttributeMerge {
    public struct Input: Sendable, Hashable {
        /// The last agreed values; nil when the two sides never agreed on this attribute
        /// (a new user, a newly mapped attribute, a lost state directory).
        public var base: [[UInt8]]?
        public var ldap: [[UInt8]]
        public var app: [[UInt8]]
        /// The LDAP entry's timestamp and the app row's `updatedAt`, for `newest`.
        public var ldapTime: Timestamp?
        public var appTime: Timestamp?

        public init(base: [[UInt8]]?, ldap: [[UInt8]], app: [[UInt8]], ldapTime: Timestamp? = nil, appTime: Timestamp? = nil) {
            self.base = base
            self.ldap = ldap
            self.app = app
            self.ldapTime = ldapTime
            self.appTime = appTime
        }
    }

    public struct Settings: Sendable, Hashable {
        public var direction: SyncDirection
        public var conflict: ConflictPolicy
        public var multiValued: Bool
        public var caseInsensitive: Bool
        /// `writeBack.enabled` is on (the global switch); the attribute's direction is the
        /// second switch.
        public var writeBackEnabled: Bool

        public init(direction: SyncDirection = .fromLDAP, conflict: ConflictPolicy = .ldapWins, multiValued: Bool = false,
                    caseInsensitive: Bool = false, writeBackEnabled: Bool = false) {
            self.direction = direction
            self.conflict = conflict
            self.multiValued = multiValued
            self.caseInsensitive = caseInsensitive
            self.writeBackEnabled = writeBackEnabled
        }

        /// Both switches are on: values may be written to LDAP.
        var mayWriteLDAP: Bool { writeBackEnabled && direction.flowsToLDAP }
    }

    public enum Event: Sendable, Hashable {
        /// Both sides hold the base.
        case unchanged
        /// Both sides changed to the same values: nothing to write.
        case agreed
        /// LDAP changed; the app takes it.
        case ldapToApp
        /// The app changed; LDAP takes it (write-back).
        case appToLDAP
        /// Multi-valued: both sides' additions and removals combined.
        case merged
        /// The app changed a from-ldap attribute: reset to LDAP's values, reported.
        case appReset
        /// LDAP changed a to-ldap attribute while write-back is on: reset to the app's
        /// values, reported.
        case ldapReset
        /// An app edit held back by a switch (`writeBack.enabled` or the attribute's
        /// direction); it stays in the app and the snapshot keeps the agreed value.
        case pending(reason: String)
        /// Both sides changed differently; settled by the policy. `manual` writes nothing.
        case conflict(ConflictPolicy, ldapWon: Bool?)
    }

    public struct Result: Sendable, Hashable {
        /// The values the app must hold afterwards; nil: leave the app as it is.
        public var app: [[UInt8]]?
        /// The values LDAP must hold afterwards; nil: leave LDAP as it is.
        public var ldap: [[UInt8]]?
        /// The new agreed base; nil: keep the old one.
        public var base: [[UInt8]]?
        public var event: Event
    }

    public static func merge(_ input: Input, _ settings: Settings) -> Result {
        let same = { (a: [[UInt8]], b: [[UInt8]]) in equal(a, b, settings) }
        guard let base = input.base else { return firstContact(input, settings) }
        let ldapChanged = !same(input.ldap, base)
        let appChanged = !same(input.app, base)
        switch (ldapChanged, appChanged) {
        case (false, false):
            return Result(app: nil, ldap: nil, base: nil, event: .unchanged)
        case (true, false):
            return ldapOnly(input, settings)
        case (false, true):
            return appOnly(input, settings)
        case (true, true):
            if same(input.ldap, input.app) { return Result(app: nil, ldap: nil, base: input.ldap, event: .agreed) }
            if settings.multiValued, settings.direction == .both { return setMerge(input, base: base, settings) }
            return conflict(input, settings)
        }
    }

    /// L changed, A did not.
    private static func ldapOnly(_ input: Input, _ settings: Settings) -> Result {
        if settings.direction.flowsToApp {
            return Result(app: input.ldap, ldap: nil, base: input.ldap, event: .ldapToApp)
        }
        // to-ldap: the app is authoritative; LDAP's edit is reset while write-back is on.
        if settings.mayWriteLDAP {
            return Result(app: nil, ldap: input.app, base: input.app, event: .ldapReset)
        }
        return Result(app: nil, ldap: nil, base: nil, event: .pending(reason: pendingReason(settings)))
    }

    /// A changed, L did not.
    private static func appOnly(_ input: Input, _ settings: Settings) -> Result {
        if !settings.direction.flowsToLDAP {
            // from-ldap: LDAP is authoritative; the app's edit is reset.
            return Result(app: input.ldap, ldap: nil, base: input.ldap, event: .appReset)
        }
        if settings.mayWriteLDAP {
            return Result(app: nil, ldap: input.app, base: input.app, event: .appToLDAP)
        }
        return Result(app: nil, ldap: nil, base: nil, event: .pending(reason: pendingReason(settings)))
    }

    /// Both changed, differently, single-valued (or not `both`).
    private static func conflict(_ input: Input, _ settings: Settings) -> Result {
        switch settings.direction {
        case .fromLDAP:
            // An app edit of a from-ldap attribute is reset whatever LDAP did.
            return Result(app: input.ldap, ldap: nil, base: input.ldap, event: .appReset)
        case .toLDAP:
            return ldapOnly(input, settings)
        case .both:
            break
        }
        let ldapWins: Bool?
        switch settings.conflict {
        case .ldapWins: ldapWins = true
        case .appWins: ldapWins = false
        case .manual: ldapWins = nil
        case .newest:
            // A side without a time loses; equal times go to LDAP.
            switch (input.ldapTime, input.appTime) {
            case (let ldap?, let app?): ldapWins = ldap >= app
            case (nil, _?): ldapWins = false
            default: ldapWins = true
            }
        }
        guard let ldapWins else {
            return Result(app: nil, ldap: nil, base: nil, event: .conflict(.manual, ldapWon: nil))
        }
        if ldapWins {
            return Result(app: input.ldap, ldap: nil, base: input.ldap, event: .conflict(settings.conflict, ldapWon: true))
        }
        guard settings.mayWriteLDAP else {
            return Result(app: nil, ldap: nil, base: nil, event: .pending(reason: pendingReason(settings)))
        }
        return Result(app: nil, ldap: input.app, base: input.app, event: .conflict(settings.conflict, ldapWon: false))
    }

    /// Multi-valued `both` attributes merge as sets: additions and removals of either side
    /// all apply, so two sides editing different values never conflict.
    private static func setMerge(_ input: Input, base: [[UInt8]], _ settings: Settings) -> Result {
        let baseKeys = keyed(base, settings)
        let ldapKeys = keyed(input.ldap, settings)
        let appKeys = keyed(input.app, settings)
        var result = baseKeys
        for (key, value) in ldapKeys where baseKeys[key] == nil { result[key] = value }
        for (key, value) in appKeys where baseKeys[key] == nil && result[key] == nil { result[key] = value }
        for key in baseKeys.keys where ldapKeys[key] == nil || appKeys[key] == nil { result[key] = nil }
        let merged = result.keys.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { result[$0] }
        let ldapTarget: [[UInt8]]? = equal(merged, input.ldap, settings) ? nil : merged
        let appTarget: [[UInt8]]? = equal(merged, input.app, settings) ? nil : merged
        guard ldapTarget == nil || settings.mayWriteLDAP else {
            // LDAP cannot take the app's part yet: the app takes LDAP's additions and
            // removals, its own edits stay pending, and the base stays the agreed one.
            return Result(app: appTarget, ldap: nil, base: nil, event: .pending(reason: pendingReason(settings)))
        }
        return Result(app: appTarget, ldap: ldapTarget, base: merged, event: .merged)
    }

    /// No agreed base yet: equal sides agree; otherwise the authoritative side wins
    /// (LDAP for from-ldap, the app for to-ldap), and `both` is a conflict under the
    /// policy, so that a lost snapshot never lets stale app values overwrite LDAP
    /// silently (ldap-wins by default).
    private static func firstContact(_ input: Input, _ settings: Settings) -> Result {
        if equal(input.ldap, input.app, settings) { return Result(app: nil, ldap: nil, base: input.ldap, event: .agreed) }
        switch settings.direction {
        case .fromLDAP: return Result(app: input.ldap, ldap: nil, base: input.ldap, event: .ldapToApp)
        case .toLDAP:
            guard settings.mayWriteLDAP else { return Result(app: nil, ldap: nil, base: nil, event: .pending(reason: pendingReason(settings))) }
            return Result(app: nil, ldap: input.app, base: input.app, event: .appToLDAP)
        case .both: return conflict(input, settings)
        }
    }

    private static func pendingReason(_ settings: Settings) -> String {
        if !settings.writeBackEnabled { return "writeBack.enabled is false" }
        return "the attribute's direction is from-ldap"
    }

    // MARK: Equality by the attribute's rule

    public static func equal(_ a: [[UInt8]], _ b: [[UInt8]], _ settings: Settings) -> Bool {
        if a == b { return true }
        return Set(keyed(a, settings).keys) == Set(keyed(b, settings).keys)
    }

    /// Values by their comparison key (case-folded for caseIgnore rules).
    private static func keyed(_ values: [[UInt8]], _ settings: Settings) -> [[UInt8]: [UInt8]] {
        var result: [[UInt8]: [UInt8]] = [:]
        for value in values {
            let key: [UInt8]
            if settings.caseInsensitive, let text = UTF8Text.string(value) {
                key = Array(text.lowercased().utf8)
            } else {
                key = value
            }
            if result[key] == nil { result[key] = value }
        }
        return result
    }
}
