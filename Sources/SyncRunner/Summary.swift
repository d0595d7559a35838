import DirectoryModel
import SyncEngine

/// What one directory's run did: the counts of the summary table, the report and the run
/// history.
public struct DirectorySummary: Sendable {
    public var directory: String
    public var full: Bool
    /// Why the run read the whole scope (empty cursor, --full, a new mapping item).
    public var fullReason: String?
    public var fetchedUsers = 0
    public var fetchedGroups = 0
    /// Pages of the run's main user search and group search (RFC 2696 paged results).
    public var userPages = 0
    public var groupPages = 0
    /// Active Directory range requests (`member;range=1500-*`) sent to read the members
    /// of groups the group search returned only in part.
    public var rangeRequests = 0
    /// Entries of the id-only listing of the scope (`deletions: every-run`); 0 when no
    /// listing was made.
    public var listedForDeletions = 0
    /// How `deletions: every-run` listed the scope: `content sync (present phase)`,
    /// `content sync (delete phase)` or `paged search`, with the reason when a content-sync
    /// refresh was not usable; nil when no listing was made.
    public var deletionListing: String?
    /// Tombstones read (`deletions: tombstones`): deleted objects since the cursor.
    public var tombstonesRead = 0
    public var created = 0
    public var updated = 0
    /// App edits of from-ldap attributes reset to the LDAP value.
    public var resets = 0
    public var deactivated = 0
    public var reactivated = 0
    public var renamed = 0
    public var adopted = 0
    public var skippedUntagged = 0
    public var membershipsAdded = 0
    public var membershipsRemoved = 0
    public var writtenBack = 0
    public var conflicts = 0
    /// Manual conflicts left for an administrator (exit 1).
    public var pendingConflicts = 0
    public var failures: [RunFailure] = []
    /// The conflicts decided in this run, at most ``conflictNoteLimit`` of them (the
    /// counts above stay exact).
    public var conflictNotes: [ConflictNote] = []
    public static let conflictNoteLimit = 1_000
    /// The cursor in the configured display form (the summary table, the console).
    public var cursorBefore: String?
    public var cursorAfter: String?
    /// The same cursors as times (the report, the metrics).
    public var cursorBeforeTime: Timestamp?
    public var cursorAfterTime: Timestamp?
    public var durationSeconds = 0.0
    /// false: the directory's run stopped with an error (exit 2–6, 130) and these counts
    /// are what it had done by then; nothing of it was committed.
    public var complete = true

    public init(directory: String, full: Bool) {
        self.directory = directory
        self.full = full
    }

    /// Changes written (or, in a dry run, planned) to the app.
    public var changes: Int { created + updated + deactivated + reactivated + renamed + adopted + membershipsAdded + membershipsRemoved }

    mutating func count(_ plan: UserPlan) {
        switch plan.action {
        case .create: created += 1
        case .update: if !plan.attributeChanges.isEmpty { updated += 1 }
        case .skippedUntagged: skippedUntagged += 1
        case .none, .leftMappedGroups, .vanished: break
        }
        resets += plan.attributeChanges.filter(\.isReset).count
        if plan.deactivated { deactivated += 1 }
        if plan.reactivated { reactivated += 1 }
        if plan.renamedFrom != nil { renamed += 1 }
        if plan.adopted { adopted += 1 }
        conflicts += plan.conflicts.count
        for conflict in plan.conflicts where conflictNotes.count < Self.conflictNoteLimit {
            conflictNotes.append(ConflictNote(key: plan.key, attribute: conflict.attribute.description,
                                              policy: Self.configName(conflict.policy), ldapWon: conflict.ldapWon))
        }
        pendingConflicts += plan.conflicts.filter { $0.ldapWon == nil }.count
        membershipsAdded += plan.addedGroups.count
        membershipsRemoved += plan.removedGroups.count
    }

    /// The policy as the configuration spells it.
    static func configName(_ policy: ConflictPolicy) -> String {
        switch policy {
        case .ldapWins: "ldap-wins"
        case .appWins: "app-wins"
        case .newest: "newest"
        case .manual: "manual"
        }
    }

    var counts: [String: Int] {
        ["fetched": fetchedUsers, "fetchedGroups": fetchedGroups, "created": created, "updated": updated,
         "resets": resets, "deactivated": deactivated, "reactivated": reactivated, "renamed": renamed,
         "adopted": adopted, "skipped": skippedUntagged, "membershipsAdded": membershipsAdded,
         "membershipsRemoved": membershipsRemoved, "writtenBack": writtenBack, "conflicts": conflicts,
         "failures": failures.count, "listedForDeletions": listedForDeletions, "tombstonesRead": tombstonesRead]
    }

    /// The summary table of SPEC §9, one row per directory.
    public static func table(_ summaries: [DirectorySummary]) -> String {
        let header = ["directory", "fetched", "created", "updated", "deactivated", "members +", "members -",
                      "written back", "conflicts", "failures", "duration"]
        let rows = summaries.map { summary in
            [summary.directory, "\(summary.fetchedUsers)", "\(summary.created)", "\(summary.updated)",
             "\(summary.deactivated)", "\(summary.membershipsAdded)", "\(summary.membershipsRemoved)",
             "\(summary.writtenBack)", "\(summary.conflicts)", "\(summary.failures.count)",
             formatSeconds(summary.durationSeconds)]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == 0 ? cell.padding(widths[index]) : String(repeating: " ", count: widths[index] - cell.count) + cell
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func formatSeconds(_ seconds: Double) -> String {
        let hundredths = Int((seconds * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)s"
    }
}

/// A failure class: SPEC §8's write-back classes and the classes of the other per-entry
/// failures. It is the `class` of a failure in the report and the `class` label of
/// `ldapsync_run_failures` in the metrics.
public struct FailureKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Write-back refused: insufficientAccessRights (50), unwillingToPerform (53), or the
    /// write principal cannot bind.
    public static let writeFailed = Self(rawValue: "WRITE_FAILED")
    /// Write-back refused by the schema: objectClassViolation (65), undefinedAttributeType
    /// (17), invalidAttributeSyntax (21), constraintViolation (19).
    public static let schemaViolation = Self(rawValue: "SCHEMA_VIOLATION")
    /// Write-back to an entry that no longer exists: noSuchObject (32).
    public static let entryGone = Self(rawValue: "ENTRY_GONE")
    /// Write-back still failing with busy, unavailable, serverDown or timeout after the
    /// run's retries.
    public static let transient = Self(rawValue: "TRANSIENT")
    /// An entry read from LDAP that cannot be tracked: no id, no usable key, a DN that
    /// does not parse, a timestamp that does not parse.
    public static let entryInvalid = Self(rawValue: "ENTRY_INVALID")
    /// A value that cannot be mapped to the other side (invalid UTF-8, a transform that
    /// fails or does not round-trip).
    public static let valueInvalid = Self(rawValue: "VALUE_INVALID")
    /// The app store transaction failed and was rolled back.
    public static let appWriteFailed = Self(rawValue: "APP_WRITE_FAILED")

    /// Every class, in the order the metrics list them.
    public static let all: [FailureKind] = [.writeFailed, .schemaViolation, .entryGone, .transient, .entryInvalid, .valueInvalid, .appWriteFailed]
}

/// A per-entry failure of a run, with its class. Counted in the summary, reported, and
/// kept for a retry (I3).
public struct RunFailure: Sendable, Hashable, CustomStringConvertible {
    public var kind: FailureKind
    public var key: String?
    public var dn: String?
    /// What failed, never with attribute values; write-back failures start with their
    /// class (`WRITE_FAILED: ...`), as the console shows them.
    public var message: String

    public init(_ kind: FailureKind, key: String?, dn: String?, message: String) {
        self.kind = kind
        self.key = key
        self.dn = dn
        self.message = message
    }

    public var description: String { EntryFailure(key: key, dn: dn, message: message).description }
}

/// One conflict decided in a run (SPEC §5): the user, the attribute and how it was
/// settled. The values are not kept (the audit log has them, redacted where sensitive).
public struct ConflictNote: Sendable, Hashable {
    public var key: String
    public var attribute: String
    public var policy: String
    /// true: LDAP's value was taken; false: the app's; nil: `manual`, pending.
    public var ldapWon: Bool?
}

private extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
