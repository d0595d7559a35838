#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads small files (the configuration, password files) with the checks they need,
/// on the open descriptor so that the file checked is the file read.
enum FileAccess {
    /// What `fstat` said about an open file.
    struct Status {
        var isRegular: Bool
        /// The permission bits (`0o640`).
        var permissions: UInt32
    }

    /// Why a file was not read.
    enum Problem: Error {
        /// `check` refused the file with this message.
        case refused(String)
        /// The system's message (`No such file or directory`).
        case system(String)
    }

    /// The whole contents of `path`, after `check` accepted its status (a non-nil
    /// result refuses the file with that message). Symbolic links are followed.
    static func read(_ path: String, check: (Status) -> String?) -> Result<[UInt8], Problem> {
        // O_NONBLOCK: opening a FIFO put where a file was expected must not hang the
        // run; it is refused below as not a regular file.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return .failure(.system(systemMessage(errno))) }
        defer { close(descriptor) }

        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return .failure(.system(systemMessage(errno))) }
        let status = Status(
            isRegular: (UInt32(info.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFREG),
            permissions: UInt32(info.st_mode) & 0o7777)
        if let refusal = check(status) { return .failure(.refused(refusal)) }

        var contents: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glue.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.system(systemMessage(errno)))
            }
            if count == 0 { break }
            contents.append(contentsOf: buffer[..<count])
        }
        return .success(contents)
    }

    /// Whether something exists at `path` (following symbolic links).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    private static func systemMessage(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// The C library's `read`, which `FileAccess.read` shadows.
private enum Glue {
    static func read(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.read(descriptor, buffer, count)
        #elseif canImport(Musl)
        Musl.read(descriptor, buffer, count)
        #else
        Darwin.read(descriptor, buffer, count)
        #endif
    }
}

extension FileAccess {
    /// The process's working directory, "/" if it cannot be read.
    static func currentDirectory() -> String {
        guard let buffer = getcwd(nil, 0) else { return "/" }
        defer { free(buffer) }
        return String(cString: buffer)
    }
}
