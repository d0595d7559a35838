// `make demo`: a first look at ldapsync. Starts a private slapd with sample people and
// groups, syncs it into a fresh SQLite app store with the real `ldapsync` executable,
// changes a few entries in LDAP, syncs again and shows what happened.
//
//   swift build && swift run Demo [path/to/ldapsync]
//
// Everything it writes is in ./demo-out (removed and made again on each run); slapd
// lives in a private temporary directory and is stopped at the end. Any failed step
// ends the demo with a non-zero exit status.
import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to stdout at once: ldapsync, run as a child, writes to the same
/// terminal or pipe, so nothing of ours may sit in a buffer while it runs.
func say(_ text: String = "", terminator: String = "\n") {
    FileHandle.standardOutput.write(Data((text + terminator).utf8))
}

let peopleCount = 300
let groupCount = 5
let membersPerGroup = 50  // group0001 holds user000001–050, group0002 user000051–100, …

let workingDirectory = FileManager.default.currentDirectoryPath
let outputDirectory = URL(fileURLWithPath: workingDirectory).appendingPathComponent("demo-out")
let ldapsync = CommandLine.arguments.dropFirst().first
    ?? URL(fileURLWithPath: workingDirectory).appendingPathComponent(".build/debug/ldapsync").path

var server: SlapdServer?
var step = 0

@MainActor
func heading(_ title: String) {
    step += 1
    say("\n== \(step). \(title)")
}

/// Stops slapd and ends the demo with status 1.
@MainActor
func fail(_ message: String) -> Never {
    let place = step > 0 ? " at step \(step)" : ""
    FileHandle.standardError.write(Data("\ndemo FAILED\(place): \(message)\n".utf8))
    try? server?.stop()
    exit(1)
}

@MainActor
func attempt<T>(_ what: String, _ body: () throws -> T) -> T {
    do { return try body() } catch { fail("\(what): \(error)") }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// `path` relative to the working directory when it is inside it, for shorter lines.
func short(_ path: String) -> String {
    path.hasPrefix(workingDirectory + "/") ? String(path.dropFirst(workingDirectory.count + 1)) : path
}

/// Runs `ldapsync ARGS --config demo-out/ldapsync.yaml` with the terminal as its stdout and
/// stderr, so its output appears exactly as it prints it. Fails the demo unless it exits 0.
/// ldapsync's exit statuses (SPEC §9).
let exitMeanings: [Int32: String] = [
    1: "finished, but some entries failed or conflicts are pending",
    2: "usage or configuration error",
    3: "cannot connect, bind or verify TLS; nothing was written",
    4: "another run holds the lock",
    5: "a safety limit tripped; nothing was written",
    6: "state store error",
    130: "interrupted",
]

@MainActor
func runLDAPSync(_ arguments: [String], config: String? = nil) {
    var arguments = arguments
    if let config { arguments += ["--config", config] }
    say("$ ldapsync \(arguments.map(short).joined(separator: " "))")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ldapsync)
    process.arguments = arguments
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        fail("cannot start \(ldapsync): \(error)")
    }
    process.waitUntilExit()
    if process.terminationReason == .uncaughtSignal {
        fail("ldapsync \(arguments.first ?? "") was killed by signal \(process.terminationStatus)")
    }
    if process.terminationStatus != 0 {
        let status = process.terminationStatus
        fail("ldapsync \(arguments.first ?? "") exited with status \(status)\(exitMeanings[status].map { ": " + $0 } ?? "")")
    }
}

/// Prints the result of an SQL query, as a table, with the `sqlite3` command-line shell.
@MainActor
func query(_ database: String, _ sql: String) {
    say("sqlite> \(sql)")
    let result = attempt("sqlite3") {
        try ExternalCommand.run("sqlite3", ["-readonly", "-header", "-column", database, sql])
    }
    guard result.status == 0, !result.terminatedBySignal else {
        fail("sqlite3 exited with status \(result.status): \(result.combinedOutput)")
    }
    say(result.standardOutput.isEmpty ? "(no rows)" : result.standardOutput, terminator: result.standardOutput.hasSuffix("\n") ? "" : "\n")
}

guard FileManager.default.isExecutableFile(atPath: ldapsync) else {
    fail("\(ldapsync) is not there: build it first (`swift build`, or `make demo` does it)")
}

// MARK: 1. The directory

heading("Start a private OpenLDAP server (slapd) with \(peopleCount) people and \(groupCount) groups")
var ldif = Fixtures.people(count: peopleCount)
ldif += Fixtures.groups(count: groupCount, membersPerGroup: membersPerGroup, peopleCount: peopleCount)
let started = ContinuousClock.now
let slapd = attempt("starting slapd") { try SlapdServer.start(ldif: ldif) }
server = slapd
let suffix = slapd.configuration.suffix
let peopleBase = "ou=people,\(suffix)"
let groupsBase = "ou=groups,\(suffix)"
say("slapd (pid \(slapd.pid.map(String.init) ?? "?")) listens on \(slapd.url), loopback only; ready in \(String(format: "%.2f", seconds(ContinuousClock.now - started))) s")
say("people:  uid=user000001 … uid=user\(String(format: "%06d", peopleCount)),\(peopleBase)")
say("groups:  cn=group0001 … cn=group\(String(format: "%04d", groupCount)),\(groupsBase), \(membersPerGroup) members each")
say("         (group0001: user000001–050, group0002: user000051–100, …)")

// MARK: 2. The configuration

heading("Write the configuration")
attempt("removing the previous demo-out") {
    if FileManager.default.fileExists(atPath: outputDirectory.path) { try FileManager.default.removeItem(at: outputDirectory) }
    try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
}
func output(_ name: String) -> String { outputDirectory.appendingPathComponent(name).path }
let configPath = output("ldapsync.yaml")
let passwordPath = output("sync.pw")
let appPath = output("app.db")
// The bind password lives in a file only its owner can read; ldapsync refuses any other.
guard FileManager.default.createFile(atPath: passwordPath, contents: Data(slapd.configuration.syncPassword.utf8),
                                     attributes: [.posixPermissions: 0o600]) else {
    fail("cannot create \(passwordPath)")
}
let configuration = """
    # ldapsync demo configuration, written by `make demo`.
    version: 1
    state: \(output("state"))
    directories:
      - name: demo
        url: "\(slapd.url)"
        bind: { dn: "\(slapd.configuration.syncDN)", passwordFile: \(passwordPath) }
        users: { base: "\(peopleBase)" }
        groups: { base: "\(groupsBase)" }
        # Each run reads from (cursor - overlap). The default overlap, 10m, would re-read
        # this minutes-old sample directory in full on every run; keep it in production.
        timestamp: { overlap: 0s }
    app:
      kind: sqlite
      path: \(appPath)
    attributes:
      - { ldap: cn, app: name }
      - { ldap: mail, app: email, multiValued: true }
      - { ldap: telephoneNumber, app: phone }
    groups:
      - { app: staff, ldap: "cn=group0001,\(groupsBase)" }
      - { app: admins, ldap: "cn=group0002,\(groupsBase)" }
    users:
      autoDeactivate: true
    audit: { path: \(output("audit.jsonl")) }

    """
attempt("writing \(configPath)") { try configuration.write(toFile: configPath, atomically: true, encoding: .utf8) }
say("\(short(configPath)) (the bind password is in \(short(passwordPath)), mode 0600):")
for line in configuration.split(separator: "\n") { say("    " + line) }
say("Only members of group0001 and group0002 are synced (100 people); they become members of the app groups")
say("staff and admins. cn, mail and telephoneNumber go to the columns name, email (a JSON array) and phone.")

// MARK: 3. The first run

heading("Create the app tables, check everything with the doctor, then run the first (full) sync")
runLDAPSync(["init", "--sqlite", appPath], config: configPath)
runLDAPSync(["doctor"], config: configPath)
runLDAPSync(["run"], config: configPath)

// MARK: 4. Changes in LDAP

heading("Change the directory, as its administrators would")
// The sample data and the first run's cursor carry the second slapd loaded the data in.
// Changes made 2 s later carry a newer timestamp (one-second resolution), which lets
// the cursor move past the sample data and the run after next read only the changes.
say("(waiting 2 s first: directory timestamps have one-second resolution)")
Thread.sleep(forTimeInterval: 2)
func person(_ number: Int) -> String { "uid=\(Fixtures.personUID(number)),\(peopleBase)" }
func group(_ number: Int) -> String { "cn=\(Fixtures.groupCN(number)),\(groupsBase)" }
let newPhones = [2: "+1 555 0100002", 3: "+1 555 0100003", 52: "+1 555 0100052"]
var changes = ""
for (number, phone) in newPhones.sorted(by: { $0.key < $1.key }) {
    changes += "dn: \(person(number))\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: \(phone)\n\n"
}
changes += "dn: \(group(1))\nchangetype: modify\nadd: member\nmember: \(person(200))\n-\ndelete: member\nmember: \(person(5))\n\n"
changes += "dn: \(person(60))\nchangetype: delete\n"
attempt("ldapmodify") { try slapd.modify(ldif: changes) }
for (number, phone) in newPhones.sorted(by: { $0.key < $1.key }) {
    say("changed   \(Fixtures.personUID(number)): telephoneNumber → \(phone)")
}
say("added     user000200 to group0001 (staff); it was in no mapped group before")
say("removed   user000005 from group0001 (staff); it is in no other mapped group")
say("deleted   user000060, a member of group0002 (admins)")

// MARK: 5. The incremental run

heading("Run again: an incremental sync")
runLDAPSync(["run"], config: configPath)
say("It reads the entries modified since the cursor. The cursor is the newest timestamp the first run")
say("saw: the second the sample data was loaded in, so this time everything is read once more; the")
say("unchanged entries match the snapshot and cost only the read. user000200 was created (it joined staff),")
say("user000060 deactivated (active = 0, never deleted), user000005 left staff but stays active.")

heading("Run once more, with nothing changed")
runLDAPSync(["run"], config: configPath)
say("Now the cursor is past the sample data: only the entries changed in step 4 are read, and nothing")
say("is written: they already agree with the app store.")
say()
runLDAPSync(["status"], config: configPath)

// MARK: 6. The app store

heading("Look at the app store (\(short(appPath)))")
query(appPath, "SELECT key, name, email, phone, active, ldap_managed FROM users WHERE key IN ('user000002', 'user000003', 'user000005', 'user000052', 'user000060', 'user000200') ORDER BY key")
say()
query(appPath, "SELECT group_name, COUNT(*) AS members FROM group_members GROUP BY group_name ORDER BY group_name")
say()
query(appPath, "SELECT user_key, group_name FROM group_members WHERE user_key IN ('user000005', 'user000060', 'user000200') ORDER BY user_key")
say()
query(appPath, "SELECT COUNT(*) AS users, SUM(active) AS active FROM users")

// MARK: 7. The end

heading("Stop slapd")
attempt("stopping slapd") { try slapd.stop() }
server = nil
say("slapd stopped. The demo's files are in \(outputDirectory.path)/:")
say("  ldapsync.yaml  the configuration        app.db  the app store (sqlite3 \(short(appPath)))")
say("  sync.pw        the bind password        state/  ldapsync's state: cursor, snapshot, run history")
if FileManager.default.fileExists(atPath: output("audit.jsonl")) { say("  audit.jsonl    every write, one JSON line each") }
say("Try: \(short(ldapsync)) --help, or \(short(ldapsync)) status --config \(short(configPath))")
