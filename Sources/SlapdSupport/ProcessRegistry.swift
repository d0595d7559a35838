import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Every slapd this process started and has not yet seen exit, and every server
/// directory not yet removed, so that an ending test process leaves nothing behind.
///
/// An `atexit` handler, installed with the first server, SIGKILLs the registered pids
/// and removes the directories. It covers a normal `exit` (the end of `swift test`, a
/// test that forgot its server in a global); it cannot cover a process killed by a
/// signal, which runs no handlers at all.
package enum ProcessRegistry {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var pids: Set<pid_t> = []  // guarded by lock
    nonisolated(unsafe) private static var directories: Set<String> = []  // guarded by lock

    /// Installs the exit handler once; Swift runs a static initializer exactly once.
    private static let exitHandlerInstalled: Bool = {
        atexit { ProcessRegistry.cleanUpAtExit() } == 0
    }()

    package static func installExitHandler() {
        _ = exitHandlerInstalled
    }

    package static func register(pid: pid_t) {
        lock.withLock { _ = pids.insert(pid) }
    }

    package static func unregister(pid: pid_t) {
        lock.withLock { _ = pids.remove(pid) }
    }

    package static func register(directory: URL) {
        lock.withLock { _ = directories.insert(directory.path) }
    }

    package static func unregister(directory: URL) {
        lock.withLock { _ = directories.remove(directory.path) }
    }

    /// The pids of the slapd processes this process started that are still running.
    static var runningPIDs: Set<pid_t> {
        lock.withLock { pids }
    }

    private static func cleanUpAtExit() {
        // Another thread may hold the lock when exit() is called; do not wait for it forever.
        let locked = lock.lock(before: Date(timeIntervalSinceNow: 1))
        let (pids, directories) = (Self.pids, Self.directories)
        if locked { lock.unlock() }
        for pid in pids { kill(pid, SIGKILL) }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }
}
