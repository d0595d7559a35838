import AppStore
import SyncConfig

/// Opening the PostgreSQL app store from the configuration, for runs and the doctor.
public enum PostgresAppStoreOpening {
    /// Reads the password (file or environment, SPEC §12) and connects. Errors name the
    /// key path or the failing step and carry PostgreSQL's message, never the password
    /// and never the URL (which the configuration keeps free of a password anyway).
    public static func open(_ configuration: Configuration, url: String, password source: PasswordSource?,
                     tls: PostgresTLS) throws -> PostgresAppStore {
        var password: Secret?
        if let source {
            let key = switch source {
            case .file: "app.passwordFile"
            case .environment: "app.passwordEnv"
            }
            password = try source.read(keyPath: key, configurationFile: configuration.sourcePath)
        }
        return try PostgresAppStore(url: url, password: password, sslMode: tls.mode?.rawValue, caFile: tls.caFile,
                                    schema: AppSchemaBuilder.schema(configuration))
    }
}
