import AppStore
import DirectoryModel
import SyncEngine
import Foundation

/// The audit lines of a run's app changes (SPEC §11, I8): one per change, with the app
/// transaction's outcome. Lines without a message are written as bytes
/// (``AppChangeLines``); the others, and a change with a value in no mapped column, as
/// ``AuditRecord``s: the same lines either way.
///
/// Used by the run, which reads the changes back from the staging area after the
/// transaction, and by ``EarlyAppApply``, which writes a first run's lines while it reads.
struct AppChangeAudit {
    private let runID: String
    private let directory: String
    private let outcome: AuditRecord.Outcome
    private let message: String?
    private let sensitive: Set<String>
    private let kinds: [String: MappedAttribute]
    private var lines: AppChangeLines?

    init(policy: SyncPolicy, runID: String, directory: String, outcome: AuditRecord.Outcome, message: String?) {
        self.runID = runID
        self.directory = directory
        self.outcome = outcome
        self.message = message
        let sensitive = Set(policy.attributes.filter(\.sensitive).map(\.column))
        let kinds = Dictionary(policy.attributes.map { ($0.column, $0) }, uniquingKeysWith: { first, _ in first })
        self.sensitive = sensitive
        self.kinds = kinds
        lines = message == nil ? AppChangeLines(
            runID: runID, directory: directory, outcome: outcome,
            columns: kinds.map { column, attribute in
                AppChangeLines.Column(
                    name: column,
                    redacted: AuditAttribute(name: column, sensitive: sensitive.contains(column)).isRedacted,
                    showsTextAsIs: attribute.kind == .multiText,
                    display: { ValueMapping.display($0, for: attribute) }
                )
            }
        ) : nil
    }

    /// Appends the lines of one batch of changes, which share `time` (they record one
    /// transaction), to `audit`. Stops at the first error the log reports for a line it
    /// refused; `failed` is called with each error.
    mutating func append(_ changes: [AppChange], time: Timestamp, to audit: AuditLog, failed: (AuditLogError) -> Void) {
        guard lines != nil else {
            for change in changes {
                do { try audit.append(record(change, time: time)) } catch { failed(error) }
            }
            return
        }
        lines?.setTime(time)
        var index = changes.startIndex
        while index < changes.endIndex {
            // As many lines as the fast path takes, then one record, and on.
            let before = index
            do {
                try audit.appendLines { output in
                    while index < changes.endIndex, lines?.append(changes[index], to: &output) == true {
                        index += 1
                    }
                }
            } catch {
                failed(error)
                // Nothing taken: the log refuses every line (an earlier fsync failed).
                if index == before { break }
            }
            if index < changes.endIndex {
                do { try audit.append(record(changes[index], time: time)) } catch { failed(error) }
                index += 1
            }
        }
    }

    private func record(_ change: AppChange, time: Timestamp) -> AuditRecord {
        .appChange(change, time: time, runID: runID, directory: directory, outcome: outcome, message: message) { values in
            values.sorted { $0.key < $1.key }.map { column, value in
                let text = kinds[column].map { ValueMapping.display(value, for: $0) } ?? "\(value)"
                return AuditAttribute(name: column, new: [text], sensitive: sensitive.contains(column))
            }
        }
    }
}

/// The audit lines a first run wrote ahead (``EarlyAppApply``), appended to the audit log
/// and fsync'd on a thread of their own while the run writes its state commit. The run
/// waits for it before the commit's last transaction, which removes the in-flight record:
/// a run that dies before that is completed by the next one, which writes the lines from
/// the staging area (SPEC I8), as it would for a run that died before the copy.
final class AuditAppend: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var done = false
    private var failure: AuditLogError?

    /// The logs as the thread holds them: the run does not touch them until ``wait()``.
    private struct Logs: @unchecked Sendable {
        let audit: AuditLog
        let lines: AuditLog
    }

    /// Starts the copy of `lines` to the end of `audit`, and its fsync.
    init(audit: AuditLog, lines: AuditLog) {
        let logs = Logs(audit: audit, lines: lines)
        let thread = Thread { [self] in
            var failure: AuditLogError?
            do throws(AuditLogError) {
                try logs.audit.appendContents(of: logs.lines)
                try logs.audit.flush()
            } catch {
                failure = error
            }
            condition.lock()
            self.failure = failure
            done = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "ldapsync audit append"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Waits until the lines are in the audit log and on disk; the error that stopped
    /// them, if any.
    func wait() -> AuditLogError? {
        condition.lock()
        defer { condition.unlock() }
        while !done { condition.wait() }
        return failure
    }
}
