#if canImport(Glibc)
import Glibc
#endif

/// A file written whole or not at all: a reader (node_exporter's textfile collector, a
/// monitoring script reading the report) sees the previous version or the new one, never
/// a half-written file, even when the machine crashes.
///
/// The bytes go to a temporary file in the same directory (same file system, so the
/// rename is atomic) whose name does not end in `.prom` or `.json` (the textfile collector
/// reads only `*.prom`); it is fsync'd, renamed over the target, and the directory is
/// fsync'd so that the rename itself survives a crash.
public enum AtomicFile {
    /// Writes `bytes` to `path` with permissions `mode` (not narrowed by the umask).
    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t) throws(AtomicFileError) {
        let directory = parentDirectory(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? path
        var generator = SystemRandomNumberGenerator()
        let temporary = directory + "/." + name + ".tmp-" + String(generator.next() as UInt32, radix: 16)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw AtomicFileError(path: path, step: "create \(temporary)", errno: errno) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(descriptor) }
            guard fchmod(descriptor, mode) == 0 else { throw AtomicFileError(path: path, step: "chmod \(temporary)", errno: errno) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw AtomicFileError(path: path, step: "write \(temporary)", errno: errno)
                }
                offset += written
            }
            guard fsync(descriptor) == 0 else { throw AtomicFileError(path: path, step: "fsync \(temporary)", errno: errno) }
        }
        guard rename(temporary, path) == 0 else { throw AtomicFileError(path: path, step: "rename \(temporary) to \(path)", errno: errno) }
        renamed = true
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryDescriptor >= 0 else { throw AtomicFileError(path: path, step: "open \(directory)", errno: errno) }
        defer { close(directoryDescriptor) }
        guard fsync(directoryDescriptor) == 0 else { throw AtomicFileError(path: path, step: "fsync \(directory)", errno: errno) }
    }

    /// Checks before a run that `path` can be written later: its directory exists and is
    /// writable, and `path` is not a directory.
    public static func checkWritable(_ path: String) throws(AtomicFileError) {
        let directory = parentDirectory(of: path)
        guard directoryExists(directory) else { throw AtomicFileError(path: path, step: "find the directory \(directory)", errno: ENOENT) }
        guard access(directory, W_OK) == 0 else { throw AtomicFileError(path: path, step: "write into \(directory)", errno: errno) }
        guard !directoryExists(path) else { throw AtomicFileError(path: path, step: "replace it", errno: EISDIR) }
    }

    /// The whole file, or nil when it does not exist.
    static func read(_ path: String) throws(AtomicFileError) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw AtomicFileError(path: path, step: "open", errno: errno)
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AtomicFileError(path: path, step: "read", errno: errno)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }
}

/// A file that could not be written: which file, which step, and the system's reason.
public struct AtomicFileError: Error, CustomStringConvertible {
    public var path: String
    public var step: String
    public var errno: Int32
    public var description: String { "\(path): cannot \(step): \(String(cString: strerror(errno)))" }
}
