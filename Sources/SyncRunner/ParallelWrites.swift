import Dispatch
import LDAPClient
import Synchronization

/// Write-back over several connections at once (SPEC §8): slapd applies the writes of
/// one connection one after the other, so a second connection lets it use a second
/// core. The writes of one run are independent (one modify per entry), so spreading
/// them changes no outcome; each connection pipelines its share like one would.
enum ParallelWrites {
    /// Operations in flight per connection: measured best against slapd here
    /// (docs/benchmarks.md, write-back).
    static let window = 8
    /// Below this many writes, one connection: a second bind would cost more than it saves.
    static let parallelFrom = 500

    /// Sends `operations` over `connections` (operation i over connection i mod count),
    /// and returns each one's outcome, in the order of `operations`.
    static func send(_ operations: [WriteOperation], over connections: [LDAPConnection]) -> [Result<Void, LDAPError>] {
        let count = connections.count
        let outcomes = Outcomes(count: operations.count)
        if count <= 1 {
            connections.first?.pipeline(operations, window: window) { index, result in outcomes.set(index, result) }
            return outcomes.results
        }
        // Each connection is used by one thread only, and by no other until all are done
        // (libldap is thread-safe across handles; LDAPConnection is not Sendable because
        // one handle must not be shared).
        nonisolated(unsafe) let owned = connections
        DispatchQueue.concurrentPerform(iterations: count) { shard in
            let indices = Array(stride(from: shard, to: operations.count, by: count))
            owned[shard].pipeline(indices.map { operations[$0] }, window: window) { index, result in
                outcomes.set(indices[index], result)
            }
        }
        return outcomes.results
    }

    /// The outcomes, filled from several threads.
    private final class Outcomes: Sendable {
        private let storage: Mutex<[Result<Void, LDAPError>?]>
        init(count: Int) { storage = Mutex(Array(repeating: nil, count: count)) }
        func set(_ index: Int, _ result: Result<Void, LDAPError>) { storage.withLock { $0[index] = result } }
        /// `pipeline` completes every operation exactly once; one that did not would be
        /// reported as not sent rather than taken for written.
        var results: [Result<Void, LDAPError>] {
            storage.withLock { outcomes in
                outcomes.map { $0 ?? .failure(LDAPError(operation: "modify", code: .other, diagnostic: "no answer was recorded for this write")) }
            }
        }
    }
}
