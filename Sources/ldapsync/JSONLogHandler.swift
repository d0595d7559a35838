import DirectoryModel
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// `--log-format json`: one JSON object per line on stderr, for log shippers.
///
/// ```
/// {"time":"2026-11-21T15:30:00.125Z","level":"error","label":"ldapsync","message":"...","sync.directory":"corp"}
/// ```
///
/// `time` (ISO 8601 UTC, milliseconds), `level`, `label` and `message` come first, then
/// the metadata flattened with dotted keys (a nested dictionary `{"ldap": {"dn": ...}}`
/// becomes `"ldap.dn"`; a list becomes a JSON array of strings). A metadata key that
/// collides with one of the four is written as `metadata.<key>`. The handler adds nothing
/// of its own beyond what the libraries log, and they log no secrets (passwords are
/// `Secret` values, whose description is redacted).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = Self.line(time: Self.now(), level: event.level, label: label, message: event.message.description, metadata: merged)
        line.append(UInt8(ascii: "\n"))
        writeStandardError(line)
    }

    /// One log line without its line feed.
    static func line(time: Timestamp, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
        var output: [UInt8] = [UInt8(ascii: "{")]
        func field(_ key: String, _ value: [UInt8], first: Bool = false) {
            if !first { output.append(UInt8(ascii: ",")) }
            JSONStringArray.appendString(key.utf8, to: &output)
            output.append(UInt8(ascii: ":"))
            output += value
        }
        func string(_ text: String) -> [UInt8] {
            var encoded: [UInt8] = []
            JSONStringArray.appendString(text.utf8, to: &encoded)
            return encoded
        }
        field("time", string(time.iso8601), first: true)
        field("level", string(level.rawValue))
        field("label", string(label))
        field("message", string(message))
        var flat: [(String, Logger.Metadata.Value)] = []
        flatten(metadata, prefix: "", into: &flat)
        let reserved: Set<String> = ["time", "level", "label", "message"]
        for (key, value) in flat.sorted(by: { $0.0 < $1.0 }) {
            let name = reserved.contains(key) ? "metadata." + key : key
            if case .array(let values) = value {
                field(name, Array(JSONStringArray.encode(values.map(\.description)).utf8))
            } else {
                field(name, string(value.description))
            }
        }
        output.append(UInt8(ascii: "}"))
        return output
    }

    private static func flatten(_ metadata: Logger.Metadata, prefix: String, into flat: inout [(String, Logger.Metadata.Value)]) {
        for (key, value) in metadata {
            if case .dictionary(let nested) = value {
                flatten(nested, prefix: prefix + key + ".", into: &flat)
            } else {
                flat.append((prefix + key, value))
            }
        }
    }

    /// The wall clock, to the millisecond.
    static func now() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(seconds: Int64(time.tv_sec), nanoseconds: Int32(time.tv_nsec / 1_000_000 * 1_000_000))
    }
}

/// Writes bytes to stderr in one `write` where the kernel allows, so lines from several
/// threads do not interleave.
func writeStandardError(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        offset += written
    }
}
