import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command-line tool to completion with a timeout, capturing its output.
///
/// Output goes to temporary files rather than pipes on purpose: a pipe's write end
/// that leaks into another child (Foundation's `Process` closes inherited descriptors
/// only up to the highest one open when it spawns, so a pipe opened concurrently by
/// another thread can slip through) would keep the reader waiting for an end of file
/// that only comes when that other child, possibly a long-lived slapd, exits.
public enum ExternalCommand {
    /// How a finished command ended.
    public struct Result: Sendable {
        /// The exit status, or the signal number when `terminatedBySignal`.
        public let status: Int32
        public let terminatedBySignal: Bool
        public let standardOutput: String
        public let standardError: String

        /// Both streams, stderr last, for error messages.
        public var combinedOutput: String {
            [standardOutput, standardError].filter { !$0.isEmpty }.joined(separator: "\n")
        }
    }

    /// Runs `executable` (a path, or a name looked up in `PATH`) with `arguments`.
    ///
    /// - Parameters:
    ///   - environment: changes to the inherited environment; a `nil` value unsets a variable.
    ///   - standardInput: text fed to the tool's stdin (default: /dev/null).
    ///   - timeout: the tool is killed with SIGKILL and `SlapdError.commandTimedOut` is
    ///     thrown when it runs longer than this.
    /// - Returns: the result whatever the exit status; callers decide what is a failure.
    /// - Important: never put a secret in `arguments` (they are visible in `ps` and
    ///   appear in error messages); pass it in a 0600 file instead (`-y FILE`).
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String?] = [:],
        standardInput: String? = nil,
        timeout: Duration = .seconds(120)
    ) throws -> Result {
        let commandLine = ([executable] + arguments).joined(separator: " ")
        guard let path = resolve(executable) else {
            throw SlapdError.launchFailed(command: commandLine, reason: "\(executable) not found in PATH")
        }
        let scratch = try ScratchFiles()
        defer { scratch.remove() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        process.environment = env
        if let standardInput {
            try Data(standardInput.utf8).write(to: scratch.input)
            process.standardInput = try FileHandle(forReadingFrom: scratch.input)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let stdout = try scratch.openForWriting(scratch.output)
        let stderr = try scratch.openForWriting(scratch.error)
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        process.standardOutput = stdout
        process.standardError = stderr

        let watch = ExitWatch()
        process.terminationHandler = { watch.markExited($0) }
        do {
            try runWithEmptySignalMask(process)
        } catch {
            throw SlapdError.launchFailed(command: commandLine, reason: "\(error)")
        }
        let seconds = timeout.seconds
        guard watch.wait(seconds: seconds) else {
            Glibc.kill(process.processIdentifier, SIGKILL)
            if watch.wait(seconds: 10) { releaseExited(process) }
            throw SlapdError.commandTimedOut(command: commandLine, seconds: seconds)
        }
        releaseExited(process)
        let ending = watch.ending!
        return Result(
            status: ending.status,
            terminatedBySignal: ending.bySignal,
            standardOutput: scratch.read(scratch.output),
            standardError: scratch.read(scratch.error)
        )
    }

    /// Like `run`, but throws `SlapdError.commandFailed` unless the tool exits with 0.
    @discardableResult
    static func runChecked(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String?] = [:],
        timeout: Duration = .seconds(120)
    ) throws -> Result {
        let result = try run(executable, arguments, environment: environment, timeout: timeout)
        guard result.status == 0, !result.terminatedBySignal else {
            throw SlapdError.commandFailed(
                command: ([executable] + arguments).joined(separator: " "),
                status: result.status,
                output: tail(result.combinedOutput)
            )
        }
        return result
    }

    /// The absolute path of `executable`, searching `PATH` and then the sbin
    /// directories, which a non-root user's `PATH` often lacks although slapd lives there.
    package static func resolve(_ executable: String) -> String? {
        if executable.contains("/") {
            return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        for directory in directories {
            let candidate = directory + "/" + executable
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Temporary files for one command's stdin, stdout and stderr, in a private directory.
private struct ScratchFiles {
    let directory: URL
    var input: URL { directory.appendingPathComponent("stdin") }
    var output: URL { directory.appendingPathComponent("stdout") }
    var error: URL { directory.appendingPathComponent("stderr") }

    init() throws {
        directory = try makeTemporaryDirectory(prefix: "slapd-cmd.")
    }

    func openForWriting(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw SlapdError.launchFailed(command: url.path, reason: "cannot create output file")
        }
        return try FileHandle(forWritingTo: url)
    }

    func read(_ url: URL) -> String {
        readTextFile(url.path)
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Records how a `Process` ended and lets another thread wait for it with a timeout.
///
/// Set `markExited` as the process's `terminationHandler` before `run()`; Foundation
/// calls it from its own thread after reaping the child, so once `wait` returns true
/// the pid is gone from the process table.
package final class ExitWatch: @unchecked Sendable {
    package struct Ending: Sendable {
        package let status: Int32
        package let bySignal: Bool
    }

    private let condition = NSCondition()
    private var _ending: Ending?  // guarded by condition

    package init() {}

    package var ending: Ending? {
        condition.lock()
        defer { condition.unlock() }
        return _ending
    }

    package func markExited(_ process: Process) {
        let ending = Ending(status: process.terminationStatus, bySignal: process.terminationReason == .uncaughtSignal)
        condition.lock()
        _ending = ending
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until the process has exited; false when `seconds` ran out first.
    package func wait(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while _ending == nil {
            if !condition.wait(until: deadline) { return _ending != nil }
        }
        return true
    }
}

/// The text of the file at `path` from byte `offset` on ("" if it cannot be read),
/// with invalid UTF-8 repaired.
///
/// Plain `read(2)` rather than `FileManager.contents(atPath:)`: on Linux that call
/// mallocs 4 KiB for a file whose size is 0 and never frees it (LeakSanitizer reports
/// it under `make test-asan`), and most captured stderr files are empty.
package func readTextFile(_ path: String, from offset: UInt64 = 0) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { return "" }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count > 0 {
            bytes.append(contentsOf: chunk[..<count])
        } else if count == 0 || errno != EINTR {
            break
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Breaks the reference cycle an exited `Process` keeps with its run-loop source.
///
/// swift-corelibs-foundation's `Process` retains itself through that source until
/// `waitUntilExit()` clears it; a process waited for through `terminationHandler`
/// alone leaks with everything it holds (LeakSanitizer shows it). Call only once the
/// process has exited (`ExitWatch` says so): `isRunning` is false before the handler
/// runs, so `waitUntilExit()` returns at once.
package func releaseExited(_ process: Process) {
    guard !process.isRunning else { return }
    process.waitUntilExit()
    process.terminationHandler = nil
}

/// Launches `process` with no signal blocked.
///
/// `posix_spawn`, which `Process.run()` uses, gives the child the calling thread's
/// signal mask, and libdispatch and Swift concurrency threads block most signals. A
/// slapd launched from a test as-is never sees SIGTERM and cannot be stopped cleanly
/// (observed: `stop()` timed out). The mask is cleared only around the spawn.
package func runWithEmptySignalMask(_ process: Process) throws {
    var empty = sigset_t()
    var previous = sigset_t()
    sigemptyset(&empty)
    let cleared = pthread_sigmask(SIG_SETMASK, &empty, &previous)
    guard cleared == 0 else {
        throw SlapdError.launchFailed(command: "pthread_sigmask", reason: String(cString: strerror(cleared)))
    }
    // Restoring a mask the kernel just returned cannot fail (EINVAL needs a bad `how`).
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    try process.run()
}

/// Creates a fresh 0700 directory under `$TMPDIR` (or /tmp) with `mkdtemp`.
package func makeTemporaryDirectory(prefix: String, base: String? = nil) throws -> URL {
    let root = base ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((root.hasSuffix("/") ? root : root + "/") .appending(prefix + "XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw SlapdError.launchFailed(command: "mkdtemp \(root)", reason: String(cString: strerror(errno)))
    }
    return URL(fileURLWithPath: String(cString: made), isDirectory: true)
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
