import DirectoryModel
import Foundation
import Testing
@testable import SyncConfig

/// Reading the configuration and password files, and resolving relative paths.
@Suite struct FileTests {
    // MARK: Password files and variables

    @Test func passwordFileLosesOneTrailingNewline() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("corp.pw", "s3cret\n\n")
        #expect(try PasswordSource.file(path).read(keyPath: "bind.passwordFile") == Secret("s3cret\n"))
        try directory.write("crlf.pw", "s3cret\r\n")
        #expect(try PasswordSource.file(directory.path + "/crlf.pw").read(keyPath: "k") == Secret("s3cret"))
        try directory.write("bare.pw", "s3cret")
        #expect(try PasswordSource.file(directory.path + "/bare.pw").read(keyPath: "k") == Secret("s3cret"))
    }

    @Test(arguments: [0o640, 0o604, 0o644, 0o660]) func groupOrWorldReadablePasswordFileIsRefused(_ mode: Int) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("corp.pw", "s3cret\n", mode: mode)
        let error = try #require(throws: ConfigurationError.self) {
            try PasswordSource.file(path).read(keyPath: "directories[0].bind.passwordFile", configurationFile: "ldapsync.yaml")
        }
        #expect(error.keyPath == "directories[0].bind.passwordFile")
        #expect(error.message.contains("run chmod 600 \(path)"))
        #expect(error.message.contains("(mode 0\(String(mode, radix: 8)))"))
        #expect(error.description.hasPrefix("ldapsync.yaml: directories[0].bind.passwordFile: the password file \(path) is readable by"))
        #expect(!error.description.contains("s3cret"))
    }

    @Test(arguments: [0o600, 0o400, 0o620]) func ownerOnlyPasswordFileIsRead(_ mode: Int) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("corp.pw", "s3cret\n", mode: mode)
        #expect(try PasswordSource.file(path).read(keyPath: "k") == Secret("s3cret"))
    }

    @Test func missingPasswordFileIsNamed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/missing.pw"
        let error = try #require(throws: ConfigurationError.self) {
            try PasswordSource.file(path).read(keyPath: "directories[0].bind.passwordFile")
        }
        #expect(error.message == "cannot read the password file \(path): No such file or directory")
        #expect(error.description == "directories[0].bind.passwordFile: cannot read the password file \(path): No such file or directory")
    }

    @Test func emptyPasswordFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("corp.pw", "\n")
        let error = try #require(throws: ConfigurationError.self) { try PasswordSource.file(path).read(keyPath: "k") }
        #expect(error.message == "the password file \(path) is empty")
    }

    @Test func passwordFileMustBeARegularFile() throws {
        let directory = try TemporaryDirectory()
        let error = try #require(throws: ConfigurationError.self) { try PasswordSource.file(directory.path).read(keyPath: "k") }
        #expect(error.message == "\(directory.path) is not a regular file")
    }

    @Test func passwordFileThatIsAFIFOIsRefusedWithoutHanging() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/corp.pw"
        #expect(mkfifo(path, 0o600) == 0)
        let error = try #require(throws: ConfigurationError.self) { try PasswordSource.file(path).read(keyPath: "k") }
        #expect(error.message == "\(path) is not a regular file")
    }

    @Test func passwordFromTheEnvironmentKeepsItsBytes() throws {
        let name = "LDAPSYNC_TEST_PW_\(UUID().uuidString.prefix(8))"
        setenv(name, "caf\u{E9} s3cret\n", 1)
        defer { unsetenv(name) }
        #expect(try PasswordSource.environment(name).read(keyPath: "k") == Secret("caf\u{E9} s3cret\n"))
    }

    @Test func passwordFileThroughASymbolicLinkIsChecked() throws {
        let directory = try TemporaryDirectory()
        let target = try directory.write("real.pw", "s3cret\n", mode: 0o644)
        let link = directory.path + "/link.pw"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(throws: ConfigurationError.self) { try PasswordSource.file(link).read(keyPath: "k") }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
        #expect(try PasswordSource.file(link).read(keyPath: "k") == Secret("s3cret"))
    }

    @Test func environmentPassword() throws {
        let name = "LDAPSYNC_TEST_PW_\(UUID().uuidString.prefix(8))"
        let unset = try #require(throws: ConfigurationError.self) {
            try PasswordSource.environment(name).read(keyPath: "directories[0].bind.passwordEnv")
        }
        #expect(unset.message == "the environment variable \(name) is not set")
        setenv(name, "", 1)
        let empty = try #require(throws: ConfigurationError.self) { try PasswordSource.environment(name).read(keyPath: "k") }
        #expect(empty.message == "the environment variable \(name) is empty")
        setenv(name, "s3cret", 1)
        defer { unsetenv(name) }
        #expect(try PasswordSource.environment(name).read(keyPath: "k") == Secret("s3cret"))
    }

    // MARK: Paths

    @Test func relativePathsResolveAgainstTheConfigurationFilesDirectory() throws {
        let yaml = minimalYAML.replacingOccurrences(of: "passwordFile: corp.pw", with: "passwordFile: ./secrets/corp.pw") + """
                tls: { caFile: ../ca/corp.pem }
                writeBind: { dn: "cn=w", passwordFile: /etc/ldapsync/writer.pw }
            state: state
            app: { path: data/app.db }
            audit: { path: /var/log/ldapsync/audit.jsonl }

            """
        let configuration = try load(yaml, sourcePath: "/etc/ldapsync/ldapsync.yaml")
        let directory = configuration.directories[0]
        #expect(directory.bind.password == .file("/etc/ldapsync/secrets/corp.pw"))
        #expect(directory.tls.caFile == "/etc/ldapsync/../ca/corp.pem")
        #expect(directory.writeBind?.password == .file("/etc/ldapsync/writer.pw"))
        #expect(configuration.statePath == "/etc/ldapsync/state")
        #expect(configuration.app.kind == .sqlite(path: "/etc/ldapsync/data/app.db"))
        #expect(configuration.audit.path == "/var/log/ldapsync/audit.jsonl")
        #expect(configuration.sourcePath == "/etc/ldapsync/ldapsync.yaml")
    }

    @Test func relativeConfigurationPathResolvesAgainstTheWorkingDirectory() throws {
        let configuration = try load(minimalYAML, sourcePath: "conf/ldapsync.yaml")
        let expected = FileManager.default.currentDirectoryPath + "/conf/corp.pw"
        #expect(configuration.directories[0].bind.password == .file(expected))
        #expect(configuration.sourcePath == "conf/ldapsync.yaml")
    }

    static let resolutions: [(String, String, String)] = [
        ("app.db", "/etc/ldapsync", "/etc/ldapsync/app.db"),
        ("./app.db", "/etc/ldapsync", "/etc/ldapsync/app.db"),
        ("a//b/./c", "/srv", "/srv/a/b/c"),
        ("/abs/./x", "/srv", "/abs/./x"),
        ("x", "/", "/x"),
    ]

    @Test(arguments: resolutions) func resolvesPath(_ path: String, _ directory: String, _ expected: String) {
        #expect(ValueSyntax.resolve(path, against: directory) == expected)
    }

    @Test func directoryOfTheConfigurationFile() {
        #expect(ValueSyntax.directory(of: "/etc/ldapsync/ldapsync.yaml", currentDirectory: "/x") == "/etc/ldapsync")
        #expect(ValueSyntax.directory(of: "./ldapsync.yaml", currentDirectory: "/home/me") == "/home/me")
        #expect(ValueSyntax.directory(of: "/ldapsync.yaml", currentDirectory: "/x") == "/")
    }

    // MARK: Finding and reading the file

    @Test func locateTakesTheExplicitPathThenTheSearchPath() {
        let candidates = ConfigurationLoader.searchPath
        #expect(candidates == ["./ldapsync.yaml", "/etc/ldapsync/ldapsync.yaml"])
        #expect(ConfigurationLoader.locate(explicit: "/opt/x.yaml", candidates: candidates, exists: { _ in true }) == "/opt/x.yaml")
        #expect(ConfigurationLoader.locate(explicit: nil, candidates: candidates, exists: { _ in true }) == "./ldapsync.yaml")
        #expect(ConfigurationLoader.locate(explicit: nil, candidates: candidates, exists: { $0.hasPrefix("/etc") }) == "/etc/ldapsync/ldapsync.yaml")
        #expect(ConfigurationLoader.locate(explicit: nil, candidates: candidates, exists: { _ in false }) == "./ldapsync.yaml")
    }

    @Test func loadsAFileFromDisk() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("ldapsync.yaml", minimalYAML, mode: 0o644)
        let configuration = try ConfigurationLoader.load(path: path)
        #expect(configuration.sourcePath == path)
        #expect(configuration.directories[0].bind.password == .file(directory.path + "/corp.pw"))
    }

    @Test func missingConfigurationFileIsNamed() throws {
        let error = try #require(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(path: "/nonexistent/ldapsync.yaml")
        }
        #expect(error.description == "/nonexistent/ldapsync.yaml: cannot read the configuration file: No such file or directory")
    }

    @Test func configurationFileThatIsADirectoryIsRefused() throws {
        let directory = try TemporaryDirectory()
        let error = try #require(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: directory.path) }
        #expect(error.message == "cannot read the configuration file: not a regular file")
    }

    @Test func errorsInAFileOnDiskNameIt() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("ldapsync.yaml", minimalYAML + "    pageSize: many\n", mode: 0o644)
        let error = try #require(throws: ConfigurationError.self) { try ConfigurationLoader.load(path: path) }
        #expect(error.description.hasPrefix("\(path):8:15: directories[0].pageSize: expected an integer"))
    }

    // MARK: YAML syntax

    static let syntaxErrors: [(name: String, yaml: String, line: Int)] = [
        ("tab indentation", "version: 1\ndirectories:\n\t- name: corp\n", 3),
        ("unclosed quote", "version: 1\ndirectories:\n  - name: \"corp\n    url: x\n", 5),
        ("bad indentation", "version: 1\ndirectories:\n  - name: corp\n   url: ldap://x\n", 4),
        ("unclosed flow mapping", "version: 1\nstate: x\napp: { kind: sqlite\naudit: x\n", 4),
        ("two documents", "version: 1\n---\nversion: 1\n", 2),
        ("undefined alias", "version: 1\nstate: *nowhere\n", 2),
    ]

    @Test(arguments: syntaxErrors) func yamlSyntaxErrorNamesTheLine(_ name: String, _ yaml: String, _ line: Int) throws {
        let error = try #require(loadError(yaml))
        #expect(error.line == line, "\(error)")
        #expect(error.keyPath == "")
        #expect(error.description.hasPrefix("ldapsync.yaml:\(line):"), "\(error)")
    }

    @Test func tabIndentationGetsAHint() throws {
        let error = try #require(loadError("version: 1\ndirectories:\n\t- name: corp\n"))
        #expect(error.description.hasPrefix("ldapsync.yaml:3:1: YAML syntax error: found character that cannot start any token"))
        #expect(error.message.hasSuffix("indent with spaces, YAML does not allow tabs"))
    }

    @Test func duplicateKeyIsReportedWithoutPrintingTheDocument() throws {
        let yaml = minimalYAML + "    users: { base: \"dc=other\" }\n"
        let error = try #require(loadError(yaml))
        #expect(error.line == 6)
        #expect(error.message == "the key 'users' appears more than once in the same mapping; keep one")
        #expect(!error.description.contains("version: 1"))
    }

    @Test func anchorsAndAliasesAreFollowed() throws {
        let configuration = try load("""
            version: 1
            directories:
              - name: east
                url: ldaps://east.example.com
                bind: &bind { dn: "cn=sync,dc=example,dc=com", passwordEnv: LDAP_PW }
                users: { base: "dc=example,dc=com" }
              - name: west
                url: ldaps://west.example.com
                bind: *bind
                users: { base: "dc=example,dc=com" }

            """)
        #expect(configuration.directories[1].bind == BindConfiguration(dn: "cn=sync,dc=example,dc=com", password: .environment("LDAP_PW")))
    }

    @Test func mergeKeysAreNotSupported() throws {
        let error = try #require(loadError(minimalYAML + "    <<: { timeout: 1m }\n"))
        #expect(error.keyPath == "directories[0].<<")
        #expect(error.message.hasPrefix("unknown key."))
    }

    @Test func descriptionFormat() {
        #expect(ConfigurationError(file: "a.yaml", line: 3, column: 7, keyPath: "x.y", message: "bad").description == "a.yaml:3:7: x.y: bad")
        #expect(ConfigurationError(file: "a.yaml", line: 3, keyPath: "x.y", message: "bad").description == "a.yaml:3: x.y: bad")
        #expect(ConfigurationError(file: "a.yaml", line: nil, keyPath: "", message: "bad").description == "a.yaml: bad")
        #expect(ConfigurationError(file: "", line: nil, keyPath: "k", message: "bad").description == "k: bad")
    }

    // MARK: The example

    @Test func exampleConfigurationLoadsAndItsPasswordFileIsRead() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("ldapsync.yaml", ExampleConfiguration.yaml, mode: 0o644)
        try directory.write("corp.pw", "s3cret\n")
        let configuration = try ConfigurationLoader.load(path: path)
        let corp = try #require(configuration.directories.first)
        #expect(corp.name == "corp")
        #expect(corp.groups != nil)
        #expect(configuration.attributes.count == 5)
        #expect(configuration.groups == .rules([
            GroupRule(app: "GrpAE", ldap: "cn=GrpLDAP,ou=groups,dc=example,dc=com"),
            GroupRule(app: "GrpAE_B", ldap: "cn=GrpLDAP_B,ou=groups,dc=example,dc=com"),
        ]))
        #expect(configuration.app.kind == .sqlite(path: directory.path + "/app.db"))
        #expect(try corp.bind.password.read(keyPath: "directories[0].bind.passwordFile") == Secret("s3cret"))
    }

    @Test func exampleConfigurationSpellsOutTheDefaults() throws {
        // Every value the example writes is the default, except the mapping itself
        // (attributes, group rules, the directory's groups section).
        var example = try load(ExampleConfiguration.yaml)
        var minimal = try load(minimalYAML)
        example.attributes = []
        example.groups = .none
        example.directories[0].groups = nil
        minimal.directories[0].bind.dn = example.directories[0].bind.dn
        #expect(example == minimal)
    }

    @Test func exampleMarksThePlaceholders() {
        let lines = ExampleConfiguration.yaml.split(separator: "\n")
        for placeholder in ["url: ldaps://dc1.example.com", "bind: {", "base: \"ou=people", "base: \"ou=groups", "app: GrpAE,"] {
            let line = lines.first { $0.contains(placeholder) }
            #expect(line?.contains("CHANGE ME") == true, "\(placeholder)")
        }
    }
}
