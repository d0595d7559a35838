import AppStore
import DirectoryModel
import Foundation

/// The app transaction of a full run into an empty app store, written by a second thread
/// while the users are still being read (docs/design.md, "A run").
///
/// Such a run looks nothing up in the app while it decides (there is nobody to find), so
/// its batches can go to the app as soon as they are staged instead of after the read. The
/// transaction stays open until ``finish()``, which the run calls where it would otherwise
/// have applied the staged batches: after the read, the safety checks and the in-flight
/// record (SPEC I1 orders the commits, not the writes). Until then nothing is visible to
/// anyone, and any failure or interruption rolls it back.
///
/// It is an attempt (``AppStore/tryApply(streaming:mark:)``): when it fails, the run
/// applies the staged batches again the usual way, whose error names the failing change.
/// While it runs, the app store belongs to its thread: the run must not call the store.
///
/// The thread also writes the batches' audit lines ahead, to a file of their own
/// (``AuditAhead``), which the run appends to the audit log once the transaction has
/// committed (``AuditLog/appendContents(of:)``) instead of formatting them after it.
final class EarlyAppApply: @unchecked Sendable {
    /// The audit lines of the batches, written ahead by the transaction's thread.
    struct AuditAhead {
        var lines: AppChangeAudit
        /// A file of this run's own in the staging directory, never the audit log.
        let log: AuditLog
    }

    /// Batches handed over and not yet taken by the transaction (memory: a few batches).
    static let maxQueued = 4

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [(batch: [AppChange], time: Timestamp)] = []
    private var finishing = false
    private var cancelled = false
    private var done = false
    private var failure: (any Error)?
    /// Touched by the thread only until `done`; nil once a line could not be written.
    private var auditAhead: AuditAhead?

    private struct Cancelled: Error, CustomStringConvertible {
        var description: String { "the run stopped before the app transaction was committed" }
    }

    /// The store as the thread holds it: the run does not touch it meanwhile.
    private struct Store: @unchecked Sendable {
        let store: any AppStore
    }

    /// Starts the transaction's thread; `mark` is written in it (``CommitMark``), and
    /// the audit lines to `auditAhead` when given.
    init(store: any AppStore, mark: CommitMark, auditAhead: AuditAhead? = nil) {
        let held = Store(store: store)
        self.auditAhead = auditAhead
        let thread = Thread { [self] in
            var failure: (any Error)?
            do {
                try held.store.tryApply(streaming: { try self.next() }, mark: mark)
                // Committed: the lines on file for the run to append.
                do { try self.auditAhead?.log.writeBuffered() } catch { self.auditAhead = nil }
            } catch {
                failure = error
            }
            condition.lock()
            self.failure = failure
            done = true
            queue.removeAll()
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "ldapsync app transaction"
        // GRDB and libpq need little stack; SQLite's default limits fit in 1 MB.
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The transaction's side: the next batch, nil once the run finishes, an error when
    /// the run stopped.
    private func next() throws -> [AppChange]? {
        condition.lock()
        while queue.isEmpty && !finishing && !cancelled { condition.wait() }
        if cancelled {
            condition.unlock()
            throw Cancelled()
        }
        guard !queue.isEmpty else {
            condition.unlock()
            return nil
        }
        condition.broadcast()
        let (batch, time) = queue.removeFirst()
        condition.unlock()
        if var ahead = auditAhead {
            auditAhead = nil  // the copy is the only one: no copy of its buffers on write
            var failed = false
            ahead.lines.append(batch, time: time, to: ahead.log) { _ in failed = true }
            // The run writes the lines from the staging area instead.
            if !failed { auditAhead = ahead }
        }
        return batch
    }

    /// Hands a staged batch over, waiting while ``maxQueued`` wait already; `time` is
    /// the time of its audit lines. False when the attempt has failed: the run goes on
    /// without it (and applies everything after the read).
    func push(_ batch: [AppChange], time: Timestamp) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= Self.maxQueued && !done { condition.wait() }
        guard !done else { return false }
        queue.append((batch, time))
        condition.broadcast()
        return true
    }

    /// No more batches: the transaction writes the mark and commits. Returns nil once it
    /// committed, or the error that rolled it back.
    func finish() -> (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        finishing = true
        condition.broadcast()
        while !done { condition.wait() }
        return failure
    }

    /// After a ``finish()`` that committed: the file of the batches' audit lines, all
    /// written; nil when one could not be written (or none were asked for).
    var auditLinesWritten: AuditLog? {
        condition.lock()
        defer { condition.unlock() }
        return done && failure == nil ? auditAhead?.log : nil
    }

    /// Rolls the transaction back (if it has not finished) and waits for its thread.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        condition.broadcast()
        while !done { condition.wait() }
    }
}
