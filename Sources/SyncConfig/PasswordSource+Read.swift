import DirectoryModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension PasswordSource {
    /// Reads the password (SPEC §12).
    ///
    /// - A file must exist, be a regular file (symbolic links are followed) and not be
    ///   readable by its group or others; its contents, less one trailing newline
    ///   (`\n` or `\r\n`, as editors and `echo` leave), are the password, which must not
    ///   be empty.
    /// - An environment variable must be set and not empty.
    ///
    /// Errors name the file or variable and `keyPath` (such as
    /// `directories[0].bind.passwordFile`), never the password.
    /// - Parameter configurationFile: the configuration file, to name in errors.
    public func read(keyPath: String, configurationFile: String? = nil) throws(ConfigurationError) -> Secret {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(file: configurationFile ?? "", line: nil, keyPath: keyPath, message: message)
        }
        switch self {
        case .file(let path):
            let result = FileAccess.read(path) { status in
                guard status.isRegular else { return "\(path) is not a regular file" }
                guard status.permissions & 0o044 == 0 else {
                    let mode = String(status.permissions & 0o777, radix: 8)
                    let who = status.permissions & 0o004 != 0 ? "everyone" : "its group"
                    return "the password file \(path) is readable by \(who) (mode 0\(mode)); run chmod 600 \(path)"
                }
                return nil
            }
            var bytes: [UInt8]
            switch result {
            case .success(let contents): bytes = contents
            case .failure(.refused(let message)): throw failure(message)
            case .failure(.system(let message)): throw failure("cannot read the password file \(path): \(message)")
            }
            if bytes.last == UInt8(ascii: "\n") {
                bytes.removeLast()
                if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            }
            guard !bytes.isEmpty else { throw failure("the password file \(path) is empty") }
            return Secret(bytes)
        case .environment(let name):
            guard let value = getenv(name) else {
                throw failure("the environment variable \(name) is not set")
            }
            // The variable's bytes as they are: a password need not be UTF-8.
            let bytes = Array(UnsafeRawBufferPointer(start: value, count: strlen(value)))
            guard !bytes.isEmpty else { throw failure("the environment variable \(name) is empty") }
            return Secret(bytes)
        }
    }
}
