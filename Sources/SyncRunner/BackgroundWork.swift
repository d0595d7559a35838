import Foundation

/// Work done in order on a thread of its own while the caller goes on, with a resource
/// the caller lends it: the run hands the staging of the groups it reads to one, with
/// the state store, so that the next groups are read meanwhile (``DirectoryRun``). At
/// most ``maxQueued`` pieces wait, so memory holds two of them (one waiting, one being
/// done) besides the caller's (a queue of two batches of 50,000 members took the 1M peak
/// from 116 to 133 MB).
///
/// The resource is the thread's from `init` until ``finish()`` returns: the caller may
/// use only what the pieces never touch (the run reads the state's own environment;
/// the pieces write the staging area's). The caller calls ``finish()`` on every path,
/// also when it fails itself.
///
/// The first piece that fails stops the rest: its error is thrown by the next
/// ``submit(_:)`` and by ``finish()``.
final class BackgroundWork<Resource>: @unchecked Sendable {
    typealias Piece = @Sendable (Resource) throws -> Void

    static var maxQueued: Int { 1 }

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Piece] = []
    private var closing = false
    private var done = false
    private var failure: (any Error)?

    /// The resource as the thread holds it.
    private struct Lent: @unchecked Sendable {
        let resource: Resource
    }

    init(name: String, lending resource: Resource) {
        let lent = Lent(resource: resource)
        let thread = Thread { [self] in
            while let piece = take() {
                var failed: (any Error)?
                do { try piece(lent.resource) } catch { failed = error }
                condition.lock()
                if let failed, failure == nil {
                    failure = failed
                    queue.removeAll()
                }
                condition.broadcast()
                condition.unlock()
            }
            condition.lock()
            done = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The thread's side: the next piece, nil once the caller finished and none is left.
    private func take() -> Piece? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !closing { condition.wait() }
        guard !queue.isEmpty else { return nil }
        let piece = queue.removeFirst()
        condition.broadcast()
        return piece
    }

    /// Queues `piece` (waiting while ``maxQueued`` pieces wait); throws the error of a
    /// piece that failed.
    func submit(_ piece: @escaping Piece) throws {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= Self.maxQueued && failure == nil { condition.wait() }
        if let failure { throw failure }
        precondition(!closing, "BackgroundWork used after finish()")
        queue.append(piece)
        condition.broadcast()
    }

    /// Waits until every piece queued is done and the thread has ended; throws the error
    /// of a piece that failed (the pieces after it were not run).
    func finish() throws {
        condition.lock()
        defer { condition.unlock() }
        closing = true
        condition.broadcast()
        while !done { condition.wait() }
        if let failure { throw failure }
    }
}
