import Foundation
import StateStore
@testable import SyncRunner
import Testing

/// The group read's staging thread (``BackgroundWork``) and the byte order of the
/// strings it is handed (``PackedByteStrings``).
@Suite struct BackgroundWorkTests {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var entries: [Int] = []
        func append(_ entry: Int) { lock.withLock { entries.append(entry) } }
        var all: [Int] { lock.withLock { entries } }
    }

    struct Refused: Error, Equatable {
        var piece: Int
    }

    @Test func piecesRunInOrderOnAnotherThreadWithTheResourceLent() throws {
        let log = Log()
        let work = BackgroundWork(name: "test", lending: log)
        let caller = pthread_self()
        let ranElsewhere = Log()
        for piece in 0..<50 {
            try work.submit { log in
                if pthread_equal(pthread_self(), caller) == 0 { ranElsewhere.append(piece) }
                log.append(piece)
            }
        }
        try work.finish()
        #expect(log.all == Array(0..<50))
        #expect(ranElsewhere.all.count == 50)
    }

    @Test func theFirstFailureStopsTheRestAndIsThrownBySubmitAndFinish() throws {
        let log = Log()
        let work = BackgroundWork(name: "test", lending: log)
        try work.submit { log in log.append(1) }
        try work.submit { _ in throw Refused(piece: 2) }
        // Submits either queue behind the failure (never run) or see it.
        var seen: Refused?
        for piece in 3...20 {
            do { try work.submit { log in log.append(piece) } } catch let error as Refused {
                seen = error
                break
            }
            Thread.sleep(forTimeInterval: 0.001)
        }
        #expect(seen == Refused(piece: 2))
        #expect(throws: Refused(piece: 2)) { try work.finish() }
        #expect(log.all == [1])
    }

    @Test func finishWaitsForWhatIsQueued() throws {
        let log = Log()
        let work = BackgroundWork(name: "test", lending: log)
        for piece in 0..<3 {
            try work.submit { log in
                Thread.sleep(forTimeInterval: 0.02)
                log.append(piece)
            }
        }
        try work.finish()
        #expect(log.all == [0, 1, 2])
    }

    @Test func packedStringsSortInLMDBKeyOrder() {
        let strings: [[UInt8]] = [[2], [1, 255], [], [1], [1, 0], [0, 9, 9], [255], [1, 0]]
        var packed = PackedByteStrings(capacity: strings.count)
        for string in strings { packed.append { $0.writeBytes(string) } }
        packed.sort()
        var sorted: [[UInt8]] = []
        packed.forEach { sorted.append(Array($0)) }
        #expect(packed.count == strings.count)
        #expect(sorted == [[], [0, 9, 9], [1], [1, 0], [1, 0], [1, 255], [2], [255]])
    }
}
