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
final class EarlyAppApply: @unchecked Sendable {
    /// Batches handed over and not yet taken by the transaction (memory: a few batches).
    static let maxQueued = 4

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [[AppChange]] = []
    private var finishing = false
    private var cancelled = false
    private var done = false
    private var failure: (any Error)?

    private struct Cancelled: Error, CustomStringConvertible {
        var description: String { "the run stopped before the app transaction was committed" }
    }

    /// The store as the thread holds it: the run does not touch it meanwhile.
    private struct Store: @unchecked Sendable {
        let store: any AppStore
    }

    /// Starts the transaction's thread; `mark` is written in it (``CommitMark``).
    init(store: any AppStore, mark: CommitMark) {
        let held = Store(store: store)
        let thread = Thread { [self] in
            var failure: (any Error)?
            do {
                try held.store.tryApply(streaming: { try self.next() }, mark: mark)
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
        defer { condition.unlock() }
        while queue.isEmpty && !finishing && !cancelled { condition.wait() }
        if cancelled { throw Cancelled() }
        guard !queue.isEmpty else { return nil }
        condition.broadcast()
        return queue.removeFirst()
    }

    /// Hands a staged batch over, waiting while ``maxQueued`` wait already. False when the
    /// attempt has failed: the run goes on without it (and applies everything after the
    /// read).
    func push(_ batch: [AppChange]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= Self.maxQueued && !done { condition.wait() }
        guard !done else { return false }
        queue.append(batch)
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

    /// Rolls the transaction back (if it has not finished) and waits for its thread.
    func cancel() {
        condition.lock()
        defer { condition.unlock() }
        cancelled = true
        condition.broadcast()
        while !done { condition.wait() }
    }
}
