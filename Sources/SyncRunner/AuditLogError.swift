#if canImport(Glibc)
import Glibc
#endif

/// Why the audit log could not be opened, written or synced. Its description names the
/// path and the system's message, or the command that fixes the file; never a value.
public struct AuditLogError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The system call that failed.
    public enum Operation: String, Sendable {
        /// `mkdir` of a missing parent directory (``AuditLogError/path`` is that directory).
        case createDirectory
        case open
        /// `fstat` or `pread` of the open file.
        case inspect
        /// `flock`, which keeps the lines of two processes sharing one log apart.
        case lock
        case write
        case sync
        /// fsync of a directory in which the file or a directory was created
        /// (``AuditLogError/path`` is that directory).
        case syncDirectory
    }

    public enum Reason: Equatable, Sendable {
        /// A system call failed with this `errno`.
        case system(Operation, code: Int32)
        /// The path names a directory, device, FIFO or socket.
        case notRegularFile
        /// The existing file is readable or writable by its group or others; `mode` holds
        /// the permission bits (`0o640`).
        case exposed(mode: UInt32)
    }

    /// The file or directory concerned.
    public var path: String
    public var reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// The `errno` of a failed system call.
    public var code: Int32? {
        if case .system(_, let code) = reason { return code }
        return nil
    }

    public var description: String {
        switch reason {
        case .system(let operation, let code):
            let system = String(cString: strerror(code))
            return switch operation {
            case .createDirectory: "cannot create the audit log directory \(path): \(system)"
            case .open: "cannot open the audit log \(path): \(system)"
            case .inspect: "cannot read the status of the audit log \(path): \(system)"
            case .lock: "cannot lock the audit log \(path): \(system)"
            case .write: "cannot write the audit log \(path): \(system)"
            case .sync: "cannot fsync the audit log \(path): \(system); the lines written since the last flush may not be on disk"
            case .syncDirectory: "cannot fsync the audit log directory \(path): \(system)"
            }
        case .notRegularFile:
            return "the audit log \(path) is not a regular file"
        case .exposed(let mode):
            var access: [String] = []
            if mode & 0o040 != 0 { access.append("readable by its group") }
            if mode & 0o004 != 0 { access.append("readable by everyone") }
            if mode & 0o020 != 0 { access.append("writable by its group") }
            if mode & 0o002 != 0 { access.append("writable by everyone") }
            let octal = String(mode & 0o7777, radix: 8)
            return "the audit log \(path) is \(access.joined(separator: " and ")) (mode 0\(octal)); run chmod 600 \(Self.shellQuoted(path))"
        }
    }

    /// `path` as a shell word, quoted only when it needs to be.
    static func shellQuoted(_ path: String) -> String {
        let plain = !path.isEmpty && path.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "/._-+,:@%".unicodeScalars.contains($0))
        }
        if plain { return path }
        return "'" + path.replacing("'", with: "'\\''") + "'"
    }
}
