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
    public var failures: [EntryFailure] = []
    public var cursorBefore: String?
    public var cursorAfter: String?
    public var durationSeconds = 0.0

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
        pendingConflicts += plan.conflicts.filter { $0.ldapWon == nil }.count
        membershipsAdded += plan.addedGroups.count
        membershipsRemoved += plan.removedGroups.count
    }

    var counts: [String: Int] {
        ["fetched": fetchedUsers, "fetchedGroups": fetchedGroups, "created": created, "updated": updated,
         "resets": resets, "deactivated": deactivated, "reactivated": reactivated, "renamed": renamed,
         "adopted": adopted, "skipped": skippedUntagged, "membershipsAdded": membershipsAdded,
         "membershipsRemoved": membershipsRemoved, "writtenBack": writtenBack, "conflicts": conflicts,
         "failures": failures.count]
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

private extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
