import Foundation
import Testing
@testable import SyncConfig

/// The smallest valid file: version, one directory with name, url, bind and users.base.
let minimalYAML = """
    version: 1
    directories:
      - name: corp
        url: ldaps://dc1.example.com
        bind: { dn: "cn=sync,ou=services,dc=example,dc=com", passwordFile: corp.pw }
        users:
          base: "ou=people,dc=example,dc=com"

    """

/// Where test configurations claim to live, so that relative paths resolve predictably.
let testSourcePath = "/srv/ldapsync/ldapsync.yaml"

func load(_ yaml: String, sourcePath: String = testSourcePath) throws(ConfigurationError) -> Configuration {
    try ConfigurationLoader.load(yaml: yaml, sourcePath: sourcePath)
}

/// The error loading `yaml` throws; records an issue when it loads.
func loadError(_ yaml: String, sourcePath: String = "ldapsync.yaml",
               sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationError? {
    do {
        _ = try ConfigurationLoader.load(yaml: yaml, sourcePath: sourcePath)
        Issue.record("loaded, but an error was expected", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// An error expected at `line` and `keyPath`, with `message` in its text.
struct ErrorCase: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    var line: Int
    var keyPath: String
    var message: String

    init(_ name: String, _ yaml: String, line: Int, _ keyPath: String, _ message: String) {
        self.name = name
        self.yaml = yaml
        self.line = line
        self.keyPath = keyPath
        self.message = message
    }

    var testDescription: String { name }

    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        guard let error = loadError(yaml, sourceLocation: sourceLocation) else { return }
        #expect(error.file == "ldapsync.yaml", sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.keyPath == keyPath, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.hasPrefix("ldapsync.yaml:\(line):"), "\(error)", sourceLocation: sourceLocation)
    }
}

/// A private temporary directory, removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "ldapsync-config-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `contents` to `name` in the directory with `mode`; returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String, mode: Int = 0o600) throws -> String {
        let file = path + "/" + name
        try Data(contents.utf8).write(to: URL(fileURLWithPath: file))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return file
    }
}
