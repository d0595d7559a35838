// Micro-benchmark (not a test): the paged fetch of the LDAP wrapper against
// `ldapsearch -E pr=1000/noprompt` to /dev/null, side by side on the same private slapd.
//
//   swift run -c release --scratch-path .build-release FetchBench [entries] [rounds]
//
// Each round runs ldapsearch, the zero-copy walk and the materializing walk once, in that
// order; the table reports the median of the rounds and the ratio to ldapsearch.
import DirectoryModel
import Foundation
import LDAPClient
import SlapdSupport

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let entryCount = arguments.first ?? 100_000
let rounds = arguments.dropFirst().first ?? 5

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return seconds(ContinuousClock.now - start)
}

/// User + system CPU seconds used so far by this process (`RUSAGE_SELF`) or by its
/// waited-for children (`RUSAGE_CHILDREN`).
func cpuSeconds(_ who: __rusage_who) -> Double {
    var usage = rusage()
    getrusage(who.rawValue, &usage)
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}

struct Sample {
    var wall: Double
    var cpu: Double
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

print("Generating and loading \(entryCount) entries with slapadd -q ...")
let loadStart = ContinuousClock.now
let server = try SlapdServer.start(ldif: Fixtures.people(count: entryCount))
print(String(format: "  slapd ready in %.2f s", seconds(ContinuousClock.now - loadStart)))
let base = "ou=people,\(server.configuration.suffix)"
let filter = "(objectClass=inetOrgPerson)"

// The password reaches ldapsearch through a 0600 file (-y), never its arguments.
let passwordFile = try server.writePasswordFile(server.configuration.syncPassword)

func runLDAPSearch() throws -> Sample {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ldapsearch")
    process.arguments = ["-x", "-LLL", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile,
                         "-b", base, "-E", "pr=1000/noprompt", filter]
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    let errors = Pipe()
    process.standardError = errors
    let cpuBefore = cpuSeconds(RUSAGE_CHILDREN)
    let time = try measure {
        try process.run()
        process.waitUntilExit()
    }
    let cpu = cpuSeconds(RUSAGE_CHILDREN) - cpuBefore
    guard process.terminationStatus == 0 else {
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw NSError(domain: "FetchBench", code: Int(process.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "ldapsearch failed: \(text)"])
    }
    return Sample(wall: time, cpu: cpu)
}

/// Connect, bind and fetch every entry, touching every value's bytes.
func runWalk(materialize: Bool) throws -> Sample {
    var entries = 0
    var bytes = 0
    let cpuBefore = cpuSeconds(RUSAGE_SELF)
    let time = try measure {
        let connection = try LDAPConnection(url: server.url)
        try connection.bind(dn: server.configuration.syncDN, password: Secret(server.configuration.syncPassword))
        try connection.search(SearchRequest(base: base, filter: filter, pageSize: 1000)) { view in
            entries += 1
            if materialize {
                let entry = view.makeEntry()
                bytes += entry.attributes.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } }
            } else {
                for index in 0..<view.attributeCount {
                    view.forEachValue(at: index) { bytes += $0.count }
                }
            }
        }
    }
    guard entries == entryCount else {
        throw NSError(domain: "FetchBench", code: 1, userInfo: [NSLocalizedDescriptionKey: "fetched \(entries) of \(entryCount) entries"])
    }
    return Sample(wall: time, cpu: cpuSeconds(RUSAGE_SELF) - cpuBefore)
}

// The first scan after slapd starts is 30-40% slower for everyone: warm up once.
_ = try runLDAPSearch()

var samples: [String: [Sample]] = [:]
let clients = [
    ("ldapsearch -E pr=1000/noprompt > /dev/null", { try runLDAPSearch() }),
    ("LDAPConnection.search, zero-copy walk", { try runWalk(materialize: false) }),
    ("LDAPConnection.search + makeEntry()", { try runWalk(materialize: true) }),
]
for round in 1...rounds {
    var line = "  round \(round):"
    for (name, run) in clients {
        let sample = try run()
        samples[name, default: []].append(sample)
        line += String(format: " %.3f s (cpu %.3f s)", sample.wall, sample.cpu)
    }
    print(line)
}
try server.stop()

var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let reference = samples[clients[0].0]!
let referenceWall = median(reference.map(\.wall))
let referenceCPU = median(reference.map(\.cpu))
print("")
print("Paged fetch of \(entryCount) entries, page size 1000, median of \(rounds) rounds")
print("(wall: the whole fetch, server included; client CPU: user+system time of the client alone):")
print("| client | wall s | ratio | client CPU s | ratio |")
print("|---|---|---|---|---|")
for (name, _) in clients {
    let wall = median(samples[name]!.map(\.wall))
    let cpu = median(samples[name]!.map(\.cpu))
    print(String(format: "| %@ | %.3f | %.2f | %.3f | %.2f |", name, wall, wall / referenceWall, cpu, cpu / referenceCPU))
}
print("Peak RSS of the benchmark process (fixture generation included): \(usage.ru_maxrss / 1024) MB")
