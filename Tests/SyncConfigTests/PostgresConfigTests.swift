import Foundation
import Testing
@testable import SyncConfig

/// `app.kind: postgres`: URL, password source and TLS (`sslMode`, `caFile`).
@Suite struct PostgresConfigTests {
    private static func app(_ lines: String) -> String { minimalYAML + lines + "\n" }

    @Test func urlPasswordAndTLSDecode() throws {
        let configuration = try load(Self.app("""
            app:
              kind: postgres
              url: "postgres://sync@db.example.com:5433/app"
              passwordEnv: APP_DB_PW
              sslMode: verify-full
              caFile: certs/db-ca.pem
            """))
        #expect(configuration.app.kind == .postgres(
            url: "postgres://sync@db.example.com:5433/app", password: .environment("APP_DB_PW"),
            tls: PostgresTLS(mode: .verifyFull, caFile: "/srv/ldapsync/certs/db-ca.pem")
        ))
    }

    @Test func withoutTLSKeysLibpqDecides() throws {
        let configuration = try load(Self.app("app: { kind: postgres, url: \"postgresql://db/app?sslmode=verify-full\" }"))
        #expect(configuration.app.kind == .postgres(url: "postgresql://db/app?sslmode=verify-full", password: nil, tls: PostgresTLS()))
    }

    @Test(arguments: PostgresTLS.Mode.allCases)
    func everySSLModeIsAccepted(mode: PostgresTLS.Mode) throws {
        let configuration = try load(Self.app("app: { kind: postgres, url: \"postgres://db/app\", sslMode: \(mode.rawValue) }"))
        #expect(configuration.app.kind == .postgres(url: "postgres://db/app", password: nil, tls: PostgresTLS(mode: mode)))
    }

    static let errors: [ErrorCase] = [
        ErrorCase("sslMode unknown", app("app: { kind: postgres, url: \"postgres://db/app\", sslMode: verify }"),
                  line: 8, "app.sslMode", "disable, require, verify-ca, verify-full"),
        ErrorCase("caFile without verification", app("app:\n  kind: postgres\n  url: \"postgres://db/app\"\n  sslMode: require\n  caFile: ca.pem"),
                  line: 12, "app.caFile", "only sslMode: verify-ca or verify-full"),
        ErrorCase("caFile without sslMode", app("app: { kind: postgres, url: \"postgres://db/app\", caFile: ca.pem }"),
                  line: 8, "app.caFile", "only sslMode: verify-ca or verify-full"),
        ErrorCase("sslMode twice", app("app:\n  kind: postgres\n  url: \"postgres://db/app?sslmode=disable\"\n  sslMode: require"),
                  line: 11, "app.sslMode", "the URL sets sslmode too"),
        ErrorCase("sslMode with sqlite", app("app: { kind: sqlite, sslMode: require }"),
                  line: 8, "app.sslMode", "sslMode is for kind: postgres"),
        ErrorCase("caFile with sqlite", app("app:\n  path: app.db\n  caFile: ca.pem"),
                  line: 10, "app.caFile", "caFile is for kind: postgres"),
        ErrorCase("both password sources", app("app: { kind: postgres, url: \"postgres://db/app\", passwordFile: a.pw, passwordEnv: B }"),
                  line: 8, "app.passwordEnv", "either passwordFile or passwordEnv"),
    ]

    @Test(arguments: errors)
    func invalidTLSAndPasswordKeysNameTheirKeyPath(_ errorCase: ErrorCase) {
        errorCase.check()
    }

    /// The app password file is read, and checked, as the LDAP one is.
    @Test func theAppPasswordFileMustBePrivate() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pgconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("db.pw").path
        FileManager.default.createFile(atPath: path, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o644])
        let configuration = try load(Self.app("app: { kind: postgres, url: \"postgres://db/app\", passwordFile: \"\(path)\" }"))
        guard case .postgres(_, let source?, _) = configuration.app.kind else {
            Issue.record("no password source")
            return
        }
        let error = #expect(throws: ConfigurationError.self) { try source.read(keyPath: "app.passwordFile") }
        #expect(error?.message.contains("run chmod 600 \(path)") == true)
        #expect(error?.keyPath == "app.passwordFile")
        chmod(path, 0o600)
        #expect(try source.read(keyPath: "app.passwordFile").bytes == Array("s3cret".utf8))
    }
}
