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

func runLDAPSearch() throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/ldapsearch")
    process.arguments = ["-x", "-LLL", "-H", server.url, "-D", server.configuration.syncDN, "-y", passwordFile,
                         "-b", base, "-E", "pr=1000/noprompt", filter]
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    let errors = Pipe()
    process.standardError = errors
    let time = try measure {
        try process.run()
        process.waitUntilExit()
    }
    guard process.terminationStatus == 0 else {
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw NSError(domain: "FetchBench", code: Int(process.terminationStatus),
                      userInfo: [NSLocalizedDescriptionKey: "ldapsearch failed: \(text)"])
    }
    return time
}

/// Connect, bind and fetch every entry, touching every value's bytes.
func runWalk(materialize: Bool) throws -> Double {
    var entries = 0
    var bytes = 0
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
    return time
}

// The first scan after slapd starts is 30-40% slower for everyone: warm up once.
_ = try runLDAPSearch()

var ldapsearchTimes: [Double] = []
var zeroCopyTimes: [Double] = []
var materializedTimes: [Double] = []
for round in 1...rounds {
    ldapsearchTimes.append(try runLDAPSearch())
    zeroCopyTimes.append(try runWalk(materialize: false))
    materializedTimes.append(try runWalk(materialize: true))
    print(String(format: "  round %d: ldapsearch %.3f s, zero-copy %.3f s, materialized %.3f s",
                 round, ldapsearchTimes.last!, zeroCopyTimes.last!, materializedTimes.last!))
}
try server.stop()

var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
let reference = median(ldapsearchTimes)
print("")
print("Paged fetch of \(entryCount) entries, page size 1000, median of \(rounds) rounds:")
print("| client | seconds | ratio to ldapsearch |")
print("|---|---|---|")
print(String(format: "| ldapsearch -E pr=1000/noprompt > /dev/null | %.3f | 1.00 |", reference))
print(String(format: "| LDAPConnection.search, zero-copy walk | %.3f | %.2f |", median(zeroCopyTimes), median(zeroCopyTimes) / reference))
print(String(format: "| LDAPConnection.search + makeEntry() | %.3f | %.2f |", median(materializedTimes), median(materializedTimes) / reference))
print("Peak RSS of the benchmark process: \(usage.ru_maxrss / 1024) MB")
