import DirectoryModel
import Foundation
@testable import SyncRunner
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The audit log (SPEC §11, §12, I8): one JSON line per write attempted, a file only its
/// owner can read, and no value of a sensitive attribute in it.
@Suite struct AuditLogTests {
    // MARK: - The file

    @Test func createsTheFileWithMode0600AndMissingDirectoriesWith0700() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/log/ldapsync/audit.jsonl"

        let log = try AuditLog(path: path)
        try log.append(record())
        try log.flush()

        #expect(try permissions(path) == 0o600)
        #expect(try permissions(temporary.path + "/log/ldapsync") == 0o700)
        #expect(try permissions(temporary.path + "/log") == 0o700)
    }

    @Test func aSecondLogAppendsAfterTheLinesOfTheFirst() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"

        let first = try AuditLog(path: path)
        try first.append(record(key: "alice"))
        try first.append(record(key: "bob"))
        try first.flush()
        let second = try AuditLog(path: path)
        try second.append(record(key: "carol"))
        try second.flush()

        #expect(try lines(path).map { $0["key"] as? String } == ["alice", "bob", "carol"])
    }

    @Test func linesAreWrittenOnlyByFlushAndOneLinePerRecord() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let log = try AuditLog(path: path)

        for index in 0..<250 { try log.append(record(key: "user\(index)")) }
        #expect(try contents(path).isEmpty)
        try log.flush()

        let written = try lines(path)
        #expect(written.count == 250)
        #expect(written.last?["key"] as? String == "user249")
        #expect(log.pendingByteCount == 0)
        try log.flush()
        #expect(try lines(path).count == 250)
    }

    @Test func aLargeBufferIsWrittenBeforeTheFlushAndSyncedByIt() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let log = try AuditLog(path: path, writeThreshold: 4096)

        for index in 0..<100 { try log.append(record(key: "user\(index)")) }
        #expect(try !contents(path).isEmpty)
        #expect(log.pendingByteCount < 4096)
        try log.flush()

        #expect(try lines(path).count == 100)
    }

    @Test(arguments: [0o640, 0o604, 0o644, 0o620, 0o602, 0o660])
    func refusesAnExistingFileThatOthersCanReadOrWrite(mode: Int) throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit log.jsonl"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("{}\n".utf8)))
        #expect(chmod(path, mode_t(mode)) == 0)

        let error = try #require(throws: AuditLogError.self) { try AuditLog(path: path) }

        #expect(error.reason == .exposed(mode: UInt32(mode)))
        #expect(error.description.contains(path))
        #expect(error.description.contains("mode 0\(String(mode, radix: 8))"))
        #expect(error.description.hasSuffix("run chmod 600 '\(path)'"))
        #expect(try contents(path) == "{}\n")
    }

    @Test func anOwnerOnlyFileIsNotRefusedForItsMode() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o400]))

        // Root writes it anyway; anyone else is told why not.
        if geteuid() == 0 {
            _ = try AuditLog(path: path)
        } else {
            let error = try #require(throws: AuditLogError.self) { try AuditLog(path: path) }
            #expect(error.reason == .system(.open, code: EACCES))
        }
    }

    @Test(.disabled(if: geteuid() == 0, "root writes into a read-only directory"))
    func aReadOnlyDirectoryIsAClearError() throws {
        let temporary = try AuditTemporaryDirectory()
        let directory = temporary.path + "/readonly"
        #expect(mkdir(directory, 0o500) == 0)
        defer { chmod(directory, 0o700) }

        let error = try #require(throws: AuditLogError.self) { try AuditLog(path: directory + "/audit.jsonl") }

        #expect(error.reason == .system(.open, code: EACCES))
        #expect(error.description == "cannot open the audit log \(directory)/audit.jsonl: Permission denied")
    }

    @Test func aFileWhereADirectoryShouldBeIsAClearError() throws {
        let temporary = try AuditTemporaryDirectory()
        let file = temporary.path + "/log"
        #expect(FileManager.default.createFile(atPath: file, contents: nil))

        let error = try #require(throws: AuditLogError.self) { try AuditLog(path: file + "/ldapsync/audit.jsonl") }

        #expect(error.path == file + "/ldapsync")
        #expect(error.description == "cannot create the audit log directory \(file)/ldapsync: Not a directory")
    }

    @Test func aDirectoryWhereTheFileShouldBeIsAClearError() throws {
        let temporary = try AuditTemporaryDirectory()

        let error = try #require(throws: AuditLogError.self) { try AuditLog(path: temporary.path) }

        #expect(error.reason == .system(.open, code: EISDIR))
        #expect(error.description == "cannot open the audit log \(temporary.path): Is a directory")
    }

    // MARK: - Failures surface

    @Test func aFullDiskFailsTheFlushAndKeepsTheLines() throws {
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        let log = AuditLog(descriptor: descriptor, path: "/dev/full")
        try log.append(record())
        let buffered = log.pendingByteCount

        let error = try #require(throws: AuditLogError.self) { try log.flush() }

        #expect(error.reason == .system(.write, code: ENOSPC))
        #expect(error.description == "cannot write the audit log /dev/full: No space left on device")
        #expect(log.pendingByteCount == buffered)
        #expect(throws: AuditLogError.self) { try log.flush() }
    }

    @Test func aFailedFsyncFailsThatFlushAndEveryLaterCall() throws {
        // `/dev/null` takes the bytes and refuses fsync (EINVAL).
        let descriptor = open("/dev/null", O_WRONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        let log = AuditLog(descriptor: descriptor, path: "/dev/null")
        try log.append(record())

        let error = try #require(throws: AuditLogError.self) { try log.flush() }

        #expect(error.reason == .system(.sync, code: EINVAL))
        #expect(error.description.hasPrefix("cannot fsync the audit log /dev/null: Invalid argument"))
        #expect(throws: error) { try log.append(record()) }
        #expect(throws: error) { try log.flush() }
    }

    @Test func aWriteCutShortKeepsTheCutLineWholeForTheNextFlush() throws {
        // A non-blocking pipe takes 64 KiB, then refuses with EAGAIN: a short write, then
        // an error, as a disk filling up mid-write gives.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { close(ends[0]) }
        try #require(fcntl(ends[1], F_SETFL, O_NONBLOCK) == 0)
        let log = AuditLog(descriptor: ends[1], path: "pipe")
        for index in 0..<400 { try log.append(record(key: "user\(index)")) }
        let buffered = log.pendingByteCount
        try #require(buffered > 65_536)

        let error = try #require(throws: AuditLogError.self) { try log.flush() }

        #expect(error.reason == .system(.write, code: EAGAIN))
        var taken = [UInt8](repeating: 0, count: buffered)
        let count = read(ends[0], &taken, buffered)
        try #require(count > 0 && count < buffered)
        let lastNewline = try #require(taken[..<count].lastIndex(of: UInt8(ascii: "\n")))
        #expect(log.pendingByteCount == buffered - (lastNewline + 1))

        // The rest arrives whole; a pipe cannot be fsync'd, which fails this flush.
        #expect(throws: AuditLogError(path: "pipe", reason: .system(.sync, code: EINVAL))) { try log.flush() }
        var rest = [UInt8](repeating: 0, count: buffered)
        let restCount = read(ends[0], &rest, buffered)
        try #require(restCount > 0)
        let received = String(decoding: taken[...lastNewline] + rest[..<restCount], as: UTF8.self)
        let keys = try received.split(separator: "\n").map { try object(String($0))["key"] as? String }
        #expect(keys == (0..<400).map { "user\($0)" })
    }

    @Test func aLineCutShortEarlierSpoilsOnlyItself() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let complete = String(decoding: line(record(key: "alice")), as: UTF8.self)
        #expect(FileManager.default.createFile(atPath: path, contents: Data((complete + #"{"time":"2026-11"#).utf8),
                                               attributes: [.posixPermissions: 0o600]))

        let log = try AuditLog(path: path)
        try log.append(record(key: "bob"))
        try log.flush()

        let text = try contents(path).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(text.count == 4)
        #expect(text[1] == #"{"time":"2026-11"#)
        #expect(try object(String(text[2]))["key"] as? String == "bob")
        #expect(text[3].isEmpty)
    }

    /// The lines a first run writes ahead (EarlyAppApply) come after the log's own
    /// buffered lines, on a line of their own after a cut line, and the log appends
    /// after them again. In /dev/shm (another file system) the kernel cannot copy between
    /// the files, and the lines are copied by reads and writes.
    @Test(arguments: ["same", "tmpfs"])
    func linesWrittenAheadAreAppendedAfterTheBufferedOnes(_ place: String) throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let aheadDirectory: AuditTemporaryDirectory? = place == "tmpfs" ? try AuditTemporaryDirectory(in: "/dev/shm") : nil
        let aheadPath = (aheadDirectory?.path ?? temporary.path) + "/ahead.jsonl"
        let complete = String(decoding: line(record(key: "earlier")), as: UTF8.self)
        #expect(FileManager.default.createFile(atPath: path, contents: Data((complete + #"{"time":"2026-11"#).utf8),
                                               attributes: [.posixPermissions: 0o600]))

        let log = try AuditLog(path: path)
        let ahead = try AuditLog(path: aheadPath, writeThreshold: 4096)
        // Past the threshold: some lines are in the file, the rest buffered.
        for index in 0..<3000 { try ahead.append(record(key: "ahead\(index)")) }
        // Nothing buffered in the log: the cut line is ended by the copy itself.
        try log.appendContents(of: ahead)
        try log.append(record(key: "alice"))
        let more = try AuditLog(path: aheadPath + ".2")
        try more.append(record(key: "bob"))
        try log.appendContents(of: more)
        try log.append(record(key: "carol"))
        try log.flush()

        let text = try contents(path).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(text[1] == #"{"time":"2026-11"#)
        let keys = try text.dropFirst(2).dropLast().map { try object(String($0))["key"] as? String }
        #expect(keys == (0..<3000).map { "ahead\($0)" } + ["alice", "bob", "carol"])
        #expect(text.last?.isEmpty == true)
        #expect(try permissions(path) == 0o600)
    }

    // MARK: - The lines

    @Test func aLineHoldsTheKeysInTheirOrderWithTheirValues() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let log = try AuditLog(path: path)
        try log.append(AuditRecord(
            time: Timestamp(seconds: 1_795_793_400, nanoseconds: 500_000_000), runID: "0123456789abcdef",
            side: .ldap, operation: "update", directory: "corp", key: "alice",
            dn: "uid=alice,ou=people,dc=example,dc=org",
            attributes: [
                AuditAttribute(name: "mail", old: ["a@example.org"], new: ["alice@example.org"]),
                AuditAttribute(name: "telephoneNumber", new: ["+1 555 0100", "+1 555 0101"]),
                AuditAttribute(name: "description", old: ["gone"], new: []),
            ],
            outcome: .failure, resultCode: 50, message: "insufficient access"))
        try log.flush()

        let text = try contents(path)
        let keys = ["time", "run", "side", "op", "directory", "key", "dn", "attributes", "outcome", "code", "message"]
        let offsets = try keys.map { key in try #require(text.range(of: "\"\(key)\":")).lowerBound }
        #expect(offsets == offsets.sorted())
        #expect(text.hasPrefix(#"{"time":""# + Timestamp(seconds: 1_795_793_400, nanoseconds: 500_000_000).iso8601 + "\""))

        let line = try #require(try lines(path).first)
        #expect(Set(line.keys) == Set(keys))
        #expect(line["time"] as? String == Timestamp(seconds: 1_795_793_400, nanoseconds: 500_000_000).iso8601)
        #expect(line["run"] as? String == "0123456789abcdef")
        #expect(line["side"] as? String == "ldap")
        #expect(line["op"] as? String == "update")
        #expect(line["directory"] as? String == "corp")
        #expect(line["key"] as? String == "alice")
        #expect(line["dn"] as? String == "uid=alice,ou=people,dc=example,dc=org")
        #expect(line["outcome"] as? String == "failure")
        #expect(line["code"] as? Int == 50)
        #expect(line["message"] as? String == "insufficient access")
        let attributes = try #require(line["attributes"] as? [[String: Any]])
        #expect(attributes.count == 3)
        #expect(attributes[0]["name"] as? String == "mail")
        #expect(attributes[0]["old"] as? [String] == ["a@example.org"])
        #expect(attributes[0]["new"] as? [String] == ["alice@example.org"])
        #expect(attributes[1]["old"] == nil)
        #expect(attributes[1]["new"] as? [String] == ["+1 555 0100", "+1 555 0101"])
        #expect(attributes[2]["new"] as? [String] == [])
    }

    @Test func nilFieldsAreLeftOut() throws {
        let text = String(decoding: line(AuditRecord(
            time: Timestamp(seconds: 0), runID: "r", side: .app, operation: "create", directory: "corp",
            outcome: .skipped)), as: UTF8.self)

        #expect(text == #"{"time":"1970-01-01T00:00:00Z","run":"r","side":"app","op":"create","directory":"corp","attributes":[],"outcome":"skipped"}"# + "\n")
    }

    @Test func valuesOfSensitiveAttributesNeverReachTheFile() throws {
        let temporary = try AuditTemporaryDirectory()
        let path = temporary.path + "/audit.jsonl"
        let secret = "Badge-4711-Zq9"
        let password = "hunter2-Correct-Horse"
        let log = try AuditLog(path: path)
        try log.append(record(
            attributes: [
                AuditAttribute(name: "employeeNumber", old: [secret + "-old", "second", "third"], new: [secret], sensitive: true),
                // No flag: the name is enough.
                AuditAttribute(name: "userPassword", new: [password]),
                AuditAttribute(name: "mail", new: ["alice@example.org"]),
            ],
            message: "value \(secret) rejected; \(password) too"))
        try log.flush()

        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes.range(of: Data(secret.utf8)) == nil)
        #expect(bytes.range(of: Data(password.utf8)) == nil)
        #expect(bytes.range(of: Data("second".utf8)) == nil)

        let line = try #require(try lines(path).first)
        let attributes = try #require(line["attributes"] as? [[String: Any]])
        #expect(attributes[0]["old"] as? [String] == ["<redacted>"])
        #expect(attributes[0]["new"] as? [String] == ["<redacted>"])
        #expect(attributes[1]["new"] as? [String] == ["<redacted>"])
        #expect(attributes[2]["new"] as? [String] == ["alice@example.org"])
        #expect(line["message"] as? String == "value <redacted> rejected; <redacted> too")
    }

    @Test(arguments: ["userPassword", "USERPASSWORD;binary", "unicodePwd", "sambaNTPassword", "pwdHistory",
                      "password_hash", "clientSecret", "krbPrincipalKey", "userPKCS12"])
    func passwordAttributesAreRedactedWithoutTheFlag(name: String) {
        #expect(AuditAttribute(name: name).isRedacted)
    }

    @Test(arguments: ["mail", "cn", "employeeNumber", "memberOf"])
    func otherAttributesAreRedactedOnlyWithTheFlag(name: String) {
        #expect(!AuditAttribute(name: name).isRedacted)
        #expect(AuditAttribute(name: name, sensitive: true).isRedacted)
    }

    @Test(arguments: [
        #"a "quoted" word"#, #"C:\path\to"#, "two\nlines\r\n", "tab\there", "nul\u{0}bell\u{7}escape\u{1B}[31m",
        "del\u{7F}c1\u{85}\u{9B}", "line\u{2028}para\u{2029}", "Müller, José; 山田; 👩🏽‍💻", "e\u{301}", "",
        "\\\"\\n",
    ])
    func stringsRoundTripThroughJSON(value: String) throws {
        let text = line(record(key: value, dn: value, attributes: [AuditAttribute(name: "cn", new: [value])], message: value))

        #expect(text.filter { $0 < 0x20 } == [UInt8(ascii: "\n")])
        #expect(!text.contains(0x7F))
        #expect(text.last == UInt8(ascii: "\n"))
        let object = try object(String(decoding: text.dropLast(), as: UTF8.self))
        #expect(object["key"] as? String == value)
        #expect(object["dn"] as? String == value)
        #expect(object["message"] as? String == value)
        let attributes = try #require(object["attributes"] as? [[String: Any]])
        #expect(attributes.first?["new"] as? [String] == [value])
    }

    @Test func nonASCIIIsWrittenAsUTF8() {
        let text = line(record(key: "Müller 山田"))

        #expect(String(decoding: text, as: UTF8.self).contains(#""key":"Müller 山田""#))
    }

    @Test func runIDsAre16RandomHexDigits() {
        let ids = (0..<100).map { _ in AuditLog.newRunID() }

        #expect(ids.allSatisfy { $0.utf8.count == 16 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
        #expect(Set(ids).count == 100)
    }

    @Test(arguments: [
        ("/var/log/ldapsync/audit.jsonl", "/var/log/ldapsync"), ("/audit.jsonl", "/"), ("audit.jsonl", "."),
        ("log//audit.jsonl", "log"), ("./audit.jsonl", "."),
    ])
    func parentDirectory(path: String, parent: String) {
        #expect(AuditLog.parentDirectory(of: path) == parent)
    }
}

// MARK: - Helpers

private func record(key: String? = "alice", dn: String? = "uid=alice,ou=people,dc=example,dc=org",
                    attributes: [AuditAttribute] = [AuditAttribute(name: "mail", new: ["alice@example.org"])],
                    message: String? = nil) -> AuditRecord {
    AuditRecord(time: Timestamp(seconds: 1_795_793_400), runID: "0123456789abcdef", side: .app, operation: "update",
                directory: "corp", key: key, dn: dn, attributes: attributes, outcome: .success, message: message)
}

private func line(_ record: AuditRecord) -> [UInt8] {
    var output: [UInt8] = []
    AuditJSON.appendLine(record, to: &output)
    return output
}

private func contents(_ path: String) throws -> String {
    String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
}

/// Each line of the file as a JSON object; the file ends with a newline.
private func lines(_ path: String) throws -> [[String: Any]] {
    let text = try contents(path)
    #expect(text.isEmpty || text.hasSuffix("\n"))
    return try text.split(separator: "\n").map { try object(String($0)) }
}

private func object(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

private func permissions(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return try #require(attributes[.posixPermissions] as? Int)
}

/// A fresh directory under the system's temporary directory, removed with its contents.
private final class AuditTemporaryDirectory {
    let path: String

    init(in parent: String = FileManager.default.temporaryDirectory.path) throws {
        path = parent + "/ldapsync-audit-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}
