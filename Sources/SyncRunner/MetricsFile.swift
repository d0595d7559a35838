import DirectoryModel
#if canImport(Glibc)
import Glibc
#endif

/// `run --metrics FILE.prom`: the Prometheus text exposition format (version 0.0.4) for
/// node_exporter's textfile collector (SPEC §11). Every metric is a gauge named
/// `ldapsync_…` with HELP and TYPE lines; docs/monitoring.md lists them with alert examples.
///
/// The last-success time survives failed runs: a run that does not succeed keeps the
/// newer of the previous file's value and the state store's run history (the time by
/// which every configured directory had last ended a run with exit 0), so neither a lost
/// metrics file nor a series of failures makes it move forward, or vanish.
public enum MetricsFile {
    static let lastSuccessName = "ldapsync_last_success_timestamp_seconds"

    /// The `operation` label values of `ldapsync_last_run_entries`, with the summary
    /// count each one shows.
    static func operations(_ summary: DirectorySummary) -> [(label: String, count: Int)] {
        [("fetched", summary.fetchedUsers), ("fetched_groups", summary.fetchedGroups), ("created", summary.created),
         ("updated", summary.updated), ("reset", summary.resets), ("deactivated", summary.deactivated),
         ("reactivated", summary.reactivated), ("renamed", summary.renamed), ("adopted", summary.adopted),
         ("skipped_untagged", summary.skippedUntagged), ("membership_added", summary.membershipsAdded),
         ("membership_removed", summary.membershipsRemoved), ("written_back", summary.writtenBack), ("conflict", summary.conflicts),
         ("listed_for_deletions", summary.listedForDeletions), ("tombstones_read", summary.tombstonesRead),
         ("range_requests", summary.rangeRequests)]
    }

    /// The file's text.
    /// - Parameters:
    ///   - directories: the configured directory names (empty when the configuration did
    ///     not load).
    ///   - state: each directory's state after the run, when the state store was readable.
    ///   - previousLastSuccess: the last-success value of the file this one replaces.
    ///   - now: the time cursor lags are measured against.
    public static func text(_ result: RunResult, directories: [String], state: [StateCommands.DirectoryStatus]?,
                            previousLastSuccess: Double?, now: Timestamp) -> String {
        var file = Exposition()
        let finished = seconds(result.finished)
        file.gauge("ldapsync_last_run_timestamp_seconds", "When the last ldapsync run ended (Unix time).", [([], finished)])
        if let lastSuccess = lastSuccess(result, directories: directories, state: state, previous: previousLastSuccess) {
            file.gauge(lastSuccessName, "When the last ldapsync run that ended with exit code 0 (and was not a dry run) ended (Unix time).",
                       [([], lastSuccess)])
        }
        file.gauge("ldapsync_last_run_duration_seconds", "How long the last run took.", [([], result.durationSeconds)])
        file.gauge("ldapsync_last_run_exit_code", "The last run's exit code: 0 success, 1 entries failed or conflicts pending, 2 usage or configuration, 3 connection, 4 locked, 5 safety limit, 6 state store, 130 interrupted.",
                   [([], Double(result.exitCode))])
        file.gauge("ldapsync_last_run_dry_run", "1 when the last run was a dry run (it wrote nothing).", [([], result.dryRun ? 1 : 0)])

        let summaries = result.summaries
        file.gauge("ldapsync_last_run_entries", "Entries the last run handled, by directory and operation (planned ones in a dry run).",
                   summaries.flatMap { summary in
                       operations(summary).map { ([("directory", summary.directory), ("operation", $0.label)], Double($0.count)) }
                   })
        file.gauge("ldapsync_last_run_failures", "Entries that failed in the last run, by directory and failure class.",
                   summaries.flatMap { summary in
                       var byClass: [FailureKind: Int] = [:]
                       for failure in summary.failures { byClass[failure.kind, default: 0] += 1 }
                       let kinds = FailureKind.all + byClass.keys.filter { !FailureKind.all.contains($0) }.sorted { $0.rawValue < $1.rawValue }
                       return kinds.map { ([("directory", summary.directory), ("class", $0.rawValue)], Double(byClass[$0] ?? 0)) }
                   })
        file.gauge("ldapsync_last_run_directory_duration_seconds", "How long each directory's part of the last run took.",
                   summaries.map { ([("directory", $0.directory)], $0.durationSeconds) })
        file.gauge("ldapsync_last_run_full", "1 when the last run read the directory's whole scope (a full run).",
                   summaries.map { ([("directory", $0.directory)], $0.full ? 1 : 0) })
        file.gauge("ldapsync_last_run_complete", "0 when the last run stopped in this directory with an error (nothing of it was committed).",
                   summaries.map { ([("directory", $0.directory)], $0.complete ? 1 : 0) })

        guard let state else { return file.text }
        file.gauge("ldapsync_pending_conflicts", "Manual conflicts waiting for an administrator (ldapsync conflicts list).",
                   state.map { ([("directory", $0.directory)], Double($0.conflicts)) })
        file.gauge("ldapsync_retry_set_entries", "Entries whose write failed, retried by every run until they succeed.",
                   state.map { ([("directory", $0.directory)], Double($0.retry.count)) })
        file.gauge("ldapsync_snapshot_users", "Users in the directory's snapshot (the last state both sides agreed on).",
                   state.map { ([("directory", $0.directory)], Double($0.snapshotUsers)) })
        let cursors = state.compactMap { status in status.cursor.map { (status.directory, $0) } }
        file.gauge("ldapsync_cursor_timestamp_seconds", "The directory's cursor: the newest server timestamp read (Unix time).",
                   cursors.map { ([("directory", $0.0)], seconds($0.1)) })
        file.gauge("ldapsync_cursor_lag_seconds", "Now minus the cursor: how far behind the directory's changes the sync may be. Grows on a quiet directory too: the cursor only moves when an entry changes.",
                   cursors.map { ([("directory", $0.0)], max(0, seconds(now) - seconds($0.1))) })
        file.gauge("ldapsync_directory_last_success_timestamp_seconds", "When the directory's last run with exit code 0 ended (Unix time), from the state store's run history.",
                   state.compactMap { status in status.lastSuccess.map { ([("directory", status.directory)], seconds($0.finished)) } })
        return file.text
    }

    /// The value of `ldapsync_last_success_timestamp_seconds` in an earlier file's text.
    public static func lastSuccess(inPrevious text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(lastSuccessName + " ") {
            return Double(line.dropFirst(lastSuccessName.count + 1).trimmingCharacters())
        }
        return nil
    }

    private static func lastSuccess(_ result: RunResult, directories: [String], state: [StateCommands.DirectoryStatus]?,
                                    previous: Double?) -> Double? {
        if result.succeeded { return seconds(result.finished) }
        var fromHistory: Double?
        if let state, !directories.isEmpty {
            let times = directories.map { name in state.first { $0.directory == name }?.lastSuccess.map { seconds($0.finished) } }
            if times.allSatisfy({ $0 != nil }) { fromHistory = times.compactMap { $0 }.min() }
        }
        switch (previous, fromHistory) {
        case let (previous?, history?): return max(previous, history)
        case let (previous, history): return previous ?? history
        }
    }

    static func seconds(_ time: Timestamp) -> Double { Double(time.seconds) + Double(time.nanoseconds) / 1e9 }
}

/// The text exposition format: `# HELP`, `# TYPE`, then one sample per line.
private struct Exposition {
    private(set) var text = ""

    /// A gauge with its samples; a gauge with no sample is left out entirely.
    mutating func gauge(_ name: String, _ help: String, _ samples: [([(String, String)], Double)]) {
        guard !samples.isEmpty else { return }
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) gauge\n"
        for (labels, value) in samples {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " " + formatNumber(value) + "\n"
        }
    }

    /// Label values escape `\`, `"` and line feeds.
    static func escapeLabel(_ value: String) -> String {
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// HELP text escapes `\` and line feeds.
    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }
}

private extension Substring {
    func trimmingCharacters() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" || first == "\r" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" || last == "\r" { text.removeLast() }
        return text
    }
}
