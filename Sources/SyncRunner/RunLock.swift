#if canImport(Glibc)
import Glibc
#endif

/// The run lock: an exclusive `flock` on `<state>/ldapsync.lock`, holding the pid of the
/// run. The kernel releases it when the process ends, however it ends, so a killed run
/// never leaves a stale lock.
final class RunLock {
    private let descriptor: Int32

    /// Takes the lock or throws ``RunError/locked(_:)`` naming the holder's pid.
    init(directory: String) throws(RunError) {
        let path = directory + "/ldapsync.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .stateStore("cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = RunLock.readPID(descriptor)
            close(descriptor)
            throw .locked("another ldapsync run holds the lock \(path)" + (holder.map { " (pid \($0))" } ?? ""))
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.descriptor = descriptor
    }

    deinit {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    private static func readPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: " \n"))
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        return String(drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
