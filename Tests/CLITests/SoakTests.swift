import Foundation
import DirectoryModel
import LDAPClient
import SlapdSupport
import Testing

/// Issue #7's model-based soak: a seeded random sequence of rounds against a real slapd
/// and an SQLite app store, each making random changes on both sides and then running the
/// debug `ldapsync` binary, sometimes killed (SIGKILL at a random moment or at a named
/// crash point), with slapd stopped mid-run, or sent SIGTERM. After every run that
/// completed, LDAP and the app are checked against `SoakModel` (SPEC §5, §7), the cursor
/// against the previous one, and the retry set and conflicts must be empty.
///
/// `LDAPSYNC_SOAK_ROUNDS` (default 50) and `LDAPSYNC_SOAK_SEED` (default random; always
/// printed) choose the run; `LDAPSYNC_SOAK_SYNCPROV` (`none`, `present`, `sessionlog`;
/// default chosen by the seed) whether slapd runs the `syncprov` overlay, so that
/// `deletions: every-run` lists through content-sync refreshes (`sessionlog`: with a session
/// log of 20 changes, so refreshes have a delete phase or, after more changes, a present one); a failure names the seed and the round, and the same seed
/// replays the same changes and faults (the moments of random kills depend on timing).
@Suite struct SoakTests {
    @Test func randomRoundsWithKillsAndServerFaultsLoseAndDuplicateNothing() throws {
        let environment = ProcessInfo.processInfo.environment
        let rounds = Int(environment["LDAPSYNC_SOAK_ROUNDS"] ?? "") ?? 50
        let seed = UInt64(environment["LDAPSYNC_SOAK_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("soak: seed \(seed), \(rounds) rounds (replay: LDAPSYNC_SOAK_SEED=\(seed) LDAPSYNC_SOAK_ROUNDS=\(rounds))")
        let provider = environment["LDAPSYNC_SOAK_SYNCPROV"] ?? ["none", "present", "sessionlog"][Int(seed % 3)]
        print("soak: syncprov \(provider)")
        let soak = try Soak(seed: seed, syncProvider: provider)
        let tally = try soak.run(rounds: rounds)
        print("soak: seed \(seed): \(tally)")
        #expect(tally.divergences == 0, "seed \(seed): \(tally.divergences) divergences (first at round \(tally.firstDivergentRound ?? -1))")
        #expect(tally.completedChecks > 0)
    }
}

struct SoakTally: CustomStringConvertible {
    var rounds = 0
    var kills = 0              // SIGKILL at a random moment or at a crash point
    var crashPoints: [String: Int] = [:]
    var serverFaults = 0       // slapd stopped mid-run
    var terms = 0              // SIGTERM
    var completedChecks = 0    // model checks after completed runs
    var faultRunsCompleted = 0 // fault rounds whose run finished anyway (exit 0) before the fault
    var landed: [String: Int] = [:] // fault rounds whose run the fault stopped, by outcome (signal or exit code)
    var ldapChanges = 0
    var appChanges = 0
    var divergences = 0
    var firstDivergentRound: Int?

    var description: String {
        "\(rounds) rounds, \(ldapChanges) LDAP changes, \(appChanges) app changes, \(kills) kills "
            + "(crash points \(crashPoints.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))), "
            + "\(serverFaults) server faults, \(terms) SIGTERMs, \(faultRunsCompleted) fault runs finished first, "
            + "fault outcomes \(landed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")), "
            + "\(completedChecks) checks after completed runs, \(divergences) divergences"
    }
}

final class Soak {
    let server: SlapdServer
    let directory: URL
    let seed: UInt64
    var random: SoakRandom
    var model: SoakModel
    var tally = SoakTally()
    var lastCursor: String?   // yyyyMMddHHmmss, comparable as text
    let verbose = ProcessInfo.processInfo.environment["LDAPSYNC_SOAK_VERBOSE"] != nil
    var round = 0

    init(seed: UInt64, syncProvider: String = "none") throws {
        self.seed = seed
        random = SoakRandom(state: seed)
        var model = SoakModel(suffix: "dc=example,dc=com")
        let ldif = model.initialLDIF(people: 10, random: &random)
        self.model = model
        var configuration = SlapdServer.Configuration()
        switch syncProvider {
        case "none": break
        case "present": configuration.syncProvider = .init()
        case "sessionlog": configuration.syncProvider = .init(sessionLog: 20)
        default: throw SoakFailure("LDAPSYNC_SOAK_SYNCPROV: none, present or sessionlog, not \(syncProvider)")
        }
        server = try SlapdServer.start(configuration, ldif: ldif)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ldapsync-soak-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passwordFile = directory.appendingPathComponent("sync.pw").path
        guard FileManager.default.createFile(atPath: passwordFile, contents: Data(server.configuration.syncPassword.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw SoakFailure("cannot create \(passwordFile)")
        }
        let suffix = server.configuration.suffix
        let yaml = """
            version: 1
            state: state
            directories:
              - name: corp
                url: "\(server.url)"
                bind: { dn: "\(server.configuration.syncDN)", passwordFile: sync.pw }
                users: { base: "ou=people,\(suffix)" }
                groups: { base: "ou=groups,\(suffix)" }
                timestamp: { overlap: 0s }
            app: { path: app.db }
            audit: { path: audit.jsonl }
            attributes:
              - { ldap: cn, app: name }
              - { ldap: mail, app: email, multiValued: true }
              - { ldap: telephoneNumber, app: phone, direction: both }
              - { ldap: title, app: title, direction: to-ldap }
            writeBack: { enabled: true }
            groups:
              - { app: everyone, ldap: "cn=all,ou=groups,\(suffix)" }
              - { app: alpha, ldap: "cn=ga,ou=groups,\(suffix)" }
              - { app: alpha2, ldap: "cn=ga,ou=groups,\(suffix)" }
              - { app: beta, ldap: "cn=gb,ou=groups,\(suffix)" }
            users: { autoDeactivate: true }
            safety: { maxDeactivations: 100%, maxGroupRemovals: 100% }
            """
        try Data(yaml.utf8).write(to: directory.appendingPathComponent("ldapsync.yaml"))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func run(rounds: Int) throws -> SoakTally {
        let initialized = try runLDAPSync(["init"], in: directory)
        guard initialized.status == 0 else { throw SoakFailure("init exited \(initialized.status): \(initialized.errors)") }
        try completedRun(label: "initial full run")
        for number in 1...max(rounds, 1) {
            round = number
            tally.rounds += 1
            try oneRound()
            if tally.divergences > 0 { break }
        }
        // Faults have stopped: one more normal run must converge.
        if tally.divergences == 0 {
            round += 1
            try completedRun(label: "final run")
        }
        return tally
    }

    private func oneRound() throws {
        let ldap = model.ldapChanges(random: &random)
        if !ldap.ldif.isEmpty {
            try server.modify(ldif: ldap.ldif)
            tally.ldapChanges += ldap.done.count
        }
        let app = model.appChanges(random: &random)
        if app.statements > 0 {
            let counts = try sqlite(app.sql).split(separator: "\n")
            guard counts.count == app.statements, counts.allSatisfy({ $0 == "1" }) else {
                throw SoakFailure("seed \(seed) round \(round): an app edit missed its row (\(counts)): \(app.done)")
            }
            tally.appChanges += app.done.count
        }
        if verbose { print("round \(round): \(ldap.done + app.done)") }
        let roll = random.below(100)
        switch roll {
        case 0..<12:
            tally.kills += 1
            try faultedRun(label: "SIGKILL at a random moment") { process in
                usleep(UInt32(self.random.below(300_000)))
                kill(process.processIdentifier, SIGKILL)
            }
        case 12..<20:
            let point = random.pick(["after-app-commit", "after-ldap-writes", "before-deletion-listing"])
            tally.kills += 1
            tally.crashPoints[point, default: 0] += 1
            try faultedRun(label: "crash at \(point)", environment: ["LDAPSYNC_CRASH_AT": point]) { _ in }
        case 20..<24:
            tally.serverFaults += 1
            try faultedRun(label: "slapd killed during the stall before the deletion listing",
                           environment: ["LDAPSYNC_STALL_AT": "before-deletion-listing"]) { _ in
                usleep(1_000_000)
                self.server.kill()
            } recover: {
                try self.server.restart()
            }
        case 24..<28:
            tally.serverFaults += 1
            let hard = random.chance(50)
            try faultedRun(label: "slapd \(hard ? "killed" : "stopped") at a random moment") { _ in
                usleep(UInt32(self.random.below(300_000)))
                if hard { self.server.kill() } else { try? self.server.stop() }
            } recover: {
                try self.server.restart()
            }
        case 28..<32:
            tally.terms += 1
            if random.chance(50) {
                try faultedRun(label: "SIGTERM at a random moment") { process in
                    usleep(UInt32(self.random.below(300_000)))
                    kill(process.processIdentifier, SIGTERM)
                }
            } else {
                // A small directory is read in one batch, so a random SIGTERM mostly comes
                // after the last batch boundary; during the stall it lands before one.
                try faultedRun(label: "SIGTERM during the stall before the deletion listing",
                               environment: ["LDAPSYNC_STALL_AT": "before-deletion-listing"]) { process in
                    usleep(1_000_000)
                    kill(process.processIdentifier, SIGTERM)
                }
            }
        default:
            try completedRun(label: "round \(round): \(ldap.done + app.done)")
        }
    }

    /// A run with a fault injected while it runs; its outcome is not checked, except that
    /// a run that finished before the fault (exit 0) is checked like any completed run.
    private func faultedRun(label: String, environment extra: [String: String] = [:], fault: (Process) throws -> Void,
                            recover: () throws -> Void = {}) throws {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { $1 }
        let process = Process()
        process.executableURL = try ldapsyncExecutable()
        process.arguments = ["run"]
        process.currentDirectoryURL = directory
        process.environment = environment
        let outputFile = directory.appendingPathComponent("fault-output.txt")
        try Data().write(to: outputFile)
        let outputHandle = try FileHandle(forWritingTo: outputFile)
        defer { try? outputHandle.close() }
        process.standardOutput = outputHandle
        let errors = directory.appendingPathComponent("fault-errors.txt")
        try Data().write(to: errors)
        let errorHandle = try FileHandle(forWritingTo: errors)
        defer { try? errorHandle.close() }
        process.standardError = errorHandle
        try process.run()
        try fault(process)
        process.waitUntilExit()
        try recover()
        let outcome = process.terminationReason == .exit ? "exit \(process.terminationStatus)" : "signal \(process.terminationStatus)"
        if outcome != "exit 0" { tally.landed[outcome, default: 0] += 1 }
        if verbose {
            print("round \(round): \(label): \(outcome)")
            if ProcessInfo.processInfo.environment["LDAPSYNC_SOAK_VERBOSE"] == "2" {
                print((try? String(contentsOf: outputFile, encoding: .utf8)) ?? "", (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
            }
        }
        if process.terminationReason == .exit, process.terminationStatus == 0 {
            tally.faultRunsCompleted += 1
            try check(label: "\(label) (finished first)")
        } else if process.terminationReason == .exit, ![1, 3, 130].contains(process.terminationStatus) {
            let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw SoakFailure("seed \(seed) round \(round): \(label): unexpected exit \(process.terminationStatus): \(text)")
        }
    }

    private func completedRun(label: String) throws {
        let result = try runLDAPSync(["run"], in: directory)
        guard result.status == 0 else {
            throw SoakFailure("seed \(seed) round \(round): \(label): exit \(result.status)\n\(result.output)\n\(result.errors)")
        }
        try check(label: label)
    }

    /// The invariants after a completed run.
    private func check(label: String) throws {
        tally.completedChecks += 1
        var problems = model.appDivergences(rows: try appRows(), memberships: try appMemberships())
        problems += try ldapDivergences()
        problems += try stateDivergences()
        if !problems.isEmpty {
            tally.divergences += problems.count
            tally.firstDivergentRound = tally.firstDivergentRound ?? round
            let text = "seed \(seed) round \(round) (\(label)):\n  " + problems.joined(separator: "\n  ")
            print("soak divergence: \(text)")
            Issue.record(Comment(rawValue: text))
        }
        model.settle()
    }

    // MARK: Reading both sides

    private func ldapDivergences() throws -> [String] {
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.rootDN, password: Secret(server.configuration.rootPassword))
        let suffix = server.configuration.suffix
        var entries: [String: Entry] = [:]
        var problems: [String] = []
        _ = try connection.search(SearchRequest(base: "ou=people,\(suffix)", filter: "(objectClass=inetOrgPerson)",
                                                attributes: ["uid", "cn", "mail", "telephoneNumber", "title"])) { view in
            let entry = view.makeEntry()
            entries[entry.dn.lowercased()] = entry
        }
        func texts(_ entry: Entry, _ name: AttributeName) -> [String] {
            (entry[name] ?? []).map { String(decoding: $0, as: UTF8.self) }
        }
        var groups: [String: [String]] = [:]
        _ = try connection.search(SearchRequest(base: "ou=groups,\(suffix)", filter: "(objectClass=groupOfNames)", attributes: ["cn", "member"])) { view in
            let entry = view.makeEntry()
            groups[texts(entry, "cn").first ?? entry.dn] = texts(entry, "member").map { $0.lowercased() }
        }
        let live = model.users.values.filter(\.alive)
        if entries.count != live.count { problems.append("LDAP holds \(entries.count) users, the model \(live.count)") }
        for user in live {
            guard let entry = entries[user.dn(suffix).lowercased()] else {
                problems.append("LDAP lacks \(user.dn(suffix))")
                continue
            }
            let phone = texts(entry, "telephoneNumber")
            if phone != (user.phone.map { [$0] } ?? []) { problems.append("LDAP \(user.uid): telephoneNumber \(phone), expected \(user.phone ?? "none")") }
            let title = texts(entry, "title")
            if title != (user.title.map { [$0] } ?? []) { problems.append("LDAP \(user.uid): title \(title), expected \(user.title ?? "none") (to-ldap write-back)") }
            let mails = texts(entry, "mail")
            if Set(mails) != user.mails || mails.count != user.mails.count { problems.append("LDAP \(user.uid): mail \(mails), expected \(user.mails.sorted())") }
            if texts(entry, "cn") != [user.cn] { problems.append("LDAP \(user.uid): cn \(texts(entry, "cn")), expected \(user.cn)") }
        }
        for (group, members) in groups {
            if Set(members).count != members.count { problems.append("LDAP group \(group) has duplicate members") }
            let expected = Set(live.filter { group == "all" || $0.groups.contains(group) }.map { $0.dn(suffix).lowercased() })
                .union(["cn=nobody,\(suffix)"])
            if Set(members) != expected { problems.append("LDAP group \(group): members differ from the model by \(Set(members).symmetricDifference(expected).sorted())") }
        }
        return problems
    }

    /// Cursor never backwards and never past the newest timestamp on the server; retry set and conflicts empty.
    private func stateDivergences() throws -> [String] {
        var problems: [String] = []
        let status = try runLDAPSync(["status"], in: directory)
        guard status.status == 0 else { return ["status exited \(status.status): \(status.errors)"] }
        let lines = status.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        if let retry = lines.first(where: { $0.hasPrefix("retry set:") }), !retry.hasSuffix(" 0") { problems.append("after a completed run: \(retry)") }
        if let conflicts = lines.first(where: { $0.hasPrefix("conflicts:") }), !conflicts.contains(" 0 pending") { problems.append("after a completed run: \(conflicts)") }
        guard let cursorLine = lines.first(where: { $0.hasPrefix("cursor:") }) else { return problems + ["status shows no cursor line"] }
        // dd-MM-yyyy HH:mm:ss → yyyyMMddHHmmss
        let value = cursorLine.dropFirst("cursor:".count).trimmingCharacters(in: .whitespaces)
        let parts = value.split(whereSeparator: { "-: ".contains($0) }).map(String.init)
        guard parts.count >= 6 else { return problems + ["cursor not readable: \(cursorLine)"] }
        let cursor = parts[2] + parts[1] + parts[0] + parts[3] + parts[4] + parts[5]
        if let last = lastCursor, cursor < last { problems.append("cursor moved backwards: \(last) → \(cursor)") }
        let newest = try newestServerTimestamp()
        if cursor > newest { problems.append("cursor \(cursor) is past the newest server timestamp \(newest)") }
        lastCursor = max(lastCursor ?? cursor, cursor)
        return problems
    }

    private func newestServerTimestamp() throws -> String {
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.rootDN, password: Secret(server.configuration.rootPassword))
        var newest = ""
        _ = try connection.search(SearchRequest(base: server.configuration.suffix, attributes: ["modifyTimestamp"])) { view in
            if let value = view.makeEntry().string("modifyTimestamp") { newest = max(newest, String(value.prefix(14))) }
        }
        return newest
    }

    private func appRows() throws -> [AppRow] {
        let separator = "\u{1F}"
        let text = try sqlite("select key, ldap_managed, active, ifnull(name,'<null>'), ifnull(email,'[]'), ifnull(phone,'<null>'), ifnull(title,'<null>') from users;",
                              separator: separator)
        return try text.split(separator: "\n").map { line in
            let fields = line.components(separatedBy: separator)
            guard fields.count == 7 else { throw SoakFailure("unreadable app row: \(line)") }
            func optional(_ field: String) -> String? { field == "<null>" ? nil : field }
            let email = (try? JSONSerialization.jsonObject(with: Data(fields[4].utf8))) as? [String]
            guard let email else { throw SoakFailure("email of \(fields[0]) is not a JSON array of strings: \(fields[4])") }
            return AppRow(key: fields[0], managed: fields[1] == "1", active: fields[2] == "1", name: optional(fields[3]),
                          email: email, phone: optional(fields[5]), title: optional(fields[6]))
        }
    }

    private func appMemberships() throws -> [(group: String, user: String)] {
        try sqlite("select group_name, user_key from group_members;", separator: "\u{1F}").split(separator: "\n").map { line in
            let fields = line.components(separatedBy: "\u{1F}")
            return (fields[0], fields.count > 1 ? fields[1] : "")
        }
    }

    private func sqlite(_ script: String, separator: String = "|") throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-batch", "-separator", separator, directory.appendingPathComponent("app.db").path]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data((".timeout 5000\n" + script).utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SoakFailure("sqlite3 exited \(process.terminationStatus): \(String(decoding: errorData, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func ldapsyncExecutable() throws -> URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw SoakFailure("ldapsync not found beside \(bundle.path)")
        }
        return found
    }
}

struct SoakFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The soak's findings, reduced to their steps. Findings 2–4 (fixed): a run killed after
/// its app commit (or its LDAP writes), then another change of the same user before a run
/// completes; the next run completes the dead run's state commit first (SPEC I1).
@Suite struct SoakFindingTests {
    private func renamedThenCrashed() throws -> CLIEnvironment {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("ldapsync.yaml", environment.configuration(extra: "users: { autoDeactivate: true }\nsafety: { maxDeactivations: 100% }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        try rename(environment, from: "uid=\(Fixtures.personUID(1)),ou=people", to: "first")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-app-commit"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        // The crashed run committed the rename in the app; the state did not record it.
        #expect(try environment.sqlite("select key from users where key = 'first';") == "first\n")
        return environment
    }

    private func rename(_ environment: CLIEnvironment, from rdnAndParent: String, to uid: String) throws {
        try environment.server.modify(ldif: """
            dn: \(rdnAndParent),\(environment.server.configuration.suffix)
            changetype: modrdn
            newrdn: uid=\(uid)
            deleteoldrdn: 1
            """)
    }

    /// Finding 1 (fixed): ldapsync inherited a mask blocking SIGTERM from the test
    /// process (Foundation's Process keeps the spawning thread's mask), so SIGTERM never
    /// stopped a run. It unblocks both signals now.
    @Test func sigtermDuringARunStopsItWith130AndKeepsTheCursor() throws {
        let environment = try CLIEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let cursor = try environment.ldapsync(["cursor", "show"]).output
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = try #require([bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("ldapsync") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) })
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run"]
        process.currentDirectoryURL = environment.directory
        var stall = ProcessInfo.processInfo.environment
        stall["LDAPSYNC_STALL_AT"] = "before-deletion-listing"
        process.environment = stall
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(1_000_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 130)
        #expect(try environment.ldapsync(["cursor", "show"]).output == cursor)
    }

    @Test func aSecondRenameAfterACrashAfterTheAppCommitLeavesOneRow() throws {
        let environment = try renamedThenCrashed()
        let status = try environment.ldapsync(["status"])
        #expect(status.output.contains("  unfinished run: "), "\(status.output)")
        try rename(environment, from: "uid=first,ou=people", to: "second")
        #expect(try environment.ldapsync(["run"]).status == 0)
        let keys = try environment.sqlite("select key from users order by key;")
        #expect(keys == "second\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
    }

    @Test func aDeletionAfterACrashAfterTheAppCommitOfARenameDeactivatesTheRow() throws {
        let environment = try renamedThenCrashed()
        try environment.server.modify(ldif: "dn: uid=first,ou=people,\(environment.server.configuration.suffix)\nchangetype: delete\n")
        #expect(try environment.ldapsync(["run"]).status == 0)
        let row = try environment.sqlite("select key, active from users where key = 'first';")
        #expect(row == "first|0\n")
    }

    /// The simple form of finding 3: a membership removed in LDAP, a run killed after its
    /// app commit, then the membership added back: the completed commit's group snapshot
    /// no longer lists the member, so the re-add is a change (docs/reliability.md (soak)).
    @Test func aMembershipUndoneAfterACrashAfterTheAppCommitIsInTheApp() throws {
        let environment = try CLIEnvironment(people: 3)
        let suffix = environment.server.configuration.suffix
        let member = "uid=\(Fixtures.personUID(1)),ou=people,\(suffix)"
        try environment.server.add(ldif: """
            dn: cn=all,ou=groups,\(suffix)
            objectClass: groupOfNames
            cn: all
            member: \(member)

            dn: cn=gb,ou=groups,\(suffix)
            objectClass: groupOfNames
            cn: gb
            member: cn=nobody,\(suffix)
            member: \(member)
            """)
        try environment.write("ldapsync.yaml", """
            version: 1
            state: state
            directories:
              - name: corp
                url: "\(environment.server.url)"
                bind: { dn: "\(environment.server.configuration.syncDN)", passwordFile: sync.pw }
                users: { base: "ou=people,\(suffix)" }
                groups: { base: "ou=groups,\(suffix)" }
                timestamp: { overlap: 0s }
            app: { path: app.db }
            audit: { path: audit.jsonl }
            attributes:
              - { ldap: cn, app: name }
            groups:
              - { app: everyone, ldap: "cn=all,ou=groups,\(suffix)" }
              - { app: beta, ldap: "cn=gb,ou=groups,\(suffix)" }
            safety: { maxGroupRemovals: 100% }
            """)
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let query = "select group_name from group_members where user_key = '\(Fixtures.personUID(1))' order by group_name;"
        #expect(try environment.sqlite(query) == "beta\neveryone\n")
        try environment.server.modify(ldif: "dn: cn=gb,ou=groups,\(suffix)\nchangetype: modify\ndelete: member\nmember: \(member)\n")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-app-commit"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        #expect(try environment.sqlite(query) == "everyone\n")
        try environment.server.modify(ldif: "dn: cn=gb,ou=groups,\(suffix)\nchangetype: modify\nadd: member\nmember: \(member)\n")
        #expect(try environment.ldapsync(["run"]).status == 0)
        #expect(try environment.sqlite(query) == "beta\neveryone\n")
    }

    /// Finding 4 of docs/reliability.md (soak) (seed 7007, round 689), reduced: an app edit
    /// written back, the run killed before its state commit, then a second app edit. The
    /// next run must take the first value as agreed (LDAP holds it) and write the second,
    /// not see a conflict and restore the first.
    @Test func aSecondAppEditAfterACrashAfterTheWriteBackIsWrittenBack() throws {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("ldapsync.yaml", environment.configuration(
            extra: "  - { ldap: telephoneNumber, app: phone, direction: both }\nwriteBack: { enabled: true }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let key = Fixtures.personUID(1)
        _ = try environment.sqlite("update users set phone = '+1 555 0101' where key = '\(key)';")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-ldap-writes"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        #expect(try phone(environment, key) == ["+1 555 0101"])
        _ = try environment.sqlite("update users set phone = '+1 555 0202' where key = '\(key)';")
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(rerun.output.contains("completing the state commit of run"), "\(rerun.output)")
        let row = try #require(rerun.output.split(separator: "\n").first { $0.hasPrefix("corp ") })
        // written back 1, conflicts 0
        #expect(row.split(separator: " ")[7] == "1" && row.split(separator: " ")[8] == "0", "\(row)")
        #expect(try phone(environment, key) == ["+1 555 0202"])
        #expect(try environment.sqlite("select phone from users where key = '\(key)';") == "+1 555 0202\n")
        // Settled: the next run writes nothing.
        let quiet = try environment.ldapsync(["run"])
        #expect(quiet.status == 0)
        #expect(try phone(environment, key) == ["+1 555 0202"])
        #expect(try environment.sqlite("select phone from users where key = '\(key)';") == "+1 555 0202\n")
    }

    /// An `--only` run between the crash and the next full decision keeps the in-doubt
    /// values of the users it did not name: the second edit is still written back.
    @Test func anOnlyRunAfterACrashKeepsTheOtherUsersWriteBackInDoubt() throws {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("ldapsync.yaml", environment.configuration(
            extra: "  - { ldap: telephoneNumber, app: phone, direction: both }\nwriteBack: { enabled: true }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let key = Fixtures.personUID(1)
        _ = try environment.sqlite("update users set phone = '+1 555 0101' where key = '\(key)';")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-ldap-writes"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        let only = try environment.ldapsync(["run", "--only", Fixtures.personUID(2)])
        #expect(only.status == 0, "\(only.output)\(only.errors)")
        _ = try environment.sqlite("update users set phone = '+1 555 0202' where key = '\(key)';")
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        let row = try #require(rerun.output.split(separator: "\n").first { $0.hasPrefix("corp ") })
        #expect(row.split(separator: " ")[7] == "1" && row.split(separator: " ")[8] == "0", "\(row)")
        #expect(try phone(environment, key) == ["+1 555 0202"])
    }

    /// A write-back whose run died before sending it (killed right after its app commit):
    /// the next run finds LDAP without the value, keeps it pending as an app edit and
    /// writes it.
    @Test func aWriteBackThatNeverLeftIsSentByTheNextRun() throws {
        let environment = try CLIEnvironment(people: 3)
        try environment.write("ldapsync.yaml", environment.configuration(
            extra: "  - { ldap: telephoneNumber, app: phone, direction: both }\nwriteBack: { enabled: true }"))
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let key = Fixtures.personUID(1)
        let before = try phone(environment, key)
        // A rename in the same run gives it an app transaction (the rename) to commit.
        try rename(environment, from: "uid=\(Fixtures.personUID(2)),ou=people", to: "renamed")
        _ = try environment.sqlite("update users set phone = '+1 555 0303' where key = '\(key)';")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "after-app-commit"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        #expect(try phone(environment, key) == before)
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(try phone(environment, key) == ["+1 555 0303"])
        #expect(try environment.sqlite("select count(*) from users;") == "3\n")
    }

    /// A run killed after preparing its commit but before its app transaction: nothing was
    /// written, the next run drops what it staged and does the work itself.
    @Test func aRunKilledBeforeItsAppTransactionIsDroppedAndRedone() throws {
        let environment = try CLIEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        try rename(environment, from: "uid=\(Fixtures.personUID(1)),ou=people", to: "first")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "before-app-apply"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        #expect(try environment.sqlite("select count(*) from users where key = 'first';") == "0\n")
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(!rerun.output.contains("completing the state commit"))
        #expect(try environment.sqlite("select key from users order by key;") == "first\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
    }

    /// The state commit is several LMDB transactions: a run killed between them (the
    /// snapshots in place, the cursor not) is completed by the next run, which then sees
    /// the rename as done.
    @Test func aRunKilledPartWayThroughItsStateCommitIsCompletedByTheNextRun() throws {
        let environment = try CLIEnvironment(people: 3)
        _ = try environment.ldapsync(["init"])
        #expect(try environment.ldapsync(["run"]).status == 0)
        let cursor = try environment.ldapsync(["cursor", "show"]).output
        // The cursor has whole seconds: the rename must come a second later than the
        // fixture for the completed commit to move it.
        sleep(1)
        try rename(environment, from: "uid=\(Fixtures.personUID(1)),ou=people", to: "first")
        var crash = ProcessInfo.processInfo.environment
        crash["LDAPSYNC_CRASH_AT"] = "mid-state-commit"
        #expect(try environment.ldapsync(["run"], environment: crash).status == 9)
        #expect(try environment.ldapsync(["cursor", "show"]).output == cursor)
        #expect(try environment.ldapsync(["status"]).output.contains("  unfinished run: "))
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(rerun.output.contains("completing the state commit of run"), "\(rerun.output)")
        #expect(try environment.ldapsync(["cursor", "show"]).output != cursor)
        #expect(try !environment.ldapsync(["status"]).output.contains("unfinished run"))
        try rename(environment, from: "uid=first,ou=people", to: "second")
        #expect(try environment.ldapsync(["run"]).status == 0)
        #expect(try environment.sqlite("select key from users order by key;") == "second\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
    }

    /// The dead run's cursor is not taken over a cursor an administrator set or cleared
    /// after it died: `cursor clear` still makes the next run a full run.
    @Test func aCursorClearedAfterACrashIsKeptByTheRecovery() throws {
        let environment = try renamedThenCrashed()
        #expect(try environment.ldapsync(["cursor", "clear"]).status == 0)
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(rerun.output.contains("completing the state commit of run"), "\(rerun.output)")
        #expect(rerun.output.contains("full run: the cursor was cleared"), "\(rerun.output)")
        #expect(try environment.sqlite("select key from users order by key;") == "first\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
    }

    /// The staging area lost after the run died (removed by hand): the commit cannot be
    /// completed, the run says so and reads everything; the rename is carried by the key.
    @Test func aLostStagingAreaAfterACrashMakesAFullRunThatConverges() throws {
        let environment = try renamedThenCrashed()
        try FileManager.default.removeItem(at: environment.directory.appendingPathComponent("state/staging"))
        let rerun = try environment.ldapsync(["run"])
        #expect(rerun.status == 0, "\(rerun.output)\(rerun.errors)")
        #expect(rerun.output.contains("is lost: the cursor is cleared and this run reads everything"), "\(rerun.output)")
        #expect(try environment.sqlite("select key from users order by key;") == "first\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
        try rename(environment, from: "uid=first,ou=people", to: "second")
        #expect(try environment.ldapsync(["run"]).status == 0)
        #expect(try environment.sqlite("select key from users order by key;") == "second\n\(Fixtures.personUID(2))\n\(Fixtures.personUID(3))\n")
    }

    private func phone(_ environment: CLIEnvironment, _ key: String) throws -> [String] {
        let connection = try LDAPConnection(url: environment.server.url)
        try connection.bind(dn: environment.server.configuration.rootDN, password: Secret(environment.server.configuration.rootPassword))
        let values = try connection.readEntry(dn: "uid=\(key),ou=people,\(environment.server.configuration.suffix)", attributes: ["telephoneNumber"])?["telephoneNumber"] ?? []
        return values.map { String(decoding: $0, as: UTF8.self) }
    }
}
