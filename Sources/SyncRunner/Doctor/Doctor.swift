import LDAPClient
import Logging
import SyncConfig

/// `ldapsync doctor` (SPEC §10): every check that tells why a sync cannot work, each
/// reporting PASS, WARN, FAIL or SKIP with what was checked and what to do.
///
/// The doctor never writes, except ``writeTestKey``: it creates no state directory, no
/// app database and no lock file, and reads at most a sample of users plus one id-only
/// listing of each scope (the size-limit probe). A problem found is a check, never a
/// thrown error, so that one run reports every problem: when the read principal cannot
/// bind, the checks that need a bind go on with the write principal, and a check that
/// cannot run says SKIP and why.
public struct Doctor {
    /// The configuration file, as `--config` gave it (or as the search path found it).
    public var configurationPath: String
    public var logger: Logger
    /// `--write-test KEY`: the user whose write-back attributes are rewritten with their
    /// current values, to learn whether the write principal may write them.
    public var writeTestKey: String?

    public init(configurationPath: String, logger: Logger, writeTestKey: String? = nil) {
        self.configurationPath = configurationPath
        self.logger = logger
        self.writeTestKey = writeTestKey
    }

    /// Runs every check, in the order an administrator fixes things: the configuration,
    /// then per directory network, TLS, binds and what the server holds, then the app
    /// store and the state store.
    public func run() -> [DoctorCheck] {
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.load(path: configurationPath)
        } catch {
            return [
                DoctorCheck(.fail, area: "configuration", "configuration: \(error)",
                            advice: "fix the key at that place in the file (docs/configuration.md describes every key and its default), then run ldapsync doctor again"),
                DoctorCheck(.skip, area: "configuration", "every other check: skipped",
                            advice: "they need a configuration that loads"),
            ]
        }
        var checks = [
            DoctorCheck(.pass, area: "configuration",
                        "configuration: \(configuration.sourcePath) is valid (\(count(configuration.directories.count, "directory", "directories")), \(count(configuration.attributes.count, "mapped attribute", "mapped attributes")))"),
        ]
        for directory in configuration.directories {
            var directoryDoctor = DirectoryDoctor(configuration: configuration, directory: directory,
                                                  logger: logger, writeTestKey: writeTestKey)
            checks += directoryDoctor.run()
        }
        checks += LocalChecks.appStore(configuration)
        checks += LocalChecks.stateStore(configuration)
        return checks
    }
}

/// `1 directory`, `3 mapped attributes`.
func count(_ number: Int, _ singular: String, _ plural: String) -> String {
    "\(number) \(number == 1 ? singular : plural)"
}
