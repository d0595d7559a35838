// The scale part of the report (issue #8): per directory size, a private slapd loaded
// with seeded people and groups; ldapsearch dumping what ldapsync reads, side by side
// with a full `ldapsync run` into each app store; then incremental runs with 100
// changes and with none, under `deletions: every-run` and `deletions: full-only`.
import Foundation
import SlapdSupport
#if canImport(Glibc)
import Glibc
#endif

/// An app store the full runs go into: its name in the report, and the `app:` line of
/// the configuration (a function of the work directory), or why it is not available.
@MainActor final class StoreTarget {
    let name: String
    let kind: String
    /// Why it has no figures ("not available in this build yet", no PostgreSQL here), or nil.
    var unavailable: String?
    private var postgres: PostgresServer?
    private let work: URL

    init(kind: String, work: URL) {
        self.kind = kind
        self.name = kind == "postgres" ? "PostgreSQL" : "SQLite"
        self.work = work
    }

    func path(_ name: String) -> String { work.appendingPathComponent("\(kind)-\(name)").path }

    /// The `app:` mapping of the configuration.
    var appLine: String {
        if kind == "postgres" {
            return "app: { kind: postgres, url: \"\(postgres?.url ?? "postgres://ldapsync@127.0.0.1:1/none")\", passwordFile: \(path("pg.pw")), findEdits: updated-at }"
        }
        return "app: { kind: sqlite, path: \(path("app.db")), findEdits: updated-at }"
    }

    /// Starts the private PostgreSQL server once it is known that ldapsync takes kind postgres.
    func prepare() throws {
        guard kind == "postgres", unavailable == nil, postgres == nil else { return }
        if let reason = PostgresServer.unavailableReason {
            unavailable = reason
            return
        }
        say("  starting a private PostgreSQL 15 ...")
        postgres = try PostgresServer(passwordFile: path("pg.pw"))
    }

    /// An empty app store and state directory for a full run.
    func reset() throws {
        for name in ["state", "app.db", "app.db-wal", "app.db-shm"] { try? FileManager.default.removeItem(atPath: path(name)) }
        try postgres?.resetDatabase()
    }

    func stop() {
        postgres?.stop()
        postgres = nil
    }
}

/// The figures of one directory size.
struct SizeResult {
    var users: Int
    var groups: Int
    var memberships: Int
    var largestGroup: Int
    var dump: Sample
    /// Per store name: the median full run, or why there is none.
    var full: [(store: String, sample: Sample?, note: String)] = []
    /// Per store name: the incremental runs (median of the rounds).
    var incremental: [(store: String, rows: [(name: String, sample: Sample, fetched: Int)])] = []
}

/// The median of `samples` by wall time (its CPU, slapd CPU), with the largest peak RSS of all.
func medianSample(_ samples: [Sample]) -> Sample {
    var sample = samples.sorted { $0.wall < $1.wall }[samples.count / 2]
    sample.megabytes = samples.map(\.megabytes).max() ?? .nan
    return sample
}

/// The directory `scaleBenchmark` loads for `users` people, and an empty PostgreSQL
/// where one can run, served until standard input closes (`SyncBench --serve 1M <
/// /dev/tty`, or from a script holding a pipe open).
func serveDirectory(users: Int) throws {
    let (server, _) = try startScaleDirectory(users: users)
    defer { try? server.stop() }
    let passwordFile = try server.writePasswordFile(server.configuration.syncPassword)
    say("url \(server.url)")
    say("bind \(server.configuration.syncDN)")
    say("passwordFile \(passwordFile)")
    say("pid \(server.pid.map(String.init) ?? "?")")
    // And a private PostgreSQL where one can run, as the benchmark's.
    let postgres = PostgresServer.unavailableReason == nil ? try PostgresServer(passwordFile: passwordFile + ".pg") : nil
    if let postgres { say("postgres \(postgres.url) passwordFile \(postgres.passwordFile)") }
    while FileHandle.standardInput.availableData.count > 0 {}
    postgres?.stop()
}

/// A private slapd loaded with `users` seeded people and a hundredth as many groups.
func startScaleDirectory(users: Int) throws -> (SlapdServer, GroupFixture) {
    let groups = GroupFixture(count: max(1, users / 100), peopleCount: users)
    var configuration = SlapdServer.Configuration()
    // LMDB's map is sparse: room for about 8 KB per entry costs only what is used.
    configuration.databaseMaxSize = max(1 << 30, users * 8_192)
    configuration.startTimeout = .seconds(120)
    // The syncprov overlay, as on a replicated OpenLDAP: `deletions: every-run` lists the
    // scope through content-sync refreshes. No session log, so a refresh after changes
    // has a present phase (every unchanged entry named), the costlier of the two.
    configuration.syncProvider = .init(sessionLog: nil)
    return (try SlapdServer.start(configuration, ldif: Fixtures.people(count: users) + groups.ldif), groups)
}

@MainActor func scaleBenchmark(users: Int, stores: [StoreTarget], roundCount: Int, results: String?) throws -> SizeResult {
    let groupCount = max(1, users / 100)
    let start = ContinuousClock.now
    func elapsed() -> String { String(format: "%6.1f s", seconds(ContinuousClock.now - start)) }

    say("")
    say("== \(grouped(users)) people, \(grouped(groupCount)) groups ==")
    say("[\(elapsed())] generating the seeded LDIF ...")
    let (server, groups) = try startScaleDirectory(users: users)
    say("[\(elapsed())] \(grouped(groups.memberships)) memberships (\(String(format: "%.2f", Double(groups.memberships) / Double(users))) per person, largest group \(grouped(groups.largest))); loaded with slapadd -q")
    defer { try? server.stop() }
    say("[\(elapsed())] slapd ready (\(server.url))")
    let suffix = server.configuration.suffix
    let peopleBase = "ou=people,\(suffix)"
    let groupsBase = "ou=groups,\(suffix)"
    let passwordFile = try server.writePasswordFile(server.configuration.syncPassword)

    let work = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("syncbench-\(getpid())-\(users)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: work) }
    func path(_ name: String) -> String { work.appendingPathComponent(name).path }

    // MARK: Baseline: ldapsearch of what ldapsync reads

    let userAttributes = ["cn", "mail", "telephoneNumber", "entryUUID", "uid", "modifyTimestamp"]
    func ldapsearchArguments(base: String, filter: String, attributes: [String]) -> [String] {
        ["-x", "-LLL", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile,
         "-b", base, "-E", "pr=1000/noprompt", filter] + attributes
    }
    let userSearch = ldapsearchArguments(base: peopleBase, filter: "(objectClass=inetOrgPerson)", attributes: userAttributes)
    let groupSearch = ldapsearchArguments(base: groupsBase, filter: "(objectClass=groupOfNames)", attributes: ["cn", "member"])
    func dump() throws -> Sample {
        let slapdBefore = slapdCPU(server.pid)
        var total = Sample(wall: 0, cpu: 0, slapdCPU: 0, megabytes: 0)
        for arguments in [userSearch, groupSearch] {
            let run = try spawnMeasured("/usr/bin/ldapsearch", arguments, stdoutPath: "/dev/null")
            guard run.succeeded else {
                throw BenchError(description: "ldapsearch failed (\(run.status)): \(run.stderrLines.map(\.line).joined(separator: "\n"))")
            }
            total.wall += run.wall
            total.cpu += run.cpu
            total.megabytes = max(total.megabytes, run.megabytes)
        }
        total.slapdCPU = slapdCPU(server.pid) - slapdBefore
        return total
    }

    // MARK: ldapsync, one configuration per store and deletions mode

    func writeConfig(_ store: StoreTarget, deletions: String) throws -> String {
        let file = store.path("\(deletions).yaml")
        try """
            version: 1
            state: \(store.path("state"))
            directories:
              - name: bench
                url: "\(server.url)"
                bind: { dn: "\(server.configuration.syncDN)", passwordFile: \(passwordFile) }
                users: { base: "\(peopleBase)" }
                groups: { base: "\(groupsBase)" }
                timestamp: { overlap: 0s }
                deletions: \(deletions)
            \(store.appLine)
            attributes:
              - { ldap: cn, app: name }
              - { ldap: mail, app: email, multiValued: true }
              - { ldap: telephoneNumber, app: phone }
            groups: mirror
            audit: { path: \(store.path("audit.jsonl")) }

            """.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func sync(_ config: String, trace: Bool = true) throws -> SyncSample {
        let slapdBefore = slapdCPU(server.pid)
        let command = wrapper.isEmpty ? ldapsync : wrapper[0]
        let arguments = Array(wrapper.dropFirst()) + (wrapper.isEmpty ? [] : [ldapsync])
            + ["run", "--config", config, "--log-level", "debug"]
        let run = try spawnMeasured(command, arguments, stdoutPath: path("run.out"), trace: trace)
        let slapd = slapdCPU(server.pid) - slapdBefore
        guard run.succeeded else {
            throw BenchError(description: "ldapsync run exited \(run.status) (signal \(run.signal)):\n\(run.stdout)\n"
                             + run.stderrLines.suffix(20).map(\.line).joined(separator: "\n"))
        }
        return SyncSample(sample: Sample(wall: run.wall, cpu: run.cpu, slapdCPU: slapd, megabytes: run.megabytes),
                          counts: summaryCounts(run), run: run)
    }

    /// `ldapsync init`; false with the reason in `store.unavailable` when this build
    /// rejects the store's kind.
    func initStore(_ store: StoreTarget, _ config: String) throws -> Bool {
        let run = try spawnMeasured(ldapsync, ["init", "--config", config], stdoutPath: path("init.out"))
        if run.succeeded { return true }
        let text = (run.stdout + run.stderrLines.map(\.line).joined(separator: "\n"))
        if text.contains("not available in this build") {
            store.unavailable = "not available in this build yet"
            return false
        }
        throw BenchError(description: "ldapsync init (\(store.name)) exited \(run.status): \(text)")
    }

    // Which stores this build takes: a configuration check before any server starts.
    for store in stores where store.unavailable == nil {
        let probe = try writeConfig(store, deletions: "every-run")
        if store.kind == "postgres" {
            // `init` passes a kind it cannot create ("nothing to create"); `run` says whether it takes it.
            let run = try spawnMeasured(ldapsync, ["run", "--config", probe], stdoutPath: path("init.out"))
            let text = run.stdout + run.stderrLines.map(\.line).joined(separator: "\n")
            if text.contains("not available in this build") { store.unavailable = "not available in this build yet" }
        }
        try store.prepare()
        if let reason = store.unavailable { say("  \(store.name): \(reason), its rows say so") }
    }
    let live = stores.filter { $0.unavailable == nil }
    var configs: [String: (everyRun: String, fullOnly: String)] = [:]
    for store in live {
        configs[store.name] = (try writeConfig(store, deletions: "every-run"), try writeConfig(store, deletions: "full-only"))
    }

    let floor = try spawnMeasured("/bin/true", [], stdoutPath: "/dev/null")
    say(String(format: "  peak RSS a child reports at least (/bin/true through the launcher): %.1f MB", floor.megabytes))
    say("[\(elapsed())] warming slapd up with one ldapsearch dump ...")
    _ = try dump()

    var dumps: [Sample] = []
    var fulls: [String: [SyncSample]] = [:]
    for round in 1...roundCount {
        let baseline = try dump()
        dumps.append(baseline)
        var line = String(format: "[%@] round %d: ldapsearch %.2f s (cpu %.2f s, slapd %.2f s)", elapsed(), round,
                          baseline.wall, baseline.cpu, baseline.slapdCPU)
        for store in live where store.unavailable == nil {
            try store.reset()
            guard try initStore(store, configs[store.name]!.everyRun) else { continue }
            let full = try sync(configs[store.name]!.everyRun, trace: true)
            guard full.counts.count >= 9, full.counts[0] == users, full.counts[1] == users, full.counts[4] == groups.memberships else {
                throw BenchError(description: "the full run (\(store.name)) did not create \(users) users and \(groups.memberships) memberships:\n\(full.run.stdout)")
            }
            fulls[store.name, default: []].append(full)
            line += String(format: " | %@ full %.2f s (cpu %.2f s, slapd %.2f s, peak RSS %.0f MB, %.2fx)", store.name,
                           full.sample.wall, full.sample.cpu, full.sample.slapdCPU, full.sample.megabytes, full.sample.wall / baseline.wall)
        }
        say(line)
    }

    var result = SizeResult(users: users, groups: groupCount, memberships: groups.memberships, largestGroup: groups.largest,
                            dump: medianSample(dumps))
    for store in stores {
        if let runs = fulls[store.name], !runs.isEmpty {
            result.full.append((store.name, medianSample(runs.map(\.sample)), ""))
            let middle = runs.sorted { $0.sample.wall < $1.sample.wall }[runs.count / 2]
            say("  phases of the median \(store.name) full run (debug log; VmRSS sampled every 50 ms):\n    " + phasesWithRSS(middle.run))
            if let results {
                let trace = middle.run.rssTrace.map { String(format: "%.2f,%d,%d,%d", $0.seconds, $0.kilobytes, $0.anonymousKilobytes, $0.fileKilobytes) }
                    .joined(separator: "\n")
                try ("seconds,rss_kb,anon_kb,file_kb\n" + trace + "\n").write(toFile: "\(results)/rss-\(store.kind)-\(sizeLabel(users)).csv", atomically: true, encoding: .utf8)
            }
        } else {
            result.full.append((store.name, nil, store.unavailable ?? "no figures"))
        }
    }
    if onlyFull { return result }

    // MARK: Incremental runs, on the state of each store's last full run

    var batch = 0
    /// Changes the telephoneNumber of `changeCount` people spread over the directory.
    func modifyUsers() throws {
        batch += 1
        var changes = ""
        for k in 0..<changeCount {
            let number = (k * (users / changeCount) + batch * 7) % users + 1
            changes += "dn: uid=\(Fixtures.personUID(number)),\(peopleBase)\nchangetype: modify\n"
            changes += "replace: telephoneNumber\ntelephoneNumber: +1 555 9\(batch)\(String(format: "%06d", k))\n\n"
        }
        try server.modify(ldif: changes)
    }
    func describe(_ name: String, _ sync: SyncSample) -> String {
        String(format: "[%@] %@: %.2f s (cpu %.2f s, slapd %.2f s, peak RSS %.0f MB), fetched %d, updated %d",
               elapsed(), name, sync.sample.wall, sync.sample.cpu, sync.sample.slapdCPU, sync.sample.megabytes,
               sync.counts.first ?? -1, sync.counts.count > 2 ? sync.counts[2] : -1)
    }
    func checked(_ sync: SyncSample, updated: Int, _ what: String) throws -> SyncSample {
        guard sync.counts.count > 2, sync.counts[2] == updated else {
            throw BenchError(description: "\(what) updated \(sync.counts.count > 2 ? sync.counts[2] : -1) users, not \(updated):\n\(sync.run.stdout)")
        }
        return sync
    }

    for store in live where fulls[store.name] != nil {
        let (everyRun, fullOnly) = configs[store.name]!
        say("[\(elapsed())] incremental runs into \(store.name) (\(changeCount) people's telephoneNumber changed, 2 s after the previous run):")
        // The first incremental run after a full one reads from (cursor − the full run's
        // read duration): the fixture, stamped by slapadd before, can fall in that window.
        Thread.sleep(forTimeInterval: 2)
        try modifyUsers()
        let first = try sync(everyRun)
        say(describe("first incremental after the full run (every-run)", first))
        var rows: [String: [SyncSample]] = [:]
        let order = ["every-run, \(changeCount) changed", "every-run, nothing changed",
                     "full-only, \(changeCount) changed", "full-only, nothing changed"]
        for round in 1...roundCount {
            Thread.sleep(forTimeInterval: 2)
            try modifyUsers()
            let changed = try checked(try sync(everyRun), updated: changeCount, "the every-run incremental run")
            say(describe("round \(round), every-run, \(changeCount) changes", changed))
            let none = try checked(try sync(everyRun), updated: 0, "the every-run run with nothing changed")
            say(describe("round \(round), every-run, no change", none))
            Thread.sleep(forTimeInterval: 2)
            try modifyUsers()
            let changedFullOnly = try checked(try sync(fullOnly), updated: changeCount, "the full-only incremental run")
            say(describe("round \(round), full-only, \(changeCount) changes", changedFullOnly))
            let noneFullOnly = try checked(try sync(fullOnly), updated: 0, "the full-only run with nothing changed")
            say(describe("round \(round), full-only, no change", noneFullOnly))
            for (name, sample) in zip(order, [changed, none, changedFullOnly, noneFullOnly]) { rows[name, default: []].append(sample) }
        }
        let median = rows["every-run, \(changeCount) changed"]!.sorted { $0.sample.wall < $1.sample.wall }[roundCount / 2]
        say("  phases of the median every-run incremental run:\n    " + phasesWithRSS(median.run))
        let medianFullOnly = rows["full-only, \(changeCount) changed"]!.sorted { $0.sample.wall < $1.sample.wall }[roundCount / 2]
        say("  phases of the median full-only incremental run:\n    " + phasesWithRSS(medianFullOnly.run))
        var table = [("first incremental after the full run (every-run)", first.sample, first.counts.first ?? -1)]
        for name in order {
            let samples = rows[name]!
            table.append((name, medianSample(samples.map(\.sample)), samples[0].counts.first ?? -1))
        }
        result.incremental.append((store.name, table))
    }
    return result
}

/// `phases` with the resident set at the end of each phase and its peak within it, when
/// the run was traced.
func phasesWithRSS(_ run: ChildRun) -> String {
    guard !run.rssTrace.isEmpty else { return phases(run) }
    var previous = 0.0
    var parts: [String] = []
    func rss(from start: Double, to end: Double) -> String {
        let inside = run.rssTrace.filter { $0.seconds > start && $0.seconds <= end }
        guard let last = inside.last, let peak = inside.max(by: { $0.kilobytes < $1.kilobytes }) else { return "" }
        return String(format: "; RSS %.0f MB at the end (anon %.0f, file %.0f), peak %.0f MB (anon %.0f, file %.0f)",
                      Double(last.kilobytes) / 1024, Double(last.anonymousKilobytes) / 1024, Double(last.fileKilobytes) / 1024,
                      Double(peak.kilobytes) / 1024, Double(peak.anonymousKilobytes) / 1024, Double(peak.fileKilobytes) / 1024)
    }
    for (time, line) in run.stderrLines where line.contains("search complete") || line.contains("content sync refresh complete") {
        let entries = line.range(of: "ldap.entries=").map { line[$0.upperBound...].prefix { $0.isNumber } } ?? "?"
        let base = line.range(of: "ldap.dn=").map { line[$0.upperBound...].prefix { $0 != "," && $0 != " " } } ?? "?"
        let what: String
        if line.contains("content sync") {
            let sets = line.range(of: "ldap.idSets=").map { line[$0.upperBound...].prefix { $0.isNumber } } ?? "?"
            what = "content-sync refresh \(base) (\(entries) entries, \(sets) id sets)"
        } else {
            what = "search \(base) (\(entries) entries)"
        }
        parts.append(String(format: "%@ until %.2f s (+%.2f)", what, time, time - previous) + rss(from: previous, to: time))
        previous = time
    }
    parts.append(String(format: "decide + write app + commit state until %.2f s (+%.2f)", run.wall, run.wall - previous)
                 + rss(from: previous, to: run.wall + 1))
    return parts.joined(separator: "\n    ")
}
