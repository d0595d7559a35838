import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct LDAPSync: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ldapsync",
        abstract: "Keep an LDAP directory and an application's user store in agreement, in both directions.",
        discussion: """
            Exit codes: 0 success; 1 finished with failed entries or pending conflicts; \
            2 usage or configuration error; 3 cannot connect, bind or verify TLS; \
            4 another run holds the lock; 5 a safety limit tripped; 6 state store error; \
            130 interrupted.
            """,
        subcommands: [Run.self, Plan.self, Doctor.self, Status.self, Cursor.self, Conflicts.self, Init.self]
    )

    /// Parses, runs and maps every outcome to the exit codes of SPEC §9. Argument parsing
    /// errors exit 2 (not swift-argument-parser's 64), like configuration errors.
    static func main() {
        // A server that closes the connection must be an error, never a SIGPIPE death.
        signal(SIGPIPE, SIG_IGN)
        // The state store reads LMDB's data.mdb through a memory map: a page that the
        // damaged or truncated file does not hold is a SIGBUS, not an error LMDB returns.
        // Exit 6 with the recovery step rather than a crash; nothing is committed after it.
        signal(SIGBUS) { _ in
            let message: StaticString = """
                ldapsync: state store: reading the state store's memory-mapped data.mdb failed (SIGBUS): \
                the file is damaged or truncated; the run stopped and committed nothing more; \
                see docs/operations.md, recovery\n
                """
            _ = Glibc.write(2, message.utf8Start, message.utf8CodeUnitCount)
            _exit(ExitStatus.stateStore.rawValue)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let exit as CommandExit {
            if let message = exit.message { printError(message) }
            Glibc.exit(exit.status.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            printError(fullMessage(for: error))
            Glibc.exit(code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue)
        }
    }

    private static func printError(_ message: String) {
        var standardError = StandardError()
        print(message, to: &standardError)
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
