import DirectoryModel
import SyncEngine
#if canImport(Glibc)
import Glibc
#endif

/// LDIF change records (RFC 2849) for `plan --ldif`.
enum LDIFWriter {
    static func modify(dn: String, changes: [LDAPAttributeChange]) -> String {
        var text = line("dn", Array(dn.utf8)) + "changetype: modify\n"
        for change in changes {
            let name = change.attribute.description
            if let replace = change.replace {
                text += "replace: \(name)\n" + replace.map { line(name, $0) }.joined() + "-\n"
                continue
            }
            if !change.delete.isEmpty { text += "delete: \(name)\n" + change.delete.map { line(name, $0) }.joined() + "-\n" }
            if !change.add.isEmpty { text += "add: \(name)\n" + change.add.map { line(name, $0) }.joined() + "-\n" }
        }
        return text + "\n"
    }

    /// `name: value`, or `name:: base64` when the value is not a safe string (RFC 2849).
    static func line(_ name: String, _ value: [UInt8]) -> String {
        let safe = !value.isEmpty && value.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
            && value.first != UInt8(ascii: " ") && value.first != UInt8(ascii: ":") && value.first != UInt8(ascii: "<")
            && value.last != UInt8(ascii: " ")
        if safe { return "\(name): \(String(decoding: value, as: UTF8.self))\n" }
        return "\(name):: \(base64(value))\n"
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = (UInt32(chunk[0]) << 16) | (UInt32(chunk.count > 1 ? chunk[1] : 0) << 8) | UInt32(chunk.count > 2 ? chunk[2] : 0)
            output.append(alphabet[Int(value >> 18 & 63)])
            output.append(alphabet[Int(value >> 12 & 63)])
            output.append(chunk.count > 1 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            output.append(chunk.count > 2 ? alphabet[Int(value & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension String {
    /// Writes the text to a file (created 0600, replaced if present).
    func write(toFile path: String) throws(RunError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .configuration("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let bytes = Array(utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw .configuration("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += count
        }
    }
}
