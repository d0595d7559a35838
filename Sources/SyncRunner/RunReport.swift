import DirectoryModel
import SyncConfig
#if canImport(Glibc)
import Glibc
#endif

/// `run --report FILE.json`: the run summary, machine-readable (SPEC §11), written for
/// every outcome, also when the run stopped with exit 2–6 or 130.
///
/// Keys (docs/monitoring.md lists them with their meaning): `version`, `run`, `dryRun`,
/// `started`, `finished`, `durationSeconds`, `exitCode`, `outcome`, `error`, `totals`,
/// `directories` (per directory: `name`, `complete`, `full`, `fullReason`, `deletionListing`, `cursorBefore`,
/// `cursorAfter`, `durationSeconds`, `counts`, `failuresByClass`, `failures`, `conflicts`,
/// `conflictsListed`, `state`). Absent values are `null`, so every key is always there.
/// Times are ISO 8601 UTC. Failures and conflicts carry no attribute values.
public enum RunReport {
    /// The report's format version; a change that removes or renames a key increments it.
    public static let version = 1

    /// - Parameter state: each directory's state after the run (retry set, pending
    ///   conflicts, cursor), when the state store could be read.
    public static func json(_ result: RunResult, state: [StateCommands.DirectoryStatus]?) -> [UInt8] {
        let byName = Dictionary((state ?? []).map { ($0.directory, $0) }, uniquingKeysWith: { first, _ in first })
        let failures = result.summaries.reduce(0) { $0 + $1.failures.count }
        let pending = result.summaries.reduce(0) { $0 + $1.pendingConflicts }
        let changes = result.summaries.reduce(0) { $0 + $1.changes }
        let root = JSONValue.object([
            ("version", .int(version)),
            ("run", .string(result.runID)),
            ("dryRun", .bool(result.dryRun)),
            ("started", .string(result.started.iso8601)),
            ("finished", .string(result.finished.iso8601)),
            ("durationSeconds", .double(result.durationSeconds)),
            ("exitCode", .int(Int(result.exitCode))),
            ("outcome", .string(outcome(result.exitCode))),
            ("error", result.errorMessage.map(JSONValue.string) ?? .null),
            ("totals", .object([
                ("changes", .int(changes)), ("writtenBack", .int(result.summaries.reduce(0) { $0 + $1.writtenBack })),
                ("failures", .int(failures)), ("pendingConflicts", .int(pending)),
            ])),
            ("directories", .array(result.summaries.map { directory($0, state: byName[$0.directory]) })),
        ])
        var output: [UInt8] = []
        root.append(to: &output, indent: 0)
        output.append(UInt8(ascii: "\n"))
        return output
    }

    /// The exit code's name (SPEC §9).
    public static func outcome(_ exitCode: Int32) -> String {
        switch exitCode {
        case 0: "success"
        case 1: "partial"
        case 2: "usage"
        case 3: "connection"
        case 4: "locked"
        case 5: "safetyLimit"
        case 6: "stateStore"
        case 130: "interrupted"
        default: "unknown"
        }
    }

    private static func directory(_ summary: DirectorySummary, state: StateCommands.DirectoryStatus?) -> JSONValue {
        let counts = summary.counts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int($0.value)) }
        var byClass: [String: Int] = [:]
        for failure in summary.failures { byClass[failure.kind.rawValue, default: 0] += 1 }
        let failures = summary.failures.map { failure in
            JSONValue.object([
                ("class", .string(failure.kind.rawValue)),
                ("key", failure.key.map(JSONValue.string) ?? .null),
                ("dn", failure.dn.map(JSONValue.string) ?? .null),
                ("message", .string(failure.message)),
            ])
        }
        let conflicts = summary.conflictNotes.map { note in
            JSONValue.object([
                ("key", .string(note.key)),
                ("attribute", .string(note.attribute)),
                ("policy", .string(note.policy)),
                ("outcome", .string(note.ldapWon.map { $0 ? "ldap" : "app" } ?? "pending")),
            ])
        }
        let stateValue: JSONValue = state.map { status in
            .object([
                ("cursor", status.cursor.map { .string($0.iso8601) } ?? .null),
                ("retrySet", .int(status.retry.count)),
                ("pendingConflicts", .int(status.conflicts)),
                ("snapshotUsers", .int(status.snapshotUsers)),
                ("lastSuccess", status.lastSuccess.map { .string($0.finished.iso8601) } ?? .null),
            ])
        } ?? .null
        return .object([
            ("name", .string(summary.directory)),
            ("complete", .bool(summary.complete)),
            ("full", .bool(summary.full)),
            ("fullReason", summary.full ? summary.fullReason.map(JSONValue.string) ?? .null : .null),
            ("deletionListing", summary.deletionListing.map(JSONValue.string) ?? .null),
            ("cursorBefore", summary.cursorBeforeTime.map { .string($0.iso8601) } ?? .null),
            ("cursorAfter", summary.cursorAfterTime.map { .string($0.iso8601) } ?? .null),
            ("durationSeconds", .double(summary.durationSeconds)),
            ("counts", .object(counts + [("pendingConflicts", .int(summary.pendingConflicts))])),
            ("failuresByClass", .object(byClass.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
            ("failures", .array(failures)),
            ("conflicts", .array(conflicts)),
            ("conflictsListed", .string(summary.conflictNotes.count < summary.conflicts ? "first \(summary.conflictNotes.count) of \(summary.conflicts)" : "all")),
            ("state", stateValue),
        ])
    }
}

/// A JSON document built in memory and written with two-space indentation, keys in the
/// order given. Strings go through the audit log's writer (control characters escaped).
enum JSONValue {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case null

    func append(to output: inout [UInt8], indent: Int) {
        switch self {
        case .object(let members):
            guard !members.isEmpty else { output += Array("{}".utf8); return }
            output.append(UInt8(ascii: "{"))
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(&output, indent + 1)
                AuditJSON.appendString(key, to: &output)
                output += Array(": ".utf8)
                value.append(to: &output, indent: indent + 1)
            }
            newline(&output, indent)
            output.append(UInt8(ascii: "}"))
        case .array(let elements):
            guard !elements.isEmpty else { output += Array("[]".utf8); return }
            output.append(UInt8(ascii: "["))
            for (index, value) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                newline(&output, indent + 1)
                value.append(to: &output, indent: indent + 1)
            }
            newline(&output, indent)
            output.append(UInt8(ascii: "]"))
        case .string(let text): AuditJSON.appendString(text, to: &output)
        case .int(let number): output += Array(String(number).utf8)
        case .double(let number): output += Array(formatNumber(number).utf8)
        case .bool(let flag): output += Array((flag ? "true" : "false").utf8)
        case .null: output += Array("null".utf8)
        }
    }

    private func newline(_ output: inout [UInt8], _ indent: Int) {
        output.append(UInt8(ascii: "\n"))
        output += [UInt8](repeating: UInt8(ascii: " "), count: indent * 2)
    }
}

/// A number as JSON and the Prometheus text format both accept: millisecond precision at
/// most, no exponent, no `inf` or `nan` (which JSON lacks; written as 0).
func formatNumber(_ value: Double) -> String {
    guard value.isFinite else { return "0" }
    let thousandths = (value * 1000).rounded()
    guard abs(thousandths) < 9e15 else { return String(Int64(value.rounded())) }
    let whole = Int64(thousandths) / 1000
    let fraction = abs(Int64(thousandths) % 1000)
    let sign = thousandths < 0 && whole == 0 ? "-" : ""
    guard fraction != 0 else { return sign + String(whole) }
    var digits = String(fraction)
    digits = String(repeating: "0", count: 3 - digits.count) + digits
    while digits.hasSuffix("0") { digits.removeLast() }
    return sign + String(whole) + "." + digits
}

// MARK: Writing the outputs

/// The files `run --report` and `run --metrics` ask for, written atomically after a run
/// of any outcome.
public struct RunOutputs {
    public var reportPath: String?
    public var metricsPath: String?

    /// The report holds DNs and keys (no secrets, no values): readable by the owner and
    /// its group (a monitoring group), not by everyone.
    public static let reportMode: mode_t = 0o640
    /// node_exporter, another user, reads the metrics; they hold counts and names only.
    public static let metricsMode: mode_t = 0o644

    public init(reportPath: String?, metricsPath: String?) {
        self.reportPath = reportPath
        self.metricsPath = metricsPath
    }

    /// Before a run: each requested file's directory exists and is writable, so that a
    /// typo is a usage error before anything is done, not a missing report after.
    public func checkWritable() throws(AtomicFileError) {
        if let reportPath { try AtomicFile.checkWritable(reportPath) }
        if let metricsPath { try AtomicFile.checkWritable(metricsPath) }
    }

    /// Writes the requested files; returns the errors of those that could not be written
    /// (each file is attempted whatever happened to the other).
    /// - Parameter configuration: nil when it did not load (the files then hold the run's
    ///   outcome only).
    public func write(_ result: RunResult, configuration: Configuration?) -> [AtomicFileError] {
        guard reportPath != nil || metricsPath != nil else { return [] }
        // The state after the run (the run closed its own handle): retry set, conflicts,
        // cursors, run history. An unreadable store leaves these parts out.
        let state = configuration.flatMap { try? StateCommands(configuration: $0).status().directories }
        var errors: [AtomicFileError] = []
        if let reportPath {
            do { try AtomicFile.write(RunReport.json(result, state: state), to: reportPath, mode: Self.reportMode) } catch { errors.append(error) }
        }
        if let metricsPath {
            do {
                let previous = try AtomicFile.read(metricsPath).map { String(decoding: $0, as: UTF8.self) }
                let text = MetricsFile.text(result, directories: configuration?.directories.map(\.name) ?? [], state: state,
                                            previousLastSuccess: previous.flatMap(MetricsFile.lastSuccess(inPrevious:)), now: wallClock())
                try AtomicFile.write(Array(text.utf8), to: metricsPath, mode: Self.metricsMode)
            } catch {
                errors.append(error)
            }
        }
        return errors
    }
}
