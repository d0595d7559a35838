import Foundation
import Testing
@testable import AppStore

/// The commit mark (SPEC I1): the app transaction records which run committed it, so the
/// run after a crash can tell whether a dead run's app changes are in the app.
@Suite struct CommitMarkTests {
    private func create(_ key: String) -> AppChange {
        .create(AppUser(key: key, managed: true, active: true, values: [:]))
    }

    @Test(arguments: Backend.available)
    func aMarkedTransactionRecordsItsRunPerDirectory(backend: Backend) throws {
        try withStore(backend) { store, _ in
            #expect(try store.committedRun(of: "corp") == nil)
            var delivered = false
            try store.apply(streaming: {
                defer { delivered = true }
                return delivered ? nil : [create("a")]
            }, mark: CommitMark(directory: "corp", runID: "run-1"))
            #expect(try store.committedRun(of: "corp") == "run-1")
            #expect(try store.committedRun(of: "other") == nil)
            // A later run of the same directory replaces the mark; another directory has its own.
            try store.apply(streaming: { nil }, mark: CommitMark(directory: "corp", runID: "run-2"))
            try store.apply(streaming: { nil }, mark: CommitMark(directory: "other", runID: "run-3"))
            #expect(try store.committedRun(of: "corp") == "run-2")
            #expect(try store.committedRun(of: "other") == "run-3")
            #expect(try store.users(withKeys: ["a"]).count == 1)
        }
    }

    @Test(arguments: Backend.available)
    func aTransactionRolledBackLeavesNoMark(backend: Backend) throws {
        try withStore(backend) { store, _ in
            try store.apply(streaming: { nil }, mark: CommitMark(directory: "corp", runID: "before"))
            var batches = 0
            #expect(throws: AppStoreError.self) {
                try store.apply(streaming: {
                    defer { batches += 1 }
                    // The second create of "a" fails: the whole transaction rolls back.
                    return batches < 2 ? [create("a")] : nil
                }, mark: CommitMark(directory: "corp", runID: "failed"))
            }
            #expect(try store.committedRun(of: "corp") == "before")
            #expect(try store.users(withKeys: ["a"]).isEmpty)
        }
    }

    @Test(arguments: Backend.available)
    func anUnmarkedTransactionDoesNotCreateTheTable(backend: Backend) throws {
        try withStore(backend) { store, raw in
            try store.apply([create("a")])
            #expect(try store.committedRun(of: "corp") == nil)
            #expect(try !raw.dump().contains { $0.contains(CommitMark.table) })
        }
    }
}
