import ArgumentParser
import SyncRunner

struct Conflicts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List pending manual conflicts, or settle one.",
        subcommands: [List.self, Resolve.self],
        defaultSubcommand: List.self
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pending conflicts.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let configuration = try global.loadConfiguration()
            let all: [(directory: String, conflicts: [ConflictRecord])]
            do { all = try StateCommands(configuration: configuration).conflicts() } catch { throw exitFor(error) }
            let count = all.reduce(0) { $0 + $1.conflicts.count }
            if count == 0 { print("no pending conflicts") }
            for (directory, conflicts) in all {
                for conflict in conflicts.sorted(by: { ($0.key, $0.attribute) < ($1.key, $1.attribute) }) {
                    let state = conflict.resolution.map { "resolved: the next run takes the \($0 ? "LDAP" : "app") value" } ?? "pending"
                    print("\(directory)  \(conflict.key)  \(conflict.attribute): LDAP \(conflict.ldap) vs app \(conflict.app)  (\(state))")
                }
            }
            if count > 0 { print("settle one with: ldapsync conflicts resolve KEY ATTRIBUTE --take ldap|app") }
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Settle a conflict; the next run applies it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user key.") var key: String
        @Argument(help: "The attribute (LDAP name or app column).") var attribute: String
        @Option(help: "Which side's value to keep.") var take: Side

        enum Side: String, ExpressibleByArgument, CaseIterable { case ldap, app }

        func run() throws {
            let configuration = try global.loadConfiguration()
            let directories: [String]
            do {
                directories = try StateCommands(configuration: configuration).resolveConflict(key: key, attribute: attribute, takeLDAP: take == .ldap)
            } catch { throw exitFor(error) }
            guard !directories.isEmpty else {
                throw CommandExit(.usage, "no pending conflict for \(key) \(attribute); see ldapsync conflicts list")
            }
            print("\(key) \(attribute): the next run takes the \(take == .ldap ? "LDAP" : "app") value (\(directories.joined(separator: ", ")))")
        }
    }
}
