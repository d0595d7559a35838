import ArgumentParser
import SyncRunner

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show cursors, last runs, the retry set and pending conflicts."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let configuration = try global.loadConfiguration()
        let state: (directories: [StateCommands.DirectoryStatus], runs: [RunRecord])
        do {
            state = try StateCommands(configuration: configuration).status()
        } catch {
            throw exitFor(error)
        }
        for directory in state.directories {
            let cursor = directory.cursor.map { displayDate($0, configuration: configuration) } ?? "(none: the next run is a full run)"
            print("directory \(directory.directory)")
            print("  cursor:         \(cursor)")
            print("  snapshot users: \(directory.snapshotUsers)")
            print("  retry set:      \(directory.retry.count)")
            for entry in directory.retry.prefix(20) {
                print("    \(entry.key ?? entry.dn ?? "?"): \(entry.message) (\(entry.attempts) attempts)")
            }
            print("  conflicts:      \(directory.conflicts) pending (ldapsync conflicts list)")
            if let run = directory.unfinishedRun {
                print("  unfinished run: \(run) stopped before its state commit; the next run completes it (or drops it if it wrote nothing)")
            }
        }
        print("last runs:")
        if state.runs.isEmpty { print("  (none)") }
        for run in state.runs {
            let counts = ["created", "updated", "deactivated", "failures"].map { "\($0) \(run.counts[$0] ?? 0)" }.joined(separator: ", ")
            print("  \(displayDate(run.started, configuration: configuration))  \(run.directory)  \(run.full ? "full" : "incremental")  \(Double(run.durationMilliseconds) / 1000)s  exit \(run.exitCode)  \(counts)")
        }
    }
}
